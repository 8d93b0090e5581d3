//! Running netlink work inside another network namespace: a dedicated OS thread enters the
//! namespace (so no tokio worker ever changes namespace), opens its own netlink socket there
//! and runs the job on its own single-threaded runtime; the caller waits for it.

use std::fs::File;
use std::future::Future;

use nix::sched::{setns, CloneFlags};
use rtnetlink::Handle;

use crate::error::{Error, Result};

/// Opens a network namespace file; a missing or unreadable path is `Error::NoNetns`.
pub fn open(path: &str) -> Result<File> {
    let file = File::open(path).map_err(|e| Error::NoNetns {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    Ok(file)
}

/// A netlink handle in the caller's current namespace, served by a task on the current
/// runtime.
pub fn connect_here() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| Error::netlink("opening netlink socket", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// Runs `job` with a netlink handle inside the namespace `ns`, on a thread of its own.
/// Sysctl writes made by the job apply to that namespace too.
pub fn run_in<T, F, Fut>(ns: File, job: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let worker = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> Result<T> {
            setns(&ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::netlink("entering the container network namespace", e))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("starting the netns runtime", e))?;
            rt.block_on(async move { job(connect_here()?).await })
        })
        .map_err(|e| Error::io("starting the netns thread", e))?;
    worker
        .join()
        .map_err(|_| Error::netlink("netns worker", "the thread panicked"))?
}
