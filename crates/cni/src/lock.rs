//! The host-wide IPAM lock file (Calico's `ipam_lock_file`, default
//! /var/run/calico/ipam.lock): IPAM calls on one node run one at a time, so concurrent ADDs
//! do not fight over the same block with compare-and-swap retries.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// Calico's default lock file.
pub const DEFAULT_LOCK_FILE: &str = "/var/run/calico/ipam.lock";

/// Holds the lock until dropped.
pub struct IpamLock {
    _held: Flock<File>,
}

/// Waits for the exclusive lock on `path`, creating the file (and directory) if needed.
pub fn acquire(path: &str) -> Result<IpamLock> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening IPAM lock {path}"), e))?;
    let held = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::io(format!("locking {path}"), e.into()))?;
    Ok(IpamLock { _held: held })
}
