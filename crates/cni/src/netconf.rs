//! The network configuration on stdin, with Calico's JSON keys: datastore access, node name,
//! MTU, the IPAM section, logging, container settings, the `args.cni` conventions (labels,
//! ips) and `prevResult`. Unknown keys are ignored, as in Calico.

use std::collections::BTreeMap;
use std::path::Path;

use datastore::DatastoreConfig;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Calico's default node name file.
pub const DEFAULT_NODENAME_FILE: &str = "/var/lib/calico/nodename";

/// Calico's default container MTU.
pub const DEFAULT_MTU: u32 = 1500;

/// The parts of the network configuration the plugins use.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    pub datastore_type: Option<String>,
    /// Our embedded datastore file (an extension; also `DATASTORE_PATH`).
    pub datastore_path: Option<String>,
    pub etcd_endpoints: Option<String>,
    pub etcd_username: Option<String>,
    pub etcd_password: Option<String>,
    pub etcd_key_file: Option<String>,
    pub etcd_cert_file: Option<String>,
    pub etcd_ca_cert_file: Option<String>,
    pub nodename: Option<String>,
    pub nodename_file: Option<String>,
    #[serde(default)]
    pub nodename_file_optional: bool,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub ipam: IpamConf,
    pub log_level: Option<String>,
    pub log_file_path: Option<String>,
    pub ipam_lock_file: Option<String>,
    #[serde(default)]
    pub container_settings: ContainerSettings,
    #[serde(default)]
    pub args: Args,
    #[serde(rename = "runtimeConfig", default)]
    pub runtime_config: CniConventions,
    #[serde(rename = "prevResult")]
    pub prev_result: Option<Value>,
    /// GC (spec 1.1): the attachments the runtime still uses.
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Vec<ValidAttachment>,
}

/// One entry of `cni.dev/valid-attachments`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// The `ipam` section.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IpamConf {
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// `"true"` (default) or `"false"`.
    pub assign_ipv4: Option<String>,
    /// `"false"` (default) or `"true"`.
    pub assign_ipv6: Option<String>,
    #[serde(default)]
    pub ipv4_pools: Vec<String>,
    #[serde(default)]
    pub ipv6_pools: Vec<String>,
}

/// `container_settings`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ContainerSettings {
    #[serde(default)]
    pub allow_ip_forwarding: bool,
}

/// `args`: only the `cni` convention is read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Args {
    #[serde(default)]
    pub cni: CniConventions,
}

/// The CNI conventions for labels and requested addresses (`args.cni` or `runtimeConfig`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CniConventions {
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub ips: Vec<String>,
}

/// One `{key, value}` label.
#[derive(Clone, Debug, Deserialize)]
pub struct Label {
    pub key: String,
    pub value: String,
}

impl NetConf {
    /// Parses stdin: bad JSON or wrong types are decode errors (code 6); a missing `name`
    /// or `type` is an invalid configuration (code 7).
    pub fn parse(stdin: &[u8]) -> Result<Self> {
        let conf: NetConf =
            serde_json::from_slice(stdin).map_err(|e| Error::Decode(e.to_string()))?;
        if conf.name.is_empty() {
            return Err(Error::Config(
                "network configuration has no \"name\"".into(),
            ));
        }
        if conf.plugin_type.is_empty() {
            return Err(Error::Config(
                "network configuration has no \"type\"".into(),
            ));
        }
        Ok(conf)
    }

    /// The container MTU.
    pub fn mtu(&self) -> u32 {
        self.mtu.unwrap_or(DEFAULT_MTU)
    }

