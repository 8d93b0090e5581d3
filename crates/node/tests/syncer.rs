//! The syncer against a real embedded datastore: initial list then ordered watch updates, a
//! recorded stream replaying into the same model, and a forced compaction behind a slow
//! consumer leading to a re-list that delivers only the differences. Against a real etcd
//! (in a namespace of its own): an outage is one resync that takes nothing away from the
//! consumer, and the first list after the restart brings it up to date.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use api::{IPPool, IPPoolSpec, Kind, NetworkPolicy, Node, ObjectMeta, Profile, Resource};
use datastore::{EmbeddedOptions, EmbeddedStore, EtcdConfig, EtcdStore, ResourceClient, Store};
use node::metrics::Metrics;
use node::model::Model;
use node::syncer::{self, SyncKey, SyncStatus, SyncUpdate, SyncerOptions, SYNC_PREFIX};
use tokio::sync::mpsc;

fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let options = EmbeddedOptions {
        history_limit: None,
        ..Default::default()
    };
    Arc::new(EmbeddedStore::open_with(&dir.path().join("calico.db"), options).unwrap())
}

fn node(name: &str, label: &str) -> Resource {
    let mut meta = ObjectMeta::named(name);
    meta.labels.insert("gen".into(), label.into());
    Resource::Node(Node {
        metadata: meta,
        ..Default::default()
    })
}

fn pool(name: &str, cidr: &str) -> Resource {
    Resource::IPPool(IPPool {
        metadata: ObjectMeta::named(name),
        spec: IPPoolSpec {
            cidr: cidr.into(),
            ..Default::default()
        },
        status: None,
    })
}

const BLOCK_KEY: &str = "/calico/ipam/v2/assignment/ipv4/block/10.1.0.0-26";
const BLOCK: &str =
    r#"{"cidr":"10.1.0.0/26","affinity":"host:n1","allocations":[null],"unallocated":[0]}"#;

async fn next(rx: &mut mpsc::Receiver<SyncUpdate>) -> SyncUpdate {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("syncer went quiet")
        .expect("syncer stopped")
}

/// Receives until `done` holds for the model, returning everything received.
async fn until(
    rx: &mut mpsc::Receiver<SyncUpdate>,
    model: &mut Model,
    done: impl Fn(&Model, &SyncUpdate) -> bool,
) -> Vec<SyncUpdate> {
    let mut got = Vec::new();
    loop {
        let update = next(rx).await;
        model.apply(update.clone());
        let finished = done(model, &update);
        got.push(update);
        if finished {
            return got;
        }
    }
}

fn is_in_sync(u: &SyncUpdate) -> bool {
    matches!(
        u,
        SyncUpdate::Status {
            status: SyncStatus::InSync { .. }
        }
    )
}

/// Every synced key in the store with its revision.
async fn store_state(store: &Arc<dyn Store>) -> BTreeMap<SyncKey, i64> {
    store
        .list(SYNC_PREFIX)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|kv| SyncKey::parse(&kv.key).map(|k| (k, kv.revision)))
        .collect()
}

