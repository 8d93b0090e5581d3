//! Property test: after any sequence of updates, the incremental model gives
//! the same per-endpoint policy lists and IP-set memberships as a from-scratch
//! recomputation written here independently (straight from the reference
//! docs, with string-built selectors and brute-force scans), its queued
//! deltas replay to its current IP sets, and its verdicts agree with a
//! brute-force evaluator.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::{Kind, Resource};
use ipnet::IpNet;
use policy::{
    trace, Direction, Disposition, EndpointKey, IpSetDelta, IpSetId, Member, Model, Packet, Update,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const SELECTORS: &[&str] = &[
    "",
    "all()",
    "app == '1'",
    "!has(x)",
    "env != '2'",
    "has(app) && x == '1'",
    "app in {'1', '2'}",
    "pcns.team == 'red'",
    "app == '2' || env == '1'",
];
const KEYS: &[&str] = &["app", "env", "x"];
const NAMESPACES: &[&str] = &["a", "b"];
const ENDPOINTS: usize = 6;

fn res(kind: &str, meta: Value, spec: Value) -> Resource {
    Resource::from_json(
        json!({"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec}),
    )
    .unwrap()
}

fn labels_strategy() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        proptest::sample::select(KEYS).prop_map(str::to_owned),
        proptest::sample::select(&["1", "2"][..]).prop_map(str::to_owned),
        0..3,
    )
}

fn selector_strategy() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(SELECTORS)
}

fn rule_strategy() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(&["Allow", "Deny", "Pass", "Log"][..]),
        any::<bool>(),
        prop::option::of(proptest::sample::select(&[80u16, 81][..])),
        prop::option::of(selector_strategy()),
        prop::option::of(selector_strategy()),
        prop::option::of(proptest::sample::select(
            &["all()", "team == 'red'", "global()"][..],
        )),
    )
        .prop_map(|(action, tcp, port, sel, not_sel, ns_sel)| {
            let mut rule = json!({"action": action});
            let mut src = json!({});
            if let Some(s) = sel {
                src["selector"] = json!(s);
            }
            if let Some(s) = not_sel {
                src["notSelector"] = json!(s);
            }
            if let Some(s) = ns_sel {
                src["namespaceSelector"] = json!(s);
            }
            rule["source"] = src;
            if tcp || port.is_some() {
                rule["protocol"] = json!("TCP");
            }
            if let Some(p) = port {
                rule["destination"] = json!({"ports": [p]});
            }
            rule
        })
}

fn endpoint(
    i: usize,
    labels: &BTreeMap<String, String>,
    node: &str,
    with_profile: bool,
) -> Resource {
    let ns = NAMESPACES[i % 2];
    let profiles: Vec<String> = if with_profile {
        vec![format!("kns.{ns}")]
    } else {
        vec![]
    };
    res(
        "WorkloadEndpoint",
        json!({"name": format!("e{i}"), "namespace": ns, "labels": labels}),
        json!({"node": node, "ipNetworks": [format!("10.0.0.{}/32", i + 1)], "profiles": profiles}),
    )
}

#[allow(clippy::too_many_arguments)]
fn policy(
    i: usize,
    global: bool,
    tier1: bool,
    order: Option<u8>,
    sel: &str,
    types: &[&str],
    ingress: &[Value],
    egress: &[Value],
) -> Resource {
    let name = if tier1 {
        format!("t1.p{i}")
    } else {
        format!("p{i}")
    };
    let mut spec = json!({"selector": sel, "ingress": ingress, "egress": egress, "types": types});
    if tier1 {
        spec["tier"] = json!("t1");
    }
    if let Some(o) = order {
        spec["order"] = json!(o);
    }
    if global {
        res("GlobalNetworkPolicy", json!({"name": name}), spec)
    } else {
        res(
            "NetworkPolicy",
            json!({"name": name, "namespace": NAMESPACES[i % 2]}),
            spec,
        )
    }
}

