//! The allocator on a real embedded store file: block claims with affinity, handles, release
//! (including empty-block release), explicit addresses, dual stack, pool selection by node
//! labels, disabled pools, allowed uses, reservations, borrowing and strict affinity.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use api::AllowedUse;
use common::{pool_yaml, Fixture};
use ipam::{
    affinity_key, block_key, handle_key, AffinityState, AllocationBlock, AssignIPArgs,
    AutoAssignArgs, BlockAffinity, Error, IpamHandle,
};
use ipnet::IpNet;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn v4(host: &str, handle: &str, n: usize) -> AutoAssignArgs {
    AutoAssignArgs {
        num4: n,
        handle: Some(handle.to_string()),
        hostname: host.to_string(),
        attrs: BTreeMap::from([("node".to_string(), host.to_string())]),
        ..AutoAssignArgs::default()
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(f: &Fixture, key: &str) -> Option<T> {
    f.store
        .get(key)
        .await
        .unwrap()
        .map(|kv| serde_json::from_slice(&kv.value).unwrap())
}

#[tokio::test]
async fn first_assignment_claims_an_affine_block() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let got = f.ipam.auto_assign(&v4("n1", "h1", 2)).await.unwrap();
    assert_eq!(got.ipv4.len(), 2);
    assert!(got.ipv6.is_empty());
    assert_eq!(got.ipv4[0].prefix_len(), 26, "returned with the block mask");
    let block_cidr = got.ipv4[0].trunc();
    assert_eq!(got.ipv4[1].trunc(), block_cidr);

    let block: AllocationBlock = get_json(&f, &block_key(&block_cidr)).await.unwrap();
    assert_eq!(block.affinity.as_deref(), Some("host:n1"));
    assert_eq!(block.in_use(), 2);
    assert_eq!(block.attributes.len(), 1);
    assert_eq!(block.attributes[0].handle_id.as_deref(), Some("h1"));
    assert_eq!(block.attributes[0].secondary["node"], "n1");
    assert_eq!(block.sequence_number, 1);

    let aff: BlockAffinity = get_json(&f, &affinity_key("n1", &block_cidr))
        .await
        .unwrap();
    assert_eq!(aff.state, AffinityState::Confirmed);
    let handle: IpamHandle = get_json(&f, &handle_key("h1")).await.unwrap();
    assert_eq!(handle.block, BTreeMap::from([(block_cidr.to_string(), 2)]));

    // The same host keeps using its block; another host claims its own.
    let again = f.ipam.auto_assign(&v4("n1", "h2", 1)).await.unwrap();
    assert_eq!(again.ipv4[0].trunc(), block_cidr);
    let other = f.ipam.auto_assign(&v4("n2", "h3", 1)).await.unwrap();
    assert_ne!(other.ipv4[0].trunc(), block_cidr);
    let (attrs, handle) = f
        .ipam
        .get_assignment_attributes(other.ipv4[0].addr())
        .await
        .unwrap();
    assert_eq!(handle.as_deref(), Some("h3"));
    assert_eq!(attrs["node"], "n2");
}

#[tokio::test]
async fn a_host_fills_its_block_then_claims_another() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 28, "")).await;
    let got = f.ipam.auto_assign(&v4("n1", "big", 20)).await.unwrap();
    let blocks: HashSet<IpNet> = got.ipv4.iter().map(|n| n.trunc()).collect();
    assert_eq!(blocks.len(), 2);
    let unique: HashSet<IpAddr> = got.ipv4.iter().map(|n| n.addr()).collect();
    assert_eq!(unique.len(), 20);
    let handle: IpamHandle = get_json(&f, &handle_key("big")).await.unwrap();
    assert_eq!(handle.block.values().sum::<i64>(), 20);
}

