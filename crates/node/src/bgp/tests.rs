//! Unit tests of the pure BGP computations: peers (mesh, global, node-specific, selectors,
//! route reflectors, AS numbers, ports, passwords, next hop, local AS, GTSM), exports, the
//! export filter, BGPFilters and the kernel route choice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use api::{
    AsNumber, BGPConfiguration, BGPConfigurationSpec, BGPPeer, BGPPeerSpec, BgpPassword, BindMode,
    CidrBlock, Community as ApiCommunity, EncapMode, IPPool, IPPoolSpec, Kind, NextHopMode, Node,
    NodeBgpSpec, NodeSpec, ObjectMeta, PrefixAdvertisement, Resource, ReversePeering, SecretKeyRef,
    SourceAddress,
};
use bgp::codec::{Family, LargeCommunity, MpNextHop, PathAttributes};
use bgp::rib::{PeerInfo, Verdict};
use ipam::AllocationBlock;
use ipnet::IpNet;

use super::exports::{parse_community, Community};
use super::fib::{fib_diff, FibDiff};
use super::*;
use crate::syncer::{SyncKey, SyncUpdate, SyncValue};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[derive(Default)]
struct N {
    v4: &'static str,
    v6: &'static str,
    asn: Option<u32>,
    labels: &'static [(&'static str, &'static str)],
    cid: &'static str,
}

