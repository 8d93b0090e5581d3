//! A datastore outage under the real `calico-node` (issue #5): one node namespace runs the
//! agent against a real etcd (in the same namespace, on 127.0.0.1), three workloads A, B and
//! C are plumbed the way the CNI plugin does it, and a policy lets A reach B but not C. etcd is
//! then taken away for more than 10 s, twice: first hung (SIGSTOP: connections stay open but
//! nothing answers), then dead (SIGKILL, later restarted on the same data directory and port).
//!
//! While it is away the agent must keep running and keep the last state: still alive, its
//! nftables ruleset and routes byte for byte the same (counters aside), an established TCP
//! stream flowing, the verdict matrix unchanged, no spinning and no log flood. Liveness and
//! readiness (health port 9099) both stay 200, as in Felix: libcalico-go's watcher syncer
//! never leaves `InSync` after its first sync (its watcher caches re-list on their own) and
//! Felix's readiness is that sync status, so an etcd outage makes neither probe fail.
//!
//! The status report tells the two apart: in sync while etcd is hung (nothing failed yet),
//! not in sync while it is dead (the watch broke), when every failed attempt, about one a
//! second, is counted in `calico_node_errors_total{source="datastore"}` but logged only once.
//!
//! When etcd is back, a policy change must take effect within a few seconds (printed, bounded
//! loosely) and, after the kill, the resync counter on the metrics port (9091) must have gone
//! up by one: one resync covers the outage.
//!
//! Needs root. Namespaces are `czc-<pid>-<n>-<tag>`, removed by guards; etcd and the agent
//! are killed by PID when their guards drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datastore::{EtcdConfig, EtcdStore, ResourceClient, Store};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use testkit::etcd::EtcdServer;
use testkit::wait::since as wait_since;
use testkit::Netns;

const BINARY: &str = env!("CARGO_BIN_EXE_calico-node");
const PREFIX: &str = "czc";
const NODE: &str = "czcnode";
const NODE_CIDR: &str = "10.231.77.2/24";
const POD_NAMESPACE: &str = "demo";
const PORT: u16 = 8080;
const HEALTH_PORT: u16 = 9099;
const METRICS_PORT: u16 = 9091;
const DATASTORE_ERRORS: &str = "calico_node_errors_total{source=\"datastore\"}";
/// How long etcd stays away in each outage.
const OUTAGE: Duration = Duration::from_secs(12);
/// Bound on a change taking effect once etcd is back (a test bound, not a performance claim:
/// the agent retries every second).
const RESYNC_LIMIT: Duration = Duration::from_secs(15);

/// The agent process; killed (by its PID) on drop.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// User plus system CPU time the agent has used so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which is in parentheses): utime is the 14th field of
        // the whole line, stime the 15th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        let per_second: u64 = testkit::run("getconf", &["CLK_TCK"])
            .trim()
            .parse()
            .unwrap();
        Duration::from_millis(ticks * 1000 / per_second)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A datastore client; must be made and used on a thread inside the node namespace.
struct Datastore {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    client: ResourceClient,
}

impl Datastore {
    fn connect(endpoint: &str) -> Datastore {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(
            rt.block_on(EtcdStore::connect(&EtcdConfig::new([endpoint])))
                .unwrap(),
        );
        let client = ResourceClient::new(Arc::clone(&store));
        Datastore { rt, store, client }
    }

    fn apply(&self, yaml: &str) {
        self.rt.block_on(async {
            for r in api::decode_documents(yaml).unwrap() {
                self.client.apply(r).await.unwrap();
            }
        });
    }
}

/// A workload: its pod namespace and address.
struct Workload {
    ns: Netns,
    ip: Ipv4Addr,
}

/// An echo server on `PORT` inside `ns`, for the rest of the test process.
fn echo_server(ns: &Netns) {
    let listener = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

fn connect(from: &Netns, to: Ipv4Addr) -> Option<TcpStream> {
    from.run(|| {
        let addr = SocketAddr::from((to, PORT));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        Some(stream)
    })
}

fn echo(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 5];
    stream.write_all(b"hello").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"hello"
}

fn tcp_ok(from: &Netns, to: Ipv4Addr) -> bool {
    connect(from, to).is_some_and(|mut s| echo(&mut s))
}

fn ping_ok(from: &Netns, to: Ipv4Addr) -> bool {
    from.exec_ok(&["ping", "-c1", "-W1", &to.to_string()])
}

