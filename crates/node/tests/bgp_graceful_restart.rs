//! Graceful restart (RFC 4724) of the real `calico-node` binary against a real BIRD 2, with
//! real packets. Namespaces `czf-<pid>-<n>-...`:
//!
//! ```text
//!  client 10.231.31.2 ── 10.231.31.1 tor (BIRD, AS 65000) 10.231.30.1 ── 10.231.30.2 node
//!                                                                 (calico-node, AS 65001)
//!                                                                   └─ cali veth ── workload
//! ```
//!
//! The node exports its affine /26; BIRD installs it in the tor's kernel, so a continuous
//! ping from the client reaches the workload through BIRD's learned route. Then:
//! - `kill -9` of the agent: BIRD keeps the route (stale), the ping keeps flowing; the
//!   restarted agent re-establishes the session and refreshes the route (End-of-RIB) without
//!   the route ever leaving the tor's kernel;
//! - `kill -9` of BIRD: the agent keeps BIRD's routes in its kernel (proto 12) until BIRD is
//!   back; a prefix the restarted BIRD no longer announces is swept at its End-of-RIB;
//! - `calicoctl node status` details carry real counters (BIRD announces 3 prefixes: received
//!   3) and the graceful-restart state.
//!
//! Outage and recovery times are printed, never asserted. Needs root; every namespace and
//! daemon is removed by a guard, even when the test fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datastore::{EmbeddedStore, ResourceClient, Store};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use node::status::{BgpPeerStatus, NodeStatusReport};
use testkit::netns::Netns;

const BINARY: &str = env!("CARGO_BIN_EXE_calico-node");
const PREFIX: &str = "czf";
const NODE: &str = "grnode";
const POD_NAMESPACE: &str = "demo";
const TOR_STATICS: [&str; 3] = ["10.99.1.0/24", "10.99.2.0/24", "10.99.3.0/24"];

/// A child process killed by its PID on drop.
struct Daemon(Option<Child>);

