//! End-to-end tests of `calico-lab` with real namespaces, the real `calico`/`calico-ipam` CNI
//! plugins, calico-node and the embedded datastore. Each test owns a lab name (so its own
//! namespace prefix) and a temporary state directory, and a guard takes the lab down even
//! when the test fails. Needs root and the sibling binaries built
//! (`cargo build -p cni -p node -p ctl`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use api::{Kind, Resource};
use datastore::{DatastoreConfig, ResourceClient};
use ipnet::IpNet;
use serde_json::Value;
use testkit::netns;

mod common;
use common::Turn;

const LAB: &str = env!("CARGO_BIN_EXE_calico-lab");

/// A lab owned by one test; dropping it runs `down` and removes any namespace left with its
/// prefix, then lets the next test's labs start.
struct TestLab {
    name: String,
    dir: tempfile::TempDir,
    _turn: Turn,
}

impl TestLab {
    fn new(tag: &str) -> TestLab {
        let bin_dir = Path::new(LAB).parent().expect("binary has a directory");
        for needed in ["calico", "calico-ipam", "calico-node", "calicoctl"] {
            assert!(
                bin_dir.join(needed).is_file(),
                "{} is missing: build the sibling binaries first (cargo build -p cni -p node -p ctl)",
                bin_dir.join(needed).display()
            );
        }
        let turn = Turn::take();
        TestLab {
            // `lg`, the last four digits of the PID, the test's tag: namespaces of its own.
            name: format!("lg{:04}{tag}", std::process::id() % 10_000),
            dir: tempfile::tempdir().expect("temporary directory"),
            _turn: turn,
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        common::calico_lab(&self.name, self.dir.path(), args)
    }

    /// Runs calico-lab and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        common::calico_lab_ok(&self.name, self.dir.path(), args)
    }

    /// `matrix ARGS -o json`.
    fn matrix(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = ["matrix"]
            .iter()
            .chain(args)
            .chain(&["-o", "json"])
            .copied()
            .collect();
        self.json(&args)
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    fn namespaces(&self) -> Vec<String> {
        netns::list_with_prefix(&format!("{}-", self.name))
    }

    /// The WorkloadEndpoints in the lab's embedded datastore, read directly.
    fn endpoints(&self) -> Vec<(String, String, Vec<String>)> {
        let path = self.state_dir().join("datastore/calico.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = datastore::connect(&DatastoreConfig::Embedded { path })
                .await
                .unwrap();
            let items = ResourceClient::new(store)
                .list(Kind::WorkloadEndpoint, None, "")
                .await
                .unwrap()
                .items;
            items
                .into_iter()
                .filter_map(|r| match r {
                    Resource::WorkloadEndpoint(w) => {
                        Some((w.spec.pod, w.spec.node, w.spec.ip_networks))
                    }
                    _ => None,
                })
                .collect()
        })
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.cmd(&["down"]);
        for ns in self.namespaces() {
            netns::delete(&ns);
        }
    }
}

