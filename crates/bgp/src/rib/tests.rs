//! RIB tests: best-path steps, export rules, reflection, loops, filters and
//! graceful-restart stale handling.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::*;
use crate::codec::{AsPath, Family, Origin, PathAttributes, Update};

const LOCAL_AS: u32 = 64512;
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const BOTH: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn info(last: u8, asn: u32) -> PeerInfo {
    PeerInfo {
        address: ip(last),
        asn,
        router_id: Ipv4Addr::new(192, 0, 2, last),
        rr_client: false,
        local_v4: Some(ME),
        local_v6: Some("fd00::1".parse().unwrap()),
    }
}

fn rib_with(peers: &[PeerInfo], cluster: Option<Ipv4Addr>) -> Rib {
    let mut rib = Rib::new(RibConfig {
        local_as: LOCAL_AS,
        router_id: ME,
        cluster_id: cluster,
    });
    for p in peers {
        rib.add_peer(p.clone());
        rib.peer_up(p.clone(), BOTH.to_vec());
    }
    rib
}

fn attrs(path: &[u32], nh_last: u8) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(path.to_vec())),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, nh_last)),
        ..PathAttributes::default()
    }
}

fn announce(prefixes: &[&str], a: PathAttributes) -> Update {
    Update {
        attrs: a,
        nlri: prefixes.iter().map(|p| net(p)).collect(),
        ..Update::default()
    }
}

fn best_source(rib: &Rib, p: &str) -> Option<Source> {
    rib.best(&net(p)).map(|b| b.source)
}

#[test]
fn shorter_path_wins_and_withdraw_falls_back() {
    let mut rib = rib_with(&[info(2, 65002), info(3, 65003)], None);
    rib.apply_update(ip(2), announce(&["10.1.0.0/16"], attrs(&[65002, 1, 2], 2)));
    let c = rib.apply_update(ip(3), announce(&["10.1.0.0/16"], attrs(&[65003], 3)));
    assert!(matches!(&c.best[..], [BestChange::Updated(_, b)] if b.source == Source::Peer(ip(3))));
    let c = rib.apply_update(
        ip(3),
        Update {
            withdrawn: vec![net("10.1.0.0/16")],
            ..Update::default()
        },
    );
    assert_eq!(best_source(&rib, "10.1.0.0/16"), Some(Source::Peer(ip(2))));
    assert_eq!(c.best.len(), 1);
    rib.remove_peer(ip(2));
    assert_eq!(best_source(&rib, "10.1.0.0/16"), None);
}

#[test]
fn best_path_steps_in_order() {
    let ibgp_a = info(2, LOCAL_AS);
    let ibgp_b = info(3, LOCAL_AS);
    let mut rib = rib_with(&[ibgp_a, ibgp_b], None);
    let p = "10.2.0.0/16";
    let mut a = attrs(&[65010, 65011], 2);
    let mut b = attrs(&[65020], 3);
    // local-pref beats path length
    a.local_pref = Some(200);
    b.local_pref = Some(100);
    rib.apply_update(ip(2), announce(&[p], a.clone()));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(2))));
    // equal local-pref: shorter path
    b.local_pref = Some(200);
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(3))));
    // equal length: lower origin
    a.as_path = Some(AsPath::sequence(vec![65010]));
    a.origin = Some(Origin::Igp);
    b.origin = Some(Origin::Incomplete);
    rib.apply_update(ip(2), announce(&[p], a.clone()));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(2))));
    // equal origin, different neighbour AS: MED ignored, lower router ID wins (2)
    b.origin = Some(Origin::Igp);
    a.med = Some(500);
    b.med = Some(1);
    rib.apply_update(ip(2), announce(&[p], a.clone()));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(2))));
    // same neighbour AS: MED decides
    b.as_path = Some(AsPath::sequence(vec![65010]));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(3))));
    // equal MED: ORIGINATOR_ID stands in for the router ID
    a.med = Some(1);
    b.originator_id = Some(Ipv4Addr::new(1, 1, 1, 1));
    rib.apply_update(ip(2), announce(&[p], a.clone()));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(3))));
    // equal IDs: shorter cluster list
    a.originator_id = Some(Ipv4Addr::new(1, 1, 1, 1));
    b.cluster_list = vec![Ipv4Addr::new(9, 9, 9, 9)];
    rib.apply_update(ip(2), announce(&[p], a.clone()));
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(2))));
    // everything equal: lower peer address
    b.cluster_list.clear();
    rib.apply_update(ip(3), announce(&[p], b.clone()));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(2))));
    // the IGP-cost hook comes before router IDs
    rib.set_igp_cost(Box::new(|nh| if nh == ip(2) { 10 } else { 1 }));
    rib.apply_update(ip(3), announce(&[p], a.clone()));
    let mut b2 = a.clone();
    b2.next_hop = Some(Ipv4Addr::new(10, 0, 0, 3));
    rib.apply_update(ip(3), announce(&[p], b2));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(3))));
}

