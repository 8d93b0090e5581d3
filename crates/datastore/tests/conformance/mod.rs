//! The backend-independent conformance suite of `datastore::Store`.
//!
//! A backend's test file implements [`Backend`] and writes
//! `#[macro_use] mod conformance;` and `conformance_tests!(ItsBackend);`, which generates one
//! `#[tokio::test]` per case. Each case works under its own unique key prefix, so cases may
//! share one store, and asserts revisions only relative to its own writes.
//!
//! Multi-process cases re-run the test binary on the same test (`NAME --exact`) with
//! `CONFORMANCE_CHILD` set to the test name, `CONFORMANCE_ROLE` saying what the child does,
//! `CONFORMANCE_STORE` the backend description from [`Backend::open`] (embedded: the file
//! path; etcd: the endpoint) and `CONFORMANCE_PREFIX` the parent's key prefix. Children report
//! to the parent through stdout lines starting with [`MARKER`].

use std::any::Any;
use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use datastore::{Error, EventKind, Revision, Store, Watch, WatchEvent};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::RwLock;

/// Stdout lines from a child meant for the parent carry this marker before the report.
pub const MARKER: &str = "CONFORMANCE ";

/// How long any single expected event or child report may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Compaction discards history that other cases' watches may be about to start from, so the
/// compaction case holds this exclusively and watch-from-history cases hold it shared.
static HISTORY: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// A store handle for a test, with what children need to reach the same store.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// Handed to child processes, which pass it to [`Backend::connect`].
    pub description: String,
    /// Kept alive until the test ends (a temporary directory, a server...).
    pub keep: Box<dyn Any + Send>,
}

/// How the suite reaches one backend.
pub trait Backend {
    /// A store for the parent side of test `test`.
    fn open(test: &str) -> impl Future<Output = Opened>;
    /// A new handle on the store that `open` described (used in child processes).
    fn connect(description: &str) -> impl Future<Output = Arc<dyn Store>>;
}

/// Everything a case needs.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    /// The test's full name, used to re-run it as a child.
    pub test: String,
    /// This run's unique key prefix, ending in `/`. Children use their parent's.
    pub prefix: String,
    /// In a child process, what the parent asked it to do; `None` in the parent.
    pub role: Option<String>,
    /// How a child process reaches `store` (see [`Backend::open`]).
    pub description: String,
}

impl Ctx {
    /// A key under this run's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Starts this test again in a child process with `role`, stdout piped for reports.
    pub fn spawn_child(&self, role: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
        let exe = std::env::current_exe().expect("path of the running test binary");
        let mut child = Command::new(exe)
            .args([
                self.test.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CONFORMANCE_CHILD", &self.test)
            .env("CONFORMANCE_ROLE", role)
            .env("CONFORMANCE_STORE", &self.description)
            .env("CONFORMANCE_PREFIX", &self.prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start a child test process");
        let stdout = child.stdout.take().expect("child stdout is piped");
        (child, BufReader::new(stdout).lines())
    }
}

/// Prints a report line for the parent (child side).
pub fn report(text: &str) {
    println!("{MARKER}{text}");
}

/// The next report line from a child, without the marker; `None` once the child closed
/// stdout. Fails the test if nothing arrives within `PATIENCE`.
pub async fn next_report(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<String> {
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("read child stdout") {
            // libtest may have printed "test NAME ... " without a newline before the report.
            if let Some(at) = line.find(MARKER) {
                return Some(line[at + MARKER.len()..].to_owned());
            }
        }
        None
    })
    .await
    .expect("child report within the time limit")
}

/// A handle on the store named by `CONFORMANCE_STORE` (child side).
pub async fn connect_from_env<B: Backend>() -> Arc<dyn Store> {
    let description = std::env::var("CONFORMANCE_STORE").expect("CONFORMANCE_STORE is set");
    B::connect(&description).await
}

/// `module::case` as libtest names it, from `module_path!()` and the case name.
pub fn test_name(module_path: &str, case: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{case}"),
        None => case.to_owned(),
    }
}

/// Runs one case: as the parent (fresh store, unique prefix) or, when this process was
/// started by [`Ctx::spawn_child`] for this very test, as the child.
pub async fn run<B, F, Fut>(test: String, case: F)
where
    B: Backend,
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var("CONFORMANCE_CHILD").ok().as_deref() == Some(test.as_str()) {
        let ctx = Ctx {
            store: connect_from_env::<B>().await,
            description: std::env::var("CONFORMANCE_STORE").expect("CONFORMANCE_STORE is set"),
            prefix: std::env::var("CONFORMANCE_PREFIX").expect("CONFORMANCE_PREFIX is set"),
            role: Some(std::env::var("CONFORMANCE_ROLE").expect("CONFORMANCE_ROLE is set")),
            test,
        };
        return case(ctx).await;
    }
    let opened = B::open(&test).await;
    let prefix = format!(
        "/conformance/{}/{}/",
        test.replace("::", "."),
        uuid::Uuid::new_v4()
    );
    let ctx = Ctx {
        store: opened.store,
        description: opened.description,
        prefix,
        role: None,
        test,
    };
    case(ctx).await;
    drop(opened.keep);
}

