//! The blocking SQL behind each store operation. A write runs inside the caller's
//! `BEGIN IMMEDIATE` transaction (see `writer`): read the meta row, check the key, bump the
//! revision, write `kv` and `log`, trim old history when over the limit.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::store::{EventKind, KeyValue, ListResult, Revision, WatchEvent};
use crate::{Error, Result};

const KIND_PUT: i64 = 0;
const KIND_DELETE: i64 = 1;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Backend(format!("sqlite: {e}"))
    }
}

/// The meta row: the store-wide revision and how far history has been compacted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub revision: Revision,
    pub compacted: Revision,
}

/// A batch of changes read for one watcher.
pub(super) struct Changes {
    pub events: Vec<WatchEvent>,
    /// Every change up to this revision has been examined.
    pub reached: Revision,
    /// More changes may follow `reached` already (the batch hit its size bound).
    pub truncated: bool,
}

/// How much one watch read may return at most.
pub(super) struct BatchBound {
    pub rows: usize,
    pub bytes: usize,
}

pub(super) fn meta(conn: &Connection) -> Result<Meta> {
    Ok(conn
        .prepare_cached("SELECT revision, compacted FROM meta WHERE id = 0")?
        .query_row([], |row| {
            Ok(Meta {
                revision: row.get(0)?,
                compacted: row.get(1)?,
            })
        })?)
}

pub(super) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    let row = conn
        .prepare_cached("SELECT value, create_revision, mod_revision FROM kv WHERE key = ?1")?
        .query_row([key.as_bytes()], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, Revision>(1)?,
                row.get::<_, Revision>(2)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(value, create_revision, revision)| KeyValue {
        key: key.to_owned(),
        value,
        revision,
        create_revision,
    }))
}

pub(super) fn list(conn: &mut Connection, prefix: &str) -> Result<ListResult> {
    let tx = conn.transaction()?;
    let mut items = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT key, value, create_revision, mod_revision FROM kv
             WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )?;
        let mut rows = stmt.query(params![prefix.as_bytes(), prefix_end(prefix)])?;
        while let Some(row) = rows.next()? {
            items.push(KeyValue {
                key: key_string(row.get(0)?)?,
                value: row.get(1)?,
                create_revision: row.get(2)?,
                revision: row.get(3)?,
            });
        }
    }
    let revision = meta(&tx)?.revision;
    tx.commit()?;
    Ok(ListResult { items, revision })
}

pub(super) fn create(
    conn: &Connection,
    key: &str,
    value: &[u8],
    history_limit: Option<u64>,
) -> Result<Revision> {
    write(conn, history_limit, |conn, revision| {
        if mod_revision(conn, key)?.is_some() {
            return Err(Error::AlreadyExists {
                key: key.to_owned(),
            });
        }
        conn.prepare_cached(
            "INSERT INTO kv (key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?3)",
        )?
        .execute(params![key.as_bytes(), value, revision])?;
        log_change(conn, revision, key, Some(value))?;
        Ok(revision)
    })
}

pub(super) fn update(
    conn: &Connection,
    key: &str,
    value: &[u8],
    expected: Revision,
    history_limit: Option<u64>,
) -> Result<Revision> {
    write(conn, history_limit, |conn, revision| {
        let actual = mod_revision(conn, key)?.ok_or_else(|| Error::NotFound {
            key: key.to_owned(),
        })?;
        check_revision(key, expected, actual)?;
        conn.prepare_cached("UPDATE kv SET value = ?2, mod_revision = ?3 WHERE key = ?1")?
            .execute(params![key.as_bytes(), value, revision])?;
        log_change(conn, revision, key, Some(value))?;
        Ok(revision)
    })
}

pub(super) fn delete(
    conn: &Connection,
    key: &str,
    expected: Option<Revision>,
    history_limit: Option<u64>,
) -> Result<(KeyValue, Revision)> {
    write(conn, history_limit, |conn, revision| {
        let old = get(conn, key)?.ok_or_else(|| Error::NotFound {
            key: key.to_owned(),
        })?;
        if let Some(expected) = expected {
            check_revision(key, expected, old.revision)?;
        }
        conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?
            .execute([key.as_bytes()])?;
        log_change(conn, revision, key, None)?;
        Ok((old, revision))
    })
}

/// Discards log rows at and below `revision` and records it as the compacted revision.
pub(super) fn compact(conn: &mut Connection, revision: Revision) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let meta = meta(&tx)?;
    if revision > meta.revision {
        return Err(Error::Backend(format!(
            "cannot compact to revision {revision}: the store is at revision {}",
            meta.revision
        )));
    }
    if revision > meta.compacted {
        trim_log(&tx, revision)?;
    }
    Ok(tx.commit()?)
}

