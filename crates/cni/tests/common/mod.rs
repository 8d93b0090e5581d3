//! Test harness: a test-owned "host" network namespace standing in for the node (with a
//! dummy uplink so proxy ARP has somewhere to route 169.254.1.1), pod namespaces, a real
//! embedded datastore file in a temp dir, and the plugin binaries run exactly as a runtime
//! runs them (environment + stdin, inside the host namespace). Everything is named
//! `ccnit-<pid>-...` and removed on drop, even when a test fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;

use datastore::{EmbeddedStore, ResourceClient, Store};
use serde_json::{json, Value};
#[allow(unused_imports)]
pub use testkit::run;

/// The host namespace's uplink address (what workloads ping).
pub const HOST_V4: &str = "10.99.0.1";
pub const HOST_V6: &str = "fd99::1";
/// The host namespace's uplink interface.
pub const UPLINK: &str = "uplink0";

/// A network namespace named `ccnit-<pid>-<n>-<tag>`, removed on drop.
pub struct Netns(testkit::Netns);

impl Netns {
    pub fn new(tag: &str) -> Self {
        Netns(testkit::Netns::new("ccnit", tag))
    }
}

impl Deref for Netns {
    type Target = testkit::Netns;

    fn deref(&self) -> &testkit::Netns {
        &self.0
    }
}

/// The directory holding our plugin binaries.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_calico"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// What a plugin run printed.
pub struct Ran {
    pub ok: bool,
    pub stdout: Value,
    pub stderr: String,
}

impl Ran {
    fn from(out: Output) -> Self {
        let text = String::from_utf8_lossy(&out.stdout);
        Ran {
            ok: out.status.success(),
            stdout: if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout {text:?}: {e}"))
            },
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn expect_ok(self) -> Value {
        assert!(self.ok, "plugin failed: {} {}", self.stdout, self.stderr);
        self.stdout
    }

    pub fn expect_err(self, code: u64) -> String {
        assert!(!self.ok, "plugin unexpectedly succeeded: {}", self.stdout);
        assert_eq!(self.stdout["code"], code, "{}", self.stdout);
        self.stdout["msg"].as_str().unwrap().to_string()
    }
}

/// One invocation's environment.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    pub command: &'static str,
    pub container_id: String,
    pub netns: Option<String>,
    pub ifname: String,
    pub args: String,
    pub extra_env: Vec<(String, String)>,
}

impl Invocation {
    pub fn new(command: &'static str, container_id: &str, netns: &str) -> Self {
        Invocation {
            command,
            container_id: container_id.into(),
            netns: Some(netns.into()),
            ifname: "eth0".into(),
            ..Default::default()
        }
    }

