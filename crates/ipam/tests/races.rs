//! Racing allocators never hand out one address twice and never lose an allocation:
//! 4 OS processes x 100 allocations (this test binary re-executed as workers, selected by
//! an environment variable) and 8 tasks in one process, on one embedded store file and on
//! a real etcd (the testkit etcd harness).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use datastore::{EmbeddedStore, EtcdConfig, EtcdStore, ResourceClient, Store};
use ipam::{AutoAssignArgs, Ipam};
use testkit::etcd::EtcdServer;

/// Set in a re-executed worker: `embedded:<file>` or `etcd:<endpoint>`.
const TARGET_ENV: &str = "IPAM_RACE_TARGET";
const WORKER_ENV: &str = "IPAM_RACE_WORKER";
const COUNT_ENV: &str = "IPAM_RACE_COUNT";
const PROCESSES: usize = 4;
const PER_PROCESS: usize = 100;

async fn open(target: &str) -> Arc<dyn Store> {
    match target.split_once(':') {
        Some(("embedded", path)) => {
            Arc::new(EmbeddedStore::open(path.as_ref()).expect("open store"))
        }
        Some(("etcd", endpoint)) => Arc::new(
            EtcdStore::connect(&EtcdConfig::new([endpoint]))
                .await
                .expect("connect etcd"),
        ),
        _ => panic!("bad target {target}"),
    }
}

/// Two hosts, so workers contend both on the same host's blocks and on claims.
fn request(worker: usize, n: usize) -> AutoAssignArgs {
    AutoAssignArgs {
        num4: 1,
        handle: Some(format!("w{worker}-{n}")),
        hostname: format!("host-{}", worker % 2),
        ..AutoAssignArgs::default()
    }
}

/// The worker body: runs only inside a re-executed child (no-op in a normal test run).
#[test]
fn race_worker() {
    let Ok(target) = std::env::var(TARGET_ENV) else {
        return;
    };
    let worker: usize = std::env::var(WORKER_ENV).unwrap().parse().unwrap();
    let count: usize = std::env::var(COUNT_ENV).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ipam = Ipam::new(open(&target).await);
        for n in 0..count {
            let req = request(worker, n);
            let got = ipam.auto_assign(&req).await.expect("auto_assign in worker");
            println!("ALLOC {} {}", got.ipv4[0].addr(), req.handle.unwrap());
        }
    });
}

/// Runs the worker processes against `target` and returns every (address, handle) they got.
fn run_processes(target: &str) -> Vec<(IpAddr, String)> {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|w| {
            Command::new(&exe)
                .args(["race_worker", "--exact", "--nocapture", "--test-threads=1"])
                .env(TARGET_ENV, target)
                .env(WORKER_ENV, w.to_string())
                .env(COUNT_ENV, PER_PROCESS.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let mut got = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "worker failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The harness's `test race_worker ... ` may precede the first line.
        for line in stdout
            .lines()
            .filter_map(|l| l.split_once("ALLOC ").map(|(_, r)| r))
        {
            let (ip, handle) = line.split_once(' ').unwrap();
            got.push((ip.parse().unwrap(), handle.to_string()));
        }
    }
    got
}

/// No duplicates, and the store records exactly these allocations under these handles.
async fn verify(store: Arc<dyn Store>, got: &[(IpAddr, String)], expected: usize) {
    assert_eq!(got.len(), expected, "every request answered");
    let unique: HashSet<IpAddr> = got.iter().map(|(ip, _)| *ip).collect();
    assert_eq!(unique.len(), expected, "an address was handed out twice");
    let ipam = Ipam::new(store);
    for (ip, handle) in got {
        let info = ipam
            .ip_info(*ip)
            .await
            .unwrap()
            .expect("allocation recorded");
        assert_eq!(info.handle.as_deref(), Some(handle.as_str()), "{ip}");
        assert_eq!(ipam.ips_by_handle(handle).await.unwrap(), vec![*ip]);
    }
    let report = ipam.check().await.unwrap();
    assert_eq!(
        report.allocations, expected,
        "no allocation lost or invented"
    );
    assert!(
        report.leaked_handles.is_empty(),
        "{:?}",
        report.leaked_handles
    );
    assert!(report.missing_handle_ips.is_empty());
    let by_host: BTreeMap<String, usize> = report
        .blocks
        .iter()
        .filter_map(|b| b.affinity.clone())
        .fold(BTreeMap::new(), |mut m, a| {
            *m.entry(a).or_default() += 1;
            m
        });
    assert_eq!(by_host.len(), 2, "both hosts claimed blocks: {by_host:?}");
}

/// One pool of 16-address blocks: 400 allocations need ~25 blocks, so claims race too.
async fn add_pool(store: &Arc<dyn Store>) {
    let yaml = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/22, blockSize: 28}\n";
    let client = ResourceClient::new(Arc::clone(store));
    for r in api::decode_documents(yaml).unwrap() {
        client.create(r).await.unwrap();
    }
}

#[test]
fn processes_race_on_an_embedded_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
    rt.block_on(add_pool(&store));
    let got = run_processes(&format!("embedded:{}", path.display()));
    rt.block_on(verify(store, &got, PROCESSES * PER_PROCESS));
}

#[test]
fn processes_race_on_etcd() {
    let server = EtcdServer::start();
    let target = format!("etcd:{}", server.endpoint());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(open(&target));
    rt.block_on(add_pool(&store));
    let got = run_processes(&target);
    rt.block_on(verify(store, &got, PROCESSES * PER_PROCESS));
}

/// 8 tasks, each with its own store handle, 50 allocations each, then half released by
/// handle while the other half keep allocating.
async fn tasks_race(stores: Vec<Arc<dyn Store>>) {
    let mut tasks = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let ipam = Ipam::new(Arc::clone(store));
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..50 {
                let req = request(w, n);
                let ips = ipam.auto_assign(&req).await.unwrap();
                got.push((ips.ipv4[0].addr(), req.handle.unwrap()));
            }
            if w % 2 == 0 {
                for (_, h) in got.drain(..25) {
                    assert_eq!(ipam.release_by_handle(&h).await.unwrap().len(), 1);
                }
            }
            got
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.extend(t.await.unwrap());
    }
    verify(Arc::clone(&stores[0]), &got, 8 * 50 - 4 * 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_race_on_an_embedded_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.db");
    let stores: Vec<Arc<dyn Store>> = (0..8)
        .map(|_| Arc::new(EmbeddedStore::open(&path).unwrap()) as Arc<dyn Store>)
        .collect();
    add_pool(&stores[0]).await;
    tasks_race(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_race_on_etcd() {
    let server = EtcdServer::start();
    let target = format!("etcd:{}", server.endpoint());
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(open(&target).await);
    }
    add_pool(&stores[0]).await;
    tasks_race(stores).await;
}
