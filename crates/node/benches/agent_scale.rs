//! calico-node at scale (issue 5, benchmarks 2-4), the real binary in a node namespace with
//! an embedded datastore file, for N endpoints each (default 1,000 and 10,000; set
//! `AGENT_SCALE_SIZES=1000,10000` or pass the sizes as arguments, and
//! `AGENT_SCALE_FLIPS` for the number of policy writes, default 60):
//!
//! - N WorkloadEndpoints on this node: two real workloads (veth into their own namespaces,
//!   `client` and `server`), the rest endpoints whose interfaces do not exist (the agent
//!   still programs their chains and map elements); N/10 NetworkPolicies, each selecting
//!   about ten endpoints and allowing TCP from one of ten `group` selectors (sets of N/10
//!   members) plus one allowing from `app` selectors; a namespace profile that allows all.
//! - Cold start: from spawning the agent until "programmed": the v4 `cali-to-wl` verdict map
//!   holds all N interfaces and a TCP probe client -> server passes.
//! - Resident memory: VmRSS and VmHWM of the agent from /proc, once programmed and at the end.
//! - Policy write -> verdict change: a NetworkPolicy selecting the server is written with
//!   Deny, then Allow, from the client (alternately); the clock runs from the write until a
//!   probe sees the new verdict (the start of the first probe attempt that saw it, confirmed
//!   by a second one). p50, p99, max.
//! - Before/after, measured in the same run: the CPU of one apply for a flip, in-process, the
//!   old way (rebuild the desired state, render both tables, diff them) and the incremental
//!   way the agent now uses (`DataplaneDriver::plan`), which must give the same batches.
//!
//! Needs root; everything lives in namespaces `cza-<pid>-<N>-*`, removed by a guard, and the
//! agent is killed by its PID.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::Resource;
use dataplane::model::IpVersion;
use datastore::{EmbeddedStore, ResourceClient, Store};
use nix::sched::{setns, CloneFlags};
use node::dataplane_driver::DataplaneDriver;
use node::metrics::Metrics;
use node::syncer::{SyncKey, SyncStatus, SyncUpdate, SyncValue};
use serde_json::{json, Value};
use testkit::cmd::run;

const BINARY: &str = env!("CARGO_BIN_EXE_calico-node");
const NS: &str = "bench";
const NODE: &str = "benchnode";
const PORT: u16 = 8080;
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 3);

/// Network namespaces of one size's run; deleted on drop.
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, n: usize, tag: &str) -> String {
        let name = format!("cza-{}-{n}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        self.0.push(name.clone());
        name
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// The agent we started; killed by its PID on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = File::open(format!("/var/run/netns/{ns}")).unwrap();
    std::thread::spawn(move || {
        setns(file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A TCP connection client -> server:PORT opens within `timeout`.
fn tcp_ok(client_ns: &str, timeout: Duration) -> bool {
    in_ns(client_ns, move || {
        let addr = SocketAddr::from((SERVER_IP, PORT));
        TcpStream::connect_timeout(&addr, timeout).is_ok()
    })
}

fn resource(v: Value) -> Resource {
    Resource::from_json(v).unwrap()
}

fn wep(i: usize, iface: &str, ip: Ipv4Addr, labels: Value) -> Resource {
    let pod = format!("w{i}");
    resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
        "metadata": {"name": format!("{NODE}-k8s-{pod}-eth0"), "namespace": NS, "labels": labels},
        "spec": {"node": NODE, "orchestrator": "k8s", "pod": pod, "endpoint": "eth0",
                 "interfaceName": iface, "ipNetworks": [format!("{ip}/32")],
                 "profiles": [format!("kns.{NS}")]}
    }))
}

/// Every resource of a size-`n` cluster, the real workloads first.
fn resources(n: usize) -> Vec<Resource> {
    let mut out = vec![resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "Profile",
        "metadata": {"name": format!("kns.{NS}")},
        "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}],
                 "labelsToApply": {"pcns.projectcalico.org/name": NS}}
    }))];
    out.push(wep(0, "caliclient", CLIENT_IP, json!({"role": "client"})));
    out.push(wep(1, "caliserver", SERVER_IP, json!({"role": "server"})));
    let policies = n / 10;
    for i in 2..n {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + i as u32);
        let labels =
            json!({"app": format!("app{}", i % policies), "group": format!("g{}", i % 10)});
        out.push(wep(i, &format!("cali{i:011x}"), ip, labels));
    }
    for p in 0..policies {
        out.push(resource(json!({
            "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": format!("p{p}"), "namespace": NS},
            "spec": {"order": 100 + p, "selector": format!("app == 'app{p}'"),
                     "types": ["Ingress"],
                     "ingress": [
                        {"action": "Allow", "protocol": "TCP",
                         "source": {"selector": format!("group == 'g{}'", p % 10)},
                         "destination": {"ports": [80 + (p % 50) as u16]}},
                        {"action": "Allow",
                         "source": {"selector": format!("app == 'app{}'", (p + 1) % policies)}}]}
        })));
    }
    out
}