impl Daemon {
    fn kill9(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `cond` every 20 ms up to `limit`; returns how long it took.
#[track_caller]
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The whole scenario's namespaces, files and daemons.
struct Lab {
    node: Netns,
    tor: Netns,
    client: Netns,
    pod: Netns,
    dir: tempfile::TempDir,
    config: PathBuf,
    store: Arc<dyn Store>,
    rt: tokio::runtime::Runtime,
}

impl Lab {
    fn new() -> Lab {
        let node = Netns::new(PREFIX, "node");
        let tor = Netns::new(PREFIX, "tor");
        let client = Netns::new(PREFIX, "client");
        let pod = Netns::new(PREFIX, "pod");
        tor.veth_into("eth0", &node, "eth0");
        tor.veth_into("eth1", &client, "eth0");
        for (ns, dev, cidr) in [
            (&tor, "eth0", "10.231.30.1/24"),
            (&tor, "eth1", "10.231.31.1/24"),
            (&node, "eth0", "10.231.30.2/24"),
            (&client, "eth0", "10.231.31.2/24"),
        ] {
            ns.ip(&["addr", "add", cidr, "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        node.ip(&["route", "add", "default", "via", "10.231.30.1"]);
        client.ip(&["route", "add", "default", "via", "10.231.31.1"]);
        for ns in [&node, &tor] {
            ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        }
        let dir = tempfile::tempdir().unwrap();
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Lab {
            node,
            tor,
            client,
            pod,
            dir,
            config,
            store,
            rt,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn apply(&self, yaml: &str) {
        let client = ResourceClient::new(Arc::clone(&self.store));
        self.rt.block_on(async {
            for r in api::decode_documents(yaml).unwrap() {
                client.apply(r).await.unwrap();
            }
        });
    }

    /// BIRD in the tor: eBGP to the node with graceful restart, its learned routes in the
    /// tor's kernel, and `statics` announced to the node. `recover` starts it in graceful
    /// restart recovery mode (`-R`), as after a crash.
    fn start_bird(&self, statics: &[&str], recover: bool) -> Daemon {
        let routes: String = statics
            .iter()
            .map(|p| format!("  route {p} blackhole;\n"))
            .collect();
        let conf = format!(
            "router id 10.231.30.1;\n\
             log \"{log}\" all;\n\
             protocol device {{ scan time 1; }}\n\
             protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; }}\n\
             protocol static s4 {{ ipv4;\n{routes}}}\n\
             protocol bgp node {{\n\
               local 10.231.30.1 as 65000; neighbor 10.231.30.2 as 65001;\n\
               graceful restart on; connect delay time 1; connect retry time 1;\n\
               error wait time 1, 5; debug all;\n\
               ipv4 {{ import all; export where source = RTS_STATIC; }};\n\
             }}\n",
            log = self.path("bird.log").display()
        );
        std::fs::write(self.path("bird.conf"), conf).unwrap();
        let _ = std::fs::remove_file(self.path("bird.ctl"));
        let mut cmd = self.tor.command("/usr/sbin/bird");
        cmd.arg("-f").arg("-c").arg(self.path("bird.conf"));
        cmd.arg("-s").arg(self.path("bird.ctl"));
        if recover {
            cmd.arg("-R");
        }
        // `ip netns exec` execs BIRD in place, so the child is BIRD itself.
        let bird = Daemon(Some(cmd.stdout(Stdio::null()).spawn().unwrap()));
        wait_for("BIRD's control socket", Duration::from_secs(10), || {
            self.path("bird.ctl").exists()
        });
        bird
    }

    fn birdc(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/sbin/birdc")
            .arg("-s")
            .arg(self.path("bird.ctl"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn bird_established(&self) -> bool {
        self.birdc(&["show", "protocols", "node"])
            .contains("Established")
    }

    fn bird_log(&self) -> String {
        std::fs::read_to_string(self.path("bird.log")).unwrap_or_default()
    }

    fn start_agent(&self) -> Daemon {
        let socket = self.path("status.sock");
        let child = self
            .node
            .command(BINARY)
            .arg("-c")
            .arg(&self.config)
            .arg("--status-socket")
            .arg(&socket)
            .env("NODENAME", NODE)
            .env("IP", "10.231.30.2/24")
            .env("AS", "65001")
            .env("CALICO_IPV4POOL_CIDR", "10.244.0.0/16")
            .env("CALICO_STATE_DIR", self.path("state"))
            .env("CALICO_DATAPLANE", "nftables")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let agent = Daemon(Some(child));
        wait_for("an in-sync status report", Duration::from_secs(30), || {
            self.status().is_some_and(|s| s.in_sync)
        });
        agent
    }

    fn status(&self) -> Option<NodeStatusReport> {
        self.rt
            .block_on(node::status::query(&self.path("status.sock")))
            .ok()
    }

    fn tor_peer(&self) -> Option<BgpPeerStatus> {
        self.status()?
            .bgp_peers
            .into_iter()
            .find(|p| p.peer_address == "10.231.30.1")
    }

    /// A workload on the node, plumbed the way the calico CNI plugin does it: an address
    /// from Calico IPAM (so a block becomes affine to the node), a veth `caligr` with the
    /// plugin's MAC and sysctls, a /32 host route and the WorkloadEndpoint.
    fn workload(&self) -> String {
        let args = ipam::AutoAssignArgs {
            num4: 1,
            handle: Some("k8s-pod-network.container-gr".into()),
            hostname: NODE.into(),
            ..Default::default()
        };
        let ipam = ipam::Ipam::new(Arc::clone(&self.store));
        let ip = match self.rt.block_on(ipam.auto_assign(&args)).unwrap().ipv4[0].addr() {
            std::net::IpAddr::V4(v4) => v4,
            other => panic!("not IPv4: {other}"),
        };
        testkit::workload::plumb(&self.node.name, &self.pod.name, "caligr", ip);
        let cidr = format!("{ip}/32");
        self.apply(&format!(
            "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {{name: kns.{POD_NAMESPACE}}}\nspec:\n  ingress: [{{action: Allow}}]\n  egress: [{{action: Allow}}]\n---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: {NODE}-k8s-gr-eth0\n  namespace: {POD_NAMESPACE}\nspec:\n  node: {NODE}\n  orchestrator: k8s\n  pod: gr\n  endpoint: eth0\n  interfaceName: caligr\n  ipNetworks: [{cidr}]\n  profiles: [kns.{POD_NAMESPACE}]\n"
        ));
        ip.to_string()
    }

    /// The node's affine block, as BIRD should learn it.
    fn block_of(ip: &str) -> String {
        let net: ipnet::Ipv4Net = format!("{ip}/26").parse().unwrap();
        net.trunc().to_string()
    }

    fn tor_routes(&self) -> String {
        self.tor.ip(&["route", "show", "proto", "bird"])
    }

    fn node_bgp_routes(&self) -> String {
        self.node.ip(&["route", "show", "proto", "12"])
    }
}

/// A thread sampling `probe` every 10 ms until stopped; records whether it ever failed.
struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Watch {
    fn start(probe: impl Fn() -> bool + Send + 'static) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut failures = 0;
            while !flag.load(Ordering::SeqCst) {
                if !probe() {
                    failures += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            failures
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the number of samples that failed.
    fn failures(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A continuous ping (every 20 ms) from `ns` to `dst`; `finish` stops it and returns
/// (transmitted, received).
struct Ping(Daemon);

impl Ping {
    fn start(ns: &Netns, dst: &str) -> Ping {
        let child = ns
            .command("ping")
            .args(["-n", "-i", "0.02", "-W", "1", dst])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Ping(Daemon(Some(child)))
    }

    fn finish(mut self) -> (u64, u64) {
        let child = self.0 .0.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // "N packets transmitted, M received, ..."
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary in {text}"));
        let num = |i: usize| -> u64 {
            line.split(", ")
                .nth(i)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        (num(0), num(1))
    }
}

#[test]
fn graceful_restart_with_bird_keeps_routes_and_traffic() {
    let lab = Lab::new();
    let mut bird = lab.start_bird(&TOR_STATICS, false);
    lab.apply(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {nodeToNodeMeshEnabled: false}\n---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {peerIP: 10.231.30.1, asNumber: 65000}\n",
    );
    let mut agent = lab.start_agent();
    let ip = lab.workload();
    let block = Lab::block_of(&ip);
    let first = wait_for(
        "the node's block in the tor's kernel",
        Duration::from_secs(30),
        || lab.tor_routes().contains(&block),
    );
    println!("block {block} in the tor's kernel after {first:?}");
    wait_for(
        "the client reaching the workload",
        Duration::from_secs(30),
        || lab.client.exec_ok(&["ping", "-c1", "-W1", &ip]),
    );

    // Counters in the status report: BIRD announces 3 prefixes, all accepted; we advertise
    // our block.
    wait_for(
        "the tor's prefixes in the node's kernel",
        Duration::from_secs(30),
        || {
            let routes = lab.node_bgp_routes();
            TOR_STATICS.iter().all(|p| routes.contains(p))
        },
    );
    // The agent publishes its status every few seconds.
    wait_for(
        "the session in the status report",
        Duration::from_secs(15),
        || {
            lab.tor_peer()
                .is_some_and(|p| p.info == "Established" && p.received == Some(3))
        },
    );
    let peer = lab.tor_peer().unwrap();
    assert_eq!(peer.accepted, Some(3), "{peer:?}");
    assert_eq!(peer.advertised, Some(1), "{peer:?}");
    // Both ends propose BIRD's default hold time; BIRD's restart time is its default too.
    assert_eq!(peer.hold_time, Some(240), "{peer:?}");
    assert_eq!(
        peer.graceful_restart.as_deref(),
        Some("negotiated, peer restart time 120s")
    );
    assert!(peer.uptime_seconds.is_some(), "{peer:?}");

    // 1. kill -9 the agent: BIRD keeps the route stale and the traffic flows.
    let ping = Ping::start(&lab.client, &ip);
    std::thread::sleep(Duration::from_millis(500));
    let watch = {
        let tor = lab.tor.name.clone();
        let block = block.clone();
        Watch::start(move || {
            let out = Command::new("ip")
                .args(["-n", &tor, "route", "show", &block])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).contains("via 10.231.30.2")
        })
    };
    let killed = Instant::now();
    agent.kill9();
    let gr_seen = wait_for(
        "BIRD to notice the restart",
        Duration::from_secs(10),
        || !lab.bird_established(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let during = lab.birdc(&["show", "route", "all", &block]);
    assert!(during.contains(&block), "BIRD dropped the route: {during}");
    assert!(lab.tor_routes().contains(&block));
    let agent = lab.start_agent();
    let back = wait_for("the session back up", Duration::from_secs(30), || {
        lab.bird_established()
    });
    let outage = killed.elapsed();
    // End-of-RIB from the restarted agent ends BIRD's graceful restart.
    let eor = wait_for(
        "BIRD's graceful restart to end",
        Duration::from_secs(30),
        || lab.bird_log().contains("Neighbor graceful restart done"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let lost_samples = watch.failures();
    let (sent, received) = ping.finish();
    println!(
        "agent kill -9 -> BIRD saw the session drop after {gr_seen:?}; agent restarted 2 s \
         later, session back {back:?} after the restart ({outage:?} from the kill), BIRD's \
         graceful restart over {eor:?} later; ping {received}/{sent} answered; route samples \
         missing in the tor: {lost_samples}"
    );
    let log = lab.bird_log();
    for line in log.lines().filter(|l| {
        let l = l.to_lowercase();
        l.contains("restart") || l.contains("end-of-rib") || l.contains(&block)
    }) {
        println!("BIRD: {line}");
    }
    // BIRD kept the route through the restart: the restarted agent's UPDATE refreshed it
    // (BIRD imports it unchanged) before its End-of-RIB ended the restart, and BIRD never
    // removed it.
    let restart = log
        .find("Neighbor graceful restart detected")
        .unwrap_or_else(|| panic!("BIRD did not go through a graceful restart:\n{log}"));
    let after = &log[restart..];
    let position = |what: &str| {
        after
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in BIRD's log after the restart:\n{after}"))
    };
    let refreshed = position(&format!("> ignored {block}"));
    let eor = position("Got END-OF-RIB");
    let done = position("Neighbor graceful restart done");
    assert!(refreshed < eor && eor < done, "{after}");
    assert!(
        !log.lines()
            .any(|l| l.contains("removed") && l.contains(&block)),
        "{log}"
    );
    assert_eq!(lost_samples, 0, "the route left the tor's kernel:\n{log}");
    assert!(sent - received <= 1, "{} probes lost", sent - received);
    let after = lab.birdc(&["show", "route", "all", &block]);
    assert!(after.contains("BGP.as_path: 65001"), "{after}");
    assert!(lab.client.exec_ok(&["ping", "-c1", "-W1", &ip]));

    // 2. kill -9 BIRD: the node keeps BIRD's routes (stale) in its kernel until BIRD is
    // back; the restarted BIRD no longer announces 10.99.3.0/24, which goes at End-of-RIB.
    let watch = {
        let node = lab.node.name.clone();
        Watch::start(move || {
            let out = Command::new("ip")
                .args(["-n", &node, "route", "show", "proto", "12"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            TOR_STATICS[..2].iter().all(|p| text.contains(p))
        })
    };
    let killed = Instant::now();
    bird.kill9();
    wait_for(
        "the agent to report the restart",
        Duration::from_secs(15),
        || lab.tor_peer().is_some_and(|p| p.info != "Established"),
    );
    let stale = lab.tor_peer().unwrap();
    assert_eq!(stale.stale, Some(3), "{stale:?}");
    assert_eq!(
        stale.graceful_restart.as_deref(),
        Some("peer restarting: 3 stale routes kept (up to 120s)")
    );
    std::thread::sleep(Duration::from_secs(1));
    let routes = lab.node_bgp_routes();
    assert!(
        TOR_STATICS.iter().all(|p| routes.contains(p)),
        "stale routes dropped: {routes}"
    );
    let bird = lab.start_bird(&TOR_STATICS[..2], true);
    let back = wait_for("the session back up", Duration::from_secs(30), || {
        lab.bird_established()
    });
    let swept = wait_for(
        "the prefix BIRD dropped to be swept",
        Duration::from_secs(30),
        || !lab.node_bgp_routes().contains(TOR_STATICS[2]),
    );
    let outage = killed.elapsed();
    let lost_samples = watch.failures();
    println!(
        "BIRD kill -9 -> restarted; session back {back:?} after BIRD's start, withdrawn \
         prefix swept {swept:?} later ({outage:?} from the kill); route samples missing in \
         the node: {lost_samples}"
    );
    assert_eq!(lost_samples, 0, "a kept route left the node's kernel");
    wait_for("the refreshed counters", Duration::from_secs(15), || {
        lab.tor_peer()
            .is_some_and(|p| (p.received, p.stale) == (Some(2), Some(0)))
    });
    drop(agent);
    drop(bird);
}
