//! Reading the ToR router's BGP sessions, pure: BIRD's `show protocols` table and FRR's
//! `show bgp summary json`, both turned into [`BgpSession`]s keyed by the peer's address.

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
}
