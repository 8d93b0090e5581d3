//! Unit tests of the pure parts: update mapping, node inputs, desired state, settings.

use std::time::Duration;

use api::{Kind, Resource};
use dataplane::model::{Action, IpVersion, TierDefault};
use dataplane::routes::Route;
use serde_json::json;

use super::*;
use crate::syncer::{SyncKey, SyncValue};

fn resource(v: serde_json::Value) -> Resource {
    Resource::from_json(v).unwrap()
}

fn put(r: Resource) -> SyncUpdate {
    let key = SyncKey::Resource {
        kind: r.kind(),
        namespace: r.metadata().namespace.clone(),
        name: r.metadata().name.clone(),
    };
    SyncUpdate::Put {
        key,
        revision: 1,
        value: SyncValue::Resource(Box::new(r)),
    }
}

fn wep(name: &str, node: &str, iface: &str, ip: &str, labels: serde_json::Value) -> SyncUpdate {
    put(resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"node": node, "orchestrator": "cni", "workload": name, "endpoint": "eth0",
                 "interfaceName": iface, "ipNetworks": [ip], "profiles": ["open"]}
    })))
}

/// A workload endpoint with named ports (`[name, protocol, port]`).
fn wep_ports(
    name: &str,
    node: &str,
    iface: &str,
    ip: &str,
    labels: serde_json::Value,
    ports: &[(&str, &str, u16)],
) -> SyncUpdate {
    let ports: Vec<serde_json::Value> = ports
        .iter()
        .map(|(n, proto, port)| json!({"name": n, "protocol": proto, "port": port}))
        .collect();
    put(resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"node": node, "orchestrator": "cni", "workload": name, "endpoint": "eth0",
                 "interfaceName": iface, "ipNetworks": [ip], "profiles": ["open"],
                 "ports": ports}
    })))
}

fn feed(driver: &mut DataplaneDriver, updates: Vec<SyncUpdate>) {
    for u in &updates {
        driver.handle(u);
    }
}

fn driver() -> DataplaneDriver {
    let mut d = DataplaneDriver::new("n1", Arc::new(Metrics::new()));
    feed(
        &mut d,
        vec![
            put(resource(json!({
                "apiVersion": "projectcalico.org/v3", "kind": "Profile",
                "metadata": {"name": "open"},
                "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}
            }))),
            wep("a", "n1", "calia", "10.65.0.1/32", json!({"app": "web"})),
            wep("b", "n2", "calib", "10.65.1.1/32", json!({"app": "db"})),
        ],
    );
    d
}

#[test]
fn only_local_workloads_get_chains_and_routes() {
    let d = driver();
    let desired = d.desired();
    assert_eq!(desired.state.workloads.len(), 1);
    let w = &desired.state.workloads[0];
    assert_eq!(w.interface, "calia");
    assert_eq!(w.ingress.profiles, vec!["open".to_string()]);
    assert!(w.ingress.tiers.is_empty());
    assert_eq!(
        desired.routes.into_iter().collect::<Vec<_>>(),
        vec![Route::Workload {
            dst: "10.65.0.1/32".parse().unwrap(),
            iface: "calia".into()
        }]
    );
}

#[test]
fn remote_endpoints_feed_selector_sets_and_policies_keep_their_order() {
    let mut d = driver();
    feed(
        &mut d,
        vec![
            put(resource(json!({
                "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                "metadata": {"name": "from-db", "namespace": "ns"},
                "spec": {"order": 10, "selector": "app == 'web'", "types": ["Ingress"],
                         "ingress": [{"action": "Allow", "source": {"selector": "app == 'db'"}}]}
            }))),
            put(resource(json!({
                "apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                "metadata": {"name": "deny-all"},
                "spec": {"order": 20, "selector": "all()", "types": ["Ingress"]}
            }))),
        ],
    );
    let desired = d.desired();
    let tiers = &desired.state.workloads[0].ingress.tiers;
    assert_eq!(tiers.len(), 1);
    assert_eq!(tiers[0].default_action, TierDefault::Deny);
    assert_eq!(tiers[0].policies, vec!["np/ns/from-db", "gnp/deny-all"]);
    let rule = &desired.state.policies["np/ns/from-db"].ingress[0];
    assert_eq!(rule.action, Action::Allow);
    let set = rule.source.selector_set.as_ref().unwrap();
    assert_eq!(
        desired.state.ip_sets[set],
        vec!["10.65.1.1/32".parse::<ipnet::IpNet>().unwrap()]
    );
}

