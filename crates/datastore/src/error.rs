//! The one error type of the datastore crate.

/// Everything a datastore operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key (or resource) does not exist.
    #[error("resource does not exist: {key}")]
    NotFound { key: String },
    /// A create found the key already present.
    #[error("resource already exists: {key}")]
    AlreadyExists { key: String },
    /// A compare-and-swap saw a different revision than the caller read.
    #[error("update conflict: {key} (expected revision {expected}, found {actual})")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    /// A watch asked to start at a revision that has been compacted away; re-list.
    #[error("required revision {requested} has been compacted (oldest available is {compacted}); re-list and watch again")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// Bad datastore configuration (environment or CalicoAPIConfig file).
    #[error("datastore configuration: {0}")]
    Config(String),
    /// The backend itself failed (I/O, SQLite, etcd transport...).
    #[error("datastore backend: {0}")]
    Backend(String),
    /// A resource was rejected by the API rules (its own fields or a cross-resource rule).
    #[error(transparent)]
    Invalid(#[from] api::Error),
    /// A stored value under a resource key is not a valid resource of that kind.
    #[error("stored value at {key} is not a valid resource: {reason}")]
    Corrupt { key: String, reason: String },
}

use crate::store::Revision;

/// Result alias for datastore operations.
pub type Result<T> = std::result::Result<T, Error>;