/// `GET path` on 127.0.0.1:`port` of the calling thread's namespace: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of counter `name` (with its labels) on the metrics port; 0 when not yet
/// reported.
fn metric(name: &str) -> u64 {
    let (status, text) = http_get(METRICS_PORT, "/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// Sets every packet and byte count in an `nft -j` document to zero.
fn zero_counters(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "packets" || key == "bytes" {
                    *value = Value::from(0);
                } else {
                    zero_counters(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(zero_counters),
        _ => {}
    }
}

/// What the agent programmed in the node namespace: the whole ruleset (with handles, counters
/// zeroed) and every route.
fn dataplane(node: &Netns) -> String {
    let mut doc: Value =
        serde_json::from_str(&node.exec(&["nft", "-j", "list", "ruleset"])).unwrap();
    zero_counters(&mut doc);
    format!(
        "{}\n{}\n{}",
        serde_json::to_string_pretty(&doc).unwrap(),
        node.ip(&["-4", "route", "show", "table", "all"]),
        node.ip(&["-6", "route", "show", "table", "all"]),
    )
}

/// The connectivity the test tracks, as (label, verdict) pairs.
fn matrix(a: &Workload, b: &Workload, c: &Workload) -> Vec<(&'static str, bool)> {
    vec![
        ("A->B tcp", tcp_ok(&a.ns, b.ip)),
        ("A->B icmp", ping_ok(&a.ns, b.ip)),
        ("C->B tcp", tcp_ok(&c.ns, b.ip)),
        ("C->B icmp", ping_ok(&c.ns, b.ip)),
        ("B->A tcp", tcp_ok(&b.ns, a.ip)),
        ("A->C tcp", tcp_ok(&a.ns, c.ip)),
    ]
}

/// Ingress to B allowed (TCP `PORT` and ICMP) from workloads matching `sources`.
fn b_policy(sources: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: b-ingress, namespace: {POD_NAMESPACE}}}\nspec:\n  selector: role == 'b'\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source: {{selector: \"{sources}\"}}\n    destination: {{ports: [{PORT}]}}\n  - action: Allow\n    protocol: ICMP\n    source: {{selector: \"{sources}\"}}\n"
    )
}

/// The node: agent, etcd and client, all inside the node namespace.
struct Node<'a> {
    ns: &'a Netns,
    dir: tempfile::TempDir,
    etcd: EtcdServer,
    store: Datastore,
}

impl Node<'_> {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("status.sock")
    }

    /// Whether the agent's status report says it holds a current copy of the datastore.
    fn in_sync(&self) -> bool {
        self.store
            .rt
            .block_on(node::status::query(&self.socket()))
            .unwrap()
            .in_sync
    }

    fn start_agent(&self) -> Agent {
        let log = self.dir.path().join("agent.log");
        let socket = self.socket();
        let child = self
            .ns
            .command(BINARY)
            .arg("--status-socket")
            .arg(&socket)
            .env("DATASTORE_TYPE", "etcdv3")
            .env("ETCD_ENDPOINTS", self.etcd.endpoint())
            .env("NODENAME", NODE)
            .env("IP", NODE_CIDR)
            .env("CALICO_IPV4POOL_CIDR", "10.245.0.0/16")
            .env("CALICO_NETWORKING_BACKEND", "none")
            .env("CALICO_STATE_DIR", self.dir.path().join("state"))
            .env("CALICO_DATAPLANE", "nftables")
            .env("FELIX_IPTABLESREFRESHINTERVAL", "2s")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut agent = Agent { child, log };
        wait_since(
            Instant::now(),
            "the agent's in-sync report",
            Duration::from_secs(30),
            || {
                assert!(agent.alive(), "agent exited:\n{}", agent.log_text());
                socket.exists() && self.in_sync()
            },
        );
        agent
    }

    /// What the CNI plugin does: an address from Calico IPAM (so the node's block is affine
    /// to it), veth `cali<pod>` with the plugin's MAC and sysctls, the address and a default
    /// route via 169.254.1.1 in the pod, a /32 route on the node, and the WorkloadEndpoint.
    fn workload(&self, pod: &str, role: &str) -> Workload {
        let ns = Netns::new(PREFIX, pod);
        let args = ipam::AutoAssignArgs {
            num4: 1,
            handle: Some(format!("k8s-pod-network.container-{pod}")),
            hostname: NODE.to_string(),
            ..Default::default()
        };
        let ipam = ipam::Ipam::new(Arc::clone(&self.store.store));
        let assigned = self.store.rt.block_on(ipam.auto_assign(&args)).unwrap();
        let ip = match assigned.ipv4[0].addr() {
            std::net::IpAddr::V4(v4) => v4,
            other => panic!("not IPv4: {other}"),
        };
        let host_if = format!("cali{pod}");
        testkit::workload::plumb(&self.ns.name, &ns.name, &host_if, ip);
        let cidr = format!("{ip}/32");
        self.store.apply(&format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: {NODE}-k8s-{pod}-eth0\n  namespace: {POD_NAMESPACE}\n  labels: {{role: {role}}}\nspec:\n  node: {NODE}\n  orchestrator: k8s\n  pod: {pod}\n  endpoint: eth0\n  interfaceName: {host_if}\n  ipNetworks: [{cidr}]\n  profiles: [kns.{POD_NAMESPACE}]\n"
        ));
        echo_server(&ns);
        Workload { ns, ip }
    }
}

