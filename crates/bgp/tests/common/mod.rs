//! Shared plumbing of the interop tests (run as root): a small LAN of network
//! namespaces, our speaker on a thread inside one of them, and real BIRD 2 and
//! FRR daemons inside others, each stopped by PID when its guard drops.
//!
//! Topology of [`Lab::new`]`(n)`: node 0 (the "hub") holds a bridge `br0`
//! with 10.255.0.1/24 and fd00:255::1/64; nodes 1..n each hold `eth0`, a veth
//! whose other end is a port of that bridge, with 10.255.0.(i+1)/24 and
//! fd00:255::(i+1)/64. Every node reaches every other one directly, so
//! reflected routes keep usable next hops. Namespaces are named
//! `czd-<pid>-<n>-n<i>` and deleted on drop, also while a failing test unwinds.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bgp::codec::PathAttributes;
use bgp::fsm::State;
use bgp::rib::{BestChange, BestRoute};
use bgp::{Filters, PeerConfig, PeerStatus, Speaker, SpeakerConfig};
use ipnet::IpNet;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use testkit::Netns;
use tokio::sync::mpsc::UnboundedReceiver;

/// Namespace name prefix of these tests.
pub const PREFIX: &str = "czd";

/// `s` as a prefix.
pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// `s` as an address.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The namespaces of one test and a scratch directory for daemons' files.
pub struct Lab {
    nodes: Vec<Netns>,
    dir: tempfile::TempDir,
}

impl Lab {
    /// A hub and `spokes` further nodes on one bridged segment.
    pub fn new(spokes: usize) -> Lab {
        let hub = Netns::new(PREFIX, "n0");
        hub.ip(&["link", "add", "br0", "type", "bridge"]);
        hub.ip(&["addr", "add", "10.255.0.1/24", "dev", "br0"]);
        hub.ip(&["addr", "add", "fd00:255::1/64", "dev", "br0", "nodad"]);
        hub.ip(&["link", "set", "br0", "up"]);
        let mut nodes = vec![hub];
        for i in 1..=spokes {
            let spoke = Netns::new(PREFIX, &format!("n{i}"));
            let port = format!("p{i}");
            nodes[0].veth_into(&port, &spoke, "eth0");
            nodes[0].ip(&["link", "set", &port, "master", "br0", "up"]);
            spoke.ip(&["addr", "add", &format!("{}/24", Lab::v4(i)), "dev", "eth0"]);
            let v6 = format!("{}/64", Lab::v6(i));
            spoke.ip(&["addr", "add", &v6, "dev", "eth0", "nodad"]);
            spoke.ip(&["link", "set", "eth0", "up"]);
            nodes.push(spoke);
        }
        let dir = tempfile::tempdir().unwrap();
        // FRR drops to user `frr` and must write its sockets and pid files here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        Lab { nodes, dir }
    }

    /// Node `i`'s namespace.
    pub fn ns(&self, i: usize) -> &Netns {
        &self.nodes[i]
    }

    /// Node `i`'s IPv4 address.
    pub fn v4(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 255, 0, u8::try_from(i + 1).unwrap())
    }

    /// Node `i`'s IPv6 address.
    pub fn v6(i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, u16::try_from(i + 1).unwrap())
    }

    /// A fresh subdirectory of the scratch directory, writable by FRR.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        path
    }
}

/// Runs the future made by `body` to completion on a current-thread runtime
/// on a thread inside `ns`, so every socket it opens lives there.
pub fn block_on_in<T: Send, F: Future<Output = T>>(
    ns: &Netns,
    body: impl FnOnce() -> F + Send,
) -> T {
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(body())
    })
}

