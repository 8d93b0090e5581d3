//! Commit notification: how watchers learn, within milliseconds and without polling, that
//! some process committed a new revision.
//!
//! ```text
//!  writer (any process)                      this process
//!  ─────────────────────                     ─────────────────────────────────────────────
//!  COMMIT ──► write 1 byte to <db>-notify ──► inotify IN_MODIFY ──► tracker task
//!     │                                                               │ reads meta.revision
//!     └── same process: publish revision ─────────────────────────┐   ▼
//!                                                                 └─► head (watch channel)
//!                                                                       │ wakes
//!                                                     watcher task, watcher task, ... (one per Watch)
//! ```
//!
//! Why a separate notify file rather than the `-wal` file: SQLite appends to the WAL *before*
//! the commit is visible (the fsync and the wal-index update come after), so a reader woken by
//! the WAL write can look too early and then sleep through the commit. The notify file is
//! written only after `COMMIT` returned. One tracker task (one inotify instance) serves every
//! watcher of a store; it lives while at least one watch is open. A slow safety re-check
//! (`SAFETY_RECHECK`) covers a writer killed between its commit and its notify write.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::sync::watch;

use super::{ops, AbortOnDrop, Shared};
use crate::store::Revision;
use crate::{Error, Result};

/// How often the tracker re-reads the revision even without an inotify event.
const SAFETY_RECHECK: Duration = Duration::from_secs(1);

pub(super) struct Notifier {
    path: PathBuf,
    file: File,
    head: watch::Sender<Revision>,
    tracker: Mutex<Weak<AbortOnDrop>>,
}

impl Notifier {
    /// Opens (creating it if needed) the notify file beside the database at `db`.
    pub(super) fn open(db: &Path, revision: Revision) -> Result<Self> {
        let mut name = OsString::from(db.as_os_str());
        name.push("-notify");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Backend(format!("embedded store {}: {e}", path.display())))?;
        Ok(Self {
            path,
            file,
            head: watch::Sender::new(revision),
            tracker: Mutex::new(Weak::new()),
        })
    }

    /// Announces a commit made by this process, to this process and to every other one.
    pub(super) fn committed(&self, revision: Revision) {
        self.publish(revision);
        // The commit is already durable; if this wake-up write fails, other processes still
        // see the change at their next wake-up or safety re-check, so it must not fail the
        // caller's write (which a caller would then wrongly retry).
        let _ = self.file.write_at(&[1], 0);
    }

    /// Raises the known head revision (never lowers it) and wakes watchers if it moved.
    pub(super) fn publish(&self, revision: Revision) {
        self.head.send_if_modified(|head| {
            let newer = revision > *head;
            if newer {
                *head = revision;
            }
            newer
        });
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<Revision> {
        self.head.subscribe()
    }
}

/// The running tracker of `shared`, started if no watch is currently holding one.
/// Must be called from within a tokio runtime.
pub(super) fn tracker(shared: &Arc<Shared>) -> Result<Arc<AbortOnDrop>> {
    let notifier = &shared.notifier;
    let mut slot = notifier
        .tracker
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(guard) = slot.upgrade() {
        return Ok(guard);
    }
    let inotify_error =
        |e: std::io::Error| Error::Backend(format!("inotify on {}: {e}", notifier.path.display()));
    let inotify = Inotify::init().map_err(inotify_error)?;
    inotify
        .watches()
        .add(&notifier.path, WatchMask::MODIFY)
        .map_err(inotify_error)?;
    let events = inotify
        .into_event_stream([0u8; 1024])
        .map_err(inotify_error)?;
    let task = tokio::spawn(track(Arc::clone(shared), events));
    let guard = Arc::new(AbortOnDrop(task.abort_handle()));
    *slot = Arc::downgrade(&guard);
    Ok(guard)
}

async fn track(shared: Arc<Shared>, mut events: inotify::EventStream<[u8; 1024]>) {
    let mut recheck = tokio::time::interval(SAFETY_RECHECK);
    let mut inotify_ok = true;
    loop {
        tokio::select! {
            event = events.next(), if inotify_ok => {
                // A failing inotify leaves the safety re-check as the only wake-up.
                inotify_ok = matches!(event, Some(Ok(_)));
            }
            _ = recheck.tick() => {}
        }
        // A failed read is retried at the next wake-up; watchers keep their position.
        if let Ok(meta) = shared.blocking(|conn| ops::meta(conn)).await {
            shared.notifier.publish(meta.revision);
        }
    }
}