/// What the model holds, by key and revision (from resourceVersion or the put).
fn model_state(updates: &[SyncUpdate]) -> BTreeMap<SyncKey, i64> {
    let mut state = BTreeMap::new();
    for u in updates {
        match u {
            SyncUpdate::Put { key, revision, .. } => {
                state.insert(key.clone(), *revision);
            }
            SyncUpdate::Delete { key, .. } => {
                state.remove(key);
            }
            SyncUpdate::Status { .. } => {}
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_then_watches_in_order_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let client = ResourceClient::new(Arc::clone(&store));
    client.create(pool("p1", "10.1.0.0/16")).await.unwrap();
    client.create(node("n1", "0")).await.unwrap();
    client
        .create(Resource::Profile(Profile {
            metadata: ObjectMeta::named("prof"),
            ..Default::default()
        }))
        .await
        .unwrap();
    store.create(BLOCK_KEY, BLOCK.as_bytes()).await.unwrap();
    // Not synced: IPAM handles and IPReservations.
    store
        .create("/calico/ipam/v2/handle/h1", b"{}")
        .await
        .unwrap();

    let metrics = Arc::new(Metrics::new());
    let (_guard, mut rx) = syncer::spawn(
        Arc::clone(&store),
        Arc::clone(&metrics),
        SyncerOptions::default(),
    );
    let mut model = Model::default();
    let mut stream = until(&mut rx, &mut model, |_, u| is_in_sync(u)).await;
    assert!(model.in_sync());
    assert_eq!(model.counts().get("IPPool"), Some(&1));
    assert_eq!(model.counts().get("Node"), Some(&1));
    assert_eq!(model.counts().get("Profile"), Some(&1));
    assert_eq!(model.counts().get("IPAMBlock"), Some(&1));
    assert_eq!(model.items().count(), 4);

    // Writes while watching arrive in revision order.
    client.update(node("n1", "1")).await.unwrap();
    client.delete(Kind::IPPool, None, "p1", None).await.unwrap();
    store
        .create("/calico/ipam/v2/handle/h2", b"{}")
        .await
        .unwrap();
    client
        .create(Resource::NetworkPolicy(NetworkPolicy {
            metadata: ObjectMeta::namespaced("ns1", "np1"),
            ..Default::default()
        }))
        .await
        .unwrap();
    let watched = until(&mut rx, &mut model, |m, _| {
        m.counts().get("NetworkPolicy") == Some(&1)
    })
    .await;
    let revisions: Vec<i64> = watched
        .iter()
        .filter_map(|u| match u {
            SyncUpdate::Put { revision, .. } | SyncUpdate::Delete { revision, .. } => {
                Some(*revision)
            }
            SyncUpdate::Status { .. } => None,
        })
        .collect();
    assert_eq!(revisions.len(), 3, "{watched:?}");
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    assert!(matches!(
        &watched[1],
        SyncUpdate::Delete {
            key: SyncKey::Resource {
                kind: Kind::IPPool,
                ..
            },
            ..
        }
    ));
    stream.extend(watched);
    assert_eq!(model_state(&stream), store_state(&store).await);

    // The recorded stream replays into the same model.
    let recorded = serde_json::to_string(&stream).unwrap();
    let replayed: Vec<SyncUpdate> = serde_json::from_str(&recorded).unwrap();
    let mut again = Model::default();
    for u in replayed {
        again.apply(u);
    }
    assert_eq!(again, model);
    assert!(metrics.render().contains("felix_resyncs_started_total 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_relists_and_delivers_only_differences() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let client = ResourceClient::new(Arc::clone(&store));
    for i in 0..20 {
        client.create(node(&format!("n{i}"), "0")).await.unwrap();
    }
    store.create(BLOCK_KEY, BLOCK.as_bytes()).await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (_guard, mut rx) = syncer::spawn(
        Arc::clone(&store),
        Arc::clone(&metrics),
        SyncerOptions::default(),
    );
    let mut model = Model::default();
    let mut stream = until(&mut rx, &mut model, |_, u| is_in_sync(u)).await;
    let held_before: BTreeMap<SyncKey, i64> = model_state(&stream);

    // The consumer stalls while far more changes happen than the syncer and the watch can
    // buffer; then history is compacted past the watch's position.
    for round in 0..60 {
        for i in 5..20 {
            client
                .update(node(&format!("n{i}"), &round.to_string()))
                .await
                .unwrap();
        }
    }
    for i in 0..5 {
        client
            .delete(Kind::Node, None, &format!("n{i}"), None)
            .await
            .unwrap();
        client.create(node(&format!("new{i}"), "0")).await.unwrap();
    }
    store
        .compact(store.revision().await.unwrap())
        .await
        .unwrap();
    client.create(node("marker", "0")).await.unwrap();

    let mut resyncs = 0;
    let rest = until(&mut rx, &mut model, |m, _| {
        m.node("marker").is_some() && m.in_sync()
    })
    .await;
    let mut seen: HashSet<(SyncKey, i64)> = stream
        .iter()
        .filter_map(|u| match u {
            SyncUpdate::Put { key, revision, .. } => Some((key.clone(), *revision)),
            _ => None,
        })
        .collect();
    let mut relist_puts = Vec::new();
    let mut deleted = Vec::new();
    let mut in_relist = false;
    for u in &rest {
        match u {
            SyncUpdate::Status {
                status: SyncStatus::ResyncInProgress { reason },
            } => {
                resyncs += 1;
                in_relist = true;
                assert!(reason.contains("compacted"), "{reason}");
            }
            SyncUpdate::Status { .. } => in_relist = false,
            SyncUpdate::Put { key, revision, .. } => {
                assert!(
                    seen.insert((key.clone(), *revision)),
                    "duplicate put of {key:?} at {revision}"
                );
                if in_relist {
                    relist_puts.push(key.clone());
                }
            }
            SyncUpdate::Delete { key, .. } => {
                assert!(held_before.contains_key(key), "delete of unknown {key:?}");
                deleted.push(key.clone());
            }
        }
    }
    assert_eq!(resyncs, 1, "exactly one re-list after the compaction");
    // Unchanged keys (the IPAM block) are not re-sent by the re-list.
    let block = SyncKey::parse(BLOCK_KEY).unwrap();
    assert!(!relist_puts.contains(&block));
    stream.extend(rest);
    let final_state = store_state(&store).await;
    assert_eq!(deleted.len(), 5);
    assert!(
        deleted.iter().all(|k| !final_state.contains_key(k)),
        "a key that still exists was deleted (a flap)"
    );
    assert_eq!(model_state(&stream), final_state);
    assert_eq!(model.counts().get("Node"), Some(&21));
    assert!(metrics.render().contains("felix_resyncs_started_total 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_values_are_skipped_and_retract_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let client = ResourceClient::new(Arc::clone(&store));
    let bad_key = "/calico/resources/v3/projectcalico.org/ippools/bad";
    let good = client.create(pool("good", "10.2.0.0/16")).await.unwrap();
    store.create(bad_key, b"{not json").await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (_guard, mut rx) = syncer::spawn(
        Arc::clone(&store),
        Arc::clone(&metrics),
        SyncerOptions::default(),
    );
    let mut model = Model::default();
    until(&mut rx, &mut model, |_, u| is_in_sync(u)).await;
    assert_eq!(
        model.counts().get("IPPool"),
        Some(&1),
        "the bad one is skipped"
    );

    // The good pool is overwritten with garbage: the consumer must not keep the old value.
    let good_key = SyncKey::parse("/calico/resources/v3/projectcalico.org/ippools/good").unwrap();
    let revision: i64 = good
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    store
        .update(&good_key.store_key(), b"[]", revision)
        .await
        .unwrap();
    let got = until(&mut rx, &mut model, |m, _| m.get(&good_key).is_none()).await;
    assert!(matches!(got.last(), Some(SyncUpdate::Delete { .. })));
    assert!(model.counts().get("IPPool").is_none());
    assert!(
        metrics
            .render()
            .contains("calico_node_errors_total{source=\"decode\"} 2"),
        "{}",
        metrics.render()
    );
}

#[test]
fn etcd_outage_is_one_resync_and_keeps_what_the_consumer_holds() {
    let ns = testkit::Netns::new("czc", "syncer");
    // etcd and the syncer both live in the namespace (the thread and the processes it
    // starts), on its loopback.
    ns.run(|| {
        let mut etcd = testkit::etcd::EtcdServer::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = EtcdConfig::new([etcd.endpoint()]);
            let store: Arc<dyn Store> = Arc::new(EtcdStore::connect(&config).await.unwrap());
            let client = ResourceClient::new(Arc::clone(&store));
            client.create(pool("p1", "10.1.0.0/16")).await.unwrap();
            let metrics = Arc::new(Metrics::new());
            let options = SyncerOptions {
                retry_delay: Duration::from_millis(100),
            };
            let (_guard, mut rx) = syncer::spawn(store, Arc::clone(&metrics), options);
            let mut model = Model::default();
            until(&mut rx, &mut model, |_, u| is_in_sync(u)).await;

            etcd.kill();
            // Everything the syncer says while the store is away.
            let mut away = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Some(u)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                model.apply(u.clone());
                away.push(u);
            }
            assert!(
                matches!(
                    away.as_slice(),
                    [SyncUpdate::Status {
                        status: SyncStatus::ResyncInProgress { .. }
                    }]
                ),
                "one ResyncInProgress and nothing else while etcd is away: {away:?}"
            );
            let text = metrics.render();
            assert!(text.contains("felix_resyncs_started_total 2"), "{text}");
            let failures: u64 = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("calico_node_errors_total{source=\"datastore\"} ")?
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| panic!("no datastore errors counted: {text}"));
            assert!(failures >= 3, "every failed attempt counts: {text}");
            assert_eq!(model.counts().get("IPPool"), Some(&1), "nothing taken away");

            etcd.restart();
            let client = ResourceClient::new(Arc::new(EtcdStore::connect(&config).await.unwrap()));
            client.create(pool("p2", "10.2.0.0/16")).await.unwrap();
            let back = until(&mut rx, &mut model, |m, _| {
                m.in_sync() && m.counts().get("IPPool") == Some(&2)
            })
            .await;
            assert!(
                !back.iter().any(|u| matches!(u, SyncUpdate::Delete { .. })),
                "{back:?}"
            );
            assert!(
                !back.iter().any(|u| matches!(
                    u,
                    SyncUpdate::Status {
                        status: SyncStatus::ResyncInProgress { .. }
                    }
                )),
                "the outage's resync is not announced again: {back:?}"
            );
            assert!(metrics.render().contains("felix_resyncs_started_total 2"));
        });
    });
}
