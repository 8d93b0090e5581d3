//! The `calico-node` agent: start-up like Calico's (node name, address autodetection, Node
//! and ClusterInformation registration, default pools), a datastore syncer delivering one
//! ordered, replayable stream of typed updates, and the agent frame that owns the state and
//! serves health, Prometheus metrics and a status socket. See `DESIGN.md` beside this crate.

pub mod agent;
pub mod autodetect;
pub mod bgp;
pub mod dataplane_driver;
mod error;
pub mod felix_config;
pub mod health;
pub mod interfaces;
pub mod metrics;
pub mod model;
pub mod nodename;
pub mod preflight;
pub mod record;
pub mod settings;
pub mod startup;
pub mod status;
pub mod syncer;
pub mod task;

pub use error::{Error, Result};
