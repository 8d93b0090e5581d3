//! Connecting to etcd from Calico-style settings (an endpoint list, optional TLS files and
//! username/password): one member at a time, proven to answer before use, and the next
//! endpoint in the list when the current one stops answering.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, TlsOptions,
};

use crate::{Error, Result};

/// How long one endpoint may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to one endpoint and answering the probe may take in total.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The key the probe reads: inside Calico's `/calico/` tree, so a user limited to that prefix
/// passes it.
const PROBE_KEY: &str = "/calico/";
/// Largest response the client accepts (etcd itself sends up to 2 GiB); a list shrinks its
/// page when a page would not fit.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Where and how to reach an etcd v3 cluster (Calico's `ETCD_*` settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs, e.g. `http://127.0.0.1:2379` or `https://10.0.0.1:2379`; tried in turn
    /// (unreachable ones are skipped).
    pub endpoints: Vec<String>,
    /// PEM file of the CA that signed the servers' certificates (`ETCD_CA_CERT_FILE`).
    pub ca_cert_file: Option<PathBuf>,
    /// PEM client certificate (`ETCD_CERT_FILE`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate (`ETCD_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// etcd user (`ETCD_USERNAME`); needs `password`.
    pub username: Option<String>,
    /// Password of `username` (`ETCD_PASSWORD`).
    pub password: Option<String>,
}

impl EtcdConfig {
    /// A plain-text, unauthenticated configuration for the given endpoints.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The endpoints as one comma-separated string (the `ETCD_ENDPOINTS` form).
    pub fn endpoint_list(&self) -> String {
        self.endpoints.join(",")
    }

    fn uses_tls(&self) -> bool {
        self.ca_cert_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

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
                if cfg.uses_tls() && text.contains("connection closed") {
                    text.push_str(
                        " (the server ended the TLS session: it may require a client certificate \
                         signed by a CA it trusts, see ETCD_CERT_FILE and ETCD_KEY_FILE)",
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
        etcd_client::Error::GRpcStatus(s) => s.code() == tonic::Code::Unavailable,
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

/// Rejects settings that cannot work before any network traffic.
fn validate(cfg: &EtcdConfig) -> Result<()> {
    if cfg.endpoints.is_empty() {
        return Err(Error::Config("no etcd endpoints given".into()));
    }
    for endpoint in &cfg.endpoints {
        let tls_url = endpoint.starts_with("https://");
        if !tls_url && !endpoint.starts_with("http://") {
            return Err(Error::Config(format!(
                "etcd endpoint {endpoint:?} must start with http:// or https://"
            )));
        }
        if cfg.uses_tls() != tls_url {
            return Err(Error::Config(if tls_url {
                format!("etcd endpoint {endpoint} is https but no CA certificate (ETCD_CA_CERT_FILE) is configured")
            } else {
                format!("etcd TLS files are configured but endpoint {endpoint} is plain http; use https://")
            }));
        }
    }
    if cfg.cert_file.is_some() != cfg.key_file.is_some() {
        return Err(Error::Config(
            "etcd client certificate and key must be given together (ETCD_CERT_FILE, ETCD_KEY_FILE)"
                .into(),
        ));
    }
    if cfg.username.is_some() != cfg.password.is_some() {
        return Err(Error::Config(
            "etcd username and password must be given together (ETCD_USERNAME, ETCD_PASSWORD)"
                .into(),
        ));
    }
    Ok(())
}

fn tls_options(cfg: &EtcdConfig) -> Result<TlsOptions> {
    let ca = cfg.ca_cert_file.as_deref().ok_or_else(|| {
        Error::Config("etcd over https needs a CA certificate (ETCD_CA_CERT_FILE)".into())
    })?;
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read_pem(ca)?));
    if let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) {
        tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
    }
    Ok(tls)
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read etcd TLS file {}: {e}", path.display())))
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
