//! End-to-end tests of whole clusters built by the real `calico-lab` binary: routes learned
//! over the BGP mesh and from a ToR, policy enforced exactly as `calicoctl policy trace`
//! explains it, an agent killed and restarted, both datastores, and an address that moves
//! between nodes. Each test owns a lab name (so its own namespace prefix) and a temporary
//! state directory; a guard takes the lab down even when the test fails. Timings are printed
//! (run with `--nocapture` to see them), never asserted beyond generous upper bounds.
//!
//! Needs root, `ip`, and the sibling binaries (`cargo build -p lab -p node -p cni -p ctl`);
//! the etcd and FRR tests need `etcd` and FRR installed. The scale test runs 10 nodes x 20
//! workloads.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::netns;

mod common;
use common::Turn;

const LAB: &str = env!("CARGO_BIN_EXE_calico-lab");
/// How long converging (routes, sessions, policy) may take before a test gives up.
const CONVERGE: Duration = Duration::from_secs(30);

/// A lab owned by one test; dropping it runs `down` and removes any namespace left with its
/// prefix.
struct TestLab {
    name: String,
    dir: tempfile::TempDir,
    _turn: Turn,
}

impl TestLab {
    /// Brings up lab `lg<pid><tag>` with `up_args`, or panics with calico-lab's output.
    fn up(tag: &str, up_args: &[&str]) -> TestLab {
        let bin_dir = Path::new(LAB).parent().expect("binary has a directory");
        for needed in ["calico", "calico-ipam", "calico-node", "calicoctl"] {
            assert!(
                bin_dir.join(needed).is_file(),
                "{} is missing: build the sibling binaries first (cargo build -p lab -p node -p cni -p ctl)",
                bin_dir.join(needed).display()
            );
        }
        let lab = TestLab {
            // `lg`, the last four digits of the PID, the test's tag: namespaces of its own.
            name: format!("lg{:04}{tag}", std::process::id() % 10_000),
            dir: tempfile::tempdir().expect("temporary directory"),
            _turn: Turn::take(),
        };
        let started = Instant::now();
        let mut args = vec!["up"];
        args.extend_from_slice(up_args);
        lab.ok(&args);
        println!(
            "[{}] up {}: {:.2}s",
            lab.name,
            up_args.join(" "),
            started.elapsed().as_secs_f64()
        );
        lab
    }

    fn cmd(&self, args: &[&str]) -> Output {
        common::calico_lab(&self.name, self.dir.path(), args)
    }