fn op_strategy() -> impl Strategy<Value = Update> {
    let ep = (
        0..ENDPOINTS,
        labels_strategy(),
        proptest::sample::select(&["n1", "n2"][..]),
        any::<bool>(),
    )
        .prop_map(|(i, l, node, p)| Update::Put(endpoint(i, &l, node, p)));
    let del_ep = (0..ENDPOINTS).prop_map(|i| {
        Update::delete_namespaced(Kind::WorkloadEndpoint, NAMESPACES[i % 2], format!("e{i}"))
    });
    let pol = (
        0..5usize,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u8..4),
        selector_strategy(),
        proptest::sample::select(vec![
            vec![],
            vec!["Ingress"],
            vec!["Egress"],
            vec!["Ingress", "Egress"],
        ]),
        proptest::collection::vec(rule_strategy(), 0..3),
        proptest::collection::vec(rule_strategy(), 0..3),
    )
        .prop_map(|(i, g, t, o, s, types, ing, eg)| {
            Update::Put(policy(i, g, t, o, s, &types, &ing, &eg))
        });
    let del_pol = (0..5usize, any::<bool>(), any::<bool>()).prop_map(|(i, g, t)| {
        let name = if t {
            format!("t1.p{i}")
        } else {
            format!("p{i}")
        };
        if g {
            Update::delete(Kind::GlobalNetworkPolicy, name)
        } else {
            Update::delete_namespaced(Kind::NetworkPolicy, NAMESPACES[i % 2], name)
        }
    });
    let profile = (0..2usize, proptest::sample::select(&["red", "blue"][..]), any::<bool>(), any::<bool>()).prop_map(|(n, team, ing, eg)| {
        let allow = |b: bool| if b { json!([{"action": "Allow"}]) } else { json!([]) };
        Update::Put(res(
            "Profile",
            json!({"name": format!("kns.{}", NAMESPACES[n])}),
            json!({"labelsToApply": {"pcns.team": team}, "ingress": allow(ing), "egress": allow(eg)}),
        ))
    });
    let netset = (0..2usize, labels_strategy()).prop_map(|(i, l)| {
        Update::Put(res(
            "GlobalNetworkSet",
            json!({"name": format!("g{i}"), "labels": l}),
            json!({"nets": [format!("192.168.{i}.0/24")]}),
        ))
    });
    let nsset = (0..2usize, labels_strategy()).prop_map(|(i, l)| {
        Update::Put(res(
            "NetworkSet",
            json!({"name": format!("s{i}"), "namespace": "a", "labels": l}),
            json!({"nets": [format!("172.16.{i}.0/24")]}),
        ))
    });
    let hep = (0..2usize, labels_strategy(), proptest::sample::select(&["n1", "n2"][..]), any::<bool>()).prop_map(|(i, l, node, p)| {
        let profiles: Vec<&str> = if p { vec!["kns.a"] } else { vec![] };
        Update::Put(res(
            "HostEndpoint",
            json!({"name": format!("h{i}"), "labels": l}),
            json!({"node": node, "interfaceName": "eth0", "expectedIPs": [format!("10.0.1.{i}")], "profiles": profiles}),
        ))
    });
    let del_other = (0..2usize, 0..4usize).prop_map(|(i, what)| match what {
        0 => Update::delete(Kind::Profile, format!("kns.{}", NAMESPACES[i])),
        1 => Update::delete(Kind::GlobalNetworkSet, format!("g{i}")),
        2 => Update::delete_namespaced(Kind::NetworkSet, "a", format!("s{i}")),
        _ => Update::delete(Kind::HostEndpoint, format!("h{i}")),
    });
    prop_oneof![4 => ep, 1 => del_ep, 4 => pol, 1 => del_pol, 1 => profile, 1 => netset, 1 => nsset, 1 => hep, 1 => del_other]
}

// ---------- the from-scratch reference ----------

/// The final state: last put per key, minus deletes.
#[derive(Default)]
struct State {
    resources: BTreeMap<(Kind, Option<String>, String), Resource>,
}

impl State {
    fn apply(&mut self, u: &Update) {
        match u {
            Update::Put(r) => {
                let mut r = r.clone();
                r.apply_defaults();
                let m = r.metadata();
                self.resources
                    .insert((r.kind(), m.namespace.clone(), m.name.clone()), r);
            }
            Update::Delete {
                kind,
                namespace,
                name,
            } => {
                self.resources
                    .remove(&(*kind, namespace.clone(), name.clone()));
            }
        }
    }