#[test]
fn rejected_update_is_counted_and_the_rest_continues() {
    let mut d = driver();
    let before = d.desired();
    feed(
        &mut d,
        vec![put(resource(json!({
            "apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "broken"},
            "spec": {"selector": "app == ", "types": ["Ingress"]}
        })))],
    );
    assert_eq!(d.desired(), before);
    assert!(d.metrics.render().contains("source=\"policy\""));
    feed(
        &mut d,
        vec![SyncUpdate::Delete {
            key: SyncKey::Resource {
                kind: Kind::WorkloadEndpoint,
                namespace: Some("ns".into()),
                name: "a".into(),
            },
            revision: 2,
        }],
    );
    assert!(d.desired().state.workloads.is_empty());
}

#[test]
fn affine_blocks_become_blackholes_and_pools_feed_nat() {
    let mut d = driver();
    let block = |cidr: &str, affinity: &str| {
        let cidr: ipnet::IpNet = cidr.parse().unwrap();
        let value: ipam::AllocationBlock = serde_json::from_value(json!({
            "cidr": cidr.to_string(), "affinity": affinity,
            "allocations": [null], "unallocated": [0], "attributes": []
        }))
        .unwrap();
        SyncUpdate::Put {
            key: SyncKey::IpamBlock { cidr },
            revision: 3,
            value: SyncValue::IpamBlock(Box::new(value)),
        }
    };
    feed(
        &mut d,
        vec![
            block("10.65.0.0/26", "host:n1"),
            block("10.65.1.0/26", "host:n2"),
            put(resource(json!({
                "apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                "metadata": {"name": "p"},
                "spec": {"cidr": "10.65.0.0/16", "natOutgoing": true}
            }))),
        ],
    );
    let desired = d.desired();
    assert!(desired.routes.contains(&Route::Blackhole {
        dst: "10.65.0.0/26".parse().unwrap()
    }));
    assert_eq!(desired.routes.len(), 2);
    assert_eq!(desired.state.config.ip_pools.len(), 1);
    assert!(desired.state.config.ip_pools[0].nat_outgoing);
}

#[test]
fn applies_are_coalesced_and_wait_for_in_sync() {
    let mut d = driver();
    assert!(d.due_at().is_none(), "nothing before the first InSync");
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::InSync { revision: 5 },
    });
    let due = d.due_at().unwrap();
    assert!(due <= Instant::now());
}

#[test]
fn a_later_resync_keeps_programming_and_drift_checks_on() {
    let mut d = driver();
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::ResyncInProgress {
            reason: "start".into(),
        },
    });
    assert!(!d.in_sync(), "nothing before the first complete copy");
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::InSync { revision: 5 },
    });
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::ResyncInProgress {
            reason: "datastore unreachable".into(),
        },
    });
    assert!(d.in_sync(), "a re-list must not pause drift repair");
    assert!(d.due_at().is_some(), "the pending apply still runs");
}

#[test]
fn refresh_interval_setting() {
    fn env(v: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |_| v.map(str::to_owned)
    }
    assert_eq!(refresh_interval(env(None)).unwrap(), Some(DEFAULT_REFRESH));
    assert_eq!(
        refresh_interval(env(Some("2"))).unwrap(),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        refresh_interval(env(Some("1m30s"))).unwrap(),
        Some(Duration::from_secs(90))
    );
    assert_eq!(refresh_interval(env(Some("0"))).unwrap(), None);
    assert!(refresh_interval(env(Some("soon"))).is_err());
}

fn hep(name: &str, node: &str, iface: &str, labels: serde_json::Value) -> SyncUpdate {
    put(resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
        "metadata": {"name": name, "labels": labels},
        "spec": {"node": node, "interfaceName": iface, "expectedIPs": ["10.0.0.9"]}
    })))
}

fn np(name: &str, spec: serde_json::Value) -> SyncUpdate {
    put(resource(json!({
        "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "ns"}, "spec": spec
    })))
}

fn delete(kind: Kind, namespace: Option<&str>, name: &str) -> SyncUpdate {
    SyncUpdate::Delete {
        key: SyncKey::Resource {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        },
        revision: 9,
    }
}

