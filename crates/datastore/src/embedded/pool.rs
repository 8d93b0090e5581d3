//! A small pool of SQLite connections to one file for reads, so that reads running on tokio's
//! blocking threads proceed in parallel (WAL readers never wait for the writer).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use super::{schema, EmbeddedOptions};
use crate::Result;

/// Idle connections kept for reuse; more are opened on demand under load and closed after.
const MAX_IDLE: usize = 4;

pub(super) struct Pool {
    path: PathBuf,
    options: EmbeddedOptions,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub(super) fn new(path: &Path, options: EmbeddedOptions) -> Self {
        Self {
            path: path.to_owned(),
            options,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection (or a new one), then returns the connection to the pool.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let idle = self.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => schema::connect(&self.path, &self.options)?,
        };
        let out = f(&mut conn);
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A panic while holding the lock cannot leave the Vec half-modified (push/pop only).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
