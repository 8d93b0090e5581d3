//! The one error type of the node crate: what start-up, the syncer and the servers can fail
//! with, each variant naming the thing that failed. The message carries the underlying
//! error's text, so a binary prints one complete line.

use std::path::PathBuf;

/// Everything the agent can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An environment variable or flag has a value we cannot use.
    #[error("invalid setting {name}={value:?}: {reason}")]
    Setting {
        name: String,
        value: String,
        reason: String,
    },
    /// No node name could be determined.
    #[error("cannot determine the node name: {0}")]
    NodeName(String),
    /// Address autodetection found nothing suitable.
    #[error("cannot autodetect an IPv{version} address with method {method}: {reason}")]
    Autodetect {
        version: u8,
        method: String,
        reason: String,
    },
    /// A datastore operation failed.
    #[error("datastore: {context}: {error}")]
    Datastore {
        context: String,
        error: datastore::Error,
    },
    /// A file or socket operation failed.
    #[error("{context} {}: {error}", path.display())]
    Io {
        context: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// Another Node already registered the address this node would use.
    #[error("Calico node {node:?} is already using the address {address}; set IP/IP6 or the autodetection method so that every node has its own address")]
    AddressInUse { node: String, address: String },
    /// Listing the host's interfaces or asking the kernel for a route failed.
    #[error("network interfaces: {0}")]
    Interfaces(String),
    /// A required capability or program is missing.
    #[error("missing prerequisite: {0}")]
    Prerequisite(String),
    /// A task the agent cannot run without ended.
    #[error("the {0} stopped unexpectedly")]
    TaskStopped(String),
    /// An HTTP or unix socket server could not start.
    #[error("cannot serve {what} on {address}: {error}")]
    Serve {
        what: String,
        address: String,
        error: std::io::Error,
    },
    /// Rendering or programming the policy dataplane (nftables, routes) failed.
    #[error("dataplane: {context}: {error}")]
    Dataplane {
        context: String,
        error: dataplane::Error,
    },
    /// The BGP speaker or the kernel routes it programs failed.
    #[error("bgp: {context}: {reason}")]
    Bgp { context: String, reason: String },
}

impl Error {
    /// A datastore error with what we were doing.
    pub fn datastore(context: impl Into<String>, error: datastore::Error) -> Self {
        Error::Datastore {
            context: context.into(),
            error,
        }
    }

    /// A dataplane error with what we were doing.
    pub fn dataplane(context: impl Into<String>, error: dataplane::Error) -> Self {
        Error::Dataplane {
            context: context.into(),
            error,
        }
    }

    /// An I/O error on `path`.
    pub fn io(context: impl Into<String>, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            path: path.into(),
            error,
        }
    }

    /// A bad setting.
    pub fn setting(name: &str, value: &str, reason: impl Into<String>) -> Self {
        Error::Setting {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result alias for the node crate.
pub type Result<T> = std::result::Result<T, Error>;
