//! Opening SQLite connections to the embedded store file: pragmas and the table layout.
//!
//! Tables:
//! - `kv`: the current value of every live key, with its create and last-modify revisions;
//! - `log`: one row per write (`revision`, `key`, `kind` 0 = put / 1 = delete, `value`), the
//!   history that watches replay; rows at or below `meta.compacted` have been discarded;
//! - `meta`: a single row with the store-wide `revision` and the `compacted` revision.
//!
//! Keys are stored as BLOBs so that ordering and prefix ranges are plain byte comparisons.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::EmbeddedOptions;
use crate::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key BLOB PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY NOT NULL,
    key BLOB NOT NULL,
    kind INTEGER NOT NULL,
    value BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    revision INTEGER NOT NULL,
    compacted INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (0, 0, 0);
";

/// Opens one connection with the per-connection settings every process must use.
///
/// `synchronous = FULL`: in WAL mode this fsyncs the WAL at every commit, so an acknowledged
/// write survives not only a kill -9 of any process (which NORMAL would also survive) but a
/// power loss too. An IP handed to a container must never be handed out twice after a crash.
pub(super) fn connect(path: &Path, options: &EmbeddedOptions) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| open_error(path, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| open_error(path, e))?;
    // After a checkpoint, shrink a WAL that a burst of large values made big.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

/// Switches the file to WAL mode and creates the tables if they are missing.
pub(super) fn initialize(conn: &mut Connection, path: &Path) -> Result<()> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Backend(format!(
            "embedded store {}: cannot switch to WAL journal mode (got {mode})",
            path.display()
        )));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| open_error(path, e))?;
    tx.execute_batch(SCHEMA).map_err(|e| open_error(path, e))?;
    tx.commit().map_err(|e| open_error(path, e))
}

fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Backend(format!("embedded store {}: {e}", path.display()))
}
