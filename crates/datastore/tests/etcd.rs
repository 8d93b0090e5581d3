//! The etcd v3 backend against a real etcd 3.4 started per test: the shared conformance suite,
//! then what is specific to etcd: large paged lists, endpoint lists with a dead member,
//! username/password auth, TLS client certificates, compaction reported to watchers, and
//! `connect` from a `DatastoreConfig`.

#[macro_use]
mod conformance;

use std::sync::Arc;
use std::time::Duration;

use conformance::{Backend, Opened};
use datastore::{
    connect, DatastoreConfig, Error, EtcdConfig, EtcdStore, EventKind, Store, WatchEvent,
};
use testkit::etcd::pki::Pki;
use testkit::etcd::{EtcdServer, ServerTls};

/// Each conformance test gets its own etcd; child processes reach it by its endpoint.
struct Etcd;

impl Backend for Etcd {
    async fn open(_test: &str) -> Opened {
        let server = tokio::task::spawn_blocking(EtcdServer::start)
            .await
            .expect("start etcd");
        let store = store(&server).await;
        Opened {
            store: Arc::new(store),
            description: server.endpoint().to_owned(),
            keep: Box::new(server),
        }
    }

    async fn connect(description: &str) -> Arc<dyn Store> {
        let store = EtcdStore::connect(&EtcdConfig::new([description]))
            .await
            .expect("connect to the parent's etcd");
        Arc::new(store)
    }
}

conformance_tests!(Etcd);

/// A URL where nothing listens.
fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

async fn store(server: &EtcdServer) -> EtcdStore {
    EtcdStore::connect(&EtcdConfig::new([server.endpoint()]))
        .await
        .expect("connect to test etcd")
}