/// Changes under `prefix` after revision `after`, in revision order, as one consistent read.
/// `Error::Compacted` if changes after `after` are no longer all retained.
pub(super) fn changes(
    conn: &mut Connection,
    prefix: &str,
    after: Revision,
    bound: &BatchBound,
) -> Result<Changes> {
    let tx = conn.transaction()?;
    let meta = meta(&tx)?;
    if after < meta.compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted: meta.compacted,
        });
    }
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT revision, key, kind, value FROM log
             WHERE revision > ?1 AND revision <= ?2 AND key >= ?3 AND key < ?4
             ORDER BY revision",
        )?;
        let mut rows = stmt.query(params![
            after,
            meta.revision,
            prefix.as_bytes(),
            prefix_end(prefix)
        ])?;
        while let Some(row) = rows.next()? {
            if events.len() >= bound.rows || bytes >= bound.bytes {
                truncated = true;
                break;
            }
            let kind = match row.get::<_, i64>(2)? {
                KIND_PUT => EventKind::Put,
                _ => EventKind::Delete,
            };
            let value: Option<Vec<u8>> = row.get(3)?;
            bytes += value.as_ref().map_or(0, Vec::len);
            events.push(WatchEvent {
                revision: row.get(0)?,
                key: key_string(row.get(1)?)?,
                kind,
                value,
            });
        }
    }
    tx.commit()?;
    let reached = match (truncated, events.last()) {
        (true, Some(last)) => last.revision,
        _ => meta.revision.max(after),
    };
    Ok(Changes {
        events,
        reached,
        truncated,
    })
}

/// Checks the file and the store's invariants: SQLite's integrity check passes, the log holds
/// exactly the revisions (compacted, revision] with no gap, and every live key's last write
/// that is still in history is logged as a put of that key.
pub(super) fn verify(conn: &mut Connection) -> Result<()> {
    let integrity: String = conn
        .prepare_cached("PRAGMA integrity_check")?
        .query_row([], |row| row.get(0))?;
    if integrity != "ok" {
        return Err(Error::Backend(format!(
            "sqlite integrity check failed: {integrity}"
        )));
    }
    let tx = conn.transaction()?;
    let meta = meta(&tx)?;
    let (count, min, max): (i64, Option<i64>, Option<i64>) = tx
        .prepare_cached("SELECT count(*), min(revision), max(revision) FROM log")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    let expected = meta.revision - meta.compacted;
    let range_ok = match (min, max) {
        (Some(min), Some(max)) => min == meta.compacted + 1 && max == meta.revision,
        _ => expected == 0,
    };
    if count != expected || !range_ok {
        return Err(Error::Backend(format!(
            "change log has gaps: {count} rows in [{min:?}, {max:?}] for revisions ({}, {}]",
            meta.compacted, meta.revision
        )));
    }
    let unlogged: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM kv LEFT JOIN log ON log.revision = kv.mod_revision
             WHERE kv.mod_revision > ?1
               AND (log.key IS NULL OR log.key != kv.key OR log.kind != ?2)",
        )?
        .query_row(params![meta.compacted, KIND_PUT], |row| row.get(0))?;
    let future: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM kv WHERE mod_revision > ?1 OR create_revision > mod_revision",
        )?
        .query_row([meta.revision], |row| row.get(0))?;
    if unlogged != 0 || future != 0 {
        return Err(Error::Backend(format!(
            "kv table disagrees with the change log: {unlogged} keys without a matching log row, \
             {future} keys with impossible revisions"
        )));
    }
    Ok(tx.commit()?)
}

/// Applies one write at the next revision; the caller holds the write transaction.
fn write<T>(
    conn: &Connection,
    history_limit: Option<u64>,
    apply: impl FnOnce(&Connection, Revision) -> Result<T>,
) -> Result<T> {
    let meta = meta(conn)?;
    let revision = meta.revision + 1;
    let out = apply(conn, revision)?;
    conn.prepare_cached("UPDATE meta SET revision = ?1 WHERE id = 0")?
        .execute([revision])?;
    if let Some(limit) = history_limit {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Trim in steps of limit/8 so the delete cost is paid once per many writes.
        let slack = (limit / 8).max(1);
        if revision - meta.compacted > limit.saturating_add(slack) {
            trim_log(conn, revision - limit)?;
        }
    }
    Ok(out)
}

fn trim_log(conn: &Connection, upto: Revision) -> Result<()> {
    conn.prepare_cached("DELETE FROM log WHERE revision <= ?1")?
        .execute([upto])?;
    conn.prepare_cached("UPDATE meta SET compacted = ?1 WHERE id = 0")?
        .execute([upto])?;
    Ok(())
}

fn mod_revision(conn: &Connection, key: &str) -> Result<Option<Revision>> {
    Ok(conn
        .prepare_cached("SELECT mod_revision FROM kv WHERE key = ?1")?
        .query_row([key.as_bytes()], |row| row.get(0))
        .optional()?)
}

/// The compare-and-swap check: `Conflict` unless the caller read the current revision.
fn check_revision(key: &str, expected: Revision, actual: Revision) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::Conflict {
            key: key.to_owned(),
            expected,
            actual,
        })
    }
}

fn log_change(
    conn: &Connection,
    revision: Revision,
    key: &str,
    value: Option<&[u8]>,
) -> Result<()> {
    let kind = if value.is_some() {
        KIND_PUT
    } else {
        KIND_DELETE
    };
    conn.prepare_cached("INSERT INTO log (revision, key, kind, value) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![revision, key.as_bytes(), kind, value])?;
    Ok(())
}

/// The smallest byte string greater than every key starting with `prefix`. UTF-8 never
/// contains the byte 0xFF, so bumping the last byte never overflows, and `[0xFF]` bounds
/// every key when the prefix is empty.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        Some(last) => *last += 1,
        None => end.push(0xFF),
    }
    end
}

fn key_string(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::Backend(format!("stored key is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0xFF]);
        let end = prefix_end("/calico/é");
        assert!("/calico/é/x".as_bytes() < end.as_slice());
        assert!("/calico/ê".as_bytes() >= end.as_slice());
    }
}
