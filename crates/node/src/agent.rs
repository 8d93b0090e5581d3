//! The agent's wiring: start-up, then one task that owns every piece of mutable state and
//! is fed by child tasks.
//!
//! ```text
//!                       datastore (embedded file / etcd)
//!                          │ list + watch "/calico/"
//!                          ▼
//!   ┌──────────────┐  SyncUpdate (mpsc)   ┌──────────────────────────────────────┐
//!   │ syncer task  │ ───────────────────► │ agent loop: the only owner of state  │
//!   └──────────────┘                      │   Model (resources, IPAM blocks)     │
//!   ┌──────────────┐  SIGTERM / SIGINT    │   status report, in-sync flag        │
//!   │ signal waits │ ───────────────────► │                                      │
//!   └──────────────┘                      │                                      │
//!   ┌──────────────┐  liveness tick       │   DataplaneDriver: policy engine,    │──► --record-events
//!   │ interval     │ ───────────────────► │   last programmed nft tables         │    (JSON lines)
//!   └──────────────┘  apply deadline,     │   (dataplane_driver module)          │──► nft, routes,
//!   timers ─────────  drift-check tick ─► │   BgpManager (bgp module)            │    sysctls
//!   ┌──────────────┐  BgpEvent (routes,  │                                      │──► BGP speaker,
//!   │ BGP speaker  │ ─ session, grace) ─► │                                      │    proto-bird routes
//!   └──────────────┘                      └───┬──────────────┬───────────────┬───┘
//!                          reports (Health)   │    counters  │  watch channel│
//!                                             ▼    (Metrics) ▼               ▼
//!                        health HTTP task: /liveness  metrics HTTP   status socket task
//!                        /readiness (read-only)       task /metrics  (JSON per connection)
//! ```
//!
//! Child tasks and streams only read sockets, signals, timers and the datastore and hand
//! typed messages in; the servers read shared, internally locked views. Every task is held by a `TaskGuard`, so
//! returning from [`run`] stops them all.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::{FelixConfigurationSpec, Kind, Resource};
use datastore::{DatastoreConfig, ResourceClient, Store};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::bgp::{BgpEvent, BgpManager, BgpOptions};
use crate::dataplane_driver::{self, DataplaneDriver, COALESCE};
use crate::felix_config::ServeConfig;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::model::{Change, Model};
use crate::record::Recorder;
use crate::settings::Settings;
use crate::status::{NodeStatusReport, StatusSocket};
use crate::syncer::{self, SyncKey, SyncUpdate, SyncValue, SyncerOptions};
use crate::task::TaskGuard;
use crate::{interfaces, nodename, preflight, startup, Error, Result};

/// How often the agent loop proves it is alive.
const LIVENESS_TICK: Duration = Duration::from_secs(5);
/// The least time between two BGP status reports caused by session changes (a flapping
/// session must not keep the loop busy); the liveness tick refreshes them regardless.
const STATUS_MIN_GAP: Duration = Duration::from_millis(100);
/// How long the agent loop may stay silent before liveness fails.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long start-up waits for the datastore to answer.
const DATASTORE_TIMEOUT: Duration = Duration::from_secs(20);

/// Default path of the status socket.
pub const DEFAULT_STATUS_SOCKET: &str = "/var/run/calico/calico-node.sock";

/// Command-line options of the agent.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// A `CalicoAPIConfig` file; else `/etc/calico/calicoctl.cfg` if present, else the environment.
    pub datastore_config: Option<PathBuf>,
    /// Where `calicoctl node status` finds us.
    pub status_socket: PathBuf,
    /// Append every datastore update handled to this file (JSON lines) for replay.
    pub record_events: Option<PathBuf>,
}