/// Generates one `#[tokio::test]` per conformance case for `$backend`.
macro_rules! conformance_tests {
    ($backend:ty) => {
        conformance_tests!(@cases $backend;
            create_get_list,
            create_existing_fails,
            update_is_compare_and_swap,
            delete_is_compare_and_swap,
            revisions_increase_across_keys,
            watch_streams_every_change_in_order,
            watch_resumes_from_mid_revision,
            watch_from_compacted_revision_fails,
            watch_sees_deletes,
            large_value,
            many_keys,
            processes_increment_one_counter,
        );
    };
    (@cases $backend:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                conformance::run::<$backend, _, _>(
                    conformance::test_name(module_path!(), stringify!($case)),
                    conformance::$case,
                )
                .await;
            }
        )*
    };
}

/// The next event of `watch`, failing the test on an error, end of stream or timeout.
pub async fn next_event(watch: &mut Watch) -> WatchEvent {
    match tokio::time::timeout(PATIENCE, watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended unexpectedly"),
        Err(_) => panic!("no watch event within {PATIENCE:?}"),
    }
}

/// Writes one more key under the prefix and checks it is the very next event: proves the
/// watch delivered nothing beyond what the caller already consumed.
async fn expect_nothing_more(ctx: &Ctx, watch: &mut Watch) {
    let key = ctx.key("zz-sentinel");
    let revision = ctx
        .store
        .create(&key, b"end")
        .await
        .expect("create sentinel");
    let event = next_event(watch).await;
    assert_eq!(
        (event.key.as_str(), event.revision),
        (key.as_str(), revision),
        "unexpected extra event {event:?}"
    );
}

fn put(key: &str, value: &[u8], revision: Revision) -> WatchEvent {
    WatchEvent {
        kind: EventKind::Put,
        key: key.to_owned(),
        value: Some(value.to_vec()),
        revision,
    }
}

/// Deterministic pseudo-random bytes (xorshift), so large values are not trivially uniform.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub async fn create_get_list(ctx: Ctx) {
    let store = &ctx.store;
    let mut created = Vec::new();
    for name in ["b", "a", "c/nested"] {
        let key = ctx.key(name);
        let value = format!("value of {name}").into_bytes();
        let revision = store.create(&key, &value).await.expect("create");
        created.push((key, value, revision));
    }
    // Neighbours that share a textual prefix but not the `/`-terminated one.
    let outside = ctx.prefix.trim_end_matches('/').to_owned();
    store
        .create(&format!("{outside}x/a"), b"outside")
        .await
        .expect("create");
    store.create(&outside, b"outside").await.expect("create");

    for (key, value, revision) in &created {
        let kv = store.get(key).await.expect("get").expect("key exists");
        assert_eq!(&kv.key, key);
        assert_eq!(&kv.value, value);
        assert_eq!(kv.revision, *revision);
        assert_eq!(kv.create_revision, *revision);
    }
    assert_eq!(store.get(&ctx.key("missing")).await.expect("get"), None);

    let list = store.list(&ctx.prefix).await.expect("list");
    let keys: Vec<_> = list.items.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, [ctx.key("a"), ctx.key("b"), ctx.key("c/nested")]);
    let last = created.iter().map(|c| c.2).max().expect("three writes");
    assert!(
        list.revision >= last,
        "list revision {} < {last}",
        list.revision
    );
    for kv in &list.items {
        let (_, value, revision) = created.iter().find(|c| c.0 == kv.key).expect("listed");
        assert_eq!((&kv.value, kv.revision), (value, *revision));
    }
    let nested = store.list(&ctx.key("c/")).await.expect("list");
    assert_eq!(nested.items.len(), 1);
    let none = store.list(&ctx.key("nothing/")).await.expect("list");
    assert!(none.items.is_empty());
}

