//! The model-based policy test of issue #5: random sets of `projectcalico.org/v3` resources
//! are applied with calicoctl to one real lab (2 nodes, 6 workloads with varied labels,
//! embedded datastore); the policy engine, fed in-process with what the datastore then holds,
//! gives the verdict of every (from, to) pair for TCP and UDP (to 8080 or, some rounds, 9090)
//! and ICMP echo; and the matrices probed with real packets must equal those verdicts, first
//! within a deadline (the agents take a moment to apply a change), then once more after a
//! pause (no flapping).
//!
//! A round's set holds 1-4 NetworkPolicies (namespaced, at times in a namespace without
//! workloads) and GlobalNetworkPolicies with random selectors, types, orders and rules
//! (Allow/Deny/Pass/Log; protocol, notProtocol, ICMP type/code, ports and notPorts, source
//! ports, selectors, notSelectors, namespaceSelectors, nets, notNets, ipVersion), up to two
//! tiers with either default action, up to two GlobalNetworkSets, and now and then a namespace
//! profile with random rules and an inherited label. A round either replaces the previous
//! round's resources or rewrites them in place under the same names.
//!
//! The generator is seeded; the seed is printed at the start and in every failure, and
//! `POLICY_MODEL_SEED=N` replays it (`POLICY_MODEL_ROUNDS=K` changes the number of rounds).
//! A failure prints the resources as YAML, the differing pairs, `calicoctl policy trace` of
//! one of them and the nftables ruleset of the nodes involved.
//!
//! Needs root, `ip`, `nft`, `ping` and the sibling binaries
//! (`cargo build -p lab -p node -p cni -p ctl`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api::{Kind, Resource};
use datastore::{DatastoreConfig, ResourceClient};
use policy::{Disposition, Model, Packet, Update};
use serde_json::Value;
use testkit::netns;

mod common;
use common::Turn;

const LAB: &str = env!("CARGO_BIN_EXE_calico-lab");
/// The pool `up` gives workloads addresses from (the lab's default).
const POOL: &str = "10.244.0.0/16";
/// The port the lab's responders serve TCP and UDP on.
const PORT: u16 = 8080;
/// The port some rounds probe instead (the lab starts responders on it for the probe).
const OTHER_PORT: u16 = 9090;
/// The source port the engine is asked about: one of the probes' ephemeral ports (the
/// generator only writes source port ranges that hold all of them or none).
const EPHEMERAL_PORT: u16 = 45000;
/// How long the agents may take to make the packets agree with a new policy set.
const CONVERGE: Duration = Duration::from_secs(15);
/// The pause before the second look at an agreeing matrix.
const SETTLE: Duration = Duration::from_millis(700);
/// Rounds when `POLICY_MODEL_ROUNDS` does not say.
const DEFAULT_ROUNDS: usize = 8;
/// Kinds the engine needs to judge workload traffic, tiers first so that policies find
/// their tier (as `calicoctl policy trace` reads them).
const MODEL_KINDS: [Kind; 7] = [
    Kind::Tier,
    Kind::Profile,
    Kind::GlobalNetworkSet,
    Kind::NetworkSet,
    Kind::WorkloadEndpoint,
    Kind::GlobalNetworkPolicy,
    Kind::NetworkPolicy,
];

/// The lab of this test; dropping it runs `down` and removes any namespace left with its
/// prefix.
struct ModelLab {
    name: String,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    _turn: Turn,
}

