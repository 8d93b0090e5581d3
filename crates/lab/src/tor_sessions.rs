//! Reading the ToR router's BGP sessions, pure: BIRD's `show protocols` table, FRR's
//! `show bgp summary json` and the JSON our own ToR (`calico-lab tor-router`) serves on its
//! status socket, all turned into [`BgpSession`]s keyed by the peer's address.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::BgpSession;
use crate::topology::NodePlan;

/// The BGP rows of `birdc show protocols`; protocol `nodeK` / `nodeK_v6` is the session to
/// node K's IPv4 / IPv6 address.
pub fn from_bird(text: &str, nodes: &[NodePlan]) -> Vec<BgpSession> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 5 || cols[1] != "BGP" {
                return None;
            }
            let (node, v6) = match cols[0].strip_suffix("_v6") {
                Some(n) => (n, true),
                None => (cols[0], false),
            };
            let plan = nodes.iter().find(|p| p.name == node)?;
            let peer = if v6 {
                plan.ipv6?.to_string()
            } else {
                plan.ipv4.to_string()
            };
            Some(BgpSession {
                peer,
                peer_type: format!("ebgp {}", plan.name),
                state: cols[3].to_string(),
                info: cols.get(5..).map(|rest| rest.join(" ")).unwrap_or_default(),
            })
        })
        .collect()
}

/// The peers of every address family in `vtysh -c 'show bgp summary json'`.
pub fn from_frr(json: &Value, nodes: &[NodePlan]) -> Vec<BgpSession> {
    let Some(families) = json.as_object() else {
        return Vec::new();
    };
    families
        .values()
        .filter_map(|af| af.get("peers")?.as_object())
        .flat_map(|peers| peers.iter())
        .map(|(addr, peer)| {
            let node = nodes
                .iter()
                .find(|n| {
                    n.ipv4.to_string() == *addr || n.ipv6.is_some_and(|a| a.to_string() == *addr)
                })
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let state = peer["state"].as_str().unwrap_or("unknown").to_string();
            BgpSession {
                peer: addr.clone(),
                peer_type: format!("ebgp {node}").trim().to_string(),
                info: format!("{} prefixes received", peer["pfxRcd"].as_u64().unwrap_or(0)),
                state,
            }
        })
        .collect()
}

/// One session of our ToR, as its status socket reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorPeer {
    pub address: IpAddr,
    pub asn: u32,
    /// The FSM state (`Established`, `Active`...).
    pub state: String,
    pub received: usize,
    pub advertised: usize,
    pub last_error: Option<String>,
}

/// The sessions of our ToR, named after the nodes they go to.
pub fn from_calico(peers: &[TorPeer], nodes: &[NodePlan]) -> Vec<BgpSession> {
    peers
        .iter()
        .map(|p| {
            let node = nodes
                .iter()
                .find(|n| {
                    IpAddr::V4(n.ipv4) == p.address || n.ipv6.map(IpAddr::V6) == Some(p.address)
                })
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let mut info = format!(
                "{} prefixes received, {} advertised",
                p.received, p.advertised
            );
            if let (false, Some(e)) = (p.state == "Established", &p.last_error) {
                info = format!("{info}; {e}");
            }
            BgpSession {
                peer: p.address.to_string(),
                peer_type: format!("ebgp {node}").trim().to_string(),
                state: p.state.clone(),
                info,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LabSpec, Peering, TorRouter};
    use crate::topology::Topology;

    fn nodes() -> Vec<NodePlan> {
        Topology::plan(
            "t",
            &LabSpec::for_test(2, 0, Peering::Tor, TorRouter::Bird, true),
        )
        .nodes
    }

    #[test]
    fn bird_protocols() {
        let text = "BIRD 2.0.12 ready.\n\
            Name       Proto      Table      State  Since         Info\n\
            device1    Device     ---        up     23:31:27.391  \n\
            kernel4    Kernel     master4    up     23:31:27.391  \n\
            node1      BGP        ---        up     23:31:29.001  Established   \n\
            node1_v6   BGP        ---        start  23:31:27.391  Active        Socket: Connection refused\n";
        let s = from_bird(text, &nodes());
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].peer, "172.31.0.11");
        assert_eq!(s[0].state, "up");
        assert_eq!(s[0].info, "Established");
        assert_eq!(s[1].peer, "fd00:172:31::11");
        assert_eq!(s[1].info, "Active Socket: Connection refused");
        assert_eq!(s[1].peer_type, "ebgp node1");
    }

    #[test]
    fn frr_summary() {
        let json = serde_json::json!({
            "ipv4Unicast": {"peers": {"172.31.0.12": {"state": "Established", "pfxRcd": 3}}},
            "ipv6Unicast": {"peers": {"fd00:172:31::11": {"state": "Active", "pfxRcd": 0}}}
        });
        let s = from_frr(&json, &nodes());
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].peer, "172.31.0.12");
        assert_eq!(s[0].peer_type, "ebgp node2");
        assert_eq!(s[0].state, "Established");
        assert_eq!(s[0].info, "3 prefixes received");
        assert_eq!(s[1].state, "Active");
        assert!(from_frr(&serde_json::json!([]), &nodes()).is_empty());
    }

    #[test]
    fn calico_tor_peers() {
        let peers: Vec<TorPeer> = serde_json::from_str(
            r#"[{"address":"172.31.0.11","asn":65001,"state":"Established","received":1,
                 "advertised":1,"last_error":null},
                {"address":"fd00:172:31::12","asn":65002,"state":"Active","received":0,
                 "advertised":0,"last_error":"connect: Connection refused"}]"#,
        )
        .unwrap();
        let s = from_calico(&peers, &nodes());
        assert_eq!(s[0].peer, "172.31.0.11");
        assert_eq!(s[0].peer_type, "ebgp node1");
        assert_eq!(s[0].state, "Established");
        assert_eq!(s[0].info, "1 prefixes received, 1 advertised");
        assert_eq!(s[1].peer_type, "ebgp node2");
        assert_eq!(
            s[1].info,
            "0 prefixes received, 0 advertised; connect: Connection refused"
        );
    }
}