    fn profile_labels(&self, name: &str) -> BTreeMap<String, String> {
        match self.resources.get(&(Kind::Profile, None, name.to_owned())) {
            Some(Resource::Profile(p)) => p.spec.labels_to_apply.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// Every IP-bearing item: (endpoint key if an endpoint, effective labels, nets, node).
    fn items(&self) -> Vec<RefItem> {
        let mut out = Vec::new();
        for r in self.resources.values() {
            match r {
                Resource::WorkloadEndpoint(w) => {
                    let ns = w.metadata.namespace.clone().unwrap();
                    let mut l = w.metadata.labels.clone();
                    l.insert("projectcalico.org/namespace".into(), ns.clone());
                    for p in &w.spec.profiles {
                        for (k, v) in self.profile_labels(p) {
                            l.entry(k).or_insert(v);
                        }
                    }
                    let nets = w
                        .spec
                        .ip_networks
                        .iter()
                        .map(|n| n.parse().unwrap())
                        .collect();
                    out.push((
                        Some(EndpointKey::workload(ns, w.metadata.name.clone())),
                        l,
                        nets,
                        w.spec.node.clone(),
                    ));
                }
                Resource::HostEndpoint(h) => {
                    let mut l = h.metadata.labels.clone();
                    for p in &h.spec.profiles {
                        for (k, v) in self.profile_labels(p) {
                            l.entry(k).or_insert(v);
                        }
                    }
                    let nets = h
                        .spec
                        .expected_ips
                        .iter()
                        .map(|n| IpNet::from(n.parse::<IpAddr>().unwrap()))
                        .collect();
                    out.push((
                        Some(EndpointKey::host(h.metadata.name.clone())),
                        l,
                        nets,
                        h.spec.node.clone(),
                    ));
                }
                Resource::GlobalNetworkSet(s) => {
                    let nets = s.spec.nets.iter().map(|n| n.parse().unwrap()).collect();
                    out.push((None, s.metadata.labels.clone(), nets, String::new()));
                }
                Resource::NetworkSet(s) => {
                    let ns = s.metadata.namespace.clone().unwrap();
                    let mut l = s.metadata.labels.clone();
                    l.insert("projectcalico.org/namespace".into(), ns.clone());
                    for (k, v) in self.profile_labels(&format!("kns.{ns}")) {
                        l.entry(k).or_insert(v);
                    }
                    let nets = s.spec.nets.iter().map(|n| n.parse().unwrap()).collect();
                    out.push((None, l, nets, String::new()));
                }
                _ => {}
            }
        }
        out
    }

    /// (key display, namespace, tier, order, selector text, types, ingress, egress)
    fn policies(&self) -> Vec<RefPolicy> {
        let mut out = Vec::new();
        for r in self.resources.values() {
            let (name, ns, spec_tier, order, sel, types, ing, eg) = match r {
                Resource::NetworkPolicy(p) => {
                    let ns = p.metadata.namespace.clone().unwrap();
                    let s = &p.spec;
                    (
                        format!("{ns}/{}", p.metadata.name),
                        Some(ns),
                        s.tier.clone(),
                        s.order,
                        s.selector.clone(),
                        s.types.clone(),
                        s.ingress.clone(),
                        s.egress.clone(),
                    )
                }
                Resource::GlobalNetworkPolicy(p) => {
                    let s = &p.spec;
                    (
                        p.metadata.name.clone(),
                        None,
                        s.tier.clone(),
                        s.order,
                        s.selector.clone(),
                        s.types.clone(),
                        s.ingress.clone(),
                        s.egress.clone(),
                    )
                }
                _ => continue,
            };
            let sel = if sel.is_empty() {
                "all()".to_owned()
            } else {
                sel
            };
            let sel = match &ns {
                Some(ns) => format!("({sel}) && projectcalico.org/namespace == '{ns}'"),
                None => sel,
            };
            let types = if types.is_empty() {
                // Inference per resources.md.
                match (ing.is_empty(), eg.is_empty()) {
                    (_, true) => vec![api::PolicyType::Ingress],
                    (true, false) => vec![api::PolicyType::Egress],
                    (false, false) => vec![api::PolicyType::Ingress, api::PolicyType::Egress],
                }
            } else {
                types
            };
            out.push(RefPolicy {
                name,
                namespace: ns,
                tier: if spec_tier.is_empty() {
                    "default".into()
                } else {
                    spec_tier
                },
                order,
                selector: selector::parse(&sel).unwrap(),
                ingress: types.contains(&api::PolicyType::Ingress).then_some(ing),
                egress: types.contains(&api::PolicyType::Egress).then_some(eg),
            });
        }
        out
    }

    fn tier(&self, name: &str) -> (f64, api::Action) {
        match self.resources.get(&(Kind::Tier, None, name.to_owned())) {
            Some(Resource::Tier(t)) => (
                t.spec.order.unwrap_or(f64::INFINITY),
                t.spec.default_action.unwrap(),
            ),
            _ => (1_000_000.0, api::Action::Deny),
        }
    }
}

/// An IP-bearing item: endpoint key (if an endpoint), effective labels, nets, node.
type RefItem = (
    Option<EndpointKey>,
    BTreeMap<String, String>,
    Vec<IpNet>,
    String,
);

struct RefPolicy {
    name: String,
    namespace: Option<String>,
    tier: String,
    order: Option<f64>,
    selector: selector::Selector,
    ingress: Option<Vec<api::Rule>>,
    egress: Option<Vec<api::Rule>>,
}

impl RefPolicy {
    fn rules(&self, d: Direction) -> Option<&Vec<api::Rule>> {
        match d {
            Direction::Ingress => self.ingress.as_ref(),
            Direction::Egress => self.egress.as_ref(),
        }
    }
}

/// Calico's getEndpointSelector, written with strings as Calico does.
fn ref_entity_selectors(e: &api::EntityRule, ns: Option<&str>) -> (Option<String>, Option<String>) {
    let ns_sel = if !e.namespace_selector.is_empty() {
        Some(
            selector::namespace_selector(&selector::parse(&e.namespace_selector).unwrap())
                .canonical(),
        )
    } else {
        ns.map(|ns| format!("projectcalico.org/namespace == '{ns}'"))
    };
    let mut sel = (!e.selector.is_empty()).then(|| e.selector.clone());
    if let Some(n) = ns_sel {
        if sel.is_some() || !e.not_selector.is_empty() || !e.namespace_selector.is_empty() {
            sel = Some(match sel {
                Some(s) => format!("({n}) && ({s})"),
                None => n,
            });
        }
    }
    let canon = |s: String| selector::parse(&s).unwrap().canonical();
    (
        sel.map(canon),
        (!e.not_selector.is_empty()).then(|| canon(e.not_selector.clone())),
    )
}

fn sorted_tiers(
    state: &State,
    pols: &[RefPolicy],
    labels: &BTreeMap<String, String>,
    d: Direction,
) -> Vec<(String, Vec<String>)> {
    let mut applicable: Vec<&RefPolicy> = pols
        .iter()
        .filter(|p| p.rules(d).is_some() && p.selector.matches(labels))
        .collect();
    applicable.sort_by(|a, b| {
        let (ta, tb) = (state.tier(&a.tier).0, state.tier(&b.tier).0);
        ta.total_cmp(&tb)
            .then(a.tier.cmp(&b.tier))
            .then(
                a.order
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.order.unwrap_or(f64::INFINITY)),
            )
            .then(a.name.cmp(&b.name))
    });
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for p in applicable {
        match out.last_mut() {
            Some((t, list)) if *t == p.tier => list.push(p.name.clone()),
            _ => out.push((p.tier.clone(), vec![p.name.clone()])),
        }
    }
    out
}

/// Brute-force rule match: selectors are checked against the labels of
/// every item owning the address.
fn ref_rule_matches(state: &State, r: &api::Rule, ns: Option<&str>, pkt: &Packet) -> bool {
    if let Some(p) = r.protocol {
        if p.number() != pkt.protocol {
            return false;
        }
    }
    let items = state.items();
    let owners = |ip: IpAddr| -> Vec<BTreeMap<String, String>> {
        items
            .iter()
            .filter(|(_, _, nets, _)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(_, l, _, _)| l.clone())
            .collect()
    };
    let side =
        |e: &api::EntityRule, ip: IpAddr, port: Option<u16>| {
            let (pos, neg) = ref_entity_selectors(e, ns);
            let o = owners(ip);
            if let Some(p) = pos {
                let s = selector::parse(&p).unwrap();
                if !o.iter().any(|l| s.matches(l)) {
                    return false;
                }
            }
            if let Some(n) = neg {
                let s = selector::parse(&n).unwrap();
                if o.iter().any(|l| s.matches(l)) {
                    return false;
                }
            }
            if !e.ports.is_empty() {
                let Some(port) = port else { return false };
                if !e.ports.iter().any(
                    |p| matches!(p, api::Port::Range { min, max } if *min <= port && port <= *max),
                ) {
                    return false;
                }
            }
            true
        };
    side(&r.source, pkt.src, pkt.src_port) && side(&r.destination, pkt.dst, pkt.dst_port)
}

/// The evaluation algorithm of policy-semantics.md, verbatim.
fn ref_direction(
    state: &State,
    pols: &[RefPolicy],
    ep: &RefItem,
    d: Direction,
    pkt: &Packet,
) -> bool {
    let tiers = sorted_tiers(state, pols, &ep.1, d);
    for (tier, names) in tiers {
        let mut passed = false;
        'policies: for name in names {
            let p = pols.iter().find(|p| p.name == name).unwrap();
            for r in p.rules(d).unwrap() {
                if ref_rule_matches(state, r, p.namespace.as_deref(), pkt) {
                    match r.action {
                        api::Action::Allow => return true,
                        api::Action::Deny => return false,
                        api::Action::Pass => {
                            passed = true;
                            break 'policies;
                        }
                        api::Action::Log => {}
                    }
                }
            }
        }
        if !passed && state.tier(&tier).1 != api::Action::Pass {
            return false;
        }
    }
    let profiles = match &ep.0 {
        Some(EndpointKey::Workload { namespace, name }) => match state.resources.get(&(
            Kind::WorkloadEndpoint,
            Some(namespace.clone()),
            name.clone(),
        )) {
            Some(Resource::WorkloadEndpoint(w)) => w.spec.profiles.clone(),
            _ => return false,
        },
        Some(EndpointKey::Host { name }) => {
            match state
                .resources
                .get(&(Kind::HostEndpoint, None, name.clone()))
            {
                Some(Resource::HostEndpoint(h)) => h.spec.profiles.clone(),
                _ => return false,
            }
        }
        None => return false,
    };
    for prof in &profiles {
        if let Some(Resource::Profile(p)) =
            state.resources.get(&(Kind::Profile, None, prof.clone()))
        {
            let rules = if d == Direction::Ingress {
                &p.spec.ingress
            } else {
                &p.spec.egress
            };
            for r in rules {
                if ref_rule_matches(state, r, None, pkt) {
                    match r.action {
                        api::Action::Allow => return true,
                        api::Action::Deny => return false,
                        _ => {}
                    }
                }
            }
        }
    }
    false
}