pub async fn create_existing_fails(ctx: Ctx) {
    let key = ctx.key("once");
    let revision = ctx.store.create(&key, b"first").await.expect("create");
    match ctx.store.create(&key, b"second").await {
        Err(Error::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second create: expected AlreadyExists, got {other:?}"),
    }
    let kv = ctx.store.get(&key).await.expect("get").expect("exists");
    assert_eq!(
        (kv.value.as_slice(), kv.revision),
        (&b"first"[..], revision)
    );
}

pub async fn update_is_compare_and_swap(ctx: Ctx) {
    let store = &ctx.store;
    let key = ctx.key("cas");
    let r1 = store.create(&key, b"v1").await.expect("create");
    let r2 = store
        .update(&key, b"v2", r1)
        .await
        .expect("update at current revision");
    assert!(r2 > r1);
    let kv = store.get(&key).await.expect("get").expect("exists");
    assert_eq!((kv.value.as_slice(), kv.revision), (&b"v2"[..], r2));
    assert_eq!(kv.create_revision, r1);

    match store.update(&key, b"v3", r1).await {
        Err(Error::Conflict {
            key: k,
            expected,
            actual,
        }) => assert_eq!((k, expected, actual), (key.clone(), r1, r2)),
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }
    let kv = store.get(&key).await.expect("get").expect("exists");
    assert_eq!((kv.value.as_slice(), kv.revision), (&b"v2"[..], r2));

    let missing = ctx.key("missing");
    match store.update(&missing, b"v", r1).await {
        Err(Error::NotFound { key: k }) => assert_eq!(k, missing),
        other => panic!("update of a missing key: expected NotFound, got {other:?}"),
    }
    assert_eq!(store.get(&missing).await.expect("get"), None);
}

pub async fn delete_is_compare_and_swap(ctx: Ctx) {
    let store = &ctx.store;
    let key = ctx.key("del");
    let r1 = store.create(&key, b"v1").await.expect("create");
    let r2 = store.update(&key, b"v2", r1).await.expect("update");
    match store.delete(&key, Some(r1)).await {
        Err(Error::Conflict { key: k, .. }) => assert_eq!(k, key),
        other => panic!("stale delete: expected Conflict, got {other:?}"),
    }
    let kv = store.get(&key).await.expect("get").expect("still there");
    assert_eq!((kv.value.as_slice(), kv.revision), (&b"v2"[..], r2));

    let deleted = store
        .delete(&key, Some(r2))
        .await
        .expect("delete at current revision");
    assert_eq!(
        (deleted.key.as_str(), deleted.value.as_slice()),
        (key.as_str(), &b"v2"[..])
    );
    assert_eq!(deleted.revision, r2);
    assert_eq!(store.get(&key).await.expect("get"), None);
    match store.delete(&key, None).await {
        Err(Error::NotFound { key: k }) => assert_eq!(k, key),
        other => panic!("delete of a missing key: expected NotFound, got {other:?}"),
    }

    let other = ctx.key("unconditional");
    store.create(&other, b"x").await.expect("create");
    let deleted = store
        .delete(&other, None)
        .await
        .expect("unconditional delete");
    assert_eq!(deleted.value, b"x");
    // Re-creating starts a new life with a new create revision.
    let again = store.create(&other, b"y").await.expect("re-create");
    let kv = store.get(&other).await.expect("get").expect("exists");
    assert_eq!((kv.create_revision, kv.revision), (again, again));
    assert!(again > deleted.create_revision);
}

pub async fn revisions_increase_across_keys(ctx: Ctx) {
    let store = &ctx.store;
    let mut last = store.revision().await.expect("revision");
    let mut current = std::collections::BTreeMap::new();
    for i in 0..30 {
        let key = ctx.key(&format!("k{}", i % 5));
        let revision = match current.get(&key) {
            None => store.create(&key, b"new").await.expect("create"),
            Some(&rev) if i % 3 == 0 => {
                store.delete(&key, Some(rev)).await.expect("delete");
                current.remove(&key);
                let now = store.revision().await.expect("revision");
                assert!(now > last, "delete did not advance the revision");
                last = now;
                continue;
            }
            Some(&rev) => store.update(&key, b"upd", rev).await.expect("update"),
        };
        assert!(revision > last, "revision {revision} after {last}");
        current.insert(key, revision);
        last = revision;
    }
    assert!(store.revision().await.expect("revision") >= last);
}

pub async fn watch_streams_every_change_in_order(ctx: Ctx) {
    let _history = HISTORY.read().await;
    let store = &ctx.store;
    let start = store.revision().await.expect("revision");
    let mut watch = store.watch(&ctx.prefix, start).await.expect("watch");
    // Writes outside the prefix must not show up.
    let outside = format!("{}x", ctx.prefix.trim_end_matches('/'));
    let (a, b, c) = (ctx.key("a"), ctx.key("b"), ctx.key("c"));
    let mut expected = Vec::new();
    let ra = store.create(&a, b"a1").await.expect("create");
    expected.push(put(&a, b"a1", ra));
    store.create(&outside, b"noise").await.expect("create");
    let rb = store.create(&b, b"b1").await.expect("create");
    expected.push(put(&b, b"b1", rb));
    let ra2 = store.update(&a, b"a2", ra).await.expect("update");
    expected.push(put(&a, b"a2", ra2));
    store.delete(&b, Some(rb)).await.expect("delete");
    let rdel = store.revision().await.expect("revision");
    expected.push(WatchEvent {
        kind: EventKind::Delete,
        key: b.clone(),
        value: None,
        revision: rdel,
    });
    let rc = store.create(&c, b"c1").await.expect("create");
    expected.push(put(&c, b"c1", rc));

    let mut seen = Vec::new();
    for _ in 0..expected.len() {
        seen.push(next_event(&mut watch).await);
    }
    // The delete's revision was read with revision(), which may run ahead under concurrent
    // writers elsewhere; check it lies between its neighbours, then compare the rest exactly.
    assert!(
        seen[3].revision > ra2 && seen[3].revision < rc,
        "{:?}",
        seen[3]
    );
    expected[3].revision = seen[3].revision;
    assert_eq!(seen, expected);
    expect_nothing_more(&ctx, &mut watch).await;
}

pub async fn watch_resumes_from_mid_revision(ctx: Ctx) {
    let _history = HISTORY.read().await;
    let store = &ctx.store;
    let mut written = Vec::new();
    for i in 0..10 {
        let key = ctx.key(&format!("k{i}"));
        let value = format!("v{i}").into_bytes();
        let revision = store.create(&key, &value).await.expect("create");
        written.push(put(&key, &value, revision));
    }
    let mut watch = store
        .watch(&ctx.prefix, written[4].revision)
        .await
        .expect("watch");
    for want in &written[5..] {
        assert_eq!(&next_event(&mut watch).await, want);
    }
    // Then it follows live changes.
    let live = ctx.key("live");
    let revision = store.create(&live, b"later").await.expect("create");
    assert_eq!(next_event(&mut watch).await, put(&live, b"later", revision));
    expect_nothing_more(&ctx, &mut watch).await;
}

pub async fn watch_from_compacted_revision_fails(ctx: Ctx) {
    let _history = HISTORY.write().await;
    let store = &ctx.store;
    let mut revisions = Vec::new();
    for i in 0..5 {
        let key = ctx.key(&format!("k{i}"));
        revisions.push(store.create(&key, b"v").await.expect("create"));
    }
    store.compact(revisions[2]).await.expect("compact");
    let outcome = match store.watch(&ctx.prefix, revisions[0]).await {
        Err(e) => Err(e),
        Ok(mut watch) => match tokio::time::timeout(PATIENCE, watch.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => panic!("watch ended without an error"),
            Err(_) => panic!("no Compacted error within {PATIENCE:?}"),
        },
    };
    match outcome {
        Err(Error::Compacted { .. }) => {}
        other => panic!("watch from before the compaction: expected Compacted, got {other:?}"),
    }
    // From the compaction point on, history is complete.
    let mut watch = store.watch(&ctx.prefix, revisions[2]).await.expect("watch");
    for want in &revisions[3..] {
        assert_eq!(next_event(&mut watch).await.revision, *want);
    }
}

pub async fn watch_sees_deletes(ctx: Ctx) {
    let _history = HISTORY.read().await;
    let store = &ctx.store;
    let key = ctx.key("doomed");
    let created = store.create(&key, b"v").await.expect("create");
    let mut watch = store.watch(&ctx.prefix, created).await.expect("watch");
    let deleted = store.delete(&key, Some(created)).await.expect("delete");
    assert_eq!(deleted.value, b"v");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.value),
        (EventKind::Delete, key.as_str(), None)
    );
    assert!(event.revision > created);
    assert!(store.revision().await.expect("revision") >= event.revision);
    assert_eq!(store.get(&key).await.expect("get"), None);
    expect_nothing_more(&ctx, &mut watch).await;
}