    /// Runs calico-lab and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        common::calico_lab_ok(&self.name, self.dir.path(), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// `calico-lab exec <member> -- argv...`, insisting on success.
    fn exec(&self, member: &str, argv: &[&str]) -> String {
        let mut args = vec!["exec", member, "--"];
        args.extend_from_slice(argv);
        self.ok(&args)
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    fn state(&self) -> Value {
        let path = self.state_dir().join("state.json");
        serde_json::from_slice(&std::fs::read(&path).expect("state file")).expect("state JSON")
    }

    /// The TCP matrix (the lab's responders on 8080), 800 ms per probe.
    fn matrix(&self) -> Vec<(String, String, bool)> {
        self.matrix_within(800)
    }

    /// The TCP matrix with a per-probe timeout.
    fn matrix_within(&self, timeout_ms: u64) -> Vec<(String, String, bool)> {
        let timeout = timeout_ms.to_string();
        let m = self.json(&["matrix", "--timeout-ms", &timeout, "-o", "json"]);
        m["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| {
                (
                    p["from"].as_str().unwrap().to_string(),
                    p["to"].as_str().unwrap().to_string(),
                    p["reachable"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// Waits until every pair of workloads answers; returns how long that took, or panics
    /// with the pairs that still do not.
    fn wait_all_reachable(&self, what: &str) -> Duration {
        let started = Instant::now();
        let mut silent = Vec::new();
        let done = wait_for(CONVERGE, || {
            let m = self.matrix();
            assert!(!m.is_empty(), "the lab has no pairs to probe");
            silent = m.into_iter().filter(|(_, _, ok)| !ok).collect();
            silent.is_empty()
        });
        assert!(
            done,
            "[{}] {what}: pairs still silent after {}s: {silent:?}",
            self.name,
            CONVERGE.as_secs()
        );
        let took = started.elapsed();
        println!(
            "[{}] {what}: all pairs reachable after {:.2}s",
            self.name,
            took.as_secs_f64()
        );
        took
    }

    /// Asserts that every pair answers now: what a user sees right after `up` or
    /// `workload add`, which return only once the agents have programmed everything.
    fn assert_all_reachable(&self, what: &str) {
        self.assert_all_reachable_within(what, 800);
    }

    /// [`TestLab::assert_all_reachable`] with a per-probe timeout.
    fn assert_all_reachable_within(&self, what: &str, timeout_ms: u64) {
        let m = self.matrix_within(timeout_ms);
        assert!(!m.is_empty(), "the lab has no pairs to probe");
        let silent: Vec<_> = m.into_iter().filter(|(_, _, ok)| !ok).collect();
        assert!(
            silent.is_empty(),
            "[{}] {what}: silent pairs right away: {silent:?}",
            self.name
        );
    }

    fn node_namespace(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    /// `ip -n <lab>-<node> route` (IPv4).
    fn routes(&self, node: &str) -> String {
        ip(&["-n", &self.node_namespace(node), "route"])
    }

    /// The blocks a node blackholes (proto 80): the /26 blocks affine to it.
    fn own_blocks(&self, node: &str) -> Vec<String> {
        self.routes(node)
            .lines()
            .filter(|l| l.starts_with("blackhole ") && l.contains("proto 80"))
            .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
            .collect()
    }

    fn nodes(&self) -> Vec<(String, String)> {
        self.state()["topology"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["ipv4"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The PID of the recorded calico-node of `node`.
    fn agent_pid(&self, node: &str) -> i32 {
        let role = format!("calico-node {node}");
        let state = self.state();
        let rec = state["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == role.as_str())
            .unwrap_or_else(|| panic!("no {role} in the state file"));
        i32::try_from(rec["pid"].as_u64().unwrap()).unwrap()
    }

    /// `(peer, state, info)` of each BGP session `status -o json` shows for `node`.
    fn sessions(&self, node: &str) -> Vec<(String, String, String)> {
        let status = self.json(&["status", "-o", "json"]);
        let n = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .unwrap_or_else(|| panic!("no {node} in status"))
            .clone();
        n["bgp_sessions"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| {
                        (
                            s["peer"].as_str().unwrap_or_default().to_string(),
                            s["state"].as_str().unwrap_or_default().to_string(),
                            s["info"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until every node shows `peers` Established sessions.
    fn wait_sessions(&self, peers: usize) -> Duration {
        let started = Instant::now();
        let nodes = self.nodes();
        let mut last = Vec::new();
        let done = wait_for(CONVERGE, || {
            last = nodes
                .iter()
                .map(|(n, _)| (n.clone(), self.sessions(n)))
                .collect();
            last.iter().all(|(_, s)| {
                s.iter()
                    .filter(|(_, _, info)| info == "Established")
                    .count()
                    == peers
            })
        });
        assert!(
            done,
            "sessions not all Established after {}s: {last:?}",
            CONVERGE.as_secs()
        );
        started.elapsed()
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.cmd(&["down"]);
        for ns in netns::list_with_prefix(&format!("{}-", self.name)) {
            netns::delete(&ns);
        }
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` every 200ms until it holds or `limit` passed; whether it held.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `routes` (output of `ip route`) sends `prefix` to `next_hop` with BIRD's
/// protocol number (12, shown as `bird`).
fn learned(routes: &str, prefix: &str, next_hop: &str) -> bool {
    routes.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&prefix)
            && l.contains(&format!(" via {next_hop} "))
            && (l.contains("proto bird") || l.contains("proto 12"))
    })
}

/// Every node has the other nodes' blocks as BGP-learned routes via their fabric address,
/// and blackholes its own. Returns a description of what is missing.
fn missing_routes(lab: &TestLab) -> Vec<String> {
    let nodes = lab.nodes();
    let mut missing = Vec::new();
    for (node, _) in &nodes {
        let routes = lab.routes(node);
        if lab.own_blocks(node).is_empty() {
            missing.push(format!("{node}: no blackhole (proto 80) for its own block"));
        }
        for (other, other_ip) in nodes.iter().filter(|(n, _)| n != node) {
            for block in lab.own_blocks(other) {
                if !learned(&routes, &block, other_ip) {
                    missing.push(format!("{node}: no {block} via {other_ip} proto bird"));
                }
            }
        }
    }
    missing
}

#[test]
fn mesh_three_nodes_reach_each_other_over_bgp_learned_routes() {
    let lab = TestLab::up("mesh", &["--nodes", "3", "--workloads", "2"]);
    // `up` returned once the sessions were up and the routes learned: nothing to wait for.
    let status_right_after_up = lab.exec("node1", &["calicoctl", "node", "status"]);
    lab.assert_all_reachable("mesh 3x2");
    let m = lab.matrix();
    assert_eq!(m.len(), 30, "6 workloads make 30 ordered pairs");
    let missing = missing_routes(&lab);
    assert!(missing.is_empty(), "routes missing: {missing:?}");
    for (node, _) in lab.nodes() {
        let blocks = lab.own_blocks(&node);
        assert_eq!(blocks.len(), 1, "{node} owns one /26: {blocks:?}");
        assert!(blocks[0].ends_with("/26"), "{blocks:?}");
    }
    for (node, _) in lab.nodes() {
        let sessions = lab.sessions(&node);
        let up = sessions
            .iter()
            .filter(|(_, state, _)| state == "up")
            .count();
        assert_eq!(up, 2, "{node}: {sessions:?}");
    }
    let text = status_right_after_up;
    assert!(text.contains("Calico process is running."), "{text}");
    let established: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("node-to-node mesh") && l.contains("Established"))
        .collect();
    assert_eq!(established.len(), 2, "{text}");
    for peer in ["172.31.0.12", "172.31.0.13"] {
        assert!(
            established.iter().any(|l| l.contains(peer)),
            "{peer} missing in\n{text}"
        );
    }
}

/// The trace's disposition (`Allow`/`Deny`) for TCP 8080 from `from` to `to`.
fn trace_allows(lab: &TestLab, from: &str, to: &str) -> bool {
    let (from, to) = (format!("default/{from}"), format!("default/{to}"));
    let text = lab.exec(
        "node1",
        &[
            "calicoctl",
            "policy",
            "trace",
            "--from",
            &from,
            "--to",
            &to,
            "--protocol",
            "tcp",
            "--port",
            "8080",
            "-o",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    match v["disposition"].as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        other => panic!("unexpected disposition {other:?} in {text}"),
    }
}

#[test]
fn policy_matrix_matches_policy_trace_for_every_pair() {
    let lab = TestLab::up("pol", &["--nodes", "2", "--workloads", "2"]);
    lab.assert_all_reachable("before policy");
    let policy = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  \
                  name: default-deny\nspec:\n  order: 1000\n  selector: all()\n  types:\n  \
                  - Ingress\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n\
                  metadata:\n  name: allow-w1-to-w2\nspec:\n  order: 100\n  \
                  selector: app == 'w2'\n  types:\n  - Ingress\n  ingress:\n  - action: Allow\n    \
                  source:\n      selector: app == 'w1'\n";
    let file = lab.dir.path().join("policy.yaml");
    std::fs::write(&file, policy).unwrap();
    let applied = Instant::now();
    lab.exec(
        "node1",
        &["calicoctl", "apply", "-f", file.to_str().unwrap()],
    );

    // What the policy engine says, pair by pair.
    let pairs = lab.matrix();
    let traced: Vec<(String, String, bool)> = pairs
        .iter()
        .map(|(f, t, _)| (f.clone(), t.clone(), trace_allows(&lab, f, t)))
        .collect();
    // The engine's answers are what the labels say: only app=w1 into app=w2.
    for (f, t, allow) in &traced {
        let expect = f.ends_with("-w1") && t.ends_with("-w2");
        assert_eq!(*allow, expect, "trace {f} -> {t}");
    }
    assert_eq!(traced.iter().filter(|p| p.2).count(), 4, "{traced:?}");

    // The packets must agree with the engine.
    let mut last = Vec::new();
    let agreed = wait_for(CONVERGE, || {
        last = lab.matrix();
        last == traced
    });
    let disagree: Vec<_> = last
        .iter()
        .zip(&traced)
        .filter(|(m, t)| m.2 != t.2)
        .map(|(m, t)| format!("{} -> {}: reachable {} trace {}", m.0, m.1, m.2, t.2))
        .collect();
    assert!(agreed, "matrix and trace disagree: {disagree:?}");
    println!(
        "[{}] matrix equals policy trace for all {} pairs, {:.2}s after apply (incl. {} traces)",
        lab.name,
        traced.len(),
        applied.elapsed().as_secs_f64(),
        traced.len()
    );
}

#[test]
fn killed_agent_routes_are_withdrawn_and_restored_on_restart() {
    let lab = TestLab::up("kill", &["--nodes", "3", "--workloads", "1"]);
    lab.assert_all_reachable("3x1");
    // A killed agent's TCP sessions are closed by its kernel, so peers notice at once and
    // keep its routes for the graceful-restart time (Calico's default 120s), not the hold
    // time. Shorten it through BGP configuration, as an operator would.
    let restart = 3;
    lab.exec(
        "node1",
        &[
            "calicoctl",
            "patch",
            "bgpconfiguration",
            "default",
            "-p",
            &format!("{{\"spec\":{{\"nodeMeshMaxRestartTime\":\"{restart}s\"}}}}"),
        ],
    );
    lab.wait_sessions(2);
    lab.wait_all_reachable("after nodeMeshMaxRestartTime change");
    let nodes = lab.nodes();
    let (victim, victim_ip) = nodes[2].clone();
    let blocks = lab.own_blocks(&victim);
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let block = &blocks[0];
    let others: Vec<&String> = nodes
        .iter()
        .map(|(n, _)| n)
        .filter(|n| **n != victim)
        .collect();
    for n in &others {
        assert!(
            learned(&lab.routes(n), block, &victim_ip),
            "{n} lacks {block}"
        );
    }

    let pid = lab.agent_pid(&victim);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 calico-node");
    let killed = Instant::now();
    let limit = Duration::from_secs(restart) + CONVERGE;
    let withdrawn = wait_for(limit, || {
        others
            .iter()
            .all(|n| !lab.routes(n).lines().any(|l| l.starts_with(block.as_str())))
    });
    assert!(
        withdrawn,
        "{block} still routed after {}s: {:?}",
        limit.as_secs(),
        others.iter().map(|n| lab.routes(n)).collect::<Vec<_>>()
    );
    println!(
        "[{}] kill -9 calico-node {victim}: {block} withdrawn on {others:?} after {:.2}s \
         (graceful-restart time {restart}s; hold time not involved: the kernel closed the sessions)",
        lab.name,
        killed.elapsed().as_secs_f64()
    );
    let status = lab.json(&["status", "-o", "json"]);
    assert_eq!(status["nodes"][2]["agent_running"], false, "{status}");

    let restarted = Instant::now();
    let out = lab.ok(&["node", "restart", &victim]);
    assert!(out.contains("restarted"), "{out}");
    // `node restart` returns once the lab is ready again: the routes are back already.
    for n in &others {
        assert!(
            learned(&lab.routes(n), block, &victim_ip),
            "{block} not restored on {n} when `node restart` returned: {out}"
        );
    }
    println!(
        "[{}] node restart {victim}: {block} routed again when it returned, {:.2}s ({})",
        lab.name,
        restarted.elapsed().as_secs_f64(),
        out.trim()
    );
    assert_ne!(lab.agent_pid(&victim), pid, "a new agent is recorded");
    lab.wait_all_reachable("after restart");
}

#[test]
fn etcd_datastore_cluster_reaches_every_pair() {
    let lab = TestLab::up(
        "etcd",
        &["--nodes", "2", "--workloads", "2", "--datastore", "etcd"],
    );
    let status = lab.json(&["status", "-o", "json"]);
    assert!(
        status["datastore"].as_str().unwrap().starts_with("etcd"),
        "{status}"
    );
    lab.assert_all_reachable("etcd 2x2");
    assert!(
        missing_routes(&lab).is_empty(),
        "{:?}",
        missing_routes(&lab)
    );
}

/// The FRR ToR's BGP RIB: prefix -> next hops of its best path.
fn frr_rib(lab: &TestLab) -> Vec<(String, Vec<String>)> {
    let tor_dir = lab.state_dir().join("tor");
    let text = lab.exec(
        "fabric",
        &[
            "vtysh",
            "--vty_socket",
            tor_dir.to_str().unwrap(),
            "-c",
            "show bgp ipv4 unicast json",
        ],
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["routes"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .map(|(prefix, paths)| {
                    let hops = paths
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["bestpath"].as_bool().unwrap_or(false))
                        .flat_map(|p| p["nexthops"].as_array().cloned().unwrap_or_default())
                        .filter_map(|h| h["ip"].as_str().map(String::from))
                        .collect();
                    (prefix.clone(), hops)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn frr_tor_learns_every_block_from_its_node() {
    let lab = TestLab::up(
        "frr",
        &[
            "--nodes",
            "2",
            "--workloads",
            "2",
            "--peering",
            "tor",
            "--tor",
            "frr",
        ],
    );
    lab.assert_all_reachable("tor frr 2x2");
    let mut rib = Vec::new();
    let mut missing = Vec::new();
    let ok = wait_for(CONVERGE, || {
        rib = frr_rib(&lab);
        missing = lab
            .nodes()
            .iter()
            .flat_map(|(node, node_ip)| {
                lab.own_blocks(node)
                    .into_iter()
                    .filter(|b| !rib.iter().any(|(p, hops)| p == b && hops.contains(node_ip)))
                    .map(|b| format!("{b} via {node_ip}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        missing.is_empty()
    });
    assert!(ok, "FRR RIB lacks {missing:?}: {rib:?}");
    let blocks: Vec<&(String, Vec<String>)> =
        rib.iter().filter(|(p, _)| p.ends_with("/26")).collect();
    assert_eq!(blocks.len(), 2, "one /26 per node: {rib:?}");
    let status = lab.json(&["status", "-o", "json"]);
    let sessions = status["tor"]["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        sessions
            .iter()
            .filter(|s| s["state"] == "Established")
            .count(),
        2,
        "{status}"
    );
    // Each node's own status socket shows its one session, to the ToR.
    lab.wait_sessions(1);
    for (node, _) in lab.nodes() {
        let sessions = lab.sessions(&node);
        assert_eq!(sessions[0].0, "172.31.0.1", "{node}: {sessions:?}");
    }
}

#[test]
fn fixed_address_moves_between_nodes_without_stale_routes() {
    let lab = TestLab::up("move", &["--nodes", "3", "--workloads", "1"]);
    lab.assert_all_reachable("3x1");
    let x: IpAddr = "10.244.200.5".parse().unwrap();
    let xs = x.to_string();
    let out = lab.ok(&["workload", "add", "mover", "--node", "node1", "--ip", &xs]);
    assert!(out.contains(&xs), "{out}");
    lab.assert_all_reachable("mover on node1");
    lab.ok(&["workload", "del", "mover"]);
    let moved = Instant::now();
    // `workload add` returns once node3 programmed it and the other nodes learned its route.
    let out = lab.ok(&["workload", "add", "mover", "--node", "node3", "--ip", &xs]);
    assert!(out.contains(&xs), "{out}");
    let added = moved.elapsed();
    lab.assert_all_reachable("mover on node3");
    println!(
        "[{}] {xs} moved node1 -> node3: `workload add` returned after {:.2}s with every \
         workload reaching it",
        lab.name,
        added.as_secs_f64()
    );
    let node1 = "172.31.0.11";
    for (node, _) in lab.nodes() {
        let routes = lab.routes(&node);
        for line in routes.lines() {
            let dst = line.split_whitespace().next().unwrap_or_default();
            let exact = dst == xs || dst == format!("{xs}/32");
            assert!(
                !(exact
                    && (line.contains(&format!("via {node1} "))
                        || (node == "node1" && line.contains(" dev cali")))),
                "{node} keeps a stale route for {xs}: {line}\n{routes}"
            );
        }
    }
    let node3_routes = lab.routes("node3");
    assert!(
        node3_routes
            .lines()
            .any(|l| l.starts_with(&format!("{xs} dev cali"))),
        "node3 has no local route to {xs}:\n{node3_routes}"
    );
}

/// Resident memory of a process, kB (VmRSS of /proc/PID/status).
fn rss_kb(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The scale run: 10 nodes x 20 workloads all reach each other and every node has every
/// other node's routes; prints the time to bring it up, to all pairs reachable, and each
/// agent's memory.
#[test]
fn scale_ten_nodes_twenty_workloads() {
    let started = Instant::now();
    let lab = TestLab::up("scale", &["--nodes", "10", "--workloads", "20"]);
    let up = started.elapsed();
    // 200 probers at once, each to 199 responders, on two cores: a responder's accept
    // queue overflows now and then and the SYN is resent after 1s, hence 3s per probe.
    lab.assert_all_reachable_within("scale 10x20", 3000);
    println!(
        "[{}] 10x20: all {} pairs reachable right after up ({:.1}s), matrix drawn {:.1}s from start",
        lab.name,
        200 * 199,
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        missing_routes(&lab).is_empty(),
        "{:?}",
        missing_routes(&lab)
    );
    for (node, _) in lab.nodes() {
        let pid = lab.agent_pid(&node);
        let kb = rss_kb(pid).expect("agent alive");
        println!(
            "[{}] calico-node {node} (PID {pid}): VmRSS {kb} kB",
            lab.name
        );
    }
}