/// The policy that flips the verdict client -> server.
fn flip(allow: bool) -> Resource {
    let action = if allow { "Allow" } else { "Deny" };
    resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
        "metadata": {"name": "flip", "namespace": NS},
        "spec": {"order": 1, "selector": "role == 'server'", "types": ["Ingress"],
                 "ingress": [{"action": action, "source": {"selector": "role == 'client'"}},
                             {"action": "Allow"}]}
    }))
}

/// A pod namespace with a veth to the node, plumbed the way Calico's CNI does it.
fn workload(
    nets: &mut Namespaces,
    n: usize,
    node_ns: &str,
    tag: &str,
    iface: &str,
    ip: Ipv4Addr,
) -> String {
    let pod = nets.add(n, tag);
    testkit::workload::plumb(node_ns, &pod, iface, ip);
    pod
}

/// Number of elements of the v4 `cali-to-wl` map in `node_ns` (0 while the table is absent).
fn programmed_interfaces(node_ns: &str) -> usize {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            node_ns,
            "nft",
            "-j",
            "list",
            "map",
            "ip",
            "calico",
            "cali-to-wl",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
        return 0;
    };
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["map"]["elem"].as_array())
        .map(Vec::len)
        .sum()
}

/// (VmRSS, VmHWM) of `pid` in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU per apply at this size for a flip of the policy, in-process (median of 5): the old
/// way (rebuild the desired state, render both tables, diff them) and the agent's way now
/// (`DataplaneDriver::plan`: update the cached tables from the changes, diff what changed).
fn cpu_per_apply_ms(resources: &[Resource]) -> (f64, f64) {
    let mut d = DataplaneDriver::new(NODE, Arc::new(Metrics::new()));
    let put = |r: &Resource| SyncUpdate::Put {
        key: SyncKey::Resource {
            kind: r.kind(),
            namespace: r.metadata().namespace.clone(),
            name: r.metadata().name.clone(),
        },
        revision: 1,
        value: SyncValue::Resource(Box::new(r.clone())),
    };
    for r in resources.iter().chain([&flip(true)]) {
        d.handle(&put(r));
    }
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::InSync { revision: 1 },
    });
    d.plan().unwrap();
    let render = |d: &DataplaneDriver| {
        let desired = d.desired();
        [IpVersion::V4, IpVersion::V6].map(|f| dataplane::render(&desired.state, f).unwrap())
    };
    let mut before = render(&d);
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for i in 0..5 {
        d.handle(&put(&flip(i % 2 == 1)));
        let t0 = Instant::now();
        let after = render(&d);
        let full: Vec<dataplane::Batch> = before
            .iter()
            .zip(&after)
            .map(|(o, n)| dataplane::diff(o, n))
            .collect();
        old.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        let incremental = d.plan().unwrap();
        new.push(t0.elapsed().as_secs_f64() * 1e3);
        assert!(full[0].commands > 0, "the flip changes the tables");
        assert_eq!(full, incremental, "both ways give the same batches");
        before = after;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(old), median(new))
}

/// Results of one size.
struct Row {
    n: usize,
    cold_start: Duration,
    rss_programmed: f64,
    rss_end: f64,
    hwm: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    old_cpu_ms: f64,
    new_cpu_ms: f64,
}

