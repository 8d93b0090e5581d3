//! Test support shared by the workspace's integration tests (a dev-dependency only):
//!
//! - [`netns`]: a network namespace guard with a per-crate name prefix, deleted on drop even
//!   when a test panics, plus `ip netns exec` helpers and veth/address plumbing;
//! - [`cmd`]: run a command and capture its output, panicking with stderr on failure;
//! - [`etcd`]: a real, private etcd (`/usr/bin/etcd`) with its data in a temporary directory;
//! - [`workload`]: a workload plumbed by hand the way Calico's CNI plugin does it;
//! - [`wait`]: polling until a condition holds, timed.

pub mod cmd;
pub mod etcd;
pub mod netns;
pub mod wait;
pub mod workload;

pub use cmd::run;
pub use netns::Netns;