impl ModelLab {
    fn up(args: &[&str]) -> ModelLab {
        let bin_dir = Path::new(LAB).parent().expect("binary has a directory");
        for needed in ["calico", "calico-ipam", "calico-node", "calicoctl"] {
            assert!(
                bin_dir.join(needed).is_file(),
                "{} is missing: build the sibling binaries first (cargo build -p lab -p node -p cni -p ctl)",
                bin_dir.join(needed).display()
            );
        }
        let lab = ModelLab {
            name: format!("pm{}", std::process::id()),
            dir: tempfile::tempdir().expect("temporary directory"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            _turn: Turn::take(),
        };
        let mut up = vec!["up"];
        up.extend_from_slice(args);
        lab.ok(&up);
        lab
    }

    fn ok(&self, args: &[&str]) -> String {
        common::calico_lab_ok(&self.name, self.dir.path(), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// `calicoctl ARGS` run by `calico-lab exec node1`, with the lab's datastore settings.
    fn calicoctl(&self, args: &[&str]) -> std::process::Output {
        let mut argv = vec!["exec", "node1", "--", "calicoctl"];
        argv.extend_from_slice(args);
        common::calico_lab(&self.name, self.dir.path(), &argv)
    }

    /// Writes `yaml` to a file and runs `calicoctl VERB -f FILE`, insisting on success.
    fn calicoctl_file(&self, verb: &str, yaml: &str) {
        let file = self.dir.path().join(format!("{verb}.yaml"));
        std::fs::write(&file, yaml).expect("write the policy file");
        let out = self.calicoctl(&[verb, "-f", file.to_str().expect("UTF-8 path")]);
        assert!(
            out.status.success(),
            "calicoctl {verb} failed: {}{}\n{yaml}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// The workloads `status -o json` reports, with their IPv4 address and labels.
    fn workloads(&self) -> Vec<Workload> {
        let status = self.json(&["status", "-o", "json"]);
        status["workloads"]
            .as_array()
            .expect("workloads")
            .iter()
            .map(|w| Workload {
                name: w["name"].as_str().expect("name").to_string(),
                node: w["node"].as_str().expect("node").to_string(),
                ip: w["addresses"]
                    .as_array()
                    .expect("addresses")
                    .iter()
                    .filter_map(|a| a.as_str()?.parse::<IpAddr>().ok())
                    .find(IpAddr::is_ipv4)
                    .expect("an IPv4 address"),
                labels: w["labels"]
                    .as_array()
                    .expect("labels")
                    .iter()
                    .map(|kv| {
                        (
                            kv[0].as_str().expect("key").to_string(),
                            kv[1].as_str().expect("value").to_string(),
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    /// Everything in the lab's datastore that the engine needs.
    fn resources(&self) -> Vec<Resource> {
        let path = self.dir.path().join(&self.name).join("datastore/calico.db");
        self.runtime.block_on(async {
            let store = datastore::connect(&DatastoreConfig::Embedded { path })
                .await
                .expect("open the lab's datastore");
            let client = ResourceClient::new(store);
            let mut all = Vec::new();
            for kind in MODEL_KINDS {
                let list = client.list(kind, None, "").await;
                all.extend(list.unwrap_or_else(|e| panic!("list {kind:?}: {e}")).items);
            }
            all
        })
    }

    /// The matrix the packets give: `(from, to) -> reachable`.
    fn matrix(&self, probe: Probe) -> Matrix {
        let port = probe.port().map(|p| p.to_string());
        let mut args = vec!["matrix", "--proto", probe.name(), "-o", "json"];
        if let Some(port) = &port {
            args.extend(["--port", port, "--timeout-ms", "600"]);
        }
        self.json(&args)["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| {
                (
                    (
                        p["from"].as_str().expect("from").to_string(),
                        p["to"].as_str().expect("to").to_string(),
                    ),
                    p["reachable"].as_bool().expect("reachable"),
                )
            })
            .collect()
    }

    /// `nft list ruleset` in a node's namespace (for failure reports).
    fn ruleset(&self, node: &str) -> String {
        let out = common::calico_lab(
            &self.name,
            self.dir.path(),
            &["exec", node, "--", "nft", "list", "ruleset"],
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for ModelLab {
    fn drop(&mut self) {
        let _ = common::calico_lab(&self.name, self.dir.path(), &["down"]);
        for ns in netns::list_with_prefix(&format!("{}-", self.name)) {
            netns::delete(&ns);
        }
    }
}

/// One workload of the lab.
#[derive(Clone, Debug)]
struct Workload {
    name: String,
    node: String,
    ip: IpAddr,
    labels: BTreeMap<String, String>,
}

/// Reachability per (from, to) workload pair.
type Matrix = BTreeMap<(String, String), bool>;

/// What a matrix probes: TCP or UDP to a port, or ICMP echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Tcp(u16),
    Udp(u16),
    Icmp,
}

impl Probe {
    /// The three probes of a round, TCP and UDP to `port`.
    fn all(port: u16) -> [Probe; 3] {
        [Probe::Tcp(port), Probe::Udp(port), Probe::Icmp]
    }

    fn name(self) -> &'static str {
        match self {
            Probe::Tcp(_) => "tcp",
            Probe::Udp(_) => "udp",
            Probe::Icmp => "icmp",
        }
    }

    fn port(self) -> Option<u16> {
        match self {
            Probe::Tcp(port) | Probe::Udp(port) => Some(port),
            Probe::Icmp => None,
        }
    }

    /// `tcp 8080`, `icmp`.
    fn describe(self) -> String {
        match self.port() {
            Some(port) => format!("{} {port}", self.name()),
            None => self.name().to_string(),
        }
    }

    /// The first packet of the probe's flow from `src` to `dst`.
    fn packet(self, src: IpAddr, dst: IpAddr) -> Packet {
        match self {
            Probe::Tcp(port) => Packet::tcp(src, EPHEMERAL_PORT, dst, port),
            Probe::Udp(port) => Packet::udp(src, EPHEMERAL_PORT, dst, port),
            Probe::Icmp => Packet::icmp(src, dst, 8, 0),
        }
    }
}

/// A small deterministic PRNG (SplitMix64): the same seed, the same policy sets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The label keys and values the generator writes selectors over: every value some
/// workload carries, plus one none does.
const VOCABULARY: [(&str, &[&str]); 5] = [
    ("app", &["w1", "w2", "db", "cache"]),
    ("node", &["node1", "node2"]),
    ("tier", &["front", "back"]),
    ("env", &["prod", "dev"]),
    ("set", &["a", "b"]),
];

/// The namespace profile as the lab writes it: everything allowed.
const OPEN_PROFILE: &str = "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  \
                            name: kns.default\nspec:\n  ingress:\n  - action: Allow\n  \
                            egress:\n  - action: Allow\n";

/// One round: the port TCP and UDP probe, and the resources, as YAML documents.
struct PolicySet {
    /// The round whose names the resources carry: this one, or the previous one when this
    /// round rewrites the previous resources in place.
    names: usize,
    port: u16,
    /// The workloads' profile: [`OPEN_PROFILE`] or one with random rules and labels.
    profile: String,
    tiers: Vec<String>,
    /// GlobalNetworkSets, for rule selectors to match by label.
    sets: Vec<String>,
    policies: Vec<String>,
}

impl PolicySet {
    /// Tiers and sets before the policies that use them.
    fn apply_yaml(&self) -> String {
        std::iter::once(&self.profile)
            .chain(&self.tiers)
            .chain(&self.sets)
            .chain(&self.policies)
            .cloned()
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// What deletes this set's resources that `next` does not have, policies before their
    /// sets and tiers; empty when there is none.
    fn stale_yaml(&self, next: &PolicySet) -> String {
        let keep: BTreeSet<String> = next
            .tiers
            .iter()
            .chain(&next.sets)
            .chain(&next.policies)
            .map(|d| identity(d))
            .collect();
        self.policies
            .iter()
            .chain(&self.sets)
            .chain(&self.tiers)
            .filter(|d| !keep.contains(&identity(d)))
            .cloned()
            .collect::<Vec<_>>()
            .join("---\n")
    }
}

/// A generated document's kind, namespace and name.
fn identity(doc: &str) -> String {
    let field = |prefix: &str| {
        doc.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_default()
            .to_string()
    };
    format!(
        "{}/{}/{}",
        field("kind: "),
        field("  namespace: "),
        field("  name: ")
    )
}

/// Writes random policy sets over the lab's workloads.
struct Generator<'a> {
    rng: Rng,
    workloads: &'a [Workload],
}

impl Generator<'_> {
    /// The set of `round`; at times it takes the names of the `previous` set, so that the
    /// agents see updates of existing resources rather than only deletes and creates.
    fn policy_set(&mut self, round: usize, previous: Option<&PolicySet>) -> PolicySet {
        let names = match previous {
            Some(p) if self.rng.chance(40) => p.names,
            _ => round,
        };
        let tier_names: Vec<String> = (0..*self.rng.pick(&[0, 0, 0, 0, 0, 1, 1, 1, 2, 2]))
            .map(|j| format!("r{names}-tier{j}"))
            .collect();
        let tiers = tier_names
            .iter()
            .map(|name| {
                // Before the default tier (order 1,000,000) or after it; equal orders are
                // ordered by name.
                let order = *self.rng.pick(&[50, 500, 500, 2_000_000]);
                let action = *self.rng.pick(&["Deny", "Pass"]);
                format!(
                    "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: {name}\n\
                     spec:\n  order: {order}\n  defaultAction: {action}\n"
                )
            })
            .collect();
        let sets = (0..self.rng.below(3))
            .map(|i| {
                let label = *self.rng.pick(&["a", "b"]);
                format!(
                    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  \
                     name: r{names}-set{i}\n  labels:\n    set: {label}\nspec:\n  nets: [{}]\n",
                    self.nets()
                )
            })
            .collect();
        let count = 1 + self.rng.below(4);
        let policies = (0..count)
            .map(|i| {
                let tier = if !tier_names.is_empty() && self.rng.chance(60) {
                    Some(self.rng.pick(&tier_names).clone())
                } else {
                    None
                };
                self.policy(&format!("r{names}-p{i}"), tier.as_deref())
            })
            .collect();
        let port = if self.rng.chance(30) {
            OTHER_PORT
        } else {
            PORT
        };
        let profile = if self.rng.chance(25) {
            self.profile()
        } else {
            OPEN_PROFILE.to_string()
        };
        PolicySet {
            names,
            port,
            profile,
            tiers,
            sets,
            policies,
        }
    }

    fn policy(&mut self, base: &str, tier: Option<&str>) -> String {
        let global = self.rng.chance(50);
        let name = match tier {
            Some(t) => format!("{t}.{base}"),
            None => base.to_string(),
        };
        let mut y = String::from("apiVersion: projectcalico.org/v3\n");
        if global {
            let _ = write!(
                y,
                "kind: GlobalNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n"
            );
        } else {
            // Now and then in a namespace without workloads: it applies to nothing.
            let namespace = if self.rng.chance(12) {
                "other"
            } else {
                "default"
            };
            let _ = write!(
                y,
                "kind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n"
            );
        }
        if let Some(t) = tier {
            let _ = writeln!(y, "  tier: {t}");
        }
        if self.rng.chance(75) {
            // Few distinct orders, so that ties (broken by name) happen.
            let _ = writeln!(y, "  order: {}", *self.rng.pick(&[10, 20, 20, 100]));
        }
        let selector = if self.rng.chance(20) {
            "all()".to_string()
        } else {
            self.selector(2)
        };
        let _ = writeln!(y, "  selector: \"{selector}\"");
        let (ingress, egress) = match self.rng.below(20) {
            0..=8 => (true, false),
            9..=14 => (false, true),
            _ => (true, true),
        };
        let explicit_types = self.rng.chance(60);
        let ingress_rules = if ingress {
            self.rules(true)
        } else {
            Vec::new()
        };
        let egress_rules = if egress {
            self.rules(false)
        } else {
            Vec::new()
        };
        if explicit_types {
            let mut types = Vec::new();
            if ingress {
                types.push("Ingress");
            }
            if egress {
                types.push("Egress");
            }
            let _ = writeln!(y, "  types: [{}]", types.join(", "));
        }
        for (key, rules) in [("ingress", &ingress_rules), ("egress", &egress_rules)] {
            if !rules.is_empty() {
                let _ = writeln!(y, "  {key}:");
                for r in rules {
                    y.push_str(r);
                }
            }
        }
        y
    }

    /// The namespace profile with random rules in one direction (allow all in the other),
    /// and at times a label its endpoints inherit when they lack it.
    fn profile(&mut self) -> String {
        let mut y = String::from(
            "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: kns.default\n\
             spec:\n",
        );
        if self.rng.chance(50) {
            let (key, values) = *self.rng.pick(&VOCABULARY);
            let value = *self.rng.pick(values);
            let _ = writeln!(y, "  labelsToApply:\n    {key}: {value}");
        }
        let random = self.rng.chance(50);
        for (key, ingress) in [("ingress", true), ("egress", false)] {
            let rules = if random != ingress {
                vec!["  - action: Allow\n".to_string()]
            } else {
                self.rules(ingress)
            };
            if !rules.is_empty() {
                let _ = writeln!(y, "  {key}:");
                for r in rules {
                    y.push_str(&r);
                }
            }
        }
        y
    }

    /// A direction's rules: none now and then (deny all once the policy applies), at times
    /// ending with a catch-all rule.
    fn rules(&mut self, ingress: bool) -> Vec<String> {
        if self.rng.chance(10) {
            return Vec::new();
        }
        let mut rules: Vec<String> = (0..1 + self.rng.below(3))
            .map(|_| self.rule(ingress))
            .collect();
        if self.rng.chance(20) {
            let action = *self.rng.pick(&["Allow", "Allow", "Deny", "Pass"]);
            rules.push(format!("  - action: {action}\n"));
        }
        rules
    }

    /// A rule, as a YAML list item indented under `ingress:`/`egress:`.
    fn rule(&mut self, ingress: bool) -> String {
        let action = *self.rng.pick(&[
            "Allow", "Allow", "Allow", "Allow", "Deny", "Deny", "Pass", "Log",
        ]);
        let mut lines = vec![format!("action: {action}")];
        let protocol = match self.rng.below(20) {
            0..=6 => None,
            7..=11 => Some("TCP"),
            12..=15 => Some("UDP"),
            _ => Some("ICMP"),
        };
        match protocol {
            Some(p) => lines.push(format!("protocol: {p}")),
            None if self.rng.chance(12) => {
                let p = *self.rng.pick(&["TCP", "UDP", "ICMP"]);
                lines.push(format!("notProtocol: {p}"));
            }
            None => {}
        }
        if protocol == Some("ICMP") {
            if self.rng.chance(40) {
                let icmp = *self.rng.pick(&[
                    "{type: 8}",
                    "{type: 0}",
                    "{type: 8, code: 0}",
                    "{type: 8, code: 1}",
                ]);
                lines.push(format!("icmp: {icmp}"));
            }
            if self.rng.chance(15) {
                let icmp = *self.rng.pick(&["{type: 8}", "{type: 13}"]);
                lines.push(format!("notICMP: {icmp}"));
            }
        }
        let ports = matches!(protocol, Some("TCP" | "UDP"));
        let mut nets = false;
        for (side, is_source) in [("source", true), ("destination", false)] {
            let fields = self.entity(ports, is_source, ingress);
            if !fields.is_empty() {
                nets |= fields.iter().any(|f| f.contains("ets: "));
                lines.push(format!("{side}:"));
                lines.extend(fields.into_iter().map(|f| format!("  {f}")));
            }
        }
        // An IPv6-only rule never matches the IPv4 probes (and may not name IPv4 nets or
        // ICMP, which is IPv4's).
        if self.rng.chance(8) && !nets {
            let version = if protocol == Some("ICMP") {
                4
            } else {
                *self.rng.pick(&[4, 6])
            };
            lines.push(format!("ipVersion: {version}"));
        }
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { "  - " } else { "    " };
            let _ = writeln!(out, "{lead}{line}");
        }
        out
    }

    /// The fields of a rule's source or destination. The peer side (source of an ingress
    /// rule, destination of an egress rule) is matched more often than the local side.
    fn entity(&mut self, ports: bool, is_source: bool, ingress: bool) -> Vec<String> {
        let peer = is_source == ingress;
        let mut fields = Vec::new();
        if self.rng.chance(if peer { 40 } else { 12 }) {
            fields.push(format!("selector: \"{}\"", self.selector(1)));
            // Endpoints of any namespace, or only non-namespaced objects (the sets).
            if self.rng.chance(15) {
                let namespaces = *self.rng.pick(&["all()", "global()"]);
                fields.push(format!("namespaceSelector: \"{namespaces}\""));
            }
        }
        if self.rng.chance(8) {
            fields.push(format!("notSelector: \"{}\"", self.selector(1)));
        }
        if self.rng.chance(if peer { 18 } else { 8 }) {
            fields.push(format!("nets: [{}]", self.nets()));
        }
        if self.rng.chance(8) {
            fields.push(format!("notNets: [{}]", self.nets()));
        }
        if ports {
            if is_source {
                if self.rng.chance(10) {
                    // All of the probes' ephemeral ports, or none of them.
                    let range = *self.rng.pick(&["\"1024:65535\"", "\"1:1023\""]);
                    fields.push(format!("ports: [{range}]"));
                }
            } else {
                if self.rng.chance(55) {
                    let list = *self.rng.pick(&[
                        "8080",
                        "8080",
                        "80, 443",
                        "\"8000:8100\"",
                        "9090",
                        "53, 8080",
                        "\"1:1023\"",
                        "8081",
                    ]);
                    fields.push(format!("ports: [{list}]"));
                }
                if self.rng.chance(12) {
                    let list = *self.rng.pick(&["8080", "\"9000:9999\""]);
                    fields.push(format!("notPorts: [{list}]"));
                }
            }
        }
        fields
    }

    /// A flow-style list of CIDRs: workloads' /32s, their /26 block, the pool, or a range
    /// no workload is in.
    fn nets(&mut self) -> String {
        let mut nets = BTreeSet::new();
        for _ in 0..1 + self.rng.below(2) {
            let net = match self.rng.below(6) {
                0 | 1 => format!("{}/32", self.rng.pick(self.workloads).ip),
                2 => {
                    let IpAddr::V4(ip) = self.rng.pick(self.workloads).ip else {
                        unreachable!("workload addresses are IPv4")
                    };
                    let block = u32::from(ip) & !0x3f;
                    format!("{}/26", std::net::Ipv4Addr::from(block))
                }
                3 | 4 => POOL.to_string(),
                _ => "192.168.0.0/16".to_string(),
            };
            nets.insert(format!("\"{net}\""));
        }
        nets.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// A selector over the vocabulary: ==, !=, in, not in, has, !, starts/ends with,
    /// contains, &&, ||, all(), up to `depth` levels of nesting.
    fn selector(&mut self, depth: u32) -> String {
        if depth == 0 || self.rng.chance(50) {
            return self.atom();
        }
        match self.rng.below(3) {
            0 => format!(
                "{} && {}",
                self.selector(depth - 1),
                self.selector(depth - 1)
            ),
            1 => format!(
                "({} || {})",
                self.selector(depth - 1),
                self.selector(depth - 1)
            ),
            _ => format!("!({})", self.selector(depth - 1)),
        }
    }

    fn atom(&mut self) -> String {
        let (key, values) = *self.rng.pick(&VOCABULARY);
        let value = *self.rng.pick(values);
        match self.rng.below(12) {
            0 | 1 => format!("{key} == '{value}'"),
            2 => format!("{key} != '{value}'"),
            3 => {
                let other = *self.rng.pick(values);
                format!("{key} in {{'{value}', '{other}'}}")
            }
            4 => format!("{key} not in {{'{value}'}}"),
            5 => format!("has({key})"),
            6 => format!("!has({key})"),
            7 => format!("{key} starts with '{}'", &value[..1]),
            8 => format!("{key} ends with '{}'", &value[value.len() - 1..]),
            9 => "projectcalico.org/namespace == 'default'".to_string(),
            10 => "all()".to_string(),
            _ => format!("{key} == '{value}'"),
        }
    }
}

/// The engine's matrix for `probe`.
fn expected(model: &Model, workloads: &[Workload], probe: Probe) -> Matrix {
    let mut out = BTreeMap::new();
    for from in workloads {
        for to in workloads.iter().filter(|w| w.name != from.name) {
            let verdict = policy::trace(model, &probe.packet(from.ip, to.ip));
            out.insert(
                (from.name.clone(), to.name.clone()),
                verdict.disposition == Disposition::Allow,
            );
        }
    }
    out
}

/// A cluster-wide model of `resources`, as `calicoctl policy trace` builds it.
fn model_of(resources: &[Resource]) -> Model {
    let mut model = Model::cluster_wide();
    for r in resources {
        model
            .apply(Update::Put(r.clone()))
            .unwrap_or_else(|e| panic!("the engine refuses a stored resource: {e}: {r:?}"));
    }
    model
}

/// The pairs whose answers differ, one line each.
fn differences(want: &Matrix, got: &Matrix) -> Vec<String> {
    let keys: BTreeSet<&(String, String)> = want.keys().chain(got.keys()).collect();
    keys.into_iter()
        .filter(|k| want.get(*k) != got.get(*k))
        .map(|(f, t)| {
            let show = |m: &Matrix| match m.get(&(f.clone(), t.clone())) {
                Some(true) => "allowed",
                Some(false) => "denied",
                None => "absent",
            };
            format!("{f} -> {t}: engine {} packets {}", show(want), show(got))
        })
        .collect()
}

/// Polls the matrix for `probe` until it equals `want` or `limit` passed; the last matrix
/// and how long it took.
fn converge(lab: &ModelLab, probe: Probe, want: &Matrix, limit: Duration) -> (Matrix, Duration) {
    let started = Instant::now();
    loop {
        let got = lab.matrix(probe);
        if &got == want || started.elapsed() > limit {
            return (got, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A round under test: what a failure report needs.
struct Round<'a> {
    lab: &'a ModelLab,
    seed: u64,
    round: usize,
    set: &'a PolicySet,
    workloads: &'a [Workload],
}

impl Round<'_> {
    /// Panics with everything a person needs to reproduce and understand a disagreement:
    /// the seed, the resources, the differing pairs, the trace of one of them and the
    /// rulesets of its nodes.
    fn mismatch(&self, probe: Probe, want: &Matrix, got: &Matrix, when: &str) -> ! {
        let Round {
            lab,
            seed,
            round,
            set,
            workloads,
        } = self;
        let diffs = differences(want, got);
        let first = want
            .keys()
            .find(|k| want.get(*k) != got.get(*k))
            .cloned()
            .unwrap_or_default();
        let mut trace_args = vec![
            "policy".to_string(),
            "trace".to_string(),
            "--from".to_string(),
            format!("default/{}", first.0),
            "--to".to_string(),
            format!("default/{}", first.1),
            "--protocol".to_string(),
            probe.name().to_string(),
        ];
        if let Some(port) = probe.port() {
            trace_args.extend([
                "--port".to_string(),
                port.to_string(),
                "--source-port".to_string(),
                EPHEMERAL_PORT.to_string(),
            ]);
        }
        let trace_refs: Vec<&str> = trace_args.iter().map(String::as_str).collect();
        let trace = lab.calicoctl(&trace_refs);
        let nodes: BTreeSet<&str> = workloads
            .iter()
            .filter(|w| w.name == first.0 || w.name == first.1)
            .map(|w| w.node.as_str())
            .collect();
        for node in nodes {
            println!("---- nft list ruleset on {node}\n{}", lab.ruleset(node));
        }
        panic!(
            "seed {seed} (rerun: POLICY_MODEL_SEED={seed}), round {round}, {}: {when}, the \
             packets disagree with the engine on {} pair(s):\n  {}\n\nresources:\n{}\n\
             calicoctl {}:\n{}{}",
            probe.describe(),
            diffs.len(),
            diffs.join("\n  "),
            set.apply_yaml(),
            trace_args.join(" "),
            String::from_utf8_lossy(&trace.stdout),
            String::from_utf8_lossy(&trace.stderr)
        );
    }
}

fn seed() -> u64 {
    match std::env::var("POLICY_MODEL_SEED") {
        Ok(s) => s.parse().expect("POLICY_MODEL_SEED is a number"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64,
    }
}

fn rounds() -> usize {
    std::env::var("POLICY_MODEL_ROUNDS")
        .map(|s| s.parse().expect("POLICY_MODEL_ROUNDS is a number"))
        .unwrap_or(DEFAULT_ROUNDS)
}

#[test]
fn random_policy_sets_give_the_engines_matrix_in_packets() {
    let seed = seed();
    println!("policy model: seed {seed} (rerun with POLICY_MODEL_SEED={seed})");
    let started = Instant::now();
    let lab = ModelLab::up(&["--nodes", "2", "--workloads", "2"]);
    // A third workload per node with labels the defaults lack (tier, env; one without app).
    lab.ok(&[
        "workload",
        "add",
        "db",
        "--node",
        "node1",
        "--labels",
        "app=db,tier=back,env=prod",
    ]);
    lab.ok(&[
        "workload",
        "add",
        "front",
        "--node",
        "node2",
        "--labels",
        "tier=front,env=dev",
    ]);
    let workloads = lab.workloads();
    assert_eq!(workloads.len(), 6, "{workloads:?}");
    // The generator's vocabulary holds every label value the workloads carry, so that
    // selectors hit as well as miss.
    for w in &workloads {
        for (key, value) in &w.labels {
            let known = VOCABULARY
                .iter()
                .find(|(k, _)| k == key)
                .is_some_and(|(_, values)| values.contains(&value.as_str()));
            assert!(
                known,
                "{}: label {key}={value} outside the vocabulary",
                w.name
            );
        }
    }
    let pairs = 6 * 5;

    // Before any policy, every pair must answer (the namespace profile allows all).
    let open = model_of(&lab.resources());
    for probe in Probe::all(PORT) {
        let want = expected(&open, &workloads, probe);
        assert!(want.values().all(|a| *a), "no policy yet: {want:?}");
        let (got, _) = converge(&lab, probe, &want, Duration::from_secs(30));
        assert_eq!(
            got,
            want,
            "{} without policy: {:?}",
            probe.describe(),
            differences(&want, &got)
        );
    }
    println!(
        "[{}] up with {} workloads, all pairs open, after {:.1}s",
        lab.name,
        workloads.len(),
        started.elapsed().as_secs_f64()
    );

    let mut generator = Generator {
        rng: Rng(seed),
        workloads: &workloads,
    };
    let mut previous: Option<PolicySet> = None;
    for round in 0..rounds() {
        let set = generator.policy_set(round, previous.as_ref());
        // Rewrite what stays, create what is new, then delete what is gone.
        lab.calicoctl_file("apply", &set.apply_yaml());
        if let Some(old) = previous.take() {
            let stale = old.stale_yaml(&set);
            if !stale.is_empty() {
                lab.calicoctl_file("delete", &stale);
            }
        }
        let applied = Instant::now();
        let resources = lab.resources();
        let stored = resources
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Resource::GlobalNetworkPolicy(_) | Resource::NetworkPolicy(_)
                )
            })
            .count();
        assert_eq!(
            stored,
            set.policies.len(),
            "seed {seed} round {round}: the datastore holds other policies than this round's"
        );
        let model = model_of(&resources);
        let under_test = Round {
            lab: &lab,
            seed,
            round,
            set: &set,
            workloads: &workloads,
        };
        let mut summary = Vec::new();
        let mut wants = Vec::new();
        for probe in Probe::all(set.port) {
            let want = expected(&model, &workloads, probe);
            let (got, took) = converge(&lab, probe, &want, CONVERGE);
            if got != want {
                let when = format!("{}s after apply", CONVERGE.as_secs());
                under_test.mismatch(probe, &want, &got, &when);
            }
            summary.push(format!(
                "{} {}/{pairs} ({:.1}s)",
                probe.describe(),
                want.values().filter(|a| **a).count(),
                took.as_secs_f64()
            ));
            wants.push((probe, want));
        }
        std::thread::sleep(SETTLE);
        for (probe, want) in &wants {
            let got = lab.matrix(*probe);
            if &got != want {
                under_test.mismatch(*probe, want, &got, "on the second look after agreeing");
            }
        }
        println!(
            "[{}] round {round}: names of round {}, {}, {} tier(s), {} set(s), {} policies; \
             allowed {}; agreed {:.1}s after apply",
            lab.name,
            set.names,
            if set.profile == OPEN_PROFILE {
                "open profile"
            } else {
                "random profile"
            },
            set.tiers.len(),
            set.sets.len(),
            set.policies.len(),
            summary.join(", "),
            applied.elapsed().as_secs_f64()
        );
        previous = Some(set);
    }
    println!(
        "[{}] {} rounds agreed, {:.1}s in all",
        lab.name,
        rounds(),
        started.elapsed().as_secs_f64()
    );
}
