//! Starting the lab's daemons inside its namespaces, each recorded in the state file the
//! moment it is spawned: etcd, the ToR router (BIRD, FRR or our own), calico-node, and
//! responders.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use api::Kind;

use super::{Lab, RESPONDER_PORT};
use crate::error::{Error, Result};
use crate::process::{self, DaemonSpec};
use crate::render::{bird, calico_tor, frr};
use crate::spec::{DatastoreKind, TorRouter};
use crate::topology::{fabric_cidr, NodePlan, ETCD_CLIENT_PORT, ETCD_PEER_PORT, FABRIC_V4};

/// The recorded role of our own ToR router.
pub const CALICO_TOR_ROLE: &str = "tor calico";
/// Its status socket, in the ToR directory.
pub const CALICO_TOR_SOCKET: &str = "tor.sock";

/// How long etcd gets to answer.
const ETCD_READY: Duration = Duration::from_secs(20);

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))
}

impl Lab {
    /// Spawns a daemon and records it at once.
    pub(super) fn start(&mut self, spec: &DaemonSpec<'_>) -> Result<Child> {
        let (child, record) = process::spawn(spec)?;
        self.state.processes.push(record);
        self.save()?;
        Ok(child)
    }

    /// The last lines of a log, for error messages.
    pub(super) fn log_tail(&self, what: &str) -> String {
        let text = std::fs::read_to_string(self.ctx.paths.log_file(what)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// Starts etcd in the fabric namespace (clients on the fabric address and loopback,
    /// peers on loopback) and waits until it answers.
    pub(super) fn start_etcd(&mut self) -> Result<()> {
        if self.state.spec.datastore != DatastoreKind::Etcd {
            return Ok(());
        }
        let data = self.ctx.paths.etcd_data_dir();
        let log = self.ctx.paths.log_file("etcd");
        let ns = self.state.topology.fabric_namespace.clone();
        let peer = format!("http://127.0.0.1:{ETCD_PEER_PORT}");
        let args = vec![
            "--name".into(),
            "lab".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen-client-urls".into(),
            format!("http://{FABRIC_V4}:{ETCD_CLIENT_PORT},http://127.0.0.1:{ETCD_CLIENT_PORT}"),
            "--advertise-client-urls".into(),
            self.state.topology.etcd_endpoint(),
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer.clone(),
            "--initial-cluster".into(),
            format!("lab={peer}"),
            "--initial-cluster-state".into(),
            "new".into(),
        ];
        let child = self.start(&DaemonSpec {
            role: "etcd".into(),
            namespace: &ns,
            program: Path::new("etcd"),
            args,
            env: Vec::new(),
            log: &log,
        })?;
        process::reap_later(child);
        let deadline = Instant::now() + ETCD_READY;
        let store = self.store();
        loop {
            match store.list(Kind::IPPool) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(Error::Timeout(format!(
                        "etcd did not answer within {}s ({e}); its log ends:\n{}",
                        ETCD_READY.as_secs(),
                        self.log_tail("etcd")
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Starts the ToR router the spec asks for (none for mesh peering or `external`).
    pub(super) fn start_tor(&mut self) -> Result<()> {
        let Some(tor) = self.state.topology.tor.clone() else {
            return Ok(());
        };
        let dir = self.ctx.paths.tor_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let ns = self.state.topology.fabric_namespace.clone();
        let nodes = self.state.topology.nodes.clone();
        match self.state.spec.tor {
            TorRouter::Bird => {
                let conf = dir.join("bird.conf");
                write(&conf, &bird::config(&tor, &nodes))?;
                let log = self.ctx.paths.log_file("tor-bird");
                let args = vec![
                    "-f".into(),
                    "-c".into(),
                    conf.display().to_string(),
                    "-s".into(),
                    dir.join("bird.ctl").display().to_string(),
                    "-P".into(),
                    dir.join("bird.pid").display().to_string(),
                ];
                let child = self.start(&DaemonSpec {
                    role: "tor bird".into(),
                    namespace: &ns,
                    program: Path::new("bird"),
                    args,
                    env: Vec::new(),
                    log: &log,
                })?;
                process::reap_later(child);
            }
            TorRouter::Frr => {
                // FRR drops to user frr: its run directory must be writable by it.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(|e| Error::io("cannot open up", &dir, e))?;
                write(&dir.join("zebra.conf"), &frr::zebra_config())?;
                write(&dir.join("bgpd.conf"), &frr::bgpd_config(&tor, &nodes))?;
                let common = |daemon: &str| -> Vec<String> {
                    vec![
                        "-f".into(),
                        dir.join(format!("{daemon}.conf")).display().to_string(),
                        "-i".into(),
                        dir.join(format!("{daemon}.pid")).display().to_string(),
                        "-z".into(),
                        dir.join("zserv.api").display().to_string(),
                        "--vty_socket".into(),
                        dir.display().to_string(),
                        "-P".into(),
                        "0".into(),
                    ]
                };
                let zebra_log = self.ctx.paths.log_file("tor-zebra");
                let zebra = self.start(&DaemonSpec {
                    role: "tor zebra".into(),
                    namespace: &ns,
                    program: Path::new("/usr/lib/frr/zebra"),
                    args: common("zebra"),
                    env: Vec::new(),
                    log: &zebra_log,
                })?;
                process::reap_later(zebra);
                let mut args = common("bgpd");
                args.extend(["-l".into(), tor.ipv4.to_string()]);
                if let Some(v6) = tor.ipv6 {
                    args.extend(["-l".into(), v6.to_string()]);
                }
                let bgpd_log = self.ctx.paths.log_file("tor-bgpd");
                let bgpd = self.start(&DaemonSpec {
                    role: "tor bgpd".into(),
                    namespace: &ns,
                    program: Path::new("/usr/lib/frr/bgpd"),
                    args,
                    env: Vec::new(),
                    log: &bgpd_log,
                })?;
                process::reap_later(bgpd);
            }
            TorRouter::Calico => {
                let log = self.ctx.paths.log_file("tor-calico");
                let exe = crate::paths::self_exe();
                let child = self.start(&DaemonSpec {
                    role: CALICO_TOR_ROLE.into(),
                    namespace: &ns,
                    program: &exe,
                    args: calico_tor::args(&tor, &nodes, &dir.join(CALICO_TOR_SOCKET)),
                    env: Vec::new(),
                    log: &log,
                })?;
                process::reap_later(child);
            }
            TorRouter::External => {}
        }
        Ok(())
    }

    /// The environment calico-node runs with on one node.
    pub fn node_env(&self, node: &NodePlan) -> Vec<(String, String)> {
        let mut env = self.datastore_config().to_env();
        env.extend([
            ("NODENAME".to_string(), node.name.clone()),
            ("IP".to_string(), fabric_cidr(node.ipv4.into())),
            ("AS".to_string(), node.as_number.to_string()),
            ("NO_DEFAULT_POOLS".to_string(), "true".to_string()),
            (
                "CALICO_STATE_DIR".to_string(),
                self.ctx.paths.node_dir(&node.name).display().to_string(),
            ),
            (
                "CALICO_STATUS_SOCKET".to_string(),
                self.ctx
                    .paths
                    .node_dir(&node.name)
                    .join(super::inspect::STATUS_SOCKET)
                    .display()
                    .to_string(),
            ),
        ]);
        env.push(match node.ipv6 {
            Some(v6) => ("IP6".to_string(), fabric_cidr(v6.into())),
            None => ("IP6".to_string(), "none".to_string()),
        });
        env
    }

    /// Starts calico-node on one node. Returns the child so `up` can see an early exit.
    pub(super) fn start_node(&mut self, node: &NodePlan) -> Result<Child> {
        let dir = self.ctx.paths.node_dir(&node.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let program = self.ctx.bin_dir.join("calico-node");
        let log = self
            .ctx
            .paths
            .log_file(&format!("calico-node-{}", node.name));
        let env = self.node_env(node);
        self.start(&DaemonSpec {
            role: format!("calico-node {}", node.name),
            namespace: &node.namespace,
            program: &program,
            args: Vec::new(),
            env,
            log: &log,
        })
    }

    /// Restarts calico-node on one node: stops the recorded agent if it still runs (one that
    /// was killed is only forgotten), then starts and records a new one. Returns its PID.
    pub fn restart_node(&mut self, name: &str) -> Result<u32> {
        let node = self.state.topology.node(name).cloned().ok_or_else(|| {
            Error::Unknown(format!(
                "no node {name:?} in lab {} (nodes: {})",
                self.ctx.name,
                self.node_names().join(", ")
            ))
        })?;
        let role = format!("calico-node {}", node.name);
        self.stop_where(|p| p.role == role)?;
        let child = self.start_node(&node)?;
        let pid = child.id();
        process::reap_later(child);
        Ok(pid)
    }

    /// Starts a responder in a workload's namespace on `port`.
    pub(super) fn start_responder(&mut self, workload: &str, ns: &str, port: u16) -> Result<()> {
        let role = if port == RESPONDER_PORT {
            format!("responder {workload}")
        } else {
            format!("responder {workload} port {port}")
        };
        let log = self.ctx.paths.log_file(&format!("responder-{workload}"));
        let exe = crate::paths::self_exe();
        let child = self.start(&DaemonSpec {
            role,
            namespace: ns,
            program: &exe,
            args: vec!["responder".into(), "--port".into(), port.to_string()],
            env: Vec::new(),
            log: &log,
        })?;
        process::reap_later(child);
        Ok(())
    }
}
