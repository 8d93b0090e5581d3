//! When is a lab ready for traffic, pure: what `up` and `workload add` wait for before they
//! return, checked against what can be observed in each node's namespace.
//!
//! - A workload's endpoint is programmed when its host interface is in both workload verdict
//!   maps of the node's nftables table (`cali-from-wl`, `cali-to-wl`; Calico drops traffic of
//!   cali interfaces it does not know) for each family it has an address of, and the node's
//!   best route to each of its addresses goes out of that interface.
//! - A node reaches a remote workload when its kernel's best route to the workload's address
//!   is a BGP-learned one (protocol 12, `bird`, where calico-node installs them): the
//!   default route to the fabric does not count, nor does the node's own blackhole of a block
//!   a moved address was borrowed from.
//! - A node's BGP sessions are all up, and as many as the topology gives it.
//! - With a top-of-rack router the lab runs, the fabric's kernel forwards to every workload:
//!   the nodes may learn a route from the router before it has installed that route itself
//!   (zebra and BIRD's kernel protocol lag behind bgpd), and packets would die at the leaf.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use dataplane::names::{FROM_WL_MAP, TO_WL_MAP};
use dataplane::table::Table;
use ipnet::IpNet;
use serde_json::Value;

use crate::status::BgpSession;

/// One route of `ip -j route show` (main table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    pub dst: IpNet,
    /// `ip`'s protocol name or number (`bird`, `12`, `kernel`, `80`...).
    pub protocol: String,
    /// `unicast`, `blackhole`, `unreachable`...
    pub kind: String,
    pub dev: Option<String>,
}

impl KernelRoute {
    /// Whether calico-node's BGP put it there (protocol 12, which `ip` names `bird`).
    pub fn learned(&self) -> bool {
        self.protocol == "bird" || self.protocol == "12"
    }
}

/// Parses `ip -j route show` of one family (`-4` or `-6`). `default` becomes /0 and a
/// bare address a host prefix.
pub fn parse_routes(json: &str, v6: bool) -> Vec<KernelRoute> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?;
            let dst: IpNet = match dst {
                "default" if v6 => "::/0".parse().ok()?,
                "default" => "0.0.0.0/0".parse().ok()?,
                d if d.contains('/') => d.parse().ok()?,
                d => IpNet::from(d.parse::<IpAddr>().ok()?),
            };
            let text = |key: &str| r.get(key).and_then(Value::as_str).map(String::from);
            Some(KernelRoute {
                dst,
                protocol: text("protocol")
                    .or_else(|| r.get("protocol").map(Value::to_string))
                    .unwrap_or_else(|| "boot".into()),
                kind: text("type").unwrap_or_else(|| "unicast".into()),
                dev: text("dev"),
            })
        })
        .collect()
}

/// The longest-prefix match for `addr` among `routes`.
pub fn best_route(routes: &[KernelRoute], addr: IpAddr) -> Option<&KernelRoute> {
    routes
        .iter()
        .filter(|r| r.dst.contains(&addr))
        .max_by_key(|r| r.dst.prefix_len())
}

/// The interfaces in the workload verdict maps of one family's table.
pub fn mapped_interfaces(table: &Table) -> BTreeSet<String> {
    let members = |map: &str| -> BTreeSet<String> {
        table
            .maps
            .get(map)
            .map(|m| m.elements.keys().cloned().collect())
            .unwrap_or_default()
    };
    members(FROM_WL_MAP)
        .intersection(&members(TO_WL_MAP))
        .cloned()
        .collect()
}

/// What was seen in one node's namespace.
#[derive(Clone, Debug, Default)]
pub struct NodeView {
    /// Interfaces in both workload maps, IPv4 table.
    pub mapped_v4: BTreeSet<String>,
    /// The same for the IPv6 table.
    pub mapped_v6: BTreeSet<String>,
    /// Main-table routes of both families.
    pub routes: Vec<KernelRoute>,
    /// The agent's sessions (`None`: its status socket did not answer).
    pub sessions: Option<Vec<BgpSession>>,
}

/// A workload to wait for.
#[derive(Clone, Debug)]
pub struct WorkloadCheck {
    pub name: String,
    pub node: String,
    pub interface: String,
    pub addresses: Vec<IpAddr>,
}

/// What to wait for.
#[derive(Clone, Debug, Default)]
pub struct Expectation {
    /// Workloads whose endpoints must be programmed on their node.
    pub workloads: Vec<WorkloadCheck>,
    /// Workloads every other node in `routing_nodes` must have a learned route to.
    pub reached: Vec<WorkloadCheck>,
    /// Nodes that must hold BGP-learned routes to the `reached` workloads.
    pub routing_nodes: Vec<String>,
    /// Nodes whose sessions must all be up, with how many sessions each should have.
    pub sessions: BTreeMap<String, usize>,
    /// Workloads the fabric's kernel (the ToR's) must have a route to, seen in the view
    /// named [`FABRIC_VIEW`].
    pub fabric_routes: Vec<WorkloadCheck>,
}

