//! The WorkloadEndpoint the plugin records for a workload: name, identity, addresses,
//! interface, MAC, profiles and labels, built from the workload's identity and what ADD did.

use std::collections::BTreeMap;

use api::{ObjectMeta, WorkloadEndpoint, WorkloadEndpointSpec};
use ipnet::IpNet;

use crate::names::WorkloadId;

/// Label Calico puts on every workload endpoint naming its namespace.
pub const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";
/// Label naming the orchestrator.
pub const ORCHESTRATOR_LABEL: &str = "projectcalico.org/orchestrator";

/// What ADD produced for one workload.
#[derive(Clone, Debug)]
pub struct Attachment<'a> {
    pub id: &'a WorkloadId,
    /// The CNI network name (profile name for plain CNI workloads).
    pub network: &'a str,
    pub ips: &'a [IpNet],
    pub host_veth: &'a str,
    pub container_mac: &'a str,
    pub labels: BTreeMap<String, String>,
}

/// The WorkloadEndpoint for an attachment. k8s workloads get profile `kns.<namespace>`,
/// plain CNI ones a profile named after the network (as Calico's CNI plugin does).
pub fn build(att: &Attachment<'_>) -> WorkloadEndpoint {
    let id = att.id;
    let mut labels = att.labels.clone();
    labels.insert(NAMESPACE_LABEL.into(), id.namespace.clone());
    labels.insert(ORCHESTRATOR_LABEL.into(), id.orchestrator.into());
    let profiles = match id.pod {
        Some(_) => vec![format!("kns.{}", id.namespace)],
        None => vec![att.network.to_string()],
    };
    WorkloadEndpoint {
        metadata: ObjectMeta {
            labels,
            ..ObjectMeta::namespaced(id.namespace.clone(), id.endpoint_name())
        },
        spec: WorkloadEndpointSpec {
            orchestrator: id.orchestrator.into(),
            node: id.node.clone(),
            container_id: id.container_id.clone(),
            pod: id.pod.clone().unwrap_or_default(),
            endpoint: id.endpoint.clone(),
            ip_networks: att.ips.iter().map(|n| n.to_string()).collect(),
            profiles,
            interface_name: att.host_veth.to_string(),
            mac: att.container_mac.to_string(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_endpoint_has_namespace_profile_and_labels() {
        let id = WorkloadId {
            node: "node1".into(),
            orchestrator: "k8s",
            namespace: "ns1".into(),
            pod: Some("web".into()),
            container_id: "c0ffee".into(),
            endpoint: "eth0".into(),
        };
        let ips: Vec<IpNet> = vec!["10.65.0.1/32".parse().unwrap()];
        let wep = build(&Attachment {
            id: &id,
            network: "k8s-pod-network",
            ips: &ips,
            host_veth: "cali0123456789a",
            container_mac: "02:00:00:00:00:01",
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        });
        assert_eq!(wep.metadata.name, "node1-k8s-web-eth0");
        assert_eq!(wep.metadata.namespace.as_deref(), Some("ns1"));
        assert_eq!(wep.spec.profiles, vec!["kns.ns1"]);
        assert_eq!(wep.spec.ip_networks, vec!["10.65.0.1/32"]);
        assert_eq!(wep.metadata.labels["app"], "web");
        assert_eq!(wep.metadata.labels[NAMESPACE_LABEL], "ns1");
        assert_eq!(wep.metadata.labels[ORCHESTRATOR_LABEL], "k8s");
        assert_eq!(wep.spec.expected_name().unwrap(), wep.metadata.name);
    }
}
