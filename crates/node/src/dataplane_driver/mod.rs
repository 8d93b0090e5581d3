//! The agent's policy and dataplane driver: syncer updates feed the policy engine and the
//! node inputs and note what changed; after each batch (coalesced) only the changed parts of
//! the desired tables are re-rendered, diffed against what we programmed and applied as one
//! minimal nft transaction, then our routes and interface sysctls are synced if they changed.
//!
//! ```text
//!  SyncUpdate ─► handle ─┬─► policy::Model (every endpoint feeds selector IP sets;
//!                        │                  only this node's endpoints get chains)
//!                        ├─► NodeInputs (pools, affine blocks, local interfaces, config)
//!                        └─► Changes (endpoints, policies, profiles put or deleted)
//!                                  │ due_at(): ≥ 50 ms after the last apply, at once on InSync
//!                                  ▼
//!   incremental::Cache (pure): Changes + the engine's changed endpoints and IP-set deltas
//!     ─► re-render only those endpoints, policies, profiles and sets ─► Edits (v4, v6)
//!     (Cache::build runs the same steps for everything: first apply, tier change, error)
//!                                  │ Edits::batch: diff of the touched names only; on start
//!                                  │ or after a failure: dataplane::diff against nft -j list;
//!                                  │ drift check: the same against a read made on a thread
//!                                  │ of its own (used only if nothing was applied meanwhile)
//!                                  ▼
//!                  v4 + v6 Batch ─► nft -f - (one transaction)
//!                                  ▼
//!   when routes changed or on refresh: RouteManager::sync (proto 80), interface sysctls
//! ```
//!
//! Invariants: nothing is programmed before the first `InSync` (a partial copy would drop
//! traffic of endpoints not yet seen); the table is never deleted to converge, only the diff
//! is applied, so a restarted agent leaves established flows alone; an update the engine
//! rejects is logged and counted and the last good state stays; a failed apply forgets
//! what it thought was programmed, so the next attempt (the refresh timer) re-reads it.

mod desired;
mod dump;
mod incremental;
mod inputs;
mod rules;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use api::Kind;
use dataplane::model::IpVersion;
use dataplane::routes::{Route, RouteManager};
use dataplane::{nft, Table};
use policy::{EndpointKey, PolicyKey};
use tokio::time::Instant;

pub use desired::{build, policy_id, Desired};
pub use dump::dump;
use incremental::{Cache, Changes};
pub use inputs::{policy_update, LocalInterface, NodeInputs, Pool};

use crate::metrics::Metrics;
use crate::syncer::{SyncKey, SyncStatus, SyncUpdate};
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

/// How the desired tables were brought up to date.
enum TableUpdate {
    /// Changed in place: these edits, v4 and v6.
    Edited([dataplane::Edits; 2]),
    /// Built from scratch; the tables before, if there were any.
    Rebuilt(Option<Cache>),
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
    /// What changed since the last apply.
    changes: Changes,
    /// The desired tables; `None` means "build them from scratch".
    cache: Option<Cache>,
    /// The kernel holds `cache`'s tables; false means "read them from the kernel".
    programmed: bool,
    /// Our routes and interface sysctls match the desired ones.
    routes_synced: bool,
    routes: Option<RouteManager>,
    /// Interfaces (and families) whose sysctls were written.
    configured: BTreeSet<(String, IpVersion)>,
    /// nft applies attempted so far.
    applies: u64,
    /// The drift check's read of the kernel tables, while it runs.
    pending_read: Option<PendingRead>,
    /// A finished read showing the kernel as the last apply left it (plus drift).
    kernel: Option<[Table; 2]>,
    /// No new drift-check read before this.
    next_read: Option<Instant>,
}

/// How long a drift check waits for its read of the kernel tables before it leaves it
/// running in the background.
pub const READ_WAIT: Duration = Duration::from_millis(50);

/// A read of both kernel tables on a thread of its own (which ends when `nft` does; the
/// result is dropped if nobody waits for it any more).
struct PendingRead {
    /// [`DataplaneDriver::applies`] when the read started.
    since: u64,
    started: Instant,
    tables: mpsc::Receiver<Result<[Table; 2]>>,
}

