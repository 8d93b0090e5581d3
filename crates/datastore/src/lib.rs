//! The datastore: one `Store` trait over a key/value space with a global revision,
//! compare-and-swap updates and ordered watches, plus its two backends (embedded SQLite,
//! etcd v3) and the typed resource layer that maps `projectcalico.org/v3` resources onto keys.

mod error;
mod store;

pub use error::{Error, Result};
pub use store::{EventKind, KeyValue, ListResult, Revision, Store, Watch, WatchEvent};
