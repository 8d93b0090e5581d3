//! `up`: refuse if the lab or its namespaces exist, then build the fabric, the nodes, the
//! datastore and its resources, the ToR router, calico-node per node and the workloads,
//! recording each step; any failure removes everything made so far.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use api::{Kind, Resource};

use super::{down, Lab, LabContext, Scope, RESPONDER_PORT};
use crate::error::{Error, Result};
use crate::lock::LabLock;
use crate::netns;
use crate::render::{cni_conf, resources};
use crate::requirements;
use crate::spec::{LabSpec, Peering};
use crate::state::LabState;
use crate::topology::{fabric_cidr, Topology, FABRIC_BRIDGE, FABRIC_V4, FABRIC_V6, NODE_UPLINK};

/// How long `up` waits for the agents to register their Node resources.
const REGISTRATION_WAIT: Duration = Duration::from_secs(15);
/// How long `up` waits for the agents to program the workloads and exchange routes, plus
/// [`READY_WAIT_PER_WORKLOAD`] for each workload.
const READY_WAIT: Duration = Duration::from_secs(60);
const READY_WAIT_PER_WORKLOAD: Duration = Duration::from_millis(100);

/// What `up` saw of the agents, for the caller to report.
#[derive(Debug, Default)]
pub struct UpReport {
    /// Nodes whose calico-node registered a Node resource.
    pub registered: Vec<String>,
    /// Nodes whose calico-node exited during start-up, with its exit status.
    pub exited: Vec<(String, String)>,
    /// Nodes whose agent runs but did not register in time.
    pub unregistered: Vec<String>,
    /// How long, after the last workload was made, the agents took to program every
    /// endpoint and BGP to bring up every session and route.
    pub ready_wait: Duration,
}

/// Brings lab `ctx` up as `spec` says; `progress` hears each step.
pub fn up(ctx: LabContext, spec: LabSpec, progress: &dyn Fn(&str)) -> Result<(Lab, UpReport)> {
    let spec = spec.validate()?;
    requirements::check(&requirements::for_up(&spec, &ctx.bin_dir))?;
    let lock = LabLock::acquire(&ctx.paths.lock)?;
    refuse_collisions(&ctx)?;
    if let Some(base) = ctx.paths.root.parent() {
        std::fs::create_dir_all(base).map_err(|e| Error::io("cannot create", base, e))?;
    }
    // create_dir (not _all) is the atomic claim on the name: a second `up` fails here.
    std::fs::create_dir(&ctx.paths.root).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => already_up(&ctx),
        _ => Error::io("cannot create", &ctx.paths.root, e),
    })?;
    let topology = Topology::plan(&ctx.name, &spec);
    let mut lab = Lab {
        state: LabState {
            name: ctx.name.clone(),
            spec,
            topology,
            complete: false,
            namespaces: Vec::new(),
            processes: Vec::new(),
            workloads: Vec::new(),
            responder_port: RESPONDER_PORT,
        },
        ctx,
        _lock: lock,
    };
    lab.save()?;
    match lab.build(progress) {
        Ok(report) => Ok((lab, report)),
        Err(e) => {
            progress("start-up failed; removing what was made");
            let ctx = lab.ctx.clone();
            drop(lab);
            if let Err(cleanup) = down(&ctx) {
                return Err(Error::Command {
                    command: "calico-lab up".into(),
                    detail: format!("{e}\n(and cleaning up failed too: {cleanup})"),
                });
            }
            Err(e)
        }
    }
}

fn already_up(ctx: &LabContext) -> Error {
    let finished = LabState::load(&ctx.paths.state_file()).is_ok_and(|s| s.complete);
    if !finished {
        return Error::Busy(format!(
            "lab {:?} exists but its `up` never finished (it crashed, or is still running); \
             run `calico-lab down --name {}` to remove what it made",
            ctx.name, ctx.name
        ));
    }
    Error::Busy(format!(
        "lab {:?} is already up (state in {}); run `calico-lab down --name {}` first, or \
         choose another --name",
        ctx.name,
        ctx.paths.root.display(),
        ctx.name
    ))
}

