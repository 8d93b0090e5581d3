//! Four runtimes' worth of concurrent invocations: 4 processes at a time, 100 ADDs each,
//! on one node and one embedded datastore; then all DELs. No address is handed out twice
//! and `calicoctl ipam check`'s library finds nothing wrong before or after.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use serde_json::json;

const WORKERS: usize = 4;
const PER_WORKER: usize = 100;

#[test]
fn four_by_hundred_concurrent_adds_then_dels() {
    let node = Arc::new(Node::new());
    node.pool("pool1", "10.74.0.0/22", 26);
    let conf = node.conf("1.0.0", json!({}));
    let pods: Arc<Vec<Netns>> = Arc::new(
        (0..WORKERS * PER_WORKER)
            .map(|_| Netns::new("cc"))
            .collect(),
    );
    let inv = |w: usize, i: usize, command: &'static str| {
        Invocation::new(
            command,
            &format!("cc{w}x{i:03}"),
            &pods[w * PER_WORKER + i].path(),
        )
    };

    let ips: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (node, conf, inv) = (&node, &conf, &inv);
                s.spawn(move || {
                    (0..PER_WORKER)
                        .map(|i| result_ip(&node.calico(&inv(w, i, "ADD"), conf).expect_ok(), 0))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let unique: BTreeSet<&String> = ips.iter().collect();
    assert_eq!(ips.len(), WORKERS * PER_WORKER);
    assert_eq!(unique.len(), ips.len(), "duplicate addresses handed out");
    assert_eq!(node.cali_links().len(), WORKERS * PER_WORKER);
    let report = node.check_report();
    assert_eq!(report.allocations, WORKERS * PER_WORKER);
    assert_eq!(report.workload_ips, WORKERS * PER_WORKER);
    assert_eq!(report.problems(), 0, "{}", ipam::render_check(&report));

    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (node, conf, inv) = (&node, &conf, &inv);
            s.spawn(move || {
                for i in 0..PER_WORKER {
                    node.calico(&inv(w, i, "DEL"), conf).expect_ok();
                }
            });
        }
    });
    assert!(node.cali_links().is_empty());
    let report = node.check_report();
    assert_eq!(report.allocations, 0);
    assert_eq!(report.problems(), 0, "{}", ipam::render_check(&report));
}
