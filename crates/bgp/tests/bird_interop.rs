//! Interoperability with a real BIRD 2 (`/usr/sbin/bird`), run as root.
//! Each test builds two private network namespaces named `cbgpt-<pid>-<n>-{a,b}`
//! joined by a veth pair: our speaker runs in `a` (a dedicated OS thread that
//! entered it with setns), BIRD in `b`. Everything is removed on drop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bgp::codec::{Family, PathAttributes};
use bgp::fsm::State;
use bgp::rib::{BestChange, BestRoute, Source};
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use ipnet::IpNet;
use tokio::sync::mpsc::UnboundedReceiver;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs `args[0] args[1..]`, panicking with its stderr on failure; returns stdout.
fn run(args: &[&str]) -> String {
    testkit::cmd::run(args[0], &args[1..])
}

/// Two namespaces, a veth pair, a temp dir and (once started) BIRD.
struct Lab {
    ours: String,
    bird_ns: String,
    dir: tempfile::TempDir,
    bird: Option<std::process::Child>,
}

impl Lab {
    fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("cbgpt-{}-{n}", std::process::id());
        let lab = Lab {
            ours: format!("{base}-a"),
            bird_ns: format!("{base}-b"),
            dir: tempfile::tempdir().unwrap(),
            bird: None,
        };
        let (a, b) = (lab.ours.as_str(), lab.bird_ns.as_str());
        run(&["ip", "netns", "add", a]);
        run(&["ip", "netns", "add", b]);
        let (va, vb) = (
            format!("cb{n}a{}", std::process::id() % 10000),
            format!("cb{n}b{}", std::process::id() % 10000),
        );
        run(&[
            "ip", "-n", a, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", b,
        ]);
        for (ns, dev, v4, v6) in [
            (a, &va, "10.255.0.1/30", "fd00:255::1/64"),
            (b, &vb, "10.255.0.2/30", "fd00:255::2/64"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
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
            "router id 10.255.0.2;\n\
             log \"{log}\" all;\n\
             protocol device {{ scan time 1; }}\n\
             protocol static s4 {{ ipv4; route 10.200.1.0/24 blackhole; route 10.200.2.0/24 blackhole; }}\n\
             protocol static s6 {{ ipv6; route fd00:200:1::/48 blackhole; }}\n\
             {protocols}\n",
            log = self.path("bird.log").display()
        );
        std::fs::write(self.path("bird.conf"), conf).unwrap();
        // `ip netns exec` execs BIRD in place, so the child is BIRD itself.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.bird_ns, "/usr/sbin/bird", "-f", "-c"])
            .arg(self.path("bird.conf"))
            .arg("-s")
            .arg(self.path("bird.ctl"))
            .spawn()
            .unwrap();
        self.bird = Some(child);
        let start = Instant::now();
        while !self.path("bird.ctl").exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "BIRD did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn birdc(&self, cmd: &str) -> String {
        let ctl = self.path("bird.ctl");
        let mut args = vec!["/usr/sbin/birdc", "-s", ctl.to_str().unwrap()];
        args.extend(cmd.split(' '));
        run(&args)
    }

    /// Runs `body` on a thread inside our namespace with its own runtime.
    fn in_ours<R: Send + 'static>(
        &self,
        body: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = R>>> + Send + 'static,
    ) -> R {
        spawn_in_ns(&self.ours, body).join().unwrap()
    }
}

/// Starts a thread that enters namespace `ns` and runs `body` on a
/// current-thread runtime (so every socket it opens lives in `ns`).
fn spawn_in_ns<R: Send + 'static>(
    ns: &str,
    body: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = R>>> + Send + 'static,
) -> std::thread::JoinHandle<R> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(path).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(body())
    })
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut bird) = self.bird.take() {
            let _ = bird.kill();
            let _ = bird.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ours])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.bird_ns])
            .status();
    }
}

