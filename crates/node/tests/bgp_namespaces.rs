//! The BGP manager against real kernels and a real BIRD, run as root. Tests build private
//! network namespaces `cnbgpt-<pid>-<n>-...` (`czf-...` for the BGPFilter, GTSM and local-AS
//! test): two joined by a veth pair, or a "fabric" bridge with one namespace per node. A
//! `BgpManager` runs on a dedicated thread that entered its namespace with setns, fed
//! hand-built Node/IPPool/BGP resources and IPAM blocks as syncer updates. Namespaces and BIRD are removed on drop, even when a test fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use api::{
    AsNumber, BGPConfiguration, BGPConfigurationSpec, BGPFilter, BGPFilterAction,
    BGPFilterMatchOperator, BGPFilterRule, BGPFilterSpec, BGPPeer, BGPPeerSpec, IPPool, IPPoolSpec,
    Kind, Node, NodeBgpSpec, NodeSpec, ObjectMeta, Resource,
};
use ipam::AllocationBlock;
use ipnet::IpNet;
use node::bgp::{render_status, BgpManager, BgpOptions, PeerReport};
use node::status::BgpPeerStatus;
use node::syncer::{SyncKey, SyncUpdate, SyncValue};
use tokio::sync::{mpsc, oneshot};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs `args[0] args[1..]`, panicking with its stderr on failure; returns stdout.
fn run(args: &[&str]) -> String {
    testkit::cmd::run(args[0], &args[1..])
}

/// Two namespaces joined by a veth pair (`10.77.0.1/24`, `fd00:77::1/64` in `a`; `.2` and
/// `::2` in `b`), a temporary directory and, once started, BIRD in `b`.
struct Lab {
    a: String,
    b: String,
    dir: tempfile::TempDir,
    bird: Option<Child>,
}

impl Lab {
    fn new() -> Lab {
        Lab::with_prefix("cnbgpt")
    }