/// Starts the agent with settings from the process environment and runs it until SIGTERM or
/// SIGINT (then returns `Ok`). Fails, having written nothing half-way, when it cannot start.
pub async fn run(options: AgentOptions) -> Result<()> {
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    let refresh_every = dataplane_driver::refresh_interval(|name| std::env::var(name).ok())?;
    let store = connect(options.datastore_config.as_deref()).await?;
    preflight::check(settings.dataplane_enabled)?;
    let client = ResourceClient::new(Arc::clone(&store));
    let name = nodename::resolve(settings.node_name.as_deref(), &settings.state_dir)?;
    let local = interfaces::list()?;
    let mut recorder = match &options.record_events {
        Some(path) => Some(Recorder::create(path)?),
        None => None,
    };

    // Claim every listening address before the first datastore write, so a port clash
    // fails start-up with nothing written.
    let serve = ServeConfig::resolve(
        |n| std::env::var(n).ok(),
        felix_spec(&client, &format!("node.{name}")).await?.as_ref(),
        felix_spec(&client, "default").await?.as_ref(),
    )?;
    let health_listener = if serve.health_enabled {
        Some(bind("health", &serve.health_host, serve.health_port).await?)
    } else {
        None
    };
    let metrics_listener = if serve.metrics_enabled {
        Some(bind("metrics", &serve.metrics_host, serve.metrics_port).await?)
    } else {
        None
    };
    let socket = Arc::new(StatusSocket::bind(&options.status_socket)?);

    let node = startup::run(&client, &settings, &name, &local).await?;
    nodename::write(&settings.state_dir, &name)?;

    let health = Health::default();
    health.register("agent", Some(LIVENESS_TIMEOUT));
    health.register("syncer", None);
    let metrics = Arc::new(Metrics::new());
    let mut report = NodeStatusReport {
        node_name: name.clone(),
        ..Default::default()
    };
    fill_node_status(&mut report, &node);
    let (status_tx, status_rx) = watch::channel(report);

    let mut tasks = Vec::new();
    if let Some(listener) = health_listener {
        tasks.push(serve_http(listener, crate::health::router(health.clone())));
    }
    if let Some(listener) = metrics_listener {
        let router = crate::metrics::router(Arc::clone(&metrics));
        tasks.push(serve_http(listener, router));
    }
    tasks.push({
        let socket = Arc::clone(&socket);
        TaskGuard::spawn(async move { socket.serve(status_rx).await })
    });
    let (syncer_task, updates) =
        syncer::spawn(store, Arc::clone(&metrics), SyncerOptions::default());
    tasks.push(syncer_task);

    let dataplane = settings
        .dataplane_enabled
        .then(|| DataplaneDriver::new(&name, Arc::clone(&metrics)));
    let bgp = if settings.bgp_enabled {
        Some(BgpManager::new(BgpOptions::new(&name))?)
    } else {
        None
    };
    let agent = Agent {
        dataplane,
        bgp,
        bgp_dirty: false,
        bgp_last: tokio::time::Instant::now(),
        status_due: None,
        status_last: tokio::time::Instant::now(),
        refresh_every,
        name,
        model: Model::default(),
        health,
        metrics,
        status: status_tx,
    };
    tracing::info!(node = %agent.name, "calico-node started");
    let result = agent.run(updates, recorder.as_mut()).await;
    // Stop every task before the socket file goes.
    drop(tasks);
    drop(socket);
    result
}

/// Opens the configured datastore and checks that it answers.
pub(crate) async fn connect(config_file: Option<&Path>) -> Result<Arc<dyn Store>> {
    let config = DatastoreConfig::load(config_file)
        .map_err(|e| Error::datastore("loading configuration", e))?;
    let store = datastore::connect(&config)
        .await
        .map_err(|e| Error::datastore("connecting", e))?;
    match tokio::time::timeout(DATASTORE_TIMEOUT, store.revision()).await {
        Ok(Ok(_)) => Ok(store),
        Ok(Err(e)) => Err(Error::datastore("connecting", e)),
        Err(_) => Err(Error::datastore(
            "connecting",
            datastore::Error::Backend(format!("no answer within {DATASTORE_TIMEOUT:?}")),
        )),
    }
}

/// The state-owning task.
struct Agent {
    /// `None` with `CALICO_DATAPLANE=none`.
    dataplane: Option<DataplaneDriver>,
    /// `None` unless the networking backend is BGP (`bird`).
    bgp: Option<BgpManager>,
    /// The BGP inputs changed since the last reconcile.
    bgp_dirty: bool,
    /// When BGP was last reconciled (reconciles are coalesced like dataplane applies).
    bgp_last: tokio::time::Instant,
    /// When the BGP status report is to be refreshed after a session change.
    status_due: Option<tokio::time::Instant>,
    /// When the BGP status report was last refreshed.
    status_last: tokio::time::Instant,
    /// Drift-check period; `None` disables it.
    refresh_every: Option<Duration>,
    name: String,
    model: Model,
    health: Health,
    metrics: Arc<Metrics>,
    status: watch::Sender<NodeStatusReport>,
}

