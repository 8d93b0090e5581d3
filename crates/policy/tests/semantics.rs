//! One test per semantic rule of reference/policy-semantics.md and
//! selectors.md, through the public API only.

use std::net::IpAddr;

use api::{Kind, Resource};
use policy::{
    trace, ConntrackState, Decision, Direction, Disposition, EndpointKey, Error, IpSetDelta, Model,
    Packet, Peer, PolicyKey, TierOutcome, Update,
};
use serde_json::{json, Value};

fn res(kind: &str, meta: Value, spec: Value) -> Resource {
    Resource::from_json(json!({
        "apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec
    }))
    .unwrap()
}

fn put(m: &mut Model, r: Resource) {
    m.apply(Update::Put(r)).unwrap();
}

fn wep(ns: &str, name: &str, ip: &str, labels: Value, profiles: &[&str]) -> Resource {
    res(
        "WorkloadEndpoint",
        json!({"name": name, "namespace": ns, "labels": labels}),
        json!({"ipNetworks": [format!("{ip}/32")], "profiles": profiles, "orchestrator": "k8s"}),
    )
}

fn gnp(name: &str, spec: Value) -> Resource {
    res("GlobalNetworkPolicy", json!({"name": name}), spec)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(src: &str, dst: &str, port: u16) -> Packet {
    Packet::tcp(ip(src), 40000, ip(dst), port)
}

fn names(m: &Model, ep: &EndpointKey, dir: Direction) -> Vec<(String, Vec<String>)> {
    m.endpoint_policies(ep)
        .unwrap()
        .tiers(dir)
        .iter()
        .map(|t| {
            (
                t.tier.clone(),
                t.policies.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect()
}

/// Two pods in namespace "a": 10.0.0.1 (app=client), 10.0.0.2 (app=server),
/// with no profiles: everything they send or receive is dropped.
fn two_bare_pods() -> Model {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        wep("a", "client", "10.0.0.1", json!({"app": "client"}), &[]),
    );
    put(
        &mut m,
        wep("a", "server", "10.0.0.2", json!({"app": "server"}), &[]),
    );
    m
}

/// The same pods with the allow-all namespace profile `kns.a`, as in k8s.
fn two_pods() -> Model {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        wep(
            "a",
            "client",
            "10.0.0.1",
            json!({"app": "client"}),
            &["kns.a"],
        ),
    );
    put(
        &mut m,
        wep(
            "a",
            "server",
            "10.0.0.2",
            json!({"app": "server"}),
            &["kns.a"],
        ),
    );
    m
}

/// The verdict of the ingress side (the destination's policy) for `p`.
fn ingress_disposition(m: &Model, p: &Packet) -> Disposition {
    trace(m, p).ingress.unwrap().disposition
}

fn server() -> EndpointKey {
    EndpointKey::workload("a", "server")
}

#[test]
fn effective_labels_inherit_from_profiles_own_label_wins() {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"labelsToApply": {"pcns.team": "x", "app": "prof"}}),
        ),
    );
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "p2"}),
            json!({"labelsToApply": {"pcns.team": "y", "z": "1"}}),
        ),
    );
    put(
        &mut m,
        wep(
            "a",
            "w",
            "10.0.0.1",
            json!({"app": "own"}),
            &["kns.a", "p2"],
        ),
    );
    let l = m
        .effective_labels(&EndpointKey::workload("a", "w"))
        .unwrap();
    assert_eq!(l["app"], "own");
    assert_eq!(l["pcns.team"], "x");
    assert_eq!(l["z"], "1");
    assert_eq!(l["projectcalico.org/namespace"], "a");
    assert_eq!(l["projectcalico.org/orchestrator"], "k8s");
    // Changing the profile re-labels the endpoint.
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"labelsToApply": {"pcns.team": "q"}}),
        ),
    );
    let l = m
        .effective_labels(&EndpointKey::workload("a", "w"))
        .unwrap();
    assert_eq!(l["pcns.team"], "q");
    assert!(!l.contains_key("pcns.other"));
}