    /// Whether IPv4 / IPv6 addresses are requested from IPAM.
    pub fn families(&self) -> Result<(bool, bool)> {
        let flag = |v: &Option<String>, default: bool, key: &str| match v.as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(Error::Config(format!(
                "ipam.{key} must be \"true\" or \"false\", not {other:?}"
            ))),
        };
        let v4 = flag(&self.ipam.assign_ipv4, true, "assign_ipv4")?;
        let v6 = flag(&self.ipam.assign_ipv6, false, "assign_ipv6")?;
        if !v4 && !v6 {
            return Err(Error::Config(
                "ipam: assign_ipv4 and assign_ipv6 are both false; nothing to assign".into(),
            ));
        }
        Ok((v4, v6))
    }

    /// Labels from `args.cni.labels` then `runtimeConfig.labels` (later wins).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.args
            .cni
            .labels
            .iter()
            .chain(&self.runtime_config.labels)
            .map(|l| (l.key.clone(), l.value.clone()))
            .collect()
    }

    /// Addresses requested through `args.cni.ips` / `runtimeConfig.ips`.
    pub fn requested_ips(&self) -> Vec<String> {
        self.args
            .cni
            .ips
            .iter()
            .chain(&self.runtime_config.ips)
            .cloned()
            .collect()
    }

    /// The datastore to use: netconf keys override the environment (as Calico exports its
    /// netconf datastore settings into the environment before connecting).
    pub fn datastore_config(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DatastoreConfig> {
        let from_conf = |name: &str| -> Option<String> {
            match name {
                "DATASTORE_TYPE" => self.datastore_type.clone(),
                "DATASTORE_PATH" => self.datastore_path.clone(),
                "ETCD_ENDPOINTS" => self.etcd_endpoints.clone(),
                "ETCD_USERNAME" => self.etcd_username.clone(),
                "ETCD_PASSWORD" => self.etcd_password.clone(),
                "ETCD_KEY_FILE" => self.etcd_key_file.clone(),
                "ETCD_CERT_FILE" => self.etcd_cert_file.clone(),
                "ETCD_CA_CERT_FILE" => self.etcd_ca_cert_file.clone(),
                _ => None,
            }
            .filter(|v| !v.is_empty())
        };
        DatastoreConfig::from_env(|name| match name.strip_prefix("CALICO_") {
            Some(plain) => from_conf(plain).or_else(|| env(name)),
            None => env(name),
        })
        .map_err(|e| Error::Config(e.to_string()))
    }

    /// The Calico node name: `nodename`, else `NODENAME`, else the node name file, else
    /// the host name.
    pub fn node_name(&self, env: impl Fn(&str) -> Option<String>) -> Result<String> {
        if let Some(n) = self.nodename.as_ref().filter(|n| !n.is_empty()) {
            return Ok(n.clone());
        }
        if let Some(n) = env("NODENAME").filter(|n| !n.is_empty()) {
            return Ok(n);
        }
        let file = self
            .nodename_file
            .as_deref()
            .unwrap_or(DEFAULT_NODENAME_FILE);
        match std::fs::read_to_string(Path::new(file)) {
            Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("reading node name file {file}"), e)),
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| Error::io("reading the host name", e))?;
        Ok(host.trim().to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const CONF: &str = r#"{
        "cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "calico",
        "datastore_type": "etcdv3", "etcd_endpoints": "http://127.0.0.1:1",
        "nodename": "node-1", "mtu": 1440, "log_level": "info",
        "ipam": {"type": "calico-ipam", "assign_ipv6": "true", "ipv4_pools": ["p1"]},
        "container_settings": {"allow_ip_forwarding": true},
        "args": {"cni": {"labels": [{"key": "app", "value": "web"}], "ips": ["10.0.0.9"]}},
        "somethingElse": {"ignored": true}
    }"#;

    #[test]
    fn parses_calico_keys() {
        let c = NetConf::parse(CONF.as_bytes()).unwrap();
        assert_eq!(c.mtu(), 1440);
        assert_eq!(c.families().unwrap(), (true, true));
        assert_eq!(c.ipam.ipv4_pools, vec!["p1"]);
        assert!(c.container_settings.allow_ip_forwarding);
        assert_eq!(c.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(c.requested_ips(), vec!["10.0.0.9"]);
        assert_eq!(c.node_name(|_| None).unwrap(), "node-1");
    }

    #[test]
    fn malformed_and_incomplete_configs() {
        assert_eq!(NetConf::parse(b"{not json").unwrap_err().code(), 6);
        assert_eq!(NetConf::parse(br#"{"name": 5}"#).unwrap_err().code(), 6);
        assert_eq!(
            NetConf::parse(br#"{"type": "calico"}"#).unwrap_err().code(),
            7
        );
        let c =
            NetConf::parse(br#"{"name":"n","type":"calico","ipam":{"assign_ipv4":"no"}}"#).unwrap();
        assert_eq!(c.families().unwrap_err().code(), 7);
    }

    #[test]
    fn netconf_datastore_settings_override_environment() {
        let c = NetConf::parse(CONF.as_bytes()).unwrap();
        let env: HashMap<&str, &str> = HashMap::from([("ETCD_ENDPOINTS", "http://10.0.0.1:2379")]);
        let cfg = c
            .datastore_config(|n| env.get(n).map(|v| v.to_string()))
            .unwrap();
        let DatastoreConfig::Etcd(etcd) = cfg else {
            panic!("expected etcd")
        };
        assert_eq!(etcd.endpoints, vec!["http://127.0.0.1:1"]);

        let plain = NetConf::parse(br#"{"name":"n","type":"calico"}"#).unwrap();
        let cfg = plain
            .datastore_config(|n| (n == "DATASTORE_PATH").then(|| "/tmp/x.db".to_string()))
            .unwrap();
        assert_eq!(
            cfg,
            DatastoreConfig::Embedded {
                path: "/tmp/x.db".into()
            }
        );
    }

    #[test]
    fn node_name_falls_back_to_env_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nodename");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut c = NetConf::parse(br#"{"name":"n","type":"calico"}"#).unwrap();
        c.nodename_file = Some(file.display().to_string());
        assert_eq!(
            c.node_name(|n| (n == "NODENAME").then(|| "from-env".to_string()))
                .unwrap(),
            "from-env"
        );
        assert_eq!(c.node_name(|_| None).unwrap(), "from-file");
    }
}
