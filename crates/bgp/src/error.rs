//! The crate's single error type.

use std::net::IpAddr;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A received message is malformed in a way that ends the session: the
    /// caller sends a NOTIFICATION with `code`/`subcode`/`data` and closes.
    #[error("bgp message error {code}/{subcode}: {reason}")]
    Message {
        /// NOTIFICATION error code (RFC 4271 §4.5).
        code: u8,
        /// NOTIFICATION error subcode.
        subcode: u8,
        /// NOTIFICATION data field.
        data: Vec<u8>,
        /// Human-readable cause.
        reason: &'static str,
    },
    /// A message that cannot be put on the wire (too large, missing next hop).
    #[error("cannot encode bgp message: {0}")]
    Encode(&'static str),
    /// A socket operation failed.
    #[error("i/o error ({context}): {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The peer is not configured on this speaker.
    #[error("unknown peer {0}")]
    UnknownPeer(IpAddr),
    /// The speaker task has stopped.
    #[error("bgp speaker stopped")]
    Stopped,
}

impl Error {
    pub(crate) fn msg(code: u8, subcode: u8, data: Vec<u8>, reason: &'static str) -> Self {
        Error::Message {
            code,
            subcode,
            data,
            reason,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
