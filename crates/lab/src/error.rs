//! The lab's one error type: each variant says what was being done and with what.

use std::path::PathBuf;

/// Everything that can go wrong while building, inspecting or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (bad count, name, label, CIDR...).
    #[error("{0}")]
    Spec(String),
    /// Something the lab needs is not on this machine.
    #[error("missing requirements:\n{0}")]
    Missing(String),
    /// A lab with this name is already up, or its namespaces collide with existing ones.
    #[error("{0}")]
    Busy(String),
    /// No lab with this name is up.
    #[error("no lab {name:?} is up (no state in {dir}); start one with `calico-lab up`")]
    NotUp { name: String, dir: PathBuf },
    /// A node, workload or namespace name the lab does not know.
    #[error("{0}")]
    Unknown(String),
    /// A command the lab ran failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// A file or directory could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The lab's state file is not what this version writes.
    #[error("state file {}: {detail}", path.display())]
    State { path: PathBuf, detail: String },
    /// The datastore refused or failed.
    #[error("datastore: {0}")]
    Datastore(#[from] datastore::Error),
    /// A resource the lab rendered did not decode (a bug in the lab).
    #[error("rendered resource: {0}")]
    Resource(#[from] api::Error),
    /// The CNI plugin returned an error.
    #[error("CNI {command} for {workload} failed: {detail}")]
    Cni {
        command: &'static str,
        workload: String,
        detail: String,
    },
    /// A daemon did not come up in time.
    #[error("{0}")]
    Timeout(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
