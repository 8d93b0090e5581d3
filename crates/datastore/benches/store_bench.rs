//! Side-by-side figures for both `Store` backends on this machine, in one run:
//! `cargo bench -p datastore --bench store_bench`.
//!
//! For the embedded backend (a temporary SQLite file) and a private etcd 3.4 it measures
//! creating 10,000 ~500-byte resources from concurrent writers, listing them, and fanning
//! 100,000 watch events out to 10 concurrent watchers. `STORE_BENCH_SCALE` (e.g. `0.1`)
//! scales every count down for a quick run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datastore::{connect, DatastoreConfig, EtcdConfig, Store};
use testkit::etcd::EtcdServer;

/// Concurrent writer tasks used for the create and watch phases.
const WRITERS: usize = 32;
/// Concurrent watchers in the fan-out phase.
const WATCHERS: usize = 10;

/// Workload sizes after scaling.
#[derive(Clone, Copy)]
struct Sizes {
    resources: usize,
    events: usize,
}

/// One backend's measurements.
struct Figures {
    create: Duration,
    list: Duration,
    listed: usize,
    fanout: Duration,
    /// When the last write of the fan-out phase returned.
    written: Duration,
    delivered: usize,
}

fn main() {
    let scale: f64 = std::env::var("STORE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(1.0);
    let sizes = Sizes {
        resources: ((10_000.0 * scale) as usize).max(1),
        events: ((100_000.0 * scale) as usize).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = DatastoreConfig::Embedded {
        path: dir.path().join("calico.db"),
    };
    println!(
        "store_bench: {} resources of ~{} bytes, {} events x {WATCHERS} watchers, {WRITERS} writers",
        sizes.resources,
        resource("pod0000000", 0).len(),
        sizes.events
    );
    let embedded = runtime.block_on(measure("embedded", &embedded, sizes));
    let server = EtcdServer::start();
    let etcd = DatastoreConfig::Etcd(EtcdConfig::new([server.endpoint()]));
    let etcd = runtime.block_on(measure("etcd", &etcd, sizes));
    print_table(sizes, &embedded, &etcd);
}

async fn measure(name: &str, cfg: &DatastoreConfig, sizes: Sizes) -> Figures {
    let store = connect(cfg).await.expect("connect");
    eprintln!("[{name}] creating {} resources", sizes.resources);
    let start = Instant::now();
    write_all(
        &store,
        "/calico/resources/v3/projectcalico.org/workloadendpoints/default/",
        sizes.resources,
    )
    .await;
    let create = start.elapsed();

    eprintln!("[{name}] listing");
    let mut lists = Vec::new();
    let mut listed = 0;
    for _ in 0..3 {
        let start = Instant::now();
        listed = store
            .list("/calico/resources/v3/")
            .await
            .expect("list")
            .items
            .len();
        lists.push(start.elapsed());
    }
    lists.sort();
    assert_eq!(
        listed, sizes.resources,
        "{name}: list returned the wrong count"
    );

    eprintln!(
        "[{name}] fanning out {} events to {WATCHERS} watchers",
        sizes.events
    );
    let prefix = "/calico/resources/v3/projectcalico.org/networksets/bench/";
    let from = store.revision().await.expect("revision");
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut watch = store.watch(prefix, from).await.expect("watch");
        let expected = sizes.events;
        watchers.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                match watch.next().await {
                    Some(Ok(_)) => seen += 1,
                    other => panic!("watch ended early after {seen} events: {other:?}"),
                }
            }
            (seen, Instant::now())
        }));
    }
    let start = Instant::now();
    write_all(&store, prefix, sizes.events).await;
    let written = start.elapsed();
    let mut delivered = 0;
    let mut last = start;
    for watcher in watchers {
        let (seen, done) = watcher.await.expect("watcher");
        delivered += seen;
        last = last.max(done);
    }
    Figures {
        create,
        list: lists[lists.len() / 2],
        listed,
        fanout: last - start,
        written,
        delivered,
    }
}

/// Creates `count` resources under `prefix` from `WRITERS` concurrent tasks.
async fn write_all(store: &Arc<dyn Store>, prefix: &str, count: usize) {
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            for i in (w..count).step_by(WRITERS) {
                let name = format!("pod{i:07}");
                store
                    .create(&format!("{prefix}{name}"), &resource(&name, i))
                    .await
                    .expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// A ~500-byte JSON value shaped like a stored WorkloadEndpoint.
fn resource(name: &str, i: usize) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"kind":"WorkloadEndpoint","apiVersion":"projectcalico.org/v3","#,
            r#""metadata":{{"name":"node1-k8s-{name}-eth0","namespace":"default","#,
            r#""uid":"{i:08x}-5f2c-4c1e-9a7b-3d1f0e2a6b4c","creationTimestamp":"2026-11-22T22:00:00Z","#,
            r#""labels":{{"app":"web","tier":"frontend","projectcalico.org/namespace":"default"}}}},"#,
            r#""spec":{{"orchestrator":"k8s","node":"node1","workload":"","pod":"{name}","#,
            r#""endpoint":"eth0","interfaceName":"cali{i:011x}","mac":"ee:ee:ee:ee:ee:ee","#,
            r#""ipNetworks":["10.65.{a}.{b}/32"],"profiles":["kns.default","ksa.default.default"],"#,
            r#""ports":[{{"name":"http","protocol":"TCP","port":8080}}]}}}}"#
        ),
        name = name,
        i = i,
        a = (i / 256) % 256,
        b = i % 256
    )
    .into_bytes()
}

fn print_table(sizes: Sizes, embedded: &Figures, etcd: &Figures) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let rows: [(String, f64, f64); 7] = [
        (
            format!("create {} resources (ms)", sizes.resources),
            ms(embedded.create),
            ms(etcd.create),
        ),
        (
            "create throughput (ops/s)".into(),
            per_s(sizes.resources, embedded.create),
            per_s(sizes.resources, etcd.create),
        ),
        (
            format!("list {} resources, median of 3 (ms)", embedded.listed),
            ms(embedded.list),
            ms(etcd.list),
        ),
        (
            format!(
                "{WATCHERS} watchers x {} events: last one done (ms)",
                sizes.events
            ),
            ms(embedded.fanout),
            ms(etcd.fanout),
        ),
        (
            "events delivered, all watchers (events/s)".into(),
            per_s(embedded.delivered, embedded.fanout),
            per_s(etcd.delivered, etcd.fanout),
        ),
        (
            "  of which: last write returned (ms)".into(),
            ms(embedded.written),
            ms(etcd.written),
        ),
        (
            "writes while watched (writes/s)".into(),
            per_s(sizes.events, embedded.written),
            per_s(sizes.events, etcd.written),
        ),
    ];
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!(
        "{:<width$} | {:>12} | {:>12} | {:>13}",
        "metric", "embedded", "etcd", "etcd/embedded"
    );
    println!("{}", "-".repeat(width + 47));
    for (metric, a, b) in rows {
        println!("{metric:<width$} | {a:>12.1} | {b:>12.1} | {:>13.2}", b / a);
    }
}
