//! The real `calico-node` binary programming policy for real workloads: a node namespace
//! with an embedded datastore file, two workloads in pod namespaces (created by the real
//! `calico` CNI plugin from the workspace's target directory when it is built, else by
//! hand-made veth plumbing exactly like the plugin's), then real TCP and ICMP probes:
//! open with no policy, closed after a default-deny NetworkPolicy, open again for the
//! labelled client after an allow policy; an established TCP stream survives `kill -9` of
//! the agent and its restart, which converges without rewriting a single rule; a table
//! deleted by hand is restored by the drift check; a policy allowing a named port opens
//! only the port the server's endpoint names, and follows the endpoint when the name moves
//! to another number. Times from write to verdict change are printed, never asserted.
//!
//! Needs root. Everything lives in namespaces named `cnwt-<pid>-...` (`czi-<pid>-...` for
//! the named-port test), removed by a guard.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::cmd::run;

use api::{Kind, Resource};
use datastore::{EmbeddedStore, ResourceClient, Store};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use testkit::wait::since as wait_since;

const BINARY: &str = env!("CARGO_BIN_EXE_calico-node");
const POD_NAMESPACE: &str = "demo";
const PORT: u16 = 8080;
/// Bound on a policy write taking effect (a bound for the test, not a performance claim).
const LIMIT: Duration = Duration::from_secs(10);

/// Network namespaces owned by one test (`<prefix>-<pid>-<test>-<tag>`); deleted on drop.
struct Namespaces {
    prefix: &'static str,
    test: &'static str,
    names: Vec<String>,
}

impl Namespaces {
    fn add(&mut self, tag: &str) -> String {
        let name = format!("{}-{}-{}-{tag}", self.prefix, std::process::id(), self.test);
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        self.names.push(name.clone());
        name
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// The agent process we started; killed (by its PID) on drop.
struct Agent(Option<Child>);

impl Agent {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.as_ref().expect("agent running").id() as i32)
    }

