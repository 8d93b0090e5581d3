//! The conformance suite against the embedded SQLite backend, plus what only that backend
//! promises: cross-process watch wake-ups, crash safety under kill -9, auto-compaction.

#[macro_use]
mod conformance;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::{next_event, next_report, report, Backend, Ctx, Opened};
use datastore::{EmbeddedOptions, EmbeddedStore, Error, Store};

/// Each test gets its own store file in a temporary directory.
struct Embedded;

impl Backend for Embedded {
    async fn open(_test: &str) -> Opened {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        let store = EmbeddedStore::open(&path).expect("open embedded store");
        Opened {
            store: Arc::new(store),
            description: path.to_str().expect("utf-8 temp path").to_owned(),
            keep: Box::new(dir),
        }
    }

    async fn connect(description: &str) -> Arc<dyn Store> {
        Arc::new(EmbeddedStore::open(Path::new(description)).expect("open embedded store"))
    }
}

conformance_tests!(Embedded);

/// Runs `case` as an embedded-backend test named `name` (parent or child side).
async fn run<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    conformance::run::<Embedded, _, _>(conformance::test_name(module_path!(), name), case).await;
}

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// A watcher in another process sees each write from this one; prints the latencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_in_other_process_sees_writes() {
    const ROUNDS: usize = 20;
    const BOUND: Duration = Duration::from_secs(2);
    run("watcher_in_other_process_sees_writes", |ctx| async move {
        if ctx.role.is_some() {
            let start = ctx.store.revision().await.expect("revision");
            let mut watch = ctx.store.watch(&ctx.prefix, start).await.expect("watch");
            report("ready");
            for _ in 0..ROUNDS {
                next_event(&mut watch).await;
                report(&format!("seen {}", nanos_now()));
            }
            return;
        }
        let (mut child, mut lines) = ctx.spawn_child("watch");
        assert_eq!(next_report(&mut lines).await.as_deref(), Some("ready"));
        let start = ctx.store.revision().await.expect("revision");
        let mut local = ctx.store.watch(&ctx.prefix, start).await.expect("watch");
        // Microseconds: the write call, then from its return to each watcher's wake-up.
        let (mut commit, mut local_us, mut remote_us) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let key = ctx.key(&format!("k{i}"));
            let before = nanos_now();
            ctx.store.create(&key, b"v").await.expect("create");
            let written = nanos_now();
            next_event(&mut local).await;
            local_us.push(nanos_now().saturating_sub(written) / 1000);
            let line = tokio::time::timeout(BOUND, next_report(&mut lines))
                .await
                .expect("the other process saw the write within 2 s")
                .expect("child report");
            let seen: u128 = line
                .strip_prefix("seen ")
                .and_then(|n| n.parse().ok())
                .expect("seen report");
            commit.push((written - before) / 1000);
            remote_us.push(seen.saturating_sub(written) / 1000);
        }
        assert!(child.wait().await.expect("wait child").success());
        let summary = |mut v: Vec<u128>| {
            v.sort_unstable();
            format!("median {} us, max {} us", v[v.len() / 2], v[v.len() - 1])
        };
        println!(
            "over {ROUNDS} writes: write call {}; after it returned, a watcher in this process \
             woke in {}, one in another process in {}",
            summary(commit),
            summary(local_us),
            summary(remote_us)
        );
    })
    .await;
}

/// Many watchers in one process (sharing one tracker) all see writes from another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers_see_writes_of_other_process() {
    const WATCHERS: usize = 12;
    const WRITES: usize = 5;
    run(
        "many_watchers_see_writes_of_other_process",
        |ctx| async move {
            if ctx.role.is_some() {
                for i in 0..WRITES {
                    let key = ctx.key(&format!("k{i}"));
                    ctx.store.create(&key, &[i as u8]).await.expect("create");
                }
                return;
            }
            let start = ctx.store.revision().await.expect("revision");
            let mut watches = Vec::new();
            for _ in 0..WATCHERS {
                watches.push(ctx.store.watch(&ctx.prefix, start).await.expect("watch"));
            }
            let (mut child, _lines) = ctx.spawn_child("write");
            assert!(child.wait().await.expect("wait child").success());
            for watch in &mut watches {
                for i in 0..WRITES {
                    let event = next_event(watch).await;
                    assert_eq!(event.key, ctx.key(&format!("k{i}")));
                    assert_eq!(event.value, Some(vec![i as u8]));
                }
            }
        },
    )
    .await;
}

