//! What to connect to: `EtcdConfig` (Calico's `ETCD_*` settings), its validation before any
//! network traffic, and the TLS material read from its files.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::{Error, Result};

/// Where and how to reach an etcd v3 cluster (Calico's `ETCD_*` settings). Its `Debug` form
/// hides the password.
#[derive(Clone, Default, PartialEq, Eq)]
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

impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("ca_cert_file", &self.ca_cert_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
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

    pub(crate) fn uses_tls(&self) -> bool {
        self.ca_cert_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// Rejects settings that cannot work before any network traffic.
pub(crate) fn validate(cfg: &EtcdConfig) -> Result<()> {
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

pub(crate) fn tls_options(cfg: &EtcdConfig) -> Result<TlsOptions> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(cfg: &EtcdConfig) -> String {
        match validate(cfg) {
            Err(Error::Config(text)) => text,
            other => panic!("expected a configuration error for {cfg:?}, got {other:?}"),
        }
    }

    #[test]
    fn inconsistent_settings_are_refused_before_connecting() {
        assert!(refusal(&EtcdConfig::default()).contains("no etcd endpoints"));
        assert!(refusal(&EtcdConfig::new(["127.0.0.1:2379"])).contains("http:// or https://"));
        assert!(refusal(&EtcdConfig::new(["https://127.0.0.1:2379"])).contains("ETCD_CA_CERT_FILE"));
        let tls_on_http = EtcdConfig {
            ca_cert_file: Some("/ca.pem".into()),
            ..EtcdConfig::new(["http://127.0.0.1:2379"])
        };
        assert!(refusal(&tls_on_http).contains("use https://"));
        let cert_alone = EtcdConfig {
            ca_cert_file: Some("/ca.pem".into()),
            cert_file: Some("/c.pem".into()),
            ..EtcdConfig::new(["https://127.0.0.1:2379"])
        };
        assert!(refusal(&cert_alone).contains("ETCD_KEY_FILE"));
        let user_alone = EtcdConfig {
            username: Some("calico".into()),
            ..EtcdConfig::new(["http://127.0.0.1:2379"])
        };
        assert!(refusal(&user_alone).contains("ETCD_PASSWORD"));
        let server_auth_only = EtcdConfig {
            ca_cert_file: Some("/ca.pem".into()),
            ..EtcdConfig::new(["https://127.0.0.1:2379", "https://127.0.0.2:2379"])
        };
        validate(&server_auth_only).expect("CA alone is enough for https");
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = EtcdConfig {
            username: Some("calico".into()),
            password: Some("hunter2".into()),
            ..EtcdConfig::new(["http://127.0.0.1:2379"])
        };
        let text = format!("{cfg:?}");
        assert!(
            text.contains("calico") && text.contains("<hidden>"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