fn node(name: &str, n: N) -> Resource {
    let mut meta = ObjectMeta::named(name);
    meta.labels = n
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Resource::Node(Node {
        metadata: meta,
        spec: NodeSpec {
            bgp: Some(NodeBgpSpec {
                ipv4_address: n.v4.into(),
                ipv6_address: n.v6.into(),
                as_number: n.asn.map(AsNumber),
                route_reflector_cluster_id: n.cid.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn v4(name: &str, addr: &'static str) -> Resource {
    node(
        name,
        N {
            v4: addr,
            ..Default::default()
        },
    )
}

fn peer(name: &str, spec: BGPPeerSpec) -> Resource {
    Resource::BGPPeer(BGPPeer {
        metadata: ObjectMeta::named(name),
        spec,
    })
}

fn config(name: &str, spec: BGPConfigurationSpec) -> Resource {
    Resource::BGPConfiguration(BGPConfiguration {
        metadata: ObjectMeta::named(name),
        spec,
    })
}

fn mesh_off() -> Resource {
    config(
        "default",
        BGPConfigurationSpec {
            node_to_node_mesh_enabled: Some(false),
            ..Default::default()
        },
    )
}

fn pool(name: &str, cidr: &str, disable_export: bool, ipip: bool) -> Resource {
    Resource::IPPool(IPPool {
        metadata: ObjectMeta::named(name),
        spec: IPPoolSpec {
            cidr: cidr.into(),
            disable_bgp_export: disable_export,
            ipip_mode: ipip.then_some(EncapMode::Always),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// A block affine to `host` with the given addresses allocated to the given nodes.
fn block(cidr: &str, host: Option<&str>, allocated: &[(&str, &str)]) -> AllocationBlock {
    let mut b = AllocationBlock::new(net(cidr), host);
    for (addr, node) in allocated {
        let attrs = BTreeMap::from([("node".to_string(), node.to_string())]);
        assert!(b.assign(ip(addr), Some("h"), &attrs));
    }
    b
}

fn put(r: Resource) -> SyncUpdate {
    let (kind, name) = match &r {
        Resource::Node(n) => (Kind::Node, n.metadata.name.clone()),
        Resource::BGPPeer(p) => (Kind::BGPPeer, p.metadata.name.clone()),
        Resource::BGPConfiguration(c) => (Kind::BGPConfiguration, c.metadata.name.clone()),
        Resource::IPPool(p) => (Kind::IPPool, p.metadata.name.clone()),
        other => panic!("unexpected {other:?}"),
    };
    SyncUpdate::Put {
        key: SyncKey::Resource {
            kind,
            namespace: None,
            name,
        },
        revision: 1,
        value: SyncValue::Resource(Box::new(r)),
    }
}

fn inputs(resources: Vec<Resource>, blocks: Vec<AllocationBlock>) -> BgpInputs {
    let mut i = BgpInputs::default();
    for r in resources {
        i.apply(&put(r));
    }
    for b in blocks {
        i.apply(&SyncUpdate::Put {
            key: SyncKey::IpamBlock { cidr: b.cidr },
            revision: 1,
            value: SyncValue::IpamBlock(Box::new(b)),
        });
    }
    i
}

fn no_secrets(r: &SecretKeyRef) -> Result<String, String> {
    Err(format!("no secret {}", r.name))
}

fn plan(me: &str, i: &BgpInputs) -> PeerPlan {
    compute_peers(me, i, &no_secrets)
}

/// (address, type, remote AS, passive, rr client) of every session.
fn summary(p: &PeerPlan) -> Vec<(IpAddr, PeerType, u32, bool, bool)> {
    p.peers
        .values()
        .map(|d| (d.address, d.peer_type, d.remote_as, d.passive, d.rr_client))
        .collect()
}

fn three_nodes() -> Vec<Resource> {
    vec![
        node(
            "a",
            N {
                v4: "10.0.0.1/24",
                v6: "fd00::1/64",
                ..Default::default()
            },
        ),
        node(
            "b",
            N {
                v4: "10.0.0.2/24",
                v6: "fd00::2/64",
                ..Default::default()
            },
        ),
        v4("c", "10.0.0.3/24"),
    ]
}

#[test]
fn full_mesh_by_default_per_family_with_one_active_end() {
    let i = inputs(three_nodes(), vec![]);
    let a = plan("a", &i);
    assert_eq!(
        summary(&a),
        vec![
            (ip("10.0.0.2"), PeerType::Mesh, 64512, true, false),
            (ip("10.0.0.3"), PeerType::Mesh, 64512, true, false),
            (ip("fd00::2"), PeerType::Mesh, 64512, true, false),
        ]
    );
    let m = &a.peers[&ip("10.0.0.2")];
    assert_eq!(m.name, "Mesh_10_0_0_2");
    assert_eq!(m.port, 179);
    assert_eq!(m.source, Some(ip("10.0.0.1")));
    assert_eq!(m.password, None);
    assert_eq!(m.next_hop, NextHop::Auto);
    assert_eq!((m.hold_time, m.restart_time), (240, 120));
    assert_eq!(a.peers[&ip("fd00::2")].name, "Mesh_fd00__2");
    assert_eq!(a.peers[&ip("fd00::2")].source, Some(ip("fd00::1")));
    let local = a.local.unwrap();
    assert_eq!(local.asn, 64512);
    assert_eq!(local.router_id, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(local.listen, "[::]:179".parse().unwrap());
    assert_eq!(local.cluster_id, None);
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    // The other ends: c connects to both, b waits for c and connects to a.
    let c = plan("c", &i);
    assert_eq!(
        summary(&c),
        vec![
            (ip("10.0.0.1"), PeerType::Mesh, 64512, false, false),
            (ip("10.0.0.2"), PeerType::Mesh, 64512, false, false),
        ]
    );
    let b = plan("b", &i);
    assert!(!b.peers[&ip("10.0.0.1")].passive);
    assert!(b.peers[&ip("10.0.0.3")].passive);
    assert!(!b.peers[&ip("fd00::1")].passive);
}

#[test]
fn the_mesh_end_that_waits_is_chosen_by_address_text_like_calico() {
    // As text "172.31.0.99" sorts after "172.31.0.100": .100 waits for .99, as Calico's
    // confd would configure BIRD on either node.
    assert!(peers::mesh_passive(ip("172.31.0.99"), ip("172.31.0.100")));
    assert!(!peers::mesh_passive(ip("172.31.0.100"), ip("172.31.0.99")));
    assert!(peers::mesh_passive(ip("10.0.0.5"), ip("10.0.0.10")));
    let addrs = [
        "172.31.0.9",
        "172.31.0.99",
        "172.31.0.100",
        "10.0.0.1",
        "fd00::2",
        "fd00::10",
        "fd00::a",
    ];
    for x in addrs {
        assert!(!peers::mesh_passive(ip(x), ip(x)));
        for y in addrs.into_iter().filter(|y| *y != x) {
            assert_ne!(
                peers::mesh_passive(ip(x), ip(y)),
                peers::mesh_passive(ip(y), ip(x)),
                "exactly one of {x} and {y} connects"
            );
        }
    }
    let i = inputs(
        vec![v4("x", "172.31.0.99/24"), v4("y", "172.31.0.100/24")],
        vec![],
    );
    assert!(!plan("x", &i).peers[&ip("172.31.0.100")].passive);
    assert!(plan("y", &i).peers[&ip("172.31.0.99")].passive);
}

/// The retry waits an active session of `config` chooses after each of `failures`
/// consecutive refused connections, checking that each wait ends in a new attempt.
fn retry_waits(
    session: &mut bgp::fsm::Session,
    now: &mut std::time::Instant,
    failures: usize,
) -> Vec<std::time::Duration> {
    use bgp::fsm::{Action, Event, Timer};
    let mut waits = Vec::new();
    for _ in 0..failures {
        let actions = session.handle(Event::TcpConnectionFails, *now);
        let wait = actions
            .iter()
            .find_map(|a| match a {
                Action::StartTimer(Timer::ConnectRetry, d) => Some(*d),
                _ => None,
            })
            .expect("the connect-retry timer is armed");
        assert_eq!(session.next_deadline(), Some(*now + wait));
        *now += wait;
        assert!(session.poll_timers(*now).contains(&Action::Connect));
        waits.push(wait);
    }
    waits
}

#[test]
fn connect_retries_are_quick_at_first_then_calicos_five_seconds() {
    use bgp::codec::{Capability, Open};
    use bgp::fsm::{Action, Event, Session, SessionConfig, State};
    use std::time::{Duration, Instant};

    let i = inputs(three_nodes(), vec![]);
    let c = plan("c", &i).peers[&ip("10.0.0.1")].to_config();
    assert!(!c.passive);
    assert_eq!(c.connect_retry, Duration::from_secs(5));
    let ms = Duration::from_millis;
    assert_eq!(c.connect_retry_fast, vec![ms(500), ms(1000), ms(2000)]);

    // The schedule as the speaker's session FSM applies it.
    let mut session = Session::new(SessionConfig {
        connect_retry: c.connect_retry,
        connect_retry_fast: c.connect_retry_fast.clone(),
        families: c.families.clone(),
        ..SessionConfig::new(64512, 64512, Ipv4Addr::new(10, 0, 0, 3))
    });
    let mut now = Instant::now();
    assert!(session
        .handle(Event::ManualStart, now)
        .contains(&Action::Connect));
    let five = Duration::from_secs(5);
    assert_eq!(
        retry_waits(&mut session, &mut now, 5),
        vec![ms(500), ms(1000), ms(2000), five, five]
    );

    // A session that came up starts over with quick retries when it drops.
    session.handle(Event::TcpConnected, now);
    let open = Open::new(
        64512,
        90,
        Ipv4Addr::new(10, 0, 0, 1),
        vec![Capability::Multiprotocol(Family::Ipv4Unicast)],
    );
    session.handle(Event::BgpOpen(open), now);
    session.handle(Event::KeepAliveMsg, now);
    assert_eq!(session.state(), State::Established);
    session.handle(Event::TcpConnectionFails, now);
    assert_eq!(session.state(), State::Idle);
    now = session.next_deadline().expect("automatic restart armed");
    assert!(session.poll_timers(now).contains(&Action::Connect));
    assert_eq!(
        retry_waits(&mut session, &mut now, 2),
        vec![ms(500), ms(1000)]
    );

    // So does one restarted by the operator.
    session.handle(Event::ManualStop, now);
    session.handle(Event::ManualStart, now);
    assert_eq!(retry_waits(&mut session, &mut now, 1), vec![ms(500)]);
}

#[test]
fn session_families_follow_the_address() {
    let i = inputs(three_nodes(), vec![]);
    let a = plan("a", &i);
    let c4 = a.peers[&ip("10.0.0.2")].to_config();
    assert_eq!(c4.families, vec![Family::Ipv4Unicast]);
    assert_eq!(c4.remote_as, 64512);
    assert!(c4.passive);
    assert_eq!(c4.graceful_restart, Some(120));
    let c6 = a.peers[&ip("fd00::2")].to_config();
    assert_eq!(c6.families, vec![Family::Ipv6Unicast]);
    assert_eq!(c6.source, Some(ip("fd00::1")));
}

#[test]
fn mesh_can_be_disabled() {
    let mut r = three_nodes();
    r.push(mesh_off());
    let i = inputs(r, vec![]);
    let a = plan("a", &i);
    assert!(a.peers.is_empty());
    assert!(a.local.is_some());
}

#[test]
fn no_node_or_no_address_means_no_speaker() {
    let i = inputs(vec![v4("a", "")], vec![]);
    let p = plan("a", &i);
    assert!(p.local.is_none() && p.peers.is_empty());
    assert!(p.problems[0].contains("no BGP IPv4 or IPv6 address"));
    let p = plan("zz", &i);
    assert!(p.local.is_none());
    assert!(p.problems[0].contains("no Node resource"));
}

#[test]
fn global_peer_applies_everywhere_in_its_family() {
    let mut r = three_nodes();
    r.push(mesh_off());
    r.push(peer(
        "tor",
        BGPPeerSpec {
            peer_ip: "192.0.2.1".into(),
            as_number: Some(AsNumber(65000)),
            ..Default::default()
        },
    ));
    r.push(peer(
        "tor6",
        BGPPeerSpec {
            peer_ip: "[fd00:ff::1]:1179".into(),
            as_number: Some(AsNumber(65000)),
            node_selector: "all()".into(),
            ..Default::default()
        },
    ));
    let i = inputs(r, vec![]);
    let a = plan("a", &i);
    assert_eq!(
        summary(&a),
        vec![
            (ip("192.0.2.1"), PeerType::Global, 65000, false, false),
            (ip("fd00:ff::1"), PeerType::Global, 65000, false, false),
        ]
    );
    assert_eq!(a.peers[&ip("192.0.2.1")].name, "Global_192_0_2_1");
    assert_eq!(a.peers[&ip("192.0.2.1")].port, 179);
    assert_eq!(a.peers[&ip("fd00:ff::1")].port, 1179);
    // c has no IPv6 address, so no IPv6 session.
    let c = plan("c", &i);
    assert_eq!(
        c.peers.keys().copied().collect::<Vec<_>>(),
        [ip("192.0.2.1")]
    );
}

#[test]
fn node_specific_peers_by_name_and_selector() {
    let mut r = vec![
        node(
            "a",
            N {
                v4: "10.0.0.1/24",
                labels: &[("rack", "r1")],
                ..Default::default()
            },
        ),
        node(
            "b",
            N {
                v4: "10.0.0.2/24",
                labels: &[("rack", "r2")],
                ..Default::default()
            },
        ),
        mesh_off(),
    ];
    r.push(peer(
        "only-b",
        BGPPeerSpec {
            node: "b".into(),
            peer_ip: "192.0.2.2".into(),
            as_number: Some(AsNumber(65002)),
            ..Default::default()
        },
    ));
    r.push(peer(
        "rack1",
        BGPPeerSpec {
            node_selector: "rack == 'r1'".into(),
            peer_ip: "192.0.2.1".into(),
            as_number: Some(AsNumber(65001)),
            ..Default::default()
        },
    ));
    let i = inputs(r, vec![]);
    let a = plan("a", &i);
    assert_eq!(
        summary(&a),
        vec![(ip("192.0.2.1"), PeerType::NodeSpecific, 65001, false, false)]
    );
    assert_eq!(a.peers[&ip("192.0.2.1")].name, "Node_192_0_2_1");
    let b = plan("b", &i);
    assert_eq!(
        summary(&b),
        vec![(ip("192.0.2.2"), PeerType::NodeSpecific, 65002, false, false)]
    );
}

#[test]
fn bad_selector_matches_nothing_and_is_reported() {
    let r = vec![
        v4("a", "10.0.0.1/24"),
        mesh_off(),
        peer(
            "bad",
            BGPPeerSpec {
                node_selector: "rack ==".into(),
                peer_ip: "192.0.2.1".into(),
                as_number: Some(AsNumber(65001)),
                ..Default::default()
            },
        ),
    ];
    let a = plan("a", &inputs(r, vec![]));
    assert!(a.peers.is_empty());
    assert_eq!(a.problems.len(), 1);
    assert!(a.problems[0].contains("rack =="), "{:?}", a.problems);
}

fn rr_cluster() -> Vec<Resource> {
    let rr = |name, addr| {
        node(
            name,
            N {
                v4: addr,
                labels: &[("route-reflector", "true")],
                cid: "1.0.0.1",
                ..Default::default()
            },
        )
    };
    vec![
        v4("a", "10.0.0.1/24"),
        v4("b", "10.0.0.2/24"),
        rr("rr1", "10.0.0.11/24"),
        rr("rr2", "10.0.0.12/24"),
        mesh_off(),
        peer(
            "peer-with-route-reflectors",
            BGPPeerSpec {
                node_selector: "all()".into(),
                peer_selector: "route-reflector == 'true'".into(),
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn route_reflector_clients_peer_only_with_reflectors() {
    let i = inputs(rr_cluster(), vec![]);
    let a = plan("a", &i);
    assert_eq!(
        summary(&a),
        vec![
            (
                ip("10.0.0.11"),
                PeerType::RouteReflector,
                64512,
                true,
                false
            ),
            (
                ip("10.0.0.12"),
                PeerType::RouteReflector,
                64512,
                true,
                false
            ),
        ]
    );
    assert_eq!(a.peers[&ip("10.0.0.11")].name, "Node_10_0_0_11");
    assert_eq!(a.local.unwrap().cluster_id, None);
}

#[test]
fn route_reflectors_serve_clients_and_peer_plainly_with_each_other() {
    let i = inputs(rr_cluster(), vec![]);
    let rr1 = plan("rr1", &i);
    assert_eq!(
        summary(&rr1),
        vec![
            // Clients (the reverse of their peerSelector peering): rr client. Which end
            // connects is decided on the addresses as strings, like Calico: "10.0.0.2" >
            // "10.0.0.11", so rr1 waits for b.
            (ip("10.0.0.1"), PeerType::Global, 64512, false, true),
            (ip("10.0.0.2"), PeerType::Global, 64512, true, true),
            // The other reflector of the same cluster: plain iBGP, higher address connects.
            (ip("10.0.0.12"), PeerType::Global, 64512, true, false),
        ]
    );
    assert_eq!(
        rr1.local.unwrap().cluster_id,
        Some(Ipv4Addr::new(1, 0, 0, 1))
    );
    let rr2 = plan("rr2", &i);
    assert!(!rr2.peers[&ip("10.0.0.11")].passive);
}

#[test]
fn manual_reverse_peering_leaves_the_reverse_side_out() {
    let mut r = rr_cluster();
    r.pop();
    r.push(peer(
        "to-rr",
        BGPPeerSpec {
            node_selector: "!has(route-reflector)".into(),
            peer_selector: "route-reflector == 'true'".into(),
            reverse_peering: Some(ReversePeering::Manual),
            ..Default::default()
        },
    ));
    let i = inputs(r, vec![]);
    assert!(plan("rr1", &i).peers.is_empty());
    assert_eq!(plan("a", &i).peers.len(), 2);
}

#[test]
fn reflector_with_mesh_on_makes_other_clusters_clients() {
    let mut r = rr_cluster();
    r.remove(4); // mesh back on
    r.pop();
    let i = inputs(r, vec![]);
    let rr1 = plan("rr1", &i);
    assert_eq!(
        summary(&rr1),
        vec![
            (ip("10.0.0.1"), PeerType::Mesh, 64512, false, true),
            (ip("10.0.0.2"), PeerType::Mesh, 64512, true, true),
            (ip("10.0.0.12"), PeerType::Mesh, 64512, true, false),
        ]
    );
}

#[test]
fn invalid_cluster_id_is_reported_and_ignored() {
    let r = vec![node(
        "a",
        N {
            v4: "10.0.0.1/24",
            cid: "not-an-ip",
            ..Default::default()
        },
    )];
    let a = plan("a", &inputs(r, vec![]));
    assert_eq!(a.local.unwrap().cluster_id, None);
    assert!(a.problems[0].contains("routeReflectorClusterID"));
}

#[test]
fn per_node_and_default_as_numbers() {
    let r = vec![
        node(
            "a",
            N {
                v4: "10.0.0.1/24",
                asn: Some(65001),
                ..Default::default()
            },
        ),
        v4("b", "10.0.0.2/24"),
        config(
            "default",
            BGPConfigurationSpec {
                as_number: Some(AsNumber(63400)),
                ..Default::default()
            },
        ),
        peer(
            "no-as-calico",
            BGPPeerSpec {
                peer_ip: "10.0.0.2".into(),
                ..Default::default()
            },
        ),
        peer(
            "no-as-external",
            BGPPeerSpec {
                peer_ip: "192.0.2.9".into(),
                ..Default::default()
            },
        ),
    ];
    let i = inputs(r, vec![]);
    let a = plan("a", &i);
    assert_eq!(a.local.as_ref().unwrap().asn, 65001);
    // The mesh session to b wins over the duplicate peerIP peer; b is in the default AS.
    assert_eq!(
        summary(&a),
        vec![(ip("10.0.0.2"), PeerType::Mesh, 63400, true, false)]
    );
    assert!(a.problems[0].contains("192.0.2.9 has no asNumber"));
    let b = plan("b", &i);
    assert_eq!(b.local.unwrap().asn, 63400);
    assert_eq!(b.peers[&ip("10.0.0.1")].remote_as, 65001);
}

#[test]
fn never_peers_with_itself() {
    let r = vec![
        v4("a", "10.0.0.1/24"),
        peer(
            "self",
            BGPPeerSpec {
                peer_ip: "10.0.0.1".into(),
                as_number: Some(AsNumber(64512)),
                ..Default::default()
            },
        ),
    ];
    assert!(plan("a", &inputs(r, vec![])).peers.is_empty());
}

fn secret(name: &str, key: &str) -> Option<BgpPassword> {
    Some(BgpPassword {
        secret_key_ref: Some(SecretKeyRef {
            name: name.into(),
            key: key.into(),
            optional: None,
        }),
    })
}

#[test]
fn passwords_come_from_secrets_and_missing_ones_drop_the_session() {
    let mut r = three_nodes();
    r.push(config(
        "default",
        BGPConfigurationSpec {
            node_mesh_password: secret("bgp", "mesh"),
            ..Default::default()
        },
    ));
    r.push(peer(
        "tor",
        BGPPeerSpec {
            peer_ip: "192.0.2.1".into(),
            as_number: Some(AsNumber(65000)),
            password: secret("bgp", "tor"),
            ..Default::default()
        },
    ));
    let i = inputs(r, vec![]);
    let reader = |r: &SecretKeyRef| match (r.name.as_str(), r.key.as_str()) {
        ("bgp", "mesh") => Ok("mesh-pw".to_string()),
        _ => Err("not found".to_string()),
    };
    let a = compute_peers("a", &i, &reader);
    assert_eq!(
        a.peers[&ip("10.0.0.2")].password.as_deref(),
        Some("mesh-pw")
    );
    assert_eq!(
        a.peers[&ip("10.0.0.2")].to_config().password.as_deref(),
        Some("mesh-pw")
    );
    assert!(!a.peers.contains_key(&ip("192.0.2.1")));
    assert_eq!(a.problems.len(), 1);
    assert!(a.problems[0].contains("192.0.2.1 left out: password: not found"));
}

#[test]
fn next_hop_modes() {
    let mk = |name: &str, addr: &str, asn: u32, mode: Option<NextHopMode>, keep: bool| {
        peer(
            name,
            BGPPeerSpec {
                peer_ip: addr.into(),
                as_number: Some(AsNumber(asn)),
                next_hop_mode: mode,
                keep_original_next_hop: keep,
                ..Default::default()
            },
        )
    };
    let r = vec![
        v4("a", "10.0.0.1/24"),
        mk(
            "self",
            "192.0.2.1",
            64512,
            Some(NextHopMode::SelfHop),
            false,
        ),
        mk("keep", "192.0.2.2", 64512, Some(NextHopMode::Keep), false),
        mk("auto", "192.0.2.3", 65000, Some(NextHopMode::Auto), false),
        mk("old-ibgp", "192.0.2.4", 64512, None, true),
        mk("old-ebgp", "192.0.2.5", 65000, None, true),
    ];
    let a = plan("a", &inputs(r, vec![]));
    let hops: Vec<NextHop> = a.peers.values().map(|p| p.next_hop).collect();
    assert_eq!(
        hops,
        [
            NextHop::SelfHop,
            NextHop::Keep,
            NextHop::Auto,
            NextHop::Auto,
            NextHop::Keep
        ]
    );
    assert_eq!(a.problems.len(), 1);
    assert!(a.problems[0].contains("192.0.2.5"));
}

#[test]
fn ports_binding_timers_and_source_address() {
    let r = vec![
        v4("a", "10.0.0.1/24"),
        v4("b", "10.0.0.2/24"),
        config(
            "default",
            BGPConfigurationSpec {
                listen_port: Some(1790),
                node_mesh_max_restart_time: Some(api::Duration::parse("300s").unwrap()),
                ..Default::default()
            },
        ),
        config(
            "node.b",
            BGPConfigurationSpec {
                listen_port: Some(1179),
                ..Default::default()
            },
        ),
        config(
            "node.a",
            BGPConfigurationSpec {
                bind_mode: Some(BindMode::NodeIp),
                ..Default::default()
            },
        ),
        peer(
            "tor",
            BGPPeerSpec {
                peer_ip: "192.0.2.1".into(),
                as_number: Some(AsNumber(65000)),
                keepalive_time: Some(api::Duration::parse("10s").unwrap()),
                max_restart_time: Some(api::Duration::parse("2m").unwrap()),
                source_address: Some(SourceAddress::None),
                ..Default::default()
            },
        ),
    ];
    let i = inputs(r, vec![]);
    let a = plan("a", &i);
    assert_eq!(a.local.unwrap().listen, "10.0.0.1:1790".parse().unwrap());
    let b = &a.peers[&ip("10.0.0.2")];
    assert_eq!((b.port, b.restart_time, b.hold_time), (1179, 300, 240));
    let tor = &a.peers[&ip("192.0.2.1")];
    assert_eq!((tor.port, tor.restart_time, tor.hold_time), (179, 120, 30));
    assert_eq!(tor.source, None);
    let pb = plan("b", &i);
    assert_eq!(pb.local.unwrap().listen, "[::]:1179".parse().unwrap());
    assert_eq!(pb.peers[&ip("10.0.0.1")].port, 1790);
}

#[test]
fn unsupported_options_are_reported() {
    let r = vec![
        v4("a", "10.0.0.1/24"),
        peer(
            "tor",
            BGPPeerSpec {
                peer_ip: "192.0.2.1".into(),
                as_number: Some(AsNumber(65000)),
                filters: vec!["f".into()],
                // The peer's own AS as ours: iBGP by local AS, not supported.
                local_as_number: Some(AsNumber(65000)),
                num_allowed_local_as_numbers: Some(1),
                ..Default::default()
            },
        ),
        peer(
            "wl",
            BGPPeerSpec {
                local_workload_selector: "all()".into(),
                as_number: Some(AsNumber(65000)),
                ..Default::default()
            },
        ),
    ];
    let a = plan("a", &inputs(r, vec![]));
    assert_eq!(a.peers.len(), 1);
    let text = a.problems.join("\n");
    for word in [
        "BGPFilter \"f\" does not exist",
        "localASNumber 65000",
        "numAllowedLocalASNumbers",
        "localWorkloadSelector",
    ] {
        assert!(text.contains(word), "{text}");
    }
    let tor = &a.peers[&ip("192.0.2.1")];
    assert_eq!((tor.local_as, tor.ttl_security), (None, None));
}

#[test]
fn local_as_and_ttl_security_reach_the_session() {
    let r = vec![
        v4("a", "10.0.0.1/24"),
        peer(
            "tor",
            BGPPeerSpec {
                peer_ip: "192.0.2.1".into(),
                as_number: Some(AsNumber(65000)),
                ttl_security: Some(2),
                local_as_number: Some(AsNumber(65123)),
                ..Default::default()
            },
        ),
        peer(
            "same",
            BGPPeerSpec {
                peer_ip: "192.0.2.2".into(),
                as_number: Some(AsNumber(65000)),
                // The node's own AS: nothing to override.
                local_as_number: Some(AsNumber(64512)),
                ttl_security: Some(0),
                ..Default::default()
            },
        ),
    ];
    let mut r = r;
    r.push(pool("p", "10.65.0.0/16", false, false));
    let i = inputs(r, vec![block("10.65.0.0/26", Some("a"), &[])]);
    let a = plan("a", &i);
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    let tor = a.peers[&ip("192.0.2.1")].to_config();
    assert_eq!((tor.local_as, tor.ttl_security), (Some(65123), Some(2)));
    let same = a.peers[&ip("192.0.2.2")].to_config();
    assert_eq!((same.local_as, same.ttl_security), (None, None));

    // The RIB prepends the node's AS for eBGP; towards the local-AS peer it becomes 65123.
    let policy = ExportPolicy::new("a", &i, &a);
    let prepended = PathAttributes {
        as_path: Some(bgp::codec::AsPath::sequence(vec![64512, 65010])),
        ..Default::default()
    };
    let prefix = net("10.65.0.0/26");
    let Verdict::Replace(out) = policy.verdict(&info("192.0.2.1"), &prefix, &prepended) else {
        panic!("AS_PATH rewrite expected")
    };
    assert_eq!(
        out.as_path,
        Some(bgp::codec::AsPath::sequence(vec![65123, 65010]))
    );
    // Other peers see the path as the RIB made it.
    assert_eq!(
        policy.verdict(&info("192.0.2.2"), &prefix, &prepended),
        Verdict::Accept
    );
}

fn filter(name: &str, spec: api::BGPFilterSpec) -> SyncUpdate {
    SyncUpdate::Put {
        key: SyncKey::Resource {
            kind: Kind::BGPFilter,
            namespace: None,
            name: name.into(),
        },
        revision: 1,
        value: SyncValue::Resource(Box::new(Resource::BGPFilter(api::BGPFilter {
            metadata: ObjectMeta::named(name),
            spec,
        }))),
    }
}

fn rule(
    action: api::BGPFilterAction,
    op: Option<api::BGPFilterMatchOperator>,
    cidr: &str,
) -> api::BGPFilterRule {
    api::BGPFilterRule {
        cidr: cidr.into(),
        prefix_length: None,
        source: None,
        interface: String::new(),
        match_operator: op,
        action,
    }
}

#[test]
fn filter_rules_match_like_calicos() {
    use api::BGPFilterAction::Accept;
    use api::BGPFilterMatchOperator::{Equal, In, NotEqual, NotIn};
    let m = |op, cidr: &str, prefix: &str| {
        super::filters::rule_matches(&rule(Accept, Some(op), cidr), &net(prefix), false)
    };
    assert!(m(Equal, "10.0.0.0/16", "10.0.0.0/16"));
    assert!(!m(Equal, "10.0.0.0/16", "10.0.1.0/24"));
    assert!(m(NotEqual, "10.0.0.0/16", "10.0.1.0/24"));
    assert!(m(In, "10.0.0.0/16", "10.0.0.0/16"));
    assert!(m(In, "10.0.0.0/16", "10.0.1.0/24"));
    assert!(!m(In, "10.0.0.0/16", "10.1.0.0/24"));
    assert!(!m(In, "10.0.0.0/16", "10.0.0.0/8"));
    assert!(m(NotIn, "10.0.0.0/16", "10.1.0.0/24"));
    assert!(!m(NotIn, "10.0.0.0/16", "10.0.3.0/24"));
    assert!(m(In, "fd00::/48", "fd00::/64"));
    // prefixLength bounds, inclusive; min defaults to the cidr's length.
    let mut r = rule(Accept, Some(In), "10.0.0.0/16");
    r.prefix_length = Some(api::BGPFilterPrefixLength {
        min: Some(24),
        max: Some(26),
    });
    for (prefix, hit) in [
        ("10.0.0.0/16", false),
        ("10.0.1.0/24", true),
        ("10.0.1.0/26", true),
        ("10.0.1.0/27", false),
    ] {
        assert_eq!(
            super::filters::rule_matches(&r, &net(prefix), false),
            hit,
            "{prefix}"
        );
    }
    // No cidr: everything; source RemotePeers: learned routes only; interface: never.
    let all = rule(Accept, None, "");
    assert!(super::filters::rule_matches(&all, &net("0.0.0.0/0"), false));
    let remote = api::BGPFilterRule {
        source: Some(api::BGPFilterSource::RemotePeers),
        ..all.clone()
    };
    assert!(super::filters::rule_matches(
        &remote,
        &net("10.9.0.0/24"),
        true
    ));
    assert!(!super::filters::rule_matches(
        &remote,
        &net("10.9.0.0/24"),
        false
    ));
    let iface = api::BGPFilterRule {
        interface: "*.calico".into(),
        ..all
    };
    assert!(!super::filters::rule_matches(
        &iface,
        &net("10.9.0.0/24"),
        true
    ));
}

#[test]
fn bgp_filters_apply_per_peer_in_order_first_match_wins() {
    use api::BGPFilterAction::{Accept, Reject};
    use api::BGPFilterMatchOperator::{Equal, In};
    let mut i = export_world();
    for (name, address, filters) in [
        (
            "tor",
            "192.0.2.1",
            vec!["first".to_string(), "second".to_string()],
        ),
        ("plain", "192.0.2.2", vec![]),
    ] {
        i.apply(&put(peer(
            name,
            BGPPeerSpec {
                peer_ip: address.into(),
                as_number: Some(AsNumber(65000)),
                filters,
                ..Default::default()
            },
        )));
    }
    i.apply(&filter(
        "first",
        api::BGPFilterSpec {
            export_v4: vec![
                // Withhold the service range; send a learned default route.
                rule(Reject, Some(Equal), "10.96.0.0/12"),
                api::BGPFilterRule {
                    source: Some(api::BGPFilterSource::RemotePeers),
                    ..rule(Accept, Some(Equal), "0.0.0.0/0")
                },
            ],
            import_v4: vec![rule(Reject, Some(In), "10.200.0.0/16")],
            ..Default::default()
        },
    ));
    i.apply(&filter(
        "second",
        api::BGPFilterSpec {
            // Never reached for 10.96.0.0/12: the first filter decided.
            export_v4: vec![rule(Accept, Some(In), "10.0.0.0/8")],
            import_v4: vec![rule(Accept, Some(In), "10.200.1.0/24")],
            ..Default::default()
        },
    ));
    let p = plan("a", &i);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.peers[&ip("192.0.2.1")].filters, ["first", "second"]);
    let policy = ExportPolicy::new("a", &i, &p);
    let plain = PathAttributes::default();
    let tor = info("192.0.2.1");
    let other = info("192.0.2.2");
    let v = |peer: &PeerInfo, prefix: &str| policy.verdict(peer, &net(prefix), &plain);
    assert_eq!(v(&tor, "10.96.0.0/12"), Verdict::Reject);
    assert_eq!(v(&other, "10.96.0.0/12"), Verdict::Accept);
    assert_eq!(v(&tor, "0.0.0.0/0"), Verdict::Accept);
    assert_eq!(v(&other, "0.0.0.0/0"), Verdict::Reject);
    // The second filter accepts what Calico's policy would not send ...
    assert_eq!(v(&tor, "10.1.0.0/24"), Verdict::Accept);
    assert_eq!(v(&other, "10.1.0.0/24"), Verdict::Reject);
    // ... even a more specific of an own block; with no match Calico's policy decides.
    assert_eq!(v(&tor, "10.65.0.1/32"), Verdict::Accept);
    assert_eq!(v(&tor, "192.0.2.0/24"), Verdict::Accept);
    assert_eq!(v(&tor, "172.16.0.0/24"), Verdict::Reject);

    let import = ImportPolicy::new(&i, &p);
    assert_eq!(
        import.verdict(ip("192.0.2.1"), &net("10.200.1.0/24")),
        Verdict::Reject
    );
    assert_eq!(
        import.verdict(ip("192.0.2.1"), &net("10.201.0.0/24")),
        Verdict::Accept
    );
    assert_eq!(
        import.verdict(ip("192.0.2.2"), &net("10.200.1.0/24")),
        Verdict::Accept
    );
    // An IPv6 route is not subject to the IPv4 rules.
    assert_eq!(
        import.verdict(ip("192.0.2.1"), &net("fd00::/64")),
        Verdict::Accept
    );

    // Deleting a filter takes its rules away (and is reported).
    i.apply(&SyncUpdate::Delete {
        key: SyncKey::Resource {
            kind: Kind::BGPFilter,
            namespace: None,
            name: "first".into(),
        },
        revision: 2,
    });
    let p = plan("a", &i);
    assert!(p
        .problems
        .join("\n")
        .contains("BGPFilter \"first\" does not exist"));
    assert_eq!(
        ImportPolicy::new(&i, &p).verdict(ip("192.0.2.1"), &net("10.200.1.0/24")),
        Verdict::Accept
    );
}

#[test]
fn v6_only_node_gets_a_stable_router_id() {
    let mk = |addr| {
        node(
            "a",
            N {
                v6: addr,
                ..Default::default()
            },
        )
    };
    let one = plan("a", &inputs(vec![mk("fd00::1/64")], vec![]));
    let again = plan("a", &inputs(vec![mk("fd00::1/64")], vec![]));
    let other = plan("a", &inputs(vec![mk("fd00::2/64")], vec![]));
    let id = one.local.unwrap().router_id;
    assert_eq!(id, again.local.unwrap().router_id);
    assert_ne!(id, other.local.unwrap().router_id);
    assert_ne!(id, Ipv4Addr::UNSPECIFIED);
}

fn export_world() -> BgpInputs {
    inputs(
        vec![
            v4("a", "10.0.0.1/24"),
            v4("b", "10.0.0.2/24"),
            pool("p", "10.65.0.0/16", false, false),
            pool("quiet", "10.66.0.0/16", true, false),
            config(
                "default",
                BGPConfigurationSpec {
                    service_cluster_ips: vec![CidrBlock {
                        cidr: "10.96.0.0/12".into(),
                    }],
                    service_external_ips: vec![CidrBlock {
                        cidr: "192.0.2.0/24".into(),
                    }],
                    communities: vec![ApiCommunity {
                        name: "mine".into(),
                        value: "65001:100".into(),
                    }],
                    prefix_advertisements: vec![
                        PrefixAdvertisement {
                            cidr: "10.65.0.0/16".into(),
                            communities: vec!["mine".into(), "65001:200:300".into()],
                        },
                        PrefixAdvertisement {
                            cidr: "10.65.0.0/26".into(),
                            communities: vec!["1:2".into(), "mine".into()],
                        },
                    ],
                    ..Default::default()
                },
            ),
        ],
        vec![
            block("10.65.0.0/26", Some("a"), &[("10.65.0.1", "a")]),
            block("10.66.0.0/26", Some("a"), &[]),
            // b's block lends 10.65.0.70 to a.
            block(
                "10.65.0.64/26",
                Some("b"),
                &[("10.65.0.65", "b"), ("10.65.0.70", "a")],
            ),
            // An unaffine block in the quiet pool also lends to a: not exported.
            block("10.66.1.0/26", None, &[("10.66.1.5", "a")]),
        ],
    )
}

#[test]
fn exports_affine_blocks_borrowed_addresses_and_services() {
    let i = export_world();
    let a: Vec<String> = compute_exports("a", &i)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        a,
        [
            "10.65.0.0/26",
            "10.65.0.70/32",
            "10.96.0.0/12",
            "192.0.2.0/24"
        ]
    );
    let b: Vec<String> = compute_exports("b", &i)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(b, ["10.65.0.64/26", "10.96.0.0/12", "192.0.2.0/24"]);
}

fn info(addr: &str) -> PeerInfo {
    PeerInfo {
        address: ip(addr),
        asn: 65000,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        rr_client: false,
        local_v4: Some(Ipv4Addr::new(10, 0, 0, 1)),
        local_v6: Some("fd00::1".parse().unwrap()),
    }
}

#[test]
fn export_filter_follows_calicos_order() {
    let i = export_world();
    let policy = ExportPolicy::new("a", &i, &plan("a", &i));
    for (prefix, allowed) in [
        ("10.65.0.0/26", true),   // own aggregate
        ("10.65.0.1/32", false),  // more specific of an own block
        ("10.65.0.64/26", true),  // another node's block (learned)
        ("10.65.0.70/32", true),  // borrowed address
        ("10.66.0.0/26", false),  // own block in a pool without BGP export
        ("10.66.1.5/32", false),  // inside that pool
        ("10.96.0.0/12", true),   // service cluster range
        ("10.96.1.0/24", true),   // inside it
        ("0.0.0.0/0", false),     // learned default route, outside every pool
        ("172.16.0.0/24", false), // host routes never leave
    ] {
        assert_eq!(policy.allows(&net(prefix)), allowed, "{prefix}");
    }
    let plain = PathAttributes::default();
    assert_eq!(
        policy.verdict(&info("192.0.2.1"), &net("0.0.0.0/0"), &plain),
        Verdict::Reject
    );
    assert_eq!(
        policy.verdict(&info("192.0.2.1"), &net("10.96.0.0/12"), &plain),
        Verdict::Accept
    );
    let Verdict::Replace(a) = policy.verdict(&info("192.0.2.1"), &net("10.65.0.0/26"), &plain)
    else {
        panic!("communities expected")
    };
    assert_eq!(a.communities, vec![(65001 << 16) | 100, (1 << 16) | 2]);
    assert_eq!(
        a.large_communities,
        vec![LargeCommunity {
            global: 65001,
            local1: 200,
            local2: 300
        }]
    );
    // Already carrying them: nothing to replace.
    assert_eq!(
        policy.verdict(&info("192.0.2.1"), &net("10.65.0.0/26"), &a),
        Verdict::Accept
    );
}

#[test]
fn next_hop_self_rewrites_the_next_hop_for_that_peer_only() {
    let mut i = export_world();
    i.apply(&put(peer(
        "rr",
        BGPPeerSpec {
            peer_ip: "192.0.2.7".into(),
            as_number: Some(AsNumber(64512)),
            next_hop_mode: Some(NextHopMode::SelfHop),
            ..Default::default()
        },
    )));
    i.apply(&put(peer(
        "rr6",
        BGPPeerSpec {
            peer_ip: "fd00::7".into(),
            as_number: Some(AsNumber(64512)),
            next_hop_mode: Some(NextHopMode::SelfHop),
            ..Default::default()
        },
    )));
    i.apply(&put(pool("p6", "fd00:65::/48", false, false)));
    // An IPv6 session needs an IPv6 address of our own.
    i.apply(&put(node(
        "a",
        N {
            v4: "10.0.0.1/24",
            v6: "fd00::1/64",
            ..Default::default()
        },
    )));
    let policy = ExportPolicy::new("a", &i, &plan("a", &i));
    let learned = PathAttributes {
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 2)),
        ..Default::default()
    };
    let Verdict::Replace(a) = policy.verdict(&info("192.0.2.7"), &net("10.65.0.64/26"), &learned)
    else {
        panic!("next hop self expected")
    };
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(
        policy.verdict(&info("192.0.2.9"), &net("10.96.0.0/12"), &learned),
        Verdict::Accept
    );
    let learned6 = PathAttributes {
        mp_next_hop: Some(MpNextHop {
            global: ip("fd00::2"),
            link_local: Some("fe80::2".parse().unwrap()),
        }),
        ..Default::default()
    };
    let Verdict::Replace(a) = policy.verdict(&info("fd00::7"), &net("fd00:65::/122"), &learned6)
    else {
        panic!("next hop self expected")
    };
    assert_eq!(
        a.mp_next_hop,
        Some(MpNextHop {
            global: ip("fd00::1"),
            link_local: None
        })
    );
}

#[test]
fn community_values() {
    assert_eq!(
        parse_community("65001:100"),
        Some(Community::Standard(0xfde9_0064))
    );
    assert_eq!(
        parse_community("4200000000:1:2"),
        Some(Community::Large(LargeCommunity {
            global: 4_200_000_000,
            local1: 1,
            local2: 2
        }))
    );
    for bad in ["", "1", "70000:1", "a:b", "1:2:3:4", "1:-2"] {
        assert_eq!(parse_community(bad), None, "{bad}");
    }
}

#[test]
fn kernel_gets_remote_routes_only() {
    let mut i = export_world();
    i.apply(&put(pool("tunnelled", "10.67.0.0/16", false, true)));
    let learned: BTreeMap<IpNet, IpAddr> = [
        ("10.65.0.64/26", "10.0.0.2"), // b's block: installed
        ("10.65.0.0/26", "10.0.0.2"),  // our own block: never
        ("10.65.0.5/32", "10.0.0.2"),  // borrowed from us by b: installed (beats our blackhole)
        ("10.67.0.0/26", "10.0.0.2"),  // IPIP pool: Felix programs it
        ("192.0.2.0/24", "10.0.0.1"),  // through ourselves: never
        ("0.0.0.0/0", "10.0.0.254"),   // a ToR default route: installed
        ("10.68.0.0/24", "fd00::2"),   // family mismatch: skipped
    ]
    .into_iter()
    .map(|(p, nh)| (net(p), ip(nh)))
    .collect();
    let got: Vec<String> = kernel_routes("a", &i, &learned)
        .iter()
        .map(|r| format!("{} via {}", r.dst, r.via))
        .collect();
    assert_eq!(
        got,
        [
            "0.0.0.0/0 via 10.0.0.254",
            "10.65.0.5/32 via 10.0.0.2",
            "10.65.0.64/26 via 10.0.0.2"
        ]
    );
}

#[test]
fn fib_diff_replaces_changed_and_deletes_gone() {
    let r = |dst: &str, via: &str| KernelRoute {
        dst: net(dst),
        via: ip(via),
    };
    let actual: BTreeSet<KernelRoute> = [
        r("10.65.0.64/26", "10.0.0.2"),
        r("10.65.1.0/26", "10.0.0.3"),
        r("10.65.2.0/26", "10.0.0.4"),
    ]
    .into();
    let desired: BTreeSet<KernelRoute> = [
        r("10.65.0.64/26", "10.0.0.2"),
        r("10.65.1.0/26", "10.0.0.9"),
        r("10.65.3.0/26", "10.0.0.5"),
    ]
    .into();
    let none = BTreeSet::new();
    let full = FibDiff {
        replace: vec![r("10.65.1.0/26", "10.0.0.9"), r("10.65.3.0/26", "10.0.0.5")],
        delete: vec![r("10.65.2.0/26", "10.0.0.4")],
    };
    assert_eq!(fib_diff(&actual, &desired, &none, false), full);
    assert_eq!(
        fib_diff(&desired, &desired, &none, false),
        FibDiff::default()
    );
    // Restart grace: a route left by the previous run stays until it is swept...
    assert_eq!(
        fib_diff(&actual, &desired, &none, true),
        FibDiff {
            delete: vec![],
            ..full.clone()
        }
    );
    // ...but one this run wanted and then lost goes at once.
    let ours: BTreeSet<IpNet> = [net("10.65.2.0/26")].into();
    assert_eq!(fib_diff(&actual, &desired, &ours, true), full);
}
