//! The typed resource layer against a real embedded datastore in a temporary directory: keys
//! and stored values, create/get/list/update/apply/delete with their calicoctl-style errors,
//! compare-and-swap, the cross-resource rules (pool overlap, policy tiers) and typed watches.

use std::sync::Arc;
use std::time::Duration;

use api::{Kind, Resource};
use datastore::{EmbeddedStore, Error, ResourceClient, ResourceEvent, Store};

struct Fixture {
    client: ResourceClient,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("calico.db")).expect("open embedded store"));
    Fixture {
        client: ResourceClient::new(store.clone()),
        store,
        _dir: dir,
    }
}

fn one(yaml: &str) -> Resource {
    let mut docs = api::decode_documents(yaml).expect("test YAML decodes");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn pool(name: &str, cidr: &str) -> Resource {
    one(&format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\nspec:\n  cidr: {cidr}\n"
    ))
}

fn policy(name: &str, namespace: Option<&str>, tier: Option<&str>) -> Resource {
    let ns = namespace
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    let tier = tier.map(|t| format!("  tier: {t}\n")).unwrap_or_default();
    one(&format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n{ns}spec:\n  selector: all()\n{tier}"
    ))
}

fn rv(r: &Resource) -> i64 {
    r.metadata()
        .resource_version
        .as_deref()
        .expect("resourceVersion")
        .parse()
        .expect("numeric")
}

#[tokio::test]
async fn create_stores_json_without_resource_version_and_fills_metadata() {
    let f = fixture();
    let created = f.client.create(pool("pool1", "10.1.0.0/16")).await.unwrap();
    let meta = created.metadata();
    assert_eq!(meta.uid.as_deref().map(str::len), Some(36));
    let ts = meta.creation_timestamp.as_deref().unwrap();
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");

    let raw = f
        .store
        .get("/calico/resources/v3/projectcalico.org/ippools/pool1")
        .await
        .unwrap()
        .expect("stored under the Calico key");
    assert_eq!(raw.revision, rv(&created));
    let stored: serde_json::Value = serde_json::from_slice(&raw.value).unwrap();
    assert_eq!(stored["kind"], "IPPool");
    assert_eq!(stored["spec"]["cidr"], "10.1.0.0/16");
    assert!(
        stored["metadata"].get("resourceVersion").is_none(),
        "{stored}"
    );
    assert_eq!(stored["metadata"]["uid"].as_str(), meta.uid.as_deref());

    let got = f.client.get(Kind::IPPool, None, "pool1").await.unwrap();
    assert_eq!(got.metadata(), created.metadata());
    assert_eq!(got.to_json()["spec"]["cidr"], "10.1.0.0/16");
}

#[tokio::test]
async fn namespaced_resources_default_to_the_default_namespace() {
    let f = fixture();
    let created = f.client.create(policy("p", None, None)).await.unwrap();
    assert_eq!(created.metadata().namespace.as_deref(), Some("default"));
    assert!(f
        .store
        .get("/calico/resources/v3/projectcalico.org/networkpolicies/default/p")
        .await
        .unwrap()
        .is_some());
    f.client
        .get(Kind::NetworkPolicy, Some("default"), "p")
        .await
        .unwrap();
    let err = f
        .client
        .get(Kind::NetworkPolicy, Some("other"), "p")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource does not exist: NetworkPolicy(other/p)"
    );
}

#[tokio::test]
async fn create_twice_fails_with_already_exists() {
    let f = fixture();
    f.client
        .create(policy("allow-x", Some("ns1"), None))
        .await
        .unwrap();
    let err = f
        .client
        .create(policy("allow-x", Some("ns1"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }));
    assert_eq!(
        err.to_string(),
        "resource already exists: NetworkPolicy(ns1/allow-x)"
    );
}

