//! Interoperability with a real FRR (zebra + bgpd 8.4), run as root. Each
//! test builds its own namespaces (see `common`): our speaker in node 0, FRR in
//! the others. FRR's view is read with `vtysh -c 'show bgp ... json'`, ours
//! through the speaker's best-route changes.

mod common;

use std::time::{Duration, Instant};

use bgp::codec::{Family, LargeCommunity, PathAttributes};
use bgp::fsm::State;
use bgp::rib::Source;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use common::{block_on_in, established, eventually, ip, net, Frr, Lab, Routes};
use nix::sys::signal::Signal;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

/// Our speaker's configuration in node 0 (optionally a route reflector).
fn ours(asn: u32, cluster_id: Option<&str>) -> SpeakerConfig {
    let mut config = SpeakerConfig::new(asn, "10.255.0.1".parse().unwrap());
    config.cluster_id = cluster_id.map(|c| c.parse().unwrap());
    config
}

/// A peer of ours with a fast connect retry.
fn peer(addr: &str, asn: u32, families: Vec<Family>) -> PeerConfig {
    let mut p = PeerConfig::new(ip(addr), asn);
    p.families = families;
    p.connect_retry = Duration::from_secs(1);
    p
}

/// bgpd configuration: `router bgp <asn>` with a router ID, no policy
/// requirement, `network` without a RIB route, event-driven route-map
/// processing off, and `body` inside the router block; `prelude` (route maps,
/// prefix lists) comes first so it exists when the router block refers to it.
fn frr_conf(asn: u32, node: usize, prelude: &str, body: &str) -> String {
    format!(
        "bgp route-map delay-timer 0\n{prelude}\nrouter bgp {asn}\n bgp router-id {id}\n \
         no bgp ebgp-requires-policy\n no bgp network import-check\n{body}\nexit\n",
        id = Lab::v4(node)
    )
}

/// A neighbour block for our speaker at `addr` in AS `asn`.
fn neighbor(addr: &str, asn: u32, extra: &str) -> String {
    format!(
        " neighbor {addr} remote-as {asn}\n neighbor {addr} timers connect 1\n \
         neighbor {addr} advertisement-interval 0\n{extra}"
    )
}