#[tokio::test]
async fn release_by_handle_frees_everything_and_deletes_the_handle() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let got = f.ipam.auto_assign(&v4("n1", "pod-a", 3)).await.unwrap();
    let keep = f.ipam.auto_assign(&v4("n1", "pod-b", 1)).await.unwrap();
    let mut released = f.ipam.release_by_handle("pod-a").await.unwrap();
    released.sort();
    let mut expected: Vec<IpAddr> = got.ipv4.iter().map(|n| n.addr()).collect();
    expected.sort();
    assert_eq!(released, expected);
    assert!(!f.exists(&handle_key("pod-a")).await);
    for a in &expected {
        assert!(f.ipam.ip_info(*a).await.unwrap().is_none());
    }
    assert_eq!(
        f.ipam.ips_by_handle("pod-b").await.unwrap(),
        vec![keep.ipv4[0].addr()]
    );
    assert!(matches!(
        f.ipam.release_by_handle("pod-a").await,
        Err(Error::HandleNotFound { .. })
    ));
    // The block still belongs to n1 (it still needs it): the next address comes from it,
    // and released addresses are reused last.
    let next = f.ipam.auto_assign(&v4("n1", "pod-c", 1)).await.unwrap();
    assert_eq!(next.ipv4[0].trunc(), got.ipv4[0].trunc());
    assert!(!expected.contains(&next.ipv4[0].addr()));
}

#[tokio::test]
async fn release_by_address_reports_unassigned_and_updates_handles() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let got = f.ipam.auto_assign(&v4("n1", "h", 2)).await.unwrap();
    let first = got.ipv4[0].addr();
    let result = f
        .ipam
        .release_ips(&[first, ip("10.0.0.200"), ip("10.9.9.9")])
        .await
        .unwrap();
    assert_eq!(result.released, vec![first]);
    assert_eq!(result.not_assigned.len(), 2);
    let handle: IpamHandle = get_json(&f, &handle_key("h")).await.unwrap();
    assert_eq!(handle.block.values().sum::<i64>(), 1);
    f.ipam.release_ips(&[got.ipv4[1].addr()]).await.unwrap();
    assert!(!f.exists(&handle_key("h")).await);
}

#[tokio::test]
async fn empty_block_is_released_when_its_host_no_longer_needs_it() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let got = f.ipam.auto_assign(&v4("n1", "h", 1)).await.unwrap();
    let block = got.ipv4[0].trunc();
    // The pool stops selecting n1: releasing the last address drops block and affinity.
    f.apply(&pool_yaml(
        "p",
        "10.0.0.0/24",
        26,
        ", nodeSelector: \"zone == 'x'\"",
    ))
    .await;
    f.ipam.release_by_handle("h").await.unwrap();
    assert!(!f.exists(&block_key(&block)).await);
    assert!(!f.exists(&affinity_key("n1", &block)).await);
}

#[tokio::test]
async fn emptied_blocks_of_deselecting_pools_are_released_on_the_next_assign() {
    let f = Fixture::new();
    f.apply(&pool_yaml("a", "10.0.0.0/24", 26, "")).await;
    f.apply(&pool_yaml("b", "10.1.0.0/24", 26, "")).await;
    let req = AutoAssignArgs {
        ipv4_pools: vec!["a".into()],
        ..v4("n1", "h", 1)
    };
    let got = f.ipam.auto_assign(&req).await.unwrap();
    let block = got.ipv4[0].trunc();
    f.ipam.release_by_handle("h").await.unwrap();
    assert!(f.exists(&block_key(&block)).await, "still needed");
    f.apply(&pool_yaml("a", "10.0.0.0/24", 26, ", disabled: true"))
        .await;
    let next = f.ipam.auto_assign(&v4("n1", "h2", 1)).await.unwrap();
    assert!(net("10.1.0.0/24").contains(&next.ipv4[0].addr()));
    assert!(!f.exists(&block_key(&block)).await);
    assert!(!f.exists(&affinity_key("n1", &block)).await);
}

#[tokio::test]
async fn host_affinity_release_makes_busy_blocks_unaffine_and_deletes_them_once_empty() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let got = f.ipam.auto_assign(&v4("gone", "h", 1)).await.unwrap();
    let block = got.ipv4[0].trunc();
    assert_eq!(
        f.ipam.release_host_affinities("gone").await.unwrap(),
        vec![block]
    );
    let b: AllocationBlock = get_json(&f, &block_key(&block)).await.unwrap();
    assert_eq!(b.affinity, None);
    assert_eq!(b.in_use(), 1);
    assert!(!f.exists(&affinity_key("gone", &block)).await);
    f.ipam.release_ips(&[got.ipv4[0].addr()]).await.unwrap();
    assert!(
        !f.exists(&block_key(&block)).await,
        "empty unaffine block deleted"
    );
}