fn ref_verdict(state: &State, pols: &[RefPolicy], pkt: &Packet) -> Disposition {
    let items = state.items();
    let local = |ip: IpAddr| {
        items
            .iter()
            .find(|(k, _, nets, node)| {
                k.is_some() && node == "n1" && nets.contains(&IpNet::from(ip))
            })
            .cloned()
    };
    if let Some(src) = local(pkt.src) {
        if !ref_direction(state, pols, &src, Direction::Egress, pkt) {
            return Disposition::Deny;
        }
    }
    if let Some(dst) = local(pkt.dst) {
        if !ref_direction(state, pols, &dst, Direction::Ingress, pkt) {
            return Disposition::Deny;
        }
    }
    Disposition::Allow
}

fn replay(mirror: &mut BTreeMap<String, (IpSetId, BTreeSet<Member>)>, deltas: Vec<IpSetDelta>) {
    for d in deltas {
        match d {
            IpSetDelta::Created { set, members } => {
                assert!(!mirror.contains_key(&set.id), "created twice: {set:?}");
                mirror.insert(set.id.clone(), (set, members.into_iter().collect()));
            }
            IpSetDelta::Updated {
                set,
                added,
                removed,
            } => {
                let entry = &mut mirror.get_mut(&set.id).expect("update of unknown set").1;
                for m in removed {
                    assert!(entry.remove(&m), "removed a non-member");
                }
                for m in added {
                    assert!(entry.insert(m), "added a member twice");
                }
            }
            IpSetDelta::Deleted { set } => {
                assert!(mirror.remove(&set.id).is_some(), "deleted unknown set");
            }
        }
    }
}