/// Waits for `cond`, polling every 100 ms, up to 30 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Folds best-route changes into a table.
fn drain(rx: &mut UnboundedReceiver<BestChange>, table: &mut HashMap<IpNet, BestRoute>) {
    while let Ok(change) = rx.try_recv() {
        match change {
            BestChange::Updated(p, r) => {
                table.insert(p, r);
            }
            BestChange::Withdrawn(p) => {
                table.remove(&p);
            }
        }
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn bird_has(lab: &Lab, needle: &str) -> bool {
    lab.birdc("show route all").contains(needle)
}

/// Brings our speaker up against BIRD, checks routes both ways, withdraws.
fn exchange(
    lab: Lab,
    local_as: u32,
    peer: PeerConfig,
    ours: Vec<IpNet>,
    theirs: Vec<(IpNet, IpAddr)>,
    expect_in_bird: Vec<String>,
) {
    let lab = std::sync::Arc::new(lab);
    let l2 = lab.clone();
    lab.in_ours(move || {
        Box::pin(async move {
            let lab = l2;
            let config = SpeakerConfig::new(local_as, "10.255.0.1".parse().unwrap());
            let (speaker, mut best) = Speaker::start(config, Filters::default()).await.unwrap();
            let addr = peer.address;
            speaker.add_peer(peer).await.unwrap();
            speaker
                .announce(ours.clone(), PathAttributes::default())
                .unwrap();
            let mut table = HashMap::new();
            let mut established = false;
            let start = Instant::now();
            while !established {
                let status = speaker.peers().await.unwrap();
                established = status[0].state == State::Established;
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "not established: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eventually("BIRD's routes", || {
                drain(&mut best, &mut table);
                theirs.iter().all(|(p, nh)| {
                    table.get(p).is_some_and(|r| {
                        r.source == Source::Peer(addr) && r.next_hop(p) == Some(*nh)
                    })
                })
            })
            .await;
            eventually("our routes in BIRD", || {
                expect_in_bird.iter().all(|n| bird_has(&lab, n))
            })
            .await;
            let status = speaker.peers().await.unwrap();
            assert_eq!(status[0].received, theirs.len(), "{status:?}");
            assert_eq!(status[0].advertised, ours.len(), "{status:?}");
            // Withdraw one of ours; BIRD drops it.
            speaker.withdraw(vec![ours[0]]).unwrap();
            let gone = ours[0].to_string();
            eventually("withdrawal in BIRD", || {
                !lab.birdc("show route").contains(&gone)
            })
            .await;
            // BIRD withdraws its statics; we drop them.
            let proto = if theirs[0].0.addr().is_ipv4() {
                "s4"
            } else {
                "s6"
            };
            lab.birdc(&format!("disable {proto}"));
            eventually("BIRD's withdrawals", || {
                drain(&mut best, &mut table);
                theirs.iter().all(|(p, _)| !table.contains_key(p))
            })
            .await;
        })
    });
}

#[test]
fn ebgp_ipv4_with_bird() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp peer1 { local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
    );
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
    peer.families = vec![Family::Ipv4Unicast];
    exchange(
        lab,
        65001,
        peer,
        vec![net("10.100.1.0/24"), net("10.100.2.0/26")],
        vec![
            (net("10.200.1.0/24"), ip("10.255.0.2")),
            (net("10.200.2.0/24"), ip("10.255.0.2")),
        ],
        vec![
            "10.100.1.0/24".into(),
            "10.100.2.0/26".into(),
            "BGP.as_path: 65001".into(),
        ],
    );
}

#[test]
fn ibgp_ipv4_with_bird_and_md5() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp peer1 { local 10.255.0.2 as 65001; neighbor 10.255.0.1 as 65001; direct;\n\
           password \"s3cret-md5\"; connect delay time 1;\n\
           ipv4 { gateway direct; import all; export where source = RTS_STATIC; }; }",
    );
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65001);
    peer.families = vec![Family::Ipv4Unicast];
    peer.password = Some("s3cret-md5".into());
    // BIRD connects to us: exercises accepting and the listener's MD5 key.
    peer.passive = true;
    exchange(
        lab,
        65001,
        peer,
        vec![net("10.100.3.0/24"), net("10.100.4.0/24")],
        vec![
            (net("10.200.1.0/24"), ip("10.255.0.2")),
            (net("10.200.2.0/24"), ip("10.255.0.2")),
        ],
        vec![
            "10.100.3.0/24".into(),
            "BGP.local_pref: 100".into(),
            "BGP.next_hop: 10.255.0.1".into(),
        ],
    );
}

