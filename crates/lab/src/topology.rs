//! The lab's address plan and names, pure.
//!
//! ```text
//!                  <lab>-fabric  (bridge "fabric": 172.31.0.1/24, fd00:172:31::1/64,
//!                   |    |        the ToR router's address, and etcd's)
//!          veth node1    node2 ...          (enslaved to the bridge)
//!               |        |
//!     <lab>-node1 eth0   <lab>-node2 eth0   172.31.0.(10+k)/24, fd00:172:31::(10+k)/64
//!        |  calico-node, default route via 172.31.0.1
//!        +-- cali... <-> <lab>-node1-w1 eth0   (made by the calico CNI plugin)
//! ```
//! Mesh peering puts every node in AS 64512; ToR peering puts the ToR in AS 65000 and
//! node k in AS 65000+k.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::spec::{LabSpec, Peering};

/// The fabric network (the "physical" LAN between the nodes).
pub const FABRIC_V4: Ipv4Addr = Ipv4Addr::new(172, 31, 0, 1);
pub const FABRIC_V4_PREFIX: u8 = 24;
pub const FABRIC_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x172, 0x31, 0, 0, 0, 0, 1);
pub const FABRIC_V6_PREFIX: u8 = 64;
/// The bridge inside the fabric namespace.
pub const FABRIC_BRIDGE: &str = "fabric";
/// The node's uplink inside its namespace.
pub const NODE_UPLINK: &str = "eth0";
/// The AS of every node when the mesh is used (Calico's default).
pub const MESH_AS: u32 = 64512;
/// The ToR router's AS; node k gets `TOR_AS + k`.
pub const TOR_AS: u32 = 65000;
/// etcd's client port on the fabric address.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// etcd's peer port (on the fabric namespace's loopback).
pub const ETCD_PEER_PORT: u16 = 2380;

/// The namespace name of one lab member: `<lab>-<member>`.
pub fn namespace(lab: &str, member: &str) -> String {
    format!("{lab}-{member}")
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// `node1` .. `nodeN`.
    pub name: String,
    pub index: u32,
    pub namespace: String,
    /// The veth end in the fabric namespace (named after the node).
    pub fabric_link: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub as_number: u32,
}

/// The top-of-rack peer, when peering is `tor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorPlan {
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub as_number: u32,
}

/// A workload `up` creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadPlan {
    pub name: String,
    pub node: String,
    pub labels: Vec<(String, String)>,
}

/// Everything `up` builds, derived from the spec alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub fabric_namespace: String,
    pub nodes: Vec<NodePlan>,
    pub tor: Option<TorPlan>,
    pub workloads: Vec<WorkloadPlan>,
}

impl Topology {
    pub fn plan(lab: &str, spec: &LabSpec) -> Topology {
        let nodes = (1..=spec.nodes)
            .map(|k| {
                let name = format!("node{k}");
                NodePlan {
                    namespace: namespace(lab, &name),
                    fabric_link: name.clone(),
                    ipv4: node_ipv4(k),
                    ipv6: spec.ipv6.then(|| node_ipv6(k)),
                    as_number: match spec.peering {
                        Peering::Mesh => MESH_AS,
                        Peering::Tor => TOR_AS + k,
                    },
                    name,
                    index: k,
                }
            })
            .collect::<Vec<_>>();
        let workloads = nodes
            .iter()
            .flat_map(|n| {
                (1..=spec.workloads_per_node).map(move |j| WorkloadPlan {
                    name: format!("{}-w{j}", n.name),
                    node: n.name.clone(),
                    labels: vec![
                        ("app".to_string(), format!("w{j}")),
                        ("node".to_string(), n.name.clone()),
                    ],
                })
            })
            .collect();
        Topology {
            fabric_namespace: namespace(lab, "fabric"),
            tor: (spec.peering == Peering::Tor).then(|| TorPlan {
                ipv4: FABRIC_V4,
                ipv6: spec.ipv6.then_some(FABRIC_V6),
                as_number: TOR_AS,
            }),
            nodes,
            workloads,
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The etcd client URL the nodes use (etcd listens on the fabric address).
    pub fn etcd_endpoint(&self) -> String {
        format!("http://{FABRIC_V4}:{ETCD_CLIENT_PORT}")
    }
}

/// Node k's fabric address: 172.31.0.(10+k).
pub fn node_ipv4(k: u32) -> Ipv4Addr {
    let last = u8::try_from(10 + k).expect("node index validated to at most 200");
    Ipv4Addr::new(172, 31, 0, last)
}

/// Node k's IPv6 fabric address: fd00:172:31::(10+k) (the decimal digits read as hex).
pub fn node_ipv6(k: u32) -> Ipv6Addr {
    let group = u16::from_str_radix(&(10 + k).to_string(), 16).expect("decimal digits are hex");
    Ipv6Addr::new(0xfd00, 0x172, 0x31, 0, 0, 0, 0, group)
}

/// `addr/prefix` text for an address on the fabric LAN.
pub fn fabric_cidr(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/{FABRIC_V4_PREFIX}"),
        IpAddr::V6(a) => format!("{a}/{FABRIC_V6_PREFIX}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::TorRouter;

    fn spec(peering: Peering, ipv6: bool) -> LabSpec {
        LabSpec::for_test(2, 2, peering, TorRouter::Bird, ipv6)
    }

    #[test]
    fn mesh_plan_names_addresses_and_labels() {
        let t = Topology::plan("clab", &spec(Peering::Mesh, false));
        assert_eq!(t.fabric_namespace, "clab-fabric");
        assert!(t.tor.is_none());
        let n2 = t.node("node2").unwrap();
        assert_eq!(n2.namespace, "clab-node2");
        assert_eq!(n2.ipv4, Ipv4Addr::new(172, 31, 0, 12));
        assert_eq!(n2.ipv6, None);
        assert_eq!(n2.as_number, MESH_AS);
        let names: Vec<_> = t.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["node1-w1", "node1-w2", "node2-w1", "node2-w2"]);
        assert_eq!(
            t.workloads[3].labels,
            vec![
                ("app".to_string(), "w2".to_string()),
                ("node".to_string(), "node2".to_string())
            ]
        );
        assert_eq!(t.etcd_endpoint(), "http://172.31.0.1:2379");
    }

    #[test]
    fn tor_plan_gives_each_node_its_own_as() {
        let t = Topology::plan("t", &spec(Peering::Tor, true));
        let tor = t.tor.unwrap();
        assert_eq!(tor.as_number, 65000);
        assert_eq!(tor.ipv4, FABRIC_V4);
        assert_eq!(tor.ipv6, Some(FABRIC_V6));
        assert_eq!(t.nodes[0].as_number, 65001);
        assert_eq!(t.nodes[1].as_number, 65002);
        assert_eq!(
            t.nodes[1].ipv6.unwrap().to_string(),
            "fd00:172:31::12".to_string()
        );
    }

    #[test]
    fn largest_node_index_fits() {
        assert_eq!(node_ipv4(200).to_string(), "172.31.0.210");
        assert_eq!(node_ipv6(200).to_string(), "fd00:172:31::210");
        assert_eq!(fabric_cidr(IpAddr::V4(node_ipv4(1))), "172.31.0.11/24");
    }
}