/// The first (best) path FRR holds for `prefix`, once it is valid.
async fn frr_path(frr: &Frr, afi: &str, prefix: &str) -> Value {
    eventually(&format!("{prefix} in FRR"), LIMIT, || {
        frr.valid_prefixes(afi).iter().any(|p| p == prefix)
    })
    .await;
    let paths = frr.paths(afi, prefix);
    paths
        .iter()
        .find(|p| p["bestpath"]["overall"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no best path for {prefix}: {paths:?}"))
}

/// The next-hop addresses of an FRR path.
fn next_hops(path: &Value) -> Vec<String> {
    path["nexthops"]
        .as_array()
        .map(|hops| {
            hops.iter()
                .filter_map(|h| h["ip"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn community(asn: u16, value: u16) -> u32 {
    (u32::from(asn) << 16) | u32::from(value)
}

/// eBGP over IPv4: routes both ways with AS paths and next hops checked on
/// both sides, standard and large communities carried in both directions,
/// withdrawals in both directions.
#[test]
fn ebgp_ipv4_with_frr_communities_and_withdrawals() {
    let lab = Lab::new(1);
    let frr = Frr::start(
        &lab,
        1,
        &frr_conf(
            65002,
            1,
            "route-map TAG permit 10\n set community 65002:200\n set large-community 65002:3:4\nexit",
            &format!(
                "{}address-family ipv4 unicast\n  network 10.201.1.0/24 route-map TAG\n  \
                 network 10.201.2.0/24\n exit-address-family",
                neighbor("10.255.0.1", 65001, "")
            ),
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, None), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        speaker
            .add_peer(peer("10.255.0.2", 65002, vec![Family::Ipv4Unicast]))
            .await
            .unwrap();
        let tagged = PathAttributes {
            communities: vec![community(65001, 100)],
            large_communities: vec![LargeCommunity {
                global: 65001,
                local1: 7,
                local2: 8,
            }],
            ..PathAttributes::default()
        };
        speaker
            .announce(vec![net("10.101.1.0/24")], tagged)
            .unwrap();
        speaker
            .announce(vec![net("10.101.2.0/24")], PathAttributes::default())
            .unwrap();
        established(&speaker, ip("10.255.0.2")).await;

        // FRR -> us.
        routes
            .until("FRR's two routes", |t| {
                t.contains_key(&net("10.201.1.0/24")) && t.contains_key(&net("10.201.2.0/24"))
            })
            .await;
        let p = net("10.201.1.0/24");
        let r = routes.get("10.201.1.0/24").unwrap();
        assert_eq!(r.source, Source::Peer(ip("10.255.0.2")));
        assert_eq!(r.next_hop(&p), Some(ip("10.255.0.2")));
        assert_eq!(
            r.attrs.as_path.as_ref().map(|a| a.first_asn()),
            Some(Some(65002))
        );
        assert_eq!(r.attrs.communities, vec![community(65002, 200)], "{r:?}");
        assert_eq!(
            r.attrs.large_communities,
            vec![LargeCommunity {
                global: 65002,
                local1: 3,
                local2: 4
            }]
        );
        let plain = routes.get("10.201.2.0/24").unwrap();
        assert!(plain.attrs.communities.is_empty() && plain.attrs.large_communities.is_empty());

        // Us -> FRR.
        let path = frr_path(&frr, "ipv4", "10.101.1.0/24").await;
        assert_eq!(path["aspath"]["string"], "65001", "{path}");
        assert_eq!(next_hops(&path), vec!["10.255.0.1"], "{path}");
        assert_eq!(path["community"]["string"], "65001:100", "{path}");
        assert_eq!(path["largeCommunity"]["string"], "65001:7:8", "{path}");
        let path = frr_path(&frr, "ipv4", "10.101.2.0/24").await;
        assert!(path.get("community").is_none(), "{path}");

        // Withdrawals both ways.
        speaker.withdraw(vec![net("10.101.2.0/24")]).unwrap();
        eventually("10.101.2.0/24 gone from FRR", LIMIT, || {
            !frr.valid_prefixes("ipv4")
                .contains(&"10.101.2.0/24".to_string())
        })
        .await;
        assert!(frr
            .valid_prefixes("ipv4")
            .contains(&"10.101.1.0/24".to_string()));
        frr.configure(&[
            "router bgp 65002",
            "address-family ipv4 unicast",
            "no network 10.201.2.0/24",
        ]);
        routes
            .until("FRR's withdrawal", |t| {
                !t.contains_key(&net("10.201.2.0/24"))
            })
            .await;
        assert!(routes.get("10.201.1.0/24").is_some());
        // FRR sends our own 10.101.1.0/24 back (its path now "65002 65001"):
        // received, but rejected by the AS-path loop check.
        let adv = frr.json("show bgp ipv4 unicast neighbors 10.255.0.1 advertised-routes json");
        assert_eq!(
            adv["advertisedRoutes"]["10.101.1.0/24"]["path"], "65001",
            "{adv}"
        );
        let status = speaker.peers().await.unwrap();
        assert_eq!(
            (status[0].received, status[0].accepted, status[0].advertised),
            (2, 1, 1),
            "{status:?}"
        );
    });
}

/// The `messageStats` counters FRR keeps for a neighbour.
fn stats(frr: &Frr, addr: &str) -> (u64, u64) {
    let n = frr.neighbor(addr);
    let s = &n["messageStats"];
    (
        s["updatesRecv"].as_u64().unwrap_or_else(|| panic!("{n}")),
        s["routeRefreshSent"]
            .as_u64()
            .unwrap_or_else(|| panic!("{n}")),
    )
}

/// iBGP over IPv4 with a matching MD5 password: routes both ways (LOCAL_PREF,
/// next hop unchanged). Route refresh: FRR keeps no copy of what it rejected
/// (no soft-reconfiguration), so after its import policy starts accepting a
/// prefix, only our answer to its ROUTE-REFRESH (`clear ... soft in`) can
/// bring that prefix in.
#[test]
fn ibgp_ipv4_with_frr_md5_and_route_refresh() {
    let lab = Lab::new(1);
    let frr = Frr::start(
        &lab,
        1,
        &frr_conf(
            65001,
            1,
            "ip prefix-list LATER seq 5 permit 10.101.6.0/24\n\
             route-map IMPORT deny 10\n match ip address prefix-list LATER\nexit\n\
             route-map IMPORT permit 20\nexit",
            &format!(
                "{}address-family ipv4 unicast\n  network 10.201.3.0/24\n  \
                 neighbor 10.255.0.1 route-map IMPORT in\n exit-address-family",
                neighbor(
                    "10.255.0.1",
                    65001,
                    " neighbor 10.255.0.1 password md5-ibgp-key\n"
                )
            ),
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, None), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut p = peer("10.255.0.2", 65001, vec![Family::Ipv4Unicast]);
        p.password = Some("md5-ibgp-key".into());
        speaker.add_peer(p).await.unwrap();
        speaker
            .announce(
                vec![net("10.101.5.0/24"), net("10.101.6.0/24")],
                PathAttributes::default(),
            )
            .unwrap();
        established(&speaker, ip("10.255.0.2")).await;

        let p = net("10.201.3.0/24");
        routes.until("FRR's route", |t| t.contains_key(&p)).await;
        let r = routes.get("10.201.3.0/24").unwrap();
        assert_eq!(r.next_hop(&p), Some(ip("10.255.0.2")));
        assert_eq!(r.attrs.local_pref, Some(100));
        assert_eq!(r.attrs.as_path.as_ref().map(|a| a.path_len()), Some(0));

        let path = frr_path(&frr, "ipv4", "10.101.5.0/24").await;
        assert_eq!(path["locPrf"], 100, "{path}");
        assert_eq!(next_hops(&path), vec!["10.255.0.1"], "{path}");
        assert_eq!(path["peer"]["type"], "internal", "{path}");
        // Rejected by FRR's import policy, and not kept.
        assert!(frr.paths("ipv4", "10.101.6.0/24").is_empty());

        frr.configure(&[
            "no ip prefix-list LATER",
            "ip prefix-list LATER seq 5 deny any",
        ]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            frr.paths("ipv4", "10.101.6.0/24").is_empty(),
            "FRR re-evaluated without asking us"
        );
        let (updates, refreshes) = stats(&frr, "10.255.0.1");
        frr.vtysh(&["clear bgp ipv4 unicast 10.255.0.1 soft in"]);
        let path = frr_path(&frr, "ipv4", "10.101.6.0/24").await;
        assert_eq!(next_hops(&path), vec!["10.255.0.1"], "{path}");
        let (updates2, refreshes2) = stats(&frr, "10.255.0.1");
        assert_eq!(refreshes2, refreshes + 1);
        assert!(updates2 > updates, "{updates} -> {updates2}");
        // The session stayed up throughout.
        let n = frr.neighbor("10.255.0.1");
        assert_eq!(n["connectionsEstablished"], 1, "{n}");
        assert_eq!(n["bgpState"], "Established", "{n}");
    });
}

/// Routes both ways over an IPv6 session (MP_REACH/MP_UNREACH), eBGP or iBGP,
/// withdrawals both ways.
fn ipv6_exchange(their_as: u32) {
    let lab = Lab::new(1);
    let frr = Frr::start(
        &lab,
        1,
        &frr_conf(
            their_as,
            1,
            "",
            &format!(
                " no bgp default ipv4-unicast\n{}address-family ipv6 unicast\n  \
                 neighbor fd00:255::1 activate\n  network fd00:201:1::/48\n  \
                 network fd00:201:2::/56\n exit-address-family",
                neighbor("fd00:255::1", 65001, "")
            ),
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, None), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        speaker
            .add_peer(peer("fd00:255::2", their_as, vec![Family::Ipv6Unicast]))
            .await
            .unwrap();
        let mine = vec![net("fd00:101:1::/48"), net("fd00:101:2::/64")];
        speaker
            .announce(mine.clone(), PathAttributes::default())
            .unwrap();
        established(&speaker, ip("fd00:255::2")).await;

        routes
            .until("FRR's IPv6 routes", |t| {
                t.contains_key(&net("fd00:201:1::/48")) && t.contains_key(&net("fd00:201:2::/56"))
            })
            .await;
        let p = net("fd00:201:1::/48");
        let r = routes.get("fd00:201:1::/48").unwrap();
        assert_eq!(r.next_hop(&p), Some(ip("fd00:255::2")), "{r:?}");
        assert_eq!(r.source, Source::Peer(ip("fd00:255::2")));

        for prefix in ["fd00:101:1::/48", "fd00:101:2::/64"] {
            let path = frr_path(&frr, "ipv6", prefix).await;
            // FRR shows an empty AS path as "Local".
            let expected_path = if their_as == 65001 { "Local" } else { "65001" };
            assert_eq!(path["aspath"]["string"], expected_path, "{path}");
            assert!(
                next_hops(&path).contains(&"fd00:255::1".to_string()),
                "{path}"
            );
        }

        speaker.withdraw(vec![mine[0]]).unwrap();
        eventually("fd00:101:1::/48 gone from FRR", LIMIT, || {
            !frr.valid_prefixes("ipv6")
                .contains(&"fd00:101:1::/48".to_string())
        })
        .await;
        frr.configure(&[
            format!("router bgp {their_as}").as_str(),
            "address-family ipv6 unicast",
            "no network fd00:201:2::/56",
        ]);
        routes
            .until("FRR's IPv6 withdrawal", |t| {
                !t.contains_key(&net("fd00:201:2::/56"))
            })
            .await;
        assert!(routes.get("fd00:201:1::/48").is_some());
    });
}

#[test]
fn ebgp_ipv6_with_frr() {
    ipv6_exchange(65002);
}

#[test]
fn ibgp_ipv6_with_frr() {
    ipv6_exchange(65001);
}

/// MD5 passwords that differ keep the session down on both sides (the
/// kernel drops unsigned or wrongly signed segments); with the right one the
/// same peers come up at once.
#[test]
fn md5_mismatch_with_frr_keeps_session_down() {
    let lab = Lab::new(1);
    let frr = Frr::start(
        &lab,
        1,
        &frr_conf(
            65002,
            1,
            "",
            &format!(
                "{}address-family ipv4 unicast\n  network 10.201.4.0/24\n exit-address-family",
                neighbor(
                    "10.255.0.1",
                    65001,
                    " neighbor 10.255.0.1 password right-key\n"
                )
            ),
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, None), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut p = peer("10.255.0.2", 65002, vec![Family::Ipv4Unicast]);
        p.password = Some("wrong-key".into());
        speaker.add_peer(p.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let status = speaker.peers().await.unwrap();
        assert_ne!(status[0].state, State::Established, "{status:?}");
        assert_eq!(status[0].received, 0);
        let n = frr.neighbor("10.255.0.1");
        assert_ne!(n["bgpState"], "Established", "{n}");
        assert_eq!(n["connectionsEstablished"], 0, "{n}");

        p.password = Some("right-key".into());
        speaker.add_peer(p).await.unwrap();
        routes
            .until("FRR's route with the right key", |t| {
                t.contains_key(&net("10.201.4.0/24"))
            })
            .await;
    });
}

/// The reflected path's ORIGINATOR_ID and CLUSTER_LIST as FRR shows them.
fn reflection(path: &Value) -> (String, Vec<String>) {
    let originator = path["originatorId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let clusters = path["clusterList"]["list"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (originator, clusters)
}

/// Us as route reflector (cluster ID 10.0.0.99) for two FRR clients: each
/// client's route reaches the other with ORIGINATOR_ID and CLUSTER_LIST set
/// and its next hop unchanged; our own route reaches both; a client's
/// withdrawal reaches the other client.
#[test]
fn route_reflector_for_two_frr_clients() {
    let lab = Lab::new(2);
    let client = |node: usize, prefix: &str| {
        Frr::start(
            &lab,
            node,
            &frr_conf(
                65001,
                node,
                "",
                &format!(
                    "{}address-family ipv4 unicast\n  network {prefix}\n exit-address-family",
                    neighbor("10.255.0.1", 65001, "")
                ),
            ),
        )
    };
    let frr1 = client(1, "10.202.1.0/24");
    let frr2 = client(2, "10.202.2.0/24");
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, Some("10.0.0.99")), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        for addr in ["10.255.0.2", "10.255.0.3"] {
            let mut p = peer(addr, 65001, vec![Family::Ipv4Unicast]);
            p.rr_client = true;
            speaker.add_peer(p).await.unwrap();
        }
        speaker
            .announce(vec![net("10.102.0.0/24")], PathAttributes::default())
            .unwrap();

        let path = frr_path(&frr2, "ipv4", "10.202.1.0/24").await;
        assert_eq!(
            reflection(&path),
            ("10.255.0.2".into(), vec!["10.0.0.99".into()]),
            "{path}"
        );
        assert_eq!(next_hops(&path), vec!["10.255.0.2"], "{path}");
        let path = frr_path(&frr1, "ipv4", "10.202.2.0/24").await;
        assert_eq!(
            reflection(&path),
            ("10.255.0.3".into(), vec!["10.0.0.99".into()]),
            "{path}"
        );
        assert_eq!(next_hops(&path), vec!["10.255.0.3"], "{path}");
        for frr in [&frr1, &frr2] {
            let path = frr_path(frr, "ipv4", "10.102.0.0/24").await;
            assert_eq!(next_hops(&path), vec!["10.255.0.1"], "{path}");
            assert_eq!(reflection(&path), (String::new(), vec![]), "{path}");
        }
        // The client's own route is its own, not reflected back.
        let own = frr1.paths("ipv4", "10.202.1.0/24");
        assert_eq!(own.len(), 1, "{own:?}");
        routes
            .until("both clients' routes in our RIB", |t| {
                t.contains_key(&net("10.202.1.0/24")) && t.contains_key(&net("10.202.2.0/24"))
            })
            .await;

        frr1.configure(&[
            "router bgp 65001",
            "address-family ipv4 unicast",
            "no network 10.202.1.0/24",
        ]);
        eventually("withdrawal reflected to client 2", LIMIT, || {
            frr2.paths("ipv4", "10.202.1.0/24").is_empty()
        })
        .await;
        routes
            .until("client 1's withdrawal", |t| {
                !t.contains_key(&net("10.202.1.0/24"))
            })
            .await;
    });
}

/// An FRR whose bgpd stops answering (SIGSTOP: TCP stays open, keepalives
/// stop; FRR's default graceful-restart helper mode lists no families, so
/// nothing is kept stale) is dropped when the 3 s hold timer expires, not
/// before, and its routes are withdrawn then.
#[test]
fn hold_timer_expiry_with_a_stopped_frr() {
    let lab = Lab::new(1);
    let frr = Frr::start(
        &lab,
        1,
        &frr_conf(
            65002,
            1,
            "",
            &format!(
                "{}address-family ipv4 unicast\n  network 10.201.5.0/24\n exit-address-family",
                neighbor("10.255.0.1", 65001, " neighbor 10.255.0.1 timers 1 3\n")
            ),
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001, None), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut p = peer("10.255.0.2", 65002, vec![Family::Ipv4Unicast]);
        p.hold_time = 3;
        speaker.add_peer(p).await.unwrap();
        routes
            .until("FRR's route", |t| t.contains_key(&net("10.201.5.0/24")))
            .await;
        // Keepalives keep the session up over two hold times.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let n = frr.neighbor("10.255.0.1");
        assert_eq!(n["bgpTimerHoldTimeMsecs"], 3000, "{n}");
        assert_eq!(n["connectionsEstablished"], 1, "{n}");

        common::signal(frr.bgpd_pid(), Signal::SIGSTOP);
        let stopped = Instant::now();
        routes
            .until("withdrawal after the hold time", |t| {
                !t.contains_key(&net("10.201.5.0/24"))
            })
            .await;
        let after = stopped.elapsed();
        // FRR's last keepalive came at most 1 s before SIGSTOP.
        assert!(
            after >= Duration::from_millis(1900),
            "withdrawn {after:?} after SIGSTOP: before the hold time"
        );
        assert!(
            after <= Duration::from_secs(6),
            "withdrawn {after:?} after SIGSTOP: hold time 3 s"
        );
        let status = speaker.peers().await.unwrap();
        assert_eq!(
            status[0].last_error.as_deref(),
            Some("hold timer expired"),
            "{status:?}"
        );
        common::signal(frr.bgpd_pid(), Signal::SIGCONT);
    });
}
