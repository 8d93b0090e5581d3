//! One allocation lifecycle on a real etcd (the testkit etcd harness): claim,
//! explicit address, borrow, release, empty-block release when the pool stops selecting the
//! host, and a clean `check` at the end.

// This suite needs only `apply` from the shared setup.
#[allow(dead_code)]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::apply;
use datastore::{EtcdConfig, EtcdStore, Store};
use ipam::{affinity_key, block_key, AssignIPArgs, AutoAssignArgs, Ipam};
use testkit::etcd::EtcdServer;

fn pool(selector: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: p}}\nspec: {{cidr: 10.0.0.0/26, blockSize: 27, nodeSelector: \"{selector}\"}}\n")
}

fn req(host: &str, handle: &str, n: usize) -> AutoAssignArgs {
    AutoAssignArgs {
        num4: n,
        handle: Some(handle.to_string()),
        hostname: host.to_string(),
        ..AutoAssignArgs::default()
    }
}

#[tokio::test]
async fn lifecycle_on_etcd() {
    let server = EtcdServer::start();
    let store: Arc<dyn Store> = Arc::new(
        EtcdStore::connect(&EtcdConfig::new([server.endpoint()]))
            .await
            .unwrap(),
    );
    apply(&store, &pool("all()")).await;
    let ipam = Ipam::new(Arc::clone(&store));

    let a = ipam.auto_assign(&req("n1", "a", 30)).await.unwrap();
    let block_a = a.ipv4[0].trunc();
    assert!(a.ipv4.iter().all(|n| n.trunc() == block_a));
    let b = ipam.auto_assign(&req("n2", "b", 1)).await.unwrap();
    let block_b = b.ipv4[0].trunc();
    assert_ne!(block_a, block_b);
    // Both blocks exist: n1 fills its own, then borrows from n2's.
    let more = ipam.auto_assign(&req("n1", "more", 4)).await.unwrap();
    assert_eq!(more.ipv4.iter().filter(|n| n.trunc() == block_b).count(), 2);
    let ipnet::IpNet::V4(b4) = block_b else {
        panic!("IPv4 pool gave {block_b}");
    };
    let taken: Vec<IpAddr> = b.ipv4.iter().chain(&more.ipv4).map(|n| n.addr()).collect();
    let free_in_b = (0..32u32)
        .map(|i| IpAddr::from(Ipv4Addr::from(u32::from(b4.network()) + i)))
        .find(|ip| !taken.contains(ip))
        .unwrap();
    ipam.assign_ip(&AssignIPArgs::new(free_in_b, "pinned", "n2"))
        .await
        .unwrap();
    assert!(ipam
        .assign_ip(&AssignIPArgs::new(free_in_b, "again", "n2"))
        .await
        .is_err());

    // The pool stops selecting n2; once n2's block is empty it is released.
    apply(&store, &pool("!has(drained)")).await;
    apply(&store, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2, labels: {drained: 'true'}}\n").await;
    ipam.release_by_handle("b").await.unwrap();
    ipam.release_by_handle("pinned").await.unwrap();
    assert!(
        store.get(&block_key(&block_b)).await.unwrap().is_some(),
        "n1's borrowed IPs remain"
    );
    ipam.release_by_handle("more").await.unwrap();
    assert!(store.get(&block_key(&block_b)).await.unwrap().is_none());
    assert!(store
        .get(&affinity_key("n2", &block_b))
        .await
        .unwrap()
        .is_none());

    ipam.release_by_handle("a").await.unwrap();
    let report = ipam.check().await.unwrap();
    assert_eq!(report.allocations, 0);
    assert!(report.leaked_handles.is_empty());
    assert_eq!(
        report.blocks.len(),
        1,
        "n1 keeps its (still selected) block"
    );
}
