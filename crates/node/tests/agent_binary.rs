//! The real `calico-node` binary: started inside a private network namespace with an embedded
//! datastore file, it registers its Node with the address of the namespace's veth, creates
//! ClusterInformation and the default pool, answers health and metrics inside the namespace,
//! serves its status socket and exits 0 on SIGTERM. Also: clear one-line failures.
//!
//! Needs root (network namespaces). Everything is created in namespaces named
//! `cnodet-<pid>-...`, removed by a guard even when the test fails.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{Kind, Resource};
use datastore::{EmbeddedStore, ResourceClient};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BINARY: &str = env!("CARGO_BIN_EXE_calico-node");

/// Network namespaces owned by one test; deleted on drop.
struct Namespaces(Vec<String>);

impl Namespaces {
    fn create(tag: &str, count: usize) -> Namespaces {
        let mut owned = Namespaces(Vec::new());
        for i in 0..count {
            let name = format!("cnodet-{}-{tag}{i}", std::process::id());
            ip(&["netns", "add", &name]);
            owned.0.push(name);
        }
        owned
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Kills a child we started (by its PID) if the test ends before it exits.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_config(dir: &Path, db: &Path) -> PathBuf {
    let path = dir.join("calico.cfg");
    let text = format!(
        "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: embedded\n  datastorePath: {}\n",
        db.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// An HTTP/1.0 GET from inside namespace `ns`: (status code, body).
fn http_get_in(ns: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let ns_file = format!("/var/run/netns/{ns}");
    let path = path.to_string();
    std::thread::spawn(move || {
        // Only this short-lived thread moves into the namespace.
        setns(File::open(ns_file).ok()?, CloneFlags::CLONE_NEWNET).ok()?;
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((code, body))
    })
    .join()
    .ok()
    .flatten()
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn registers_node_serves_health_and_stops_on_sigterm() {
    let nets = Namespaces::create("a", 2);
    let (node_ns, peer_ns) = (&nets.0[0], &nets.0[1]);
    ip(&[
        "-n", node_ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0", "netns",
        peer_ns,
    ]);
    ip(&["-n", node_ns, "addr", "add", "10.231.7.2/24", "dev", "eth0"]);
    ip(&["-n", node_ns, "link", "set", "eth0", "up"]);
    ip(&["-n", node_ns, "link", "set", "lo", "up"]);
    ip(&[
        "-n",
        peer_ns,
        "addr",
        "add",
        "10.231.7.1/24",
        "dev",
        "peer0",
    ]);
    ip(&["-n", peer_ns, "link", "set", "peer0", "up"]);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calico.db");
    let config = write_config(dir.path(), &db);
    let state = dir.path().join("state");
    let socket = dir.path().join("status.sock");
    let recording = dir.path().join("events.jsonl");
    // `ip netns exec` execs the binary in place, so the child's PID is the agent's.
    let child = Command::new("ip")
        .args(["netns", "exec", node_ns, BINARY, "-c"])
        .arg(&config)
        .arg("--status-socket")
        .arg(&socket)
        .arg("--record-events")
        .arg(&recording)
        .env("NODENAME", "test-node")
        .env("AS", "64513")
        .env("CALICO_STATE_DIR", &state)
        .env("CLUSTER_TYPE", "bgp")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let pid = Pid::from_raw(guard.0.as_ref().unwrap().id() as i32);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = wait_for("an in-sync status report", || {
        runtime
            .block_on(node::status::query(&socket))
            .ok()
            .filter(|s| s.in_sync)
    });
    assert_eq!(status.node_name, "test-node");
    assert_eq!(status.ipv4_address.as_deref(), Some("10.231.7.2/24"));
    assert_eq!(status.as_number, Some(64513));
    assert!(status.bgp_peers.is_empty());
    assert_eq!(status.resources.get("Node"), Some(&1));

    // What it registered, read through a separate handle on the same datastore file.
    let client = ResourceClient::new(Arc::new(EmbeddedStore::open(&db).unwrap()));
    let Resource::Node(registered) = runtime
        .block_on(client.get(Kind::Node, None, "test-node"))
        .unwrap()
    else {
        panic!("not a Node")
    };
    let bgp = registered.spec.bgp.unwrap();
    assert_eq!(bgp.ipv4_address, "10.231.7.2/24");
    assert_eq!(bgp.ipv6_address, "");
    assert_eq!(bgp.as_number.map(|a| a.0), Some(64513));
    let Resource::ClusterInformation(info) = runtime
        .block_on(client.get(Kind::ClusterInformation, None, "default"))
        .unwrap()
    else {
        panic!("not ClusterInformation")
    };
    assert_eq!(info.spec.datastore_ready, Some(true));
    assert_eq!(info.spec.cluster_type, "bgp");
    assert_eq!(info.spec.cluster_guid.len(), 32);
    let Resource::IPPool(pool) = runtime
        .block_on(client.get(Kind::IPPool, None, "default-ipv4-ippool"))
        .unwrap()
    else {
        panic!("not an IPPool")
    };
    assert_eq!(pool.spec.cidr, "192.168.0.0/16");
    assert_eq!(
        std::fs::read_to_string(state.join("nodename")).unwrap(),
        "test-node"
    );

    // Health and metrics answer inside the node's namespace.
    let (code, body) = wait_for("readiness", || http_get_in(node_ns, 9099, "/readiness"));
    assert_eq!(code, 200, "{body}");
    let (code, _) = http_get_in(node_ns, 9099, "/liveness").unwrap();
    assert_eq!(code, 200);
    let (code, metrics) = http_get_in(node_ns, 9091, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("felix_resyncs_started_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("felix_int_dataplane_apply_time_seconds"),
        "{metrics}"
    );

    // A later write reaches the agent through its syncer.
    runtime
        .block_on(client.create(Resource::Profile(api::Profile {
            metadata: api::ObjectMeta::named("p1"),
            ..Default::default()
        })))
        .unwrap();
    wait_for("the profile in the status counts", || {
        runtime
            .block_on(node::status::query(&socket))
            .ok()
            .filter(|s| s.resources.get("Profile") == Some(&1))
    });

    // A datastore migration (datastoreReady: false) makes the agent not ready, and back.
    for (flag, code) in [(false, 503), (true, 200)] {
        let Resource::ClusterInformation(mut info) = runtime
            .block_on(client.get(Kind::ClusterInformation, None, "default"))
            .unwrap()
        else {
            panic!("not ClusterInformation")
        };
        info.spec.datastore_ready = Some(flag);
        runtime
            .block_on(client.update(Resource::ClusterInformation(info)))
            .unwrap();
        wait_for("readiness to follow datastoreReady", || {
            http_get_in(node_ns, 9099, "/readiness").filter(|(c, _)| *c == code)
        });
    }

    kill(pid, Signal::SIGTERM).unwrap();
    let mut child = guard.0.take().unwrap();
    let exit = wait_for("the agent to exit", || child.try_wait().unwrap());
    assert!(exit.success(), "{exit:?}");
    assert!(!socket.exists(), "status socket removed on exit");

    // The recorded input replays into the model the agent held.
    let mut replayed = node::model::Model::default();
    for update in node::record::read(&recording).unwrap() {
        replayed.apply(update);
    }
    assert!(replayed.in_sync());
    assert_eq!(replayed.counts().get("Profile"), Some(&1));
    assert_eq!(replayed.counts().get("Node"), Some(&1));
    assert_eq!(
        replayed
            .node("test-node")
            .unwrap()
            .spec
            .bgp
            .as_ref()
            .unwrap()
            .ipv4_address,
        "10.231.7.2/24"
    );
}

#[test]
fn autodetects_with_can_reach_and_ipv6_without_servers() {
    let nets = Namespaces::create("b", 2);
    let (node_ns, peer_ns) = (&nets.0[0], &nets.0[1]);
    // Two links; the route to 10.232.8.1 leaves by the second.
    for (dev, peer, v4, v6) in [
        ("eth0", "peer0", "10.231.8.2/24", "fd00:231:8::2/64"),
        ("eth1", "peer1", "10.232.8.2/24", "fd00:232:8::2/64"),
    ] {
        ip(&[
            "-n", node_ns, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
            peer_ns,
        ]);
        ip(&["-n", node_ns, "addr", "add", v4, "dev", dev]);
        ip(&["-n", node_ns, "addr", "add", v6, "dev", dev, "nodad"]);
        ip(&["-n", node_ns, "link", "set", dev, "up"]);
        ip(&["-n", peer_ns, "link", "set", peer, "up"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calico.db");
    let config = write_config(dir.path(), &db);
    let socket = dir.path().join("status.sock");
    let child = Command::new("ip")
        .args(["netns", "exec", node_ns, BINARY, "-c"])
        .arg(&config)
        .arg("--status-socket")
        .arg(&socket)
        .env("NODENAME", "reach-node")
        .env("CALICO_STATE_DIR", dir.path().join("state"))
        .env("IP_AUTODETECTION_METHOD", "can-reach=10.232.8.1")
        .env("IP6", "autodetect")
        .env("IP6_AUTODETECTION_METHOD", "cidr=fd00:231::/32")
        .env("CALICO_DATAPLANE", "none")
        .env("FELIX_HEALTHENABLED", "false")
        .env("FELIX_PROMETHEUSMETRICSENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let pid = Pid::from_raw(guard.0.as_ref().unwrap().id() as i32);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = wait_for("an in-sync status report", || {
        runtime
            .block_on(node::status::query(&socket))
            .ok()
            .filter(|s| s.in_sync)
    });
    assert_eq!(status.ipv4_address.as_deref(), Some("10.232.8.2/24"));
    assert_eq!(status.ipv6_address.as_deref(), Some("fd00:231:8::2/64"));
    assert_eq!(
        status.resources.get("IPPool"),
        Some(&2),
        "v4 and v6 default pools"
    );
    assert!(
        http_get_in(node_ns, 9099, "/liveness").is_none(),
        "health disabled"
    );
    kill(pid, Signal::SIGTERM).unwrap();
    let mut child = guard.0.take().unwrap();
    let exit = wait_for("the agent to exit", || child.try_wait().unwrap());
    assert!(exit.success(), "{exit:?}");
}

fn run_failing(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("status.sock");
    let mut cmd = Command::new(BINARY);
    cmd.args(args)
        .arg("--status-socket")
        .arg(&socket)
        .env("NODENAME", "fail-node")
        .env("CALICO_STATE_DIR", dir.path().join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(!socket.exists());
    out
}

fn one_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("calico-node: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"))
        .to_string();
    line
}

#[test]
fn refuses_to_start_without_a_datastore() {
    let out = run_failing(&["-c", "/nonexistent/calico.cfg"], &[]);
    let line = one_line(&out);
    assert!(line.contains("/nonexistent/calico.cfg"), "{line}");
    let out = run_failing(
        &[],
        &[
            ("DATASTORE_TYPE", "embedded"),
            ("DATASTORE_PATH", "/proc/calico-node-test/calico.db"),
        ],
    );
    let line = one_line(&out);
    assert!(line.contains("datastore"), "{line}");
}

#[test]
fn refuses_to_start_without_nft_when_the_dataplane_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calico.db");
    let out = run_failing(
        &[],
        &[
            ("DATASTORE_TYPE", "embedded"),
            ("DATASTORE_PATH", db.to_str().unwrap()),
            ("PATH", "/nonexistent"),
        ],
    );
    let line = one_line(&out);
    assert!(line.contains("nft"), "{line}");
    // Nothing was registered before the check failed.
    let client = ResourceClient::new(Arc::new(EmbeddedStore::open(&db).unwrap()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime
        .block_on(client.get(Kind::Node, None, "fail-node"))
        .is_err());
}

#[test]
fn refuses_an_address_another_node_uses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calico.db");
    let client = ResourceClient::new(Arc::new(EmbeddedStore::open(&db).unwrap()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let other = api::Node {
        metadata: api::ObjectMeta::named("other"),
        spec: api::NodeSpec {
            bgp: Some(api::NodeBgpSpec {
                ipv4_address: "10.231.9.9/24".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    runtime
        .block_on(client.create(Resource::Node(other)))
        .unwrap();
    // A fixed address: nothing is autodetected, and no server binds in this namespace.
    let out = run_failing(
        &[],
        &[
            ("DATASTORE_TYPE", "embedded"),
            ("DATASTORE_PATH", db.to_str().unwrap()),
            ("IP", "10.231.9.9"),
            ("CALICO_DATAPLANE", "none"),
            ("FELIX_HEALTHENABLED", "false"),
            ("FELIX_PROMETHEUSMETRICSENABLED", "false"),
        ],
    );
    let line = one_line(&out);
    assert!(
        line.contains("\"other\"") && line.contains("10.231.9.9"),
        "{line}"
    );
    // Nothing was written.
    assert!(runtime
        .block_on(client.get(Kind::Node, None, "fail-node"))
        .is_err());
    assert!(runtime
        .block_on(client.get(Kind::ClusterInformation, None, "default"))
        .is_err());
}
