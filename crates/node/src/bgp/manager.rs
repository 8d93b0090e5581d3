//! [`BgpManager`], the shell the agent owns: folds typed syncer updates into [`BgpInputs`],
//! computes the desired peers and exports, applies the difference to a running
//! [`bgp::Speaker`] (restarting it when AS, router ID, listen address or cluster ID change),
//! and mirrors the speaker's best learned routes into the kernel FIB.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use api::SecretKeyRef;
use bgp::codec::{Origin, PathAttributes};
use bgp::rib::{BestChange, Source};
use bgp::{Filters, Speaker, SpeakerConfig};
use ipnet::IpNet;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::exports::{compute_exports, ExportPolicy};
use super::fib::{kernel_routes, Fib};
use super::filters::ImportPolicy;
use super::inputs::BgpInputs;
use super::peers::{compute_peers, DesiredPeer, LocalSettings, DEFAULT_RESTART_TIME};
use super::status::PeerReport;
use crate::status::BgpPeerStatus;
use crate::syncer::SyncUpdate;
use crate::{Error, Result};

/// How the manager is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpOptions {
    /// This node's name.
    pub node_name: String,
    /// Where BGP passwords are read from: `<dir>/<secret name>/<key>` (the layout of a mounted
    /// Kubernetes secret volume). `None`: passwords cannot be resolved.
    pub secrets_dir: Option<PathBuf>,
    /// Program learned routes into the kernel (off only where no FIB is wanted).
    pub program_kernel: bool,
    /// After start, how long BGP routes found in the kernel but not (yet) re-learned are kept:
    /// a restarted agent flushes nothing while its sessions come back.
    pub restart_grace: Duration,
}

impl BgpOptions {
    /// Options for node `name`, secrets unavailable, kernel programming on.
    pub fn new(name: &str) -> BgpOptions {
        BgpOptions {
            node_name: name.to_string(),
            secrets_dir: None,
            program_kernel: true,
            restart_grace: Duration::from_secs(u64::from(DEFAULT_RESTART_TIME)),
        }
    }
}