#[test]
fn tiers_and_policies_are_ordered_and_types_filter_directions() {
    let mut m = two_pods();
    put(
        &mut m,
        res("Tier", json!({"name": "security"}), json!({"order": 100})),
    );
    put(
        &mut m,
        gnp(
            "b",
            json!({"order": 10, "selector": "app == 'server'", "ingress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "a",
            json!({"order": 10, "selector": "all()", "ingress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "last",
            json!({"selector": "all()", "ingress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "security.s",
            json!({"tier": "security", "order": 999, "selector": "all()", "egress": [{"action": "Allow"}], "ingress": [{"action": "Allow"}]}),
        ),
    );
    // Only egress rules: inferred types [Egress].
    put(
        &mut m,
        gnp(
            "eg",
            json!({"order": 1, "selector": "all()", "egress": [{"action": "Deny"}]}),
        ),
    );
    // Explicit types exclude egress even though egress rules exist.
    put(
        &mut m,
        gnp(
            "inonly",
            json!({"order": 2, "selector": "all()", "types": ["Ingress"], "egress": [{"action": "Deny"}]}),
        ),
    );
    let ing = names(&m, &server(), Direction::Ingress);
    assert_eq!(
        ing,
        vec![
            ("security".to_string(), vec!["security.s".to_string()]),
            (
                "default".to_string(),
                vec!["inonly".into(), "a".into(), "b".into(), "last".into()]
            ),
        ]
    );
    let eg = names(&m, &server(), Direction::Egress);
    assert_eq!(
        eg,
        vec![
            ("security".to_string(), vec!["security.s".to_string()]),
            ("default".to_string(), vec!["eg".to_string()]),
        ]
    );
}

#[test]
fn network_policy_selects_only_its_namespace() {
    let mut m = two_pods();
    put(
        &mut m,
        wep("b", "server", "10.0.1.2", json!({"app": "server"}), &[]),
    );
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "p", "namespace": "a"}),
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow"}]}),
        ),
    );
    assert_eq!(names(&m, &server(), Direction::Ingress).len(), 1);
    assert!(names(
        &m,
        &EndpointKey::workload("b", "server"),
        Direction::Ingress
    )
    .is_empty());
}

#[test]
fn allow_rule_allows_and_policy_without_match_drops_at_end_of_tier() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [80]}}]}),
        ),
    );
    let ok = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(ok.disposition, Disposition::Allow);
    assert!(matches!(ok.decided_by, Decision::Policy { rule: 0, .. }));
    let no = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 81));
    assert_eq!(no.disposition, Disposition::Deny);
    assert_eq!(
        no.decided_by,
        Decision::EndOfTier {
            tier: "default".into()
        }
    );
    // Egress of the server and ingress of the client: no policy, the profile allows.
    let back = trace(&m, &tcp("10.0.0.2", "10.0.0.1", 80));
    assert!(matches!(back.decided_by, Decision::Profile { .. }));
    assert_eq!(back.disposition, Disposition::Allow);
    // Without profiles nothing is allowed.
    let bare = two_bare_pods();
    assert_eq!(
        trace(&bare, &tcp("10.0.0.2", "10.0.0.1", 80)).decided_by,
        Decision::NoProfileMatched
    );
}

