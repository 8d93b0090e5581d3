//! The agent's policy and dataplane driver: syncer updates feed the policy engine and the
//! node inputs; after each batch (coalesced) the desired dataplane state is rebuilt,
//! rendered, diffed against what we last programmed and applied as one minimal nft
//! transaction, then our routes and interface sysctls are synced.
//!
//! ```text
//!  SyncUpdate ─► handle ─┬─► policy::Model (every endpoint feeds selector IP sets;
//!                        │                  only this node's endpoints get chains)
//!                        └─► NodeInputs (pools, affine blocks, local interfaces, config)
//!                                  │ due_at(): ≥ 50 ms after the last apply, at once on InSync
//!                                  ▼
//!              desired::build (pure) ─► DesiredState + routes
//!                                  │ dataplane::render (v4, v6)
//!                                  ▼
//!   last applied tables (or, on start / refresh / after a failure, nft -j list of ours)
//!                                  │ dataplane::diff ─► Batch ─► nft -f - (one transaction)
//!                                  ▼
//!                  RouteManager::sync (proto 80), sysctls of new workload interfaces
//! ```
//!
//! Invariants: nothing is programmed before the first `InSync` (a partial copy would drop
//! traffic of endpoints not yet seen); the table is never deleted to converge, only the diff
//! is applied, so a restarted agent leaves established flows alone; an update the engine
//! rejects is logged and counted and the last good state stays; a failed apply forgets
//! what it thought was programmed, so the next attempt (the refresh timer) re-reads it.

mod desired;
mod dump;
mod inputs;
mod rules;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dataplane::model::IpVersion;
use dataplane::routes::{Route, RouteManager};
use dataplane::{nft, Table};
use tokio::time::Instant;

pub use desired::{build, policy_id, Desired};
pub use dump::dump;
pub use inputs::{policy_update, LocalInterface, NodeInputs, Pool};

use crate::metrics::Metrics;
use crate::syncer::{SyncStatus, SyncUpdate};
use crate::{Error, Result};

/// Minimum time between two applies while updates keep coming.
pub const COALESCE: Duration = Duration::from_millis(50);
/// Default period of the drift check (re-read the table and routes, repair).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);
/// The environment variable setting the drift-check period (Go duration or seconds; 0 = off).
pub const REFRESH_ENV: &str = "FELIX_IPTABLESREFRESHINTERVAL";

/// The drift-check period from the environment; `None` when disabled.
pub fn refresh_interval(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Duration>> {
    let Some(text) = lookup(REFRESH_ENV) else {
        return Ok(Some(DEFAULT_REFRESH));
    };
    let text = text.trim();
    let period = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(Error::setting(REFRESH_ENV, text, "must not be negative")),
        Err(_) => api::Duration::parse(text)
            .map_err(|reason| Error::setting(REFRESH_ENV, text, reason))?
            .to_std(),
    };
    Ok((!period.is_zero()).then_some(period))
}

/// What one apply changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// nft commands run (0 when the tables already matched).
    pub nft_commands: usize,
    /// Rules (re)written.
    pub rules_written: usize,
    /// Routes added or deleted.
    pub route_changes: usize,
}

/// Owns the policy engine and what the agent last programmed. See the module comment.
pub struct DataplaneDriver {
    node: String,
    engine: policy::Model,
    inputs: NodeInputs,
    metrics: Arc<Metrics>,
    in_sync: bool,
    dirty: bool,
    urgent: bool,
    last_apply: Option<Instant>,
    /// The v4 and v6 tables as last applied; `None` means "read them from the kernel".
    programmed: Option<[Table; 2]>,
    routes: Option<RouteManager>,
    /// Interfaces (and families) whose sysctls were written.
    configured: BTreeSet<(String, IpVersion)>,
    skipped: usize,
}

impl DataplaneDriver {
    /// A driver for node `node` with nothing known yet.
    pub fn new(node: &str, metrics: Arc<Metrics>) -> Self {
        DataplaneDriver {
            node: node.to_owned(),
            engine: policy::Model::for_node(node),
            inputs: NodeInputs::default(),
            metrics,
            in_sync: false,
            dirty: false,
            urgent: false,
            last_apply: None,
            programmed: None,
            routes: None,
            configured: BTreeSet::new(),
            skipped: 0,
        }
    }

    /// Feeds one syncer update. Never fails: what the engine rejects is logged and counted.
    pub fn handle(&mut self, update: &SyncUpdate) {
        if let SyncUpdate::Status { status } = update {
            self.in_sync = matches!(status, SyncStatus::InSync { .. });
            if self.in_sync {
                self.dirty = true;
                self.urgent = true;
            }
            return;
        }
        if let Some(change) = policy_update(update) {
            if let Err(e) = self.engine.apply(change) {
                tracing::warn!(error = %e, "policy engine rejected an update; keeping the last good state");
                self.metrics.error("policy");
                return;
            }
            self.dirty = true;
        }
        if self.inputs.apply(&self.node, update) {
            self.dirty = true;
        }
    }