/// Writers killed with SIGKILL in the middle of their write loops leave a consistent file
/// in which every acknowledged write is present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_leave_store_consistent() {
    const ROUNDS: usize = 4;
    const ACKS_BEFORE_KILL: usize = 150;
    const LANES: usize = 4;
    run("killed_writers_leave_store_consistent", |ctx| async move {
        if let Some(role) = &ctx.role {
            // Several writers at once, so the kill can also land inside a group commit.
            let mut lanes = tokio::task::JoinSet::new();
            for lane in 0..LANES {
                let store = Arc::clone(&ctx.store);
                let (prefix, role) = (ctx.prefix.clone(), role.clone());
                lanes.spawn(async move { write_forever(store, prefix, role, lane).await });
            }
            while let Some(done) = lanes.join_next().await {
                done.expect("writer lane");
            }
            return;
        }
        let tally = ctx.key("tally");
        ctx.store.create(&tally, b"").await.expect("create tally");
        let mut acked = Vec::new();
        for round in 0..ROUNDS {
            let (mut child, mut lines) = ctx.spawn_child(&format!("round{round}"));
            let mut this_round = 0;
            while let Some(line) = next_report(&mut lines).await {
                let mut parts = line.split(' ').skip(1);
                let key = parts.next().expect("key").to_owned();
                let revision: i64 = parts.next().and_then(|r| r.parse().ok()).expect("revision");
                acked.push((key, revision));
                this_round += 1;
                if this_round == ACKS_BEFORE_KILL {
                    child.start_kill().expect("SIGKILL the writer");
                }
            }
            let status = child.wait().await.expect("wait child");
            assert!(!status.success(), "writer was expected to die by SIGKILL");
        }
        // A fresh handle, as a restarted process would open it.
        let store = EmbeddedStore::open(Path::new(&ctx.description)).expect("reopen");
        let verdict = store.verify().await;
        assert!(
            verdict.is_ok(),
            "store inconsistent after kill -9: {verdict:?}"
        );
        let mut revisions: Vec<i64> = acked.iter().map(|a| a.1).collect();
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(
            revisions.len(),
            acked.len(),
            "two writes acknowledged one revision"
        );
        for (key, revision) in &acked {
            let kv = store.get(key).await.expect("get");
            assert_eq!(
                kv.map(|kv| kv.revision),
                Some(*revision),
                "acknowledged {key}"
            );
        }
        let last = *revisions.last().expect("acks");
        assert!(store.revision().await.expect("revision") >= last);
        // The store still takes writes after the crashes.
        store
            .create(&ctx.key("after"), b"ok")
            .await
            .expect("write after crashes");
        println!(
            "{} acknowledged writes over {ROUNDS} killed writers, all present",
            acked.len()
        );
    })
    .await;
}

/// A child's writer lane: creates keys and CAS-updates a shared tally until killed.
async fn write_forever(store: Arc<dyn Store>, prefix: String, role: String, lane: usize) {
    let value = vec![b'x'; 4096];
    let tally = format!("{prefix}tally");
    for i in 0.. {
        let key = format!("{prefix}{role}-{lane}-{i:06}");
        let revision = store.create(&key, &value).await.expect("create");
        report(&format!("ack {key} {revision}"));
        if i % 10 == 0 {
            loop {
                let kv = store.get(&tally).await.expect("get").expect("tally");
                match store.update(&tally, key.as_bytes(), kv.revision).await {
                    Ok(_) => break,
                    Err(Error::Conflict { .. }) => continue,
                    Err(e) => panic!("update tally: {e}"),
                }
            }
        }
    }
}

/// With a history limit, old changes are discarded automatically and watches from before
/// them fail with `Compacted`, while the most recent `limit` changes stay replayable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_compaction_bounds_history() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = EmbeddedOptions {
        history_limit: Some(100),
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open_with(&dir.path().join("store.db"), options).expect("open");
    for i in 0..300 {
        store
            .create(&format!("/k/{i:03}"), b"v")
            .await
            .expect("create");
    }
    let head = store.revision().await.expect("revision");
    let mut watch = store
        .watch("/k/", head - 100)
        .await
        .expect("last 100 retained");
    for i in 200..300 {
        assert_eq!(next_event(&mut watch).await.key, format!("/k/{i:03}"));
    }
    match store.watch("/k/", head - 113).await {
        Err(Error::Compacted { .. }) => {}
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("history beyond 9/8 of the limit was kept"),
    }
    store.verify().await.expect("consistent after trimming");
}