    fn kill9(&mut self) {
        kill(self.pid(), Signal::SIGKILL).unwrap();
        self.0.take().unwrap().wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn succeeds(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `f` on a fresh thread inside namespace `ns` (threads it spawns stay there too).
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = File::open(format!("/var/run/netns/{ns}")).unwrap();
    std::thread::spawn(move || {
        setns(file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// An echo server on `PORT` inside `ns`, for the rest of the test process.
fn echo_server(ns: &str) {
    echo_server_on(ns, PORT);
}

/// An echo server on `port` inside `ns`, for the rest of the test process.
fn echo_server_on(ns: &str, port: u16) {
    let listener = in_ns(ns, move || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap()
    });
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

fn connect(from: &str, to: Ipv4Addr) -> Option<TcpStream> {
    connect_to(from, to, PORT)
}

fn connect_to(from: &str, to: Ipv4Addr, port: u16) -> Option<TcpStream> {
    in_ns(from, move || {
        let addr = SocketAddr::from((to, port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        Some(stream)
    })
}

fn tcp_ok(from: &str, to: Ipv4Addr) -> bool {
    tcp_port_ok(from, to, PORT)
}

fn tcp_port_ok(from: &str, to: Ipv4Addr, port: u16) -> bool {
    connect_to(from, to, port).is_some_and(|mut s| echo(&mut s))
}

fn ping_ok(from: &str, to: Ipv4Addr) -> bool {
    let to = to.to_string();
    succeeds("ip", &["netns", "exec", from, "ping", "-c1", "-W1", &to])
}

fn echo(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 5];
    stream.write_all(b"hello").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"hello"
}

/// Polls `probe` until it holds; returns the time until the probe that saw it started.
fn wait_until(what: &str, timeout: Duration, probe: impl FnMut() -> bool) -> Duration {
    wait_since(Instant::now(), what, timeout, probe)
}

/// One node: its namespace, Calico name, address and status socket.
struct NodeNs {
    ns: String,
    name: String,
    ip: String,
    socket: PathBuf,
}

/// Node namespaces on one link (the "fabric"), sharing one embedded datastore file.
struct Cluster {
    nets: Namespaces,
    nodes: Vec<NodeNs>,
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
    store: Arc<dyn Store>,
    client: ResourceClient,
    rt: tokio::runtime::Runtime,
}

impl Cluster {
    /// One node, or two joined by a veth pair (their `eth0`s, 10.231.9.2 and .3/24).
    fn new(test: &'static str, count: usize) -> Cluster {
        Cluster::with_prefix("cnwt", test, count)
    }

    /// Like [`Cluster::new`], with namespaces named `<prefix>-<pid>-<test>-<tag>`.
    fn with_prefix(prefix: &'static str, test: &'static str, count: usize) -> Cluster {
        assert!((1..=2).contains(&count));
        let dir = tempfile::tempdir().unwrap();
        let mut nets = Namespaces {
            prefix,
            test,
            names: Vec::new(),
        };
        let nodes: Vec<NodeNs> = (0..count)
            .map(|i| NodeNs {
                ns: nets.add(&format!("node{i}")),
                name: format!("wiring-node-{i}"),
                ip: format!("10.231.9.{}", i + 2),
                socket: dir.path().join(format!("status{i}.sock")),
            })
            .collect();
        let (peer, peer_ns) = match nodes.get(1) {
            Some(n) => ("eth0", n.ns.as_str()),
            None => ("eth0p", nodes[0].ns.as_str()),
        };
        run(
            "ip",
            &[
                "-n",
                &nodes[0].ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                peer_ns,
            ],
        );
        if count == 1 {
            run("ip", &["-n", &nodes[0].ns, "link", "set", "eth0p", "up"]);
        }
        for node in &nodes {
            let cidr = format!("{}/24", node.ip);
            for args in [
                &["addr", "add", cidr.as_str(), "dev", "eth0"][..],
                &["link", "set", "eth0", "up"],
                // Proxy ARP answers for 169.254.1.1 only if the node has a route to it.
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
                let mut full = vec!["-n", node.ns.as_str()];
                full.extend_from_slice(args);
                run("ip", &full);
            }
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &node.ns,
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_forward=1",
                ],
            );
        }
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
        let client = ResourceClient::new(Arc::clone(&store));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Cluster {
            nets,
            nodes,
            dir,
            db,
            config,
            store,
            client,
            rt,
        }
    }

    fn agent_command(&self, node: usize) -> Command {
        let n = &self.nodes[node];
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &n.ns, BINARY, "-c"])
            .arg(&self.config)
            .env("NODENAME", &n.name)
            .env("IP", format!("{}/24", n.ip))
            .env("CALICO_IPV4POOL_CIDR", "10.244.0.0/16")
            .env(
                "CALICO_STATE_DIR",
                self.dir.path().join(format!("state{node}")),
            )
            .env("CALICO_DATAPLANE", "nftables")
            .env("FELIX_IPTABLESREFRESHINTERVAL", "2s");
        cmd
    }

    /// Starts the agent of `node` and waits for its in-sync status report.
    fn start_agent(&self, node: usize) -> Agent {
        let socket = &self.nodes[node].socket;
        let child = self
            .agent_command(node)
            .arg("--status-socket")
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let agent = Agent(Some(child));
        wait_until("an in-sync status report", Duration::from_secs(30), || {
            self.rt
                .block_on(node::status::query(socket))
                .is_ok_and(|s| s.in_sync)
        });
        agent
    }

    fn status(&self, node: usize) -> node::status::NodeStatusReport {
        self.rt
            .block_on(node::status::query(&self.nodes[node].socket))
            .unwrap()
    }

    fn apply(&self, yaml: &str) {
        self.rt.block_on(async {
            for r in api::decode_documents(yaml).unwrap() {
                self.client.apply(r).await.unwrap();
            }
        });
    }

    fn nft(&self, node: usize, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.nodes[node].ns, "nft"];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// The handles of our v4 table and every rule in it: equal before and after a restart
    /// only if nothing was deleted and re-created.
    fn rule_handles(&self, node: usize) -> Vec<String> {
        let text = self.nft(node, &["-j", "list", "table", "ip", "calico"]);
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut out: Vec<String> = doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| {
                if let Some(t) = item.get("table") {
                    return Some(format!("table {}", t["handle"]));
                }
                let r = item.get("rule")?;
                Some(format!("{} {}", r["chain"], r["handle"]))
            })
            .collect();
        out.sort();
        out
    }

    /// A workload `pod` on `node` with `labels`: through the real CNI plugin when it is
    /// built, else plumbed by hand the way the plugin does it. Returns its pod namespace
    /// and address.
    fn workload(&mut self, node: usize, pod: &str, labels: &[(&str, &str)]) -> (String, Ipv4Addr) {
        let pod_ns = self.nets.add(pod);
        let plugin_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug");
        let ip = if plugin_dir.join("calico").exists() && plugin_dir.join("calico-ipam").exists() {
            self.cni_add(node, &plugin_dir, &pod_ns, pod)
        } else {
            self.hand_plumb(node, &pod_ns, pod)
        };
        // Labels, as the orchestrator (or `calicoctl label`) would set them.
        self.edit_endpoint(pod, |wep| {
            for (k, v) in labels {
                wep.metadata.labels.insert(k.to_string(), v.to_string());
            }
        });
        (pod_ns, ip)
    }

    /// Reads the WorkloadEndpoint of `pod`, changes it with `edit` and writes it back.
    fn edit_endpoint(&self, pod: &str, edit: impl FnOnce(&mut api::WorkloadEndpoint)) {
        self.rt.block_on(async {
            let list = self
                .client
                .list(Kind::WorkloadEndpoint, Some(POD_NAMESPACE), "")
                .await
                .unwrap();
            let mut wep = list
                .items
                .into_iter()
                .find_map(|r| match r {
                    Resource::WorkloadEndpoint(w) if w.spec.pod == pod => Some(w),
                    _ => None,
                })
                .expect("the workload's endpoint");
            edit(&mut wep);
            self.client
                .update(Resource::WorkloadEndpoint(wep))
                .await
                .unwrap();
        });
    }

    fn cni_add(&self, node: usize, plugin_dir: &Path, pod_ns: &str, pod: &str) -> Ipv4Addr {
        let conf = json!({
            "cniVersion": "1.0.0",
            "name": "k8s-pod-network",
            "type": "calico",
            "nodename": self.nodes[node].name,
            "datastore_type": "embedded",
            "datastore_path": self.db.display().to_string(),
            "ipam_lock_file": self.dir.path().join("ipam.lock").display().to_string(),
            "log_file_path": self.dir.path().join("cni.log").display().to_string(),
            "mtu": 1400,
            "ipam": {"type": "calico-ipam"},
        });
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.nodes[node].ns])
            .arg(plugin_dir.join("calico"))
            .env_clear()
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", format!("container-{pod}"))
            .env("CNI_NETNS", format!("/var/run/netns/{pod_ns}"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", plugin_dir)
            .env(
                "CNI_ARGS",
                format!("K8S_POD_NAMESPACE={POD_NAMESPACE};K8S_POD_NAME={pod}"),
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "CNI ADD: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        let addr = result["ips"][0]["address"].as_str().unwrap();
        addr.split('/').next().unwrap().parse().unwrap()
    }

    /// What the plugin does, by hand: an address from Calico IPAM (so the node's block is
    /// affine to it), veth `cali<pod>` with the CNI's MAC and sysctls, the address on the
    /// container's eth0 with a default route via 169.254.1.1, a /32 host route, and the
    /// WorkloadEndpoint.
    fn hand_plumb(&self, node: usize, pod_ns: &str, pod: &str) -> Ipv4Addr {
        let name = &self.nodes[node].name;
        let args = ipam::AutoAssignArgs {
            num4: 1,
            handle: Some(format!("k8s-pod-network.container-{pod}")),
            hostname: name.clone(),
            ..Default::default()
        };
        let ipam = ipam::Ipam::new(Arc::clone(&self.store));
        let assigned = self.rt.block_on(ipam.auto_assign(&args)).unwrap();
        let ip = match assigned.ipv4[0].addr() {
            std::net::IpAddr::V4(v4) => v4,
            other => panic!("not IPv4: {other}"),
        };
        let host_if = format!("cali{pod}");
        let node_ns = self.nodes[node].ns.as_str();
        testkit::workload::plumb(node_ns, pod_ns, &host_if, ip);
        let localnet = format!("net.ipv4.conf.{host_if}.route_localnet=1");
        run(
            "ip",
            &["netns", "exec", node_ns, "sysctl", "-qw", &localnet],
        );
        let cidr = format!("{ip}/32");
        // Calico's name: node, orchestrator, pod and endpoint joined by '-', with each '-'
        // inside a part doubled.
        let wep_name = format!(
            "{}-k8s-{}-eth0",
            name.replace('-', "--"),
            pod.replace('-', "--")
        );
        self.apply(&format!(
            "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: {wep_name}\n  namespace: {POD_NAMESPACE}\nspec:\n  node: {name}\n  orchestrator: k8s\n  pod: {pod}\n  endpoint: eth0\n  interfaceName: {host_if}\n  ipNetworks: [{cidr}]\n  profiles: [kns.{POD_NAMESPACE}]\n"
        ));
        ip
    }

    /// kube-controllers' namespace profile: allow all, so pods are open until a policy
    /// selects them.
    fn namespace_profile(&self) {
        self.apply(&format!(
            "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {{name: kns.{POD_NAMESPACE}}}\nspec:\n  ingress: [{{action: Allow}}]\n  egress: [{{action: Allow}}]\n  labelsToApply: {{pcns.projectcalico.org/name: {POD_NAMESPACE}}}\n"
        ));
    }
}

#[test]
fn policy_is_enforced_survives_restart_and_repairs_drift() {
    let mut c = Cluster::new("one", 1);
    let mut agent = c.start_agent(0);
    c.namespace_profile();
    let (client_ns, client_ip) = c.workload(0, "client", &[("role", "client")]);
    let (server_ns, server_ip) = c.workload(0, "server", &[("role", "server")]);
    echo_server(&client_ns);
    echo_server(&server_ns);

    // No policy: the profile allows everything.
    wait_until("client -> server open", Duration::from_secs(15), || {
        tcp_ok(&client_ns, server_ip)
    });
    assert!(ping_ok(&client_ns, server_ip));
    assert!(tcp_ok(&server_ns, client_ip));

    // Default deny for every pod of the namespace.
    let written = Instant::now();
    c.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: {POD_NAMESPACE}}}\nspec:\n  selector: all()\n  types: [Ingress]\n"
    ));
    let took = wait_since(written, "default deny to block TCP", LIMIT, || {
        !tcp_ok(&client_ns, server_ip)
    });
    println!("default-deny write -> TCP blocked: {took:?} (probe resolution 50 ms)");
    assert!(!ping_ok(&client_ns, server_ip));
    assert!(!tcp_ok(&server_ns, client_ip));

    // Allow the labelled client to reach the server (TCP port and ping).
    let written = Instant::now();
    c.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: allow-client, namespace: {POD_NAMESPACE}}}\nspec:\n  order: 100\n  selector: role == 'server'\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source: {{selector: role == 'client'}}\n    destination: {{ports: [{PORT}]}}\n  - action: Allow\n    protocol: ICMP\n    source: {{selector: role == 'client'}}\n"
    ));
    let took = wait_since(written, "allow policy to open TCP", LIMIT, || {
        tcp_ok(&client_ns, server_ip)
    });
    println!("allow write -> TCP open: {took:?} (probe resolution 150 ms)");
    assert!(ping_ok(&client_ns, server_ip));
    assert!(!tcp_ok(&server_ns, client_ip), "the client stays closed");

    // kill -9 with a stream open; restart; nothing is rewritten and the stream lives on.
    let mut stream = connect(&client_ns, server_ip).expect("stream to the server");
    assert!(echo(&mut stream));
    std::thread::sleep(Duration::from_millis(300));
    let before = c.rule_handles(0);
    agent.kill9();
    assert!(echo(&mut stream), "stream works with the agent dead");
    let restarted = Instant::now();
    agent = c.start_agent(0);
    std::thread::sleep(Duration::from_millis(500));
    println!("restart -> in sync: {:?}", restarted.elapsed());
    assert!(echo(&mut stream), "stream survives the restart");
    assert_eq!(
        before,
        c.rule_handles(0),
        "restart converged without re-creating the table or any rule"
    );
    assert!(tcp_ok(&client_ns, server_ip));
    assert!(
        !tcp_ok(&server_ns, client_ip),
        "policy still holds after restart"
    );

    // Delete our table by hand: the drift check restores it.
    c.nft(0, &["delete", "table", "ip", "calico"]);
    let node_ns = c.nodes[0].ns.clone();
    let took = wait_until("the table to be restored", Duration::from_secs(15), || {
        succeeds(
            "ip",
            &[
                "netns", "exec", &node_ns, "nft", "list", "table", "ip", "calico",
            ],
        )
    });
    println!("table deleted -> restored: {took:?}");
    wait_until("policy after repair", Duration::from_secs(5), || {
        !tcp_ok(&server_ns, client_ip)
    });
    assert!(tcp_ok(&client_ns, server_ip));
    assert!(echo(&mut stream), "stream survives the repair");

    // The dump shows a converged dataplane and why each rule exists.
    let out = c
        .agent_command(0)
        .arg("--dump-dataplane")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["desired"]["workloads"].as_array().unwrap().len(), 2);
    assert_eq!(dump["endpoints"].as_object().unwrap().len(), 2);
    assert_eq!(dump["pendingNft"]["ip"], "", "converged");
    assert_eq!(dump["pendingRouteAdds"], json!([]));
    assert!(dump["desiredNft"]["ip"]
        .as_str()
        .unwrap()
        .contains("np/demo/allow-client"));
    let listing = c.nft(0, &["list", "table", "ip", "calico"]);
    assert!(
        listing.contains("cali-pi-np/demo/default-deny"),
        "{listing}"
    );
    drop(agent);
}