    /// When the next apply is due, if one is.
    pub fn due_at(&self) -> Option<Instant> {
        if !(self.in_sync && self.dirty) {
            return None;
        }
        Some(match self.last_apply {
            Some(last) if !self.urgent => last + COALESCE,
            _ => Instant::now(),
        })
    }

    /// Whether the first complete copy of the datastore arrived (drift checks start then).
    pub fn in_sync(&self) -> bool {
        self.in_sync
    }

    /// What this node wants programmed now.
    pub fn desired(&self) -> Desired {
        build(&self.engine, &self.inputs, &self.node)
    }

    /// Forgets what was programmed, re-reads it and repairs any drift.
    pub async fn refresh(&mut self) -> Result<Applied> {
        self.programmed = None;
        self.apply().await
    }

    /// Programs the desired state: nftables first (one transaction per family), then
    /// routes and sysctls. Timed by `felix_int_dataplane_apply_time_seconds`.
    pub async fn apply(&mut self) -> Result<Applied> {
        self.dirty = false;
        self.urgent = false;
        self.last_apply = Some(Instant::now());
        // The whole state is rebuilt from the engine's answers, so its change queues are
        // only drained to keep them bounded.
        self.engine.take_deltas();
        self.engine.take_endpoint_changes();
        let metrics = Arc::clone(&self.metrics);
        let _timer = metrics.time_dataplane_apply();
        let desired = self.desired();
        if desired.skipped.len() != self.skipped {
            self.skipped = desired.skipped.len();
            for what in &desired.skipped {
                tracing::warn!(rule = %what, "rule left out: not supported by the nftables dataplane");
            }
        }
        let mut applied = self.apply_tables(&desired).inspect_err(|_| {
            self.programmed = None;
        })?;
        self.configure_interfaces(&desired);
        let routes = match self.routes.take() {
            Some(r) => r,
            None => RouteManager::new().map_err(|e| Error::dataplane("opening netlink", e))?,
        };
        // A route to a missing interface would fail the whole sync: such a workload (its
        // veth not created yet, or already gone) gets its route once the interface exists,
        // at the latest on the next drift check.
        let present: BTreeSet<Route> = desired
            .routes
            .iter()
            .filter(|r| match r {
                Route::Workload { iface, .. } => interface_exists(iface),
                Route::Blackhole { .. } => true,
            })
            .cloned()
            .collect();
        let synced = routes.sync(&present).await;
        self.routes = Some(routes);
        let diff = synced.map_err(|e| Error::dataplane("syncing routes", e))?;
        applied.route_changes = diff.add.len() + diff.delete.len();
        Ok(applied)
    }

    fn apply_tables(&mut self, desired: &Desired) -> Result<Applied> {
        let render = |family| {
            dataplane::render(&desired.state, family)
                .map_err(|e| Error::dataplane("rendering nftables", e))
        };
        let wanted = [render(IpVersion::V4)?, render(IpVersion::V6)?];
        let programmed = match self.programmed.take() {
            Some(tables) => tables,
            None => [read(IpVersion::V4)?, read(IpVersion::V6)?],
        };
        let mut applied = Applied::default();
        for (old, new) in programmed.iter().zip(&wanted) {
            let batch = dataplane::diff(old, new);
            nft::apply(&batch).map_err(|e| Error::dataplane("applying nftables", e))?;
            if batch.recreates_table {
                tracing::warn!(family = new.family_name(), "nftables table recreated");
            }
            applied.nft_commands += batch.commands;
            applied.rules_written += batch.rules_written;
        }
        self.programmed = Some(wanted);
        Ok(applied)
    }

    /// Interface sysctls as Calico's CNI writes them, once per interface the agent sees
    /// (the CNI normally did it already; this repairs hand-made or restarted setups).
    fn configure_interfaces(&mut self, desired: &Desired) {
        let mut wanted: BTreeSet<(String, IpVersion)> = BTreeSet::new();
        for route in &desired.routes {
            if let Route::Workload { dst, iface } = route {
                let family = match dst {
                    ipnet::IpNet::V4(_) => IpVersion::V4,
                    ipnet::IpNet::V6(_) => IpVersion::V6,
                };
                wanted.insert((iface.clone(), family));
            }
        }
        self.configured.retain(|k| wanted.contains(k));
        for (iface, family) in wanted {
            if self.configured.contains(&(iface.clone(), family)) || !interface_exists(&iface) {
                continue;
            }
            match dataplane::sysctl::configure_workload_interface(&iface, family) {
                Ok(()) => {
                    self.configured.insert((iface, family));
                }
                Err(e) => tracing::warn!(error = %e, "cannot write interface sysctls"),
            }
        }
    }
}

fn interface_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

fn read(family: IpVersion) -> Result<Table> {
    nft::read_table(family).map_err(|e| Error::dataplane("reading nftables", e))
}