fn backend_error<T: std::fmt::Debug>(result: datastore::Result<T>) -> String {
    match result {
        Err(Error::Backend(text)) => text,
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// A ~500-byte JSON document like a stored WorkloadEndpoint.
fn resource_value(i: usize) -> Vec<u8> {
    let mut value = format!(
        r#"{{"kind":"WorkloadEndpoint","apiVersion":"projectcalico.org/v3","metadata":{{"name":"node1-k8s-pod{i}-eth0","namespace":"default","uid":"{i:08x}-0000-4000-8000-000000000000"}},"spec":{{"node":"node1","orchestrator":"k8s","pod":"pod{i}","endpoint":"eth0","interfaceName":"cali{i:011x}","ipNetworks":["10.65.{}.{}/32"],"profiles":["kns.default"],"labels":"#,
        (i / 256) % 256,
        i % 256
    );
    value.push_str(&format!(
        r#"{{"app":"web","tier":"frontend","pad":"{}"}}}}}}"#,
        "x".repeat(120)
    ));
    value.into_bytes()
}

/// Creates `count` keys under `prefix` from 16 concurrent writers.
async fn fill(store: &Arc<EtcdStore>, prefix: &str, count: usize, value: fn(usize) -> Vec<u8>) {
    let writers = 16;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            for i in (w..count).step_by(writers) {
                store
                    .create(&format!("{prefix}{i:06}"), &value(i))
                    .await
                    .expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_ten_thousand_keys_in_pages() {
    let server = EtcdServer::start();
    let store = Arc::new(store(&server).await);
    let prefix = "/calico/resources/v3/projectcalico.org/workloadendpoints/default/";
    fill(&store, prefix, 10_000, resource_value).await;
    store
        .create(
            "/calico/resources/v3/projectcalico.org/workloadendpointz",
            b"outside",
        )
        .await
        .unwrap();
    assert!(resource_value(0).len() > 450, "values must be realistic");

    let list = store.list(prefix).await.unwrap();
    assert_eq!(list.items.len(), 10_000);
    let bytes: usize = list.items.iter().map(|kv| kv.value.len()).sum();
    assert!(
        bytes > 4 * 1024 * 1024,
        "the list must exceed one default gRPC message"
    );
    for (i, kv) in list.items.iter().enumerate() {
        assert_eq!(kv.key, format!("{prefix}{i:06}"));
        assert_eq!(kv.value, resource_value(i));
        assert!(kv.revision <= list.revision);
    }
    assert_eq!(list.revision, store.revision().await.unwrap());
    assert_eq!(store.list("").await.unwrap().items.len(), 10_001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_values_too_big_for_one_response() {
    let server = EtcdServer::start();
    let store = Arc::new(store(&server).await);
    // 72 values of 1 MiB (etcd takes requests up to 1.5 MiB): 72 MiB, more than the client
    // accepts in one response, so the list must shrink its pages.
    fill(&store, "/big/", 72, |i| {
        vec![b'a' + (i % 26) as u8; 1024 * 1024]
    })
    .await;
    let list = store.list("/big/").await.unwrap();
    assert_eq!(list.items.len(), 72);
    for (i, kv) in list.items.iter().enumerate() {
        assert_eq!(kv.key, format!("/big/{i:06}"));
        assert_eq!(kv.value.len(), 1024 * 1024);
        assert_eq!(kv.value[0], b'a' + (i % 26) as u8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_first_endpoint_is_skipped() {
    let server = EtcdServer::start();
    let cfg = EtcdConfig::new([dead_endpoint(), server.endpoint().to_string()]);
    let store = EtcdStore::connect(&cfg)
        .await
        .expect("one live endpoint is enough");
    for i in 0..20 {
        let key = format!("/calico/k{i}");
        let rev = store.create(&key, b"v").await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap().revision, rev);
    }
    assert_eq!(store.list("/calico/").await.unwrap().items.len(), 20);

    let nowhere = EtcdConfig::new([dead_endpoint(), dead_endpoint()]);
    let text = backend_error(EtcdStore::connect(&nowhere).await);
    for endpoint in &nowhere.endpoints {
        assert!(text.contains(&format!("{endpoint}: Unavailable")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_when_the_member_in_use_dies() {
    let mut members = tokio::task::spawn_blocking(|| EtcdServer::start_cluster(3))
        .await
        .unwrap();
    let cfg = EtcdConfig::new(members.iter().map(|m| m.endpoint().to_string()));
    let store = EtcdStore::connect(&cfg).await.unwrap();
    let first = store.create("/calico/a", b"1").await.unwrap();
    let mut watch = store.watch("/calico/", first).await.unwrap();
    let second = store.create("/calico/b", b"2").await.unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!((event.key.as_str(), event.revision), ("/calico/b", second));

    // Kill the member in use (the first endpoint) and wait until the other two have a leader.
    drop(members.remove(0));
    members[0].ctl(&["endpoint", "health"]);

    let kv = store.get("/calico/a").await.unwrap().unwrap();
    assert_eq!((kv.value.as_slice(), kv.revision), (&b"1"[..], first));
    let third = store.create("/calico/c", b"3").await.unwrap();
    // The watch resumed on another member right after the last event it delivered.
    let event = tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("watch event after fail-over")
        .unwrap()
        .unwrap();
    assert_eq!((event.key.as_str(), event.revision), ("/calico/c", third));
    let list = store.list("/calico/").await.unwrap();
    assert_eq!(list.items.len(), 3);
    assert!(list.revision >= third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password() {
    let mut server = EtcdServer::start();
    server.enable_auth("rootpw", "calico", "calicopw");
    let mut cfg = EtcdConfig::new([server.endpoint()]);
    cfg.username = Some("calico".into());
    cfg.password = Some("calicopw".into());
    let store = EtcdStore::connect(&cfg).await.expect("right password");
    let rev = store.create("/calico/a", b"1").await.unwrap();
    let mut watch = store.watch("/calico/", rev - 1).await.unwrap();
    store.update("/calico/a", b"2", rev).await.unwrap();
    assert_eq!(
        watch.next().await.unwrap().unwrap().value.as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        watch.next().await.unwrap().unwrap().value.as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        server
            .ctl(&["get", "/calico/a", "--print-value-only"])
            .trim(),
        "2"
    );
    assert!(store.revision().await.unwrap() > rev);

    cfg.password = Some("wrong".into());
    let text = backend_error(EtcdStore::connect(&cfg).await);
    assert!(text.contains("authentication failed"), "{text}");

    let anonymous = EtcdConfig::new([server.endpoint()]);
    let text = backend_error(EtcdStore::connect(&anonymous).await);
    assert!(text.contains("user name is empty"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificates() {
    let pki = Pki::generate();
    let server = EtcdServer::start_tls(
        &ServerTls {
            ca: pki.ca.clone(),
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
        },
        (
            pki.ca.clone(),
            pki.client_cert.clone(),
            pki.client_key.clone(),
        ),
    );
    assert!(server.endpoint().starts_with("https://"));
    let good = EtcdConfig {
        endpoints: vec![server.endpoint().to_string()],
        ca_cert_file: Some(pki.ca.clone()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.client_key.clone()),
        ..EtcdConfig::default()
    };
    let store = EtcdStore::connect(&good)
        .await
        .expect("trusted client certificate");
    store.create("/calico/tls", b"ok").await.unwrap();
    assert_eq!(
        store.get("/calico/tls").await.unwrap().unwrap().value,
        b"ok"
    );

    let no_cert = EtcdConfig {
        cert_file: None,
        key_file: None,
        ..good.clone()
    };
    let text = backend_error(EtcdStore::connect(&no_cert).await);
    assert!(text.contains(server.endpoint()), "{text}");
    assert!(text.contains("client certificate"), "{text}");

    let rogue_cert = EtcdConfig {
        cert_file: Some(pki.rogue_cert.clone()),
        key_file: Some(pki.rogue_key.clone()),
        ..good.clone()
    };
    let text = backend_error(EtcdStore::connect(&rogue_cert).await);
    assert!(text.contains("client certificate"), "{text}");

    let wrong_ca = EtcdConfig {
        ca_cert_file: Some(pki.rogue_ca.clone()),
        ..good.clone()
    };
    let text = backend_error(EtcdStore::connect(&wrong_ca).await);
    assert!(text.contains("invalid peer certificate"), "{text}");

    let plain = EtcdConfig::new([server.endpoint().replace("https", "http")]);
    backend_error(EtcdStore::connect(&plain).await);

    let missing = EtcdConfig {
        ca_cert_file: Some(server.dir().join("no-such-ca.pem")),
        ..good
    };
    match EtcdStore::connect(&missing).await {
        Err(Error::Config(text)) => assert!(text.contains("no-such-ca.pem"), "{text}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_compacted_revision_reports_it() {
    let server = EtcdServer::start();
    let store = store(&server).await;
    let first = store.create("/calico/w", b"0").await.unwrap();
    let mut rev = first;
    for i in 1..5 {
        rev = store
            .update("/calico/w", format!("{i}").as_bytes(), rev)
            .await
            .unwrap();
    }
    store.compact(rev).await.unwrap();
    let mut watch = store.watch("/calico/", first).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
    {
        Some(Err(Error::Compacted { compacted, .. })) => assert_eq!(compacted, rev),
        other => panic!("expected Compacted, got {other:?}"),
    }
    // From the compaction point on, the watch works.
    let mut watch = store.watch("/calico/", rev).await.unwrap();
    let deleted = store.delete("/calico/w", Some(rev)).await.unwrap();
    assert_eq!(deleted.revision, rev);
    let event: WatchEvent = watch.next().await.unwrap().unwrap();
    assert_eq!(
        (event.kind, event.key.as_str(), event.value),
        (EventKind::Delete, "/calico/w", None)
    );
    assert!(event.revision > rev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_from_config() {
    let server = EtcdServer::start();
    let env = [
        ("CALICO_DATASTORE_TYPE".to_string(), "etcdv3".to_string()),
        (
            "ETCD_ENDPOINTS".to_string(),
            format!("{},{}", dead_endpoint(), server.endpoint()),
        ),
    ];
    let cfg = DatastoreConfig::from_env(|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    let store = connect(&cfg).await.unwrap();
    store.create("/calico/x", b"1").await.unwrap();
    assert_eq!(
        server
            .ctl(&["get", "/calico/x", "--print-value-only"])
            .trim(),
        "1"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not/yet/there/calico.db");
    let embedded = connect(&DatastoreConfig::Embedded { path: path.clone() })
        .await
        .unwrap();
    embedded.create("/calico/x", b"1").await.unwrap();
    assert!(path.exists());
}
