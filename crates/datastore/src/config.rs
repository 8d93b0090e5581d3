//! Datastore configuration, read the way calicoctl reads it: a `CalicoAPIConfig` YAML file when
//! one is given (or `/etc/calico/calicoctl.cfg` exists), otherwise `DATASTORE_TYPE`,
//! `ETCD_*` and `DATASTORE_PATH` from the environment (each also as `CALICO_<NAME>`, which
//! wins). Our default backend is the embedded one; `etcdv3` selects etcd.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::etcd::{EtcdConfig, EtcdStore};
use crate::{EmbeddedStore, Error, Result, Store};

/// calicoctl's default configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/calico/calicoctl.cfg";
/// Where the embedded datastore lives unless `DATASTORE_PATH` says otherwise.
pub const DEFAULT_DATASTORE_PATH: &str = "/var/lib/calico/calico.db";
/// etcd endpoint used when `etcdv3` is selected without `ETCD_ENDPOINTS`.
pub const DEFAULT_ETCD_ENDPOINT: &str = "http://127.0.0.1:2379";

/// Which datastore to use and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatastoreConfig {
    /// The embedded SQLite file shared by the processes of one machine.
    Embedded { path: PathBuf },
    /// An etcd v3 cluster.
    Etcd(EtcdConfig),
}

/// The `spec` of a `CalicoAPIConfig` file; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiConfigSpec {
    datastore_type: Option<String>,
    datastore_path: Option<PathBuf>,
    etcd_endpoints: Option<String>,
    etcd_username: Option<String>,
    etcd_password: Option<String>,
    etcd_key_file: Option<PathBuf>,
    etcd_cert_file: Option<PathBuf>,
    #[serde(rename = "etcdCACertFile")]
    etcd_ca_cert_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiConfigFile {
    api_version: String,
    kind: String,
    #[serde(default, rename = "metadata")]
    _metadata: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    spec: ApiConfigSpec,
}

impl DatastoreConfig {
    /// The configuration calicoctl would use: `config_file` if given (it must exist), else
    /// `/etc/calico/calicoctl.cfg` if present, else the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        let default = Path::new(DEFAULT_CONFIG_FILE);
        match config_file {
            Some(file) => Self::from_file(file),
            None if default.exists() => Self::from_file(default),
            None => Self::from_env(|name| std::env::var(name).ok()),
        }
    }

    /// Reads a `CalicoAPIConfig` YAML file.
    pub fn from_file(file: &Path) -> Result<Self> {
        let fail = |what: String| Error::Config(format!("{}: {what}", file.display()));
        let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
        let doc: ApiConfigFile = serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if doc.api_version != "projectcalico.org/v3" {
            return Err(fail(format!(
                "apiVersion must be projectcalico.org/v3, not {:?}",
                doc.api_version
            )));
        }
        if doc.kind != "CalicoAPIConfig" {
            return Err(fail(format!(
                "kind must be CalicoAPIConfig, not {:?}",
                doc.kind
            )));
        }
        let spec = doc.spec;
        let settings = Settings {
            datastore_type: spec.datastore_type,
            datastore_path: spec.datastore_path,
            endpoints: spec.etcd_endpoints,
            username: spec.etcd_username,
            password: spec.etcd_password,
            key_file: spec.etcd_key_file,
            cert_file: spec.etcd_cert_file,
            ca_cert_file: spec.etcd_ca_cert_file,
        };
        settings.resolve().map_err(|e| match e {
            Error::Config(what) => fail(what),
            other => other,
        })
    }

    /// Reads the environment through `lookup` (a variable's value, if set). `CALICO_<NAME>`
    /// takes precedence over `<NAME>` when both are set; empty values count as unset.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| {
            lookup(&format!("CALICO_{name}"))
                .or_else(|| lookup(name))
                .filter(|v| !v.is_empty())
        };
        Settings {
            datastore_type: var("DATASTORE_TYPE"),
            datastore_path: var("DATASTORE_PATH").map(PathBuf::from),
            endpoints: var("ETCD_ENDPOINTS"),
            username: var("ETCD_USERNAME"),
            password: var("ETCD_PASSWORD"),
            key_file: var("ETCD_KEY_FILE").map(PathBuf::from),
            cert_file: var("ETCD_CERT_FILE").map(PathBuf::from),
            ca_cert_file: var("ETCD_CA_CERT_FILE").map(PathBuf::from),
        }
        .resolve()
    }

    /// Environment variables that make a child process (CNI plugin, calicoctl, agent) load
    /// exactly this configuration through `from_env`. Every variable is given in its
    /// `CALICO_` form, unset ones as empty strings, so nothing inherited can override them.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let pairs: [(&str, String); 8] = match self {
            Self::Embedded { path: db } => [
                ("DATASTORE_TYPE", "embedded".into()),
                ("DATASTORE_PATH", db.display().to_string()),
                ("ETCD_ENDPOINTS", String::new()),
                ("ETCD_USERNAME", String::new()),
                ("ETCD_PASSWORD", String::new()),
                ("ETCD_KEY_FILE", String::new()),
                ("ETCD_CERT_FILE", String::new()),
                ("ETCD_CA_CERT_FILE", String::new()),
            ],
            Self::Etcd(etcd) => [
                ("DATASTORE_TYPE", "etcdv3".into()),
                ("DATASTORE_PATH", String::new()),
                ("ETCD_ENDPOINTS", etcd.endpoint_list()),
                ("ETCD_USERNAME", etcd.username.clone().unwrap_or_default()),
                ("ETCD_PASSWORD", etcd.password.clone().unwrap_or_default()),
                ("ETCD_KEY_FILE", path(&etcd.key_file)),
                ("ETCD_CERT_FILE", path(&etcd.cert_file)),
                ("ETCD_CA_CERT_FILE", path(&etcd.ca_cert_file)),
            ],
        };
        pairs
            .into_iter()
            .map(|(name, value)| (format!("CALICO_{name}"), value))
            .collect()
    }
}