/// What one outage window saw.
struct Window {
    cpu: Duration,
    log_lines: usize,
    /// Rounds of health probes, all answered 200.
    probes: usize,
}

/// Takes etcd away with `stop` and keeps it away for `OUTAGE` while checking, every ~2 s,
/// that the agent is alive, both health probes answer 200 and `stream` echoes; then that the
/// dataplane and the verdict matrix are what they were before.
fn ride_out(
    what: &str,
    stop: impl FnOnce(),
    ns: &Netns,
    agent: &mut Agent,
    stream: &mut TcpStream,
    before: (&str, &[(&str, bool)]),
    workloads: (&Workload, &Workload, &Workload),
) -> Window {
    let cpu_before = agent.cpu();
    let log_before = agent.log_text().lines().count();
    let started = Instant::now();
    stop();
    let mut probes = 0;
    while started.elapsed() < OUTAGE {
        assert!(agent.alive(), "{what}: agent exited:\n{}", agent.log_text());
        let (live, body) = http_get(HEALTH_PORT, "/liveness");
        assert_eq!(live, 200, "{what}: liveness: {body}");
        let (ready, body) = http_get(HEALTH_PORT, "/readiness");
        assert_eq!(ready, 200, "{what}: readiness: {body}");
        probes += 1;
        assert!(echo(stream), "{what}: the established stream stopped");
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(
        before.0,
        dataplane(ns),
        "{what}: nftables or routes changed while the datastore was away"
    );
    let (a, b, c) = workloads;
    assert_eq!(
        before.1,
        matrix(a, b, c),
        "{what}: the verdicts changed while the datastore was away"
    );
    assert!(echo(stream), "{what}: the established stream stopped");
    assert!(agent.alive(), "{what}: agent exited");
    let window = Window {
        cpu: agent.cpu() - cpu_before,
        log_lines: agent.log_text().lines().count() - log_before,
        probes,
    };
    println!(
        "{what}: {:?} away; agent CPU {:?}, {} log lines, liveness and readiness 200 in all {} rounds",
        started.elapsed(),
        window.cpu,
        window.log_lines,
        window.probes
    );
    window
}

/// No spinning (a busy loop would burn most of the window) and no log flood (the agent
/// retries every second; one line per attempt is already too many).
fn assert_quiet(what: &str, window: &Window, agent: &Agent) {
    assert!(
        window.cpu < OUTAGE / 4,
        "{what}: the agent used {:?} of CPU in {OUTAGE:?}",
        window.cpu
    );
    assert!(
        window.log_lines <= 3,
        "{what}: {} log lines in {OUTAGE:?}:\n{}",
        window.log_lines,
        agent.log_text()
    );
}

#[test]
fn dataplane_keeps_state_through_etcd_outages_and_resyncs_after() {
    let node_ns = Netns::new(PREFIX, "node");
    node_ns.uplink("eth0", "eth0p", NODE_CIDR);
    node_ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // Everything below runs on a thread inside the node namespace, so etcd (started from it)
    // listens there, next to the agent, and the test's clients reach it and the agent's ports.
    node_ns.run(|| outage_scenario(&node_ns));
    drop(node_ns);
    assert_eq!(
        testkit::netns::list_with_prefix(&format!("{PREFIX}-{}-", std::process::id())),
        Vec::<String>::new(),
        "every namespace of the test is gone"
    );
}

fn outage_scenario(ns: &Netns) {
    let etcd = EtcdServer::start();
    let store = Datastore::connect(etcd.endpoint());
    let mut node = Node {
        ns,
        dir: tempfile::tempdir().unwrap(),
        etcd,
        store,
    };
    let mut agent = node.start_agent();
    node.store.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {{name: kns.{POD_NAMESPACE}}}\nspec:\n  ingress: [{{action: Allow}}]\n  egress: [{{action: Allow}}]\n"
    ));
    node.store.apply(&b_policy("role == 'a'"));
    let a = node.workload("a", "a");
    let b = node.workload("b", "b");
    let c = node.workload("c", "c");
    let expected = |a_b: bool, c_b: bool| {
        vec![
            ("A->B tcp", a_b),
            ("A->B icmp", a_b),
            ("C->B tcp", c_b),
            ("C->B icmp", c_b),
            ("B->A tcp", true),
            ("A->C tcp", true),
        ]
    };
    wait_since(Instant::now(), "A->B open", Duration::from_secs(20), || {
        tcp_ok(&a.ns, b.ip)
    });
    // Let the agent settle (coalesced applies, a drift check) before taking the snapshot.
    std::thread::sleep(Duration::from_secs(3));
    let m = matrix(&a, &b, &c);
    assert_eq!(m, expected(true, false), "policy before any outage");
    let mut stream = connect(&a.ns, b.ip).expect("a stream from A to B");
    assert!(echo(&mut stream));
    let snapshot = dataplane(ns);
    assert!(snapshot.contains("b-ingress"), "{snapshot}");

    // 1. Hung: SIGSTOP. The agent's watch stays open and silent.
    let resyncs_before = metric("felix_resyncs_started_total");
    let etcd_pid = Pid::from_raw(node.etcd.pid() as i32);
    let hung = ride_out(
        "etcd hung",
        || kill(etcd_pid, Signal::SIGSTOP).unwrap(),
        ns,
        &mut agent,
        &mut stream,
        (&snapshot, &m),
        (&a, &b, &c),
    );
    // A hung store looks like a quiet one: the agent has no reason to doubt its copy.
    assert!(node.in_sync(), "in sync while etcd is hung");
    kill(etcd_pid, Signal::SIGCONT).unwrap();
    assert_quiet("etcd hung", &hung, &agent);
    let written = Instant::now();
    node.store.apply(&b_policy("role == 'a' || role == 'c'"));
    let took = wait_since(written, "C->B to open after SIGCONT", RESYNC_LIMIT, || {
        tcp_ok(&c.ns, b.ip)
    });
    println!(
        "etcd hung {OUTAGE:?} then continued: policy write -> C->B open in {took:?}; resyncs {resyncs_before} -> {}",
        metric("felix_resyncs_started_total")
    );
    std::thread::sleep(Duration::from_secs(3));
    let m = matrix(&a, &b, &c);
    assert_eq!(m, expected(true, true), "policy after the hang");
    assert!(echo(&mut stream));

    // 2. Dead: SIGKILL, then a restart on the same data directory and port.
    let snapshot = dataplane(ns);
    let resyncs_before = metric("felix_resyncs_started_total");
    let errors_before = metric(DATASTORE_ERRORS);
    let dead = ride_out(
        "etcd dead",
        || node.etcd.kill(),
        ns,
        &mut agent,
        &mut stream,
        (&snapshot, &m),
        (&a, &b, &c),
    );
    assert_quiet("etcd dead", &dead, &agent);
    // It kept trying (about once a second), counting each failure.
    let failures = metric(DATASTORE_ERRORS) - errors_before;
    println!("etcd dead: {failures} failed attempts counted");
    assert!(
        failures >= OUTAGE.as_secs() / 3,
        "{failures} failed attempts in {OUTAGE:?}"
    );
    // A broken watch is known: the status report says the copy may be stale.
    assert!(!node.in_sync(), "not in sync while etcd is dead");
    let restarted = Instant::now();
    node.etcd.restart();
    let ready = restarted.elapsed();
    let took = wait_since(restarted, "the agent back in sync", RESYNC_LIMIT, || {
        node.in_sync()
    });
    println!(
        "etcd restart: answering after {ready:?}, agent in sync after {took:?} (retry period 1 s)"
    );
    node.store = Datastore::connect(node.etcd.endpoint());
    // Only C may reach B now: new connections from A are refused, the established stream
    // lives on (conntrack).
    let written = Instant::now();
    node.store.apply(&b_policy("role == 'c'"));
    let took = wait_since(
        written,
        "A->B to close after the restart",
        RESYNC_LIMIT,
        || !tcp_ok(&a.ns, b.ip),
    );
    let resyncs_after = metric("felix_resyncs_started_total");
    println!(
        "etcd dead {OUTAGE:?} then restarted: policy write -> A->B closed in {took:?}; resyncs {resyncs_before} -> {resyncs_after}"
    );
    assert_eq!(
        resyncs_after,
        resyncs_before + 1,
        "one resync for the whole outage, however many attempts failed"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        matrix(&a, &b, &c),
        expected(false, true),
        "policy after the restart"
    );
    assert!(echo(&mut stream), "the established stream survives it all");
    let (ready, body) = http_get(HEALTH_PORT, "/readiness");
    assert_eq!(ready, 200, "{body}");
    assert!(agent.alive());
    drop(agent);
}
