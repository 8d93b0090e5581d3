//! Prefix watches on etcd: one gRPC watch stream per `Watch`, read by a task that converts
//! etcd events into `WatchEvent`s and ends the stream with `Error::Compacted` when the start
//! revision has been compacted away. Dropping the `Watch` aborts the task, which closes the
//! stream.

use etcd_client::{Client, EventType, WatchOptions, WatchResponseStream, WatchStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{backend, convert, keys};
use crate::store::{EventKind, Revision, Watch, WatchEvent};
use crate::{Error, Result};

/// Largest watch response accepted; etcd batches many events into one response.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Events buffered between the stream task and the consumer.
const BUFFER: usize = 4096;

/// Aborts the stream task when the `Watch` holding it is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens an etcd watch of every key under `prefix` from revision `after + 1`.
pub(crate) async fn open(
    client: Client,
    prefix: &str,
    after: Revision,
) -> std::result::Result<WatchStream, etcd_client::Error> {
    let (key, end) = keys::prefix_range(prefix);
    let options = WatchOptions::new()
        .with_range(end)
        .with_start_revision(after + 1);
    client
        .watch_client()
        .max_decoding_message_size(MAX_RESPONSE_BYTES)
        .watch(key, Some(options))
        .await
}

/// Hands the stream to a task that feeds the returned `Watch`.
pub(crate) fn forward(stream: WatchStream, after: Revision) -> Watch {
    let (tx, rx) = mpsc::channel(BUFFER);
    let task = tokio::spawn(async move {
        // The request half must stay open: etcd ends the stream when the client half-closes.
        let (_requests, responses) = stream.split();
        if let Err(e) = pump(responses, &tx, after).await {
            // The consumer may be gone already; nothing else to tell.
            let _ = tx.send(Err(e)).await;
        }
    });
    Watch::new(rx, Box::new(AbortOnDrop(task.abort_handle())))
}

/// Forwards events until the consumer goes away or the stream fails.
async fn pump(
    mut responses: WatchResponseStream,
    tx: &mpsc::Sender<Result<WatchEvent>>,
    after: Revision,
) -> Result<()> {
    loop {
        let Some(resp) = responses.message().await.map_err(backend)? else {
            return Err(Error::Backend("etcd closed the watch stream".into()));
        };
        if resp.compact_revision() > 0 {
            return Err(Error::Compacted {
                requested: after + 1,
                compacted: resp.compact_revision(),
            });
        }
        if resp.canceled() {
            return Err(Error::Backend(format!(
                "etcd cancelled the watch: {}",
                resp.cancel_reason()
            )));
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let kv = convert(kv)?;
            let event = match event.event_type() {
                EventType::Put => WatchEvent {
                    kind: EventKind::Put,
                    key: kv.key,
                    value: Some(kv.value),
                    revision: kv.revision,
                },
                EventType::Delete => WatchEvent {
                    kind: EventKind::Delete,
                    key: kv.key,
                    value: None,
                    revision: kv.revision,
                },
            };
            if tx.send(Ok(event)).await.is_err() {
                return Ok(());
            }
        }
    }
}
