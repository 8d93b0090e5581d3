//! Convergence side by side (needs root and /usr/sbin/bird): a BIRD sender
//! announces N /26 prefixes over eBGP to (1) our speaker and (2) a BIRD
//! receiver, each in its own `cbgpt-` namespace pair; prints the time until the
//! receiver's RIB holds all N, and until all are withdrawn again (method of
//! RECIPES.md: enable/disable a static protocol, poll every 20 ms).
//!
//! `cargo run --release -p bgp --example convergence [N]`

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bgp::codec::Family;
use bgp::fsm::State;
use bgp::rib::BestChange;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use ipnet::IpNet;

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sender and receiver namespaces, a veth pair and the BIRDs started in them.
struct Pair {
    sender: String,
    receiver: String,
    dir: PathBuf,
    birds: Vec<Child>,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let base = format!("cbgpt-{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pair = Pair {
            sender: format!("{base}-s"),
            receiver: format!("{base}-r"),
            dir,
            birds: Vec::new(),
        };
        let (s, r) = (pair.sender.as_str(), pair.receiver.as_str());
        sh(&["ip", "netns", "add", s]);
        sh(&["ip", "netns", "add", r]);
        sh(&[
            "ip", "-n", s, "link", "add", "cvs", "type", "veth", "peer", "name", "cvr", "netns", r,
        ]);
        for (ns, dev, addr) in [(s, "cvs", "10.254.0.2/30"), (r, "cvr", "10.254.0.1/30")] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    fn bird(&mut self, ns: &str, name: &str, conf: &str) -> PathBuf {
        let conf_path = self.dir.join(format!("{name}.conf"));
        let ctl = self.dir.join(format!("{name}.ctl"));
        std::fs::write(&conf_path, conf).expect("write bird.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "/usr/sbin/bird", "-f", "-c"])
            .arg(&conf_path)
            .arg("-s")
            .arg(&ctl)
            .spawn()
            .expect("start bird");
        self.birds.push(child);
        while !ctl.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        ctl
    }

    fn sender(&mut self, n: u32) -> PathBuf {
        let mut conf = String::from("router id 10.254.0.2;\nprotocol device {}\n");
        conf.push_str("protocol static bulk { disabled yes; ipv4;\n");
        for i in 0..n {
            let a = 0x0b00_0000u32 + (i << 6);
            conf.push_str(&format!(
                "route {}.{}.{}.{}/26 blackhole;\n",
                a >> 24,
                (a >> 16) & 255,
                (a >> 8) & 255,
                a & 255
            ));
        }
        conf.push_str(
            "}\nprotocol bgp out1 { local 10.254.0.2 as 65002; neighbor 10.254.0.1 as 65001;\n\
             ipv4 { import none; export where source = RTS_STATIC; }; }\n",
        );
        let ns = self.sender.clone();
        self.bird(&ns, "sender", &conf)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for bird in &mut self.birds {
            let _ = bird.kill();
            let _ = bird.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.sender])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.receiver])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn birdc(ctl: &Path, cmd: &[&str]) -> String {
    let mut args = vec!["/usr/sbin/birdc", "-s", ctl.to_str().expect("utf-8 path")];
    args.extend(cmd);
    sh(&args)
}

/// Routes BIRD's `show route count` reports.
fn bird_count(ctl: &Path) -> usize {
    let out = birdc(ctl, &["show", "route", "count"]);
    out.split_whitespace()
        .zip(out.split_whitespace().skip(1))
        .find_map(|(n, w)| (w == "of").then(|| n.parse().ok()).flatten())
        .unwrap_or(0)
}

fn wait_until(mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(300), "no convergence");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn ours(n: u32) -> (Duration, Duration) {
    let mut pair = Pair::new("ours");
    let ctl = pair.sender(n);
    let path = format!("/var/run/netns/{}", pair.receiver);
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let receiver = std::thread::spawn(move || {
        let ns = std::fs::File::open(path).expect("netns");
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut config = SpeakerConfig::new(65001, "10.254.0.1".parse().expect("id"));
            config.listen = None;
            let (speaker, mut best) = Speaker::start(config, Filters::default())
                .await
                .expect("start");
            let mut peer = PeerConfig::new("10.254.0.2".parse().expect("ip"), 65002);
            peer.families = vec![Family::Ipv4Unicast];
            speaker.add_peer(peer).await.expect("peer");
            while speaker.peers().await.expect("status")[0].state != State::Established {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = tx.send(0);
            let mut table: HashSet<IpNet> = HashSet::new();
            let mut done = std::pin::pin!(done_rx);
            loop {
                tokio::select! {
                    Some(change) = best.recv() => {
                        match change {
                            BestChange::Updated(p, _) => table.insert(p),
                            BestChange::Withdrawn(p) => table.remove(&p),
                        };
                        if best.is_empty() {
                            let _ = tx.send(table.len());
                        }
                    }
                    _ = &mut done => break,
                }
            }
        });
    });
    let mut count = rx.recv().expect("established");
    let latest = |count: &mut usize| {
        while let Ok(c) = rx.try_recv() {
            *count = c;
        }
        *count
    };
    birdc(&ctl, &["enable", "bulk"]);
    let up = wait_until(|| latest(&mut count) == n as usize);
    birdc(&ctl, &["disable", "bulk"]);
    let down = wait_until(|| latest(&mut count) == 0);
    let _ = done_tx.send(());
    receiver.join().expect("receiver thread");
    (up, down)
}

fn bird_receiver(n: u32) -> (Duration, Duration) {
    let mut pair = Pair::new("bird");
    let ctl = pair.sender(n);
    let ns = pair.receiver.clone();
    let rctl = pair.bird(
        &ns,
        "receiver",
        "router id 10.254.0.1;\nprotocol device {}\n\
         protocol bgp in1 { local 10.254.0.1 as 65001; neighbor 10.254.0.2 as 65002;\n\
         ipv4 { import all; export none; }; }\n",
    );
    wait_until(|| birdc(&rctl, &["show", "protocols", "in1"]).contains("Established"));
    birdc(&ctl, &["enable", "bulk"]);
    let up = wait_until(|| bird_count(&rctl) == n as usize);
    birdc(&ctl, &["disable", "bulk"]);
    let down = wait_until(|| bird_count(&rctl) == 0);
    (up, down)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (our_up, our_down) = ours(n);
    let (bird_up, bird_down) = bird_receiver(n);
    println!("{n} prefixes from a BIRD sender, time until the receiver's RIB has them / has none:");
    println!("  receiver      announce    withdraw");
    println!(
        "  bgp (ours)  {:>8.0} ms {:>8.0} ms",
        our_up.as_secs_f64() * 1e3,
        our_down.as_secs_f64() * 1e3
    );
    println!(
        "  BIRD 2      {:>8.0} ms {:>8.0} ms",
        bird_up.as_secs_f64() * 1e3,
        bird_down.as_secs_f64() * 1e3
    );
}
