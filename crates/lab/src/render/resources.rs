//! The Calico resources the lab writes, as `projectcalico.org/v3` YAML: the IP pools, the
//! BGP configuration (mesh on or off), the ToR peer, the allow-all profile of the workloads'
//! namespace (what kube-controllers makes in a cluster), and the demo's policies.

use std::fmt::Write;

use ipnet::IpNet;

use crate::topology::{Topology, MESH_AS};

/// The orchestrator namespace every lab workload lives in.
pub const WORKLOAD_NAMESPACE: &str = "default";
/// The profile the CNI plugin gives workloads of [`WORKLOAD_NAMESPACE`].
pub const NAMESPACE_PROFILE: &str = "kns.default";

/// Everything `up` writes before starting the nodes.
pub fn cluster(topology: &Topology, pool: IpNet, pool6: Option<IpNet>) -> String {
    let mut out = String::new();
    push_pool(&mut out, "default-ipv4-ippool", pool, 26);
    if let Some(pool6) = pool6 {
        push_pool(&mut out, "default-ipv6-ippool", pool6, 122);
    }
    let mesh = topology.tor.is_none();
    let _ = write!(
        out,
        "---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  \
         name: default\nspec:\n  nodeToNodeMeshEnabled: {mesh}\n  asNumber: {MESH_AS}\n"
    );
    if let Some(tor) = &topology.tor {
        let mut peer = |name: &str, ip: String| {
            let _ = write!(
                out,
                "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  \
                 name: {name}\nspec:\n  peerIP: {ip}\n  asNumber: {}\n",
                tor.as_number
            );
        };
        peer("tor", tor.ipv4.to_string());
        if let Some(v6) = tor.ipv6 {
            peer("tor-v6", v6.to_string());
        }
    }
    let _ = write!(
        out,
        "---\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  \
         name: {NAMESPACE_PROFILE}\nspec:\n  ingress:\n  - action: Allow\n  egress:\n  \
         - action: Allow\n"
    );
    out
}

fn push_pool(out: &mut String, name: &str, cidr: IpNet, block: u8) {
    let _ = write!(
        out,
        "---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\n\
         spec:\n  cidr: {cidr}\n  blockSize: {block}\n  ipipMode: Never\n  vxlanMode: Never\n  \
         natOutgoing: false\n  nodeSelector: all()\n"
    );
}

/// The demo's policies: deny all ingress to workloads, then allow `app == from` to reach
/// `app == to` on any port.
pub fn demo_policies(from_app: &str, to_app: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  \
         name: default-deny\nspec:\n  order: 1000\n  selector: all()\n  types:\n  - Ingress\n\
         ---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  \
         name: allow-{from_app}-to-{to_app}\nspec:\n  order: 100\n  \
         selector: app == '{to_app}'\n  types:\n  - Ingress\n  ingress:\n  - action: Allow\n    \
         source:\n      selector: app == '{from_app}'\n"
    )
}

#[cfg(test)]
mod tests {
    use api::{Kind, Resource};

    use super::*;
    use crate::spec::{LabSpec, Peering, TorRouter};

    fn topology(peering: Peering) -> Topology {
        Topology::plan("t", &LabSpec::for_test(2, 1, peering, TorRouter::Frr, true))
    }

    #[test]
    fn mesh_cluster_documents_decode_and_validate() {
        let text = cluster(
            &topology(Peering::Mesh),
            "10.244.0.0/16".parse().unwrap(),
            Some("fd00:10:244::/64".parse().unwrap()),
        );
        let docs = api::decode_documents(&text).unwrap();
        let kinds: Vec<Kind> = docs.iter().map(Resource::kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::IPPool,
                Kind::IPPool,
                Kind::BGPConfiguration,
                Kind::Profile
            ]
        );
        for doc in &docs {
            let mut d = doc.clone();
            d.apply_defaults();
            d.validate().unwrap();
        }
        let Resource::BGPConfiguration(bgp) = &docs[2] else {
            panic!("not a BGPConfiguration")
        };
        assert_eq!(bgp.spec.node_to_node_mesh_enabled, Some(true));
    }

    #[test]
    fn tor_cluster_turns_the_mesh_off_and_adds_peers() {
        let text = cluster(
            &topology(Peering::Tor),
            "10.244.0.0/16".parse().unwrap(),
            None,
        );
        let docs = api::decode_documents(&text).unwrap();
        let peers: Vec<_> = docs
            .iter()
            .filter_map(|d| match d {
                Resource::BGPPeer(p) => Some(p.spec.peer_ip.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(peers, ["172.31.0.1", "fd00:172:31::1"]);
        let mesh = docs.iter().find_map(|d| match d {
            Resource::BGPConfiguration(b) => b.spec.node_to_node_mesh_enabled,
            _ => None,
        });
        assert_eq!(mesh, Some(false));
    }

    #[test]
    fn demo_policies_decode() {
        let docs = api::decode_documents(&demo_policies("w1", "w2")).unwrap();
        assert_eq!(docs.len(), 2);
        for doc in &docs {
            let mut d = doc.clone();
            d.apply_defaults();
            d.validate().unwrap();
        }
        assert_eq!(docs[1].metadata().name, "allow-w1-to-w2");
    }
}
