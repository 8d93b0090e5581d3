//! Where a lab keeps its files (state, datastore, logs, rendered configs, lock) and where the
//! sibling binaries (`calico-node`, `calico`, `calico-ipam`, `calicoctl`) are found.

use std::path::{Path, PathBuf};

/// The default directory holding one sub-directory per lab.
pub const DEFAULT_LAB_DIR: &str = "/run/calico-lab";
/// The environment variable overriding [`DEFAULT_LAB_DIR`].
pub const LAB_DIR_ENV: &str = "CALICO_LAB_DIR";
/// The environment variable naming the directory of the Calico binaries.
pub const BIN_DIR_ENV: &str = "CALICO_LAB_BIN_DIR";

/// The files of one lab, all under `<lab dir>/<name>/`.
#[derive(Clone, Debug)]
pub struct LabPaths {
    pub root: PathBuf,
    /// Beside the lab's directory, so `down` can remove the directory while holding it.
    pub lock: PathBuf,
}

impl LabPaths {
    pub fn new(base: &Path, name: &str) -> LabPaths {
        LabPaths {
            root: base.join(name),
            lock: base.join(format!("{name}.lock")),
        }
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn datastore_dir(&self) -> PathBuf {
        self.root.join("datastore")
    }

    /// The embedded datastore's SQLite file.
    pub fn datastore_file(&self) -> PathBuf {
        self.datastore_dir().join("calico.db")
    }

    pub fn etcd_data_dir(&self) -> PathBuf {
        self.root.join("etcd")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn log_file(&self, what: &str) -> PathBuf {
        self.log_dir().join(format!("{what}.log"))
    }

    /// calico-node's state directory for one node (its `nodename` file and status socket).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(node)
    }

    /// The CNI network configuration rendered for one node.
    pub fn cni_conf(&self, node: &str) -> PathBuf {
        self.root.join("cni").join(format!("{node}.conf"))
    }

    pub fn ipam_lock(&self) -> PathBuf {
        self.root.join("cni").join("ipam.lock")
    }

    /// The ToR router's working directory (configs, control sockets, pid files).
    pub fn tor_dir(&self) -> PathBuf {
        self.root.join("tor")
    }
}

/// The directory of the Calico binaries: `$CALICO_LAB_BIN_DIR`, else the directory of the
/// running `calico-lab` (they are built into the same target directory).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The lab base directory: `$CALICO_LAB_DIR` or [`DEFAULT_LAB_DIR`].
pub fn base_dir() -> PathBuf {
    std::env::var_os(LAB_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LAB_DIR))
}

/// The running `calico-lab` itself (re-run as responder and prober inside namespaces).
pub fn self_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("calico-lab"))
}