#[test]
fn ingress_type_with_no_rules_denies_all_ingress() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "open"}),
            json!({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        wep(
            "a",
            "server",
            "10.0.0.2",
            json!({"app": "server"}),
            &["open"],
        ),
    );
    put(
        &mut m,
        wep(
            "a",
            "client",
            "10.0.0.1",
            json!({"app": "client"}),
            &["open"],
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80)).disposition,
        Disposition::Allow
    );
    put(
        &mut m,
        gnp(
            "deny",
            json!({"selector": "app == 'server'", "types": ["Ingress"]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Deny);
    assert_eq!(
        v.decided_by,
        Decision::EndOfTier {
            tier: "default".into()
        }
    );
}

#[test]
fn deny_wins_over_later_allow_and_first_match_decides() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "order": 1, "ingress": [{"action": "Deny", "source": {"selector": "app == 'client'"}}, {"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Deny);
    assert!(matches!(
        v.decided_by,
        Decision::Policy {
            rule: 0,
            action: api::Action::Deny,
            ..
        }
    ));
    assert_eq!(v.egress.as_ref().unwrap().disposition, Disposition::Allow);
}

#[test]
fn pass_skips_rest_of_tier_and_next_tier_decides() {
    let mut m = two_pods();
    put(
        &mut m,
        res("Tier", json!({"name": "first"}), json!({"order": 1})),
    );
    put(
        &mut m,
        gnp(
            "first.pass",
            json!({"tier": "first", "order": 1, "selector": "all()", "ingress": [{"action": "Pass"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "first.deny",
            json!({"tier": "first", "order": 2, "selector": "all()", "ingress": [{"action": "Deny"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "allow",
            json!({"selector": "all()", "ingress": [{"action": "Allow"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Allow);
    let ing = v.ingress.unwrap();
    assert_eq!(ing.tiers[0].outcome, TierOutcome::Passed);
    assert_eq!(
        ing.tiers[0].policies.len(),
        1,
        "first.deny is never visited"
    );
    assert_eq!(ing.tiers[1].outcome, TierOutcome::Decided);
}

#[test]
fn tier_default_action_pass_continues_when_nothing_matched() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "Tier",
            json!({"name": "soft"}),
            json!({"order": 1, "defaultAction": "Pass"}),
        ),
    );
    put(
        &mut m,
        gnp(
            "soft.p",
            json!({"tier": "soft", "selector": "all()", "ingress": [{"action": "Deny", "protocol": "UDP"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "allow",
            json!({"selector": "all()", "ingress": [{"action": "Allow"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Allow);
    assert_eq!(
        v.ingress.unwrap().tiers[0].outcome,
        TierOutcome::DefaultPass
    );
    // The built-in kube-admin tier also defaults to Pass.
    put(
        &mut m,
        gnp(
            "kube-admin.x",
            json!({"tier": "kube-admin", "selector": "all()", "ingress": [{"action": "Deny", "protocol": "UDP"}]}),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80)).disposition,
        Disposition::Allow
    );
}

#[test]
fn log_rule_is_recorded_and_evaluation_continues() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "ingress": [{"action": "Log"}, {"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Allow);
    let rules = &v.ingress.unwrap().tiers[0].policies[0].rules;
    assert_eq!(rules.len(), 2);
    assert!(rules[0].matched && rules[0].action == api::Action::Log);
}

#[test]
fn profiles_only_when_no_tier_applies_and_pass_in_profile_is_no_match() {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "passer"}),
            json!({"ingress": [{"action": "Pass"}]}),
        ),
    );
    put(
        &mut m,
        wep("a", "client", "10.0.0.1", json!({}), &["kns.a"]),
    );
    put(
        &mut m,
        wep(
            "a",
            "server",
            "10.0.0.2",
            json!({"app": "server"}),
            &["passer", "kns.a"],
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Allow);
    assert_eq!(
        v.decided_by,
        Decision::Profile {
            profile: "kns.a".into(),
            rule: 0,
            action: api::Action::Allow
        }
    );
    assert_eq!(v.ingress.as_ref().unwrap().profiles.len(), 2);
    // All tiers passing falls through to the profiles too.
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "ingress": [{"action": "Pass"}], "egress": [{"action": "Pass"}]}),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80)).disposition,
        Disposition::Allow
    );
    // A selecting policy with no matching rule stops before the profiles.
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "ingress": [{"action": "Allow", "protocol": "UDP"}], "egress": [{"action": "Pass"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(v.disposition, Disposition::Deny);
    assert!(v.ingress.unwrap().profiles.is_empty());
}

#[test]
fn conntrack_replies_are_not_reevaluated_and_invalid_is_dropped() {
    let m = two_bare_pods();
    let p = tcp("10.0.0.2", "10.0.0.1", 40000);
    assert_eq!(trace(&m, &p).disposition, Disposition::Deny);
    let reply = p.clone().in_state(ConntrackState::Established);
    assert_eq!(trace(&m, &reply).decided_by, Decision::ConntrackEstablished);
    assert_eq!(trace(&m, &reply).disposition, Disposition::Allow);
    let invalid = p.in_state(ConntrackState::Invalid);
    assert_eq!(trace(&m, &invalid).disposition, Disposition::Deny);
}

#[test]
fn rule_selectors_match_by_ip_including_network_set_cidrs() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "GlobalNetworkSet",
            json!({"name": "dns", "labels": {"role": "dns"}}),
            json!({"nets": ["8.8.0.0/16"]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'client'", "egress": [{"action": "Allow", "destination": {"selector": "role == 'dns'"}}]}),
        ),
    );
    assert_eq!(
        trace(&m, &Packet::udp(ip("10.0.0.1"), 5, ip("8.8.4.4"), 53)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &Packet::udp(ip("10.0.0.1"), 5, ip("9.9.9.9"), 53)).disposition,
        Disposition::Deny
    );
}

#[test]
fn not_selector_and_not_nets_exclude() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "source": {"notSelector": "app == 'client'"}}]}),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 1)).disposition,
        Disposition::Deny
    );
    // notSelector also matches IPs Calico does not know.
    assert_eq!(
        trace(&m, &tcp("1.2.3.4", "10.0.0.2", 1)).disposition,
        Disposition::Allow
    );
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "source": {"nets": ["1.0.0.0/8"], "notNets": ["1.2.0.0/16"]}}]}),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("1.2.3.4", "10.0.0.2", 1)).disposition,
        Disposition::Deny
    );
    assert_eq!(
        trace(&m, &tcp("1.3.3.4", "10.0.0.2", 1)).disposition,
        Disposition::Allow
    );
}

#[test]
fn namespace_selector_uses_namespace_profile_labels() {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"labelsToApply": {"pcns.team": "red"}, "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.b"}),
            json!({"labelsToApply": {"pcns.team": "blue"}, "egress": [{"action": "Allow"}]}),
        ),
    );
    put(&mut m, wep("a", "x", "10.0.0.1", json!({}), &["kns.a"]));
    put(&mut m, wep("b", "y", "10.0.0.3", json!({}), &["kns.b"]));
    put(
        &mut m,
        wep(
            "a",
            "server",
            "10.0.0.2",
            json!({"app": "server"}),
            &["kns.a"],
        ),
    );
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "p", "namespace": "a"}),
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "source": {"namespaceSelector": "team == 'blue'"}}]}),
        ),
    );
    assert_eq!(
        ingress_disposition(&m, &tcp("10.0.0.3", "10.0.0.2", 1)),
        Disposition::Allow
    );
    assert_eq!(
        ingress_disposition(&m, &tcp("10.0.0.1", "10.0.0.2", 1)),
        Disposition::Deny
    );
}