#[tokio::test]
async fn create_refuses_a_resource_version_and_invalid_resources() {
    let f = fixture();
    let mut with_rv = pool("p", "10.2.0.0/16");
    with_rv.metadata_mut().resource_version = Some("5".into());
    let err = f.client.create(with_rv).await.unwrap_err();
    assert!(err.to_string().contains("resourceVersion"), "{err}");
    let err = f
        .client
        .create(pool("bad", "10.0.0.1/16"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("IPPool(bad)"), "{err}");
    assert!(f
        .client
        .list(Kind::IPPool, None, "")
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn update_is_compare_and_swap_and_keeps_identity() {
    let f = fixture();
    let created = f.client.create(pool("pool1", "10.1.0.0/16")).await.unwrap();

    let mut stale = pool("pool1", "10.1.0.0/16");
    stale.metadata_mut().resource_version = Some((rv(&created) - 1).to_string());
    let err = f.client.update(stale).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    assert!(
        err.to_string()
            .starts_with("update conflict: IPPool(pool1)"),
        "{err}"
    );

    let mut current = pool("pool1", "10.1.0.0/16");
    current.metadata_mut().resource_version = created.metadata().resource_version.clone();
    current.metadata_mut().labels.insert("a".into(), "b".into());
    let updated = f.client.update(current).await.unwrap();
    assert!(rv(&updated) > rv(&created));
    assert_eq!(updated.metadata().uid, created.metadata().uid);
    assert_eq!(
        updated.metadata().creation_timestamp,
        created.metadata().creation_timestamp
    );

    // Without a resourceVersion the update applies on top of whatever is stored.
    let latest = f.client.update(pool("pool1", "10.1.0.0/16")).await.unwrap();
    assert!(rv(&latest) > rv(&updated));
    assert!(latest.metadata().labels.is_empty());
    assert_eq!(latest.metadata().uid, created.metadata().uid);

    let err = f
        .client
        .update(pool("nope", "10.9.0.0/16"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "resource does not exist: IPPool(nope)");
}

#[tokio::test]
async fn apply_creates_then_updates() {
    let f = fixture();
    let first = f.client.apply(pool("p", "10.3.0.0/16")).await.unwrap();
    let mut changed = pool("p", "10.3.0.0/16");
    changed.metadata_mut().labels.insert("k".into(), "v".into());
    let second = f.client.apply(changed).await.unwrap();
    assert!(rv(&second) > rv(&first));
    assert_eq!(second.metadata().uid, first.metadata().uid);
    let got = f.client.get(Kind::IPPool, None, "p").await.unwrap();
    assert_eq!(
        got.metadata().labels.get("k").map(String::as_str),
        Some("v")
    );

    let mut stale = pool("p", "10.3.0.0/16");
    stale.metadata_mut().resource_version = Some(rv(&first).to_string());
    assert!(matches!(
        f.client.apply(stale).await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test]
async fn list_by_namespace_all_namespaces_and_name_prefix() {
    let f = fixture();
    for (name, ns) in [("a1", "ns1"), ("a2", "ns1"), ("b1", "ns2"), ("a3", "ns10")] {
        f.client.create(policy(name, Some(ns), None)).await.unwrap();
    }
    let names = |list: datastore::ResourceList| -> Vec<String> {
        list.items
            .iter()
            .map(|r| r.metadata().name.clone())
            .collect()
    };
    let ns1 = f
        .client
        .list(Kind::NetworkPolicy, Some("ns1"), "")
        .await
        .unwrap();
    assert_eq!(names(ns1), ["a1", "a2"]);
    let all = f.client.list(Kind::NetworkPolicy, None, "").await.unwrap();
    assert_eq!(all.items.len(), 4);
    assert!(all.revision >= all.items.iter().map(rv).max().unwrap());
    let prefixed = f.client.list(Kind::NetworkPolicy, None, "a").await.unwrap();
    assert_eq!(prefixed.items.len(), 3);
    assert!(f
        .client
        .list(Kind::GlobalNetworkPolicy, None, "")
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn delete_checks_existence_and_revision() {
    let f = fixture();
    let created = f.client.create(pool("p", "10.4.0.0/16")).await.unwrap();
    let err = f
        .client
        .delete(Kind::IPPool, None, "p", Some(rv(&created) + 100))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let deleted = f
        .client
        .delete(Kind::IPPool, None, "p", Some(rv(&created)))
        .await
        .unwrap();
    assert_eq!(deleted.metadata().uid, created.metadata().uid);
    let err = f
        .client
        .delete(Kind::IPPool, None, "p", None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "resource does not exist: IPPool(p)");
    assert!(f
        .client
        .delete(Kind::Tier, None, "default", None)
        .await
        .is_err());
}

#[tokio::test]
async fn enabled_pools_must_not_overlap() {
    let f = fixture();
    f.client.create(pool("a", "10.0.0.0/16")).await.unwrap();
    let err = f
        .client
        .create(pool("b", "10.0.128.0/24"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
    assert!(err.to_string().contains("IPPool(a)"), "{err}");
    // Updating a pool does not collide with its own stored version.
    f.client.apply(pool("a", "10.0.0.0/16")).await.unwrap();
    let disabled = one(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: c\nspec:\n  cidr: 10.0.0.0/20\n  disabled: true\n",
    );
    f.client.create(disabled).await.unwrap();
}

#[tokio::test]
async fn policy_tiers_must_exist() {
    let f = fixture();
    let err = f
        .client
        .create(policy("p", Some("ns"), Some("security")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("tier \"security\" does not exist"),
        "{err}"
    );
    f.client
        .create(policy("q", Some("ns"), Some("kube-admin")))
        .await
        .unwrap();
    f.client
        .create(policy("d", Some("ns"), Some("default")))
        .await
        .unwrap();
    let tier = one("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec:\n  order: 100\n");
    f.client.create(tier).await.unwrap();
    f.client
        .create(policy("p", Some("ns"), Some("security")))
        .await
        .unwrap();
}

async fn watch_next(w: &mut datastore::ResourceWatch) -> ResourceEvent {
    let event = tokio::time::timeout(Duration::from_secs(10), w.next()).await;
    event
        .expect("watch event within 10s")
        .expect("watch open")
        .expect("no watch error")
}

#[tokio::test]
async fn watch_maps_changes_to_typed_events() {
    let f = fixture();
    let start = f.store.revision().await.unwrap();
    let mut watch = f.client.watch(Kind::IPPool, start).await.unwrap();
    let created = f.client.create(pool("w", "10.5.0.0/16")).await.unwrap();
    f.client
        .create(policy("unrelated", None, None))
        .await
        .unwrap();
    f.client
        .delete(Kind::IPPool, None, "w", None)
        .await
        .unwrap();

    match watch_next(&mut watch).await {
        ResourceEvent::Applied(r) => {
            assert_eq!(r.metadata().name, "w");
            assert_eq!(
                r.metadata().resource_version,
                created.metadata().resource_version
            );
        }
        other => panic!("expected the create, got {other:?}"),
    }
    match watch_next(&mut watch).await {
        ResourceEvent::Deleted { id, revision } => {
            assert_eq!(id.to_string(), "IPPool(w)");
            assert!(revision > rv(&created));
        }
        other => panic!("expected the delete, got {other:?}"),
    }
}

#[tokio::test]
async fn pool_cidr_and_block_size_cannot_change() {
    let f = fixture();
    f.client.create(pool("p", "10.6.0.0/16")).await.unwrap();
    let err = f.client.update(pool("p", "10.7.0.0/16")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "IPPool(p): spec.cidr: cannot be changed (was 10.6.0.0/16)"
    );
    let resized = one(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.6.0.0/16\n  blockSize: 28\n",
    );
    let err = f.client.apply(resized).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("spec.blockSize: cannot be changed (was 26)"),
        "{err}"
    );
    let got = f.client.get(Kind::IPPool, None, "p").await.unwrap();
    assert_eq!(got.to_json()["spec"]["cidr"], "10.6.0.0/16");
}

#[tokio::test]
async fn undecodable_stored_values_are_reported_with_their_key() {
    let f = fixture();
    let key = "/calico/resources/v3/projectcalico.org/ippools/broken";
    f.store.create(key, b"{not json").await.unwrap();
    let err = f
        .client
        .get(Kind::IPPool, None, "broken")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("stored value at {key} is not a valid resource")),
        "{err}"
    );
    let wrong_kind =
        br#"{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"x"},"spec":{}}"#;
    f.store
        .create(
            "/calico/resources/v3/projectcalico.org/ippools/x",
            wrong_kind,
        )
        .await
        .unwrap();
    let err = f.client.get(Kind::IPPool, None, "x").await.unwrap_err();
    assert!(err.to_string().contains("holds a Tier"), "{err}");
}

#[tokio::test]
async fn cluster_scoped_resources_refuse_a_namespace() {
    let f = fixture();
    let mut p = pool("p", "10.8.0.0/16");
    p.metadata_mut().namespace = Some("ns1".into());
    let err = f.client.create(p).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("metadata.namespace"), "{err}");
    f.client.create(pool("p", "10.8.0.0/16")).await.unwrap();
    // Lookups of cluster-scoped kinds ignore a namespace.
    f.client
        .get(Kind::IPPool, Some("ignored"), "p")
        .await
        .unwrap();
}