impl Agent {
    async fn run(
        mut self,
        mut updates: mpsc::Receiver<SyncUpdate>,
        mut recorder: Option<&mut Recorder>,
    ) -> Result<()> {
        let io = |e| Error::io("cannot install a handler for", "SIGTERM/SIGINT", e);
        let mut sigterm = signal(SignalKind::terminate()).map_err(io)?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(io)?;
        let mut tick = tokio::time::interval(LIVENESS_TICK);
        let refresh_every = self.refresh_every.unwrap_or(LIVENESS_TICK);
        let first_refresh = tokio::time::Instant::now() + refresh_every;
        let mut refresh = tokio::time::interval_at(first_refresh, refresh_every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let apply_at = self.dataplane.as_ref().and_then(DataplaneDriver::due_at);
            let bgp_at = (self.bgp_dirty && self.model.in_sync()).then(|| self.bgp_last + COALESCE);
            let status_at = self.status_due;
            let refresh_on = self.refresh_every.is_some()
                && self
                    .dataplane
                    .as_ref()
                    .is_some_and(DataplaneDriver::in_sync);
            tokio::select! {
                update = updates.recv() => match update {
                    Some(update) => {
                        if let Some(recorder) = recorder.as_deref_mut() {
                            recorder.record(&update)?;
                        }
                        self.handle(update);
                    }
                    None => return Err(Error::TaskStopped("datastore syncer".into())),
                },
                _ = tokio::time::sleep_until(apply_at.unwrap_or_else(tokio::time::Instant::now)),
                    if apply_at.is_some() => self.program_dataplane(false).await,
                _ = refresh.tick(), if refresh_on => self.program_dataplane(true).await,
                _ = tokio::time::sleep_until(bgp_at.unwrap_or_else(tokio::time::Instant::now)),
                    if bgp_at.is_some() => self.reconcile_bgp().await,
                event = next_bgp_event(self.bgp.as_mut()) => self.bgp_event(event).await,
                _ = tokio::time::sleep_until(status_at.unwrap_or_else(tokio::time::Instant::now)),
                    if status_at.is_some() => self.publish_bgp_status().await,
                _ = tick.tick() => {
                    self.health.report("agent", true, true);
                    self.publish_bgp_status().await;
                }
                _ = sigterm.recv() => {
                    tracing::info!("SIGTERM: shutting down");
                    return Ok(());
                }
                _ = sigint.recv() => {
                    tracing::info!("SIGINT: shutting down");
                    return Ok(());
                }
            }
        }
    }

    /// Programs the dataplane (`refresh`: re-read what is programmed first, to repair
    /// drift). A failure is logged and counted; the next drift check retries from a fresh
    /// read.
    async fn program_dataplane(&mut self, refresh: bool) {
        let Some(driver) = self.dataplane.as_mut() else {
            return;
        };
        let result = if refresh {
            driver.refresh().await
        } else {
            driver.apply().await
        };
        match result {
            Ok(applied) if applied.nft_commands + applied.route_changes > 0 => {
                let what = if refresh {
                    "drift repaired"
                } else {
                    "dataplane updated"
                };
                tracing::info!(
                    nft_commands = applied.nft_commands,
                    rules_written = applied.rules_written,
                    route_changes = applied.route_changes,
                    "{what}"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "dataplane programming failed; retrying at the next drift check");
                self.metrics.error("dataplane");
            }
        }
    }

    async fn reconcile_bgp(&mut self) {
        self.bgp_dirty = false;
        self.bgp_last = tokio::time::Instant::now();
        if let Some(bgp) = self.bgp.as_mut() {
            if let Err(e) = bgp.reconcile().await {
                tracing::error!(error = %e, "BGP reconcile failed");
                self.metrics.error("bgp");
            }
        }
        self.bgp_status_changed();
    }

    async fn bgp_event(&mut self, event: BgpEvent) {
        if matches!(event, BgpEvent::Sessions) {
            return self.bgp_status_changed();
        }
        if let Some(bgp) = self.bgp.as_mut() {
            if let Err(e) = bgp.apply_event(event).await {
                tracing::error!(error = %e, "BGP route programming failed");
                self.metrics.error("bgp");
            }
        }
    }

    /// Schedules a refresh of the BGP status report: at once, or [`STATUS_MIN_GAP`] after
    /// the last one.
    fn bgp_status_changed(&mut self) {
        if self.status_due.is_none() {
            let now = tokio::time::Instant::now();
            self.status_due = Some(now.max(self.status_last + STATUS_MIN_GAP));
        }
    }

