//! The store's writer thread: group commit.
//!
//! All writes of one process go through one dedicated OS thread with its own connection.
//! It takes every request queued at that moment (up to a bound), applies them in order inside
//! one `BEGIN IMMEDIATE` transaction, each under its own savepoint so that a failed check
//! (conflict, missing key...) undoes only that request, and commits once: one fsync for many
//! writes. Each request still gets its own revision, and its reply is sent only after the
//! commit is durable. Other processes' writers wait on SQLite's write lock (`busy_timeout`).

use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::notify::Notifier;
use super::ops;
use crate::store::{KeyValue, Revision};
use crate::{Error, Result};

/// Requests applied in one transaction at most.
const MAX_BATCH: usize = 256;
/// Value bytes applied in one transaction at most (a single larger value still goes alone).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// One write, as the `Store` trait describes it.
pub(super) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// What a successful write returns to its caller.
pub(super) enum Written {
    Revision(Revision),
    Deleted(KeyValue),
}

struct Request {
    op: WriteOp,
    reply: oneshot::Sender<Result<Written>>,
}

/// The queue into the writer thread; the thread finishes queued work and exits when this is
/// dropped.
pub(super) struct Writer {
    queue: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(
        conn: Connection,
        notifier: Arc<Notifier>,
        history_limit: Option<u64>,
    ) -> Result<Self> {
        let (queue, requests) = mpsc::channel();
        std::thread::Builder::new()
            .name("datastore-writer".into())
            .spawn(move || run(conn, &requests, &notifier, history_limit))
            .map_err(|e| Error::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Queues `op` and waits for its durable outcome.
    pub(super) async fn submit(&self, op: WriteOp) -> Result<Written> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Request { op, reply })
            .map_err(|_| Error::Backend("the writer thread has stopped".into()))?;
        outcome
            .await
            .map_err(|_| Error::Backend("the writer thread dropped a write".into()))?
    }
}

fn run(
    mut conn: Connection,
    requests: &mpsc::Receiver<Request>,
    notifier: &Notifier,
    history_limit: Option<u64>,
) {
    while let Ok(first) = requests.recv() {
        let mut bytes = first.op.value_len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match requests.try_recv() {
                Ok(next) => {
                    bytes += next.op.value_len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let ops: Vec<&WriteOp> = batch.iter().map(|r| &r.op).collect();
        match apply_batch(&mut conn, &ops, history_limit) {
            Ok((outcomes, last)) => {
                if let Some(revision) = last {
                    notifier.committed(revision);
                }
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    // A caller that gave up waiting no longer needs its answer.
                    let _ = request.reply.send(outcome);
                }
            }
            Err(e) => {
                let message = format!("sqlite: {e}");
                for request in batch {
                    let _ = request.reply.send(Err(Error::Backend(message.clone())));
                }
            }
        }
    }
}

/// Applies `ops` in order in one transaction. The outer error means nothing was committed;
/// otherwise each op has its own outcome, and the last committed revision is returned.
fn apply_batch(
    conn: &mut Connection,
    ops: &[&WriteOp],
    history_limit: Option<u64>,
) -> rusqlite::Result<(Vec<Result<Written>>, Option<Revision>)> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut last = None;
    for op in ops {
        let savepoint = tx.savepoint()?;
        match apply(&savepoint, op, history_limit) {
            Ok((written, revision)) => {
                savepoint.commit()?;
                last = Some(revision);
                outcomes.push(Ok(written));
            }
            Err(e) => {
                // Rolls back to the savepoint and releases it.
                savepoint.finish()?;
                outcomes.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok((outcomes, last))
}

fn apply(
    conn: &Connection,
    op: &WriteOp,
    history_limit: Option<u64>,
) -> Result<(Written, Revision)> {
    match op {
        WriteOp::Create { key, value } => ops::create(conn, key, value, history_limit)
            .map(|revision| (Written::Revision(revision), revision)),
        WriteOp::Update {
            key,
            value,
            expected,
        } => ops::update(conn, key, value, *expected, history_limit)
            .map(|revision| (Written::Revision(revision), revision)),
        WriteOp::Delete { key, expected } => ops::delete(conn, key, *expected, history_limit)
            .map(|(old, revision)| (Written::Deleted(old), revision)),
    }
}

impl WriteOp {
    fn value_len(&self) -> usize {
        match self {
            WriteOp::Create { value, .. } | WriteOp::Update { value, .. } => value.len(),
            WriteOp::Delete { .. } => 0,
        }
    }
}
