//! The crate's one error type.

use std::io;

/// Everything that can go wrong rendering, reading or applying dataplane state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two endpoints claim the same interface.
    #[error("interface {0} is used by two endpoints")]
    DuplicateInterface(String),
    /// An endpoint references a policy the state does not define.
    #[error("endpoint references unknown policy {0}")]
    UnknownPolicy(String),
    /// An endpoint references a profile the state does not define.
    #[error("endpoint references unknown profile {0}")]
    UnknownProfile(String),
    /// A rule cannot be rendered.
    #[error("{context}: {reason}")]
    InvalidRule {
        /// Policy or profile, direction and rule index.
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// Running a command failed to start or to finish.
    #[error("running {command}: {source}")]
    Spawn {
        /// Command line.
        command: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// `nft` exited non-zero.
    #[error("{command} failed: {stderr}")]
    Nft {
        /// Command line.
        command: String,
        /// nft's error output.
        stderr: String,
    },
    /// `nft -j` output could not be understood.
    #[error("parsing nft JSON: {0}")]
    NftJson(String),
    /// The netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    NetlinkSocket(#[source] io::Error),
    /// A netlink request failed.
    #[error("netlink {operation}: {source}")]
    Netlink {
        /// What we were doing.
        operation: String,
        /// Cause.
        #[source]
        source: rtnetlink::Error,
    },
    /// A route that cannot be expressed (e.g. a gateway of the other IP version).
    #[error("invalid route {0}")]
    InvalidRoute(String),
    /// An interface named in a route does not exist.
    #[error("interface {0} not found")]
    NoSuchInterface(String),
    /// A log prefix that cannot be quoted in nft text.
    #[error("invalid log prefix {0:?}")]
    InvalidLogPrefix(String),
    /// An interface name that cannot be used in nft text or a /proc/sys path.
    #[error("invalid interface name {0:?}")]
    InvalidInterfaceName(String),
    /// Writing a sysctl failed.
    #[error("writing {path}: {source}")]
    Sysctl {
        /// File under /proc/sys.
        path: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
}
