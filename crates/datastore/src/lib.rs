//! The datastore: one `Store` trait over a key/value space with a global revision,
//! compare-and-swap updates and ordered watches, plus its two backends (embedded SQLite,
//! etcd v3) and the typed resource layer that maps `projectcalico.org/v3` resources onto keys.

mod config;
mod embedded;
mod error;
mod etcd;
mod resources;
mod store;

pub use config::{
    connect, DatastoreConfig, DEFAULT_CONFIG_FILE, DEFAULT_DATASTORE_PATH, DEFAULT_ETCD_ENDPOINT,
};
pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use error::{Error, Result};
pub use etcd::{EtcdConfig, EtcdStore};
pub use resources::{
    ResourceClient, ResourceEvent, ResourceId, ResourceList, ResourceWatch, DEFAULT_NAMESPACE,
    RESOURCE_PREFIX,
};
pub use store::{EventKind, KeyValue, ListResult, Revision, Store, Watch, WatchEvent};