/// 100,000 keys: written concurrently, listed in order, and replayed by a watch from zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_keys() {
    const KEYS: usize = 100_000;
    const IN_FLIGHT: usize = 32;
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.db")).expect("open"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..IN_FLIGHT {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for i in (lane..KEYS).step_by(IN_FLIGHT) {
                let key = format!("/many/{i:06}");
                store.create(&key, key.as_bytes()).await.expect("create");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task");
    }
    let written = started.elapsed();
    let started = Instant::now();
    let list = store.list("/many/").await.expect("list");
    let listed = started.elapsed();
    assert_eq!(list.items.len(), KEYS);
    for (i, kv) in list.items.iter().enumerate() {
        assert_eq!(kv.key, format!("/many/{i:06}"));
        assert_eq!(kv.value, kv.key.as_bytes());
    }
    let started = Instant::now();
    let mut watch = store.watch("/many/", 0).await.expect("watch from zero");
    let mut seen = std::collections::HashSet::new();
    for revision in 1..=KEYS as i64 {
        let event = next_event(&mut watch).await;
        assert_eq!(event.revision, revision);
        assert!(seen.insert(event.key), "duplicate event");
    }
    println!(
        "{KEYS} keys: created in {written:?} ({:.0} writes/s, {IN_FLIGHT} in flight), \
         listed in {listed:?}, replayed by a watch in {:?}",
        KEYS as f64 / written.as_secs_f64(),
        started.elapsed()
    );
}

/// Concurrent writes are committed in groups; a failing write inside a group (here every
/// second create of a key) fails alone and the others commit with distinct revisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_isolates_failed_writes() {
    const KEYS: usize = 200;
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.db")).expect("open"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..KEYS * 2 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let key = format!("/g/{:03}", i % KEYS);
            (
                key.clone(),
                store.create(&key, (i / KEYS).to_string().as_bytes()).await,
            )
        });
    }
    let mut won = std::collections::BTreeMap::new();
    let mut lost = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            (key, Ok(revision)) => assert!(won.insert(key, revision).is_none(), "created twice"),
            (key, Err(Error::AlreadyExists { key: k })) => {
                assert_eq!(key, k);
                lost += 1;
            }
            (_, Err(e)) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((won.len(), lost), (KEYS, KEYS));
    let mut revisions: Vec<_> = won.values().copied().collect();
    revisions.sort_unstable();
    assert_eq!(
        revisions,
        (1..=KEYS as i64).collect::<Vec<_>>(),
        "revisions not gap-free"
    );
    for (key, revision) in &won {
        let kv = store.get(key).await.expect("get").expect("exists");
        assert_eq!(kv.revision, *revision);
    }
    assert_eq!(store.revision().await.expect("revision"), KEYS as i64);
    store.verify().await.expect("consistent");
}

/// Several processes opening a file that does not exist yet (first boot: agent, CNI plugin
/// and calicoctl at once) all succeed and share one store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_create_a_new_file_at_once() {
    const PROCESSES: usize = 4;
    run("processes_create_a_new_file_at_once", |ctx| async move {
        let fresh = format!("{}-fresh.db", ctx.description);
        if let Some(role) = &ctx.role {
            let store = EmbeddedStore::open(Path::new(&fresh)).expect("open the new file");
            let key = format!("{}{role}", ctx.prefix);
            store.create(&key, role.as_bytes()).await.expect("create");
            return;
        }
        // Keep each child's stdout open (it is piped) until the child has exited.
        let mut children: Vec<_> = (0..PROCESSES)
            .map(|i| ctx.spawn_child(&format!("p{i}")))
            .collect();
        for (child, _stdout) in &mut children {
            assert!(child.wait().await.expect("wait child").success());
        }
        let store = EmbeddedStore::open(Path::new(&fresh)).expect("open");
        let list = store.list(&ctx.prefix).await.expect("list");
        let values: Vec<_> = list.items.iter().map(|kv| kv.value.clone()).collect();
        let expected: Vec<_> = (0..PROCESSES)
            .map(|i| format!("p{i}").into_bytes())
            .collect();
        assert_eq!(values, expected);
        assert_eq!(list.revision, PROCESSES as i64);
        store.verify().await.expect("consistent");
    })
    .await;
}
