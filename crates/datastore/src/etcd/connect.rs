//! Building an etcd v3 client from Calico-style connection settings: an endpoint list,
//! optional TLS files (CA, client certificate and key) and optional username/password, then
//! proving the cluster answers before handing the client out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::{Error, Result};

/// How long one endpoint may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first request (the reachability probe) may take in total.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Connects and checks that the cluster answers one request within a few seconds.
pub(crate) async fn connect(cfg: &EtcdConfig) -> Result<Client> {
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
    let endpoints = cfg.endpoint_list();
    let fail = |what: String| Error::Backend(format!("etcd at {endpoints}: {what}"));
    let attempt = async {
        let mut client = Client::connect(&cfg.endpoints, Some(options))
            .await
            .map_err(|e| fail(describe(&e)))?;
        client.status().await.map_err(|e| fail(describe(&e)))?;
        Ok(client)
    };
    tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .map_err(|_| fail(format!("no answer within {PROBE_TIMEOUT:?}")))?
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

/// One line for an etcd client error, with the gRPC status message (not its debug dump).
pub(crate) fn describe(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            format!("{:?}: {}", status.code(), status.message())
        }
        etcd_client::Error::TransportError(t) => {
            let mut text = t.to_string();
            let mut source = std::error::Error::source(t);
            while let Some(inner) = source {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                source = inner.source();
            }
            text
        }
        other => other.to_string(),
    }
}