#[test]
fn named_ports_become_sets_of_address_protocol_port() {
    let mut d = driver();
    feed(
        &mut d,
        vec![
            wep_ports(
                "a",
                "n1",
                "calia",
                "10.65.0.1/32",
                json!({"app": "web"}),
                &[("http", "TCP", 8080), ("dns", "UDP", 53)],
            ),
            wep_ports(
                "b",
                "n2",
                "calib",
                "10.65.1.1/32",
                json!({"app": "web"}),
                &[("http", "TCP", 80)],
            ),
            wep("c", "n2", "calic", "10.65.1.2/32", json!({"app": "web"})),
            np(
                "named",
                json!({"selector": "app == 'web'", "types": ["Ingress", "Egress"],
                       "ingress": [{"action": "Allow", "protocol": "TCP",
                                    "destination": {"ports": ["http", 443]}}],
                       "egress": [{"action": "Deny", "protocol": "UDP",
                                   "destination": {"notPorts": ["dns"]}}]}),
            ),
        ],
    );
    let desired = d.desired();
    let p = &desired.state.policies["np/ns/named"];
    let ingress = &p.ingress[0].destination;
    assert_eq!(ingress.named_port_sets.len(), 1);
    assert_eq!(ingress.ports.len(), 1);
    let egress = &p.egress[0].destination;
    assert_eq!(egress.not_named_port_sets.len(), 1);
    let text = |id: &str| -> Vec<String> {
        desired.state.named_port_sets[id]
            .iter()
            .map(|m| format!("{} {:?} {}", m.addr, m.protocol, m.port))
            .collect()
    };
    // Every endpoint the destination selector matches, local or not, with its own number.
    assert_eq!(
        text(&ingress.named_port_sets[0]),
        ["10.65.0.1 Tcp 8080", "10.65.1.1 Tcp 80"]
    );
    assert_eq!(text(&egress.not_named_port_sets[0]), ["10.65.0.1 Udp 53"]);
    let v4 = dataplane::render(&desired.state, IpVersion::V4).unwrap();
    let set = dataplane::names::named_port_set(&ingress.named_port_sets[0]);
    let bodies: Vec<&str> = v4.chains["cali-pi-np/ns/named"]
        .rules
        .iter()
        .map(|r| r.body.as_str())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[0].starts_with("meta l4proto tcp th dport 443 "));
    assert!(bodies[1].starts_with(&format!(
        "meta l4proto tcp ip daddr . meta l4proto . th dport @{set} "
    )));
    let members: Vec<&str> = v4.sets[&set].elements.iter().map(String::as_str).collect();
    assert_eq!(members, ["10.65.0.1 . tcp . 8080", "10.65.1.1 . tcp . 80"]);
}

/// Brings the driver's tables up to date and checks them against a from-scratch render,
/// and the batch from its edits against a full diff. Returns the rules that batch writes.
fn check_incremental(d: &mut DataplaneDriver, step: &str) -> usize {
    let before = d.cache.as_ref().map(|c| c.tables().clone());
    let update = d.update_tables().unwrap();
    let now = d.cache.as_ref().unwrap().tables().clone();
    let desired = d.desired();
    for (i, family) in [IpVersion::V4, IpVersion::V6].into_iter().enumerate() {
        let want = dataplane::render(&desired.state, family).unwrap();
        assert_eq!(now[i], want, "{step}: tables differ from a full render");
    }
    assert_eq!(
        d.cache.as_ref().unwrap().routes(&d.inputs),
        desired.routes,
        "{step}"
    );
    let TableUpdate::Edited(edits) = update else {
        return usize::MAX;
    };
    let before = before.expect("edits need tables before");
    let mut rules = 0;
    for i in 0..2 {
        let batch = edits[i].batch(&now[i]);
        assert_eq!(batch, dataplane::diff(&before[i], &now[i]), "{step}: batch");
        rules += batch.rules_written;
    }
    rules
}

