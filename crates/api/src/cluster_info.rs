//! ClusterInformation: the `default` singleton Calico writes with the cluster's GUID,
//! type, version and datastore readiness.

use serde::{Deserialize, Serialize};

use crate::check::{Check, Ctx};
use crate::kind::Kind;
use crate::meta::ObjectMeta;

/// Cluster-wide facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterInformation {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ClusterInformationSpec,
}

/// ClusterInformation spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterInformationSpec {
    #[serde(
        default,
        rename = "clusterGUID",
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_guid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub calico_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore_ready: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl ClusterInformation {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::ClusterInformation, &self.metadata);
        ctx.ensure(self.metadata.name == "default", "metadata.name", || {
            format!(
                "ClusterInformation is a singleton named \"default\", not \"{}\"",
                self.metadata.name
            )
        })
    }
}