/// Reads `secretKeyRef`s from files.
fn read_secret(dir: Option<&PathBuf>, r: &SecretKeyRef) -> std::result::Result<String, String> {
    let Some(dir) = dir else {
        return Err(format!(
            "secret {}/{} is unavailable: Kubernetes secrets cannot be read; \
             configure a secrets directory holding <name>/<key> files",
            r.name, r.key
        ));
    };
    let path = dir.join(&r.name).join(&r.key);
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

struct Running {
    speaker: Speaker,
    best: UnboundedReceiver<BestChange>,
    /// Changes when a session is added, removed or changes state.
    states: watch::Receiver<()>,
    config: SpeakerConfig,
}

/// The BGP side of the agent.
pub struct BgpManager {
    options: BgpOptions,
    inputs: BgpInputs,
    running: Option<Running>,
    peers: BTreeMap<IpAddr, DesiredPeer>,
    exports: BTreeSet<IpNet>,
    policy: Option<ExportPolicy>,
    import: Option<ImportPolicy>,
    learned: BTreeMap<IpNet, IpAddr>,
    fib: Option<Fib>,
    /// Until then, kernel routes not re-learned are kept (`None` once swept).
    grace_until: Option<Instant>,
    problems: Vec<String>,
}

/// Something for the manager to act on, from [`BgpManager::next_event`].
#[derive(Debug)]
pub enum BgpEvent {
    /// The speaker's best route of a prefix changed.
    Best(BestChange),
    /// The restart grace is over: sweep BGP routes nobody re-announced.
    GraceOver,
    /// A session was added or removed or changed state: the status report is out of date.
    Sessions,
}

impl BgpManager {
    /// A manager with no speaker yet; opens its netlink socket in the calling thread's
    /// network namespace when kernel programming is on. Call inside a tokio runtime.
    pub fn new(options: BgpOptions) -> Result<BgpManager> {
        let fib = if options.program_kernel {
            Some(Fib::new()?)
        } else {
            None
        };
        let grace = options.restart_grace;
        Ok(BgpManager {
            options,
            inputs: BgpInputs::default(),
            running: None,
            peers: BTreeMap::new(),
            exports: BTreeSet::new(),
            policy: None,
            import: None,
            learned: BTreeMap::new(),
            fib,
            grace_until: Some(Instant::now() + grace),
            problems: Vec::new(),
        })
    }

    /// Folds one syncer update in; `true` when [`BgpManager::reconcile`] should run.
    pub fn handle(&mut self, update: &SyncUpdate) -> bool {
        self.inputs.apply(update)
    }

    /// The inputs as folded so far.
    pub fn inputs(&self) -> &BgpInputs {
        &self.inputs
    }

    /// Why sessions or options were left out at the last reconcile.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The sessions applied to the speaker.
    pub fn peers(&self) -> &BTreeMap<IpAddr, DesiredPeer> {
        &self.peers
    }

    /// The prefixes originated.
    pub fn exports(&self) -> &BTreeSet<IpNet> {
        &self.exports
    }

    /// The speaker's local address (its listen port), when running.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.speaker.local_addr())
    }

    /// Brings speaker, sessions, originated prefixes, export filter and kernel routes in line
    /// with the inputs.
    pub async fn reconcile(&mut self) -> Result<()> {
        let me = self.options.node_name.clone();
        let dir = self.options.secrets_dir.clone();
        let plan = compute_peers(&me, &self.inputs, &|r| read_secret(dir.as_ref(), r));
        for p in plan.problems.iter().filter(|p| !self.problems.contains(p)) {
            tracing::warn!(problem = %p, "BGP configuration");
        }
        self.problems = plan.problems.clone();
        let Some(local) = plan.local.clone() else {
            self.stop();
            return self.sync_fib().await;
        };
        let policy = ExportPolicy::new(&me, &self.inputs, &plan);
        let import = ImportPolicy::new(&self.inputs, &plan);
        // Only a change of what the speaker was started with restarts it (and its sessions).
        let config = speaker_config(&local);
        if self.running.as_ref().map(|r| &r.config) != Some(&config) {
            self.stop();
            self.start(config, policy.clone(), import.clone()).await?;
        } else {
            // A new import filter makes the speaker ask its peers for their routes again:
            // only when it changed.
            let filters = Filters {
                export: (self.policy.as_ref() != Some(&policy))
                    .then(|| policy.clone().into_filter()),
                import: (self.import.as_ref() != Some(&import))
                    .then(|| import.clone().into_filter()),
            };
            if filters.export.is_some() || filters.import.is_some() {
                self.speaker()?
                    .set_filters(filters)
                    .map_err(speaker_error("setting the filters"))?;
            }
        }
        self.policy = Some(policy);
        self.import = Some(import);
        // Originate first: a session that comes up (a restarted agent's, above all) gets the
        // whole table before its End-of-RIB, so a graceful-restart helper flushes nothing.
        let exports = compute_exports(&me, &self.inputs);
        let withdraw: Vec<IpNet> = self.exports.difference(&exports).copied().collect();
        let announce: Vec<IpNet> = exports.difference(&self.exports).copied().collect();
        if !withdraw.is_empty() {
            self.speaker()?
                .withdraw(withdraw)
                .map_err(speaker_error("withdrawing"))?;
        }
        if !announce.is_empty() {
            let attrs = PathAttributes {
                origin: Some(Origin::Igp),
                ..Default::default()
            };
            self.speaker()?
                .announce(announce, attrs)
                .map_err(speaker_error("announcing"))?;
        }
        self.exports = exports;
        // A session is reset only when its speaker configuration changes; a new PEER TYPE or
        // next-hop mode alone (the latter lives in the export policy) keeps it up.
        let stale: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(a, p)| plan.peers.get(*a).map(DesiredPeer::to_config) != Some(p.to_config()))
            .map(|(a, _)| *a)
            .collect();
        for address in stale {
            self.speaker()?
                .remove_peer(address)
                .await
                .map_err(speaker_error(&format!("removing peer {address}")))?;
            self.peers.remove(&address);
        }
        for (address, peer) in &plan.peers {
            if !self.peers.contains_key(address) {
                self.speaker()?
                    .add_peer(peer.to_config())
                    .await
                    .map_err(speaker_error(&format!("adding peer {address}")))?;
            }
            self.peers.insert(*address, peer.clone());
        }
        self.sync_fib().await
    }

    fn speaker(&self) -> Result<&Speaker> {
        self.running
            .as_ref()
            .map(|r| &r.speaker)
            .ok_or_else(|| Error::Bgp {
                context: "speaker".into(),
                reason: "not running".into(),
            })
    }

    /// Stops the speaker (closing every session) and forgets what it held.
    fn stop(&mut self) {
        self.running = None;
        self.peers.clear();
        self.exports.clear();
        self.policy = None;
        self.import = None;
        self.learned.clear();
    }

    async fn start(
        &mut self,
        config: SpeakerConfig,
        policy: ExportPolicy,
        import: ImportPolicy,
    ) -> Result<()> {
        // A just-dropped speaker's listener closes when its task is next polled: retry briefly.
        let mut attempt = 0;
        let (speaker, best) = loop {
            let filters = Filters {
                import: Some(import.clone().into_filter()),
                export: Some(policy.clone().into_filter()),
            };
            match Speaker::start(config.clone(), filters).await {
                Ok(started) => break started,
                Err(e) if attempt < 20 => {
                    tracing::debug!(error = %e, "BGP speaker start, retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(speaker_error("starting the speaker")(e)),
            }
        };
        tracing::info!(asn = config.local_as, router_id = %config.router_id,
            listen = ?config.listen, cluster_id = ?config.cluster_id, "BGP speaker started");
        let states = speaker.state_changes();
        self.running = Some(Running {
            speaker,
            best,
            states,
            config,
        });
        Ok(())
    }

    /// The next thing to act on: a best-route change or a session change of the running
    /// speaker, or the end of the restart grace. Cancel-safe, for the agent's `select!`.
    pub async fn next_event(&mut self) -> BgpEvent {
        let grace = self.grace_until;
        let Some(r) = self.running.as_mut() else {
            sleep_until_some(grace).await;
            return BgpEvent::GraceOver;
        };
        let best = async {
            match r.best.recv().await {
                Some(change) => change,
                None => std::future::pending().await,
            }
        };
        let states = async {
            if r.states.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            change = best => BgpEvent::Best(change),
            () = states => BgpEvent::Sessions,
            _ = sleep_until_some(grace) => BgpEvent::GraceOver,
        }
    }

    /// Acts on an event: folds a best-route change (plus every other one already queued) into
    /// the kernel, or ends the restart grace with a full sweep. A session change needs
    /// nothing here (the caller refreshes its status report).
    pub async fn apply_event(&mut self, event: BgpEvent) -> Result<()> {
        match event {
            BgpEvent::Sessions => return Ok(()),
            BgpEvent::Best(change) => {
                self.fold(change);
                while let Some(change) = self.running.as_mut().and_then(|r| r.best.try_recv().ok())
                {
                    self.fold(change);
                }
            }
            BgpEvent::GraceOver => self.grace_until = None,
        }
        self.sync_fib().await
    }

    fn fold(&mut self, change: BestChange) {
        match change {
            BestChange::Updated(prefix, route) => match (route.source, route.next_hop(&prefix)) {
                (Source::Peer(_), Some(nh)) => {
                    self.learned.insert(prefix, nh);
                }
                _ => {
                    self.learned.remove(&prefix);
                }
            },
            BestChange::Withdrawn(prefix) => {
                self.learned.remove(&prefix);
            }
        }
    }

    async fn sync_fib(&mut self) -> Result<()> {
        let keep_unknown = self.grace_until.is_some();
        let Some(fib) = &mut self.fib else {
            return Ok(());
        };
        let desired = kernel_routes(&self.options.node_name, &self.inputs, &self.learned);
        let diff = fib.sync(&desired, keep_unknown).await?;
        if !diff.replace.is_empty() || !diff.delete.is_empty() {
            tracing::debug!(
                replaced = diff.replace.len(),
                deleted = diff.delete.len(),
                "BGP routes"
            );
        }
        Ok(())
    }

    /// Every session's report, ordered by address.
    pub async fn peer_reports(&self) -> Result<Vec<PeerReport>> {
        let Some(r) = &self.running else {
            return Ok(Vec::new());
        };
        let status = r
            .speaker
            .peers()
            .await
            .map_err(speaker_error("reading peer status"))?;
        Ok(status
            .iter()
            .filter_map(|s| {
                let p = self.peers.get(&s.address)?;
                Some(PeerReport::new(s, p.peer_type, &p.name))
            })
            .collect())
    }

    /// The rows of `calicoctl node status`, for the agent's status report.
    pub async fn status_rows(&self) -> Result<Vec<BgpPeerStatus>> {
        let now = SystemTime::now();
        Ok(self
            .peer_reports()
            .await?
            .iter()
            .map(|r| r.to_status(now))
            .collect())
    }
}

/// What the speaker is started with.
fn speaker_config(local: &LocalSettings) -> SpeakerConfig {
    SpeakerConfig {
        local_as: local.asn,
        router_id: local.router_id,
        listen: Some(local.listen),
        cluster_id: local.cluster_id,
    }
}

/// Sleeps until `at`, or forever when `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn speaker_error(context: &str) -> impl FnOnce(bgp::Error) -> Error + '_ {
    move |e| Error::Bgp {
        context: context.to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_or_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bgp-secrets")).unwrap();
        std::fs::write(dir.path().join("bgp-secrets/rr"), "s3cret\n").unwrap();
        let r = SecretKeyRef {
            name: "bgp-secrets".into(),
            key: "rr".into(),
            optional: None,
        };
        let path = dir.path().to_path_buf();
        assert_eq!(read_secret(Some(&path), &r).unwrap(), "s3cret");
        let missing = SecretKeyRef {
            key: "nope".into(),
            ..r.clone()
        };
        assert!(read_secret(Some(&path), &missing)
            .unwrap_err()
            .contains("cannot read"));
        assert!(read_secret(None, &r)
            .unwrap_err()
            .contains("Kubernetes secrets cannot be read"));
    }
}