pub async fn large_value(ctx: Ctx) {
    let _history = HISTORY.read().await;
    let store = &ctx.store;
    let key = ctx.key("big");
    let first = pattern(2 * 1024 * 1024, 1);
    let second = pattern(2 * 1024 * 1024 + 17, 2);
    let start = store.revision().await.expect("revision");
    let mut watch = store.watch(&ctx.prefix, start).await.expect("watch");
    let r1 = store.create(&key, &first).await.expect("create 2 MiB");
    let r2 = store.update(&key, &second, r1).await.expect("update 2 MiB");
    let kv = store.get(&key).await.expect("get").expect("exists");
    assert!(kv.value == second, "2 MiB value read back differs");
    assert_eq!(kv.revision, r2);
    let e1 = next_event(&mut watch).await;
    let e2 = next_event(&mut watch).await;
    assert!(e1.value.as_deref() == Some(&first[..]) && e1.revision == r1);
    assert!(e2.value.as_deref() == Some(&second[..]) && e2.revision == r2);
    let list = store.list(&ctx.prefix).await.expect("list");
    assert!(list.items.len() == 1 && list.items[0].value == second);
}

pub async fn many_keys(ctx: Ctx) {
    const KEYS: usize = 10_000;
    const IN_FLIGHT: usize = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..IN_FLIGHT {
        let store = Arc::clone(&ctx.store);
        let prefix = ctx.prefix.clone();
        tasks.spawn(async move {
            for i in (lane..KEYS).step_by(IN_FLIGHT) {
                let key = format!("{prefix}k{i:05}");
                store
                    .create(&key, i.to_string().as_bytes())
                    .await
                    .expect("create");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task");
    }
    let list = ctx.store.list(&ctx.prefix).await.expect("list");
    assert_eq!(list.items.len(), KEYS);
    for (i, kv) in list.items.iter().enumerate() {
        assert_eq!(kv.key, ctx.key(&format!("k{i:05}")));
        assert_eq!(kv.value, i.to_string().into_bytes());
    }
    let slice = ctx.store.list(&ctx.key("k012")).await.expect("list");
    assert_eq!(slice.items.len(), 100);
}

pub async fn processes_increment_one_counter(ctx: Ctx) {
    const PROCESSES: usize = 4;
    const INCREMENTS: u64 = 50;
    let key = ctx.key("counter");
    if ctx.role.is_some() {
        let mut conflicts = 0u64;
        for _ in 0..INCREMENTS {
            loop {
                let kv = ctx
                    .store
                    .get(&key)
                    .await
                    .expect("get")
                    .expect("counter exists");
                let n: u64 = std::str::from_utf8(&kv.value)
                    .expect("utf-8")
                    .parse()
                    .expect("number");
                match ctx
                    .store
                    .update(&key, (n + 1).to_string().as_bytes(), kv.revision)
                    .await
                {
                    Ok(_) => break,
                    Err(Error::Conflict { .. }) => conflicts += 1,
                    Err(e) => panic!("increment: {e}"),
                }
            }
        }
        report(&format!("conflicts {conflicts}"));
        return;
    }
    ctx.store.create(&key, b"0").await.expect("create counter");
    let started = std::time::Instant::now();
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| ctx.spawn_child("increment"))
        .collect();
    let mut conflicts = 0u64;
    for (child, lines) in &mut children {
        let text = next_report(lines)
            .await
            .expect("child reports its conflicts");
        conflicts += text
            .strip_prefix("conflicts ")
            .and_then(|n| n.parse::<u64>().ok())
            .expect("conflict count");
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("child exits")
            .expect("wait for child");
        assert!(status.success(), "child failed: {status}");
    }
    let kv = ctx
        .store
        .get(&key)
        .await
        .expect("get")
        .expect("counter exists");
    let total = PROCESSES as u64 * INCREMENTS;
    assert_eq!(kv.value, total.to_string().into_bytes(), "lost updates");
    println!(
        "{PROCESSES} processes x {INCREMENTS} CAS increments: {:?}, {conflicts} conflicts retried",
        started.elapsed()
    );
}
