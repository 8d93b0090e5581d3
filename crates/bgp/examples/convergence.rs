//! Convergence side by side (needs root, BIRD 2 and FRR 8): a BIRD sender
//! announces N /26 prefixes over eBGP to (1) our speaker, (2) a BIRD receiver
//! and (3) an FRR (zebra + bgpd) receiver, each in its own `cbgpb-` namespace
//! pair, one receiver after the other. Method of RECIPES.md: bring the session
//! up, enable/disable a static protocol on the sender, poll every 20 ms.
//!
//! Two scenarios: N_FIB prefixes to RIB and kernel FIB, then N_RIB prefixes to
//! the RIB only (BIRD without a kernel protocol, bgpd with `--no_kernel`). Our
//! receiver runs as a child process (this binary with `--receiver NETNS
//! fib|rib`) so its VmRSS/VmHWM are its own. The bgp library does no kernel
//! I/O, so in the FIB scenario the receiver itself installs every best-route
//! change: a writer thread packs RTM_NEWROUTE (replace) / RTM_DELROUTE
//! messages into one netlink send per batch (up to `FIB_BATCH_BYTES`, no
//! per-route ack; the kernel still reports failures). Its FIB columns count
//! kernel routes the same way as for BIRD and FRR. Memory is read after the
//! announcement.
//!
//! `cargo run --release -p bgp --example convergence [N_FIB [N_RIB]]`

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp::codec::Family;
use bgp::fsm::State;
use bgp::rib::BestChange;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use netlink_packet_core::{
    NetlinkMessage, NLMSG_ERROR, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::route::{RouteMessage, RouteProtocol};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use rtnetlink::RouteMessageBuilder;

/// Most bytes of route messages the FIB writer hands the kernel in one send.
const FIB_BATCH_BYTES: usize = 64 * 1024;
/// Most best-route changes the receiver passes to the FIB writer at once.
const FIB_BATCH_ROUTES: usize = 4096;

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

/// Sender and receiver namespaces, a veth pair, and the processes started in
/// them (killed by PID on drop, before the namespaces go).
struct Pair {
    sender: String,
    receiver: String,
    dir: PathBuf,
    children: Vec<Child>,
    daemons: Vec<u32>,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let base = format!("cbgpb-{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pair = Pair {
            sender: format!("{base}-s"),
            receiver: format!("{base}-r"),
            dir,
            children: Vec::new(),
            daemons: Vec::new(),
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

    /// Starts BIRD in the foreground; returns its control socket and PID.
    fn bird(&mut self, ns: &str, name: &str, conf: &str) -> (PathBuf, u32) {
        let conf_path = self.dir.join(format!("{name}.conf"));
        let ctl = self.dir.join(format!("{name}.ctl"));
        std::fs::write(&conf_path, conf).expect("write bird.conf");
        // `ip netns exec` execs BIRD, so the child's PID is BIRD's.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "/usr/sbin/bird", "-f", "-c"])
            .arg(&conf_path)
            .arg("-s")
            .arg(&ctl)
            .spawn()
            .expect("start bird");
        let pid = child.id();
        self.children.push(child);
        wait_until(|| ctl.exists());
        (ctl, pid)
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
        self.bird(&ns, "sender", &conf).0
    }

    /// Starts an FRR daemon (`-d`) and returns the PID from its pid file.
    fn frr(&mut self, daemon: &str, conf: &str, extra: &[&str]) -> u32 {
        let conf_path = self.dir.join(format!("{daemon}.conf"));
        let pid_path = self.dir.join(format!("{daemon}.pid"));
        std::fs::write(&conf_path, conf).expect("write frr conf");
        let dir = self.dir.to_str().expect("utf-8 path");
        let mut args = vec![
            "ip".to_string(),
            "netns".into(),
            "exec".into(),
            self.receiver.clone(),
            format!("/usr/lib/frr/{daemon}"),
            "-d".into(),
            "-f".into(),
            conf_path.to_str().expect("utf-8 path").into(),
            "-i".into(),
            pid_path.to_str().expect("utf-8 path").into(),
            "-z".into(),
            format!("{dir}/zserv.api"),
            "--vty_socket".into(),
            dir.into(),
            "-P".into(),
            "0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sh(&args);
        wait_until(|| {
            std::fs::read_to_string(&pid_path).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
        });
        let pid: u32 = std::fs::read_to_string(&pid_path)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        self.daemons.push(pid);
        pid
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for &pid in &self.daemons {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        for ns in [&self.sender, &self.receiver] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
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

/// The number after `"key":` in FRR's JSON output (first occurrence).
fn json_number(text: &str, key: &str) -> Option<usize> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn frr_summary(dir: &Path) -> String {
    sh(&[
        "vtysh",
        "--vty_socket",
        dir.to_str().expect("utf-8 path"),
        "-c",
        "show bgp ipv4 unicast summary json",
    ])
}

/// Prefixes in the main kernel FIB of the namespace `pid` lives in.
fn fib_count(pid: u32) -> usize {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/net/fib_triestat")).unwrap_or_default();
    stat.split("Main:")
        .nth(1)
        .and_then(|main| field_after(main, "Prefixes:"))
        .unwrap_or(0)
}

/// The number following `label` in `text`.
fn field_after(text: &str, label: &str) -> Option<usize> {
    let at = text.find(label)? + label.len();
    text[at..].split_whitespace().next()?.parse().ok()
}

/// VmRSS and VmHWM of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |label| field_after(&status, label).unwrap_or(0) as f64 / 1024.0;
    (kib("VmRSS:"), kib("VmHWM:"))
}

fn wait_until(mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(600), "no convergence");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// One receiver's figures; `None` where not measured.
struct Row {
    name: &'static str,
    rib_up: Duration,
    fib_up: Option<Duration>,
    rib_down: Duration,
    fib_down: Option<Duration>,
    rss: f64,
    hwm: f64,
}

/// Runs the announce/withdraw cycle against a receiver whose RIB count and
/// (optionally) FIB-holding PID are given.
fn cycle(
    name: &'static str,
    ctl: &Path,
    n: usize,
    rib: impl Fn() -> usize,
    fib_pid: Option<u32>,
    mem_pid: u32,
) -> Row {
    let base = fib_pid.map(fib_count).unwrap_or(0);
    let start = Instant::now();
    birdc(ctl, &["enable", "bulk"]);
    let rib_up = wait_until(|| rib() == n);
    let fib_up = fib_pid.map(|pid| {
        wait_until(|| fib_count(pid) >= base + n);
        start.elapsed()
    });
    let (rss, hwm) = memory(mem_pid);
    let start = Instant::now();
    birdc(ctl, &["disable", "bulk"]);
    let rib_down = wait_until(|| rib() == 0);
    let fib_down = fib_pid.map(|pid| {
        wait_until(|| fib_count(pid) <= base);
        start.elapsed()
    });
    Row {
        name,
        rib_up,
        fib_up,
        rib_down,
        fib_down,
        rss,
        hwm,
    }
}

fn ours(n: usize, fib: bool) -> Row {
    let mut pair = Pair::new("ours");
    let ctl = pair.sender(n as u32);
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--receiver")
        .arg(format!("/var/run/netns/{}", pair.receiver))
        .arg(if fib { "fib" } else { "rib" })
        .stdout(Stdio::piped())
        .spawn()
        .expect("start receiver");
    let pid = child.id();
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    pair.children.push(child);
    let count = Arc::new(AtomicUsize::new(usize::MAX));
    let shared = count.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(|l| l.ok()) {
            if let Ok(c) = line.trim().parse() {
                shared.store(c, Ordering::SeqCst);
            }
        }
    });
    wait_until(|| count.load(Ordering::SeqCst) == 0);
    cycle(
        "bgp (ours)",
        &ctl,
        n,
        || count.load(Ordering::SeqCst),
        fib.then_some(pid),
        pid,
    )
}

/// The kernel message for one best-route change: replace the route via its
/// next hop, or delete it.
fn route_message(change: &BestChange) -> Result<NetlinkMessage<RouteNetlinkMessage>, String> {
    let (prefix, next_hop) = match change {
        BestChange::Updated(p, route) => (*p, route.next_hop(p)),
        BestChange::Withdrawn(p) => (*p, None),
    };
    // Deletes match on the protocol too: the builder's default is `static`.
    let builder = RouteMessageBuilder::<std::net::IpAddr>::new()
        .destination_prefix(prefix.addr(), prefix.prefix_len())
        .map_err(|e| e.to_string())?
        .protocol(RouteProtocol::Bird);
    let (route, flags): (RouteMessage, u16) = match next_hop {
        Some(via) => (
            builder.gateway(via).map_err(|e| e.to_string())?.build(),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
        ),
        None => (builder.build(), NLM_F_REQUEST),
    };
    let mut msg = NetlinkMessage::from(match next_hop {
        Some(_) => RouteNetlinkMessage::NewRoute(route),
        None => RouteNetlinkMessage::DelRoute(route),
    });
    msg.header.flags = flags;
    msg.finalize();
    Ok(msg)
}

/// The receiver's FIB writer (a thread in the receiver's namespace): writes
/// each batch of changes with as few netlink sends as fit, then reports the
/// first error the kernel answered with, if any.
fn fib_writer(batches: std::sync::mpsc::Receiver<Vec<BestChange>>) {
    let mut socket = Socket::new(NETLINK_ROUTE).expect("netlink socket");
    socket.bind_auto().expect("bind netlink socket");
    socket
        .connect(&SocketAddr::new(0, 0))
        .expect("connect netlink socket");
    let mut buf: Vec<u8> = Vec::with_capacity(FIB_BATCH_BYTES);
    let mut replies: Vec<u8> = Vec::with_capacity(65536);
    let mut seq = 0u32;
    let mut failed = false;
    let mut report = |e: String| {
        if !failed {
            eprintln!("receiver: FIB write failed: {e}");
            failed = true;
        }
    };
    for batch in batches {
        for change in &batch {
            let mut msg = match route_message(change) {
                Ok(msg) => msg,
                Err(e) => {
                    report(e);
                    continue;
                }
            };
            seq = seq.wrapping_add(1);
            msg.header.sequence_number = seq;
            let len = msg.buffer_len();
            if buf.len() + len > FIB_BATCH_BYTES {
                if let Err(e) = socket.send(&buf, 0) {
                    report(e.to_string());
                }
                buf.clear();
            }
            let at = buf.len();
            buf.resize(at + len, 0);
            msg.serialize(&mut buf[at..]);
        }
        if !buf.is_empty() {
            if let Err(e) = socket.send(&buf, 0) {
                report(e.to_string());
            }
            buf.clear();
        }
        // Failed requests come back as NLMSG_ERROR with a negative errno.
        loop {
            replies.clear();
            if socket.recv(&mut replies, libc::MSG_DONTWAIT).is_err() {
                break;
            }
            let mut at = 0;
            while replies.len() >= at + 20 {
                let word = |i: usize| {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(&replies[at + i..at + i + 4]);
                    b
                };
                let len = u32::from_ne_bytes(word(0)) as usize;
                let kind = u16::from_ne_bytes([replies[at + 4], replies[at + 5]]);
                let errno = i32::from_ne_bytes(word(16));
                if kind == NLMSG_ERROR && errno != 0 {
                    report(std::io::Error::from_raw_os_error(-errno).to_string());
                }
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
            }
        }
    }
}

/// Child-process mode: our speaker in `netns`, printing its Loc-RIB size
/// (0 once Established, then on every change, at most every 20 ms); with
/// `fib`, also writing every best-route change to the namespace's kernel FIB.
fn receiver(netns: &str, fib: bool) {
    let ns = std::fs::File::open(netns).expect("netns");
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
        // Every prefix is announced once by one peer, so updates minus
        // withdrawals is the Loc-RIB size without keeping a second table.
        let mut size: isize = 0;
        let mut printed = -1;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        // Threads inherit this thread's namespace.
        let fib_tx = fib.then(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || fib_writer(rx));
            tx
        });
        loop {
            tokio::select! {
                Some(change) = best.recv() => {
                    // Take what else is queued, and pass it on in one batch.
                    let mut batch = Vec::new();
                    let mut next = Some(change);
                    while let Some(change) = next {
                        match change {
                            BestChange::Updated(..) => size += 1,
                            BestChange::Withdrawn(_) => size -= 1,
                        }
                        if fib_tx.is_some() {
                            batch.push(change);
                        }
                        next = (batch.len() < FIB_BATCH_ROUTES)
                            .then(|| best.try_recv().ok())
                            .flatten();
                    }
                    if let (Some(tx), false) = (&fib_tx, batch.is_empty()) {
                        let _ = tx.send(batch);
                    }
                }
                _ = tick.tick() => {
                    if size != printed {
                        printed = size;
                        let mut out = std::io::stdout().lock();
                        if writeln!(out, "{size}").and_then(|()| out.flush()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
}

fn bird_receiver(n: usize, fib: bool) -> Row {
    let mut pair = Pair::new("bird");
    let ctl = pair.sender(n as u32);
    let ns = pair.receiver.clone();
    let kernel = if fib {
        "protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }\n"
    } else {
        ""
    };
    let conf = format!(
        "router id 10.254.0.1;\nprotocol device {{}}\n{kernel}\
         protocol bgp in1 {{ local 10.254.0.1 as 65001; neighbor 10.254.0.2 as 65002;\n\
         ipv4 {{ import all; export none; }}; }}\n"
    );
    let (rctl, pid) = pair.bird(&ns, "receiver", &conf);
    wait_until(|| birdc(&rctl, &["show", "protocols", "in1"]).contains("Established"));
    cycle(
        "BIRD 2",
        &ctl,
        n,
        || bird_count(&rctl),
        fib.then_some(pid),
        pid,
    )
}

fn frr_receiver(n: usize, fib: bool) -> Row {
    let mut pair = Pair::new("frr");
    let ctl = pair.sender(n as u32);
    sh(&["chmod", "777", pair.dir.to_str().expect("utf-8 path")]);
    let zebra = pair.frr("zebra", "hostname z\n", &[]);
    let mut bgpd_args = vec!["-l", "10.254.0.1"];
    if !fib {
        bgpd_args.push("--no_kernel");
    }
    let bgpd = pair.frr(
        "bgpd",
        "hostname b\nrouter bgp 65001\n bgp router-id 10.254.0.1\n no bgp ebgp-requires-policy\n\
         neighbor 10.254.0.2 remote-as 65002\n address-family ipv4 unicast\n\
         \x20 neighbor 10.254.0.2 activate\n exit-address-family\n",
        &bgpd_args,
    );
    let dir = pair.dir.clone();
    wait_until(|| frr_summary(&dir).contains("\"state\":\"Established\""));
    let mut row = cycle(
        "FRR 8",
        &ctl,
        n,
        || json_number(&frr_summary(&dir), "pfxRcd").unwrap_or(usize::MAX),
        fib.then_some(zebra),
        bgpd,
    );
    // bgpd and zebra both hold the routes when they go to the kernel.
    if fib {
        let (rss, hwm) = memory(zebra);
        row.rss += rss;
        row.hwm += hwm;
        row.name = "FRR 8 (bgpd+zebra)";
    }
    row
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "  {:<20} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  ratio to ours (RIB up, RIB down, HWM)",
        "receiver", "RIB up", "FIB up", "RIB down", "FIB down", "RSS MiB", "HWM MiB"
    );
    let ours = &rows[0];
    for row in rows {
        let opt = |d: Option<Duration>| d.map(ms).unwrap_or_else(|| "-".into());
        println!(
            "  {:<20} {:>9} {:>9} {:>9} {:>9} {:>8.1} {:>8.1}  {:.2}x {:.2}x {:.2}x",
            row.name,
            ms(row.rib_up),
            opt(row.fib_up),
            ms(row.rib_down),
            opt(row.fib_down),
            row.rss,
            row.hwm,
            row.rib_up.as_secs_f64() / ours.rib_up.as_secs_f64(),
            row.rib_down.as_secs_f64() / ours.rib_down.as_secs_f64(),
            row.hwm / ours.hwm,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--receiver") {
        return receiver(&args[2], args.get(3).map(String::as_str) == Some("fib"));
    }
    let n_fib: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let n_rib: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    for (n, fib) in [(n_fib, true), (n_rib, false)] {
        if n == 0 {
            continue;
        }
        let rows = [ours(n, fib), bird_receiver(n, fib), frr_receiver(n, fib)];
        let what = if fib {
            "RIB and kernel FIB"
        } else {
            "RIB only"
        };
        print_table(
            &format!(
                "{n} /26 prefixes from a BIRD sender, {what}; times in ms from enable/disable:"
            ),
            &rows,
        );
    }
}