fn refuse_collisions(ctx: &LabContext) -> Result<()> {
    if ctx.paths.root.exists() {
        return Err(already_up(ctx));
    }
    let prefix = ctx.namespace_prefix();
    let taken: Vec<String> = netns::list()?
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    if !taken.is_empty() {
        return Err(Error::Busy(format!(
            "namespaces named {prefix}* already exist ({}) but no lab {:?} is recorded; \
             `calico-lab down --name {}` removes them, or choose another --name",
            taken.join(", "),
            ctx.name,
            ctx.name
        )));
    }
    Ok(())
}

/// calico-node's BGP port (Calico's default `listenPort`).
const BGP_PORT: u16 = 179;
/// How long `up` waits for one agent's BGP speaker before starting the next anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

/// Waits until something listens on the BGP port in `ns`, the agent exits, or
/// [`LISTEN_WAIT`] passes (then the sessions only come up later; nothing fails).
fn await_listening(ns: &str, agent: &mut Child) {
    let deadline = Instant::now() + LISTEN_WAIT;
    let filter = format!("sport = :{BGP_PORT}");
    while Instant::now() < deadline && matches!(agent.try_wait(), Ok(None)) {
        let listening = netns::run(netns::exec(ns, "ss").args(["-Hltn", &filter]))
            .is_ok_and(|out| !out.trim().is_empty());
        if listening {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Lab {
    /// Creates a namespace, recording it first so a crash right after still removes it.
    pub(super) fn add_namespace(&mut self, ns: &str) -> Result<()> {
        self.state.namespaces.push(ns.to_string());
        self.save()?;
        netns::add(ns)
    }

    fn build(&mut self, progress: &dyn Fn(&str)) -> Result<UpReport> {
        for dir in [self.ctx.paths.log_dir(), self.ctx.paths.datastore_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        }
        progress("creating the fabric and node namespaces");
        self.build_fabric()?;
        for node in self.state.topology.nodes.clone() {
            self.build_node(&node)?;
        }
        progress("starting the datastore");
        self.start_etcd()?;
        let pool6 = self.state.spec.ipv6.then_some(self.state.spec.pool6);
        let docs = resources::cluster(&self.state.topology, self.state.spec.pool, pool6);
        self.store().apply_yaml(&docs)?;
        if self.state.topology.tor.is_some() {
            progress("starting the top-of-rack router");
            self.start_tor()?;
        }
        progress("starting calico-node on every node");
        let mut agents = Vec::new();
        // In the mesh a node connects to the nodes of lower addresses and waits for those of
        // higher ones; a connection refused because a peer's speaker is not listening yet is
        // retried only after calico-node's ConnectRetry (5s). Starting the agents one at a
        // time, each once the previous one listens, lets every first connection succeed.
        let staggered =
            self.state.spec.peering == Peering::Mesh && self.state.topology.nodes.len() > 1;
        for node in self.state.topology.nodes.clone() {
            let mut child = self.start_node(&node)?;
            self.write_cni_conf(&node.name)?;
            if staggered {
                progress(&format!(
                    "starting calico-node on {} (waiting for its BGP speaker to listen)",
                    node.name
                ));
                await_listening(&node.namespace, &mut child);
            }
            agents.push((node.name.clone(), child));
        }
        let mut report = self.await_registration(agents)?;
        for plan in self.state.topology.workloads.clone() {
            progress(&format!(
                "creating workload {} through the CNI plugin",
                plan.name
            ));
            self.add_workload(&plan.name, &plan.node, None, plan.labels.clone())?;
        }
        progress("waiting for calico-node to program the workloads and BGP to converge");
        let names: Vec<String> = self
            .state
            .workloads
            .iter()
            .map(|w| w.name.clone())
            .collect();
        let per_workload = READY_WAIT_PER_WORKLOAD * u32::try_from(names.len()).unwrap_or(0);
        report.ready_wait =
            self.await_ready(&names, Scope::WholeLab, READY_WAIT + per_workload, progress)?;
        self.state.complete = true;
        self.save()?;
        Ok(report)
    }

    fn build_fabric(&mut self) -> Result<()> {
        let ns = self.state.topology.fabric_namespace.clone();
        self.add_namespace(&ns)?;
        netns::ip(&ns, &["link", "add", FABRIC_BRIDGE, "type", "bridge"])?;
        netns::ip(&ns, &["link", "set", FABRIC_BRIDGE, "up"])?;
        netns::ip(
            &ns,
            &[
                "addr",
                "add",
                &fabric_cidr(FABRIC_V4.into()),
                "dev",
                FABRIC_BRIDGE,
            ],
        )?;
        netns::sysctl(&ns, "net.ipv4.ip_forward", "1")?;
        if self.state.spec.ipv6 {
            netns::ip(
                &ns,
                &[
                    "addr",
                    "add",
                    &fabric_cidr(FABRIC_V6.into()),
                    "dev",
                    FABRIC_BRIDGE,
                    "nodad",
                ],
            )?;
            netns::sysctl(&ns, "net.ipv6.conf.all.forwarding", "1")?;
        }
        Ok(())
    }

    fn build_node(&mut self, node: &crate::topology::NodePlan) -> Result<()> {
        let fabric = self.state.topology.fabric_namespace.clone();
        self.add_namespace(&node.namespace)?;
        netns::ip(
            &fabric,
            &[
                "link",
                "add",
                &node.fabric_link,
                "type",
                "veth",
                "peer",
                "name",
                NODE_UPLINK,
                "netns",
                &node.namespace,
            ],
        )?;
        netns::ip(
            &fabric,
            &[
                "link",
                "set",
                &node.fabric_link,
                "master",
                FABRIC_BRIDGE,
                "up",
            ],
        )?;
        let ns = node.namespace.as_str();
        netns::ip(
            ns,
            &[
                "addr",
                "add",
                &fabric_cidr(node.ipv4.into()),
                "dev",
                NODE_UPLINK,
            ],
        )?;
        netns::ip(ns, &["link", "set", NODE_UPLINK, "up"])?;
        netns::ip(
            ns,
            &["route", "add", "default", "via", &FABRIC_V4.to_string()],
        )?;
        netns::sysctl(ns, "net.ipv4.ip_forward", "1")?;
        if let Some(v6) = node.ipv6 {
            netns::ip(
                ns,
                &[
                    "addr",
                    "add",
                    &fabric_cidr(v6.into()),
                    "dev",
                    NODE_UPLINK,
                    "nodad",
                ],
            )?;
            netns::ip(
                ns,
                &[
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &FABRIC_V6.to_string(),
                ],
            )?;
            netns::sysctl(ns, "net.ipv6.conf.all.forwarding", "1")?;
        }
        Ok(())
    }

    /// Writes the node's CNI network configuration (what a runtime would keep in net.d).
    fn write_cni_conf(&self, node: &str) -> Result<()> {
        let conf = cni_conf::node_conf(&cni_conf::CniConfInput {
            node,
            datastore: &self.datastore_config(),
            ipv6: self.state.spec.ipv6,
            log_file: &self.ctx.paths.log_file("cni"),
            ipam_lock_file: &self.ctx.paths.ipam_lock(),
        });
        let path = self.ctx.paths.cni_conf(node);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let text = serde_json::to_string_pretty(&conf).map_err(|e| Error::State {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| Error::io("cannot write", &path, e))
    }

    /// Waits until every agent registered its Node, exited, or the wait ran out.
    fn await_registration(&self, mut agents: Vec<(String, Child)>) -> Result<UpReport> {
        let deadline = Instant::now() + REGISTRATION_WAIT;
        let mut report = UpReport::default();
        loop {
            let registered: BTreeSet<String> = self
                .store()
                .list(Kind::Node)?
                .iter()
                .filter_map(|r| match r {
                    Resource::Node(n) => Some(n.metadata.name.clone()),
                    _ => None,
                })
                .collect();
            let mut waiting = Vec::new();
            for (name, mut child) in agents {
                if registered.contains(&name) {
                    report.registered.push(name);
                    crate::process::reap_later(child);
                } else if let Ok(Some(status)) = child.try_wait() {
                    report.exited.push((name, status.to_string()));
                } else {
                    waiting.push((name, child));
                }
            }
            agents = waiting;
            if agents.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for (name, child) in agents {
            report.unregistered.push(name);
            crate::process::reap_later(child);
        }
        Ok(report)
    }
}
