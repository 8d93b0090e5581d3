//! An embeddable BGP-4 speaker: wire codec, per-session finite state machine,
//! RIBs with best-path selection and route reflection, and a thin tokio shell.
//! It knows nothing about Calico; the node agent feeds it routes and consumes
//! best-route changes. See DESIGN.md beside this crate for the task diagram.

pub mod codec;
mod error;
pub mod fsm;
pub mod md5;
pub mod rib;
pub mod speaker;

pub use error::{Error, Result};
pub use speaker::{Filters, PeerConfig, PeerStatus, Speaker, SpeakerConfig};
