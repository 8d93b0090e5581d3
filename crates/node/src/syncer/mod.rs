//! The syncer: lists every key the agent needs, then watches from the listing's revision,
//! and turns both into one ordered stream of [`SyncUpdate`]s. When the watch breaks (or the
//! store compacted past it) it lists again and delivers only the differences from what the
//! consumer already holds, framed by `ResyncInProgress` and `InSync` markers.
//!
//! A datastore outage is ridden out: the consumer keeps everything it holds (nothing is
//! deleted because the store is unreachable), the list is retried every `retry_delay`, and
//! one `ResyncInProgress` (one count of `felix_resyncs_started`) covers the whole outage however
//! many attempts fail; each failure is counted as a `datastore` error, but only the first,
//! a reminder a minute and the recovery are logged above debug level.

mod outage;
mod snapshot;
mod update;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datastore::{EventKind, Revision, Store};
use tokio::sync::mpsc;

use outage::{Outage, Report};
use snapshot::Snapshot;
pub use update::{SyncKey, SyncStatus, SyncUpdate, SyncValue, SYNCED_KINDS, SYNC_PREFIX};

use crate::metrics::Metrics;
use crate::task::TaskGuard;

/// Updates buffered between the syncer and its consumer.
const CHANNEL_CAPACITY: usize = 256;

/// How the syncer behaves when the datastore fails.
#[derive(Clone, Debug)]
pub struct SyncerOptions {
    /// Pause before listing again after a failure (not after a compaction, which re-lists at
    /// once).
    pub retry_delay: Duration,
}