fn measure(n: usize, flips: usize) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let mut nets = Namespaces(Vec::new());
    let node_ns = nets.add(n, "node");
    run(
        "ip",
        &[
            "-n", &node_ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ],
    );
    for args in [
        &["addr", "add", "10.231.9.2/24", "dev", "eth0"][..],
        &["link", "set", "eth0", "up"],
        &["link", "set", "eth0p", "up"],
        &[
            "route",
            "add",
            "default",
            "via",
            "10.231.9.1",
            "dev",
            "eth0",
        ],
    ] {
        let mut full = vec!["-n", node_ns.as_str()];
        full.extend_from_slice(args);
        run("ip", &full);
    }
    run(
        "ip",
        &[
            "netns",
            "exec",
            &node_ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    let client = workload(&mut nets, n, &node_ns, "client", "caliclient", CLIENT_IP);
    let server = workload(&mut nets, n, &node_ns, "server", "caliserver", SERVER_IP);
    let listener = in_ns(&server, || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).unwrap()
    });
    std::thread::spawn(move || for _ in listener.incoming() {});

    let db = dir.path().join("calico.db");
    let config = dir.path().join("calico.cfg");
    std::fs::write(
        &config,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  datastoreType: embedded\n  datastorePath: {}\n",
            db.display()
        ),
    )
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&db).unwrap());
    let client_api = ResourceClient::new(Arc::clone(&store));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let all = resources(n);
    let t0 = Instant::now();
    rt.block_on(async {
        for chunk in all.chunks(500) {
            let writes = chunk.iter().map(|r| client_api.create(r.clone()));
            for result in futures_util::future::join_all(writes).await {
                result.unwrap();
            }
        }
    });
    eprintln!(
        "[{n}] wrote {} resources in {:.1?}",
        all.len(),
        t0.elapsed()
    );
    let (old_cpu_ms, new_cpu_ms) = cpu_per_apply_ms(&all);

    let started = Instant::now();
    let child = Command::new("ip")
        .args(["netns", "exec", &node_ns, BINARY, "-c"])
        .arg(&config)
        .env("NODENAME", NODE)
        .env("IP", "10.231.9.2/24")
        .env("CALICO_STATE_DIR", dir.path().join("state"))
        .env("CALICO_NETWORKING_BACKEND", "none")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let agent = Agent(child);
    let pid = agent.0.id();
    let programmed = |timeout: Duration| {
        let deadline = Instant::now() + timeout;
        loop {
            if programmed_interfaces(&node_ns) == n && tcp_ok(&client, Duration::from_millis(200)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not programmed within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    programmed(Duration::from_secs(300));
    let cold_start = started.elapsed();
    let (rss_programmed, _) = memory(pid);
    eprintln!("[{n}] programmed after {cold_start:.1?}, VmRSS {rss_programmed:.1} MiB");

    // Let the first drift check pass, then the writes.
    std::thread::sleep(Duration::from_secs(1));
    let mut samples = Vec::new();
    for i in 0..flips {
        let allow = i % 2 == 1;
        let write = flip(allow);
        let written = Instant::now();
        rt.block_on(client_api.apply(write)).unwrap();
        let deadline = written + Duration::from_secs(30);
        let took = loop {
            let at = written.elapsed();
            // A blocked SYN only shows as a timeout; a short one keeps the resolution fine,
            // a second attempt confirms the new verdict.
            let sees = |timeout| tcp_ok(&client, timeout) == allow;
            if sees(Duration::from_millis(15)) && sees(Duration::from_millis(100)) {
                break at;
            }
            assert!(Instant::now() < deadline, "flip {i} did not take effect");
            std::thread::sleep(Duration::from_millis(2));
        };
        samples.push(took);
        std::thread::sleep(Duration::from_millis(120));
    }
    let (rss_end, hwm) = memory(pid);
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    drop(agent);
    Row {
        n,
        cold_start,
        rss_programmed,
        rss_end,
        hwm,
        p50: pct(0.50),
        p99: pct(0.99),
        max: *samples.last().unwrap(),
        old_cpu_ms,
        new_cpu_ms,
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes: Vec<usize> = if !args.is_empty() {
        args
    } else {
        std::env::var("AGENT_SCALE_SIZES")
            .ok()
            .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1_000, 10_000])
    };
    let flips: usize = std::env::var("AGENT_SCALE_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n.max(20), flips)).collect();
    println!();
    println!("calico-node at scale (first row is the reference; policy write -> verdict, {flips} writes)");
    println!(
        "{:>8} {:>11} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "endpts",
        "cold start",
        "RSS prog",
        "RSS end",
        "HWM",
        "p50",
        "p99",
        "max",
        "CPU/apply old",
        "CPU/apply now"
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    for r in &rows {
        println!(
            "{:>8} {:>11} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>13} {:>13}",
            r.n,
            format!("{:.2} s", r.cold_start.as_secs_f64()),
            format!("{:.1} MiB", r.rss_programmed),
            format!("{:.1} MiB", r.rss_end),
            format!("{:.1} MiB", r.hwm),
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            format!("{:.1} ms", r.old_cpu_ms),
            format!("{:.2} ms", r.new_cpu_ms),
        );
    }
    println!(
        "CPU/apply (in-process, no nft, median of 5 flips): old = desired::build + render v4/v6 \
         + full diff (the pre-incremental path); now = DataplaneDriver::plan (same batches)"
    );
}