/// Two agents on one datastore: BGP (the agent's own speaker, node-to-node mesh) carries
/// each node's block to the other, the dataplane routes and polices, so pods on different
/// nodes reach each other until a policy on the receiving node says otherwise.
#[test]
fn two_nodes_route_over_bgp_and_police_across_nodes() {
    let mut c = Cluster::new("two", 2);
    let _agents = [c.start_agent(0), c.start_agent(1)];
    c.namespace_profile();
    let (a_ns, a_ip) = c.workload(0, "pod-a", &[("role", "client")]);
    let (b_ns, b_ip) = c.workload(1, "pod-b", &[("role", "server")]);
    echo_server(&b_ns);
    let took = wait_until(
        "pod-a -> pod-b across nodes",
        Duration::from_secs(30),
        || tcp_ok(&a_ns, b_ip),
    );
    println!("cross-node path open after {took:?}");
    assert!(ping_ok(&b_ns, a_ip));
    // The status report (`calicoctl node status`) shows the mesh session up.
    wait_until(
        "the BGP session in the status report",
        Duration::from_secs(15),
        || {
            let rows = c.status(0).bgp_peers;
            rows.len() == 1 && rows[0].peer_address == c.nodes[1].ip && rows[0].state == "up"
        },
    );

    let written = Instant::now();
    c.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: deny-in, namespace: {POD_NAMESPACE}}}\nspec:\n  selector: role == 'server'\n  types: [Ingress]\n"
    ));
    let took = wait_since(written, "ingress deny on the remote node", LIMIT, || {
        !tcp_ok(&a_ns, b_ip)
    });
    println!("deny write -> cross-node TCP blocked: {took:?} (probe resolution 50 ms)");
    assert!(ping_ok(&b_ns, a_ip), "egress from pod-b is not affected");
}