/// The name under which the fabric namespace's view is passed to [`pending`].
pub const FABRIC_VIEW: &str = "fabric";

/// Everything still missing, one line each; empty when the lab is ready.
pub fn pending(want: &Expectation, views: &BTreeMap<String, NodeView>) -> Vec<String> {
    let empty = NodeView::default();
    let view = |node: &str| views.get(node).unwrap_or(&empty);
    let mut out = Vec::new();
    for w in &want.workloads {
        let v = view(&w.node);
        for addr in &w.addresses {
            let (mapped, family) = if addr.is_ipv4() {
                (&v.mapped_v4, "ip")
            } else {
                (&v.mapped_v6, "ip6")
            };
            if !mapped.contains(&w.interface) {
                out.push(format!(
                    "{}: calico-node on {} has not programmed {} (not in the {family} calico \
                     table's {FROM_WL_MAP}/{TO_WL_MAP} maps)",
                    w.name, w.node, w.interface
                ));
            }
            let routed = best_route(&v.routes, *addr)
                .is_some_and(|r| r.dev.as_deref() == Some(w.interface.as_str()));
            if !routed {
                out.push(format!(
                    "{}: {} has no route to {addr} via {}",
                    w.name, w.node, w.interface
                ));
            }
        }
    }
    for node in &want.routing_nodes {
        let v = view(node);
        for w in want.reached.iter().filter(|w| w.node != *node) {
            for addr in &w.addresses {
                if !best_route(&v.routes, *addr).is_some_and(KernelRoute::learned) {
                    out.push(format!(
                        "{node}: no BGP-learned route to {} ({addr}) on {}",
                        w.name, w.node
                    ));
                }
            }
        }
    }
    let fabric = view(FABRIC_VIEW);
    for w in &want.fabric_routes {
        for addr in &w.addresses {
            // The fabric has no default route: anything covering a pool address came from
            // the ToR router.
            let routed = best_route(&fabric.routes, *addr)
                .is_some_and(|r| r.kind == "unicast" && r.dst.prefix_len() > 0);
            if !routed {
                out.push(format!(
                    "fabric: the top-of-rack router has not installed a route to {} ({addr}) on {}",
                    w.name, w.node
                ));
            }
        }
    }
    for (node, count) in &want.sessions {
        match &view(node).sessions {
            None => out.push(format!(
                "{node}: calico-node's status socket does not answer"
            )),
            Some(sessions) => {
                let up = sessions.iter().filter(|s| s.state == "up").count();
                if up < *count {
                    let down: Vec<String> = sessions
                        .iter()
                        .filter(|s| s.state != "up")
                        .map(|s| format!("{} {}", s.peer, s.info))
                        .collect();
                    out.push(format!(
                        "{node}: {up} of {count} BGP sessions Established{}",
                        if down.is_empty() {
                            String::new()
                        } else {
                            format!(" (not yet: {})", down.join(", "))
                        }
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::model::IpVersion;
    use dataplane::table::{Verdict, VerdictMap};

    const ROUTES: &str = r#"[
      {"dst":"default","gateway":"172.31.0.1","dev":"eth0","flags":[]},
      {"dst":"10.244.0.0/26","gateway":"172.31.0.12","dev":"eth0","protocol":"bird","flags":[]},
      {"type":"blackhole","dst":"10.244.0.64/26","protocol":"80","flags":[]},
      {"dst":"10.244.0.65","dev":"cali0123456789a","protocol":"80","scope":"link","flags":[]},
      {"dst":"10.244.0.70","gateway":"172.31.0.13","dev":"eth0","protocol":"bird","flags":[]},
      {"dst":"172.31.0.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"172.31.0.11","flags":[]}
    ]"#;

    fn session(peer: &str, state: &str) -> BgpSession {
        BgpSession {
            peer: peer.into(),
            peer_type: "node-to-node mesh".into(),
            state: state.into(),
            info: if state == "up" {
                "Established"
            } else {
                "Active"
            }
            .into(),
        }
    }

    fn check(name: &str, node: &str, iface: &str, addr: &str) -> WorkloadCheck {
        WorkloadCheck {
            name: name.into(),
            node: node.into(),
            interface: iface.into(),
            addresses: vec![addr.parse().unwrap()],
        }
    }

    #[test]
    fn routes_parse_with_longest_prefix_match() {
        let routes = parse_routes(ROUTES, false);
        assert_eq!(routes.len(), 6);
        let best = |a: &str| best_route(&routes, a.parse().unwrap()).unwrap();
        assert!(best("10.244.0.5").learned());
        assert_eq!(best("10.244.0.65").dev.as_deref(), Some("cali0123456789a"));
        // A borrowed address inside the node's own blackholed block, learned as a /32.
        assert!(best("10.244.0.70").learned());
        let hole = best("10.244.0.71");
        assert_eq!((hole.kind.as_str(), hole.learned()), ("blackhole", false));
        // Only the default route: not learned.
        assert_eq!(best("10.9.9.9").dst.prefix_len(), 0);
        assert!(!best("10.9.9.9").learned());
        assert!(parse_routes("not json", false).is_empty());
        let v6 = parse_routes(
            r#"[{"dst":"default","dev":"eth0"},{"dst":"fd00::5","dev":"x"}]"#,
            true,
        );
        assert_eq!(v6[0].dst.to_string(), "::/0");
        assert_eq!(v6[1].dst.to_string(), "fd00::5/128");
    }

    #[test]
    fn interfaces_must_be_in_both_maps() {
        let mut t = Table::empty(IpVersion::V4);
        let mut from = VerdictMap::default();
        from.elements
            .insert("caliA".into(), Verdict::Goto("cali-fw-caliA".into()));
        from.elements
            .insert("caliB".into(), Verdict::Goto("cali-fw-caliB".into()));
        let mut to = VerdictMap::default();
        to.elements
            .insert("caliA".into(), Verdict::Goto("cali-tw-caliA".into()));
        t.maps.insert(FROM_WL_MAP.into(), from);
        t.maps.insert(TO_WL_MAP.into(), to);
        assert_eq!(
            mapped_interfaces(&t).into_iter().collect::<Vec<_>>(),
            ["caliA"]
        );
        assert!(mapped_interfaces(&Table::empty(IpVersion::V4)).is_empty());
    }

    #[test]
    fn pending_names_each_missing_piece_until_ready() {
        let want = Expectation {
            workloads: vec![check("node1-w1", "node1", "cali0123456789a", "10.244.0.65")],
            reached: vec![
                check("node1-w1", "node1", "cali0123456789a", "10.244.0.65"),
                check("node2-w1", "node2", "caliX", "10.244.0.5"),
                check("node3-w1", "node3", "caliY", "10.244.0.71"),
            ],
            routing_nodes: vec!["node1".into()],
            sessions: [("node1".to_string(), 2)].into(),
            fabric_routes: vec![check("node2-w1", "node2", "caliX", "10.244.0.5")],
        };
        let mut views = BTreeMap::new();
        let missing = pending(&want, &views);
        assert!(missing
            .iter()
            .any(|m| m.contains("node1-w1: calico-node on node1 has not programmed")));
        assert!(missing.iter().any(|m| m.contains("status socket")));
        let mut view = NodeView {
            routes: parse_routes(ROUTES, false),
            sessions: Some(vec![
                session("172.31.0.12", "up"),
                session("172.31.0.13", "start"),
            ]),
            ..NodeView::default()
        };
        view.mapped_v4.insert("cali0123456789a".into());
        views.insert("node1".to_string(), view.clone());
        assert_eq!(
            pending(&want, &views),
            [
                "node1: no BGP-learned route to node3-w1 (10.244.0.71) on node3",
                "fabric: the top-of-rack router has not installed a route to node2-w1 \
                 (10.244.0.5) on node2",
                "node1: 1 of 2 BGP sessions Established (not yet: 172.31.0.13 Active)",
            ]
        );
        // The fabric's own subnet does not count; the ToR's route to the block does.
        let fabric = |routes: &str| NodeView {
            routes: parse_routes(routes, false),
            ..NodeView::default()
        };
        let connected =
            r#"[{"dst":"172.31.0.0/24","dev":"fabric","protocol":"kernel","flags":[]}]"#;
        views.insert(FABRIC_VIEW.to_string(), fabric(connected));
        assert!(pending(&want, &views)
            .iter()
            .any(|m| m.starts_with("fabric:")));
        let learned = r#"[{"dst":"10.244.0.0/26","gateway":"172.31.0.12","dev":"fabric","protocol":"bgp","flags":[]}]"#;
        views.insert(FABRIC_VIEW.to_string(), fabric(learned));
        view.routes.push(KernelRoute {
            dst: "10.244.0.71/32".parse().unwrap(),
            protocol: "bird".into(),
            kind: "unicast".into(),
            dev: Some("eth0".into()),
        });
        view.sessions = Some(vec![
            session("172.31.0.12", "up"),
            session("172.31.0.13", "up"),
        ]);
        views.insert("node1".to_string(), view);
        assert!(pending(&want, &views).is_empty());
    }
}