#[test]
fn rule_selector_in_network_policy_is_scoped_to_namespace() {
    let mut m = two_pods();
    put(
        &mut m,
        wep(
            "other",
            "client",
            "10.0.9.1",
            json!({"app": "client"}),
            &["kns.a"],
        ),
    );
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "p", "namespace": "a"}),
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "source": {"selector": "app == 'client'"}}]}),
        ),
    );
    assert_eq!(
        ingress_disposition(&m, &tcp("10.0.0.1", "10.0.0.2", 1)),
        Disposition::Allow
    );
    assert_eq!(
        ingress_disposition(&m, &tcp("10.0.9.1", "10.0.0.2", 1)),
        Disposition::Deny
    );
}

#[test]
fn named_ports_resolve_per_endpoint() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "WorkloadEndpoint",
            json!({"name": "server", "namespace": "a", "labels": {"app": "server"}}),
            json!({"ipNetworks": ["10.0.0.2/32"], "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}]}),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 8080)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80)).disposition,
        Disposition::Deny
    );
    assert_eq!(
        trace(&m, &Packet::udp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 8080)).disposition,
        Disposition::Deny
    );
    let sets = m.ip_sets();
    let named = sets.iter().find(|(id, _)| id.named_port.is_some()).unwrap();
    assert_eq!(
        named.1.iter().map(|m| m.port).collect::<Vec<_>>(),
        vec![Some(8080)]
    );
}

