//! One command at a time per lab: an exclusive `flock` on `<lab dir>/<name>.lock`, held for
//! as long as a command works on the lab, so two concurrent invocations cannot lose each
//! other's state updates.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// A held lock; released when dropped.
pub struct LabLock {
    _held: Flock<File>,
    path: PathBuf,
}

impl LabLock {
    /// Waits for and takes the lock at `path`, creating the file (and its directory).
    pub fn acquire(path: &Path) -> Result<LabLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("cannot open lock", path, e))?;
        let held = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io("cannot lock", path, std::io::Error::from(errno)))?;
        Ok(LabLock {
            _held: held,
            path: path.to_path_buf(),
        })
    }

    /// Releases the lock and removes its file (when the lab itself is gone).
    pub fn remove(self) {
        let path = self.path.clone();
        drop(self);
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/lab.lock");
        let first = LabLock::acquire(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let second = LabLock::acquire(&p).unwrap();
            tx.send(()).unwrap();
            drop(second);
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
        LabLock::acquire(&path).unwrap().remove();
        assert!(!path.exists());
    }
}
