//! The one error type of the cni crate, and the CNI error code each variant maps to.

/// Everything the plugins can fail with. Each variant knows its CNI spec error code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime asked for a spec version we do not speak (code 1).
    #[error("{0}")]
    IncompatibleVersion(String),
    /// A required environment variable is missing or bad (code 4).
    #[error("{0}")]
    Env(String),
    /// The container's network namespace does not exist (code 3).
    #[error("netns {path} does not exist: {reason}")]
    NoNetns { path: String, reason: String },
    /// stdin is not valid JSON or has fields of the wrong type (code 6).
    #[error("failed to decode network configuration: {0}")]
    Decode(String),
    /// The network configuration is well-formed but not acceptable (code 7).
    #[error("{0}")]
    Config(String),
    /// Reading stdin, sysctls or a lock file failed (code 5).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink request failed.
    #[error("{what}: {reason}")]
    Netlink { what: String, reason: String },
    /// The datastore failed.
    #[error(transparent)]
    Datastore(#[from] datastore::Error),
    /// IP address management failed (exhausted pools, unknown pool, address taken...).
    #[error(transparent)]
    Ipam(#[from] ipam::Error),
    /// STATUS: the plugin cannot serve ADD now (code 50).
    #[error("{0}")]
    NotAvailable(String),
    /// A delegated plugin (the IPAM plugin) failed; its code and message are passed on.
    #[error("{plugin}: {msg}")]
    Delegate {
        plugin: String,
        code: u32,
        msg: String,
    },
}

impl Error {
    /// The CNI error code (spec section "Error"): 1-7 and 50 are the spec's, 999 is ours.
    pub fn code(&self) -> u32 {
        match self {
            Error::IncompatibleVersion(_) => 1,
            Error::NoNetns { .. } => 3,
            Error::Env(_) => 4,
            Error::Io { .. } => 5,
            Error::Decode(_) => 6,
            Error::Config(_) => 7,
            Error::NotAvailable(_) => 50,
            Error::Delegate { code, .. } => *code,
            Error::Netlink { .. } | Error::Datastore(_) | Error::Ipam(_) => 999,
        }
    }

    /// Shorthand for an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Shorthand for a netlink failure.
    pub fn netlink(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Netlink {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias for the cni crate.
pub type Result<T> = std::result::Result<T, Error>;
