//! Looking at a running lab: the status report (state, datastore records, agents' status
//! sockets, process liveness), the connectivity matrix (responders and parallel probers in
//! the workload namespaces) and `exec` into any member with the lab's datastore settings.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use api::{Kind, Resource};
use serde::Deserialize;

use super::daemons::{CALICO_TOR_ROLE, CALICO_TOR_SOCKET};
use super::Lab;
use crate::error::{Error, Result};
use crate::matrix::{Matrix, Pair};
use crate::netns;
use crate::paths;
use crate::probe::Proto;
use crate::process;
use crate::spec::{Peering, TorRouter};
use crate::status::{BgpSession, NodeStatus, StatusReport, TorStatus, WorkloadStatus};
use crate::topology::fabric_cidr;
use crate::tor_sessions::{self, TorPeer};
use crate::ui;

/// The status socket calico-node serves in its state directory.
pub const STATUS_SOCKET: &str = "status.sock";

/// The part of calico-node's status report the lab shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentReport {
    #[serde(default)]
    bgp_peers: Vec<AgentPeer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentPeer {
    peer_address: String,
    #[serde(default)]
    peer_type: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    info: String,
}

/// Reads everything a status socket (an agent's or our ToR's) says on connect.
fn read_socket(path: &std::path::Path) -> std::result::Result<String, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

/// Reads one report from an agent's status socket.
pub(super) fn query_agent(path: &std::path::Path) -> std::result::Result<Vec<BgpSession>, String> {
    let text = read_socket(path)?;
    let report: AgentReport = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(report
        .bgp_peers
        .into_iter()
        .map(|p| BgpSession {
            peer: p.peer_address,
            peer_type: p.peer_type,
            state: p.state,
            info: p.info,
        })
        .collect())
}

impl Lab {
    /// Asks the ToR router the lab started for its sessions.
    fn tor_sessions(&self) -> Option<Vec<BgpSession>> {
        let ns = &self.state.topology.fabric_namespace;
        let dir = self.ctx.paths.tor_dir();
        let nodes = &self.state.topology.nodes;
        match self.state.spec.tor {
            TorRouter::Bird => {
                let socket = dir.join("bird.ctl").display().to_string();
                let text =
                    netns::run(netns::exec(ns, "birdc").args(["-s", &socket, "show", "protocols"]))
                        .ok()?;
                Some(tor_sessions::from_bird(&text, nodes))
            }
            TorRouter::Frr => {
                let text = netns::run(netns::exec(ns, "vtysh").args([
                    "--vty_socket",
                    &dir.display().to_string(),
                    "-c",
                    "show bgp summary json",
                ]))
                .ok()?;
                let json = serde_json::from_str(&text).ok()?;
                Some(tor_sessions::from_frr(&json, nodes))
            }
            TorRouter::Calico => {
                let socket = dir.join(CALICO_TOR_SOCKET);
                let text = read_socket(&socket).ok()?;
                let peers: Vec<TorPeer> = serde_json::from_str(&text).ok()?;
                Some(tor_sessions::from_calico(&peers, nodes))
            }
            TorRouter::External => None,
        }
    }

    pub(super) fn running(&self, role: &str) -> bool {
        self.state
            .processes
            .iter()
            .any(|p| p.role == role && process::is_running(p))
    }

    fn list_or_warn(&self, kind: Kind) -> Vec<Resource> {
        match self.store().list(kind) {
            Ok(items) => items,
            Err(e) => {
                ui::warn(&format!("cannot read {kind:?} from the datastore: {e}"));
                Vec::new()
            }
        }
    }

    /// Everything `status` shows.
    pub fn status(&self) -> StatusReport {
        let registered: BTreeSet<String> = self
            .list_or_warn(Kind::Node)
            .into_iter()
            .map(|r| r.metadata().name.clone())
            .collect();
        let endpoints: BTreeMap<String, String> = self
            .list_or_warn(Kind::WorkloadEndpoint)
            .into_iter()
            .filter_map(|r| match r {
                Resource::WorkloadEndpoint(w) => Some((w.spec.container_id, w.metadata.name)),
                _ => None,
            })
            .collect();
        let nodes = self
            .state
            .topology
            .nodes
            .iter()
            .map(|n| {
                let agent_running = self.running(&format!("calico-node {}", n.name));
                let socket = self.ctx.paths.node_dir(&n.name).join(STATUS_SOCKET);
                let (bgp_sessions, bgp_note) = if !agent_running {
                    (None, Some("calico-node is not running".to_string()))
                } else if !socket.exists() {
                    (
                        None,
                        Some(format!("no status socket at {}", socket.display())),
                    )
                } else {
                    match query_agent(&socket) {
                        Ok(s) => (Some(s), None),
                        Err(e) => (None, Some(format!("status socket: {e}"))),
                    }
                };
                NodeStatus {
                    name: n.name.clone(),
                    namespace: n.namespace.clone(),
                    address: fabric_cidr(n.ipv4.into()),
                    address6: n.ipv6.map(|a| fabric_cidr(a.into())),
                    as_number: n.as_number,
                    agent_running,
                    registered: registered.contains(&n.name),
                    bgp_sessions,
                    bgp_note,
                }
            })
            .collect();
        let tor = self.state.topology.tor.as_ref().map(|t| {
            let (router, roles): (&str, &[&str]) = match self.state.spec.tor {
                TorRouter::Bird => ("bird", &["tor bird"]),
                TorRouter::Frr => ("frr", &["tor zebra", "tor bgpd"]),
                TorRouter::Calico => ("calico", &[CALICO_TOR_ROLE]),
                TorRouter::External => ("external", &[]),
            };
            let running = (!roles.is_empty()).then(|| roles.iter().all(|r| self.running(r)));
            TorStatus {
                router: router.to_string(),
                address: t.ipv4.to_string(),
                address6: t.ipv6.map(|a| a.to_string()),
                as_number: t.as_number,
                sessions: if running == Some(true) {
                    self.tor_sessions()
                } else {
                    None
                },
                running,
            }
        });
        let workloads = self
            .state
            .workloads
            .iter()
            .map(|w| WorkloadStatus {
                name: w.name.clone(),
                node: w.node.clone(),
                namespace: w.namespace.clone(),
                addresses: w.addresses.iter().map(IpAddr::to_string).collect(),
                labels: w.labels.clone(),
                endpoint: endpoints.get(&w.container_id).cloned(),
            })
            .collect();
        StatusReport {
            lab: self.ctx.name.clone(),
            complete: self.state.complete,
            datastore: self.datastore_summary(),
            peering: match self.state.spec.peering {
                Peering::Mesh => "mesh".to_string(),
                Peering::Tor => "tor".to_string(),
            },
            fabric_namespace: self.state.topology.fabric_namespace.clone(),
            nodes,
            tor,
            workloads,
        }
    }