    pub fn k8s(mut self, ns: &str, pod: &str) -> Self {
        self.args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={pod}");
        self
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let cni_path = format!("{}:/usr/lib/cni", bin_dir().display());
        let mut env = vec![
            ("CNI_COMMAND".to_string(), self.command.to_string()),
            ("CNI_CONTAINERID".to_string(), self.container_id.clone()),
            ("CNI_IFNAME".to_string(), self.ifname.clone()),
            ("CNI_PATH".to_string(), cni_path),
            ("CNI_ARGS".to_string(), self.args.clone()),
            (
                "PATH".to_string(),
                "/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
        ];
        if let Some(ns) = &self.netns {
            env.push(("CNI_NETNS".to_string(), ns.clone()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// A node: its host namespace, datastore and files.
pub struct Node {
    pub host: Netns,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub store: Arc<dyn Store>,
}

impl Node {
    pub fn new() -> Self {
        let host = Netns::new("host");
        // The node's uplink (this kernel has no dummy driver: a veth pair stands in).
        host.uplink(UPLINK, "uplink1", &format!("{HOST_V4}/24"));
        host.exec(&["sysctl", "-qw", "net.ipv6.conf.uplink0.disable_ipv6=0"]);
        host.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{HOST_V6}/64"),
            "dev",
            UPLINK,
            "nodad",
        ]);
        host.ip(&["-6", "route", "add", "default", "dev", UPLINK]);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calico.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&db).unwrap());
        let node = Node {
            host,
            dir,
            db,
            rt,
            store,
        };
        // calico-node would have registered the node.
        node.apply(
            "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-1}\nspec: {}\n",
        );
        node
    }

    /// Applies resources from YAML.
    pub fn apply(&self, yaml: &str) {
        let client = ResourceClient::new(Arc::clone(&self.store));
        self.rt.block_on(async {
            for r in api::decode_documents(yaml).unwrap() {
                client.apply(r).await.unwrap();
            }
        });
    }

    pub fn pool(&self, name: &str, cidr: &str, block: u8) {
        self.apply(&format!(
            "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: {name}}}\nspec: {{cidr: {cidr}, blockSize: {block}, natOutgoing: true}}\n"
        ));
    }

    /// A Calico netconf for this node, `extra` merged in at top level.
    pub fn conf(&self, version: &str, extra: Value) -> Value {
        let mut conf = json!({
            "cniVersion": version,
            "name": "k8s-pod-network",
            "type": "calico",
            "nodename": "node-1",
            "datastore_type": "embedded",
            "datastore_path": self.db.display().to_string(),
            "ipam_lock_file": self.dir.path().join("ipam.lock").display().to_string(),
            "log_file_path": self.dir.path().join("cni.log").display().to_string(),
            "mtu": 1400,
            "ipam": {"type": "calico-ipam"},
        });
        if let (Some(base), Some(more)) = (conf.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                base.insert(k.clone(), v.clone());
            }
        }
        conf
    }

    /// Runs `binary` inside the host namespace with `inv`'s environment and `stdin`.
    pub fn run_plugin(&self, binary: &Path, inv: &Invocation, stdin: &Value) -> Ran {
        let mut child = self
            .host
            .command(binary)
            .env_clear()
            .envs(inv.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.to_string().as_bytes())
            .unwrap();
        Ran::from(child.wait_with_output().unwrap())
    }

    pub fn calico(&self, inv: &Invocation, stdin: &Value) -> Ran {
        self.run_plugin(Path::new(env!("CARGO_BIN_EXE_calico")), inv, stdin)
    }

    /// The stored WorkloadEndpoint, if any.
    pub fn wep(&self, ns: &str, name: &str) -> Option<api::WorkloadEndpoint> {
        let client = ResourceClient::new(Arc::clone(&self.store));
        match self
            .rt
            .block_on(client.get(api::Kind::WorkloadEndpoint, Some(ns), name))
        {
            Ok(api::Resource::WorkloadEndpoint(w)) => Some(w),
            Ok(_) => None,
            Err(datastore::Error::NotFound { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Who holds `ip` in IPAM.
    pub fn allocation(&self, ip: &str) -> Option<ipam::AllocationInfo> {
        let ipam = ipam::Ipam::new(Arc::clone(&self.store));
        self.rt.block_on(ipam.ip_info(ip.parse().unwrap())).unwrap()
    }

    pub fn check_report(&self) -> ipam::CheckReport {
        let ipam = ipam::Ipam::new(Arc::clone(&self.store));
        self.rt.block_on(ipam.check()).unwrap()
    }

    /// Names of the host's links starting with `cali`.
    pub fn cali_links(&self) -> Vec<String> {
        let text = self.host.ip(&["-o", "link", "show"]);
        text.lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .filter(|n| n.starts_with("cali"))
            .collect()
    }
}

/// The single address of a result's `ips[i]` without prefix.
pub fn result_ip(result: &Value, i: usize) -> String {
    let addr = result["ips"][i]["address"].as_str().unwrap();
    addr.split('/').next().unwrap().to_string()
}

/// Labels as a map, for comparisons.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