#[tokio::test]
async fn explicit_address_claims_its_block_and_is_exclusive() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let args = AssignIPArgs::new(ip("10.0.0.77"), "pinned", "n1");
    assert_eq!(f.ipam.assign_ip(&args).await.unwrap(), net("10.0.0.77/26"));
    let b: AllocationBlock = get_json(&f, &block_key(&net("10.0.0.64/26")))
        .await
        .unwrap();
    assert_eq!(b.affinity.as_deref(), Some("host:n1"));
    let err = f
        .ipam
        .assign_ip(&AssignIPArgs::new(ip("10.0.0.77"), "other", "n2"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.0.0.77 is already assigned in block 10.0.0.64/26"
    );
    let err = f
        .ipam
        .assign_ip(&AssignIPArgs::new(ip("10.5.0.1"), "x", "n1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotInPool { .. }), "{err}");
    // Explicit address in someone else's block: allowed, the block keeps its owner.
    f.ipam
        .assign_ip(&AssignIPArgs::new(ip("10.0.0.78"), "x", "n2"))
        .await
        .unwrap();
    let info = f.ipam.ip_info(ip("10.0.0.78")).await.unwrap().unwrap();
    assert_eq!(info.block_affinity.as_deref(), Some("host:n1"));
    assert_eq!(info.handle.as_deref(), Some("x"));
    // Auto-assign on n1 never hands out the pinned addresses.
    let got = f.ipam.auto_assign(&v4("n1", "auto", 64)).await.unwrap();
    let addrs: HashSet<IpAddr> = got.ipv4.iter().map(|n| n.addr()).collect();
    assert!(!addrs.contains(&ip("10.0.0.77")) && !addrs.contains(&ip("10.0.0.78")));
    assert_eq!(addrs.len(), 64);
}

#[tokio::test]
async fn dual_stack_assigns_both_families() {
    let f = Fixture::new();
    f.apply(&pool_yaml("v4", "10.0.0.0/24", 26, "")).await;
    f.apply(&pool_yaml("v6", "fd00:10::/64", 122, "")).await;
    let args = AutoAssignArgs {
        num4: 1,
        num6: 2,
        ..v4("n1", "dual", 0)
    };
    let got = f.ipam.auto_assign(&args).await.unwrap();
    assert_eq!(got.ipv4.len(), 1);
    assert_eq!(got.ipv6.len(), 2);
    assert_eq!(got.ipv6[0].prefix_len(), 122);
    assert!(net("fd00:10::/64").contains(&got.ipv6[0].addr()));
    let block6 = got.ipv6[0].trunc();
    assert!(f
        .store
        .get(&block_key(&block6))
        .await
        .unwrap()
        .unwrap()
        .key
        .contains("/ipv6/block/fd00:10:"));
    assert!(f.exists(&affinity_key("n1", &block6)).await);
    let mut released = f.ipam.release_by_handle("dual").await.unwrap();
    released.sort();
    assert_eq!(released.len(), 3);
    // A family with no pool fails the whole request and leaves nothing behind.
    let f2 = Fixture::new();
    f2.apply(&pool_yaml("v4", "10.0.0.0/24", 26, "")).await;
    let err = f2.ipam.auto_assign(&args).await.unwrap_err();
    assert!(matches!(err, Error::NoPools { .. }), "{err}");
    assert!(f2.store.get(&handle_key("dual")).await.unwrap().is_none());
    let report = f2.ipam.check().await.unwrap();
    assert_eq!(report.allocations, 0);
}

#[tokio::test]
async fn pool_node_selector_and_requested_pools() {
    let f = Fixture::new();
    f.apply(&pool_yaml(
        "zone-a",
        "10.1.0.0/24",
        26,
        ", nodeSelector: \"zone == 'a'\"",
    ))
    .await;
    f.apply(&pool_yaml("everyone", "10.2.0.0/24", 26, "")).await;
    f.apply(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: na, labels: {zone: a}}\n",
    )
    .await;
    let req = |host: &str, pools: &[&str]| AutoAssignArgs {
        ipv4_pools: pools.iter().map(|s| s.to_string()).collect(),
        ..v4(host, &format!("{host}-{}", pools.len()), 1)
    };
    let a = f.ipam.auto_assign(&req("na", &["zone-a"])).await.unwrap();
    assert!(net("10.1.0.0/24").contains(&a.ipv4[0].addr()));
    let a = f
        .ipam
        .auto_assign(&req("na", &["10.2.0.0/24"]))
        .await
        .unwrap();
    assert!(net("10.2.0.0/24").contains(&a.ipv4[0].addr()));
    let b = f.ipam.auto_assign(&req("nb", &[])).await.unwrap();
    assert!(
        net("10.2.0.0/24").contains(&b.ipv4[0].addr()),
        "nb is not in zone a"
    );
    let err = f
        .ipam
        .auto_assign(&req("nb", &["zone-a"]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the requested pool zone-a does not select node nb"
    );
}

#[tokio::test]
async fn disabled_pools_and_allowed_uses_are_honoured() {
    let f = Fixture::new();
    f.apply(&pool_yaml("off", "10.0.0.0/24", 26, ", disabled: true"))
        .await;
    let err = f.ipam.auto_assign(&v4("n1", "h", 1)).await.unwrap_err();
    assert!(matches!(err, Error::NoPools { .. }), "{err}");
    let err = f
        .ipam
        .assign_ip(&AssignIPArgs::new(ip("10.0.0.1"), "h", "n1"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the requested pool off is disabled");

    f.apply(&pool_yaml(
        "tunnels",
        "10.9.0.0/24",
        26,
        ", allowedUses: [Tunnel]",
    ))
    .await;
    assert!(matches!(
        f.ipam.auto_assign(&v4("n1", "h", 1)).await,
        Err(Error::NoPools { .. })
    ));
    let tunnel = AutoAssignArgs {
        intended_use: AllowedUse::Tunnel,
        ..v4("n1", "vxlan-tunnel-addr-n1", 1)
    };
    let got = f.ipam.auto_assign(&tunnel).await.unwrap();
    assert!(net("10.9.0.0/24").contains(&got.ipv4[0].addr()));
}

#[tokio::test]
async fn reservations_are_skipped_by_auto_assign_only() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/28", 28, "")).await;
    f.apply("apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata: {name: r}\nspec: {reservedCIDRs: [10.0.0.0/30, 10.0.0.7/32]}\n").await;
    let got = f.ipam.auto_assign(&v4("n1", "h", 11)).await.unwrap();
    let addrs: HashSet<IpAddr> = got.ipv4.iter().map(|n| n.addr()).collect();
    for reserved in ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.7"] {
        assert!(!addrs.contains(&ip(reserved)), "{reserved} handed out");
    }
    let err = f.ipam.auto_assign(&v4("n1", "h2", 1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no addresses available in pools [10.0.0.0/28]"
    );
    assert!(!f.exists(&handle_key("h2")).await);
    f.ipam
        .assign_ip(&AssignIPArgs::new(ip("10.0.0.7"), "explicit", "n1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn borrowing_then_strict_affinity_refusal() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/26", 26, "")).await;
    let a = f.ipam.auto_assign(&v4("n1", "a", 1)).await.unwrap();
    // The only block is n1's: n2 borrows from it.
    let b = f.ipam.auto_assign(&v4("n2", "b", 2)).await.unwrap();
    assert_eq!(b.ipv4[0].trunc(), a.ipv4[0].trunc());
    let info = f.ipam.ip_info(b.ipv4[0].addr()).await.unwrap().unwrap();
    assert_eq!(info.block_affinity.as_deref(), Some("host:n1"));
    assert_eq!(info.attributes["node"], "n2");

    f.ipam.configure(true, None).await.unwrap();
    assert!(f.ipam.config().await.unwrap().strict_affinity);
    let err = f.ipam.auto_assign(&v4("n3", "c", 1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no addresses available in pools [10.0.0.0/26]"
    );
    // n1 still allocates from its own block.
    f.ipam.auto_assign(&v4("n1", "d", 1)).await.unwrap();
    f.ipam.configure(false, None).await.unwrap();
    f.ipam.auto_assign(&v4("n3", "c", 1)).await.unwrap();
}

#[tokio::test]
async fn max_blocks_per_host_limits_claims() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 28, "")).await;
    f.ipam.configure(true, Some(1)).await.unwrap();
    f.ipam.auto_assign(&v4("n1", "a", 16)).await.unwrap();
    let err = f.ipam.auto_assign(&v4("n1", "b", 1)).await.unwrap_err();
    assert!(matches!(err, Error::Exhausted { .. }), "{err}");
    let per_request = AutoAssignArgs {
        max_blocks_per_host: 2,
        ..v4("n1", "b", 1)
    };
    f.ipam.auto_assign(&per_request).await.unwrap();
}

#[tokio::test]
async fn exhaustion_releases_partial_results() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/28", 28, "")).await;
    f.ipam.auto_assign(&v4("n1", "a", 10)).await.unwrap();
    let err = f.ipam.auto_assign(&v4("n2", "b", 10)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no addresses available in pools [10.0.0.0/28]"
    );
    let report = f.ipam.check().await.unwrap();
    assert_eq!(report.allocations, 10, "the partial 6 were released");
    assert!(!f.exists(&handle_key("b")).await);
}