/// Every endpoint whose list differs from the last drain must be reported.
fn check_endpoint_changes(
    model: &mut Model,
    last: &mut BTreeMap<EndpointKey, policy::EndpointPolicies>,
) -> Result<(), TestCaseError> {
    let now: BTreeMap<EndpointKey, policy::EndpointPolicies> = model
        .local_endpoints()
        .into_iter()
        .map(|k| {
            let l = model.endpoint_policies(&k).unwrap();
            (k, l)
        })
        .collect();
    let reported = model.take_endpoint_changes();
    for key in now.keys().chain(last.keys()) {
        if now.get(key) != last.get(key) {
            prop_assert!(
                reported.contains(key),
                "{} changed but was not reported",
                key
            );
        }
    }
    *last = now;
    Ok(())
}

fn packet_strategy() -> impl Strategy<Value = Packet> {
    let ips = prop::sample::select(vec![
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.5",
        "10.0.0.6",
        "10.0.1.0",
        "10.0.1.1",
        "192.168.1.5",
        "172.16.0.9",
        "8.8.8.8",
    ]);
    (
        ips.clone(),
        ips,
        any::<bool>(),
        prop::sample::select(&[80u16, 81][..]),
    )
        .prop_map(|(s, d, tcp, port)| {
            let (s, d) = (s.parse().unwrap(), d.parse().unwrap());
            if tcp {
                Packet::tcp(s, 1000, d, port)
            } else {
                Packet::udp(s, 1000, d, port)
            }
        })
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N for a longer run.

    #[test]
    fn incremental_equals_scratch(
        ops in proptest::collection::vec((op_strategy(), any::<bool>()), 1..40),
        tier_pass in any::<bool>(),
        packets in proptest::collection::vec(packet_strategy(), 10),
    ) {
        let mut model = Model::for_node("n1");
        let mut state = State::default();
        let mut mirror = BTreeMap::new();
        let action = if tier_pass { "Pass" } else { "Deny" };
        let tier = Update::Put(res("Tier", json!({"name": "t1"}), json!({"order": 10, "defaultAction": action})));
        model.apply(tier.clone()).unwrap();
        state.apply(&tier);
        let mut lists = BTreeMap::new();
        for (op, drain) in &ops {
            model.apply(op.clone()).unwrap();
            state.apply(op);
            if *drain {
                replay(&mut mirror, model.take_deltas());
                check_endpoint_changes(&mut model, &mut lists)?;
            }
        }
        replay(&mut mirror, model.take_deltas());
        check_endpoint_changes(&mut model, &mut lists)?;

        // Deltas replay to the current sets.
        let sets = model.ip_sets();
        let replayed: BTreeMap<IpSetId, BTreeSet<Member>> = mirror.into_values().collect();
        prop_assert_eq!(&replayed, &sets);

        // Memberships equal a brute-force scan.
        let items = state.items();
        for (id, members) in &sets {
            let s = selector::parse(&id.selector).unwrap();
            let want: BTreeSet<Member> = items.iter().filter(|(_, l, _, _)| s.matches(l))
                .flat_map(|(_, _, nets, _)| nets.iter().map(|n| Member { net: *n, port: None })).collect();
            prop_assert_eq!(members, &want, "set {}", id.selector);
        }

        // The sets in use are exactly the rewritten rule selectors.
        let pols = state.policies();
        let mut want_sets = BTreeSet::new();
        let mut add_rules = |rules: &[api::Rule], ns: Option<&str>| {
            for r in rules {
                for e in [&r.source, &r.destination] {
                    let (p, n) = ref_entity_selectors(e, ns);
                    want_sets.extend(p);
                    want_sets.extend(n);
                }
            }
        };
        for p in &pols {
            for d in [Direction::Ingress, Direction::Egress] {
                if let Some(r) = p.rules(d) {
                    add_rules(r, p.namespace.as_deref());
                }
            }
        }
        for r in state.resources.values() {
            if let Resource::Profile(p) = r {
                add_rules(&p.spec.ingress, None);
                add_rules(&p.spec.egress, None);
            }
        }
        let have_sets: BTreeSet<String> = sets.keys().map(|k| k.selector.clone()).collect();
        prop_assert_eq!(have_sets, want_sets);

        // Per-endpoint policy lists.
        let mut local = Vec::new();
        for (key, labels, _, node) in &items {
            let Some(key) = key else { continue };
            if node != "n1" {
                prop_assert!(model.endpoint_policies(key).is_none());
                continue;
            }
            local.push(key.clone());
            let got = model.endpoint_policies(key).expect("local endpoint");
            for d in [Direction::Ingress, Direction::Egress] {
                let have: Vec<(String, Vec<String>)> = got.tiers(d).iter()
                    .map(|t| (t.tier.clone(), t.policies.iter().map(|p| p.to_string()).collect())).collect();
                prop_assert_eq!(have, sorted_tiers(&state, &pols, labels, d), "{} {:?}", key, d);
            }
        }
        local.sort();
        prop_assert_eq!(model.local_endpoints(), local);

        // Verdicts.
        for pkt in &packets {
            let v = trace(&model, pkt);
            prop_assert_eq!(v.disposition, ref_verdict(&state, &pols, pkt), "{}", v);
        }
    }
}
