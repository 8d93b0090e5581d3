//! Prefix watches on etcd: one gRPC watch stream per `Watch`, read by a task that converts
//! etcd events into `WatchEvent`s. When the member serving the stream goes away, the task
//! moves to the next endpoint and resumes after the last revision it delivered, so the
//! consumer sees no gap and no repeat. A compacted start revision ends the stream with
//! `Error::Compacted`. Dropping the `Watch` aborts the task, which closes the stream.

use std::sync::Arc;

use etcd_client::{EventType, WatchOptions, WatchResponseStream, WatchStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::connect::{Connection, Member, Resend};
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

/// Starts a watch of every key under `prefix` with revision > `after`.
pub(crate) async fn start(conn: Arc<Connection>, prefix: &str, after: Revision) -> Result<Watch> {
    let (member, stream) = conn
        .run(Resend::Always, |m| async move {
            let stream = open(&m, prefix, after).await?;
            Ok((m, stream))
        })
        .await
        .map_err(backend)?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let follower = Follower {
        conn,
        prefix: prefix.to_owned(),
        last: after,
        tx,
    };
    let task = tokio::spawn(follower.run(member, stream));
    Ok(Watch::new(rx, Box::new(AbortOnDrop(task.abort_handle()))))
}

/// Opens an etcd watch on `member` of every key under `prefix` from revision `after + 1`.
async fn open(
    member: &Member,
    prefix: &str,
    after: Revision,
) -> std::result::Result<WatchStream, etcd_client::Error> {
    let (key, end) = keys::prefix_range(prefix);
    let options = WatchOptions::new()
        .with_range(end)
        .with_start_revision(after + 1);
    member
        .client
        .watch_client()
        .max_decoding_message_size(MAX_RESPONSE_BYTES)
        .watch(key, Some(options))
        .await
}

/// How one stream ended.
enum End {
    /// The consumer dropped the `Watch`.
    ConsumerGone,
    /// The stream broke (member gone, connection lost): resume elsewhere.
    Lost(String),
    /// A definitive error for the consumer.
    Fatal(Error),
}

/// The task behind one `Watch`.
struct Follower {
    conn: Arc<Connection>,
    prefix: String,
    /// Revision of the last event delivered (or the starting point).
    last: Revision,
    tx: mpsc::Sender<Result<WatchEvent>>,
}

impl Follower {
    async fn run(mut self, mut member: Member, mut stream: WatchStream) {
        // Streams lost in a row without delivering anything; past one round of the endpoint
        // list, give up instead of cycling through failing members forever.
        let mut fruitless = 0;
        let error = loop {
            // The request half must stay open: etcd ends the stream when the client
            // half-closes.
            let (_requests, responses) = stream.split();
            let delivered_before = self.last;
            let lost = match self.pump(responses).await {
                End::ConsumerGone => return,
                End::Fatal(e) => break e,
                End::Lost(why) => why,
            };
            fruitless = if self.last > delivered_before {
                0
            } else {
                fruitless + 1
            };
            if fruitless > self.conn.endpoint_count() {
                break Error::Backend(format!("etcd watch stream keeps failing: {lost}"));
            }
            let resumed = match self.conn.fail_over(&member).await {
                Ok(next) => open(&next, &self.prefix, self.last)
                    .await
                    .map(|s| (next, s))
                    .map_err(backend),
                Err(e) => Err(e),
            };
            match resumed {
                Ok((next, s)) => {
                    member = next;
                    stream = s;
                }
                Err(e) => break Error::Backend(format!("etcd watch lost ({lost}); {e}")),
            }
        };
        // The consumer may be gone already; nothing else to tell.
        let _ = self.tx.send(Err(error)).await;
    }

    /// Forwards events from one stream until it ends.
    async fn pump(&mut self, mut responses: WatchResponseStream) -> End {
        loop {
            let resp = match responses.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => return End::Lost("etcd closed the watch stream".into()),
                Err(e) => return End::Lost(super::connect::describe(&e)),
            };
            if resp.compact_revision() > 0 {
                return End::Fatal(Error::Compacted {
                    requested: self.last,
                    compacted: resp.compact_revision(),
                });
            }
            if resp.canceled() {
                return End::Fatal(Error::Backend(format!(
                    "etcd cancelled the watch: {}",
                    resp.cancel_reason()
                )));
            }
            for event in resp.events() {
                let Some(kv) = event.kv() else { continue };
                let kv = match convert(kv) {
                    Ok(kv) => kv,
                    Err(e) => return End::Fatal(e),
                };
                let event = WatchEvent {
                    kind: match event.event_type() {
                        EventType::Put => EventKind::Put,
                        EventType::Delete => EventKind::Delete,
                    },
                    value: (event.event_type() == EventType::Put).then_some(kv.value),
                    key: kv.key,
                    revision: kv.revision,
                };
                let revision = event.revision;
                if self.tx.send(Ok(event)).await.is_err() {
                    return End::ConsumerGone;
                }
                self.last = revision;
            }
        }
    }
}