impl Default for SyncerOptions {
    fn default() -> Self {
        SyncerOptions {
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// Starts a syncer over `store`. It runs until the returned guard or receiver is dropped.
pub fn spawn(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    options: SyncerOptions,
) -> (TaskGuard, mpsc::Receiver<SyncUpdate>) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let syncer = Syncer {
        store,
        metrics,
        options,
        tx,
        snapshot: Snapshot::default(),
        outage: Outage::default(),
        resyncing: false,
    };
    (TaskGuard::spawn(syncer.run()), rx)
}

/// Why one list-and-watch cycle ended.
enum CycleEnd {
    /// The consumer went away: stop.
    Stopped,
    /// The store compacted past the watch: list again now.
    Compacted(String),
    /// The datastore failed: list again after a pause.
    Failed(String),
}

struct Syncer {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    options: SyncerOptions,
    tx: mpsc::Sender<SyncUpdate>,
    snapshot: Snapshot,
    outage: Outage,
    /// A `ResyncInProgress` was sent and its `InSync` is still to come.
    resyncing: bool,
}

impl Syncer {
    async fn run(mut self) {
        let mut reason = "start".to_string();
        loop {
            match self.cycle(&reason).await {
                CycleEnd::Stopped => return,
                CycleEnd::Compacted(why) => {
                    tracing::info!(%why, "datastore history compacted past the watch; re-listing");
                    reason = why;
                }
                CycleEnd::Failed(why) => {
                    self.metrics.error("datastore");
                    let retry = self.options.retry_delay;
                    match self.outage.failed(Instant::now()) {
                        Report::Started => tracing::warn!(
                            %why,
                            ?retry,
                            "datastore unavailable; keeping the last state and retrying"
                        ),
                        Report::Continuing { down_for, failures } => tracing::warn!(
                            %why,
                            ?down_for,
                            failures,
                            "datastore still unavailable; keeping the last state"
                        ),
                        Report::Quiet => tracing::debug!(%why, "datastore still unavailable"),
                    }
                    reason = why;
                    tokio::time::sleep(retry).await;
                }
            }
        }
    }

    /// One list, then the watch from the listed revision until it ends. A resync that is
    /// already announced (an earlier attempt failed) is not announced again.
    async fn cycle(&mut self, reason: &str) -> CycleEnd {
        if !self.resyncing {
            self.metrics.resync_started();
            self.resyncing = true;
            let started = SyncStatus::ResyncInProgress {
                reason: reason.to_string(),
            };
            if !self.send(SyncUpdate::Status { status: started }).await {
                return CycleEnd::Stopped;
            }
        }
        let revision = match self.list().await {
            Ok(Some(revision)) => revision,
            Ok(None) => return CycleEnd::Stopped,
            Err(e) => return CycleEnd::Failed(format!("list: {e}")),
        };
        tracing::info!(revision, keys = self.snapshot.len(), "datastore in sync");
        if !self
            .send(SyncUpdate::Status {
                status: SyncStatus::InSync { revision },
            })
            .await
        {
            return CycleEnd::Stopped;
        }
        self.resyncing = false;
        self.watch(revision).await
    }

    /// Lists and delivers the differences; `Ok(None)` when the consumer went away.
    async fn list(&mut self) -> datastore::Result<Option<Revision>> {
        let listed = self.store.list(SYNC_PREFIX).await?;
        let ours: Vec<(SyncKey, &datastore::KeyValue)> = listed
            .items
            .iter()
            .filter_map(|kv| SyncKey::parse(&kv.key).map(|k| (k, kv)))
            .collect();
        let pairs: Vec<(&str, Revision)> = ours
            .iter()
            .map(|(_, kv)| (kv.key.as_str(), kv.revision))
            .collect();
        let diff = self.snapshot.diff(&pairs);
        for key in diff.removed {
            self.snapshot.forget(&key);
            let Some(key) = SyncKey::parse(&key) else {
                continue;
            };
            let update = SyncUpdate::Delete {
                key,
                revision: listed.revision,
            };
            if !self.send(update).await {
                return Ok(None);
            }
        }
        for i in diff.changed {
            let (key, kv) = &ours[i];
            if !self.put(key.clone(), &kv.key, &kv.value, kv.revision).await {
                return Ok(None);
            }
        }
        Ok(Some(listed.revision))
    }

    /// Follows the watch from `after` until it ends.
    async fn watch(&mut self, after: Revision) -> CycleEnd {
        let mut watch = match self.store.watch(SYNC_PREFIX, after).await {
            Ok(w) => w,
            Err(e @ datastore::Error::Compacted { .. }) => {
                return CycleEnd::Compacted(e.to_string())
            }
            Err(e) => return CycleEnd::Failed(format!("watch: {e}")),
        };
        // Listed and watching again: an outage, if there was one, is over.
        if let Some(outage) = self.outage.succeeded(Instant::now()) {
            tracing::info!(
                down_for = ?outage.down_for,
                failures = outage.failures,
                "datastore available again"
            );
        }
        loop {
            let event = match watch.next().await {
                None => return CycleEnd::Failed("watch closed by the datastore".to_string()),
                Some(Err(e @ datastore::Error::Compacted { .. })) => {
                    return CycleEnd::Compacted(e.to_string())
                }
                Some(Err(e)) => return CycleEnd::Failed(format!("watch: {e}")),
                Some(Ok(event)) => event,
            };
            let Some(key) = SyncKey::parse(&event.key) else {
                continue;
            };
            let delivered = match (event.kind, event.value) {
                (EventKind::Put, Some(value)) => {
                    self.put(key, &event.key, &value, event.revision).await
                }
                (EventKind::Put, None) => {
                    tracing::error!(key = %event.key, "datastore put event without a value");
                    self.metrics.error("decode");
                    true
                }
                (EventKind::Delete, _) => {
                    !self.snapshot.forget(&event.key)
                        || self
                            .send(SyncUpdate::Delete {
                                key,
                                revision: event.revision,
                            })
                            .await
                }
            };
            if !delivered {
                return CycleEnd::Stopped;
            }
        }
    }

    /// Delivers a put unless the consumer already holds it. A value that does not decode is
    /// logged, counted and, if the consumer held an older value, delivered as a delete, so
    /// nothing stale stays behind. Returns false when the consumer went away.
    async fn put(&mut self, key: SyncKey, raw: &str, value: &[u8], revision: Revision) -> bool {
        if self.snapshot.holds(raw, revision) {
            return true;
        }
        match key.decode(value, revision) {
            Ok(value) => {
                self.snapshot.record(raw, revision);
                self.send(SyncUpdate::Put {
                    key,
                    revision,
                    value,
                })
                .await
            }
            Err(reason) => {
                tracing::error!(key = raw, %reason, "skipping a datastore value that does not decode");
                self.metrics.error("decode");
                !self.snapshot.forget(raw) || self.send(SyncUpdate::Delete { key, revision }).await
            }
        }
    }

    async fn send(&self, update: SyncUpdate) -> bool {
        self.tx.send(update).await.is_ok()
    }
}
