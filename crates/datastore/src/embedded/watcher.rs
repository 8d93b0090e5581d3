//! One watch: replay the logged changes under a prefix after a revision, then follow new
//! commits as the tracker announces them. Each watch reads at its own pace from the log, so a
//! slow consumer holds back only itself and never buffers more than one bounded batch.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::ops::{self, BatchBound, Changes};
use super::{notify, AbortOnDrop, Shared};
use crate::store::{Revision, Watch, WatchEvent};
use crate::Result;

/// Events buffered between a watch task and its consumer.
const CHANNEL_CAPACITY: usize = 64;

/// The most one log read may hand a watcher (at least one row is always returned).
const BATCH: BatchBound = BatchBound {
    rows: 256,
    bytes: 8 * 1024 * 1024,
};

/// Starts a watch. The first batch is read before returning, so a compacted start revision
/// fails the call itself with `Error::Compacted`.
pub(super) async fn start(shared: &Arc<Shared>, prefix: &str, after: Revision) -> Result<Watch> {
    let tracker = notify::tracker(shared)?;
    // Subscribe before the first read: any commit after that read's snapshot moves `head`.
    let head = shared.notifier.subscribe();
    let prefix: Arc<str> = Arc::from(prefix);
    let first = read(shared, &prefix, after).await?;
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let task = tokio::spawn(follow(Arc::clone(shared), prefix, first, tx, head, tracker));
    Ok(Watch::new(rx, Box::new(AbortOnDrop(task.abort_handle()))))
}

async fn follow(
    shared: Arc<Shared>,
    prefix: Arc<str>,
    mut batch: Changes,
    tx: mpsc::Sender<Result<WatchEvent>>,
    mut head: watch::Receiver<Revision>,
    _tracker: Arc<AbortOnDrop>,
) {
    loop {
        let cursor = batch.reached;
        for event in batch.events {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        if !batch.truncated {
            while *head.borrow_and_update() <= cursor {
                if head.changed().await.is_err() {
                    return;
                }
            }
        }
        batch = match read(&shared, &prefix, cursor).await {
            Ok(batch) => batch,
            Err(e) => {
                // The error (e.g. history compacted past this watcher) ends the stream.
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
    }
}

async fn read(shared: &Arc<Shared>, prefix: &Arc<str>, after: Revision) -> Result<Changes> {
    let prefix = Arc::clone(prefix);
    shared
        .blocking(move |conn| ops::changes(conn, &prefix, after, &BATCH))
        .await
}