#[test]
fn ebgp_beats_ibgp_and_local_beats_all() {
    let mut rib = rib_with(&[info(2, LOCAL_AS), info(3, 65003)], None);
    let p = "10.3.0.0/16";
    rib.apply_update(ip(2), announce(&[p], attrs(&[65003], 2)));
    rib.apply_update(ip(3), announce(&[p], attrs(&[65003], 3)));
    assert_eq!(best_source(&rib, p), Some(Source::Peer(ip(3))));
    rib.announce_local(&[net(p)], PathAttributes::default());
    assert_eq!(best_source(&rib, p), Some(Source::Local));
}

#[test]
fn export_to_ebgp_prepends_and_sets_next_hop_self() {
    let mut rib = rib_with(&[info(2, LOCAL_AS), info(3, 65003)], None);
    let mut a = attrs(&[], 2);
    a.local_pref = Some(300);
    a.med = Some(7);
    let c = rib.apply_update(ip(2), announce(&["10.4.0.0/16"], a));
    let out = &c.outbound[&ip(3)];
    let (sent, prefixes) = &out.announce[0];
    assert_eq!(prefixes, &vec![net("10.4.0.0/16")]);
    assert_eq!(sent.as_path, Some(AsPath::sequence(vec![LOCAL_AS])));
    assert_eq!(sent.next_hop, Some(ME));
    assert_eq!((sent.local_pref, sent.med), (None, None));
    // iBGP-learned route is not sent back to another iBGP peer (none here)
    // and never back to its source.
    assert!(!c.outbound.contains_key(&ip(2)));
}

#[test]
fn ibgp_split_horizon_without_reflection() {
    let mut rib = rib_with(&[info(2, LOCAL_AS), info(3, LOCAL_AS)], None);
    let c = rib.apply_update(ip(2), announce(&["10.5.0.0/16"], attrs(&[], 2)));
    assert!(c.outbound.is_empty());
    // Local routes go to iBGP peers with next hop self and LOCAL_PREF 100.
    let c = rib.announce_local(&[net("10.6.0.0/26")], PathAttributes::default());
    for peer in [ip(2), ip(3)] {
        let sent = &c.outbound[&peer].announce[0].0;
        assert_eq!(sent.next_hop, Some(ME));
        assert_eq!(sent.local_pref, Some(DEFAULT_LOCAL_PREF));
        assert_eq!(sent.as_path, Some(AsPath::default()));
    }
}