#[test]
fn ebgp_ipv6_with_bird_and_md5() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp peer1 { local fd00:255::2 as 65002; neighbor fd00:255::1 as 65001;\n\
           password \"v6-key\";\n\
           ipv6 { import all; export where source = RTS_STATIC; }; }",
    );
    let mut peer = PeerConfig::new(ip("fd00:255::2"), 65002);
    peer.families = vec![Family::Ipv6Unicast];
    // We connect first (BIRD waits 5 s): exercises MD5 on an outgoing IPv6 socket.
    peer.password = Some("v6-key".into());
    exchange(
        lab,
        65001,
        peer,
        vec![net("fd00:100:1::/48"), net("fd00:100:2::/64")],
        vec![(net("fd00:200:1::/48"), ip("fd00:255::2"))],
        vec![
            "fd00:100:1::/48".into(),
            "fd00:100:2::/64".into(),
            "BGP.next_hop: fd00:255::1".into(),
        ],
    );
}

#[test]
fn md5_mismatch_keeps_session_down() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp peer1 { local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
           password \"right\"; connect delay time 1; connect retry time 1;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
    );
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
    peer.password = Some("wrong".into());
    peer.connect_retry = Duration::from_secs(1);
    lab.in_ours(move || {
        Box::pin(async move {
            let config = SpeakerConfig::new(65001, "10.255.0.1".parse().unwrap());
            let (speaker, _best) = Speaker::start(config, Filters::default()).await.unwrap();
            speaker.add_peer(peer).await.unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            let status = speaker.peers().await.unwrap();
            assert_ne!(status[0].state, State::Established, "{status:?}");
            assert_eq!(status[0].received, 0);
        })
    });
}

/// Runs a speaker of ours in namespace `ns` until `stop` fires.
fn our_peer(
    ns: &str,
    id: &'static str,
    neighbor: &'static str,
    prefix: &'static str,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    spawn_in_ns(ns, move || {
        Box::pin(async move {
            let config = SpeakerConfig::new(65001, id.parse().unwrap());
            let (speaker, _best) = Speaker::start(config, Filters::default()).await.unwrap();
            let mut peer = PeerConfig::new(ip(neighbor), 65001);
            peer.connect_retry = Duration::from_secs(1);
            speaker.add_peer(peer).await.unwrap();
            speaker
                .announce(vec![net(prefix)], PathAttributes::default())
                .unwrap();
            let _ = stop.await;
        })
    })
}

