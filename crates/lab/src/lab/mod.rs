//! One lab on this machine: its name, files and state, and the operations on it (`up`,
//! `down`, workloads, status, matrix, exec), each in its own module.

mod daemons;
mod down;
mod inspect;
mod ready;
mod up;
mod workloads;

use std::path::PathBuf;

use datastore::{DatastoreConfig, EtcdConfig};

pub use down::down;
pub use ready::Scope;
pub use up::{up, UpReport};

use crate::error::{Error, Result};
use crate::lock::LabLock;
use crate::paths::{self, LabPaths};
use crate::spec::{validate_lab_name, DatastoreKind};
use crate::state::LabState;
use crate::store::LabStore;

/// The port the workloads' responders listen on (TCP and UDP).
pub const RESPONDER_PORT: u16 = 8080;

/// Where to find a lab and the binaries it runs.
#[derive(Clone, Debug)]
pub struct LabContext {
    pub name: String,
    pub paths: LabPaths,
    pub bin_dir: PathBuf,
}

impl LabContext {
    /// The context for lab `name` under `base`, with binaries from `bin_dir`.
    pub fn new(name: &str, base: &std::path::Path, bin_dir: PathBuf) -> Result<LabContext> {
        validate_lab_name(name)?;
        Ok(LabContext {
            name: name.to_string(),
            paths: LabPaths::new(base, name),
            bin_dir,
        })
    }

    /// The context from the environment's defaults.
    pub fn from_env(name: &str) -> Result<LabContext> {
        LabContext::new(name, &paths::base_dir(), paths::bin_dir())
    }

    /// The prefix every namespace of this lab carries.
    pub fn namespace_prefix(&self) -> String {
        format!("{}-", self.name)
    }
}

/// A lab that is up (or was being brought up), locked for this command.
pub struct Lab {
    pub ctx: LabContext,
    pub state: LabState,
    _lock: LabLock,
}

impl Lab {
    /// Loads the state of a lab that is up.
    pub fn open(ctx: LabContext) -> Result<Lab> {
        let lock = LabLock::acquire(&ctx.paths.lock)?;
        let file = ctx.paths.state_file();
        if !file.exists() {
            return Err(Error::NotUp {
                name: ctx.name.clone(),
                dir: ctx.paths.root.clone(),
            });
        }
        let state = LabState::load(&file)?;
        Ok(Lab {
            ctx,
            state,
            _lock: lock,
        })
    }

    pub fn save(&self) -> Result<()> {
        self.state.save(&self.ctx.paths.state_file())
    }

    /// How every process reaches the datastore.
    pub fn datastore_config(&self) -> DatastoreConfig {
        match self.state.spec.datastore {
            DatastoreKind::Embedded => DatastoreConfig::Embedded {
                path: self.ctx.paths.datastore_file(),
            },
            DatastoreKind::Etcd => {
                DatastoreConfig::Etcd(EtcdConfig::new([self.state.topology.etcd_endpoint()]))
            }
        }
    }

    /// The datastore as the lab itself reaches it (etcd from inside the fabric namespace).
    pub fn store(&self) -> LabStore {
        LabStore {
            config: self.datastore_config(),
            namespace: match self.state.spec.datastore {
                DatastoreKind::Embedded => None,
                DatastoreKind::Etcd => Some(self.state.topology.fabric_namespace.clone()),
            },
        }
    }

    /// A one-line description of the datastore.
    pub fn datastore_summary(&self) -> String {
        match self.datastore_config() {
            DatastoreConfig::Embedded { path } => format!("embedded ({})", path.display()),
            DatastoreConfig::Etcd(etcd) => format!("etcd ({})", etcd.endpoint_list()),
        }
    }
}
