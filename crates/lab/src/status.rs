//! What `calico-lab status` reports, pure: the report's shape (also its JSON form) and its
//! text rendering.

use std::fmt::Write;

use comfy_table::{presets, Table};
use serde::{Deserialize, Serialize};

/// One BGP session as the node's agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpSession {
    pub peer: String,
    pub peer_type: String,
    pub state: String,
    pub info: String,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub namespace: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address6: Option<String>,
    pub as_number: u32,
    /// Whether the recorded calico-node process is alive.
    pub agent_running: bool,
    /// Whether a Node resource with this name is in the datastore.
    pub registered: bool,
    /// Sessions from the agent's status socket, when it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp_sessions: Option<Vec<BgpSession>>,
    /// Why there are no sessions to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp_note: Option<String>,
}

/// The top-of-rack router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorStatus {
    pub router: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address6: Option<String>,
    pub as_number: u32,
    /// Whether the router the lab started is alive (none for `external`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// The router's sessions, as it reports them (none when it cannot be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<BgpSession>>,
}

/// One workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    pub name: String,
    pub node: String,
    pub namespace: String,
    pub addresses: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// The WorkloadEndpoint the CNI plugin recorded, if the datastore holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub lab: String,
    pub complete: bool,
    pub datastore: String,
    pub peering: String,
    pub fabric_namespace: String,
    pub nodes: Vec<NodeStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tor: Option<TorStatus>,
    pub workloads: Vec<WorkloadStatus>,
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED).force_no_tty();
    t.set_header(header.to_vec());
    t
}

impl StatusReport {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Lab {}{}: datastore {}, peering {}, fabric namespace {}",
            self.lab,
            if self.complete {
                ""
            } else {
                " (INCOMPLETE: up did not finish; run down)"
            },
            self.datastore,
            self.peering,
            self.fabric_namespace
        );
        let mut nodes = table(&[
            "NODE",
            "NAMESPACE",
            "ADDRESS",
            "AS",
            "CALICO-NODE",
            "REGISTERED",
            "BGP",
        ]);
        for n in &self.nodes {
            let mut address = n.address.clone();
            if let Some(v6) = &n.address6 {
                address.push('\n');
                address.push_str(v6);
            }
            let bgp = match (&n.bgp_sessions, &n.bgp_note) {
                (Some(s), _) if s.is_empty() => "no sessions".to_string(),
                (Some(s), _) => s
                    .iter()
                    .map(|s| format!("{} {} {} {}", s.peer, s.peer_type, s.state, s.info))
                    .collect::<Vec<_>>()
                    .join("\n"),
                (None, Some(note)) => note.clone(),
                (None, None) => "unknown".to_string(),
            };
            nodes.add_row(vec![
                n.name.clone(),
                n.namespace.clone(),
                address,
                n.as_number.to_string(),
                if n.agent_running {
                    "running"
                } else {
                    "not running"
                }
                .to_string(),
                yes_no(n.registered).to_string(),
                bgp,
            ]);
        }
        let _ = writeln!(out, "\nNodes\n{nodes}");
        if let Some(tor) = &self.tor {
            let state = match tor.running {
                Some(true) => "running",
                Some(false) => "not running",
                None => "external: start your own router here",
            };
            let mut address = tor.address.clone();
            if let Some(v6) = &tor.address6 {
                address.push_str(", ");
                address.push_str(v6);
            }
            let _ = writeln!(
                out,
                "\nTop-of-rack router: {} at {address} in {}, AS {} ({state})",
                tor.router, self.fabric_namespace, tor.as_number
            );
            for s in tor.sessions.iter().flatten() {
                let _ = writeln!(
                    out,
                    "  {} ({}): {} {}",
                    s.peer, s.peer_type, s.state, s.info
                );
            }
        }
        let mut wls = table(&[
            "WORKLOAD",
            "NODE",
            "NAMESPACE",
            "ADDRESSES",
            "LABELS",
            "ENDPOINT",
        ]);
        for w in &self.workloads {
            let labels = w
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            wls.add_row(vec![
                w.name.clone(),
                w.node.clone(),
                w.namespace.clone(),
                w.addresses.join("\n"),
                labels,
                w.endpoint.clone().unwrap_or_else(|| "MISSING".to_string()),
            ]);
        }
        let _ = writeln!(out, "\nWorkloads\n{wls}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        StatusReport {
            lab: "t".into(),
            complete: true,
            datastore: "embedded".into(),
            peering: "tor".into(),
            fabric_namespace: "t-fabric".into(),
            nodes: vec![NodeStatus {
                name: "node1".into(),
                namespace: "t-node1".into(),
                address: "172.31.0.11/24".into(),
                address6: None,
                as_number: 65001,
                agent_running: true,
                registered: true,
                bgp_sessions: Some(vec![BgpSession {
                    peer: "172.31.0.1".into(),
                    peer_type: "global".into(),
                    state: "up".into(),
                    info: "Established".into(),
                }]),
                bgp_note: None,
            }],
            tor: Some(TorStatus {
                router: "bird".into(),
                address: "172.31.0.1".into(),
                address6: None,
                as_number: 65000,
                running: Some(true),
                sessions: Some(vec![BgpSession {
                    peer: "172.31.0.11".into(),
                    peer_type: "ebgp node1".into(),
                    state: "up".into(),
                    info: "Established".into(),
                }]),
            }),
            workloads: vec![WorkloadStatus {
                name: "node1-w1".into(),
                node: "node1".into(),
                namespace: "t-node1-w1".into(),
                addresses: vec!["10.244.0.1".into()],
                labels: vec![("app".into(), "w1".into())],
                endpoint: None,
            }],
        }
    }

    #[test]
    fn text_names_everything() {
        let text = report().render();
        for needle in [
            "Lab t:",
            "t-node1",
            "172.31.0.11/24",
            "65001",
            "172.31.0.1 global up Established",
            "bird at 172.31.0.1 in t-fabric, AS 65000 (running)",
            "  172.31.0.11 (ebgp node1): up Established",
            "10.244.0.1",
            "app=w1",
            "MISSING",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
    }

    #[test]
    fn json_round_trips() {
        let json = serde_json::to_string(&report()).unwrap();
        let back: StatusReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report());
    }
}
