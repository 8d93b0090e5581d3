//! Real packets through real rulesets: namespaces, veths, routes, nftables (needs root).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::{list_routes, node_routes, Lab, Netns, NODE_IP};
use dataplane::model::{
    Action, DesiredState, EndpointMatch, EndpointPolicy, EndpointToHostAction, HostEndpoint,
    IpPool, IpVersion, Policy, PortRange, Profile, Protocol, Rule, TierDefault, TierPolicies,
    WorkloadEndpoint,
};
use dataplane::routes::{Route, ROUTE_PROTOCOL};
use dataplane::{nft, render, sysctl};

const PORT: u16 = 8080;

fn allow() -> Rule {
    Rule::default()
}

fn tcp_port_rule(action: Action, port: u16) -> Rule {
    Rule {
        action,
        protocol: Some(Protocol::Tcp),
        destination: EndpointMatch {
            ports: vec![PortRange {
                first: port,
                last: port,
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn open(profile: &str) -> EndpointPolicy {
    EndpointPolicy {
        tiers: Vec::new(),
        profiles: vec![profile.to_owned()],
    }
}

fn tier(name: &str, policies: &[&str], default_action: TierDefault) -> TierPolicies {
    TierPolicies {
        name: name.to_owned(),
        policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        default_action,
    }
}

/// Both workloads open (allow-all profile), node config as given.
fn allow_all(lab: &Lab) -> DesiredState {
    let mut state = DesiredState::default();
    state.profiles.insert(
        "allow-all".to_owned(),
        Profile {
            ingress: vec![allow()],
            egress: vec![allow()],
        },
    );
    for w in &lab.workloads {
        state.workloads.push(WorkloadEndpoint {
            interface: w.iface.clone(),
            ingress: open("allow-all"),
            egress: open("allow-all"),
        });
    }
    state
}

#[test]
fn allow_all_then_default_deny_with_conntrack_return_traffic() {
    let lab = Lab::new("deny");
    let (w1, w2) = (lab.w(0), lab.w(1));
    let _s1 = w1.ns.serve(PORT);
    let _s2 = w2.ns.serve(PORT);

    let mut state = allow_all(&lab);
    let first = lab.node.converge(&state);
    assert!(!first.is_empty());
    assert!(w1.ns.ping(&w2.ip), "ping w1 -> w2 with allow-all");
    assert!(w1.ns.tcp(&w2.ip, PORT) && w2.ns.tcp(&w1.ip, PORT));
    assert!(w1.ns.udp(&w2.ip, PORT) && w2.ns.udp(&w1.ip, PORT));
    assert!(w1.ns.ping(&w2.ip6), "ping -6 w1 -> w2 with allow-all");
    assert!(w1.ns.tcp(&w2.ip6, PORT) && w2.ns.tcp(&w1.ip6, PORT));
    assert!(w1.ns.udp(&w2.ip6, PORT) && w2.ns.udp(&w1.ip6, PORT));

    // Default deny on w2's ingress: a tier whose only policy has no rules.
    state.policies.insert(
        "gnp/default-deny".to_owned(),
        Policy {
            tier: "default".to_owned(),
            ..Default::default()
        },
    );
    state.workloads[1].ingress.tiers =
        vec![tier("default", &["gnp/default-deny"], TierDefault::Deny)];
    let batch = lab.node.converge(&state);
    assert!(
        batch.text.contains("flush chain ip calico cali-tw-caliw2"),
        "{}",
        batch.text
    );
    assert!(
        !batch.text.contains("cali-fw-caliw1\n")
            && !batch.text.contains("flush chain ip calico cali-tw-caliw1")
    );
    assert!(!w1.ns.ping(&w2.ip), "ping to w2 must be dropped");
    assert!(!w1.ns.tcp(&w2.ip, PORT), "tcp to w2 must be dropped");
    assert!(!w1.ns.udp(&w2.ip, PORT), "udp to w2 must be dropped");
    // w2 can still open connections: the replies come back as established traffic.
    assert!(w2.ns.tcp(&w1.ip, PORT), "tcp from w2 and its replies");
    assert!(w2.ns.udp(&w1.ip, PORT), "udp from w2 and its replies");
    assert!(w2.ns.ping(&w1.ip), "ping from w2 and its reply");
    assert!(!w1.ns.ping(&w2.ip6) && !w1.ns.tcp(&w2.ip6, PORT) && !w1.ns.udp(&w2.ip6, PORT));
    assert!(w2.ns.tcp(&w1.ip6, PORT) && w2.ns.udp(&w1.ip6, PORT) && w2.ns.ping(&w1.ip6));

    // Converging again changes nothing and runs no nft.
    assert!(lab.node.converge(&state).is_empty());
}

#[test]
fn selector_set_membership_change_takes_effect_without_rule_rewrite() {
    let lab = Lab::new("sets");
    let (w1, w2) = (lab.w(0), lab.w(1));
    let _s2 = w2.ns.serve(PORT);
    let mut state = allow_all(&lab);
    state.ip_sets.insert("clients".to_owned(), Vec::new());
    let mut rule = tcp_port_rule(Action::Allow, PORT);
    rule.source.selector_set = Some("clients".to_owned());
    state.policies.insert(
        "np/demo/allow-clients".to_owned(),
        Policy {
            tier: "default".to_owned(),
            ingress: vec![rule],
            egress: Vec::new(),
        },
    );
    state.workloads[1].ingress.tiers = vec![tier(
        "default",
        &["np/demo/allow-clients"],
        TierDefault::Deny,
    )];
    lab.node.converge(&state);
    assert!(!w1.ns.tcp(&w2.ip, PORT), "w1 is not a client yet");

    state.ip_sets.insert(
        "clients".to_owned(),
        vec![format!("{}/32", w1.ip).parse().unwrap()],
    );
    let batch = lab.node.converge(&state);
    assert_eq!(
        batch.text,
        format!(
            "add table ip calico\nadd element ip calico s_clients {{ {}/32 }}\n",
            w1.ip
        )
    );
    assert_eq!(batch.rules_written, 0);
    assert!(w1.ns.tcp(&w2.ip, PORT), "w1 joined the set");
    assert!(!w1.ns.tcp(&w2.ip, PORT + 1), "only the allowed port");

    state.ip_sets.insert("clients".to_owned(), Vec::new());
    let batch = lab.node.converge(&state);
    assert_eq!(batch.rules_written, 0);
    assert!(batch.text.contains("delete element ip calico s_clients"));
    assert!(!w1.ns.tcp(&w2.ip, PORT), "w1 left the set");
}

#[test]
fn pass_goes_to_next_tier_and_profiles_catch_fall_through() {
    let lab = Lab::new("tiers");
    let (w1, w2) = (lab.w(0), lab.w(1));
    let _s1 = w1.ns.serve(PORT);
    let _s2 = w2.ns.serve(PORT);
    let _s2b = w2.ns.serve(PORT + 1);
    let mut state = allow_all(&lab);
    let policy = |tier: &str, rules: Vec<Rule>| Policy {
        tier: tier.to_owned(),
        ingress: rules,
        egress: Vec::new(),
    };
    // w2: tier security passes PORT (and drops the rest); tier default allows PORT.
    state.policies.insert(
        "gnp/pass-web".into(),
        policy("security", vec![tcp_port_rule(Action::Pass, PORT)]),
    );
    state.policies.insert(
        "gnp/allow-web".into(),
        policy("default", vec![tcp_port_rule(Action::Allow, PORT)]),
    );
    state.workloads[1].ingress = EndpointPolicy {
        tiers: vec![
            tier("security", &["gnp/pass-web"], TierDefault::Deny),
            tier("default", &["gnp/allow-web"], TierDefault::Deny),
        ],
        profiles: Vec::new(),
    };
    // w1: a default-Pass tier whose policy never matches tcp, then the allow-all profile.
    state.policies.insert(
        "gnp/udp-only".into(),
        policy(
            "platform",
            vec![Rule {
                protocol: Some(Protocol::Udp),
                ..allow()
            }],
        ),
    );
    state.workloads[0].ingress.tiers = vec![tier("platform", &["gnp/udp-only"], TierDefault::Pass)];
    lab.node.converge(&state);

    assert!(
        w1.ns.tcp(&w2.ip, PORT),
        "passed by security, allowed by default"
    );
    assert!(!w1.ns.tcp(&w2.ip, PORT + 1), "end of tier security drops");
    assert!(!w1.ns.ping(&w2.ip), "end of tier security drops ping");
    assert!(
        w2.ns.tcp(&w1.ip, PORT),
        "default-Pass tier falls through to the profile"
    );

    // The same Pass with no later tier and no profile: dropped at the end.
    state.workloads[1].ingress.tiers.truncate(1);
    lab.node.converge(&state);
    assert!(!w1.ns.tcp(&w2.ip, PORT), "passed, but no profile allows");
}

#[test]
fn workload_to_host_follows_default_endpoint_to_host_action() {
    let lab = Lab::new("tohost");
    let w1 = lab.w(0);
    let _node = lab.node.serve(PORT);
    let mut state = allow_all(&lab);
    lab.node.converge(&state);
    assert!(!w1.ns.tcp(NODE_IP, PORT), "Drop is the default");
    state.config.endpoint_to_host_action = EndpointToHostAction::Accept;
    lab.node.converge(&state);
    assert!(
        w1.ns.tcp(NODE_IP, PORT),
        "Accept after egress policy allowed"
    );
    state.workloads[0].egress = EndpointPolicy::default();
    lab.node.converge(&state);
    assert!(
        !w1.ns.tcp(NODE_IP, PORT),
        "egress policy still applies first"
    );
}

#[test]
fn drift_is_repaired_from_what_the_reader_sees() {
    let lab = Lab::new("drift");
    let (w1, w2) = (lab.w(0), lab.w(1));
    let _s2 = w2.ns.serve(PORT);
    let mut state = allow_all(&lab);
    state
        .policies
        .insert("gnp/default-deny".to_owned(), Policy::default());
    state.workloads[1].ingress.tiers =
        vec![tier("default", &["gnp/default-deny"], TierDefault::Deny)];
    lab.node.converge(&state);
    assert!(!w1.ns.tcp(&w2.ip, PORT));

    // Someone deletes our table: policy is gone, traffic flows.
    assert!(lab
        .node
        .exec_ok(&["nft", "delete", "table", "ip", "calico"]));
    assert!(w1.ns.tcp(&w2.ip, PORT), "no table, no policy");
    let repaired = lab.node.converge(&state);
    assert!(!repaired.is_empty());
    assert!(!w1.ns.tcp(&w2.ip, PORT), "policy restored");
    assert!(lab.node.converge(&state).is_empty(), "converged");

    // Someone adds a rule to one of our chains and a member to a set: only that is repaired.
    assert!(lab.node.exec_ok(&[
        "nft",
        "insert",
        "rule",
        "ip",
        "calico",
        "cali-tw-caliw2",
        "accept"
    ]));
    assert!(lab.node.exec_ok(&[
        "nft",
        "add",
        "element",
        "ip",
        "calico",
        "all_pools",
        "{ 10.99.0.0/16 }"
    ]));
    assert!(w1.ns.tcp(&w2.ip, PORT), "the foreign rule opens w2");
    let repaired = lab.node.converge(&state);
    assert_eq!(
        repaired.text.matches("flush chain").count(),
        1,
        "{}",
        repaired.text
    );
    assert!(repaired
        .text
        .contains("delete element ip calico all_pools { 10.99.0.0/16 }"));
    assert!(!w1.ns.tcp(&w2.ip, PORT), "foreign rule removed");
}

#[test]
fn golden_rulesets_load_and_read_back_identical() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let ns = Netns::new("golden");
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("-input-"))
        .collect();
    inputs.sort();
    for input in inputs {
        let state: DesiredState =
            serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
        for family in [IpVersion::V4, IpVersion::V6] {
            let table = render(&state, family).unwrap();
            let batch = dataplane::recreate(&table);
            ns.run(|| nft::apply(&batch))
                .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            let read = ns.run(|| nft::read_table(family)).unwrap();
            let again = dataplane::diff(&read, &table);
            assert!(
                again.is_empty(),
                "{} {family:?}: {}",
                input.display(),
                again.text
            );
        }
    }
}

#[test]
fn failed_batch_changes_nothing() {
    let ns = Netns::new("atomic");
    let table = render(&DesiredState::default(), IpVersion::V4).unwrap();
    ns.run(|| nft::converge(&table)).unwrap();
    let mut bad = dataplane::recreate(&table);
    bad.text
        .push_str("add rule ip calico no-such-chain accept\n");
    bad.commands += 1;
    assert!(ns.run(|| nft::apply(&bad)).is_err());
    let read = ns.run(|| nft::read_table(IpVersion::V4)).unwrap();
    assert!(
        dataplane::diff(&read, &table).is_empty(),
        "old table intact"
    );
}

#[test]
fn routes_are_ours_only_and_sysctls_are_set() {
    let lab = Lab::new("routes");
    let ours = list_routes(&lab.node);
    assert_eq!(ours.len(), 5, "{ours:?}");
    // A route of another protocol is never touched.
    lab.node.ip(&[
        "route",
        "add",
        "10.99.0.0/24",
        "dev",
        "eth0",
        "proto",
        "static",
    ]);
    let keep = Route::Workload {
        dst: format!("{}/32", lab.w(0).ip).parse().unwrap(),
        iface: lab.w(0).iface.clone(),
    };
    let desired: BTreeSet<Route> = [keep.clone()].into();
    let diff = node_routes(&lab.node, &desired);
    assert_eq!(diff.delete.len(), 4);
    assert_eq!(list_routes(&lab.node), desired);
    assert!(lab
        .node
        .exec_ok(&["sh", "-c", "ip route show 10.99.0.0/24 | grep -q eth0"]));
    assert!(lab.node.exec_ok(&[
        "sh",
        "-c",
        &format!(
            "ip route show proto {ROUTE_PROTOCOL} | grep -q '{} dev caliw1'",
            lab.w(0).ip
        ),
    ]));
    assert!(node_routes(&lab.node, &desired).is_empty(), "idempotent");
    let proxy_arp = lab
        .node
        .run(|| sysctl::read(&format!("net/ipv4/conf/{}/proxy_arp", lab.w(0).iface)))
        .unwrap();
    assert_eq!(proxy_arp, "1");
}

/// A namespace outside the node, on 192.168.201.0/24 behind the node's `ext0`.
fn outside(lab: &Lab, tag: &str) -> Netns {
    let ext = Netns::new(tag);
    lab.node.ip(&[
        "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", &ext.name,
    ]);
    lab.node
        .ip(&["addr", "add", "192.168.201.1/24", "dev", "ext0"]);
    lab.node.ip(&["link", "set", "ext0", "up"]);
    ext.ip(&["addr", "add", "192.168.201.2/24", "dev", "eth0"]);
    ext.ip(&["link", "set", "eth0", "up"]);
    ext
}

#[test]
fn host_endpoint_denies_by_default_except_failsafe_ports() {
    let lab = Lab::new("hep");
    let ext = outside(&lab, "hep-ext");
    let _node_web = lab.node.serve(PORT);
    let _node_ssh = lab.node.serve(22);
    let _ext_web = ext.serve(PORT);
    let mut state = allow_all(&lab);
    lab.node.converge(&state);
    assert!(ext.tcp("192.168.201.1", PORT) && lab.node.tcp("192.168.201.2", PORT));

    state.host_endpoints.push(HostEndpoint {
        interface: "ext0".into(),
        ..Default::default()
    });
    lab.node.converge(&state);
    assert!(
        !ext.tcp("192.168.201.1", PORT),
        "no policy on the host endpoint: denied"
    );
    assert!(ext.tcp("192.168.201.1", 22), "failsafe inbound tcp:22");
    assert!(
        !lab.node.tcp("192.168.201.2", PORT),
        "egress through the host endpoint denied"
    );
    assert!(!ext.ping("192.168.201.1"));

    state.host_endpoints[0].ingress = open("allow-all");
    lab.node.converge(&state);
    assert!(
        ext.tcp("192.168.201.1", PORT),
        "host endpoint ingress allowed by profile"
    );
    assert!(
        ext.ping("192.168.201.1"),
        "and ping, whose reply leaves as established"
    );
}

#[test]
fn nat_outgoing_masquerades_traffic_leaving_the_pools() {
    let lab = Lab::new("nat");
    let ext = outside(&lab, "nat-ext");
    let _outside = ext.serve(PORT);
    let _inside = lab.w(1).ns.serve(PORT);
    let w1 = lab.w(0);

    let mut state = allow_all(&lab);
    state.config.ip_pools = vec![IpPool {
        cidr: "10.65.0.0/16".parse().unwrap(),
        nat_outgoing: false,
    }];
    lab.node.converge(&state);
    assert!(
        !w1.ns.tcp("192.168.201.2", PORT),
        "outside has no route back to the pool"
    );

    state.config.ip_pools[0].nat_outgoing = true;
    let batch = lab.node.converge(&state);
    assert_eq!(batch.rules_written, 1, "{}", batch.text);
    assert!(
        w1.ns.tcp("192.168.201.2", PORT),
        "masqueraded to the node's address"
    );
    assert!(
        w1.ns.tcp(&lab.w(1).ip, PORT),
        "pool to pool still reachable"
    );
}

/// A small deterministic generator (xorshift), so a failing sequence replays exactly.
struct Gen(u64);

impl Gen {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    fn coin(&mut self) -> bool {
        self.next(2) == 0
    }
}

fn random_state(g: &mut Gen) -> DesiredState {
    let mut s = DesiredState::default();
    for set in ["a", "b", "c"] {
        if g.coin() {
            let members = (0..g.next(6))
                .map(|i| {
                    let net = if g.coin() {
                        format!("10.{}.{}.0/24", g.next(3), i)
                    } else {
                        format!("fd00:{}::{}/128", g.next(3), i + 1)
                    };
                    net.parse().unwrap()
                })
                .collect();
            s.ip_sets.insert(set.into(), members);
        }
    }
    let sets: Vec<String> = s.ip_sets.keys().cloned().collect();
    for p in ["p1", "p2", "p3", "p4"] {
        let mut rules = Vec::new();
        for _ in 0..g.next(3) {
            let action =
                [Action::Allow, Action::Deny, Action::Pass, Action::Log][g.next(4) as usize];
            let mut rule = if g.coin() {
                tcp_port_rule(action, 1000 + g.next(3) as u16)
            } else {
                Rule { action, ..allow() }
            };
            if !sets.is_empty() && g.coin() {
                rule.source.selector_set = Some(sets[g.next(sets.len() as u64) as usize].clone());
            }
            rules.push(rule);
        }
        let tier = if g.coin() { "t1" } else { "t2" };
        s.policies.insert(
            p.into(),
            Policy {
                tier: tier.into(),
                ingress: rules.clone(),
                egress: rules,
            },
        );
    }
    for prof in ["open", "closed"] {
        let rules = if prof == "open" {
            vec![allow()]
        } else {
            Vec::new()
        };
        s.profiles.insert(
            prof.into(),
            Profile {
                ingress: rules.clone(),
                egress: rules,
            },
        );
    }
    let endpoint = |g: &mut Gen| {
        let mut tiers = Vec::new();
        for t in ["t1", "t2"] {
            let policies: Vec<&str> = ["p1", "p2", "p3", "p4"]
                .into_iter()
                .filter(|_| g.coin())
                .collect();
            if !policies.is_empty() {
                let default = if g.coin() {
                    TierDefault::Deny
                } else {
                    TierDefault::Pass
                };
                tiers.push(tier(t, &policies, default));
            }
        }
        let profiles = ["open", "closed"]
            .into_iter()
            .filter(|_| g.coin())
            .map(String::from)
            .collect();
        EndpointPolicy { tiers, profiles }
    };
    for i in 0..5 {
        if g.coin() {
            let ingress = endpoint(g);
            let egress = endpoint(g);
            s.workloads.push(WorkloadEndpoint {
                interface: format!("cali{i}"),
                ingress,
                egress,
            });
        }
    }
    if g.coin() {
        let ingress = endpoint(g);
        s.host_endpoints.push(HostEndpoint {
            interface: "eth9".into(),
            ingress,
            egress: EndpointPolicy::default(),
        });
    }
    s.config.endpoint_to_host_action = [
        EndpointToHostAction::Drop,
        EndpointToHostAction::Accept,
        EndpointToHostAction::Return,
    ][g.next(3) as usize];
    s.config.ip_pools = vec![IpPool {
        cidr: "10.65.0.0/16".parse().unwrap(),
        nat_outgoing: g.coin(),
    }];
    s
}

#[test]
fn random_state_sequences_apply_step_by_step_and_read_back_equal() {
    let ns = Netns::new("seq");
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for family in [IpVersion::V4, IpVersion::V6] {
        let mut previous = dataplane::Table::empty(family);
        for step in 0..25 {
            let state = random_state(&mut g);
            let next = render(&state, family).unwrap();
            let batch = dataplane::diff(&previous, &next);
            ns.run(|| nft::apply(&batch))
                .unwrap_or_else(|e| panic!("{family:?} step {step}: {e}\n{}", batch.text));
            let read = ns.run(|| nft::read_table(family)).unwrap();
            let drift = dataplane::diff(&read, &next);
            assert!(drift.is_empty(), "{family:?} step {step}: {}", drift.text);
            previous = next;
        }
    }
}