#[test]
fn incremental_tables_equal_a_full_render_after_every_change() {
    let mut d = driver();
    d.handle(&SyncUpdate::Status {
        status: SyncStatus::InSync { revision: 5 },
    });
    assert_eq!(check_incremental(&mut d, "first build"), usize::MAX);
    let label = |v: &str| json!({"app": v});
    let steps: Vec<(&str, Vec<SyncUpdate>)> = vec![
        (
            "more workloads",
            vec![
                wep("c", "n1", "calic", "10.65.0.3/32", label("web")),
                wep("d", "n1", "calid", "10.65.0.4/32", label("db")),
                wep("e", "n2", "calie", "10.65.1.5/32", label("db")),
            ],
        ),
        (
            "policy with selector sets",
            vec![np(
                "from-db",
                json!({"order": 10, "selector": "app == 'web'", "types": ["Ingress"],
                       "ingress": [{"action": "Allow", "source": {"selector": "app == 'db'"}}]}),
            )],
        ),
        (
            "label change moves set members",
            vec![wep("c", "n1", "calic", "10.65.0.3/32", label("db"))],
        ),
        (
            "policy rules edited",
            vec![np(
                "from-db",
                json!({"order": 10, "selector": "app == 'web'", "types": ["Ingress", "Egress"],
                       "ingress": [{"action": "Deny", "protocol": "TCP",
                                    "source": {"selector": "app == 'db'"}}],
                       "egress": [{"action": "Allow"}]}),
            )],
        ),
        (
            "tiered global policy and a named port",
            vec![
                put(resource(json!({
                    "apiVersion": "projectcalico.org/v3", "kind": "Tier",
                    "metadata": {"name": "sec"}, "spec": {"order": 50}
                }))),
                put(resource(json!({
                    "apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                    "metadata": {"name": "sec.guard"},
                    "spec": {"tier": "sec", "selector": "all()", "types": ["Egress"],
                             "egress": [{"action": "Pass"},
                                        {"action": "Allow", "protocol": "TCP",
                                         "destination": {"ports": ["http"]}}]}
                }))),
            ],
        ),
        (
            "endpoints with named ports join the set",
            vec![
                wep_ports(
                    "g",
                    "n1",
                    "calig",
                    "10.65.0.7/32",
                    label("web"),
                    &[("http", "TCP", 8080)],
                ),
                wep_ports(
                    "h",
                    "n2",
                    "calih",
                    "10.65.1.8/32",
                    label("db"),
                    &[("http", "TCP", 80)],
                ),
            ],
        ),
        (
            "a named port's number changes",
            vec![wep_ports(
                "h",
                "n2",
                "calih",
                "10.65.1.8/32",
                label("db"),
                &[("http", "TCP", 8081)],
            )],
        ),
        (
            "shared interface and a host endpoint",
            vec![
                wep("f", "n1", "calic", "10.65.0.6/32", label("web")),
                hep("h1", "n1", "eth1", label("host")),
                hep("h2", "n1", "calid", label("host")),
            ],
        ),
        (
            "owner of a shared interface goes",
            vec![delete(Kind::WorkloadEndpoint, Some("ns"), "c")],
        ),
        ("profile goes", vec![delete(Kind::Profile, None, "open")]),
        (
            "profile comes back with other rules",
            vec![put(resource(json!({
                "apiVersion": "projectcalico.org/v3", "kind": "Profile",
                "metadata": {"name": "open"},
                "spec": {"ingress": [{"action": "Deny"}], "egress": [{"action": "Allow"}]}
            })))],
        ),
        (
            "pool and felix configuration",
            vec![
                put(resource(json!({
                    "apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                    "metadata": {"name": "p"},
                    "spec": {"cidr": "10.65.0.0/16", "natOutgoing": true}
                }))),
                put(resource(json!({
                    "apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                    "metadata": {"name": "default"},
                    "spec": {"defaultEndpointToHostAction": "Accept"}
                }))),
            ],
        ),
        (
            "workload moves to another node",
            vec![wep("d", "n2", "calid", "10.65.0.4/32", label("db"))],
        ),
        (
            "policies deleted",
            vec![
                delete(Kind::NetworkPolicy, Some("ns"), "from-db"),
                delete(Kind::GlobalNetworkPolicy, None, "sec.guard"),
            ],
        ),
    ];
    for (step, updates) in steps {
        feed(&mut d, updates);
        check_incremental(&mut d, step);
        if step == "a named port's number changes" {
            let v4 = &d.cache.as_ref().unwrap().tables()[0];
            let named: Vec<&String> = v4
                .sets
                .values()
                .filter(|s| s.key == dataplane::table::SetKey::Ipv4ProtoPort)
                .flat_map(|s| &s.elements)
                .collect();
            assert!(
                named.iter().any(|e| *e == "10.65.1.8 . tcp . 8081")
                    && !named.iter().any(|e| *e == "10.65.1.8 . tcp . 80"),
                "{named:?}"
            );
        }
    }
    // A policy for one workload among many rewrites only that workload's and the policy's
    // chains, whatever the number of endpoints.
    feed(
        &mut d,
        (0..200)
            .map(|i| {
                let ip = format!("10.65.2.{}/32", i % 250);
                wep(
                    &format!("w{i}"),
                    "n1",
                    &format!("caliw{i}"),
                    &ip,
                    label("bulk"),
                )
            })
            .collect(),
    );
    check_incremental(&mut d, "200 workloads");
    let written = {
        feed(
            &mut d,
            vec![np(
                "only-a",
                json!({"selector": "app == 'web' && !has(missing)", "types": ["Ingress"],
                       "ingress": [{"action": "Deny"}]}),
            )],
        );
        check_incremental(&mut d, "policy for one workload")
    };
    let total: usize = d
        .cache
        .as_ref()
        .unwrap()
        .tables()
        .iter()
        .map(|t| t.rule_count())
        .sum();
    assert!(
        written > 0 && written * 50 < total,
        "{written} of {total} rules written"
    );
}