#[test]
fn icmp_type_and_code_match() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}}]}),
        ),
    );
    assert_eq!(
        trace(&m, &Packet::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 8, 0)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &Packet::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 3, 0)).disposition,
        Disposition::Deny
    );
}

#[test]
fn negative_selectors_track_label_absence_incrementally() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "ingress": [{"action": "Allow", "source": {"selector": "!has(quarantine) && env != 'prod'"}}]}),
        ),
    );
    m.take_deltas();
    put(&mut m, wep("a", "new", "10.0.0.7", json!({}), &[]));
    let d = m.take_deltas();
    assert!(
        matches!(&d[..], [IpSetDelta::Updated { added, removed, .. }] if added.len() == 1 && removed.is_empty())
    );
    put(
        &mut m,
        wep("a", "new", "10.0.0.7", json!({"quarantine": "yes"}), &[]),
    );
    let d = m.take_deltas();
    assert!(
        matches!(&d[..], [IpSetDelta::Updated { added, removed, .. }] if added.is_empty() && removed.len() == 1)
    );
    put(
        &mut m,
        wep("a", "new", "10.0.0.7", json!({"env": "dev"}), &[]),
    );
    assert_eq!(m.take_deltas().len(), 1);
    put(
        &mut m,
        wep("a", "new", "10.0.0.7", json!({"env": "prod"}), &[]),
    );
    assert_eq!(m.take_deltas().len(), 1);
}

#[test]
fn deltas_create_update_and_delete_sets_and_coalesce() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "all()", "ingress": [{"action": "Allow", "source": {"selector": "app == 'client'"}}]}),
        ),
    );
    let d = m.take_deltas();
    match &d[..] {
        [IpSetDelta::Created { set, members }] => {
            assert_eq!(set.selector, "app == \"client\"");
            assert!(set.id.starts_with("s:"));
            assert_eq!(members.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    // Add then remove within one batch: nothing to report.
    put(
        &mut m,
        wep("a", "c2", "10.0.0.9", json!({"app": "client"}), &[]),
    );
    m.apply(Update::delete_namespaced(Kind::WorkloadEndpoint, "a", "c2"))
        .unwrap();
    assert!(m.take_deltas().is_empty());
    m.apply(Update::delete(Kind::GlobalNetworkPolicy, "p"))
        .unwrap();
    assert!(matches!(&m.take_deltas()[..], [IpSetDelta::Deleted { .. }]));
    assert!(m.ip_sets().is_empty());
}

#[test]
fn endpoint_changes_report_only_affected_endpoints() {
    let mut m = two_pods();
    m.take_endpoint_changes();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow"}]}),
        ),
    );
    assert_eq!(
        m.take_endpoint_changes().into_iter().collect::<Vec<_>>(),
        vec![server()]
    );
    // Rules changed, selection and order did not.
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Deny"}]}),
        ),
    );
    assert!(m.take_endpoint_changes().is_empty());
    put(
        &mut m,
        wep("a", "client", "10.0.0.1", json!({"app": "server"}), &[]),
    );
    assert_eq!(
        m.take_endpoint_changes().into_iter().collect::<Vec<_>>(),
        vec![EndpointKey::workload("a", "client")]
    );
    put(
        &mut m,
        gnp(
            "p",
            json!({"order": 5, "selector": "app == 'server'", "ingress": [{"action": "Deny"}]}),
        ),
    );
    assert_eq!(m.take_endpoint_changes().len(), 2);
}

