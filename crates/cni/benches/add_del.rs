//! 200 sequential ADDs then 200 DELs through our `calico` + `calico-ipam` (embedded
//! datastore), and the same through Debian's `ptp` + `host-local` doing the comparable job
//! (veth, /32 host route, address from a local pool), each invoked exactly as a runtime does.
//! Prints p50/p99 per operation and the ratio ours/theirs. Needs root (network namespaces).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const N: usize = 200;

struct Figures {
    add: Vec<Duration>,
    del: Vec<Duration>,
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn measure(node: &Node, binary: &Path, conf: &Value, tag: &str) -> Figures {
    let pods: Vec<Netns> = (0..N).map(|_| Netns::new(tag)).collect();
    let inv = |i: usize, cmd: &'static str| {
        Invocation::new(cmd, &format!("{tag}{i:04}"), &pods[i].path())
            .k8s("bench", &format!("{tag}-{i}"))
    };
    let mut add = Vec::with_capacity(N);
    for i in 0..N {
        let start = Instant::now();
        node.run_plugin(binary, &inv(i, "ADD"), conf).expect_ok();
        add.push(start.elapsed());
    }
    let mut del = Vec::with_capacity(N);
    for i in 0..N {
        let start = Instant::now();
        node.run_plugin(binary, &inv(i, "DEL"), conf).expect_ok();
        del.push(start.elapsed());
    }
    Figures { add, del }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let node = Node::new();
    node.pool("bench", "10.80.0.0/16", 26);
    let ours = measure(
        &node,
        Path::new(env!("CARGO_BIN_EXE_calico")),
        &node.conf("1.0.0", json!({"log_level": "warning"})),
        "cal",
    );
    let ptp_conf = json!({
        "cniVersion": "1.0.0", "name": "bench", "type": "ptp", "ipMasq": false, "mtu": 1400,
        "ipam": {"type": "host-local", "subnet": "10.81.0.0/16",
                 "dataDir": node.dir.path().join("host-local").display().to_string()},
    });
    let theirs = measure(&node, Path::new("/usr/lib/cni/ptp"), &ptp_conf, "ptp");

    println!("{N} sequential operations each (ms)");
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>14} {:>10} {:>10}",
        "op", "ours p50", "ours p99", "ptp+hl p50", "ptp+hl p99", "ratio p50", "ratio p99"
    );
    for (op, a, b) in [
        ("ADD", &ours.add, &theirs.add),
        ("DEL", &ours.del, &theirs.del),
    ] {
        let (a50, a99, b50, b99) = (
            percentile(a, 50.0),
            percentile(a, 99.0),
            percentile(b, 50.0),
            percentile(b, 99.0),
        );
        println!(
            "{op:<8} {:>10.2} {:>10.2} {:>14.2} {:>14.2} {:>10.2} {:>10.2}",
            ms(a50),
            ms(a99),
            ms(b50),
            ms(b99),
            a50.as_secs_f64() / b50.as_secs_f64(),
            a99.as_secs_f64() / b99.as_secs_f64()
        );
    }
}
