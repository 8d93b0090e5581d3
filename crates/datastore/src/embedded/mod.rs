//! The embedded backend (the default datastore): one SQLite file in WAL mode, shared by every
//! process on the machine that opens it (agents, CNI plugin runs, calicoctl).
//!
//! Invariants:
//! - every write is one `BEGIN IMMEDIATE` transaction that bumps the store-wide revision by
//!   exactly one and logs the change, so revisions are gap-free and strictly increasing across
//!   all processes; `busy_timeout` makes concurrent writers queue instead of failing;
//! - a commit is durable when the call returns (`synchronous = FULL`), and a writer killed at
//!   any point leaves either all or nothing of its transaction;
//! - the change log holds exactly the revisions after `compacted`; watches replay it and then
//!   follow new commits, woken by inotify (other processes) or directly (this process).
//!
//! SQLite calls block, so they never run on tokio's workers: writes go to the store's writer
//! thread (which group-commits concurrent writes), reads run on tokio's blocking pool with a
//! pooled connection.

mod notify;
mod ops;
mod pool;
mod schema;
mod watcher;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::task::AbortHandle;

use crate::store::{KeyValue, ListResult, Revision, Store, Watch};
use crate::{Error, Result};
use notify::Notifier;
use pool::Pool;
use writer::{WriteOp, Writer, Written};

/// Settings of one process's handle on an embedded store file.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How long a write waits for another process's write transaction before failing
    /// (default 30 s; writes are short, so waiting only happens under heavy contention).
    pub busy_timeout: Duration,
    /// Auto-compaction: keep at least this many most recent changes in the log (default
    /// 100,000). Older ones are discarded in steps of an eighth of the limit, so the log
    /// holds between the limit and 9/8 of it. Watches that fall further behind get
    /// `Error::Compacted` and must re-list. `None` keeps history until `compact` is called.
    pub history_limit: Option<u64>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(30),
            history_limit: Some(100_000),
        }
    }
}

/// A handle on an embedded store file. Cheap to share behind an `Arc`; every process (and
/// every handle) opening the same file sees the same keys, revisions and watches.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

/// What the store's operations, its watch tasks and its tracker task share.
struct Shared {
    pool: Pool,
    notifier: Arc<Notifier>,
    writer: Writer,
}

/// Aborts a task when dropped: ties watch and tracker tasks to their owners.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path` with default options.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, EmbeddedOptions::default())
    }

    /// Opens (creating if needed) the store file at `path`. Its directory must exist. Opening
    /// does a little blocking file I/O; watching needs a tokio runtime.
    pub fn open_with(path: &Path, options: EmbeddedOptions) -> Result<Self> {
        let mut first = schema::connect(path, &options)?;
        schema::initialize(&mut first, path)?;
        let revision = ops::meta(&first)?.revision;
        let notifier = Arc::new(Notifier::open(path, revision)?);
        let writer = Writer::start(first, Arc::clone(&notifier), options.history_limit)?;
        let pool = Pool::new(path, options);
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                notifier,
                writer,
            }),
        })
    }

    /// Checks the file and the store's invariants: SQLite's integrity check, a gap-free
    /// change log covering every revision after the compacted one, and every live key's last
    /// write present in that log. Meant for tests and a `calicoctl` health check.
    pub async fn verify(&self) -> Result<()> {
        self.shared.blocking(ops::verify).await
    }
}

impl Shared {
    /// Runs `f` with a pooled connection on tokio's blocking pool.
    async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || shared.pool.with(f))
            .await
            .map_err(|e| Error::Backend(format!("embedded store read task failed: {e}")))?
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.shared.blocking(move |conn| ops::get(conn, &key)).await
    }

    async fn list(&self, prefix: &str) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        self.shared
            .blocking(move |conn| ops::list(conn, &prefix))
            .await
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let op = WriteOp::Create {
            key: key.to_owned(),
            value: value.to_vec(),
        };
        revision_of(self.shared.writer.submit(op).await?)
    }

    async fn update(&self, key: &str, value: &[u8], expected: Revision) -> Result<Revision> {
        let op = WriteOp::Update {
            key: key.to_owned(),
            value: value.to_vec(),
            expected,
        };
        revision_of(self.shared.writer.submit(op).await?)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let op = WriteOp::Delete {
            key: key.to_owned(),
            expected,
        };
        match self.shared.writer.submit(op).await? {
            Written::Deleted(old) => Ok(old),
            Written::Revision(_) => Err(mismatch()),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch> {
        watcher::start(&self.shared, prefix, after).await
    }

    async fn revision(&self) -> Result<Revision> {
        self.shared
            .blocking(|conn| Ok(ops::meta(conn)?.revision))
            .await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.shared
            .blocking(move |conn| ops::compact(conn, revision))
            .await
    }
}

fn revision_of(written: Written) -> Result<Revision> {
    match written {
        Written::Revision(revision) => Ok(revision),
        Written::Deleted(_) => Err(mismatch()),
    }
}

fn mismatch() -> Error {
    Error::Backend("embedded store writer answered a different kind of write".into())
}