/// Whether a process exists and has not exited (zombies count as exited).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s[s.rfind(')')? + 1..].to_string();
            rest.split_whitespace()
                .next()
                .map(|st| st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

/// Panics with the silent pairs unless every pair of `matrix` answered.
fn assert_all_reachable(matrix: &Value, what: &str) {
    let pairs = matrix["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty(), "no pairs: {matrix}");
    let silent: Vec<String> = pairs
        .iter()
        .filter(|p| p["reachable"] != true)
        .map(|p| format!("{} -> {}", p["from"], p["to"]))
        .collect();
    assert!(silent.is_empty(), "{what}: silent pairs {silent:?}");
}

fn pair(matrix: &Value, from: &str, to: &str) -> bool {
    matrix["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == from && p["to"] == to)
        .unwrap_or_else(|| panic!("no pair {from} -> {to} in {matrix}"))["reachable"]
        .as_bool()
        .unwrap()
}

#[test]
fn up_two_nodes_shows_status_endpoints_and_every_pair_reachable() {
    let lab = TestLab::new("a");
    lab.ok(&[
        "up",
        "--nodes",
        "2",
        "--workloads",
        "2",
        "--pool",
        "10.77.0.0/16",
    ]);
    let pool: IpNet = "10.77.0.0/16".parse().unwrap();

    let status = lab.json(&["status", "-o", "json"]);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["name"], "node1");
    assert_eq!(nodes[0]["namespace"], format!("{}-node1", lab.name));
    assert_eq!(nodes[1]["address"], "172.31.0.12/24");
    assert_eq!(nodes[1]["as_number"], 64512);
    for n in nodes {
        assert_eq!(n["agent_running"], true, "calico-node not running: {n}");
        assert_eq!(n["registered"], true, "Node not registered: {n}");
    }
    let workloads = status["workloads"].as_array().unwrap();
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node1-w1", "node1-w2", "node2-w1", "node2-w2"]);
    for w in workloads {
        let addr: IpAddr = w["addresses"][0].as_str().unwrap().parse().unwrap();
        assert!(pool.contains(&addr), "{addr} not in {pool}");
        assert!(w["endpoint"].is_string(), "no WorkloadEndpoint for {w}");
        assert_eq!(
            w["labels"][0],
            serde_json::json!(["app", w["name"].as_str().unwrap()[6..]])
        );
    }

    // The CNI plugin recorded one endpoint per workload, on the right node.
    let endpoints = lab.endpoints();
    let seen: BTreeSet<(String, String)> = endpoints
        .iter()
        .map(|(pod, node, nets)| {
            assert_eq!(nets.len(), 1);
            (pod.clone(), node.clone())
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("node1-w1", "node1"),
        ("node1-w2", "node1"),
        ("node2-w1", "node2"),
        ("node2-w2", "node2"),
    ]
    .iter()
    .map(|(p, n)| (p.to_string(), n.to_string()))
    .collect();
    assert_eq!(seen, want);

    // `up` returned once every endpoint was programmed and the mesh had exchanged routes:
    // every pair answers at once, on every protocol, same node and across.
    for proto in ["tcp", "udp", "icmp"] {
        let matrix = lab.matrix(&["--proto", proto]);
        assert_eq!(matrix["pairs"].as_array().unwrap().len(), 12);
        assert_all_reachable(&matrix, proto);
    }
    let table = lab.ok(&["matrix"]);
    assert!(
        table.contains("node2-w2") && table.contains("pairs reachable"),
        "{table}"
    );
}

#[test]
fn workload_add_and_del_go_through_the_cni_plugin() {
    let lab = TestLab::new("b");
    lab.ok(&["up", "--nodes", "1", "--workloads", "1"]);
    let out = lab.ok(&[
        "workload",
        "add",
        "db",
        "--node",
        "node1",
        "--ip",
        "10.244.0.200",
        "--labels",
        "app=db,tier=back",
    ]);
    assert!(out.contains("10.244.0.200"), "{out}");
    assert!(lab.namespaces().contains(&format!("{}-db", lab.name)));

    let status = lab.json(&["status", "-o", "json"]);
    let db = status["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "db")
        .expect("db in status")
        .clone();
    assert_eq!(db["addresses"], serde_json::json!(["10.244.0.200"]));
    assert_eq!(
        db["labels"],
        serde_json::json!([["app", "db"], ["tier", "back"]])
    );
    assert!(db["endpoint"].is_string());
    assert!(lab
        .endpoints()
        .iter()
        .any(|(pod, _, nets)| pod == "db" && nets == &["10.244.0.200/32".to_string()]));

    // `workload add` returned once the agent had programmed db: it answers at once.
    let matrix = lab.matrix(&[]);
    assert!(pair(&matrix, "node1-w1", "db"), "{matrix}");
    assert!(pair(&matrix, "db", "node1-w1"), "{matrix}");

    // Refusals: a taken name, an unknown node.
    assert!(!lab
        .cmd(&["workload", "add", "db", "--node", "node1"])
        .status
        .success());
    let out = lab.cmd(&["workload", "add", "x", "--node", "node9"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node \"node9\""));

    lab.ok(&["workload", "del", "db"]);
    assert!(!lab.namespaces().contains(&format!("{}-db", lab.name)));
    assert!(!lab.endpoints().iter().any(|(pod, _, _)| pod == "db"));
    let status = lab.json(&["status", "-o", "json"]);
    assert_eq!(status["workloads"].as_array().unwrap().len(), 1);
    // The address went back to the pool: a new workload may take it again.
    let out = lab.ok(&[
        "workload",
        "add",
        "db2",
        "--node",
        "node1",
        "--ip",
        "10.244.0.200",
    ]);
    assert!(out.contains("10.244.0.200"), "{out}");

    // With the node's agent gone, nothing programs a new workload: `workload add` says so at
    // once instead of returning a workload whose traffic is dropped.
    let state: Value =
        serde_json::from_slice(&std::fs::read(lab.state_dir().join("state.json")).unwrap())
            .unwrap();
    let agent = state["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "calico-node node1")
        .expect("agent recorded")["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(agent).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = lab.cmd(&["workload", "add", "late", "--node", "node1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("workload late was created on node1 but is not ready")
            && err.contains("calico-node on node1 is not running"),
        "{err}"
    );
}

#[test]
fn down_leaves_no_namespace_or_process() {
    let lab = TestLab::new("c");
    lab.ok(&["up", "--nodes", "2", "--workloads", "1"]);
    let state: Value =
        serde_json::from_slice(&std::fs::read(lab.state_dir().join("state.json")).unwrap())
            .unwrap();
    let pids: Vec<u64> = state["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    // Two calico-nodes and two responders.
    assert_eq!(pids.len(), 4, "{state}");
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(lab.namespaces().len(), 5);

    let out = lab.ok(&["down"]);
    assert!(out.contains("is down"), "{out}");
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    let survivors: Vec<u64> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(survivors.is_empty(), "still running: {survivors:?}");
    assert!(!lab.state_dir().exists());
    // A second down finds nothing and still succeeds.
    assert!(lab.ok(&["down"]).contains("nothing to remove"));
}

#[test]
fn up_refuses_when_already_up_or_a_namespace_collides() {
    let lab = TestLab::new("d");
    lab.ok(&["up", "--nodes", "1", "--workloads", "0"]);
    let out = lab.cmd(&["up", "--nodes", "1", "--workloads", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already up"), "{err}");
    // The running lab is untouched.
    assert_eq!(lab.namespaces().len(), 2);

    let other = TestLab::new("e");
    let squatter = format!("{}-node1", other.name);
    assert!(Command::new("ip")
        .args(["netns", "add", &squatter])
        .status()
        .unwrap()
        .success());
    let out = other.cmd(&["up", "--nodes", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&squatter) && err.contains("already exist"),
        "{err}"
    );
    assert!(!other.state_dir().exists());
}

#[test]
fn exec_runs_in_the_right_namespace_with_the_lab_datastore() {
    let lab = TestLab::new("f");
    lab.ok(&["up", "--nodes", "1", "--workloads", "1"]);
    let node = lab.ok(&[
        "exec", "node1", "--", "ip", "-4", "-br", "addr", "show", "eth0",
    ]);
    assert!(node.contains("172.31.0.11/24"), "{node}");
    let fabric = lab.ok(&[
        "exec", "fabric", "--", "ip", "-4", "-br", "addr", "show", "fabric",
    ]);
    assert!(fabric.contains("172.31.0.1/24"), "{fabric}");
    let workload = lab.ok(&[
        "exec", "node1-w1", "--", "ip", "-4", "-br", "addr", "show", "eth0",
    ]);
    let status = lab.json(&["status", "-o", "json"]);
    let addr = status["workloads"][0]["addresses"][0].as_str().unwrap();
    assert!(workload.contains(&format!("{addr}/32")), "{workload}");
    let env = lab.ok(&[
        "exec",
        "node1",
        "--",
        "sh",
        "-c",
        "echo $CALICO_DATASTORE_PATH $NODENAME",
    ]);
    assert!(
        env.contains(&format!(
            "{}/datastore/calico.db node1",
            lab.state_dir().display()
        )),
        "{env}"
    );
    // calicoctl there talks to the lab's datastore.
    let nodes = lab.ok(&["exec", "node1", "--", "calicoctl", "get", "nodes"]);
    assert!(nodes.contains("node1"), "{nodes}");
    // The exit code comes through; unknown members are refused.
    assert_eq!(
        lab.cmd(&["exec", "node1", "--", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    let out = lab.cmd(&["exec", "node7", "--", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no member \"node7\""));
}

/// The status's ToR sessions, as (peer, peer_type) pairs.
fn tor_peers(status: &Value) -> BTreeSet<(String, String)> {
    status["tor"]["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no ToR sessions in {status}"))
        .iter()
        .map(|s| {
            (
                s["peer"].as_str().unwrap().to_string(),
                s["peer_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn tor_peering_with_bird_on_a_real_etcd() {
    let lab = TestLab::new("g");
    lab.ok(&[
        "up",
        "--nodes",
        "2",
        "--workloads",
        "2",
        "--datastore",
        "etcd",
        "--peering",
        "tor",
        "--tor",
        "bird",
    ]);
    let status = lab.json(&["status", "-o", "json"]);
    assert!(
        status["datastore"].as_str().unwrap().contains("etcd"),
        "{status}"
    );
    assert_eq!(status["peering"], "tor");
    assert_eq!(status["tor"]["router"], "bird");
    assert_eq!(status["tor"]["address"], "172.31.0.1");
    assert_eq!(status["tor"]["as_number"], 65000);
    assert_eq!(status["tor"]["running"], true);
    // Each node in its own AS, registered through etcd.
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["as_number"], 65001);
    assert_eq!(nodes[1]["as_number"], 65002);
    assert!(nodes.iter().all(|n| n["registered"] == true), "{status}");
    // BIRD has one session configured per node (whether it is up depends on calico-node).
    let want: BTreeSet<(String, String)> = [
        ("172.31.0.11".to_string(), "ebgp node1".to_string()),
        ("172.31.0.12".to_string(), "ebgp node2".to_string()),
    ]
    .into();
    assert_eq!(tor_peers(&status), want);
    // Workloads were recorded in etcd; same-node pairs answer.
    assert!(status["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["endpoint"].is_string()));
    // Every pair answers right after `up`, across nodes through BIRD.
    assert_all_reachable(&lab.matrix(&[]), "tcp");
    // calicoctl inside a node reaches the lab's etcd.
    let nodes = lab.ok(&["exec", "node2", "--", "calicoctl", "get", "nodes"]);
    assert!(
        nodes.contains("node1") && nodes.contains("node2"),
        "{nodes}"
    );
    let bgp = lab.ok(&[
        "exec",
        "node1",
        "--",
        "calicoctl",
        "get",
        "bgpconfigurations",
        "-o",
        "json",
    ]);
    assert!(bgp.contains("\"nodeToNodeMeshEnabled\": false"), "{bgp}");
}

#[test]
fn tor_peering_with_frr_dual_stack() {
    let lab = TestLab::new("h");
    lab.ok(&[
        "up",
        "--nodes",
        "2",
        "--workloads",
        "2",
        "--peering",
        "tor",
        "--tor",
        "frr",
        "--ipv6",
    ]);
    let status = lab.json(&["status", "-o", "json"]);
    assert_eq!(status["tor"]["router"], "frr");
    assert_eq!(status["tor"]["address6"], "fd00:172:31::1");
    assert_eq!(status["nodes"][1]["address6"], "fd00:172:31::12/64");
    let peers: BTreeSet<String> = tor_peers(&status).into_iter().map(|(p, _)| p).collect();
    let want: BTreeSet<String> = [
        "172.31.0.11",
        "172.31.0.12",
        "fd00:172:31::11",
        "fd00:172:31::12",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(peers, want);
    let pool6: IpNet = "fd00:10:244::/64".parse().unwrap();
    for w in status["workloads"].as_array().unwrap() {
        let addrs: Vec<IpAddr> = w["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().parse().unwrap())
            .collect();
        assert!(
            addrs.iter().any(|a| pool6.contains(a)),
            "no IPv6 address: {w}"
        );
        assert!(addrs.iter().any(IpAddr::is_ipv4), "no IPv4 address: {w}");
    }
    // Both families, across nodes through FRR, right after `up`.
    assert_all_reachable(&lab.matrix(&[]), "tcp");
    assert_all_reachable(&lab.matrix(&["--ipv6"]), "tcp over IPv6");
}

/// The fabric's routes of protocol `proto` (IPv4 or IPv6): destination -> gateway.
fn fabric_routes(lab: &TestLab, v6: bool, proto: &str) -> Vec<(String, String)> {
    let ns = format!("{}-fabric", lab.name);
    let family = if v6 { "-6" } else { "-4" };
    let out = Command::new("ip")
        .args(["-n", &ns, family, "route", "show", "proto", proto])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let via = f.iter().position(|w| *w == "via")?;
            Some((f[0].to_string(), f.get(via + 1)?.to_string()))
        })
        .collect()
}

/// The blocks node `node` blackholes (proto 80), IPv4 or IPv6.
fn own_blocks(lab: &TestLab, node: &str, v6: bool) -> Vec<String> {
    let ns = format!("{}-{node}", lab.name);
    let family = if v6 { "-6" } else { "-4" };
    let out = Command::new("ip")
        .args([
            "-n",
            &ns,
            family,
            "route",
            "show",
            "proto",
            "80",
            "type",
            "blackhole",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect()
}

#[test]
fn tor_peering_with_our_own_bgp_speaker_dual_stack() {
    let lab = TestLab::new("l");
    lab.ok(&[
        "up",
        "--nodes",
        "2",
        "--workloads",
        "2",
        "--peering",
        "tor",
        "--tor",
        "calico",
        "--ipv6",
    ]);
    let status = lab.json(&["status", "-o", "json"]);
    assert_eq!(status["tor"]["router"], "calico", "{status}");
    assert_eq!(status["tor"]["running"], true, "{status}");
    assert_eq!(status["tor"]["as_number"], 65000);
    // One eBGP session per node and family, all up when `up` returns.
    let sessions = status["tor"]["sessions"].as_array().expect("ToR sessions");
    let peers: BTreeSet<(String, String, String)> = sessions
        .iter()
        .map(|s| {
            (
                s["peer"].as_str().unwrap().to_string(),
                s["peer_type"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("172.31.0.11", "ebgp node1"),
        ("172.31.0.12", "ebgp node2"),
        ("fd00:172:31::11", "ebgp node1"),
        ("fd00:172:31::12", "ebgp node2"),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), t.to_string(), "Established".to_string()))
    .collect();
    assert_eq!(peers, want, "{status}");
    for n in status["nodes"].as_array().unwrap() {
        let s = n["bgp_sessions"].as_array().expect("node sessions");
        assert_eq!(s.len(), 2, "{n}");
        assert!(s.iter().all(|s| s["state"] == "up"), "{n}");
    }
    // The leaf's kernel routes each node's blocks through that node (our protocol 201).
    for v6 in [false, true] {
        let routes = fabric_routes(&lab, v6, "201");
        for (node, v4, v6_addr) in [
            ("node1", "172.31.0.11", "fd00:172:31::11"),
            ("node2", "172.31.0.12", "fd00:172:31::12"),
        ] {
            let via = if v6 { v6_addr } else { v4 }.to_string();
            let blocks = own_blocks(&lab, node, v6);
            assert_eq!(blocks.len(), 1, "{node} v6={v6}: {blocks:?}");
            assert!(
                routes.contains(&(blocks[0].clone(), via.clone())),
                "fabric lacks {} via {via}: {routes:?}",
                blocks[0]
            );
        }
        assert_eq!(routes.len(), 2, "v6={v6}: {routes:?}");
    }
    // Every pair, both families, right after `up`: across nodes through our ToR.
    assert_all_reachable(&lab.matrix(&[]), "tcp");
    assert_all_reachable(&lab.matrix(&["--ipv6"]), "tcp over IPv6");
    assert_all_reachable(&lab.matrix(&["--proto", "udp"]), "udp");
}

#[test]
fn down_after_a_crashed_up_removes_everything() {
    let lab = TestLab::new("i");
    let mut up = Command::new(LAB)
        .args([
            "--name",
            &lab.name,
            "up",
            "--nodes",
            "3",
            "--workloads",
            "3",
        ])
        .env("CALICO_LAB_DIR", lab.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill `up` as soon as it has made a few namespaces.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lab.namespaces().len() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    assert!(!lab.namespaces().is_empty());
    let out = lab.cmd(&["up", "--nodes", "1"]);
    assert!(!out.status.success());
    let state: Value =
        serde_json::from_slice(&std::fs::read(lab.state_dir().join("state.json")).unwrap())
            .unwrap();
    let pids: Vec<u64> = state["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    lab.ok(&["down"]);
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(pids.iter().all(|p| !alive(*p)));
    assert!(!lab.state_dir().exists());
}

#[test]
fn demo_tours_the_lab_and_leaves_nothing_behind() {
    let lab = TestLab::new("j");
    let out = lab.ok(&["demo", "--nodes", "2", "--workloads", "2"]);
    for heading in [
        "== 1. Bring up a lab ==",
        "== 3. Connectivity matrix, no policy (TCP 8080) ==",
        "Successfully applied 2 'GlobalNetworkPolicy' resource(s)",
        "== 5. Connectivity matrix with the policy ==",
        "== 9. Take it all down ==",
    ] {
        assert!(out.contains(heading), "{heading:?} missing from:\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "colour despite NO_COLOR:\n{out}");
    assert!(lab.namespaces().is_empty());
    assert!(!lab.state_dir().exists());
}

#[test]
fn a_failing_up_removes_what_it_made() {
    let lab = TestLab::new("k");
    // The real binaries, except a CNI plugin that refuses every ADD.
    let bin = tempfile::tempdir().unwrap();
    let real = Path::new(LAB).parent().unwrap();
    for name in ["calico-node", "calico-ipam", "calicoctl"] {
        std::os::unix::fs::symlink(real.join(name), bin.path().join(name)).unwrap();
    }
    let plugin = bin.path().join("calico");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"plugin says no\"}'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(LAB)
        .args([
            "--name",
            &lab.name,
            "up",
            "--nodes",
            "2",
            "--workloads",
            "1",
        ])
        .env("CALICO_LAB_DIR", lab.dir.path())
        .env("CALICO_LAB_BIN_DIR", bin.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CNI ADD for node1-w1 failed: code 11: plugin says no"),
        "{err}"
    );
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(!lab.state_dir().exists());
}
