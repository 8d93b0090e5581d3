//! `calicoctl node status` against the real calico-node (`target/debug/calico-node`, built by
//! `cargo build -p node`): the agent runs in a network namespace whose `eth0` veth carries its
//! address, with an embedded datastore file and its status socket in a temporary directory,
//! and a global BGPPeer at the far end of the veth (where nothing listens). calicoctl, run in
//! the same namespace, prints the running banner and Calico's IPv4/IPv6 BGP status sections
//! (the peer's row once the agent reports it); with the agent gone (socket missing or stale)
//! it prints `Calico process is not running.` and exits 1. `--details` adds the node's own
//! view and the peer's counters, graceful-restart state and last error.
//!
//! Needs root. The namespaces are named `czf-<pid>-...` and removed by their guards even when
//! the test fails; the agent is killed by its guard.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::Netns;

const CALICOCTL: &str = env!("CARGO_BIN_EXE_calicoctl");
const NODE_IP: &str = "10.232.9.2/24";
const PEER_IP: &str = "10.232.9.1";

/// Kills the agent we started if the test ends while it runs.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// calico-node, next to the calicoctl binary under test.
fn calico_node_binary() -> PathBuf {
    let path = Path::new(CALICOCTL).with_file_name("calico-node");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p node` first",
        path.display()
    );
    path
}

/// Runs calicoctl with `args` inside `ns`, with `env` added.
fn calicoctl(ns: &Netns, env: &[(&str, &Path)], args: &[&str]) -> Output {
    ns.command(CALICOCTL)
        .env_remove("CALICO_STATUS_SOCKET")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run calicoctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

/// Checks one "IPvN BGP status" section and returns its rows' cells.
fn section(out: &str, family: &str) -> Vec<Vec<String>> {
    let title = format!("{family} BGP status\n");
    let start = out
        .find(&title)
        .unwrap_or_else(|| panic!("no {title:?} in {out}"));
    let mut lines = out[start + title.len()..].lines();
    let first = lines.next().expect("section body");
    if first == format!("No {family} peers found.") {
        assert_eq!(lines.next(), Some(""), "blank line after {first:?}");
        return Vec::new();
    }
    let rule = first;
    assert!(
        rule.starts_with("+-") && rule.ends_with("-+"),
        "rule: {rule:?}"
    );
    let cells = |line: &str| -> Vec<String> {
        assert_eq!(line.len(), rule.len(), "row as wide as the rule: {line:?}");
        assert!(
            line.starts_with("| ") && line.ends_with(" |"),
            "row: {line:?}"
        );
        line[2..line.len() - 2]
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = cells(lines.next().expect("header"));
    assert_eq!(
        header,
        ["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"],
        "{out}"
    );
    assert_eq!(lines.next(), Some(rule));
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if line == rule {
            break;
        }
        rows.push(cells(line));
    }
    assert!(!rows.is_empty(), "a table has rows: {out}");
    assert_eq!(lines.next(), Some(""), "blank line after the table");
    rows
}

#[test]
fn reports_a_running_agent_and_its_peers_then_not_running() {
    let node_ns = Netns::new("czf", "node");
    let peer_ns = Netns::new("czf", "peer");
    node_ns.veth_into("eth0", &peer_ns, "eth1");
    node_ns.ip(&["addr", "add", NODE_IP, "dev", "eth0"]);
    node_ns.ip(&["link", "set", "eth0", "up"]);
    peer_ns.ip(&["addr", "add", &format!("{PEER_IP}/24"), "dev", "eth1"]);
    peer_ns.ip(&["link", "set", "eth1", "up"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("calico.db");
    let config = dir.path().join("calico.cfg");
    std::fs::write(
        &config,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: embedded\n  datastorePath: {}\n",
            db.display()
        ),
    )
    .expect("write config");
    let config_arg = config.to_str().expect("utf-8 path");
    let socket = dir.path().join("run/calico-node.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");

    let peer = format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: tor\nspec:\n  peerIP: {PEER_IP}\n  asNumber: 64600\n"
    );
    let peer_file = dir.path().join("peer.yaml");
    std::fs::write(&peer_file, peer).expect("write peer");
    let applied = calicoctl(
        &node_ns,
        &[],
        &["apply", "-c", config_arg, "-f", peer_file.to_str().unwrap()],
    );
    assert!(applied.status.success(), "{applied:?}");

    // Not started yet: no socket.
    let out = calicoctl(
        &node_ns,
        &[],
        &["node", "status", "--status-socket", socket_arg],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out.stderr), "Calico process is not running.\n");
    assert_eq!(text(&out.stdout), "");

    let agent = node_ns
        .command(calico_node_binary())
        .args(["-c", config_arg, "--status-socket", socket_arg])
        .env("NODENAME", "cnst-node")
        .env("AS", "64513")
        .env("CALICO_STATE_DIR", dir.path().join("state"))
        .env("CALICO_DATAPLANE", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start calico-node");
    let mut agent = Agent(agent);

    // The socket comes up; then wait (bounded) for the agent to report the peer's session.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (out, v4_rows) = loop {
        let out = calicoctl(
            &node_ns,
            &[],
            &["node", "status", "--status-socket", socket_arg],
        );
        if out.status.success() {
            let stdout = text(&out.stdout);
            let rows = section(&stdout, "IPv4");
            if !rows.is_empty() || Instant::now() >= deadline {
                break (stdout, rows);
            }
        } else {
            assert!(
                Instant::now() < deadline,
                "calico-node never answered: {out:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        out.starts_with("Calico process is running.\n\nIPv4 BGP status\n"),
        "{out}"
    );
    assert!(out.ends_with("\n\n"), "{out:?}");
    for row in &v4_rows {
        row[0].parse::<Ipv4Addr>().expect("an IPv4 peer address");
        assert_eq!(row.len(), 5, "{row:?}");
    }
    if let Some(row) = v4_rows.first() {
        // Nothing listens at the far end: the session cannot be up.
        assert_eq!(v4_rows.len(), 1, "{out}");
        assert_eq!(row[0], PEER_IP);
        assert_eq!(row[1], "global");
        assert_eq!(row[2], "start");
        assert!(!row[3].is_empty(), "SINCE: {row:?}");
        assert_ne!(row[4], "Established");
    }
    assert!(section(&out, "IPv6").is_empty(), "{out}");

    // The socket from the environment, and --details.
    let out = calicoctl(
        &node_ns,
        &[("CALICO_STATUS_SOCKET", &socket)],
        &["node", "status", "--details"],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Calico process is running.\n"),
        "{stdout}"
    );
    let details = stdout
        .split_once("Calico node details\n")
        .unwrap_or_else(|| panic!("no details: {stdout}"))
        .1;
    let details: Vec<&str> = details.lines().collect();
    assert_eq!(details[0], "Node name:    cnst-node");
    assert_eq!(details[1], format!("IPv4 address: {NODE_IP}"));
    assert_eq!(details[2], "IPv6 address: none");
    assert_eq!(details[3], "AS number:    64513");
    assert!(details[5].contains("Node 1"), "{stdout}");
    // Per peer: our extension, with the agent's counters and the session's last error.
    let peers = stdout
        .split_once("BGP peer details\n")
        .unwrap_or_else(|| panic!("no peer details: {stdout}"))
        .1;
    if v4_rows.is_empty() {
        assert_eq!(peers, "No BGP peers found.\n\n", "{stdout}");
    } else {
        let lines: Vec<&str> = peers.lines().collect();
        assert_eq!(
            lines[0],
            format!("Peer {PEER_IP} (Global_10_232_9_1, global)")
        );
        assert!(lines[1].starts_with("  State:            "), "{stdout}");
        assert_eq!(
            lines[2],
            "  Prefixes:         0 received, 0 accepted, 0 advertised"
        );
        assert_eq!(lines[3], "  Graceful restart: not negotiated", "{stdout}");
        assert!(lines[4].starts_with("  Last error:       "), "{stdout}");
    }

    // Killed: its socket file stays behind, and nothing answers on it.
    let _ = agent.0.kill();
    let _ = agent.0.wait();
    assert!(socket.exists());
    let out = calicoctl(
        &node_ns,
        &[],
        &["node", "status", "--status-socket", socket_arg],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out.stderr), "Calico process is not running.\n");
}
