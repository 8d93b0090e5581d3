//! The etcd v3 backend: `Store` on an etcd cluster, the way Calico's etcdv3 client uses it.
//!
//! Creates are transactions guarded by `create_revision == 0`, updates and conditional deletes
//! by `mod_revision == expected`; a failed guard reads the key in the same transaction to tell
//! `NotFound` from `Conflict`. Lists page through the key range at one fixed revision so a
//! very large prefix never exceeds a gRPC message limit. Watches live in `watch`.

mod connect;
mod keys;
mod settings;
mod watch;

use std::sync::Arc;

use async_trait::async_trait;
use etcd_client::{
    CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, GetResponse, Txn, TxnOp,
    TxnOpResponse, TxnResponse,
};

use connect::{describe, Connection, Resend};
pub use settings::EtcdConfig;

use crate::store::{KeyValue, ListResult, Revision, Store, Watch};
use crate::{Error, Result};

/// Keys per list page to start with.
const FIRST_PAGE: i64 = 2_000;
/// How often a list restarts when its snapshot revision is compacted under it.
const LIST_ATTEMPTS: usize = 3;

/// A `Store` backed by an etcd v3 cluster. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct EtcdStore {
    conn: Arc<Connection>,
    endpoints: String,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the first endpoint of `cfg` that answers (with its TLS files and
    /// credentials); later failures move on to the next endpoint.
    pub async fn connect(cfg: &EtcdConfig) -> Result<Self> {
        Ok(Self {
            conn: Arc::new(Connection::open(cfg).await?),
            endpoints: cfg.endpoint_list(),
        })
    }

    /// A guarded write: `txn` built fresh for each attempt.
    async fn txn(&self, txn: impl Fn() -> Txn) -> Result<TxnResponse> {
        self.conn
            .run(Resend::IfUnsent, |m| {
                let txn = txn();
                async move { m.kv.clone().txn(txn).await }
            })
            .await
            .map_err(backend)
    }

    /// Every key in `[start, end)` at one revision, page by page.
    async fn list_once(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> std::result::Result<ListResult, ListError> {
        let mut items = Vec::new();
        let mut limit = FIRST_PAGE;
        let mut revision = 0;
        let mut next = start.to_vec();
        loop {
            let mut page = self
                .page(&next, end, revision, &mut limit)
                .await
                .map_err(|e| {
                    if is_compacted(&e) {
                        ListError::Compacted
                    } else {
                        ListError::Other(backend(e))
                    }
                })?;
            if revision == 0 {
                revision = header_revision(page.header())?;
            }
            let more = page.more();
            let kvs = page.take_kvs();
            if let Some(last) = kvs.last() {
                next = keys::successor(last.key());
            }
            for kv in &kvs {
                items.push(convert(kv)?);
            }
            if !more || kvs.is_empty() {
                return Ok(ListResult { items, revision });
            }
        }
    }

    /// One page of `[start, end)` at `revision` (0 = current) of at most `limit` keys; halves
    /// `limit` while the page is too large to receive.
    async fn page(
        &self,
        start: &[u8],
        end: &[u8],
        revision: Revision,
        limit: &mut i64,
    ) -> std::result::Result<GetResponse, etcd_client::Error> {
        loop {
            let options = GetOptions::new()
                .with_range(end)
                .with_limit(*limit)
                .with_revision(revision);
            let result = self
                .conn
                .run(Resend::Always, |m| {
                    let options = options.clone();
                    async move { m.kv.clone().get(start, Some(options)).await }
                })
                .await;
            match result {
                Err(etcd_client::Error::GRpcStatus(s))
                    if s.code() == tonic::Code::OutOfRange && *limit > 1 =>
                {
                    *limit = (*limit / 2).max(1);
                }
                other => return other,
            }
        }
    }

    /// After a failed guard: the key's current state from the `or_else` range.
    fn current(resp: &TxnResponse, key: &str) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                return get.kvs().first().map(convert).transpose();
            }
        }
        Err(Error::Backend(format!(
            "etcd transaction on {key} returned no read of the key"
        )))
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .conn
            .run(Resend::Always, |m| async move {
                m.kv.clone().get(key, None).await
            })
            .await
            .map_err(backend)?;
        resp.kvs().first().map(convert).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<ListResult> {
        let (start, end) = keys::prefix_range(prefix);
        for _ in 0..LIST_ATTEMPTS {
            match self.list_once(&start, &end).await {
                Ok(list) => return Ok(list),
                Err(ListError::Other(e)) => return Err(e),
                Err(ListError::Compacted) => continue,
            }
        }
        Err(Error::Backend(format!(
            "etcd: listing {prefix} failed {LIST_ATTEMPTS} times: its snapshot was compacted while paging"
        )))
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let resp = self
            .txn(|| {
                Txn::new()
                    .when([Compare::create_revision(key, CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, value, None)])
            })
            .await?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists { key: key.into() });
        }
        header_revision(resp.header())
    }

    async fn update(&self, key: &str, value: &[u8], expected: Revision) -> Result<Revision> {
        let resp = self
            .txn(|| {
                Txn::new()
                    .when([
                        Compare::version(key, CompareOp::Greater, 0),
                        Compare::mod_revision(key, CompareOp::Equal, expected),
                    ])
                    .and_then([TxnOp::put(key, value, None)])
                    .or_else([TxnOp::get(key, None)])
            })
            .await?;
        if resp.succeeded() {
            return header_revision(resp.header());
        }
        Err(refusal(key, expected, Self::current(&resp, key)?))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let resp = self
            .txn(|| {
                let mut guard = vec![Compare::version(key, CompareOp::Greater, 0)];
                if let Some(expected) = expected {
                    guard.push(Compare::mod_revision(key, CompareOp::Equal, expected));
                }
                Txn::new()
                    .when(guard)
                    .and_then([TxnOp::delete(
                        key,
                        Some(DeleteOptions::new().with_prev_key()),
                    )])
                    .or_else([TxnOp::get(key, None)])
            })
            .await?;
        if !resp.succeeded() {
            let current = Self::current(&resp, key)?;
            return Err(refusal(key, expected.unwrap_or(0), current));
        }
        for op in resp.op_responses() {
            if let TxnOpResponse::Delete(del) = op {
                if let Some(prev) = del.prev_kvs().first() {
                    return convert(prev);
                }
            }
        }
        Err(Error::Backend(format!(
            "etcd delete of {key} succeeded but returned no previous value"
        )))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch> {
        watch::start(Arc::clone(&self.conn), prefix, after).await
    }

    async fn revision(&self) -> Result<Revision> {
        let resp = self
            .conn
            .run(Resend::Always, |m| async move {
                m.client.clone().status().await
            })
            .await
            .map_err(backend)?;
        header_revision(resp.header())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let result = self
            .conn
            .run(Resend::Always, |m| async move {
                let options = CompactionOptions::new().with_physical();
                m.kv.clone().compact(revision, Some(options)).await
            })
            .await;
        match result {
            // History at and below `revision` is already gone: nothing left to do.
            Err(e) if is_compacted(&e) => Ok(()),
            other => other.map(drop).map_err(backend),
        }
    }
}

/// Why a guarded write was refused, given the key's current state.
fn refusal(key: &str, expected: Revision, current: Option<KeyValue>) -> Error {
    match current {
        None => Error::NotFound { key: key.into() },
        Some(kv) => Error::Conflict {
            key: key.into(),
            expected,
            actual: kv.revision,
        },
    }
}

fn convert(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|e| Error::Backend(format!("etcd key is not UTF-8: {e}")))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: kv.value().to_vec(),
        revision: kv.mod_revision(),
        create_revision: kv.create_revision(),
    })
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| Error::Backend("etcd response without header".into()))
}

/// Why one attempt at a paged list failed.
enum ListError {
    /// The snapshot revision was compacted between pages: start again at the current one.
    Compacted,
    Other(Error),
}

impl From<Error> for ListError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

/// etcd refuses reads and compactions below its compaction point with this message.
fn is_compacted(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.message().contains("required revision has been compacted"))
}

/// Maps a client error to the crate's error.
fn backend(e: etcd_client::Error) -> Error {
    Error::Backend(format!("etcd: {}", describe(&e)))
}
