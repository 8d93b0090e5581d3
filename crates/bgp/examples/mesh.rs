//! Full-mesh convergence of in-process speakers (needs root): K speakers
//! (default 100) in one private namespace `cbgpb-<pid>-mesh`, each on its own
//! loopback address 10.253.x.y, all in AS 65000 and peered with every other
//! (K*(K-1)/2 iBGP sessions). Each announces one /24. Mode `both` (default):
//! both ends of every session connect, as BIRD and FRR meshes do, so
//! collisions and connections refused by a speaker that has not yet been
//! told about the peer are part of the figure; mode `split`: the speaker
//! with the higher address connects, the other only listens.
//! Prints the time until every session is Established and until every
//! speaker's Loc-RIB holds all K prefixes, and the process's memory growth.
//!
//! `cargo run --release -p bgp --example mesh [K] [both|split]`

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::codec::{Family, PathAttributes};
use bgp::fsm::State;
use bgp::rib::BestChange;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use ipnet::IpNet;

/// The namespace, removed on drop (which also ends every socket in it).
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add")
            .success();
        assert!(ok, "ip netns add {name}");
        Netns(name)
    }

    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .expect("ip")
            .success();
        assert!(ok, "ip -n {} {args:?}", self.0);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 253, (i / 250) as u8, (i % 250 + 1) as u8)
}

fn prefix(i: usize) -> IpNet {
    IpNet::new(
        Ipv4Addr::new(10, (200 + i / 256) as u8, (i % 256) as u8, 0).into(),
        24,
    )
    .expect("prefix")
}

/// VmRSS and VmHWM of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kib = |label: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

async fn run(k: usize, split: bool) {
    let (rss0, _) = memory();
    let start = Instant::now();
    let mut speakers = Vec::with_capacity(k);
    let complete = Arc::new(AtomicUsize::new(0));
    for i in 0..k {
        let mut config = SpeakerConfig::new(65000, addr(i));
        config.listen = Some(SocketAddr::new(IpAddr::V4(addr(i)), 179));
        let (speaker, mut best) = Speaker::start(config, Filters::default())
            .await
            .expect("start speaker");
        let complete = complete.clone();
        tokio::spawn(async move {
            let mut table = HashSet::new();
            while let Some(change) = best.recv().await {
                let before = table.len();
                match change {
                    BestChange::Updated(p, _) => table.insert(p),
                    BestChange::Withdrawn(p) => table.remove(&p),
                };
                if table.len() == k && before != k {
                    complete.fetch_add(1, Ordering::SeqCst);
                } else if before == k && table.len() != k {
                    complete.fetch_sub(1, Ordering::SeqCst);
                }
            }
        });
        speakers.push(speaker);
    }
    for (i, speaker) in speakers.iter().enumerate() {
        for j in (0..k).filter(|&j| j != i) {
            let mut peer = PeerConfig::new(IpAddr::V4(addr(j)), 65000);
            peer.source = Some(IpAddr::V4(addr(i)));
            peer.families = vec![Family::Ipv4Unicast];
            peer.connect_retry = Duration::from_secs(1);
            peer.passive = split && j > i;
            speaker.add_peer(peer).await.expect("add peer");
        }
        speaker
            .announce(vec![prefix(i)], PathAttributes::default())
            .expect("announce");
    }
    let configured_at = start.elapsed();
    let mut established_at = None;
    let mut converged_at = None;
    while established_at.is_none() || converged_at.is_none() {
        assert!(start.elapsed() < Duration::from_secs(300), "no convergence");
        tokio::time::sleep(Duration::from_millis(20)).await;
        if established_at.is_none() {
            let mut up = 0;
            for speaker in &speakers {
                let peers = speaker.peers().await.expect("status");
                up += peers
                    .iter()
                    .filter(|p| p.state == State::Established)
                    .count();
            }
            if up == k * (k - 1) {
                established_at = Some(start.elapsed());
            }
        }
        if converged_at.is_none() && complete.load(Ordering::SeqCst) == k {
            converged_at = Some(start.elapsed());
        }
    }
    let (rss, hwm) = memory();
    // Why sessions went down on the way (one entry per peer that saw an error).
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for speaker in &speakers {
        for peer in speaker.peers().await.expect("status") {
            if let Some(e) = peer.last_error {
                *errors.entry(e).or_default() += 1;
            }
        }
    }
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    println!(
        "{k} speakers, full iBGP mesh ({} sessions, {}), one /24 each:",
        k * (k - 1) / 2,
        if split {
            "lower address passive"
        } else {
            "both ends active"
        }
    );
    println!(
        "  every peer configured     {:>7.0} ms",
        ms(Some(configured_at))
    );
    println!("  all sessions Established  {:>7.0} ms", ms(established_at));
    println!("  every Loc-RIB has {k:<4}    {:>7.0} ms", ms(converged_at));
    println!(
        "  process VmRSS {rss0:.1} -> {rss:.1} MiB (+{:.1} MiB, {:.0} KiB per speaker), VmHWM {hwm:.1} MiB",
        rss - rss0,
        (rss - rss0) * 1024.0 / k as f64
    );
    for (error, count) in errors {
        println!("  last error {count:>5} peers: {error}");
    }
}

fn main() {
    let k: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let split = std::env::args().nth(2).as_deref() == Some("split");
    let ns = Netns::new(format!("cbgpb-{}-mesh", std::process::id()));
    ns.ip(&["link", "set", "lo", "up"]);
    for i in 0..k {
        ns.ip(&["addr", "add", &format!("{}/32", addr(i)), "dev", "lo"]);
    }
    // Threads inherit the namespace of the thread that creates them, so the
    // runtime's workers, created after this, all live in `ns`.
    let file = std::fs::File::open(format!("/var/run/netns/{}", ns.0)).expect("netns");
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(k, split));
    drop(rt);
    drop(ns);
}