    /// Refreshes the BGP peer rows of the status report.
    async fn publish_bgp_status(&mut self) {
        self.status_due = None;
        self.status_last = tokio::time::Instant::now();
        let Some(bgp) = self.bgp.as_ref() else {
            return;
        };
        match bgp.status_rows().await {
            Ok(rows) => self.status.send_modify(|report| report.bgp_peers = rows),
            Err(e) => tracing::warn!(error = %e, "cannot read BGP peer status"),
        }
    }

    fn handle(&mut self, update: SyncUpdate) {
        if !matches!(update, SyncUpdate::Status { .. }) {
            self.metrics.update_processed();
        }
        if let Some(driver) = self.dataplane.as_mut() {
            driver.handle(&update);
        }
        if let Some(bgp) = self.bgp.as_mut() {
            self.bgp_dirty |= bgp.handle(&update);
        }
        match self.model.apply(update) {
            Change::None => {}
            Change::InSync(in_sync) => {
                self.metrics.set_in_sync(in_sync);
                if in_sync {
                    // Ready from the first complete copy on; a later re-list only refreshes it.
                    self.health.report("syncer", true, true);
                }
                self.publish(false);
            }
            Change::Item(key) => {
                let (own_node, cluster_info) = match &key {
                    SyncKey::Resource { kind, name, .. } => (
                        *kind == Kind::Node && *name == self.name,
                        *kind == Kind::ClusterInformation && name == "default",
                    ),
                    SyncKey::IpamBlock { .. } => (false, false),
                };
                if cluster_info {
                    self.report_datastore_ready(&key);
                }
                self.publish(own_node);
            }
        }
    }

    /// `datastoreReady: false` in ClusterInformation (a datastore migration is running) makes
    /// the agent not ready until it turns true again.
    fn report_datastore_ready(&self, key: &SyncKey) {
        let ready = match self.model.get(key) {
            Some(SyncValue::Resource(r)) => match r.as_ref() {
                Resource::ClusterInformation(info) => info.spec.datastore_ready != Some(false),
                _ => true,
            },
            _ => true,
        };
        if !ready {
            tracing::warn!("ClusterInformation says the datastore is not ready");
        }
        self.health.report("datastore", true, ready);
    }

    /// Refreshes the status report from the model.
    fn publish(&self, own_node_changed: bool) {
        let node = own_node_changed
            .then(|| self.model.node(&self.name))
            .flatten();
        self.status.send_modify(|report| {
            report.in_sync = self.model.in_sync();
            report.resources = self.model.counts().clone();
            if let Some(node) = node {
                fill_node_status(report, node);
            }
        });
    }
}

/// The BGP manager's next event; never, without one.
async fn next_bgp_event(bgp: Option<&mut BgpManager>) -> BgpEvent {
    match bgp {
        Some(bgp) => bgp.next_event().await,
        None => std::future::pending().await,
    }
}

fn fill_node_status(report: &mut NodeStatusReport, node: &api::Node) {
    let bgp = node.spec.bgp.clone().unwrap_or_default();
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    report.ipv4_address = some(bgp.ipv4_address);
    report.ipv6_address = some(bgp.ipv6_address);
    report.as_number = bgp.as_number.map(|a| a.0);
}

/// The spec of FelixConfiguration `name`, if it exists.
async fn felix_spec(client: &ResourceClient, name: &str) -> Result<Option<FelixConfigurationSpec>> {
    match client.get(Kind::FelixConfiguration, None, name).await {
        Ok(Resource::FelixConfiguration(fc)) => Ok(Some(fc.spec)),
        Ok(_) | Err(datastore::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::datastore(
            format!("reading FelixConfiguration({name})"),
            e,
        )),
    }
}

/// Binds `host:port`; `localhost` means 127.0.0.1 and an empty host every IPv4 address.
async fn bind(what: &str, host: &str, port: u16) -> Result<TcpListener> {
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other.parse().map_err(|_| {
            Error::setting(
                &format!("{what} host"),
                other,
                "expected an IP address or localhost",
            )
        })?,
    };
    let address = SocketAddr::new(ip, port);
    TcpListener::bind(address)
        .await
        .map_err(|error| Error::Serve {
            what: what.to_string(),
            address: address.to_string(),
            error,
        })
}

fn serve_http(listener: TcpListener, router: axum::Router) -> TaskGuard {
    TaskGuard::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    })
}
