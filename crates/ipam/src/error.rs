//! The one error type of the ipam crate.

use std::net::IpAddr;

/// Everything an IPAM operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The datastore failed (after retries, for conflicts).
    #[error(transparent)]
    Datastore(#[from] datastore::Error),
    /// A stored IPAM object (block, affinity, handle) does not decode.
    #[error("stored IPAM object at {key} is invalid: {reason}")]
    Corrupt { key: String, reason: String },
    /// Every candidate pool is full (or blocked by reservations, strict affinity or limits).
    #[error("no addresses available in pools [{}]", pools.join(" "))]
    Exhausted { pools: Vec<String> },
    /// No pool may serve this request on this host.
    #[error("no configured Calico pools for node {host}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    NoPools {
        host: String,
        detail: Option<String>,
    },
    /// A requested pool (by name or CIDR) is unknown, disabled or not usable here.
    #[error("the requested pool {pool} {reason}")]
    BadPool { pool: String, reason: String },
    /// An explicitly requested address is not inside any enabled, usable pool.
    #[error("the provided IP address {ip} is not in a configured pool")]
    NotInPool { ip: IpAddr },
    /// An explicitly requested address is already allocated.
    #[error("address {ip} is already assigned in block {block}")]
    AlreadyAssigned { ip: IpAddr, block: String },
    /// The address is not allocated.
    #[error("IP address {ip} is not assigned")]
    NotAssigned { ip: IpAddr },
    /// The handle does not exist.
    #[error("resource does not exist: handle {handle}")]
    HandleNotFound { handle: String },
    /// A compare-and-swap kept failing.
    #[error("gave up on {key} after {attempts} conflicting updates")]
    TooManyRetries { key: String, attempts: usize },
    /// The caller asked for something that cannot be done (bad selector, bad report...).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for IPAM operations.
pub type Result<T> = std::result::Result<T, Error>;
