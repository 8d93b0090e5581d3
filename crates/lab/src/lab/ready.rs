//! Waiting until the agents have done their part: `up` and `workload add` return only once
//! every new workload's endpoint is programmed by its node's calico-node (and, for `up`, every
//! BGP session is Established and every node holds learned routes to every other node's
//! workloads), so the first matrix a user draws is already complete. What counts as ready
//! is decided in [`crate::readiness`]; this module only looks (nft, ip, status sockets).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dataplane::model::IpVersion;
use dataplane::table::{family_name, TABLE_NAME};

use super::inspect::{query_agent, STATUS_SOCKET};
use super::Lab;
use crate::error::{Error, Result};
use crate::netns;
use crate::readiness::{self, Expectation, NodeView, WorkloadCheck};
use crate::spec::{Peering, TorRouter};
use crate::topology::NodePlan;

/// How often the lab looks again.
const POLL: Duration = Duration::from_millis(200);

/// What to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// After `up`: the workloads, every session, every route between nodes.
    WholeLab,
    /// After `workload add`: the new workloads and the other nodes' routes to them.
    NewWorkloads,
}

impl Lab {
    /// Whether the lab's nodes exchange routes by BGP at all (not with a ToR the user runs).
    fn routes_expected(&self) -> bool {
        self.state.topology.nodes.len() > 1
            && !(self.state.spec.peering == Peering::Tor
                && self.state.spec.tor == TorRouter::External)
    }

    /// Sessions each node should have up: the other nodes (mesh) or the ToR, per family.
    fn expected_sessions(&self) -> usize {
        let families = if self.state.spec.ipv6 { 2 } else { 1 };
        match self.state.spec.peering {
            Peering::Mesh => (self.state.topology.nodes.len() - 1) * families,
            Peering::Tor => families,
        }
    }

    fn expectation(&self, workloads: &[String], scope: Scope) -> Expectation {
        let check = |name: &String| {
            self.state.workload(name).map(|w| WorkloadCheck {
                name: w.name.clone(),
                node: w.node.clone(),
                interface: w.host_interface.clone(),
                addresses: w.addresses.clone(),
            })
        };
        let new: Vec<WorkloadCheck> = workloads.iter().filter_map(check).collect();
        let mut want = Expectation {
            workloads: new.clone(),
            ..Expectation::default()
        };
        if self.routes_expected() {
            want.routing_nodes = self.node_names();
            want.reached = match scope {
                Scope::WholeLab => self
                    .state
                    .workloads
                    .iter()
                    .filter_map(|w| check(&w.name))
                    .collect(),
                Scope::NewWorkloads => new,
            };
            if self.state.spec.peering == Peering::Tor {
                want.fabric_routes = want.reached.clone();
            }
            if scope == Scope::WholeLab {
                let count = self.expected_sessions();
                want.sessions = self.node_names().into_iter().map(|n| (n, count)).collect();
            }
        }
        want
    }

    /// Interfaces in the workload maps of one family's table (none if it is not there yet).
    fn mapped(&self, ns: &str, family: IpVersion) -> std::collections::BTreeSet<String> {
        let listing = netns::run(netns::exec(ns, "nft").args([
            "-j",
            "list",
            "table",
            family_name(family),
            TABLE_NAME,
        ]));
        listing
            .ok()
            .and_then(|text| dataplane::reader::parse_table(&text, family).ok())
            .map(|t| readiness::mapped_interfaces(&t))
            .unwrap_or_default()
    }

    fn observe(&self, node: &NodePlan, want: &Expectation) -> NodeView {
        let ns = node.namespace.as_str();
        let mut view = NodeView::default();
        if want.workloads.iter().any(|w| w.node == node.name) {
            view.mapped_v4 = self.mapped(ns, IpVersion::V4);
            if self.state.spec.ipv6 {
                view.mapped_v6 = self.mapped(ns, IpVersion::V6);
            }
        }
        for (flag, v6) in [("-4", false), ("-6", true)] {
            if v6 && !self.state.spec.ipv6 {
                continue;
            }
            if let Ok(text) = netns::ip(ns, &["-j", flag, "route", "show", "table", "main"]) {
                view.routes.extend(readiness::parse_routes(&text, v6));
            }
        }
        if want.sessions.contains_key(&node.name) {
            let socket = self.ctx.paths.node_dir(&node.name).join(STATUS_SOCKET);
            view.sessions = query_agent(&socket).ok();
        }
        view
    }

    /// The fabric namespace's routes (where a ToR router installs what it learned).
    fn observe_fabric(&self) -> NodeView {
        let ns = self.state.topology.fabric_namespace.as_str();
        let mut view = NodeView::default();
        for (flag, v6) in [("-4", false), ("-6", true)] {
            if v6 && !self.state.spec.ipv6 {
                continue;
            }
            if let Ok(text) = netns::ip(ns, &["-j", flag, "route", "show", "table", "main"]) {
                view.routes.extend(readiness::parse_routes(&text, v6));
            }
        }
        view
    }

    /// Fails at once when an agent the wait depends on is gone.
    fn agents_alive(&self, want: &Expectation) -> Result<()> {
        let mut nodes: Vec<&String> = want.workloads.iter().map(|w| &w.node).collect();
        nodes.extend(&want.routing_nodes);
        nodes.extend(want.sessions.keys());
        nodes.sort();
        nodes.dedup();
        for node in nodes {
            if !self.running(&format!("calico-node {node}")) {
                return Err(Error::Timeout(format!(
                    "calico-node on {node} is not running, so the lab cannot become ready; \
                     its log ends:\n{}",
                    self.log_tail(&format!("calico-node-{node}"))
                )));
            }
        }
        Ok(())
    }

    /// Waits until `workloads` (and, for [`Scope::WholeLab`], the whole lab) are ready for
    /// traffic, telling `progress` what it still waits for. Returns how long it took.
    pub fn await_ready(
        &self,
        workloads: &[String],
        scope: Scope,
        timeout: Duration,
        progress: &dyn Fn(&str),
    ) -> Result<Duration> {
        let started = Instant::now();
        let want = self.expectation(workloads, scope);
        loop {
            self.agents_alive(&want)?;
            let mut views: BTreeMap<String, NodeView> = self
                .state
                .topology
                .nodes
                .iter()
                .map(|n| (n.name.clone(), self.observe(n, &want)))
                .collect();
            if !want.fabric_routes.is_empty() {
                views.insert(readiness::FABRIC_VIEW.to_string(), self.observe_fabric());
            }
            let missing = readiness::pending(&want, &views);
            if missing.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(Error::Timeout(format!(
                    "not ready after {}s:\n  {}\n(calico-node logs: {})",
                    timeout.as_secs(),
                    missing.join("\n  "),
                    self.ctx.paths.log_dir().display()
                )));
            }
            progress(&format!(
                "waiting: {} ({} more)",
                missing[0],
                missing.len() - 1
            ));
            std::thread::sleep(POLL);
        }
    }
}