#[test]
fn route_reflection_rules() {
    let cluster = Ipv4Addr::new(1, 0, 0, 1);
    let client_a = PeerInfo {
        rr_client: true,
        ..info(2, LOCAL_AS)
    };
    let client_b = PeerInfo {
        rr_client: true,
        ..info(3, LOCAL_AS)
    };
    let non_client = info(4, LOCAL_AS);
    let other_non_client = info(5, LOCAL_AS);
    let mut rib = rib_with(
        &[client_a, client_b, non_client, other_non_client],
        Some(cluster),
    );
    // From a client: to every other iBGP peer, with ORIGINATOR_ID and CLUSTER_LIST.
    let c = rib.apply_update(ip(2), announce(&["10.7.0.0/16"], attrs(&[], 2)));
    let targets: Vec<IpAddr> = c.outbound.keys().copied().collect();
    assert_eq!(targets, vec![ip(3), ip(4), ip(5)]);
    let sent = &c.outbound[&ip(4)].announce[0].0;
    assert_eq!(sent.originator_id, Some(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(sent.cluster_list, vec![cluster]);
    assert_eq!(
        sent.next_hop,
        Some(Ipv4Addr::new(10, 0, 0, 2)),
        "next hop kept"
    );
    // From a non-client: to clients only.
    let c = rib.apply_update(ip(4), announce(&["10.8.0.0/16"], attrs(&[], 4)));
    let targets: Vec<IpAddr> = c.outbound.keys().copied().collect();
    assert_eq!(targets, vec![ip(2), ip(3)]);
}

#[test]
fn loops_are_rejected_on_receipt() {
    let cluster = Ipv4Addr::new(1, 0, 0, 1);
    let mut rib = rib_with(&[info(2, 65002), info(3, LOCAL_AS)], Some(cluster));
    rib.apply_update(
        ip(2),
        announce(&["10.9.0.0/16"], attrs(&[65002, LOCAL_AS], 2)),
    );
    let mut a = attrs(&[], 3);
    a.originator_id = Some(ME);
    rib.apply_update(ip(3), announce(&["10.10.0.0/16"], a));
    let mut a = attrs(&[], 3);
    a.cluster_list = vec![Ipv4Addr::new(7, 7, 7, 7), cluster];
    rib.apply_update(ip(3), announce(&["10.11.0.0/16"], a));
    assert_eq!(rib.loc_rib().count(), 0);
    let counts = rib.counts(ip(3));
    assert_eq!((counts.received, counts.accepted), (2, 0));
}

#[test]
fn import_and_export_filters() {
    let mut rib = rib_with(&[info(2, 65002), info(3, 65003)], None);
    rib.set_import(Box::new(|_, prefix, a| {
        if prefix.prefix_len() > 24 {
            Verdict::Reject
        } else {
            let mut a = a.clone();
            a.communities.push(42);
            Verdict::Replace(a)
        }
    }));
    rib.set_export(Box::new(|peer, _, _| {
        if peer.asn == 65003 {
            Verdict::Reject
        } else {
            Verdict::Accept
        }
    }));
    let c = rib.apply_update(
        ip(2),
        announce(&["10.12.0.0/16", "10.12.1.0/25"], attrs(&[65002], 2)),
    );
    assert_eq!(rib.counts(ip(2)).accepted, 1);
    assert_eq!(
        rib.best(&net("10.12.0.0/16")).unwrap().attrs.communities,
        vec![42]
    );
    assert!(c.outbound.is_empty(), "export filter rejected peer 3");
}

#[test]
fn well_known_communities() {
    let mut rib = rib_with(&[info(2, LOCAL_AS), info(3, 65003), info(4, 65004)], None);
    let mut a = attrs(&[], 2);
    a.communities = vec![NO_EXPORT];
    let c = rib.apply_update(ip(2), announce(&["10.13.0.0/16"], a));
    assert!(c.outbound.is_empty());
    let c = rib.announce_local(
        &[net("10.14.0.0/16")],
        PathAttributes {
            communities: vec![NO_EXPORT],
            ..PathAttributes::default()
        },
    );
    assert_eq!(c.outbound.keys().copied().collect::<Vec<_>>(), vec![ip(2)]);
    let c = rib.announce_local(
        &[net("10.15.0.0/16")],
        PathAttributes {
            communities: vec![NO_ADVERTISE],
            ..PathAttributes::default()
        },
    );
    assert!(c.outbound.is_empty());
}

#[test]
fn families_follow_negotiation_and_ipv6_next_hop_self() {
    let mut rib = rib_with(&[info(2, 65002)], None);
    rib.add_peer(info(3, 65003));
    rib.peer_up(info(3, 65003), vec![Family::Ipv4Unicast]);
    let c = rib.announce_local(
        &[net("fd00:10::/64"), net("10.16.0.0/24")],
        PathAttributes::default(),
    );
    let v6 = &c.outbound[&ip(2)].announce;
    assert_eq!(v6.len(), 2, "one group per family");
    let v6_group = v6
        .iter()
        .find(|(_, p)| p == &vec![net("fd00:10::/64")])
        .unwrap();
    assert_eq!(
        v6_group.0.mp_next_hop.map(|n| n.global),
        Some("fd00::1".parse().unwrap())
    );
    assert_eq!(v6_group.0.next_hop, None);
    assert_eq!(c.outbound[&ip(3)].announce[0].1, vec![net("10.16.0.0/24")]);
}

#[test]
fn peer_up_sends_full_table_grouped() {
    let mut rib = rib_with(&[], None);
    let prefixes: Vec<IpNet> = (0..100u32)
        .map(|i| {
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a64_0000 + (i << 8)), 24).unwrap())
        })
        .collect();
    rib.announce_local(&prefixes, PathAttributes::default());
    rib.add_peer(info(2, 65002));
    let c = rib.peer_up(info(2, 65002), BOTH.to_vec());
    let out = &c.outbound[&ip(2)];
    assert_eq!(out.announce.len(), 1, "one attribute set for all prefixes");
    assert_eq!(out.announce[0].1.len(), 100);
    assert_eq!(rib.counts(ip(2)).advertised, 100);
    // Withdrawing locally withdraws from the peer.
    let c = rib.withdraw_local(&prefixes[..10]);
    assert_eq!(c.outbound[&ip(2)].withdraw.len(), 10);
    assert_eq!(c.best.len(), 10);
}

