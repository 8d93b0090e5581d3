//! The `calico` and `calico-ipam` CNI plugins.
//!
//! Pure parts: `cni_env` (environment and CNI_ARGS), `netconf` (stdin), `version` and
//! `result` (spec versions and result shapes), `names` (veth, endpoint and handle names),
//! `endpoint` (the WorkloadEndpoint record). I/O shells: `netns` and `dataplane`
//! (netlink), `sysctl`, `lock`, `delegate` (running the IPAM plugin), `log`, and `skel`
//! (the invocation protocol). `calico` and `calico_ipam` hold each plugin's commands.

pub mod calico;
pub mod calico_ipam;
pub mod cni_env;
pub mod connect;
pub mod dataplane;
pub mod delegate;
pub mod endpoint;
pub mod error;
pub mod lock;
pub mod log;
pub mod names;
pub mod netconf;
pub mod netns;
pub mod result;
pub mod skel;
pub mod sysctl;
pub mod version;

pub use error::{Error, Result};