#[test]
fn only_local_endpoints_get_policy_lists() {
    let mut m = Model::for_node("n1");
    let mk = |name: &str, node: &str, ip: &str| {
        res(
            "WorkloadEndpoint",
            json!({"name": name, "namespace": "a"}),
            json!({"node": node, "ipNetworks": [ip]}),
        )
    };
    put(&mut m, mk("here", "n1", "10.0.0.1/32"));
    put(&mut m, mk("there", "n2", "10.0.0.2/32"));
    assert_eq!(
        m.local_endpoints(),
        vec![EndpointKey::workload("a", "here")]
    );
    assert!(m
        .endpoint_policies(&EndpointKey::workload("a", "there"))
        .is_none());
    // Remote endpoint: only the local egress side is evaluated.
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert!(v.egress.is_some() && v.ingress.is_none());
}

#[test]
fn bad_input_is_rejected_and_does_not_poison_the_model() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "good",
            json!({"selector": "all()", "ingress": [{"action": "Allow", "source": {"selector": "app == 'client'"}}]}),
        ),
    );
    m.take_deltas();
    m.take_endpoint_changes();
    let before = m.ip_sets();
    let bad_sel = gnp(
        "good",
        json!({"selector": "app = 'x'", "ingress": [{"action": "Deny"}]}),
    );
    let err = m.apply(Update::Put(bad_sel)).unwrap_err();
    assert!(err.to_string().contains("spec.selector"), "{err}");
    let bad_rule = gnp(
        "good",
        json!({"selector": "all()", "ingress": [{"action": "Deny", "source": {"selector": "(("}}]}),
    );
    assert!(m.apply(Update::Put(bad_rule)).is_err());
    let unknown_tier = gnp("nope.p", json!({"tier": "nope", "selector": "all()"}));
    let err = m.apply(Update::Put(unknown_tier)).unwrap_err();
    assert!(
        matches!(err, Error::UnknownTier { ref tier, .. } if tier == "nope"),
        "{err}"
    );
    assert_eq!(m.ip_sets(), before);
    assert!(m.take_deltas().is_empty());
    assert!(m.take_endpoint_changes().is_empty());
    assert_eq!(
        ingress_disposition(&m, &tcp("10.0.0.1", "10.0.0.2", 1)),
        Disposition::Allow
    );
    // Tiers in use and built-in tiers cannot be deleted.
    put(
        &mut m,
        res("Tier", json!({"name": "t"}), json!({"order": 1})),
    );
    put(
        &mut m,
        gnp("t.p", json!({"tier": "t", "selector": "all()"})),
    );
    assert!(matches!(
        m.apply(Update::delete(Kind::Tier, "t")),
        Err(Error::TierInUse { .. })
    ));
    assert!(matches!(
        m.apply(Update::delete(Kind::Tier, "default")),
        Err(Error::BuiltinTier(_))
    ));
    m.apply(Update::delete(Kind::GlobalNetworkPolicy, "t.p"))
        .unwrap();
    m.apply(Update::delete(Kind::Tier, "t")).unwrap();
}

#[test]
fn trace_displays_and_serialises() {
    let mut m = two_pods();
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Deny", "protocol": "UDP"}, {"action": "Allow"}]}),
        ),
    );
    let v = trace(&m, &tcp("10.0.0.1", "10.0.0.2", 80));
    let text = v.to_string();
    assert!(
        text.starts_with("TCP 10.0.0.1:40000 -> 10.0.0.2:80: ALLOW"),
        "{text}"
    );
    assert!(
        text.contains("egress of WorkloadEndpoint(a/client)"),
        "{text}"
    );
    assert!(text.contains("profile kns.a"), "{text}");
    assert!(
        text.contains("ingress of WorkloadEndpoint(a/server)"),
        "{text}"
    );
    assert!(text.contains("rule 0 Deny: no match"), "{text}");
    assert!(
        text.contains("decided by Allow rule 1 of policy p in tier default"),
        "{text}"
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["disposition"], "Allow");
    assert_eq!(json["decidedBy"]["by"], "policy");
    assert_eq!(
        json["ingress"]["tiers"][0]["policies"][0]["rules"][1]["matched"],
        true
    );
    // Without profiles the client's egress drops it and ingress is never reached.
    let bare = two_bare_pods();
    let json = serde_json::to_value(trace(&bare, &tcp("10.0.0.1", "10.0.0.2", 80))).unwrap();
    assert_eq!(json["decidedBy"]["by"], "noProfileMatched");
    assert!(json.get("ingress").is_none());
}