#[tokio::test]
async fn claims_interrupted_by_a_crash_are_recovered_or_reported() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/24", 26, "")).await;
    let pending = br#"{"state":"pending","deleted":false}"#;
    // Crash after the block was created but before the affinity was confirmed.
    let half = net("10.0.0.128/26");
    f.store
        .create(&affinity_key("n1", &half), pending)
        .await
        .unwrap();
    let block = serde_json::to_vec(&AllocationBlock::new(half, Some("n1"))).unwrap();
    f.store.create(&block_key(&half), &block).await.unwrap();
    // Crash right after the pending affinity was written.
    let orphan = net("10.0.0.192/26");
    f.store
        .create(&affinity_key("n1", &orphan), pending)
        .await
        .unwrap();

    let got = f.ipam.auto_assign(&v4("n1", "h", 1)).await.unwrap();
    assert_eq!(
        got.ipv4[0].trunc(),
        half,
        "the half-claimed block is adopted"
    );
    let aff: BlockAffinity = get_json(&f, &affinity_key("n1", &half)).await.unwrap();
    assert_eq!(aff.state, AffinityState::Confirmed);

    f.apply("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n")
        .await;
    let report = f.ipam.check().await.unwrap();
    assert_eq!(report.broken_affinities.len(), 1);
    assert_eq!(report.broken_affinities[0].block, orphan);
    assert_eq!(
        report.broken_affinities[0].problem,
        ipam::AffinityProblem::BlockMissing
    );
    let outcome = f.ipam.release_from_report(&report).await.unwrap();
    assert_eq!(outcome.fixed_affinities, 1);
    assert!(!f.exists(&affinity_key("n1", &orphan)).await);
}

#[tokio::test]
async fn a_block_claimed_by_another_host_is_not_stolen() {
    let f = Fixture::new();
    f.apply(&pool_yaml("p", "10.0.0.0/25", 26, "")).await;
    // n2 owns one of the two blocks; n1 must claim the other, and leaves no pending key.
    let taken = f.ipam.auto_assign(&v4("n2", "x", 1)).await.unwrap().ipv4[0].trunc();
    let mine = f.ipam.auto_assign(&v4("n1", "y", 1)).await.unwrap().ipv4[0].trunc();
    assert_ne!(taken, mine);
    assert!(!f.exists(&affinity_key("n1", &taken)).await);
    let b: AllocationBlock = get_json(&f, &block_key(&taken)).await.unwrap();
    assert_eq!(b.affinity.as_deref(), Some("host:n2"));
}
