//! Connecting to etcd from Calico-style settings (an endpoint list, optional TLS files and
//! username/password): one member at a time, proven to answer before use, and the next
//! endpoint in the list when the current one stops answering.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions, KvClient};

use super::settings::{tls_options, validate, EtcdConfig};
use crate::{Error, Result};

/// How long one endpoint may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to one endpoint and answering the probe may take in total.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The key the probe reads: inside Calico's `/calico/` tree, so a user limited to that prefix
/// passes it.
const PROBE_KEY: &str = "/calico/";
/// How a TLS server refusing the client's certificate shows up: a TLS alert, or (TLS 1.3) the
/// session ending right after the handshake, so the first request sees the connection go.
const CLIENT_CERT_REFUSED: [&str; 4] = [
    "received fatal alert",
    "connection closed",
    "broken pipe",
    "connection reset",
];
/// Largest response the client accepts (etcd itself sends up to 2 GiB); a list shrinks its
/// page when a page would not fit.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A client bound to one endpoint of the list.
#[derive(Clone)]
pub(crate) struct Member {
    /// Position of the endpoint in `EtcdConfig::endpoints`.
    index: usize,
    /// Bumped on every switch, so concurrent failures switch only once.
    generation: u64,
    pub(crate) client: Client,
    pub(crate) kv: KvClient,
}

/// Whether an operation may be sent again after a connection failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Reads: always safe to repeat on another member.
    Always,
    /// Writes: only when the request provably never left (the connection was not made).
    IfUnsent,
}

/// The member in use and how to move to another one when it stops answering. Calico's etcd
/// client does the same: one endpoint at a time, the next one on failure.
pub(crate) struct Connection {
    cfg: EtcdConfig,
    options: ConnectOptions,
    current: Mutex<Member>,
    switching: tokio::sync::Mutex<()>,
}

impl Connection {
    /// Connects to the first endpoint that answers, in list order.
    pub(crate) async fn open(cfg: &EtcdConfig) -> Result<Self> {
        validate(cfg)?;
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
        if cfg.uses_tls() {
            options = options.with_tls(tls_options(cfg)?);
        }
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            options = options.with_user(user.clone(), password.clone());
        }
        let member = first_answering(cfg, &options, 0, 0).await?;
        Ok(Self {
            cfg: cfg.clone(),
            options,
            current: Mutex::new(member),
            switching: tokio::sync::Mutex::new(()),
        })
    }

    /// How many endpoints the configuration lists.
    pub(crate) fn endpoint_count(&self) -> usize {
        self.cfg.endpoints.len()
    }

    /// The member requests go to now.
    pub(crate) fn member(&self) -> Member {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `op` on the current member; if that member cannot be reached, switches to the next
    /// answering endpoint and, when `resend` allows, runs `op` once more there.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        resend: Resend,
        op: F,
    ) -> std::result::Result<T, etcd_client::Error>
    where
        F: Fn(Member) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let member = self.member();
        match op(member.clone()).await {
            Err(e) if unreachable(&e) => {
                let Ok(next) = self.fail_over(&member).await else {
                    return Err(e);
                };
                if resend == Resend::Always || never_sent(&e) {
                    op(next).await
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// Replaces `failed` by the next endpoint that answers (unless another task already did).
    pub(crate) async fn fail_over(&self, failed: &Member) -> Result<Member> {
        let _one_at_a_time = self.switching.lock().await;
        let current = self.member();
        if current.generation != failed.generation {
            return Ok(current);
        }
        let next = first_answering(
            &self.cfg,
            &self.options,
            failed.index + 1,
            failed.generation + 1,
        )
        .await?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = next.clone();
        Ok(next)
    }
}

/// Tries every endpoint once, starting at `first` and wrapping around.
async fn first_answering(
    cfg: &EtcdConfig,
    options: &ConnectOptions,
    first: usize,
    generation: u64,
) -> Result<Member> {
    let count = cfg.endpoints.len();
    let mut failures = Vec::new();
    for index in (first..first + count).map(|i| i % count) {
        let endpoint = &cfg.endpoints[index];
        match tokio::time::timeout(PROBE_TIMEOUT, probe(endpoint, options)).await {
            Ok(Ok(client)) => {
                let kv = client
                    .kv_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES);
                return Ok(Member {
                    index,
                    generation,
                    client,
                    kv,
                });
            }
            Ok(Err(e)) => {
                let mut text = describe(&e);
                if cfg.uses_tls() && CLIENT_CERT_REFUSED.iter().any(|s| text.contains(s)) {
                    text.push_str(
                        " (the server refused the TLS session: it may require a client \
                         certificate signed by a CA it trusts, see ETCD_CERT_FILE and \
                         ETCD_KEY_FILE)",
                    );
                }
                failures.push(format!("{endpoint}: {text}"));
            }
            Err(_) => failures.push(format!("{endpoint}: no answer within {PROBE_TIMEOUT:?}")),
        }
    }
    Err(Error::Backend(format!(
        "no usable etcd endpoint: {}",
        failures.join("; ")
    )))
}

/// Connects to one endpoint and reads (counts) one key, which needs a live member and, with
/// authentication on, valid credentials.
async fn probe(
    endpoint: &str,
    options: &ConnectOptions,
) -> std::result::Result<Client, etcd_client::Error> {
    let client = Client::connect([endpoint], Some(options.clone())).await?;
    client
        .kv_client()
        .get(PROBE_KEY, Some(GetOptions::new().with_count_only()))
        .await?;
    Ok(client)
}

/// The member could not be reached (as opposed to refusing the request).
fn unreachable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => match s.code() {
            tonic::Code::Unavailable => true,
            // A connection that broke under a request surfaces as an unknown-code status.
            tonic::Code::Unknown => s.message().contains("transport error"),
            _ => false,
        },
        etcd_client::Error::TransportError(_) => true,
        _ => false,
    }
}

/// The connection was never established, so the request cannot have been applied.
fn never_sent(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            let text = s.message();
            text.contains("tcp connect error") || text.contains("error trying to connect")
        }
        _ => false,
    }
}

/// One line for an etcd client error: the gRPC status (not its debug dump) and every cause.
pub(crate) fn describe(e: &etcd_client::Error) -> String {
    let (mut text, mut source) = match e {
        etcd_client::Error::GRpcStatus(status) => (
            format!("{:?}: {}", status.code(), status.message()),
            std::error::Error::source(status),
        ),
        etcd_client::Error::TransportError(t) => (t.to_string(), std::error::Error::source(t)),
        other => (other.to_string(), None),
    };
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