/// Opens the configured datastore (creating the embedded file's directory if needed).
pub async fn connect(cfg: &DatastoreConfig) -> Result<Arc<dyn Store>> {
    match cfg {
        DatastoreConfig::Embedded { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Config(format!(
                        "cannot create datastore directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            Ok(Arc::new(EmbeddedStore::open(path)?))
        }
        DatastoreConfig::Etcd(etcd) => Ok(Arc::new(EtcdStore::connect(etcd).await?)),
    }
}

/// Settings gathered from a file or the environment, before validation.
struct Settings {
    datastore_type: Option<String>,
    datastore_path: Option<PathBuf>,
    endpoints: Option<String>,
    username: Option<String>,
    password: Option<String>,
    key_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    ca_cert_file: Option<PathBuf>,
}

impl Settings {
    fn resolve(self) -> Result<DatastoreConfig> {
        match self.datastore_type.as_deref().unwrap_or("embedded") {
            "embedded" => Ok(DatastoreConfig::Embedded {
                path: self
                    .datastore_path
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATASTORE_PATH)),
            }),
            "etcdv3" => {
                let endpoints: Vec<String> = self
                    .endpoints
                    .as_deref()
                    .unwrap_or(DEFAULT_ETCD_ENDPOINT)
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(String::from)
                    .collect();
                if endpoints.is_empty() {
                    return Err(Error::Config("etcd endpoint list is empty".into()));
                }
                Ok(DatastoreConfig::Etcd(EtcdConfig {
                    endpoints,
                    ca_cert_file: self.ca_cert_file,
                    cert_file: self.cert_file,
                    key_file: self.key_file,
                    username: self.username,
                    password: self.password,
                }))
            }
            "kubernetes" => Err(Error::Config(
                "datastore type kubernetes is not supported; use embedded or etcdv3".into(),
            )),
            other => Err(Error::Config(format!(
                "unknown datastore type {other:?}; use embedded or etcdv3"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<DatastoreConfig> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DatastoreConfig::from_env(|name| map.get(name).cloned())
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf, Result<DatastoreConfig>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calicoctl.cfg");
        std::fs::write(&path, text).unwrap();
        let cfg = DatastoreConfig::from_file(&path);
        (dir, path, cfg)
    }

    fn config_error(result: Result<DatastoreConfig>) -> String {
        match result {
            Err(Error::Config(text)) => text,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn empty_environment_means_embedded_at_default_path() {
        assert_eq!(
            env(&[]).unwrap(),
            DatastoreConfig::Embedded {
                path: PathBuf::from(DEFAULT_DATASTORE_PATH)
            }
        );
        assert_eq!(
            env(&[("DATASTORE_PATH", "/tmp/x/c.db")]).unwrap(),
            DatastoreConfig::Embedded {
                path: PathBuf::from("/tmp/x/c.db")
            }
        );
    }

    #[test]
    fn etcdv3_from_environment() {
        let cfg = env(&[
            ("DATASTORE_TYPE", "etcdv3"),
            (
                "ETCD_ENDPOINTS",
                "https://10.0.0.1:2379, https://10.0.0.2:2379",
            ),
            ("ETCD_USERNAME", "calico"),
            ("ETCD_PASSWORD", "s3cret"),
            ("ETCD_KEY_FILE", "/k.pem"),
            ("ETCD_CERT_FILE", "/c.pem"),
            ("ETCD_CA_CERT_FILE", "/ca.pem"),
        ])
        .unwrap();
        assert_eq!(
            cfg,
            DatastoreConfig::Etcd(EtcdConfig {
                endpoints: vec![
                    "https://10.0.0.1:2379".into(),
                    "https://10.0.0.2:2379".into()
                ],
                ca_cert_file: Some("/ca.pem".into()),
                cert_file: Some("/c.pem".into()),
                key_file: Some("/k.pem".into()),
                username: Some("calico".into()),
                password: Some("s3cret".into()),
            })
        );
    }

    #[test]
    fn etcdv3_defaults_to_local_endpoint() {
        assert_eq!(
            env(&[("DATASTORE_TYPE", "etcdv3")]).unwrap(),
            DatastoreConfig::Etcd(EtcdConfig::new([DEFAULT_ETCD_ENDPOINT]))
        );
    }

    #[test]
    fn calico_prefix_is_accepted_and_wins() {
        let cfg = env(&[
            ("CALICO_DATASTORE_TYPE", "etcdv3"),
            ("DATASTORE_TYPE", "kubernetes"),
            ("CALICO_ETCD_ENDPOINTS", "http://127.0.0.1:1"),
            ("ETCD_ENDPOINTS", "http://127.0.0.1:2"),
            ("ETCD_USERNAME", "plain"),
        ])
        .unwrap();
        let DatastoreConfig::Etcd(etcd) = cfg else {
            panic!("expected etcd, got {cfg:?}");
        };
        assert_eq!(etcd.endpoints, vec!["http://127.0.0.1:1".to_string()]);
        assert_eq!(etcd.username.as_deref(), Some("plain"));
    }

    #[test]
    fn unsupported_types_are_refused_clearly() {
        let text = config_error(env(&[("DATASTORE_TYPE", "kubernetes")]));
        assert!(text.contains("kubernetes is not supported"), "{text}");
        let text = config_error(env(&[("DATASTORE_TYPE", "consul")]));
        assert!(text.contains("\"consul\""), "{text}");
        let text = config_error(env(&[
            ("DATASTORE_TYPE", "etcdv3"),
            ("ETCD_ENDPOINTS", " , "),
        ]));
        assert!(text.contains("empty"), "{text}");
    }

    #[test]
    fn to_env_round_trips_and_overrides_inherited_settings() {
        let configs = [
            DatastoreConfig::Embedded {
                path: PathBuf::from("/run/lab/calico.db"),
            },
            DatastoreConfig::Etcd(EtcdConfig {
                endpoints: vec!["https://127.0.0.1:1".into(), "https://127.0.0.1:2".into()],
                ca_cert_file: Some("/ca.pem".into()),
                cert_file: Some("/c.pem".into()),
                key_file: Some("/k.pem".into()),
                username: Some("u".into()),
                password: Some("p".into()),
            }),
            DatastoreConfig::Etcd(EtcdConfig::new(["http://127.0.0.1:3"])),
        ];
        for cfg in configs {
            let mut child: HashMap<String, String> = HashMap::from([
                ("ETCD_USERNAME".to_string(), "inherited".to_string()),
                ("DATASTORE_TYPE".to_string(), "kubernetes".to_string()),
            ]);
            child.extend(cfg.to_env());
            let seen = DatastoreConfig::from_env(|name| child.get(name).cloned()).unwrap();
            assert_eq!(seen, cfg);
        }
    }

    #[test]
    fn reads_calico_api_config_file() {
        let (_dir, _path, cfg) = file(
            "apiVersion: projectcalico.org/v3\n\
             kind: CalicoAPIConfig\n\
             metadata: {}\n\
             spec:\n\
             \x20 datastoreType: etcdv3\n\
             \x20 etcdEndpoints: https://127.0.0.1:2379,https://127.0.0.2:2379\n\
             \x20 etcdUsername: root\n\
             \x20 etcdPassword: pw\n\
             \x20 etcdKeyFile: /etc/calico/key.pem\n\
             \x20 etcdCertFile: /etc/calico/cert.pem\n\
             \x20 etcdCACertFile: /etc/calico/ca.pem\n",
        );
        assert_eq!(
            cfg.unwrap(),
            DatastoreConfig::Etcd(EtcdConfig {
                endpoints: vec![
                    "https://127.0.0.1:2379".into(),
                    "https://127.0.0.2:2379".into()
                ],
                ca_cert_file: Some("/etc/calico/ca.pem".into()),
                cert_file: Some("/etc/calico/cert.pem".into()),
                key_file: Some("/etc/calico/key.pem".into()),
                username: Some("root".into()),
                password: Some("pw".into()),
            })
        );
        let (_dir, _path, cfg) = file(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {}\n\
             spec:\n  datastoreType: embedded\n  datastorePath: /tmp/c.db\n",
        );
        assert_eq!(
            cfg.unwrap(),
            DatastoreConfig::Embedded {
                path: PathBuf::from("/tmp/c.db")
            }
        );
    }

    #[test]
    fn file_errors_name_the_file_and_the_problem() {
        let (_dir, path, cfg) = file(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {}\n\
             spec:\n  datastoreType: etcdv3\n  etcdEndpoint: http://127.0.0.1:2379\n",
        );
        let text = config_error(cfg);
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("etcdEndpoint"), "{text}");

        let (_dir, path, cfg) = file("apiVersion: projectcalico.org/v1\nkind: CalicoAPIConfig\n");
        let text = config_error(cfg);
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("projectcalico.org/v1"), "{text}");

        let (_dir, _path, cfg) =
            file("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {}\n");
        assert!(config_error(cfg).contains("IPPool"));

        let (_dir, _path, cfg) = file(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\n\
             spec:\n  datastoreType: kubernetes\n",
        );
        assert!(config_error(cfg).contains("not supported"));

        let missing = Path::new("/nonexistent/calicoctl.cfg");
        let text = config_error(DatastoreConfig::load(Some(missing)));
        assert!(text.contains("/nonexistent/calicoctl.cfg"), "{text}");
    }
}