#[test]
fn peers_resolve_from_endpoint_ip_or_labels() {
    let m = two_pods();
    assert_eq!(
        Peer::parse("a/server").unwrap().resolve(&m).unwrap(),
        ip("10.0.0.2")
    );
    assert_eq!(
        Peer::parse("app=client").unwrap().resolve(&m).unwrap(),
        ip("10.0.0.1")
    );
    assert_eq!(
        Peer::parse("192.0.2.1").unwrap().resolve(&m).unwrap(),
        ip("192.0.2.1")
    );
    assert!(Peer::parse("app=nothing").unwrap().resolve(&m).is_err());
    assert!(Peer::parse("garbage").is_err());
    assert_eq!(
        Peer::parse("hep:eth0").unwrap(),
        Peer::Endpoint(EndpointKey::host("eth0"))
    );
    let _ = PolicyKey::global("unused-in-resolve");
}

#[test]
fn rule_views_name_the_ip_sets_the_dataplane_needs() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "p", "namespace": "a"}),
            json!({
                "selector": "app == 'server'",
                "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'client'", "notSelector": "x == '1'"}, "destination": {"ports": [80, "http"]}}]
            }),
        ),
    );
    let rules = m
        .policy_rules(&PolicyKey::namespaced("a", "p"), Direction::Ingress)
        .unwrap();
    let src = &rules[0].source;
    assert_eq!(
        src.ip_set.as_ref().unwrap().selector,
        "(projectcalico.org/namespace == \"a\" && app == \"client\")"
    );
    assert_eq!(src.not_ip_set.as_ref().unwrap().selector, "x == \"1\"");
    let dst = &rules[0].destination;
    assert_eq!(dst.ports, vec![(80, 80)]);
    assert_eq!(
        dst.named_port_sets[0].named_port.as_ref().unwrap().name,
        "http"
    );
    assert_eq!(rules[0].protocol, Some(6));
    assert!(m
        .policy_rules(&PolicyKey::namespaced("a", "p"), Direction::Egress)
        .is_none());
    assert_eq!(
        m.profile_rules("kns.a", Direction::Egress).unwrap().len(),
        1
    );
}