/// A policy allowing ingress to the named port `http` only: the server's endpoint names
/// TCP 8080 `http`, so 8080 opens and 9090 stays closed; when the endpoint renames 9090
/// `http` (an IP-set delta, no policy change) the verdicts swap.
#[test]
fn named_port_policy_opens_only_the_named_port() {
    const OTHER: u16 = 9090;
    let mut c = Cluster::with_prefix("czi", "named", 1);
    let _agent = c.start_agent(0);
    c.namespace_profile();
    let (client_ns, _) = c.workload(0, "client", &[("role", "client")]);
    let (web_ns, web_ip) = c.workload(0, "web", &[("role", "web")]);
    let name_port = |port: u16| {
        move |wep: &mut api::WorkloadEndpoint| {
            wep.spec.ports =
                serde_json::from_value(json!([{"name": "http", "protocol": "TCP", "port": port}]))
                    .unwrap();
        }
    };
    c.edit_endpoint("web", name_port(PORT));
    echo_server_on(&web_ns, PORT);
    echo_server_on(&web_ns, OTHER);
    wait_until(
        "both ports open without policy",
        Duration::from_secs(15),
        || tcp_port_ok(&client_ns, web_ip, PORT) && tcp_port_ok(&client_ns, web_ip, OTHER),
    );

    let written = Instant::now();
    c.apply(&format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: allow-http, namespace: {POD_NAMESPACE}}}\nspec:\n  selector: role == 'web'\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {{ports: [http]}}\n"
    ));
    let took = wait_since(written, "the policy to close the other port", LIMIT, || {
        !tcp_port_ok(&client_ns, web_ip, OTHER)
    });
    println!("named-port policy write -> {OTHER} blocked: {took:?} (probe resolution 150 ms)");
    assert!(
        tcp_port_ok(&client_ns, web_ip, PORT),
        "the named port is open"
    );
    let listing = c.nft(0, &["list", "table", "ip", "calico"]);
    assert!(
        listing.contains("ip daddr . meta l4proto . tcp dport @n_")
            && listing.contains(&format!("{web_ip} . tcp . {PORT}")),
        "{listing}"
    );

    // The endpoint moves the name to the other port: only the set's members change.
    let written = Instant::now();
    c.edit_endpoint("web", name_port(OTHER));
    let took = wait_since(written, "the renamed port to open", LIMIT, || {
        tcp_port_ok(&client_ns, web_ip, OTHER)
    });
    println!("named port moved -> {OTHER} open: {took:?} (probe resolution 50 ms)");
    assert!(
        !tcp_port_ok(&client_ns, web_ip, PORT),
        "the old number is closed"
    );
}