    /// Like [`Lab::new`], with namespaces named `<prefix>-<pid>-<n>-a` and `-b`.
    fn with_prefix(prefix: &str) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let base = format!("{prefix}-{pid}-{n}");
        let lab = Lab {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
            dir: tempfile::tempdir().unwrap(),
            bird: None,
        };
        run(&["ip", "netns", "add", &lab.a]);
        run(&["ip", "netns", "add", &lab.b]);
        let (va, vb) = (
            format!("cnb{n}a{}", pid % 10000),
            format!("cnb{n}b{}", pid % 10000),
        );
        run(&[
            "ip", "-n", &lab.a, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns",
            &lab.b,
        ]);
        for (ns, dev, addr, addr6) in [
            (&lab.a, &va, "10.77.0.1/24", "fd00:77::1/64"),
            (&lab.b, &vb, "10.77.0.2/24", "fd00:77::2/64"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", addr6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_bird(&mut self, protocols: &str) {
        let conf = format!(
            "router id 10.77.0.2;\n\
             log \"{log}\" all;\n\
             protocol device {{ scan time 1; }}\n\
             protocol static s4 {{ ipv4; route 10.99.0.0/24 blackhole; }}\n\
             {protocols}\n",
            log = self.path("bird.log").display()
        );
        std::fs::write(self.path("bird.conf"), conf).unwrap();
        // `ip netns exec` execs BIRD in place, so the child is BIRD itself.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.b, "/usr/sbin/bird", "-f", "-c"])
            .arg(self.path("bird.conf"))
            .arg("-s")
            .arg(self.path("bird.ctl"))
            .spawn()
            .unwrap();
        self.bird = Some(child);
        wait_for("BIRD's control socket", || self.path("bird.ctl").exists());
    }

    /// Whether BIRD answers on its control socket.
    fn bird_ready(&self) -> bool {
        Command::new("/usr/sbin/birdc")
            .arg("-s")
            .arg(self.path("bird.ctl"))
            .arg("show status")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn birdc(&self, cmd: &str) -> String {
        let ctl = self.path("bird.ctl");
        let mut args = vec!["/usr/sbin/birdc", "-s", ctl.to_str().unwrap()];
        args.extend(cmd.split(' '));
        run(&args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut bird) = self.bird.take() {
            let _ = bird.kill();
            let _ = bird.wait();
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Polls `cond` every 100 ms for up to 30 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// BGP routes (`proto bird`) of both families in a namespace's main table, one line each.
fn bgp_routes(ns: &str) -> String {
    run(&["ip", "-n", ns, "-4", "route", "show", "proto", "12"])
        + &run(&["ip", "-n", ns, "-6", "route", "show", "proto", "12"])
}

/// Whether `ns` routes `dst` via `via` with our protocol number (shown as `proto bird`).
fn has_route(ns: &str, dst: &str, via: &str) -> bool {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let line = format!("{dst} via {via} ");
    bgp_routes(ns).lines().any(|l| l.starts_with(&line))
        && run(&["ip", "-n", ns, family, "route", "show"])
            .lines()
            .any(|l| l.starts_with(&line) && l.contains(" proto bird "))
}

enum Cmd {
    Update(SyncUpdate),
    Status(oneshot::Sender<(Vec<BgpPeerStatus>, Vec<PeerReport>)>),
}

/// A `BgpManager` driven on its own thread inside a namespace, like the agent drives it.
struct Agent {
    commands: Option<mpsc::UnboundedSender<Cmd>>,
    thread: Option<JoinHandle<()>>,
}

impl Agent {
    fn start(ns: &str, name: &str) -> Agent {
        Agent::with_options(ns, BgpOptions::new(name))
    }

    fn with_options(ns: &str, options: BgpOptions) -> Agent {
        let path = format!("/var/run/netns/{ns}");
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(path).unwrap();
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut bgp = BgpManager::new(options).unwrap();
                loop {
                    tokio::select! {
                        cmd = rx.recv() => match cmd {
                            Some(Cmd::Update(u)) => {
                                if bgp.handle(&u) {
                                    bgp.reconcile().await.unwrap();
                                }
                            }
                            Some(Cmd::Status(reply)) => {
                                let rows = bgp.status_rows().await.unwrap();
                                let reports = bgp.peer_reports().await.unwrap();
                                let _ = reply.send((rows, reports));
                            }
                            None => break,
                        },
                        event = bgp.next_event() => bgp.apply_event(event).await.unwrap(),
                    }
                }
            });
        });
        Agent {
            commands: Some(tx),
            thread: Some(thread),
        }
    }

    fn send(&self, updates: impl IntoIterator<Item = SyncUpdate>) {
        for u in updates {
            self.commands
                .as_ref()
                .unwrap()
                .send(Cmd::Update(u))
                .expect("agent thread alive");
        }
    }

    fn status(&self) -> (Vec<BgpPeerStatus>, Vec<PeerReport>) {
        let (tx, rx) = oneshot::channel();
        self.commands
            .as_ref()
            .unwrap()
            .send(Cmd::Status(tx))
            .expect("agent thread alive");
        rx.blocking_recv().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.commands.take();
        if let Some(t) = self.thread.take() {
            let joined = t.join();
            if !std::thread::panicking() {
                joined.expect("agent thread panicked");
            }
        }
    }
}

fn put(kind: Kind, name: &str, r: Resource) -> SyncUpdate {
    SyncUpdate::Put {
        key: SyncKey::Resource {
            kind,
            namespace: None,
            name: name.into(),
        },
        revision: 1,
        value: SyncValue::Resource(Box::new(r)),
    }
}

fn dual_node(name: &str, v4: &str, v6: &str) -> SyncUpdate {
    put(
        Kind::Node,
        name,
        Resource::Node(Node {
            metadata: ObjectMeta::named(name),
            spec: NodeSpec {
                bgp: Some(NodeBgpSpec {
                    ipv4_address: v4.into(),
                    ipv6_address: v6.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
    )
}

fn node(name: &str, v4: &str, asn: Option<u32>) -> SyncUpdate {
    put(
        Kind::Node,
        name,
        Resource::Node(Node {
            metadata: ObjectMeta::named(name),
            spec: NodeSpec {
                bgp: Some(NodeBgpSpec {
                    ipv4_address: v4.into(),
                    as_number: asn.map(AsNumber),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
    )
}

fn pool() -> SyncUpdate {
    pool_named("default-ipv4-ippool", "10.65.0.0/16", 26)
}

fn pool_named(name: &str, cidr: &str, block_size: u8) -> SyncUpdate {
    put(
        Kind::IPPool,
        name,
        Resource::IPPool(IPPool {
            metadata: ObjectMeta::named(name),
            spec: IPPoolSpec {
                cidr: cidr.into(),
                block_size,
                ..Default::default()
            },
            ..Default::default()
        }),
    )
}

fn block(cidr: &str, host: &str, borrowed_by: &[(&str, &str)]) -> SyncUpdate {
    let cidr: IpNet = cidr.parse().unwrap();
    let mut b = AllocationBlock::new(cidr, Some(host));
    for (ip, node) in borrowed_by {
        let attrs = BTreeMap::from([("node".to_string(), node.to_string())]);
        assert!(b.assign(ip.parse().unwrap(), Some("k8s-pod-network.x"), &attrs));
    }
    SyncUpdate::Put {
        key: SyncKey::IpamBlock { cidr },
        revision: 2,
        value: SyncValue::IpamBlock(Box::new(b)),
    }
}

fn delete(key: SyncKey) -> SyncUpdate {
    SyncUpdate::Delete { key, revision: 3 }
}

#[test]
fn bgp_two_nodes_mesh_and_program_each_others_blocks() {
    let lab = Lab::new();
    // A route left by an earlier run of node-a's agent: kept through the restart grace, swept
    // after it since nobody announces it.
    run(&[
        "ip",
        "-n",
        &lab.a,
        "route",
        "add",
        "10.65.9.0/26",
        "via",
        "10.77.0.2",
        "proto",
        "12",
    ]);
    let mut options = BgpOptions::new("node-a");
    options.restart_grace = Duration::from_secs(5);
    let world = || {
        vec![
            node("node-a", "10.77.0.1/24", None),
            node("node-b", "10.77.0.2/24", None),
            pool(),
            block("10.65.0.0/26", "node-a", &[]),
            block("10.65.0.64/26", "node-b", &[]),
        ]
    };
    let a = Agent::with_options(&lab.a, options);
    let b = Agent::start(&lab.b, "node-b");
    a.send(world());
    b.send(world());
    // node-a has reconciled (a status round trip follows its updates) and kept the old route.
    a.status();
    assert!(has_route(&lab.a, "10.65.9.0/26", "10.77.0.2"));
    wait_for("node-b's block in node-a's kernel", || {
        has_route(&lab.a, "10.65.0.64/26", "10.77.0.2")
    });
    wait_for("node-a's block in node-b's kernel", || {
        has_route(&lab.b, "10.65.0.0/26", "10.77.0.1")
    });
    wait_for("the sweep after the restart grace", || {
        !bgp_routes(&lab.a).contains("10.65.9.0/26")
    });
    // Only the other's aggregate, nothing of our own.
    assert_eq!(
        bgp_routes(&lab.a).lines().count(),
        1,
        "{}",
        bgp_routes(&lab.a)
    );

    let (rows, reports) = a.status();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].peer_address, "10.77.0.2");
    assert_eq!(rows[0].peer_type, "node-to-node mesh");
    assert_eq!(
        (rows[0].state.as_str(), rows[0].info.as_str()),
        ("up", "Established")
    );
    assert_eq!(reports[0].name, "Mesh_10_77_0_2");
    assert_eq!((reports[0].received, reports[0].advertised), (1, 1));
    let table = render_status(&rows);
    assert!(table.starts_with("IPv4 BGP status\n+---"), "{table}");
    assert!(
        table.contains("| 10.77.0.2    | node-to-node mesh | up    |"),
        "{table}"
    );
    assert!(
        table.ends_with("IPv6 BGP status\nNo IPv6 peers found.\n\n"),
        "{table}"
    );

    // node-b borrows 10.65.0.5 from node-a's block: it advertises the /32, node-a installs it
    // (more specific than its own blackhole) and does not advertise it back.
    let borrowed = block("10.65.0.0/26", "node-a", &[("10.65.0.5", "node-b")]);
    a.send([borrowed.clone()]);
    b.send([borrowed]);
    wait_for("the borrowed /32 in node-a's kernel", || {
        has_route(&lab.a, "10.65.0.5", "10.77.0.2")
    });
    assert!(!bgp_routes(&lab.b).contains("10.65.0.5"));

    // The block goes away: withdrawn, and gone from node-a's kernel.
    let gone = delete(SyncKey::IpamBlock {
        cidr: "10.65.0.64/26".parse().unwrap(),
    });
    a.send([gone.clone()]);
    b.send([gone]);
    wait_for("withdrawal of node-b's block", || {
        !bgp_routes(&lab.a).contains("10.65.0.64/26")
    });
    assert!(has_route(&lab.a, "10.65.0.5", "10.77.0.2"));

    // node-b leaves the cluster: node-a drops the session and every route through it.
    a.send([delete(SyncKey::Resource {
        kind: Kind::Node,
        namespace: None,
        name: "node-b".into(),
    })]);
    wait_for("node-a's kernel without node-b's routes", || {
        bgp_routes(&lab.a).trim().is_empty()
    });
    assert!(a.status().0.is_empty());
}

#[test]
fn bgp_node_in_its_own_as_announces_its_block_to_a_bird_tor() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp tor { local 10.77.0.2 as 65000; neighbor 10.77.0.1 as 65001;\n\
           connect delay time 1; connect retry time 1;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
    );
    let a = Agent::start(&lab.a, "node-a");
    a.send([
        put(
            Kind::BGPConfiguration,
            "default",
            Resource::BGPConfiguration(BGPConfiguration {
                metadata: ObjectMeta::named("default"),
                spec: BGPConfigurationSpec {
                    node_to_node_mesh_enabled: Some(false),
                    ..Default::default()
                },
            }),
        ),
        node("node-a", "10.77.0.1/24", Some(65001)),
        node("node-c", "10.77.0.3/24", None),
        pool(),
        block("10.65.0.0/26", "node-a", &[]),
        block("10.65.1.0/26", "node-c", &[]),
        put(
            Kind::BGPPeer,
            "tor",
            Resource::BGPPeer(BGPPeer {
                metadata: ObjectMeta::named("tor"),
                spec: BGPPeerSpec {
                    peer_ip: "10.77.0.2".into(),
                    as_number: Some(AsNumber(65000)),
                    ..Default::default()
                },
            }),
        ),
    ]);
    wait_for("node-a's /26 in BIRD", || {
        let all = lab.birdc("show route all");
        all.contains("10.65.0.0/26") && all.contains("BGP.as_path: 65001")
    });
    let routes = lab.birdc("show route");
    assert!(routes.contains("10.65.0.0/26"), "{routes}");
    // Mesh off: no session to node-c, and node-a never announces node-c's block.
    assert!(!routes.contains("10.65.1.0/26"), "{routes}");
    wait_for("the ToR's route in node-a's kernel", || {
        has_route(&lab.a, "10.99.0.0/24", "10.77.0.2")
    });
    let (rows, reports) = a.status();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].peer_type, "global");
    assert_eq!(rows[0].info, "Established");
    assert_eq!(reports[0].name, "Global_10_77_0_2");
    assert_eq!(reports[0].advertised, 1);
    assert_eq!(reports[0].accepted, 1);
    // The ToR stops announcing: the route leaves node-a's kernel promptly.
    lab.birdc("disable s4");
    wait_for("the ToR's withdrawal", || {
        !bgp_routes(&lab.a).contains("10.99.0.0/24")
    });
}

/// A "fabric" namespace with a bridge and one namespace per node attached to it by a veth,
/// node `i` at `10.78.0.<addr[i]>/24`. Everything is removed on drop.
struct Fabric {
    fabric: String,
    nodes: Vec<String>,
}

impl Fabric {
    fn new(addrs: &[u8]) -> Fabric {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let base = format!("cnbgpt-{pid}-{n}");
        let fab = Fabric {
            fabric: format!("{base}-f"),
            nodes: (0..addrs.len()).map(|i| format!("{base}-n{i}")).collect(),
        };
        run(&["ip", "netns", "add", &fab.fabric]);
        let f = fab.fabric.as_str();
        run(&["ip", "-n", f, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", f, "link", "set", "br0", "up"]);
        for (i, (ns, addr)) in fab.nodes.iter().zip(addrs).enumerate() {
            run(&["ip", "netns", "add", ns]);
            let (inner, outer) = (format!("eth{i}"), format!("cnf{n}p{i}"));
            run(&[
                "ip", "-n", ns, "link", "add", &inner, "type", "veth", "peer", "name", &outer,
                "netns", f,
            ]);
            run(&["ip", "-n", f, "link", "set", &outer, "master", "br0", "up"]);
            let cidr = format!("10.78.0.{addr}/24");
            run(&["ip", "-n", ns, "addr", "add", &cidr, "dev", &inner]);
            run(&["ip", "-n", ns, "link", "set", &inner, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        fab
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.fabric]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn labelled_node(name: &str, v4: &str, rr_cluster: &str) -> SyncUpdate {
    let mut meta = ObjectMeta::named(name);
    if !rr_cluster.is_empty() {
        meta.labels
            .insert("route-reflector".to_string(), "true".to_string());
    }
    put(
        Kind::Node,
        name,
        Resource::Node(Node {
            metadata: meta,
            spec: NodeSpec {
                bgp: Some(NodeBgpSpec {
                    ipv4_address: v4.into(),
                    route_reflector_cluster_id: rr_cluster.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
    )
}

#[test]
fn bgp_route_reflector_serves_clients_without_a_mesh() {
    let fab = Fabric::new(&[1, 2, 10]);
    let world = || {
        vec![
            put(
                Kind::BGPConfiguration,
                "default",
                Resource::BGPConfiguration(BGPConfiguration {
                    metadata: ObjectMeta::named("default"),
                    spec: BGPConfigurationSpec {
                        node_to_node_mesh_enabled: Some(false),
                        ..Default::default()
                    },
                }),
            ),
            labelled_node("c1", "10.78.0.1/24", ""),
            labelled_node("c2", "10.78.0.2/24", ""),
            labelled_node("rr", "10.78.0.10/24", "244.0.0.1"),
            pool(),
            block("10.65.0.0/26", "c1", &[]),
            block("10.65.0.64/26", "c2", &[]),
            block("10.65.0.128/26", "rr", &[]),
            put(
                Kind::BGPPeer,
                "peer-with-route-reflectors",
                Resource::BGPPeer(BGPPeer {
                    metadata: ObjectMeta::named("peer-with-route-reflectors"),
                    spec: BGPPeerSpec {
                        node_selector: "all()".into(),
                        peer_selector: "route-reflector == 'true'".into(),
                        ..Default::default()
                    },
                }),
            ),
        ]
    };
    let agents: Vec<Agent> = fab
        .nodes
        .iter()
        .zip(["c1", "c2", "rr"])
        .map(|(ns, name)| Agent::start(ns, name))
        .collect();
    for a in &agents {
        a.send(world());
    }
    let (c1, c2, rr) = (&fab.nodes[0], &fab.nodes[1], &fab.nodes[2]);
    // Clients learn each other's blocks through the reflector, next hop kept.
    wait_for("c2's block on c1", || {
        has_route(c1, "10.65.0.64/26", "10.78.0.2")
    });
    wait_for("c1's block on c2", || {
        has_route(c2, "10.65.0.0/26", "10.78.0.1")
    });
    wait_for("the reflector's block on c1", || {
        has_route(c1, "10.65.0.128/26", "10.78.0.10")
    });
    wait_for("both client blocks on the reflector", || {
        has_route(rr, "10.65.0.0/26", "10.78.0.1") && has_route(rr, "10.65.0.64/26", "10.78.0.2")
    });
    // One session per client, to the reflector; the reflector has one per client.
    let (rows, _) = agents[0].status();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].peer_address, "10.78.0.10");
    assert_eq!(rows[0].peer_type, "route reflector");
    let (rows, reports) = agents[2].status();
    let peers: Vec<&str> = rows.iter().map(|r| r.peer_address.as_str()).collect();
    assert_eq!(peers, ["10.78.0.1", "10.78.0.2"]);
    assert!(rows
        .iter()
        .all(|r| r.peer_type == "global" && r.state == "up"));
    assert!(reports.iter().all(|r| r.advertised == 2), "{reports:?}");
}

#[test]
fn bgp_dual_stack_mesh_runs_one_session_per_family() {
    let lab = Lab::new();
    let world = || {
        vec![
            dual_node("node-a", "10.77.0.1/24", "fd00:77::1/64"),
            dual_node("node-b", "10.77.0.2/24", "fd00:77::2/64"),
            pool(),
            pool_named("default-ipv6-ippool", "fd00:65::/48", 122),
            block("10.65.0.0/26", "node-a", &[]),
            block("fd00:65::/122", "node-a", &[]),
            block("10.65.0.64/26", "node-b", &[]),
            block("fd00:65::40/122", "node-b", &[]),
        ]
    };
    let a = Agent::start(&lab.a, "node-a");
    let b = Agent::start(&lab.b, "node-b");
    a.send(world());
    b.send(world());
    wait_for("node-b's IPv6 block in node-a's kernel", || {
        has_route(&lab.a, "fd00:65::40/122", "fd00:77::2")
    });
    wait_for("node-a's IPv6 block in node-b's kernel", || {
        has_route(&lab.b, "fd00:65::/122", "fd00:77::1")
    });
    wait_for("node-b's IPv4 block in node-a's kernel", || {
        has_route(&lab.a, "10.65.0.64/26", "10.77.0.2")
    });
    let (rows, reports) = a.status();
    let peers: Vec<&str> = rows.iter().map(|r| r.peer_address.as_str()).collect();
    assert_eq!(peers, ["10.77.0.2", "fd00:77::2"]);
    assert!(
        reports.iter().all(|r| r.received == 1 && r.advertised == 1),
        "{reports:?}"
    );
    let table = render_status(&rows);
    assert!(table.contains("IPv6 BGP status\n+---"), "{table}");
    assert!(
        table.contains("| fd00:77::2   | node-to-node mesh | up    |"),
        "{table}"
    );
}

fn reject(cidr: &str) -> BGPFilterRule {
    BGPFilterRule {
        cidr: cidr.into(),
        prefix_length: None,
        source: None,
        interface: String::new(),
        match_operator: Some(BGPFilterMatchOperator::Equal),
        action: BGPFilterAction::Reject,
    }
}

#[test]
fn bgp_filter_local_as_and_ttl_security_against_bird() {
    let mut lab = Lab::with_prefix("czf");
    // BIRD expects AS 65123 (our localASNumber, not the node's 65001) and GTSM: it sends with
    // TTL 255 and drops anything that arrives with less, so the session only comes up if
    // both reach the wire.
    lab.start_bird(
        "protocol static s5 { ipv4; route 10.98.0.0/24 blackhole; }\n\
         protocol bgp tor { local 10.77.0.2 as 65000; neighbor 10.77.0.1 as 65123;\n\
           ttl security on; connect delay time 1; connect retry time 1; error wait time 1, 2;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
    );
    wait_for("BIRD to answer", || lab.bird_ready());
    let a = Agent::start(&lab.a, "node-a");
    a.send([
        put(
            Kind::BGPConfiguration,
            "default",
            Resource::BGPConfiguration(BGPConfiguration {
                metadata: ObjectMeta::named("default"),
                spec: BGPConfigurationSpec {
                    node_to_node_mesh_enabled: Some(false),
                    ..Default::default()
                },
            }),
        ),
        node("node-a", "10.77.0.1/24", Some(65001)),
        pool(),
        block("10.65.0.0/26", "node-a", &[]),
        block("10.65.0.64/26", "node-a", &[]),
        put(
            Kind::BGPFilter,
            "tor-filter",
            Resource::BGPFilter(BGPFilter {
                metadata: ObjectMeta::named("tor-filter"),
                spec: BGPFilterSpec {
                    export_v4: vec![reject("10.65.0.64/26")],
                    import_v4: vec![reject("10.98.0.0/24")],
                    ..Default::default()
                },
            }),
        ),
        put(
            Kind::BGPPeer,
            "tor",
            Resource::BGPPeer(BGPPeer {
                metadata: ObjectMeta::named("tor"),
                spec: BGPPeerSpec {
                    peer_ip: "10.77.0.2".into(),
                    as_number: Some(AsNumber(65000)),
                    local_as_number: Some(AsNumber(65123)),
                    ttl_security: Some(1),
                    filters: vec!["tor-filter".into()],
                    ..Default::default()
                },
            }),
        ),
    ]);
    wait_for("node-a's first block in BIRD", || {
        let all = lab.birdc("show route all");
        all.contains("10.65.0.0/26") && all.contains("BGP.as_path: 65123")
    });
    let proto = lab.birdc("show protocols all tor");
    assert!(proto.contains("Established"), "{proto}");
    wait_for("the ToR's accepted route in node-a's kernel", || {
        has_route(&lab.a, "10.99.0.0/24", "10.77.0.2")
    });
    // The rejected export never reached BIRD; the rejected import never reached the kernel.
    let routes = lab.birdc("show route");
    assert!(!routes.contains("10.65.0.64/26"), "{routes}");
    assert!(!bgp_routes(&lab.a).contains("10.98.0.0/24"));
    let (_, reports) = a.status();
    assert_eq!(
        (
            reports[0].received,
            reports[0].accepted,
            reports[0].advertised
        ),
        (2, 1, 1),
        "{reports:?}"
    );

    // The filter goes: the block is exported, and BIRD's routes are asked for again
    // (route refresh) and the formerly rejected one is installed.
    a.send([delete(SyncKey::Resource {
        kind: Kind::BGPFilter,
        namespace: None,
        name: "tor-filter".into(),
    })]);
    wait_for("the formerly rejected block in BIRD", || {
        lab.birdc("show route").contains("10.65.0.64/26")
    });
    wait_for("the formerly rejected route in node-a's kernel", || {
        has_route(&lab.a, "10.98.0.0/24", "10.77.0.2")
    });

    // GTSM on our side: BIRD without TTL security sends with TTL 64, which our socket's
    // minimum TTL (255) drops, so the session cannot come back ...
    let conf = std::fs::read_to_string(lab.path("bird.conf")).unwrap();
    std::fs::write(lab.path("bird.conf"), conf.replace("ttl security on;", "")).unwrap();
    let out = lab.birdc("configure");
    assert!(out.contains("Reconfigur"), "{out}");
    wait_for("BIRD to restart the session", || {
        !lab.birdc("show protocols tor").contains("Established")
    });
    // (BIRD may well call it Established: it gets our OPEN and KEEPALIVE; we never get its.)
    std::thread::sleep(Duration::from_secs(3));
    let (_, reports) = a.status();
    assert_ne!(reports[0].fsm_state, "Established", "{reports:?}");
    // ... until the peer's ttlSecurity goes too.
    a.send([put(
        Kind::BGPPeer,
        "tor",
        Resource::BGPPeer(BGPPeer {
            metadata: ObjectMeta::named("tor"),
            spec: BGPPeerSpec {
                peer_ip: "10.77.0.2".into(),
                as_number: Some(AsNumber(65000)),
                local_as_number: Some(AsNumber(65123)),
                ..Default::default()
            },
        }),
    )]);
    wait_for("the session without GTSM", || {
        a.status().1[0].fsm_state == "Established"
    });
}

/// Polls `probe` every 10 ms for up to 30 s; the time it took.
fn time_until(what: &str, mut probe: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !probe() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// The mesh's active end (node-b, the higher address) gets its peer before node-a's speaker
/// listens, as when `calico-lab up` starts its nodes together: its first connection is
/// refused, and the session comes up once a retry finds node-a listening. Prints how long
/// that took (with `--nocapture`).
#[test]
fn bgp_mesh_comes_up_after_a_refused_first_connection() {
    let lab = Lab::with_prefix("czh");
    let world = || {
        vec![
            node("node-a", "10.77.0.1/24", None),
            node("node-b", "10.77.0.2/24", None),
        ]
    };
    let b = Agent::start(&lab.b, "node-b");
    b.send(world());
    let refused = |b: &Agent| {
        b.status().1.first().is_some_and(|r| {
            r.fsm_state != "Established"
                && r.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("refused"))
        })
    };
    let first_refusal = time_until("node-b's first connection to be refused", || refused(&b));
    let a = Agent::start(&lab.a, "node-a");
    let start = Instant::now();
    a.send(world());
    let up = |agent: &Agent| {
        agent
            .status()
            .1
            .first()
            .is_some_and(|r| r.fsm_state == "Established")
    };
    time_until("both ends Established", || up(&a) && up(&b));
    let established = start.elapsed();
    let (rows, reports) = b.status();
    assert_eq!(reports[0].name, "Mesh_10_77_0_1");
    assert_eq!(
        (rows[0].state.as_str(), rows[0].info.as_str()),
        ("up", "Established")
    );
    println!(
        "mesh after a refused first connection: refused {:.0} ms after node-b got its peer; \
         Established {:.0} ms after node-a started",
        first_refusal.as_secs_f64() * 1e3,
        established.as_secs_f64() * 1e3
    );
}

const AGENT_BINARY: &str = env!("CARGO_BIN_EXE_calico-node");

/// A `calico-node` process we started, killed (by PID) if still running when dropped.
struct NodeProcess {
    child: Option<Child>,
    socket: PathBuf,
}

impl NodeProcess {
    /// Starts `calico-node` for node `name` in namespace `ns` on the datastore of `config`,
    /// BGP on, dataplane off; its address is autodetected from the namespace's veth.
    fn start(ns: &str, name: &str, config: &std::path::Path, dir: &std::path::Path) -> NodeProcess {
        let socket = dir.join(format!("{name}.sock"));
        // `ip netns exec` execs the agent in place: the child's PID is the agent's.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, AGENT_BINARY, "-c"])
            .arg(config)
            .arg("--status-socket")
            .arg(&socket)
            .env("NODENAME", name)
            .env("CALICO_STATE_DIR", dir.join(format!("{name}-state")))
            .env("CALICO_DATAPLANE", "none")
            .env("CALICO_NETWORKING_BACKEND", "bird")
            .env("FELIX_HEALTHENABLED", "false")
            .env("FELIX_PROMETHEUSMETRICSENABLED", "false")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        NodeProcess {
            child: Some(child),
            socket,
        }
    }

    /// The agent's status report, if its socket answers.
    fn status(&self, rt: &tokio::runtime::Runtime) -> Option<node::status::NodeStatusReport> {
        rt.block_on(node::status::query(&self.socket)).ok()
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let start = Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "agent did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two real `calico-node` processes on one embedded datastore: node-b (the mesh's active end)
/// runs first, node-a joins. Prints how long after node-a's start each status socket reports
/// the mesh session up (with `--nocapture`).
#[test]
fn calico_node_status_sockets_report_the_mesh_session() {
    let lab = Lab::with_prefix("czh");
    let config = lab.path("calico.cfg");
    std::fs::write(
        &config,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {{}}\nspec:\n  \
             datastoreType: embedded\n  datastorePath: {}\n",
            lab.path("calico.db").display()
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = NodeProcess::start(&lab.b, "node-b", &config, lab.dir.path());
    time_until("node-b in sync", || {
        b.status(&rt).is_some_and(|s| s.in_sync)
    });
    let a = NodeProcess::start(&lab.a, "node-a", &config, lab.dir.path());
    let start = Instant::now();
    let up = |p: &NodeProcess, peer: &str| {
        p.status(&rt).is_some_and(|s| {
            s.bgp_peers
                .iter()
                .any(|r| r.peer_address == peer && r.state == "up" && r.info == "Established")
        })
    };
    let (mut a_up, mut b_up) = (None, None);
    time_until("both status sockets reporting the session up", || {
        if a_up.is_none() && up(&a, "10.77.0.2") {
            a_up = Some(start.elapsed());
        }
        if b_up.is_none() && up(&b, "10.77.0.1") {
            b_up = Some(start.elapsed());
        }
        a_up.is_some() && b_up.is_some()
    });
    let ms = |d: Option<Duration>| d.unwrap().as_secs_f64() * 1e3;
    println!(
        "calico-node status sockets after node-a started: node-a reports the session up at \
         {:.0} ms, node-b at {:.0} ms",
        ms(a_up),
        ms(b_up)
    );
    a.stop();
    b.stop();
}
