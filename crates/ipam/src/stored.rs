//! Typed JSON reads and compare-and-swap writes of IPAM records on a [`Store`]. A lost race
//! (conflict, vanished key, key created by someone else) is a normal outcome, `Cas::Lost`,
//! that callers answer by re-reading and retrying.

use datastore::{Revision, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Attempts per compare-and-swap loop before giving up (as Calico).
pub const RETRIES: usize = 100;

/// The outcome of a conditional write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cas {
    Done(Revision),
    Lost,
}

/// A decoded record with the revision it was read at.
#[derive(Clone, Debug)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: Revision,
}

/// Reads and decodes `key`.
pub async fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Versioned<T>>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(kv) => Ok(Some(Versioned {
            value: decode(key, &kv.value)?,
            revision: kv.revision,
        })),
    }
}

/// Lists and decodes every record under `prefix`, with its key.
pub async fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
) -> Result<Vec<(String, Versioned<T>)>> {
    let listed = store.list(prefix).await?;
    listed
        .items
        .into_iter()
        .map(|kv| {
            let value = decode(&kv.key, &kv.value)?;
            Ok((
                kv.key,
                Versioned {
                    value,
                    revision: kv.revision,
                },
            ))
        })
        .collect()
}

/// Creates `key`; `Lost` when it already exists.
pub async fn create<T: Serialize>(store: &dyn Store, key: &str, value: &T) -> Result<Cas> {
    lost_on_race(store.create(key, &encode(key, value)?).await)
}

/// Replaces `key` if still at `revision`; `Lost` otherwise.
pub async fn update<T: Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
    revision: Revision,
) -> Result<Cas> {
    lost_on_race(store.update(key, &encode(key, value)?, revision).await)
}

/// Deletes `key` if still at `revision`; `Lost` otherwise.
pub async fn delete(store: &dyn Store, key: &str, revision: Revision) -> Result<Cas> {
    lost_on_race(
        store
            .delete(key, Some(revision))
            .await
            .map(|kv| kv.revision),
    )
}

fn lost_on_race(result: datastore::Result<Revision>) -> Result<Cas> {
    match result {
        Ok(rev) => Ok(Cas::Done(rev)),
        Err(
            datastore::Error::Conflict { .. }
            | datastore::Error::NotFound { .. }
            | datastore::Error::AlreadyExists { .. },
        ) => Ok(Cas::Lost),
        Err(e) => Err(e.into()),
    }
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// The error for a loop that kept losing races on `key`.
pub fn too_many_retries(key: &str) -> Error {
    Error::TooManyRetries {
        key: key.to_string(),
        attempts: RETRIES,
    }
}
