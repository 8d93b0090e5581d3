//! Four runtimes' worth of concurrent invocations: 4 processes at a time, 100 ADDs each,
//! on one node, then all DELs, on the embedded datastore and on a real etcd. No address is
//! handed out twice and the IPAM check library finds nothing wrong before or after.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use datastore::{EtcdConfig, EtcdStore, ResourceClient, Store};
use serde_json::{json, Value};

const WORKERS: usize = 4;
const PER_WORKER: usize = 100;

/// Runs every ADD, checks, runs every DEL, checks again.
fn adds_then_dels(node: &Node, conf: &Value, check: impl Fn() -> ipam::CheckReport) {
    let pods: Vec<Netns> = (0..WORKERS * PER_WORKER)
        .map(|_| Netns::new("cc"))
        .collect();
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
                let inv = &inv;
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
    let report = check();
    assert_eq!(report.allocations, WORKERS * PER_WORKER);
    assert_eq!(report.workload_ips, WORKERS * PER_WORKER);
    assert_eq!(report.problems(), 0, "{}", ipam::render_check(&report));

    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let inv = &inv;
            s.spawn(move || {
                for i in 0..PER_WORKER {
                    node.calico(&inv(w, i, "DEL"), conf).expect_ok();
                }
            });
        }
    });
    assert!(node.cali_links().is_empty());
    let report = check();
    assert_eq!(report.allocations, 0);
    assert_eq!(report.problems(), 0, "{}", ipam::render_check(&report));
}

#[test]
fn four_by_hundred_concurrent_adds_then_dels_on_embedded_store() {
    let node = Node::new();
    node.pool("pool1", "10.74.0.0/22", 26);
    let conf = node.conf("1.0.0", json!({}));
    adds_then_dels(&node, &conf, || node.check_report());
}

/// etcd running inside the test's host namespace, killed on drop.
struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ETCD: &str = "http://127.0.0.1:23790";

/// Runs `job` against etcd from a thread inside the host namespace.
fn on_etcd<T: Send + 'static, Fut: Future<Output = T>>(
    node: &Node,
    job: impl FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
) -> T {
    in_host(node, |rt| {
        rt.block_on(async move {
            let store: Arc<dyn Store> = Arc::new(
                EtcdStore::connect(&EtcdConfig::new([ETCD]))
                    .await
                    .expect("connect to etcd"),
            );
            job(store).await
        })
    })
}

/// Whether etcd answers yet.
fn etcd_is_up(node: &Node) -> bool {
    in_host(node, |rt| {
        rt.block_on(async {
            match EtcdStore::connect(&EtcdConfig::new([ETCD])).await {
                Ok(store) => store.get("/probe").await.is_ok(),
                Err(_) => false,
            }
        })
    })
}

/// Runs `f` with a runtime on a thread inside the host namespace.
fn in_host<T: Send + 'static>(
    node: &Node,
    f: impl FnOnce(tokio::runtime::Runtime) -> T + Send + 'static,
) -> T {
    node.host.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        f(rt)
    })
}

#[test]
fn four_by_hundred_concurrent_adds_then_dels_on_etcd() {
    let node = Node::new();
    let data = node.dir.path().join("etcd");
    let _etcd = Etcd(
        node.host
            .command("etcd")
            .args(["--name", "t"])
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                ETCD,
                "--advertise-client-urls",
                ETCD,
            ])
            .args(["--listen-peer-urls", "http://127.0.0.1:23800"])
            .args(["--initial-advertise-peer-urls", "http://127.0.0.1:23800"])
            .args(["--initial-cluster", "t=http://127.0.0.1:23800"])
            .args(["--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if etcd_is_up(&node) {
            break;
        }
        assert!(Instant::now() < deadline, "etcd did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    on_etcd(&node, |store| async move {
        let client = ResourceClient::new(store);
        let yaml = "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-1}\nspec: {}\n---\n\
                    apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool1}\n\
                    spec: {cidr: 10.78.0.0/22, blockSize: 26}\n";
        for r in api::decode_documents(yaml).unwrap() {
            client.apply(r).await.unwrap();
        }
    });
    let conf = node.conf(
        "1.0.0",
        json!({"datastore_type": "etcdv3", "etcd_endpoints": ETCD}),
    );
    adds_then_dels(&node, &conf, || {
        on_etcd(&node, |store| async move {
            ipam::Ipam::new(store).check().await.unwrap()
        })
    });
}
