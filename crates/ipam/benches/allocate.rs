//! Sequential `auto_assign` throughput (allocations/s) on the embedded backend and on a real
//! etcd, one address per request with its own handle, as the CNI plugin asks. Prints figures;
//! asserts nothing about timing. `IPAM_BENCH_N` sets the request count (default 500).

use std::sync::Arc;
use std::time::Instant;

use datastore::{EmbeddedStore, EtcdConfig, EtcdStore, ResourceClient, Store};
use ipam::{AutoAssignArgs, Ipam};

async fn run(name: &str, store: Arc<dyn Store>, n: usize) {
    let yaml = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, blockSize: 26}\n";
    let client = ResourceClient::new(Arc::clone(&store));
    for r in api::decode_documents(yaml).unwrap() {
        client.apply(r).await.unwrap();
    }
    let ipam = Ipam::new(store);
    let start = Instant::now();
    for i in 0..n {
        let req = AutoAssignArgs {
            num4: 1,
            handle: Some(format!("k8s-pod-network.{i}")),
            hostname: "bench-node".to_string(),
            ..AutoAssignArgs::default()
        };
        ipam.auto_assign(&req).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<9} sequential auto_assign: {n} allocations in {secs:.2} s = {:.0} allocations/s",
        n as f64 / secs
    );
}

fn main() {
    let n: usize = std::env::var("IPAM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("bench.db")).unwrap());
    rt.block_on(run("embedded", embedded, n));
    let server = testkit::etcd::EtcdServer::start();
    let etcd: Arc<dyn Store> = Arc::new(
        rt.block_on(EtcdStore::connect(&EtcdConfig::new([server.endpoint()])))
            .unwrap(),
    );
    rt.block_on(run("etcd", etcd, n));
}
