//! The `Store` trait: the contract every backend implements and the conformance suite checks.
//!
//! Keys are `/`-separated paths (e.g. `/calico/resources/v3/projectcalico.org/ippools/pool1`);
//! values are opaque bytes. Every successful write bumps one store-wide revision, which
//! increases monotonically. `KeyValue::revision` is the revision of the last write to that key
//! (etcd's mod_revision) and is what a caller hands back to `update`/`delete` for CAS.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::Result;

/// A store-wide revision number. The first write to an empty store has revision >= 1.
pub type Revision = i64;

/// One stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the last modification of this key.
    pub revision: Revision,
    /// Revision at which this key was created (unchanged by updates).
    pub create_revision: Revision,
}

/// The result of a `list`: the matching keys in key order, and the store revision the list
/// was taken at (start a watch from it to see every later change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    pub revision: Revision,
}

/// What a watch event did to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub key: String,
    /// The new value for `Put`; `None` for `Delete`.
    pub value: Option<Vec<u8>>,
    /// The revision of this change.
    pub revision: Revision,
}

/// A running watch. Events arrive in revision order; an `Err` item (for example
/// `Error::Compacted`) ends the stream. Dropping the `Watch` cancels it.
pub struct Watch {
    rx: mpsc::Receiver<Result<WatchEvent>>,
    _cancel: Box<dyn Send + Sync>,
}

impl Watch {
    /// Wraps a channel fed by a backend task; `cancel` is dropped with the watch and must stop
    /// that task (for example a `tokio::task::AbortHandle` wrapper or a oneshot sender).
    pub fn new(rx: mpsc::Receiver<Result<WatchEvent>>, cancel: Box<dyn Send + Sync>) -> Self {
        Self {
            rx,
            _cancel: cancel,
        }
    }

    /// The next event; `None` when the backend closed the watch.
    pub async fn next(&mut self) -> Option<Result<WatchEvent>> {
        self.rx.recv().await
    }
}

/// The datastore contract shared by the embedded and etcd backends.
#[async_trait]
pub trait Store: Send + Sync {
    /// The value of one key, if present.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Every key starting with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<ListResult>;

    /// Creates `key`; fails with `Error::AlreadyExists` if present. Returns the new revision.
    async fn create(&self, key: &str, value: &[u8]) -> Result<Revision>;

    /// Replaces `key` only if its current revision is `expected` (compare-and-swap).
    /// `Error::NotFound` if absent, `Error::Conflict` if the revision differs.
    async fn update(&self, key: &str, value: &[u8], expected: Revision) -> Result<Revision>;

    /// Deletes `key`, only at revision `expected` when given. Returns what was deleted.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Streams every change to keys under `prefix` with revision > `after`, in order, then
    /// every later change as it happens. `Error::Compacted` (as the first item or from the
    /// call) when `after` is older than the oldest retained change.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch>;

    /// The store's current revision (that of the latest write).
    async fn revision(&self) -> Result<Revision>;

    /// Discards change history at and below `revision`; later watches from before it fail.
    async fn compact(&self, revision: Revision) -> Result<()>;
}