/// Two of our speakers, both active (so their connections usually collide),
/// then a graceful restart of one: the other keeps its route stale while the
/// session is down and drops it once the session is back, since the restarted
/// speaker preserved no forwarding state (RFC 4724 §4.2).
#[test]
fn ours_to_ours_collision_and_graceful_restart() {
    let lab = Lab::new();
    let other_ns = lab.bird_ns.clone();
    lab.in_ours(move || {
        Box::pin(async move {
            let (stop1, rx1) = tokio::sync::oneshot::channel();
            let b1 = our_peer(&other_ns, "10.255.0.2", "10.255.0.1", "10.60.0.0/24", rx1);
            let mut config = SpeakerConfig::new(65001, "10.255.0.1".parse().unwrap());
            config.listen = Some("0.0.0.0:179".parse().unwrap());
            let (speaker, mut best) = Speaker::start(config, Filters::default()).await.unwrap();
            let mut peer = PeerConfig::new(ip("10.255.0.2"), 65001);
            peer.connect_retry = Duration::from_secs(1);
            speaker.add_peer(peer).await.unwrap();
            speaker
                .announce(vec![net("10.50.0.0/24")], PathAttributes::default())
                .unwrap();
            let mut table = HashMap::new();
            let old = net("10.60.0.0/24");
            eventually("route from the other speaker", || {
                drain(&mut best, &mut table);
                table
                    .get(&old)
                    .is_some_and(|r| r.next_hop(&old) == Some(ip("10.255.0.2")))
            })
            .await;
            let status = speaker.peers().await.unwrap();
            assert_eq!(
                (status[0].state, status[0].advertised),
                (State::Established, 1)
            );

            // The other speaker goes away without a NOTIFICATION.
            stop1.send(()).unwrap();
            tokio::task::spawn_blocking(move || b1.join().unwrap())
                .await
                .unwrap();
            let start = Instant::now();
            while speaker.peers().await.unwrap()[0].state == State::Established {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "session stayed up"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drain(&mut best, &mut table);
            assert!(
                table.contains_key(&old),
                "route kept as stale during restart"
            );

            // It comes back announcing something else; End-of-RIB sweeps the old route.
            let (stop2, rx2) = tokio::sync::oneshot::channel();
            let b2 = our_peer(&other_ns, "10.255.0.2", "10.255.0.1", "10.61.0.0/24", rx2);
            let new = net("10.61.0.0/24");
            eventually("stale route swept after the restart", || {
                drain(&mut best, &mut table);
                table.contains_key(&new) && !table.contains_key(&old)
            })
            .await;
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "swept on re-establishment, not by the restart timer"
            );
            stop2.send(()).unwrap();
            tokio::task::spawn_blocking(move || b2.join().unwrap())
                .await
                .unwrap();
        })
    });
}

/// Changing filters at run time: a new export filter withdraws from BIRD at
/// once; a new import filter is applied to routes BIRD re-sends after our
/// ROUTE-REFRESH.
#[test]
fn filters_changed_at_run_time_with_bird() {
    let mut lab = Lab::new();
    lab.start_bird(
        "protocol bgp peer1 { local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
    );
    let lab = std::sync::Arc::new(lab);
    let l2 = lab.clone();
    lab.in_ours(move || {
        Box::pin(async move {
            let lab = l2;
            let config = SpeakerConfig::new(65001, "10.255.0.1".parse().unwrap());
            let (speaker, mut best) = Speaker::start(config, Filters::default()).await.unwrap();
            let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
            peer.families = vec![Family::Ipv4Unicast];
            speaker.add_peer(peer).await.unwrap();
            let ours = vec![net("10.100.7.0/24"), net("10.100.8.0/24")];
            speaker.announce(ours, PathAttributes::default()).unwrap();
            let mut table = HashMap::new();
            eventually("BIRD's routes", || {
                drain(&mut best, &mut table);
                table.contains_key(&net("10.200.1.0/24"))
                    && table.contains_key(&net("10.200.2.0/24"))
            })
            .await;
            eventually("our routes in BIRD", || bird_has(&lab, "10.100.8.0/24")).await;

            let reject = |net: IpNet| -> bgp::rib::Filter {
                Box::new(move |_, p, _| {
                    if *p == net {
                        bgp::rib::Verdict::Reject
                    } else {
                        bgp::rib::Verdict::Accept
                    }
                })
            };
            speaker
                .set_filters(Filters {
                    import: Some(reject(net("10.200.2.0/24"))),
                    export: Some(reject(net("10.100.8.0/24"))),
                })
                .unwrap();
            eventually("export filter withdrew 10.100.8.0/24", || {
                !lab.birdc("show route").contains("10.100.8.0/24")
            })
            .await;
            assert!(bird_has(&lab, "10.100.7.0/24"));
            eventually("import filter dropped 10.200.2.0/24 after refresh", || {
                drain(&mut best, &mut table);
                !table.contains_key(&net("10.200.2.0/24"))
            })
            .await;
            assert!(table.contains_key(&net("10.200.1.0/24")));
            let status = speaker.peers().await.unwrap();
            assert_eq!(
                (status[0].received, status[0].accepted),
                (2, 1),
                "{status:?}"
            );
        })
    });
}