impl PendingRead {
    fn start(since: u64) -> Self {
        let (tx, tables) = mpsc::channel();
        std::thread::spawn(move || {
            let both = read(IpVersion::V4).and_then(|v4| Ok([v4, read(IpVersion::V6)?]));
            let _ = tx.send(both);
        });
        PendingRead {
            since,
            started: Instant::now(),
            tables,
        }
    }
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
            changes: Changes::default(),
            cache: None,
            programmed: false,
            routes_synced: false,
            routes: None,
            configured: BTreeSet::new(),
            applies: 0,
            pending_read: None,
            kernel: None,
            next_read: None,
        }
    }

    /// Feeds one syncer update. Never fails: what the engine rejects is logged and counted.
    pub fn handle(&mut self, update: &SyncUpdate) {
        if let SyncUpdate::Status { status } = update {
            // A re-list after the first complete copy delivers only differences, so what the
            // engine holds stays whole: programming and drift repair go on through it (and
            // through a datastore outage), as Felix's do.
            if matches!(status, SyncStatus::InSync { .. }) {
                self.in_sync = true;
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
            self.routes_synced = false;
        }
        self.note_change(update);
    }

    /// Records which endpoint, policy or profile an update touched.
    fn note_change(&mut self, update: &SyncUpdate) {
        let (SyncUpdate::Put { key, .. } | SyncUpdate::Delete { key, .. }) = update else {
            return;
        };
        let SyncKey::Resource {
            kind,
            namespace,
            name,
        } = key
        else {
            return;
        };
        let c = &mut self.changes;
        let ns = || namespace.clone().unwrap_or_default();
        match kind {
            Kind::WorkloadEndpoint => {
                c.endpoints.insert(EndpointKey::workload(ns(), name));
            }
            Kind::HostEndpoint => {
                c.endpoints.insert(EndpointKey::host(name));
            }
            Kind::NetworkPolicy => {
                c.policies.insert(PolicyKey::namespaced(ns(), name));
            }
            Kind::GlobalNetworkPolicy => {
                c.policies.insert(PolicyKey::global(name));
            }
            Kind::Profile => {
                c.profiles.insert(name.clone());
            }
            Kind::Tier => c.everything = true,
            _ => {}
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

    /// What this node wants programmed now, built from scratch.
    pub fn desired(&self) -> Desired {
        build(&self.engine, &self.inputs, &self.node)
    }

    /// Forgets what was programmed, re-reads it and repairs any drift.
    ///
    /// Reading a big table takes long (seconds at 10,000 endpoints), so the read runs on
    /// a thread of its own, and the next one starts no sooner than four times as long after
    /// it ended: this waits for it a moment ([`READ_WAIT`]), and when it is not
    /// done leaves it running and programs as usual; a later drift check picks the result up.
    /// A read is used only if nothing was applied since it started (else the kernel may
    /// have moved on), so it always shows the kernel as our last apply left it, plus any
    /// drift.
    pub async fn refresh(&mut self) -> Result<Applied> {
        self.routes_synced = false;
        let pending = match self.pending_read.take() {
            Some(p) => Some(p),
            None if self.next_read.is_none_or(|at| Instant::now() >= at) => {
                Some(PendingRead::start(self.applies))
            }
            None => None,
        };
        if let Some(pending) = pending {
            match pending.tables.recv_timeout(READ_WAIT) {
                Ok(tables) => {
                    // Reads take at most a fifth of the time: a slow one spaces the next.
                    self.next_read = Some(Instant::now() + pending.started.elapsed() * 4);
                    // A stale read (we applied something meanwhile) is dropped.
                    if pending.since == self.applies {
                        self.kernel = Some(tables?);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.pending_read = Some(pending),
                Err(mpsc::RecvTimeoutError::Disconnected) => self.programmed = false,
            }
        }
        self.apply().await
    }

    /// Programs the desired state: nftables first (one transaction for both families), then
    /// routes and sysctls. Timed by `felix_int_dataplane_apply_time_seconds`.
    pub async fn apply(&mut self) -> Result<Applied> {
        self.dirty = false;
        self.urgent = false;
        self.last_apply = Some(Instant::now());
        let metrics = Arc::clone(&self.metrics);
        let _timer = metrics.time_dataplane_apply();
        let mut applied = self.apply_tables().inspect_err(|_| {
            self.programmed = false;
        })?;
        if !self.routes_synced {
            applied.route_changes = self.sync_routes().await?;
            self.routes_synced = true;
        }
        Ok(applied)
    }

    /// Updates the desired tables (incrementally when possible) and programs the difference.
    fn apply_tables(&mut self) -> Result<Applied> {
        let update = self.update_tables()?;
        let cache = self.cache.as_ref().expect("built by update_tables");
        let mut applied = Applied::default();
        let kernel = self.kernel.take();
        self.applies += 1;
        // Both families go in one `nft -f` run: one transaction, and nft loads its cache
        // of our tables (the costly part of a small change to a big table) once.
        let mut both = dataplane::Batch::default();
        for (i, new) in cache.tables().iter().enumerate() {
            let batch = match &update {
                _ if kernel.is_some() => dataplane::diff(&kernel.as_ref().expect("some")[i], new),
                TableUpdate::Edited(edits) if self.programmed => edits[i].batch(new),
                TableUpdate::Rebuilt(Some(old)) if self.programmed => {
                    dataplane::diff(&old.tables()[i], new)
                }
                _ => dataplane::diff(&read(new.family)?, new),
            };
            if batch.recreates_table {
                tracing::warn!(family = new.family_name(), "nftables table recreated");
            }
            both.text.push_str(&batch.text);
            both.commands += batch.commands;
            both.rules_written += batch.rules_written;
        }
        nft::apply(&both).map_err(|e| Error::dataplane("applying nftables", e))?;
        applied.nft_commands = both.commands;
        applied.rules_written = both.rules_written;
        self.programmed = true;
        Ok(applied)
    }

    /// The pure half of [`apply`](Self::apply), for benchmarks: brings the desired tables up
    /// to date and returns the batches that turn the tables as they were into the new ones,
    /// taking the old ones as programmed (nothing is read from or written to the kernel).
    pub fn plan(&mut self) -> Result<[dataplane::Batch; 2]> {
        let update = self.update_tables()?;
        let cache = self.cache.as_ref().expect("built by update_tables");
        let new = cache.tables();
        Ok([0, 1].map(|i| match &update {
            TableUpdate::Edited(edits) => edits[i].batch(&new[i]),
            TableUpdate::Rebuilt(Some(old)) => dataplane::diff(&old.tables()[i], &new[i]),
            TableUpdate::Rebuilt(None) => dataplane::diff(&Table::empty(new[i].family), &new[i]),
        }))
    }

    /// The pure half of an apply: brings the desired tables up to date with what changed
    /// (or builds them when there are none, or a tier changed).
    fn update_tables(&mut self) -> Result<TableUpdate> {
        let deltas = self.engine.take_deltas();
        self.changes
            .endpoints
            .extend(self.engine.take_endpoint_changes());
        let changes = std::mem::take(&mut self.changes);
        let rendering = |e| Error::dataplane("rendering nftables", e);
        match self.cache.as_mut() {
            Some(cache) if !changes.everything => {
                let outcome = cache.update(&self.engine, &self.inputs, changes, &deltas);
                let outcome = outcome.map_err(|e| {
                    self.cache = None;
                    rendering(e)
                })?;
                if outcome.routes_changed {
                    self.routes_synced = false;
                }
                Ok(TableUpdate::Edited(outcome.edits))
            }
            _ => {
                let cache = Cache::build(&self.engine, &self.inputs, &self.node).map_err(|e| {
                    self.cache = None;
                    rendering(e)
                })?;
                self.routes_synced = false;
                Ok(TableUpdate::Rebuilt(self.cache.replace(cache)))
            }
        }
    }

    /// Syncs our routes and the sysctls of workload interfaces; returns the route changes.
    async fn sync_routes(&mut self) -> Result<usize> {
        let desired = self
            .cache
            .as_ref()
            .map(|c| c.routes(&self.inputs))
            .unwrap_or_default();
        // A route to a missing interface would fail the whole sync: such a workload (its
        // veth not created yet, or already gone) gets its route once the interface exists,
        // at the latest on the next drift check.
        let present: BTreeSet<Route> = desired
            .into_iter()
            .filter(|r| match r {
                Route::Workload { iface, .. } => interface_exists(iface),
                Route::Blackhole { .. } => true,
            })
            .collect();
        self.configure_interfaces(&present);
        let routes = match self.routes.take() {
            Some(r) => r,
            None => RouteManager::new().map_err(|e| Error::dataplane("opening netlink", e))?,
        };
        let synced = routes.sync(&present).await;
        self.routes = Some(routes);
        let diff = synced.map_err(|e| Error::dataplane("syncing routes", e))?;
        Ok(diff.add.len() + diff.delete.len())
    }

    /// Interface sysctls as Calico's CNI writes them, once per (existing) interface the
    /// agent routes to (the CNI normally did it already; this repairs hand-made or restarted
    /// setups).
    fn configure_interfaces(&mut self, routes: &BTreeSet<Route>) {
        let mut wanted: BTreeSet<(String, IpVersion)> = BTreeSet::new();
        for route in routes {
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
            if self.configured.contains(&(iface.clone(), family)) {
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
