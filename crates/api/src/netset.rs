//! NetworkSet (namespaced) and GlobalNetworkSet: labelled lists of CIDRs that rule
//! selectors can match.

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::rule::normalise_nets;

/// Label Calico adds itself; users may not set it on network sets.
const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

/// Spec shared by both network set kinds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSetSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
}

/// A namespaced set of networks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSet {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkSetSpec,
}

/// A cluster-wide set of networks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalNetworkSet {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkSetSpec,
}

fn validate_set(ctx: &Ctx, meta: &ObjectMeta, spec: &NetworkSetSpec) -> Check {
    check::subdomain_name(ctx, "metadata.name", &meta.name)?;
    ctx.ensure(
        !meta.labels.contains_key(NAMESPACE_LABEL),
        &format!("metadata.labels.{NAMESPACE_LABEL}"),
        || format!("{NAMESPACE_LABEL} is not a valid label name"),
    )?;
    for (i, n) in spec.nets.iter().enumerate() {
        check::net(ctx, &format!("spec.nets[{i}]"), n)?;
    }
    Ok(())
}

impl NetworkSet {
    pub(crate) fn apply_defaults(&mut self) {
        normalise_nets(&mut self.spec.nets);
    }

    pub(crate) fn validate(&self) -> Check {
        validate_set(
            &Ctx::new(Kind::NetworkSet, &self.metadata),
            &self.metadata,
            &self.spec,
        )
    }
}

impl GlobalNetworkSet {
    pub(crate) fn apply_defaults(&mut self) {
        normalise_nets(&mut self.spec.nets);
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::GlobalNetworkSet, &self.metadata);
        validate_set(&ctx, &self.metadata, &self.spec)
    }
}