#[test]
fn graceful_restart_keeps_stale_then_sweeps() {
    let mut rib = rib_with(&[info(2, 65002), info(3, 65003)], None);
    rib.apply_update(
        ip(2),
        announce(&["10.17.0.0/16", "10.18.0.0/16"], attrs(&[65002], 2)),
    );
    let c = rib.peer_down(ip(2), true);
    assert!(c.best.is_empty(), "routes stay in use");
    assert_eq!(rib.stale_count(ip(2)), 2);
    assert_eq!(best_source(&rib, "10.17.0.0/16"), Some(Source::Peer(ip(2))));
    // Session back: one route refreshed, then End-of-RIB sweeps the other.
    rib.peer_up(info(2, 65002), BOTH.to_vec());
    rib.apply_update(ip(2), announce(&["10.17.0.0/16"], attrs(&[65002], 2)));
    assert_eq!(rib.stale_count(ip(2)), 1);
    let c = rib.sweep_stale(ip(2), Some(Family::Ipv4Unicast));
    assert_eq!(c.best, vec![BestChange::Withdrawn(net("10.18.0.0/16"))]);
    assert_eq!(c.outbound[&ip(3)].withdraw, vec![net("10.18.0.0/16")]);
    // A non-graceful down drops everything at once.
    let c = rib.peer_down(ip(2), false);
    assert_eq!(c.best, vec![BestChange::Withdrawn(net("10.17.0.0/16"))]);
}

#[test]
fn attributes_are_shared_across_prefixes() {
    let mut rib = rib_with(&[info(2, 65002), info(3, 65003)], None);
    let prefixes: Vec<IpNet> = (0..1000u32)
        .map(|i| {
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).unwrap())
        })
        .collect();
    rib.apply_update(
        ip(2),
        Update {
            attrs: attrs(&[65002], 2),
            nlri: prefixes.clone(),
            ..Update::default()
        },
    );
    let first = rib.best(&prefixes[0]).unwrap().attrs.clone();
    assert!(prefixes
        .iter()
        .all(|p| Arc::ptr_eq(&rib.best(p).unwrap().attrs, &first)));
    // one set received, one exported to peer 3
    assert_eq!(rib.attribute_sets(), 2);
}