#[test]
fn host_endpoints_are_selected_and_matched_by_expected_ips() {
    let mut m = two_pods();
    put(
        &mut m,
        res(
            "HostEndpoint",
            json!({"name": "h1", "labels": {"role": "node"}}),
            json!({"node": "n1", "interfaceName": "eth0", "expectedIPs": ["192.0.2.10"]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "hosts",
            json!({"selector": "role == 'node'", "ingress": [{"action": "Allow", "source": {"selector": "app == 'client'"}}]}),
        ),
    );
    let h = EndpointKey::host("h1");
    assert_eq!(
        names(&m, &h, Direction::Ingress),
        vec![("default".to_string(), vec!["hosts".to_string()])]
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "192.0.2.10", 22)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.2", "192.0.2.10", 22)).disposition,
        Disposition::Deny
    );
    // A HEP with no egress policy and no profile drops what it sends.
    let v = trace(&m, &tcp("192.0.2.10", "10.0.0.2", 1));
    assert_eq!(v.decided_by, Decision::NoProfileMatched);
    assert!(v.ingress.is_none());
    // Matched by a rule selector through its expected IP.
    put(
        &mut m,
        res(
            "HostEndpoint",
            json!({"name": "h1", "labels": {"role": "node"}}),
            json!({"node": "n1", "interfaceName": "eth0", "expectedIPs": ["192.0.2.10"], "profiles": ["kns.a"]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "p",
            json!({"selector": "app == 'server'", "ingress": [{"action": "Allow", "source": {"selector": "role == 'node'"}}]}),
        ),
    );
    let v = trace(&m, &tcp("192.0.2.10", "10.0.0.2", 1));
    assert_eq!(v.disposition, Disposition::Allow);
    assert!(matches!(v.decided_by, Decision::Policy { ref policy, .. } if policy.name == "p"));
}

#[test]
fn service_account_selectors_use_sa_profile_labels_and_names() {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "ksa.a.api"}),
            json!({"labelsToApply": {"pcsa.tier": "gold"}}),
        ),
    );
    let sa_wep = |name: &str, ip: &str, sa: &str, profiles: &[&str]| {
        res(
            "WorkloadEndpoint",
            json!({"name": name, "namespace": "a"}),
            json!({"ipNetworks": [ip], "serviceAccountName": sa, "profiles": profiles}),
        )
    };
    put(
        &mut m,
        sa_wep("api", "10.0.0.1/32", "api", &["kns.a", "ksa.a.api"]),
    );
    put(&mut m, sa_wep("web", "10.0.0.2/32", "web", &["kns.a"]));
    put(&mut m, sa_wep("db", "10.0.0.3/32", "db", &["kns.a"]));
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "db", "namespace": "a"}),
            json!({
                "selector": "all()", "serviceAccountSelector": "",
                "ingress": [{"action": "Allow", "source": {"serviceAccounts": {"selector": "tier == 'gold'"}}},
                            {"action": "Allow", "source": {"serviceAccounts": {"names": ["web"]}}, "protocol": "TCP", "destination": {"ports": [5432]}}]
            }),
        ),
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.1", "10.0.0.3", 1)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.2", "10.0.0.3", 5432)).disposition,
        Disposition::Allow
    );
    assert_eq!(
        trace(&m, &tcp("10.0.0.2", "10.0.0.3", 1)).disposition,
        Disposition::Deny
    );
    // serviceAccountSelector on the policy narrows which endpoints it selects.
    put(
        &mut m,
        res(
            "NetworkPolicy",
            json!({"name": "gold-only", "namespace": "a"}),
            json!({
                "selector": "all()", "serviceAccountSelector": "tier == 'gold'", "ingress": [{"action": "Deny"}]
            }),
        ),
    );
    assert_eq!(
        names(&m, &EndpointKey::workload("a", "api"), Direction::Ingress)[0].1,
        vec!["a/db", "a/gold-only"]
    );
    assert_eq!(
        names(&m, &EndpointKey::workload("a", "web"), Direction::Ingress)[0].1,
        vec!["a/db"]
    );
}

#[test]
fn gnp_namespace_selector_restricts_selection_to_matching_namespaces() {
    let mut m = Model::cluster_wide();
    put(
        &mut m,
        res(
            "Profile",
            json!({"name": "kns.a"}),
            json!({"labelsToApply": {"pcns.env": "prod"}}),
        ),
    );
    put(&mut m, wep("a", "x", "10.0.0.1", json!({}), &["kns.a"]));
    put(&mut m, wep("b", "y", "10.0.0.2", json!({}), &[]));
    put(
        &mut m,
        res(
            "HostEndpoint",
            json!({"name": "h"}),
            json!({"node": "n", "interfaceName": "eth0"}),
        ),
    );
    put(
        &mut m,
        gnp(
            "prod",
            json!({"namespaceSelector": "env == 'prod'", "ingress": [{"action": "Allow"}]}),
        ),
    );
    put(
        &mut m,
        gnp(
            "any-ns",
            json!({"namespaceSelector": "all()", "ingress": [{"action": "Allow"}]}),
        ),
    );
    assert_eq!(
        names(&m, &EndpointKey::workload("a", "x"), Direction::Ingress)[0].1,
        vec!["any-ns", "prod"]
    );
    assert_eq!(
        names(&m, &EndpointKey::workload("b", "y"), Direction::Ingress)[0].1,
        vec!["any-ns"]
    );
    // all() in a namespaceSelector means "namespaced", so host endpoints are not selected.
    assert!(names(&m, &EndpointKey::host("h"), Direction::Ingress).is_empty());
}
