//! The CNI network configuration a runtime would hand the `calico` plugin on one node:
//! calico-ipam, the lab's datastore, the node name, files under the lab's directory, and
//! (per invocation) the workload's labels in `args.cni.labels`.

use std::path::Path;

use datastore::DatastoreConfig;
use serde_json::{json, Map, Value};

/// The CNI network name (also the first part of IPAM handles).
pub const NETWORK_NAME: &str = "calico-lab";

/// What the node's configuration depends on.
pub struct CniConfInput<'a> {
    pub node: &'a str,
    pub datastore: &'a DatastoreConfig,
    pub ipv6: bool,
    pub log_file: &'a Path,
    pub ipam_lock_file: &'a Path,
}

/// The network configuration of one node (what would sit in `/etc/cni/net.d`).
pub fn node_conf(input: &CniConfInput<'_>) -> Value {
    let mut conf = Map::new();
    conf.insert("cniVersion".into(), json!("1.0.0"));
    conf.insert("name".into(), json!(NETWORK_NAME));
    conf.insert("type".into(), json!("calico"));
    conf.insert("nodename".into(), json!(input.node));
    match input.datastore {
        DatastoreConfig::Embedded { path } => {
            conf.insert("datastore_type".into(), json!("embedded"));
            conf.insert("datastore_path".into(), json!(path.display().to_string()));
        }
        DatastoreConfig::Etcd(etcd) => {
            conf.insert("datastore_type".into(), json!("etcdv3"));
            conf.insert("etcd_endpoints".into(), json!(etcd.endpoint_list()));
        }
    }
    conf.insert("log_level".into(), json!("info"));
    conf.insert(
        "log_file_path".into(),
        json!(input.log_file.display().to_string()),
    );
    conf.insert(
        "ipam_lock_file".into(),
        json!(input.ipam_lock_file.display().to_string()),
    );
    conf.insert("mtu".into(), json!(1500));
    conf.insert(
        "ipam".into(),
        json!({
            "type": "calico-ipam",
            "assign_ipv4": "true",
            "assign_ipv6": if input.ipv6 { "true" } else { "false" },
        }),
    );
    Value::Object(conf)
}

/// The configuration for one invocation: the node's, plus the workload's labels.
pub fn with_labels(node_conf: &Value, labels: &[(String, String)]) -> Value {
    let mut conf = node_conf.clone();
    if !labels.is_empty() {
        let labels: Vec<Value> = labels
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        conf["args"] = json!({"cni": {"labels": labels}});
    }
    conf
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use datastore::EtcdConfig;

    use super::*;

    #[test]
    fn embedded_conf_names_everything_under_the_lab() {
        let ds = DatastoreConfig::Embedded {
            path: PathBuf::from("/run/calico-lab/t/datastore/calico.db"),
        };
        let conf = node_conf(&CniConfInput {
            node: "node1",
            datastore: &ds,
            ipv6: false,
            log_file: Path::new("/l/cni.log"),
            ipam_lock_file: Path::new("/l/ipam.lock"),
        });
        assert_eq!(conf["type"], "calico");
        assert_eq!(conf["name"], NETWORK_NAME);
        assert_eq!(conf["nodename"], "node1");
        assert_eq!(conf["datastore_type"], "embedded");
        assert_eq!(
            conf["datastore_path"],
            "/run/calico-lab/t/datastore/calico.db"
        );
        assert_eq!(conf["ipam"]["type"], "calico-ipam");
        assert_eq!(conf["ipam"]["assign_ipv6"], "false");
        assert!(conf.get("args").is_none());
        let labelled = with_labels(&conf, &[("app".into(), "w1".into())]);
        assert_eq!(
            labelled["args"]["cni"]["labels"],
            json!([{"key": "app", "value": "w1"}])
        );
    }

    #[test]
    fn etcd_conf_lists_endpoints_and_v6() {
        let ds = DatastoreConfig::Etcd(EtcdConfig::new(["http://172.31.0.1:2379"]));
        let conf = node_conf(&CniConfInput {
            node: "node2",
            datastore: &ds,
            ipv6: true,
            log_file: Path::new("/l/cni.log"),
            ipam_lock_file: Path::new("/l/ipam.lock"),
        });
        assert_eq!(conf["datastore_type"], "etcdv3");
        assert_eq!(conf["etcd_endpoints"], "http://172.31.0.1:2379");
        assert_eq!(conf["ipam"]["assign_ipv6"], "true");
    }
}