mod properties {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Announce {
            peer: u8,
            prefix: u8,
            len: u8,
            lp: u8,
        },
        Withdraw {
            peer: u8,
            prefix: u8,
        },
        Down {
            peer: u8,
            graceful: bool,
        },
        Up {
            peer: u8,
        },
        Sweep {
            peer: u8,
        },
        Local {
            prefix: u8,
        },
        Unlocal {
            prefix: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..4u8, 0..6u8, 0..3u8, 0..2u8).prop_map(|(peer, prefix, len, lp)| Op::Announce { peer, prefix, len, lp }),
            2 => (0..4u8, 0..6u8).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
            1 => (0..4u8, any::<bool>()).prop_map(|(peer, graceful)| Op::Down { peer, graceful }),
            1 => (0..4u8).prop_map(|peer| Op::Up { peer }),
            1 => (0..4u8).prop_map(|peer| Op::Sweep { peer }),
            1 => (0..6u8).prop_map(|prefix| Op::Local { prefix }),
            1 => (0..6u8).prop_map(|prefix| Op::Unlocal { prefix }),
        ]
    }

    /// Peers 2 and 3 are iBGP (3 a reflection client), 4 and 5 eBGP.
    fn peer_info(i: u8) -> PeerInfo {
        let last = i + 2;
        PeerInfo {
            rr_client: last == 3,
            ..info(
                last,
                if last <= 3 {
                    LOCAL_AS
                } else {
                    65000 + u32::from(last)
                },
            )
        }
    }

    fn prefix(i: u8) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(10, 100, i, 0), 24).unwrap())
    }

    type Mirror = HashMap<IpAddr, HashMap<IpNet, Arc<PathAttributes>>>;

    fn fold(changes: Changes, best: &mut HashMap<IpNet, BestRoute>, out: &mut Mirror) {
        for c in changes.best {
            match c {
                BestChange::Updated(p, r) => {
                    best.insert(p, r);
                }
                BestChange::Withdrawn(p) => {
                    best.remove(&p);
                }
            }
        }
        for (peer, o) in changes.outbound {
            let m = out.entry(peer).or_default();
            for p in o.withdraw {
                assert!(m.remove(&p).is_some(), "withdrawal of a prefix never sent");
            }
            for (a, ps) in o.announce {
                for p in ps {
                    m.insert(p, a.clone());
                }
            }
        }
    }

    proptest! {
        /// Incremental changes reported by the RIB add up to its state: the
        /// mirrored Loc-RIB equals the real one, and what each peer was sent
        /// equals a from-scratch re-export (ROUTE-REFRESH) of the final state.
        #[test]
        fn incremental_changes_match_full_recomputation(ops in prop::collection::vec(op(), 1..60)) {
            let mut rib = rib_with(&[], Some(Ipv4Addr::new(1, 0, 0, 1)));
            let mut best = HashMap::new();
            let mut out: Mirror = HashMap::new();
            let mut up = [false; 4];
            for i in 0..4u8 {
                rib.add_peer(peer_info(i));
            }
            for op in ops {
                let changes = match op {
                    Op::Announce { peer, prefix: p, len, lp } if up[peer as usize] => {
                        let info = peer_info(peer);
                        let mut path: Vec<u32> = (0..len).map(|k| 65100 + u32::from(k)).collect();
                        if info.asn != LOCAL_AS {
                            path.insert(0, info.asn);
                        }
                        let mut a = attrs(&path, peer + 2);
                        if info.asn == LOCAL_AS {
                            a.local_pref = Some(100 + u32::from(lp));
                        }
                        rib.apply_update(info.address, announce(&[&prefix(p).to_string()], a))
                    }
                    Op::Withdraw { peer, prefix: p } if up[peer as usize] => rib.apply_update(
                        peer_info(peer).address,
                        Update { withdrawn: vec![prefix(p)], ..Update::default() },
                    ),
                    Op::Down { peer, graceful } if up[peer as usize] => {
                        up[peer as usize] = false;
                        out.remove(&peer_info(peer).address);
                        rib.peer_down(peer_info(peer).address, graceful)
                    }
                    Op::Up { peer } if !up[peer as usize] => {
                        up[peer as usize] = true;
                        rib.peer_up(peer_info(peer), vec![Family::Ipv4Unicast])
                    }
                    Op::Sweep { peer } => rib.sweep_stale(peer_info(peer).address, None),
                    Op::Local { prefix: p } => rib.announce_local(&[prefix(p)], PathAttributes::default()),
                    Op::Unlocal { prefix: p } => rib.withdraw_local(&[prefix(p)]),
                    _ => Changes::default(),
                };
                fold(changes, &mut best, &mut out);
            }
            let real: HashMap<IpNet, BestRoute> = rib.loc_rib().collect();
            prop_assert_eq!(&best, &real);
            for i in 0..4u8 {
                let addr = peer_info(i).address;
                let full = rib.refresh(addr, Family::Ipv4Unicast);
                let mut expected = HashMap::new();
                if let Some(o) = full.outbound.get(&addr) {
                    for (a, ps) in &o.announce {
                        for p in ps {
                            expected.insert(*p, a.clone());
                        }
                    }
                }
                let sent = out.remove(&addr).unwrap_or_default();
                prop_assert_eq!(sent, expected, "peer {}", addr);
            }
        }
    }
}

#[test]
fn reexport_applies_a_new_export_filter() {
    let mut rib = rib_with(&[info(2, 65002)], None);
    rib.announce_local(
        &[net("10.20.0.0/24"), net("10.21.0.0/24")],
        PathAttributes::default(),
    );
    assert_eq!(rib.counts(ip(2)).advertised, 2);
    rib.set_export(Box::new(|_, p, _| {
        if *p == "10.20.0.0/24".parse::<IpNet>().unwrap() {
            Verdict::Reject
        } else {
            Verdict::Accept
        }
    }));
    let c = rib.reexport();
    assert_eq!(c.outbound[&ip(2)].withdraw, vec![net("10.20.0.0/24")]);
    assert!(
        c.outbound[&ip(2)].announce.is_empty(),
        "unchanged routes are not re-sent"
    );
    rib.set_export(Box::new(|_, _, a| {
        let mut a = a.clone();
        a.med = Some(5);
        Verdict::Replace(a)
    }));
    let c = rib.reexport();
    let out = &c.outbound[&ip(2)];
    assert_eq!(out.announce.len(), 1);
    assert_eq!(out.announce[0].0.med, Some(5));
    assert_eq!(out.announce[0].1.len(), 2);
    assert!(out.withdraw.is_empty());
}
