//! Scale benchmark: 10,000 workload endpoints in 100 namespaces, 1,000
//! policies with 5 rules each. Prints the time to build the model from
//! scratch, p50/p99 of single changes (endpoint add, label change, policy
//! change, each including draining deltas and endpoint changes), and the
//! resident memory from /proc/self/status. `cargo bench -p policy`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api::{
    Action, GlobalNetworkPolicy, NetworkPolicy, ObjectMeta, Port, Profile, Protocol, Resource,
    Rule, WorkloadEndpoint,
};
use policy::{Model, Update};

const NAMESPACES: usize = 100;
const ENDPOINTS: usize = 10_000;
const POLICIES: usize = 1_000;
const SAMPLES: usize = 1_000;
const TIERS: [&str; 3] = ["frontend", "backend", "db"];

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn endpoint(i: usize, app: usize) -> Resource {
    let ns = format!("ns{}", i % NAMESPACES);
    let mut w = WorkloadEndpoint {
        metadata: ObjectMeta::namespaced(ns.clone(), format!("pod{i}")),
        ..Default::default()
    };
    w.metadata.labels = labels(&[
        ("app", format!("app{app}")),
        ("tier", TIERS[i % 3].to_string()),
        ("version", format!("v{}", i % 5)),
    ]);
    w.spec.orchestrator = "k8s".into();
    w.spec.node = format!("node{}", i % 100);
    w.spec.ip_networks = vec![format!(
        "10.{}.{}.{}/32",
        i / 65536,
        (i / 256) % 256,
        i % 256
    )];
    w.spec.profiles = vec![format!("kns.{ns}")];
    Resource::WorkloadEndpoint(w)
}

fn namespace_profile(n: usize) -> Resource {
    let mut p = Profile {
        metadata: ObjectMeta::named(format!("kns.ns{n}")),
        ..Default::default()
    };
    p.spec.labels_to_apply = labels(&[
        ("pcns.projectcalico.org/name", format!("ns{n}")),
        ("pcns.team", format!("team{}", n % 10)),
    ]);
    p.spec.ingress = vec![Rule::new(Action::Allow)];
    p.spec.egress = vec![Rule::new(Action::Allow)];
    Resource::Profile(p)
}

fn rules(i: usize, variant: usize) -> (Vec<Rule>, Vec<Rule>) {
    let mut from_app = Rule::new(Action::Allow);
    from_app.protocol = Some(Protocol::Tcp);
    from_app.source.selector = format!("app == 'app{}'", (i + variant) % 20);
    from_app.destination.ports = vec![Port::number(80), Port::number(443)];
    let mut from_team = Rule::new(Action::Allow);
    from_team.source.namespace_selector = format!("team == 'team{}'", i % 10);
    from_team.source.selector = format!("tier == '{}'", TIERS[i % 3]);
    let mut deny_old = Rule::new(Action::Deny);
    deny_old.source.selector = format!("version in {{'v{}', 'v{}'}}", i % 5, (i + 1) % 5);
    let mut to_db = Rule::new(Action::Allow);
    to_db.protocol = Some(Protocol::Tcp);
    to_db.destination.selector = "tier == 'db'".into();
    to_db.destination.ports = vec![Port::number(5432)];
    let mut to_net = Rule::new(Action::Allow);
    to_net.destination.nets = vec![format!("192.168.{}.0/24", i % 256)];
    (vec![from_app, from_team, deny_old], vec![to_db, to_net])
}

fn policy(i: usize, variant: usize) -> Resource {
    let (ingress, egress) = rules(i, variant);
    if i % 10 < 7 {
        let mut p = NetworkPolicy {
            metadata: ObjectMeta::namespaced(format!("ns{}", i % NAMESPACES), format!("np{i}")),
            ..Default::default()
        };
        p.spec.order = Some(((i + variant) % 50) as f64);
        p.spec.selector = format!("app == 'app{}'", i % 20);
        p.spec.ingress = ingress;
        p.spec.egress = egress;
        Resource::NetworkPolicy(p)
    } else {
        let mut p = GlobalNetworkPolicy {
            metadata: ObjectMeta::named(format!("gnp{i}")),
            ..Default::default()
        };
        p.spec.order = Some(((i + variant) % 50) as f64);
        p.spec.selector = format!("tier == '{}' && version == 'v{}'", TIERS[i % 3], i % 5);
        p.spec.ingress = ingress;
        p.spec.egress = egress;
        Resource::GlobalNetworkPolicy(p)
    }
}

fn apply(model: &mut Model, r: Resource) {
    model
        .apply(Update::Put(r))
        .expect("benchmark resources are valid");
}

/// Applies one change and drains the outputs, as the agent would; returns
/// the time to apply and the time to apply and drain.
fn timed(model: &mut Model, r: Resource) -> (Duration, Duration) {
    let start = Instant::now();
    apply(model, r);
    let applied = start.elapsed();
    std::hint::black_box(model.take_deltas());
    std::hint::black_box(model.take_endpoint_changes());
    (applied, start.elapsed())
}

/// "p50 / p99 / max" in microseconds.
fn percentiles(mut d: Vec<Duration>) -> String {
    d.sort_unstable();
    let at = |q: f64| d[((d.len() as f64 * q) as usize).min(d.len() - 1)].as_secs_f64() * 1e6;
    format!("{:7.1} {:8.1} {:8.1}", at(0.50), at(0.99), at(1.0))
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    println!("policy scale benchmark: {ENDPOINTS} endpoints, {NAMESPACES} namespaces, {POLICIES} policies x 5 rules");
    println!("memory before: {}", memory());

    let mut resources: Vec<Resource> = (0..NAMESPACES).map(namespace_profile).collect();
    resources.extend((0..ENDPOINTS).map(|i| endpoint(i, i % 20)));
    resources.extend((0..POLICIES).map(|i| policy(i, 0)));
    let start = Instant::now();
    let mut model = Model::cluster_wide();
    for r in resources {
        apply(&mut model, r);
    }
    let deltas = model.take_deltas();
    let changed = model.take_endpoint_changes();
    let build = start.elapsed();
    println!(
        "from scratch (all endpoints local): {:.1} ms  ({} ip sets, {} endpoints with lists)",
        build.as_secs_f64() * 1e3,
        deltas.len(),
        changed.len()
    );
    println!("memory after build: {}", memory());

    let mut adds = Vec::with_capacity(SAMPLES);
    for k in 0..SAMPLES {
        adds.push(timed(&mut model, endpoint(ENDPOINTS + k, rng.below(20))));
    }
    let mut relabels = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = rng.below(ENDPOINTS);
        relabels.push(timed(&mut model, endpoint(i, rng.below(20))));
    }
    let mut policy_changes = Vec::with_capacity(SAMPLES);
    let mut global_changes = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = rng.below(POLICIES);
        let d = timed(&mut model, policy(i, 1 + rng.below(7)));
        policy_changes.push(d);
        if i % 10 >= 7 {
            global_changes.push(d);
        }
    }
    println!(
        "{:40} {:>24}   {:>24}",
        "change (us)", "apply p50 / p99 / max", "apply+drain p50 / p99 / max"
    );
    for (name, d) in [
        ("endpoint add", adds),
        ("endpoint label change", relabels),
        ("policy change (order + rule selector)", policy_changes),
        ("  of which GNPs (~670 endpoints each)", global_changes),
    ] {
        let (applied, drained): (Vec<Duration>, Vec<Duration>) = d.into_iter().unzip();
        println!(
            "{name:40} {}   {}",
            percentiles(applied),
            percentiles(drained)
        );
    }
    println!("memory at end: {}", memory());
}