/// Waits for `cond`, polling every 50 ms, up to `limit`.
pub async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 30 s) until `cond` holds for the speaker's first peer.
pub async fn peer_state(speaker: &Speaker, what: &str, cond: impl Fn(&PeerStatus) -> bool) {
    let start = Instant::now();
    loop {
        let status = speaker.peers().await.unwrap();
        if cond(&status[0]) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the speaker's session with `peer` is Established.
pub async fn established(speaker: &Speaker, peer: IpAddr) {
    let start = Instant::now();
    loop {
        let status = speaker.peers().await.unwrap();
        let me = status
            .iter()
            .find(|s| s.address == peer)
            .expect("configured peer");
        if me.state == State::Established {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not established: {me:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The speaker's Loc-RIB as seen through its best-route changes, with the
/// full history of changes kept for flap checks.
pub struct Routes {
    rx: UnboundedReceiver<BestChange>,
    /// Current best route per prefix.
    pub table: HashMap<IpNet, BestRoute>,
    /// Every change received, in order.
    pub log: Vec<BestChange>,
}

impl Routes {
    pub fn new(rx: UnboundedReceiver<BestChange>) -> Routes {
        Routes {
            rx,
            table: HashMap::new(),
            log: Vec::new(),
        }
    }

    /// Folds the pending changes into the table.
    pub fn drain(&mut self) {
        while let Ok(change) = self.rx.try_recv() {
            match &change {
                BestChange::Updated(p, r) => {
                    self.table.insert(*p, r.clone());
                }
                BestChange::Withdrawn(p) => {
                    self.table.remove(p);
                }
            }
            self.log.push(change);
        }
    }

    /// Waits (up to 30 s) until `cond` holds for the table.
    pub async fn until(&mut self, what: &str, cond: impl Fn(&HashMap<IpNet, BestRoute>) -> bool) {
        let start = Instant::now();
        loop {
            self.drain();
            if cond(&self.table) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; table: {:?}",
                self.table.keys().collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The best route of `p`, if any.
    pub fn get(&self, p: &str) -> Option<&BestRoute> {
        self.table.get(&net(p))
    }

    /// How many times `p` was withdrawn so far.
    pub fn withdrawals(&self, p: &str) -> usize {
        let p = net(p);
        self.log
            .iter()
            .filter(|c| matches!(c, BestChange::Withdrawn(w) if *w == p))
            .count()
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: Signal) {
    nix::sys::signal::kill(Pid::from_raw(i32::try_from(pid).unwrap()), sig).unwrap();
}

/// Kills a child by PID and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits up to 10 s for `path` to appear (a daemon's control socket).
fn wait_for(path: &Path, what: &str) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A BIRD 2 daemon in a namespace, in the foreground so that the child's PID
/// is BIRD's (`ip netns exec` execs in place).
pub struct Bird {
    ns: String,
    node: usize,
    dir: PathBuf,
    child: Option<Child>,
}

impl Bird {
    /// Starts BIRD in `ns` with `router id`, a log, a device protocol and `body`.
    pub fn start(lab: &Lab, node: usize, body: &str) -> Bird {
        let mut bird = Bird {
            ns: lab.ns(node).name.clone(),
            node,
            dir: lab.subdir(&format!("bird{node}")),
            child: None,
        };
        bird.spawn(body, false);
        bird
    }

    fn spawn(&mut self, body: &str, recovery: bool) {
        let conf = format!(
            "router id {id};\nlog \"{log}\" all;\nprotocol device {{ scan time 1; }}\n{body}\n",
            id = Lab::v4(self.node),
            log = self.dir.join("bird.log").display(),
        );
        std::fs::write(self.dir.join("bird.conf"), conf).unwrap();
        let ctl = self.dir.join("bird.ctl");
        let _ = std::fs::remove_file(&ctl);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "/usr/sbin/bird", "-f", "-c"])
            .arg(self.dir.join("bird.conf"))
            .arg("-s")
            .arg(&ctl)
            .stdout(Stdio::null());
        if recovery {
            // Graceful restart recovery: the restarting speaker's OPEN carries R and F bits.
            cmd.arg("-R");
        }
        self.child = Some(cmd.spawn().unwrap());
        wait_for(&ctl, "BIRD");
    }

    /// Starts BIRD again (after [`Bird::kill`]) with a new `body`; `recovery`
    /// starts it as a restarting speaker (`bird -R`).
    pub fn restart(&mut self, body: &str, recovery: bool) {
        assert!(self.child.is_none(), "BIRD still running");
        self.spawn(body, recovery);
    }

    /// BIRD's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("BIRD running").id()
    }

    /// SIGKILLs BIRD and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Runs one `birdc` command.
    pub fn birdc(&self, cmd: &str) -> String {
        let ctl = self.dir.join("bird.ctl");
        let mut args = vec!["-s", ctl.to_str().unwrap()];
        args.extend(cmd.split(' '));
        testkit::run("/usr/sbin/birdc", &args)
    }

    /// Whether `show route all` mentions `needle`.
    pub fn has(&self, needle: &str) -> bool {
        self.birdc("show route all").contains(needle)
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A stopped BIRD dies of SIGKILL too; SIGCONT is only for tidiness.
            let _ = nix::sys::signal::kill(
                Pid::from_raw(i32::try_from(child.id()).unwrap()),
                Signal::SIGCONT,
            );
        }
        self.kill();
    }
}

/// FRR's zebra and bgpd in a namespace, in the foreground (children are the
/// daemons themselves), with their sockets in a private directory.
pub struct Frr {
    dir: PathBuf,
    zebra: Child,
    bgpd: Child,
}

impl Frr {
    /// Starts zebra, then bgpd with `config` (an FRR configuration text).
    pub fn start(lab: &Lab, node: usize, config: &str) -> Frr {
        let ns = lab.ns(node);
        let dir = lab.subdir(&format!("frr{node}"));
        let daemon = |name: &str, conf: &str| -> Child {
            let file = dir.join(format!("{name}.conf"));
            std::fs::write(&file, conf).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let log = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
            ns.command(format!("/usr/lib/frr/{name}"))
                .arg("-f")
                .arg(&file)
                .arg("-i")
                .arg(dir.join(format!("{name}.pid")))
                .arg("-z")
                .arg(dir.join("zserv.api"))
                .arg("--vty_socket")
                .arg(&dir)
                .args(["-P", "0"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        };
        let zebra = daemon("zebra", "");
        wait_for(&dir.join("zebra.vty"), "zebra");
        let bgpd = daemon("bgpd", config);
        let frr = Frr {
            dir: dir.clone(),
            zebra,
            bgpd,
        };
        wait_for(&dir.join("bgpd.vty"), "bgpd");
        frr
    }

    /// bgpd's PID.
    pub fn bgpd_pid(&self) -> u32 {
        self.bgpd.id()
    }

    /// Runs `vtysh` with one `-c` per command; returns its output.
    pub fn vtysh(&self, cmds: &[&str]) -> String {
        let mut args = vec!["--vty_socket", self.dir.to_str().unwrap()];
        for c in cmds {
            args.extend(["-c", c]);
        }
        testkit::run("vtysh", &args)
    }

    /// Runs one `show ... json` command and parses its output.
    pub fn json(&self, cmd: &str) -> serde_json::Value {
        let out = self.vtysh(&[cmd]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{cmd}: {e}: {out}"))
    }

    /// Applies configuration lines (`configure terminal` first).
    pub fn configure(&self, lines: &[&str]) {
        let mut cmds = vec!["configure terminal"];
        cmds.extend_from_slice(lines);
        self.vtysh(&cmds);
    }

    /// The paths FRR holds for `prefix` in `afi` ("ipv4"/"ipv6"), from
    /// `show bgp <afi> unicast <prefix> json` (empty if it has none).
    pub fn paths(&self, afi: &str, prefix: &str) -> Vec<serde_json::Value> {
        let v = self.json(&format!("show bgp {afi} unicast {prefix} json"));
        v["paths"].as_array().cloned().unwrap_or_default()
    }

    /// The prefixes in FRR's BGP table for `afi`, valid ones only.
    pub fn valid_prefixes(&self, afi: &str) -> Vec<String> {
        let v = self.json(&format!("show bgp {afi} unicast json"));
        let Some(routes) = v["routes"].as_object() else {
            return Vec::new();
        };
        routes
            .iter()
            .filter(|(_, paths)| {
                paths
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["valid"] == true))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The neighbour's entry of `show bgp neighbors <addr> json`.
    pub fn neighbor(&self, addr: &str) -> serde_json::Value {
        self.json(&format!("show bgp neighbors {addr} json"))[addr].clone()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        // A stopped bgpd dies of SIGKILL too; SIGCONT is only for tidiness.
        let _ = nix::sys::signal::kill(
            Pid::from_raw(i32::try_from(self.bgpd.id()).unwrap()),
            Signal::SIGCONT,
        );
        stop(&mut self.bgpd);
        stop(&mut self.zebra);
    }
}

/// A speaker of ours on its own thread inside another namespace, running
/// until stopped or dropped; its best-route changes are forwarded.
pub struct Remote {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Remote {
    /// Starts a speaker in `ns` with `peers`, originating `prefixes`; returns
    /// it and the stream of its best-route changes.
    pub fn start(
        ns: &Netns,
        config: SpeakerConfig,
        peers: Vec<PeerConfig>,
        prefixes: Vec<IpNet>,
    ) -> (Remote, UnboundedReceiver<BestChange>) {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let path = ns.path();
        let thread = std::thread::spawn(move || {
            let fd = std::fs::File::open(path).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (speaker, mut best) = Speaker::start(config, Filters::default()).await.unwrap();
                for peer in peers {
                    speaker.add_peer(peer).await.unwrap();
                }
                speaker
                    .announce(prefixes, PathAttributes::default())
                    .unwrap();
                let forward = async {
                    while let Some(change) = best.recv().await {
                        let _ = tx.send(change);
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = forward => {}
                }
            });
        });
        (
            Remote {
                stop: Some(stop),
                thread: Some(thread),
            },
            rx,
        )
    }

    /// Stops the speaker (its sessions close without NOTIFICATION, as when
    /// the process dies) and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Do not panic again while a failing test unwinds.
            let _ = thread.join();
        }
    }
}
