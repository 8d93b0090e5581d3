//! Property tests: `to_json` then `from_json` gives back the same resource, and YAML
//! encoding then decoding does too.

use std::collections::BTreeMap;

use api::{
    decode_documents, encode_yaml, Action, AllowedUse, EncapMode, EntityRule, IPPool, IPPoolSpec,
    IcmpFields, NetworkPolicy, NetworkPolicySpec, ObjectMeta, PolicyType, Port, Protocol, Resource,
    Rule,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn meta(namespaced: bool) -> impl Strategy<Value = ObjectMeta> {
    (
        name(),
        proptest::option::of(name()),
        proptest::collection::btree_map(name(), "[a-zA-Z0-9]{0,6}", 0..3),
        proptest::option::of("[0-9]{1,6}"),
    )
        .prop_map(move |(name, ns, labels, rv)| ObjectMeta {
            name,
            namespace: if namespaced {
                ns.or(Some("default".into()))
            } else {
                None
            },
            labels,
            annotations: BTreeMap::new(),
            resource_version: rv,
            ..Default::default()
        })
}

fn encap() -> impl Strategy<Value = Option<EncapMode>> {
    proptest::option::of(prop_oneof![
        Just(EncapMode::Never),
        Just(EncapMode::Always),
        Just(EncapMode::CrossSubnet)
    ])
}

fn ippool() -> impl Strategy<Value = IPPool> {
    (
        meta(false),
        (any::<[u8; 2]>(), 8u8..=28),
        encap(),
        encap(),
        any::<(bool, bool, bool)>(),
        0u8..=32,
        proptest::collection::vec(
            prop_oneof![
                Just(AllowedUse::Workload),
                Just(AllowedUse::Tunnel),
                Just(AllowedUse::LoadBalancer)
            ],
            0..3,
        ),
    )
        .prop_map(
            |(metadata, (ab, len), ipip, vxlan, (nat, dis, noexp), bs, uses)| IPPool {
                metadata,
                spec: IPPoolSpec {
                    cidr: format!("{}.{}.0.0/{len}", ab[0], ab[1]),
                    ipip_mode: ipip,
                    vxlan_mode: vxlan,
                    nat_outgoing: nat,
                    disabled: dis,
                    disable_bgp_export: noexp,
                    block_size: bs,
                    node_selector: if dis { "has(x)".into() } else { String::new() },
                    allowed_uses: uses,
                    ..Default::default()
                },
                status: None,
            },
        )
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![
        any::<u16>().prop_map(Port::number),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Port::Range {
            min: a.min(b),
            max: a.max(b)
        }),
        "[a-z]{1,8}".prop_map(Port::Named),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Icmp),
        Just(Protocol::IcmpV6),
        Just(Protocol::Sctp),
        Just(Protocol::UdpLite),
        (1u8..=255)
            .prop_filter("named protocols print as names", |n| ![
                1u8, 6, 17, 58, 132, 136
            ]
            .contains(n))
            .prop_map(Protocol::Number),
    ]
}

fn entity() -> impl Strategy<Value = EntityRule> {
    (
        proptest::collection::vec("10\\.[0-9]{1,2}\\.0\\.0/16", 0..3),
        prop_oneof![
            Just(String::new()),
            Just("has(a)".to_string()),
            Just("role == 'db'".to_string())
        ],
        proptest::collection::vec(port(), 0..3),
        proptest::collection::vec(port(), 0..2),
    )
        .prop_map(|(nets, selector, ports, not_ports)| EntityRule {
            nets,
            selector,
            ports,
            not_ports,
            ..Default::default()
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop_oneof![
            Just(Action::Allow),
            Just(Action::Deny),
            Just(Action::Log),
            Just(Action::Pass)
        ],
        proptest::option::of(prop_oneof![Just(4u8), Just(6u8)]),
        proptest::option::of(protocol()),
        proptest::option::of((
            proptest::option::of(0i32..255),
            proptest::option::of(0i32..256),
        )),
        entity(),
        entity(),
    )
        .prop_map(|(action, ipv, proto, icmp, source, destination)| {
            let mut r = Rule::new(action);
            r.ip_version = ipv;
            r.protocol = proto;
            r.icmp = icmp.map(|(t, c)| IcmpFields { type_: t, code: c });
            r.source = source;
            r.destination = destination;
            r
        })
}

fn network_policy() -> impl Strategy<Value = NetworkPolicy> {
    (
        meta(true),
        proptest::option::of(-1000.0f64..1000.0),
        proptest::collection::vec(rule(), 0..3),
        proptest::collection::vec(rule(), 0..3),
        proptest::collection::vec(
            prop_oneof![Just(PolicyType::Ingress), Just(PolicyType::Egress)],
            0..2,
        ),
    )
        .prop_map(|(metadata, order, ingress, egress, types)| NetworkPolicy {
            metadata,
            spec: NetworkPolicySpec {
                tier: "default".into(),
                order,
                ingress,
                egress,
                selector: "all()".into(),
                types,
                ..Default::default()
            },
        })
}

proptest! {
    #[test]
    fn ippool_json_round_trip(p in ippool()) {
        let r = Resource::IPPool(p);
        prop_assert_eq!(Resource::from_json(r.to_json()).unwrap(), r.clone());
        let yaml = encode_yaml(&[r.to_json()]).unwrap();
        prop_assert_eq!(decode_documents(&yaml).unwrap(), vec![r]);
    }

    #[test]
    fn network_policy_json_round_trip(p in network_policy()) {
        let r = Resource::NetworkPolicy(p);
        prop_assert_eq!(Resource::from_json(r.to_json()).unwrap(), r.clone());
        let yaml = encode_yaml(&[r.to_json(), r.to_json()]).unwrap();
        prop_assert_eq!(decode_documents(&yaml).unwrap(), vec![r.clone(), r]);
    }

    #[test]
    fn defaulted_pools_round_trip(p in ippool()) {
        let mut r = Resource::IPPool(p);
        r.apply_defaults();
        prop_assert_eq!(Resource::from_json(r.to_json()).unwrap(), r);
    }
}