    /// Probes every ordered pair of workloads (by their IPv4, or IPv6 when `ipv6`) in
    /// parallel. Returns the workload names (table order) and the matrix.
    pub fn matrix(
        &mut self,
        proto: Proto,
        port: u16,
        ipv6: bool,
        timeout: Duration,
    ) -> Result<(Vec<String>, Matrix)> {
        let members: Vec<(String, String, IpAddr)> = self
            .state
            .workloads
            .iter()
            .filter_map(|w| {
                let addr = w.addresses.iter().find(|a| a.is_ipv6() == ipv6)?;
                Some((w.name.clone(), w.namespace.clone(), *addr))
            })
            .collect();
        let extra = proto != Proto::Icmp && port != self.state.responder_port;
        if extra {
            for (name, ns, _) in &members {
                self.start_responder(name, ns, port)?;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let result = self.probe_pairs(&members, proto, port, timeout);
        if extra {
            let suffix = format!(" port {port}");
            self.stop_where(|p| p.role.starts_with("responder ") && p.role.ends_with(&suffix))?;
        }
        let names = members.iter().map(|(n, _, _)| n.clone()).collect();
        Ok((names, result?))
    }

    fn probe_pairs(
        &self,
        members: &[(String, String, IpAddr)],
        proto: Proto,
        port: u16,
        timeout: Duration,
    ) -> Result<Matrix> {
        let exe = paths::self_exe();
        let mut running = Vec::new();
        for (from, ns, _) in members {
            let targets: Vec<&(String, String, IpAddr)> =
                members.iter().filter(|(to, _, _)| to != from).collect();
            let mut cmd = netns::exec(ns, &exe);
            cmd.args([
                "probe",
                "--proto",
                proto.name(),
                "--port",
                &port.to_string(),
            ])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .args(targets.iter().map(|(_, _, a)| a.to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let child = cmd.spawn().map_err(|e| Error::Command {
                command: netns::describe(&cmd),
                detail: e.to_string(),
            })?;
            running.push((from.clone(), targets, child, netns::describe(&cmd)));
        }
        let mut pairs = Vec::new();
        for (from, targets, child, shown) in running {
            let out = child.wait_with_output().map_err(|e| Error::Command {
                command: shown.clone(),
                detail: e.to_string(),
            })?;
            let answers: Vec<bool> =
                serde_json::from_slice(&out.stdout).map_err(|e| Error::Command {
                    command: shown.clone(),
                    detail: format!("{e}: {}", String::from_utf8_lossy(&out.stderr).trim()),
                })?;
            if answers.len() != targets.len() {
                return Err(Error::Command {
                    command: shown,
                    detail: format!("{} answers for {} targets", answers.len(), targets.len()),
                });
            }
            pairs.extend(
                targets
                    .iter()
                    .zip(answers)
                    .map(|((to, _, _), reachable)| Pair {
                        from: from.clone(),
                        to: to.clone(),
                        reachable,
                    }),
            );
        }
        Ok(Matrix { pairs })
    }

    /// A command running `argv` inside a node, a workload or `fabric`, with the lab's
    /// datastore settings (and, on a node, its NODENAME and calico-node's status socket as
    /// CALICO_STATUS_SOCKET) in its environment.
    pub fn exec_command(&self, member: &str, argv: &[String]) -> Result<Command> {
        let ns = self.state.namespace_of(member).ok_or_else(|| {
            let mut known = vec!["fabric".to_string()];
            known.extend(self.node_names());
            known.extend(self.state.workloads.iter().map(|w| w.name.clone()));
            Error::Unknown(format!(
                "no member {member:?} in lab {} (members: {})",
                self.ctx.name,
                known.join(", ")
            ))
        })?;
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Spec("exec needs a command after --".into()))?;
        let mut cmd = netns::exec(&ns, program);
        cmd.args(args).envs(self.datastore_config().to_env());
        if let Some(node) = self.state.topology.node(member) {
            cmd.env("NODENAME", &node.name).env(
                "CALICO_STATUS_SOCKET",
                self.ctx.paths.node_dir(&node.name).join(STATUS_SOCKET),
            );
        }
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.ctx.bin_dir.display()));
        Ok(cmd)
    }
}
