//! Interoperability with a real BIRD 2 (`/usr/sbin/bird`), run as root.
//! Each test builds its own namespaces (see `common`): our speaker runs in
//! node 0 on a thread that entered it, BIRD (and, where a test needs them,
//! more speakers of ours) in the other nodes. Everything is removed on drop.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp::codec::{Family, PathAttributes};
use bgp::fsm::State;
use bgp::rib::Source;
use bgp::{Filters, PeerConfig, Speaker, SpeakerConfig};
use common::{
    block_on_in, established, eventually, ip, net, peer_state, Bird, Lab, Remote, Routes,
};
use ipnet::IpNet;
use nix::sys::signal::Signal;

/// BIRD's static routes in most tests: two IPv4 prefixes, one IPv6.
const STATICS: &str =
    "protocol static s4 { ipv4; route 10.200.1.0/24 blackhole; route 10.200.2.0/24 blackhole; }\n\
     protocol static s6 { ipv6; route fd00:200:1::/48 blackhole; }\n";

/// Our speaker's configuration in node 0.
fn ours(asn: u32) -> SpeakerConfig {
    SpeakerConfig::new(asn, "10.255.0.1".parse().unwrap())
}

/// Brings our speaker up against BIRD, checks routes both ways, withdraws.
fn exchange(
    bird_body: &str,
    local_as: u32,
    peer: PeerConfig,
    ours_nets: Vec<IpNet>,
    theirs: Vec<(IpNet, IpAddr)>,
    expect_in_bird: Vec<&str>,
) {
    let lab = Lab::new(1);
    let bird = Bird::start(&lab, 1, &format!("{STATICS}{bird_body}"));
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(local_as), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let addr = peer.address;
        speaker.add_peer(peer).await.unwrap();
        speaker
            .announce(ours_nets.clone(), PathAttributes::default())
            .unwrap();
        established(&speaker, addr).await;
        routes
            .until("BIRD's routes", |t| {
                theirs.iter().all(|(p, nh)| {
                    t.get(p).is_some_and(|r| {
                        r.source == Source::Peer(addr) && r.next_hop(p) == Some(*nh)
                    })
                })
            })
            .await;
        eventually("our routes in BIRD", Duration::from_secs(30), || {
            let all = bird.birdc("show route all");
            expect_in_bird.iter().all(|n| all.contains(n))
        })
        .await;
        let status = speaker.peers().await.unwrap();
        assert_eq!(status[0].received, theirs.len(), "{status:?}");
        assert_eq!(status[0].advertised, ours_nets.len(), "{status:?}");
        // Withdraw one of ours; BIRD drops it.
        speaker.withdraw(vec![ours_nets[0]]).unwrap();
        let gone = ours_nets[0].to_string();
        eventually("withdrawal in BIRD", Duration::from_secs(30), || {
            !bird.birdc("show route").contains(&gone)
        })
        .await;
        // BIRD withdraws its statics; we drop them.
        let proto = if theirs[0].0.addr().is_ipv4() {
            "s4"
        } else {
            "s6"
        };
        bird.birdc(&format!("disable {proto}"));
        routes
            .until("BIRD's withdrawals", |t| {
                theirs.iter().all(|(p, _)| !t.contains_key(p))
            })
            .await;
    });
}

#[test]
fn ebgp_ipv4_with_bird() {
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
    peer.families = vec![Family::Ipv4Unicast];
    exchange(
        "protocol bgp peer1 { local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
           ipv4 { import all; export where source = RTS_STATIC; }; }",
        65001,
        peer,
        vec![net("10.100.1.0/24"), net("10.100.2.0/26")],
        vec![
            (net("10.200.1.0/24"), ip("10.255.0.2")),
            (net("10.200.2.0/24"), ip("10.255.0.2")),
        ],
        vec!["10.100.1.0/24", "10.100.2.0/26", "BGP.as_path: 65001"],
    );
}

#[test]
fn ibgp_ipv4_with_bird_and_md5() {
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65001);
    peer.families = vec![Family::Ipv4Unicast];
    peer.password = Some("s3cret-md5".into());
    // BIRD connects to us: exercises accepting and the listener's MD5 key.
    peer.passive = true;
    exchange(
        "protocol bgp peer1 { local 10.255.0.2 as 65001; neighbor 10.255.0.1 as 65001; direct;\n\
           password \"s3cret-md5\"; connect delay time 1;\n\
           ipv4 { gateway direct; import all; export where source = RTS_STATIC; }; }",
        65001,
        peer,
        vec![net("10.100.3.0/24"), net("10.100.4.0/24")],
        vec![
            (net("10.200.1.0/24"), ip("10.255.0.2")),
            (net("10.200.2.0/24"), ip("10.255.0.2")),
        ],
        vec![
            "10.100.3.0/24",
            "BGP.local_pref: 100",
            "BGP.next_hop: 10.255.0.1",
        ],
    );
}

#[test]
fn ebgp_ipv6_with_bird_and_md5() {
    let mut peer = PeerConfig::new(ip("fd00:255::2"), 65002);
    peer.families = vec![Family::Ipv6Unicast];
    // We connect first (BIRD waits 5 s): exercises MD5 on an outgoing IPv6 socket.
    peer.password = Some("v6-key".into());
    exchange(
        "protocol bgp peer1 { local fd00:255::2 as 65002; neighbor fd00:255::1 as 65001;\n\
           password \"v6-key\";\n\
           ipv6 { import all; export where source = RTS_STATIC; }; }",
        65001,
        peer,
        vec![net("fd00:100:1::/48"), net("fd00:100:2::/64")],
        vec![(net("fd00:200:1::/48"), ip("fd00:255::2"))],
        vec![
            "fd00:100:1::/48",
            "fd00:100:2::/64",
            "BGP.next_hop: fd00:255::1",
        ],
    );
}

#[test]
fn md5_mismatch_keeps_session_down() {
    let lab = Lab::new(1);
    let _bird = Bird::start(
        &lab,
        1,
        &format!(
            "{STATICS}protocol bgp peer1 {{ local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
               password \"right\"; connect delay time 1; connect retry time 1;\n\
               ipv4 {{ import all; export where source = RTS_STATIC; }}; }}"
        ),
    );
    let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
    peer.password = Some("wrong".into());
    peer.connect_retry = Duration::from_secs(1);
    block_on_in(lab.ns(0), || async {
        let (speaker, _best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        speaker.add_peer(peer).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let status = speaker.peers().await.unwrap();
        assert_ne!(status[0].state, State::Established, "{status:?}");
        assert_eq!(status[0].received, 0);
    });
}

/// An iBGP speaker of ours in node `node` peering with `neighbor`.
fn remote(lab: &Lab, node: usize, neighbor: &str, prefix: &str) -> (Remote, Routes) {
    let config = SpeakerConfig::new(65001, Lab::v4(node));
    let mut peer = PeerConfig::new(ip(neighbor), 65001);
    peer.connect_retry = Duration::from_secs(1);
    let (remote, rx) = Remote::start(lab.ns(node), config, vec![peer], vec![net(prefix)]);
    (remote, Routes::new(rx))
}

/// Two of our speakers, both active (so their connections usually collide),
/// then a graceful restart of one: the other keeps its route stale while the
/// session is down and drops it once the session is back, since the restarted
/// speaker preserved no forwarding state (RFC 4724 §4.2).
#[test]
fn ours_to_ours_collision_and_graceful_restart() {
    let lab = Lab::new(1);
    block_on_in(lab.ns(0), || async {
        let (mut first, _) = remote(&lab, 1, "10.255.0.1", "10.60.0.0/24");
        let mut config = ours(65001);
        config.listen = Some("0.0.0.0:179".parse().unwrap());
        let (speaker, best) = Speaker::start(config, Filters::default()).await.unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65001);
        peer.connect_retry = Duration::from_secs(1);
        speaker.add_peer(peer).await.unwrap();
        speaker
            .announce(vec![net("10.50.0.0/24")], PathAttributes::default())
            .unwrap();
        let old = net("10.60.0.0/24");
        routes
            .until("route from the other speaker", |t| {
                t.get(&old)
                    .is_some_and(|r| r.next_hop(&old) == Some(ip("10.255.0.2")))
            })
            .await;
        let status = speaker.peers().await.unwrap();
        assert_eq!(
            (status[0].state, status[0].advertised),
            (State::Established, 1)
        );

        // The other speaker goes away without a NOTIFICATION.
        first.stop();
        let start = Instant::now();
        peer_state(&speaker, "session down", |p| p.state != State::Established).await;
        routes.drain();
        assert!(
            routes.table.contains_key(&old),
            "route kept as stale during restart"
        );

        // It comes back announcing something else; the old route is swept.
        let (_second, _) = remote(&lab, 1, "10.255.0.1", "10.61.0.0/24");
        let new = net("10.61.0.0/24");
        routes
            .until("stale route swept after the restart", |t| {
                t.contains_key(&new) && !t.contains_key(&old)
            })
            .await;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "swept on re-establishment, not by the restart timer"
        );
    });
}

/// Changing filters at run time: a new export filter withdraws from BIRD at
/// once; a new import filter is applied to routes BIRD re-sends after our
/// ROUTE-REFRESH.
#[test]
fn filters_changed_at_run_time_with_bird() {
    let lab = Lab::new(1);
    let bird = Bird::start(
        &lab,
        1,
        &format!(
            "{STATICS}protocol bgp peer1 {{ local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
               ipv4 {{ import all; export where source = RTS_STATIC; }}; }}"
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
        peer.families = vec![Family::Ipv4Unicast];
        speaker.add_peer(peer).await.unwrap();
        let ours_nets = vec![net("10.100.7.0/24"), net("10.100.8.0/24")];
        speaker
            .announce(ours_nets, PathAttributes::default())
            .unwrap();
        routes
            .until("BIRD's routes", |t| {
                t.contains_key(&net("10.200.1.0/24")) && t.contains_key(&net("10.200.2.0/24"))
            })
            .await;
        eventually("our routes in BIRD", Duration::from_secs(30), || {
            bird.has("10.100.8.0/24")
        })
        .await;

        let reject = |net: IpNet| -> bgp::rib::Filter {
            Box::new(move |_, p, _| {
                if *p == net {
                    bgp::rib::Verdict::Reject
                } else {
                    bgp::rib::Verdict::Accept
                }
            })
        };
        speaker
            .set_filters(Filters {
                import: Some(reject(net("10.200.2.0/24"))),
                export: Some(reject(net("10.100.8.0/24"))),
            })
            .unwrap();
        eventually(
            "export filter withdrew 10.100.8.0/24",
            Duration::from_secs(30),
            || !bird.birdc("show route").contains("10.100.8.0/24"),
        )
        .await;
        assert!(bird.has("10.100.7.0/24"));
        routes
            .until("import filter dropped 10.200.2.0/24 after refresh", |t| {
                !t.contains_key(&net("10.200.2.0/24"))
            })
            .await;
        assert!(routes.get("10.200.1.0/24").is_some());
        let status = speaker.peers().await.unwrap();
        assert_eq!(
            (status[0].received, status[0].accepted),
            (2, 1),
            "{status:?}"
        );
    });
}

/// BIRD as route reflector (`rr client`) for two speakers of ours: a route
/// from ours#1 reaches ours#2 through BIRD with ORIGINATOR_ID and
/// CLUSTER_LIST set and the next hop unchanged, and back; withdrawals follow.
#[test]
fn ours_as_route_reflector_clients_of_bird() {
    let lab = Lab::new(2);
    let client = |name: &str, addr: &str| {
        format!(
            "protocol bgp {name} {{ local 10.255.0.2 as 65001; neighbor {addr} as 65001; direct;\n\
               rr client; rr cluster id 10.0.0.99; connect delay time 1;\n\
               ipv4 {{ gateway direct; import all; export all; }}; }}\n"
        )
    };
    let bird = Bird::start(
        &lab,
        1,
        &format!(
            "{}{}",
            client("c1", "10.255.0.1"),
            client("c2", "10.255.0.3")
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (_second, mut routes2) = remote(&lab, 2, "10.255.0.2", "10.71.0.0/24");
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes1 = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65001);
        peer.families = vec![Family::Ipv4Unicast];
        peer.connect_retry = Duration::from_secs(1);
        speaker.add_peer(peer).await.unwrap();
        speaker
            .announce(vec![net("10.70.0.0/24")], PathAttributes::default())
            .unwrap();

        let mine = net("10.70.0.0/24");
        routes2
            .until("ours#1's route reflected to ours#2", |t| {
                t.contains_key(&mine)
            })
            .await;
        let r = routes2.get("10.70.0.0/24").unwrap();
        assert_eq!(r.source, Source::Peer(ip("10.255.0.2")));
        assert_eq!(r.next_hop(&mine), Some(ip("10.255.0.1")), "{r:?}");
        assert_eq!(r.attrs.originator_id, Some("10.255.0.1".parse().unwrap()));
        assert_eq!(
            r.attrs.cluster_list,
            vec!["10.0.0.99".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert_eq!(r.attrs.local_pref, Some(100));

        let theirs = net("10.71.0.0/24");
        routes1
            .until("ours#2's route reflected to ours#1", |t| {
                t.contains_key(&theirs)
            })
            .await;
        let r = routes1.get("10.71.0.0/24").unwrap();
        assert_eq!(r.next_hop(&theirs), Some(ip("10.255.0.3")), "{r:?}");
        assert_eq!(r.attrs.originator_id, Some("10.255.0.3".parse().unwrap()));
        // BIRD does not reflect ours#1's own route back to it.
        routes1.drain();
        assert_eq!(routes1.get("10.70.0.0/24").unwrap().source, Source::Local);
        assert!(bird.has("10.70.0.0/24") && bird.has("10.71.0.0/24"));

        speaker.withdraw(vec![mine]).unwrap();
        routes2
            .until("withdrawal reflected to ours#2", |t| !t.contains_key(&mine))
            .await;
    });
}

/// A BIRD that stops answering (SIGSTOP: the TCP connection stays open,
/// keepalives stop) is dropped when the 3 s hold timer expires, not before,
/// and its routes are withdrawn then, also when it is graceful-restart
/// capable (`gr` "on"): the expiry sends a NOTIFICATION, which ends graceful
/// restart (RFC 4724; RFC 8538's N bit is not negotiated). Keepalives kept
/// the session up for several hold times before.
fn hold_timer_expiry(gr: &str) {
    let lab = Lab::new(1);
    let bird = Bird::start(
        &lab,
        1,
        &format!(
            "{STATICS}protocol bgp peer1 {{ local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
               hold time 3; keepalive time 1; graceful restart {gr};\n\
               ipv4 {{ import all; export where source = RTS_STATIC; }}; }}"
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
        peer.families = vec![Family::Ipv4Unicast];
        peer.hold_time = 3;
        speaker.add_peer(peer).await.unwrap();
        routes
            .until("BIRD's routes", |t| t.contains_key(&net("10.200.1.0/24")))
            .await;
        let up = speaker.peers().await.unwrap()[0].since;
        // Three hold times: both sides' keepalives keep the session alive.
        tokio::time::sleep(Duration::from_secs(9)).await;
        let status = speaker.peers().await.unwrap();
        assert_eq!(
            (status[0].state, status[0].since),
            (State::Established, up),
            "{status:?}"
        );

        bird_signal(&bird, Signal::SIGSTOP);
        let stopped = Instant::now();
        routes
            .until("withdrawal after hold time", |t| {
                !t.contains_key(&net("10.200.1.0/24"))
            })
            .await;
        let after = stopped.elapsed();
        // BIRD's last keepalive came at most 1 s before SIGSTOP.
        assert!(
            after >= Duration::from_millis(1900),
            "withdrawn {after:?} after SIGSTOP: before the hold time"
        );
        assert!(
            after <= Duration::from_secs(6),
            "withdrawn {after:?} after SIGSTOP: hold time 3 s"
        );
        assert!(!routes.table.contains_key(&net("10.200.2.0/24")));
        let status = speaker.peers().await.unwrap();
        assert_ne!(status[0].state, State::Established);
        assert_eq!(
            status[0].last_error.as_deref(),
            Some("hold timer expired"),
            "{status:?}"
        );
        bird_signal(&bird, Signal::SIGCONT);
    });
}

#[test]
fn hold_timer_expiry_withdraws_a_stopped_birds_routes() {
    hold_timer_expiry("off");
}

#[test]
fn hold_timer_expiry_withdraws_even_from_a_graceful_restart_peer() {
    hold_timer_expiry("on");
}

fn bird_signal(bird: &Bird, sig: Signal) {
    common::signal(bird.pid(), sig);
}

/// BIRD as a graceful-restart capable peer, from a BGP protocol template.
fn gr_bird(restart_time: u16) -> String {
    format!(
        "protocol bgp peer1 {{ local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
           graceful restart on; graceful restart time {restart_time}; connect delay time 1;\n\
           ipv4 {{ import all; export where source = RTS_STATIC; }}; }}\n"
    )
}

/// Graceful restart, us as helper: BIRD is SIGKILLed, we keep its routes as
/// stale (never withdrawn); BIRD restarts as a restarting speaker (`-R`: R
/// and F bits) with one prefix changed; the kept prefix is refreshed without
/// a flap and the one BIRD no longer has is swept at its End-of-RIB, long
/// before the restart time.
#[test]
fn graceful_restart_helper_keeps_birds_routes_through_a_restart() {
    let lab = Lab::new(1);
    let mut bird = Bird::start(&lab, 1, &format!("{STATICS}{}", gr_bird(60)));
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
        peer.families = vec![Family::Ipv4Unicast];
        peer.connect_retry = Duration::from_secs(1);
        speaker.add_peer(peer).await.unwrap();
        speaker
            .announce(vec![net("10.100.9.0/24")], PathAttributes::default())
            .unwrap();
        routes
            .until("BIRD's routes", |t| {
                t.contains_key(&net("10.200.1.0/24")) && t.contains_key(&net("10.200.2.0/24"))
            })
            .await;

        bird.kill();
        let killed = Instant::now();
        peer_state(&speaker, "session down", |p| p.state != State::Established).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        routes.drain();
        assert!(routes.get("10.200.1.0/24").is_some() && routes.get("10.200.2.0/24").is_some());

        bird.restart(
            "protocol static s4 { ipv4; route 10.200.1.0/24 blackhole; route 10.200.3.0/24 blackhole; }\n\
             protocol bgp peer1 { local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
               graceful restart on; graceful restart time 60; connect delay time 1;\n\
               ipv4 { import all; export where source = RTS_STATIC; }; }\n",
            true,
        );
        routes
            .until("BIRD's new table after its restart", |t| {
                t.contains_key(&net("10.200.3.0/24")) && !t.contains_key(&net("10.200.2.0/24"))
            })
            .await;
        assert!(
            killed.elapsed() < Duration::from_secs(40),
            "swept at End-of-RIB, not by the 60 s restart timer"
        );
        assert_eq!(routes.withdrawals("10.200.1.0/24"), 0, "{:?}", routes.log);
        assert!(routes.get("10.200.1.0/24").is_some());
        eventually(
            "our route in the restarted BIRD",
            Duration::from_secs(30),
            || bird.has("10.100.9.0/24"),
        )
        .await;
    });
}

/// Graceful restart, us as helper: a BIRD that does not come back has its
/// routes kept for its advertised restart time (4 s) and then swept.
#[test]
fn graceful_restart_helper_sweeps_after_the_restart_time() {
    let lab = Lab::new(1);
    let mut bird = Bird::start(&lab, 1, &format!("{STATICS}{}", gr_bird(4)));
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
        peer.families = vec![Family::Ipv4Unicast];
        speaker.add_peer(peer).await.unwrap();
        routes
            .until("BIRD's routes", |t| t.contains_key(&net("10.200.1.0/24")))
            .await;
        bird.kill();
        let killed = Instant::now();
        routes
            .until("stale routes swept", |t| {
                !t.contains_key(&net("10.200.1.0/24"))
            })
            .await;
        let after = killed.elapsed();
        assert!(
            after >= Duration::from_millis(3500),
            "swept {after:?} after the kill: before the 4 s restart time"
        );
        assert!(
            after <= Duration::from_secs(9),
            "swept {after:?} after the kill: restart time 4 s"
        );
    });
}

/// A BIRD in its default graceful-restart mode ("aware": the capability
/// without any address family, RFC 4724 §3) cannot preserve forwarding, so
/// when it dies its routes are withdrawn at once (RFC 4724 §4.2 keeps only
/// the families listed in the capability), not after its restart time.
#[test]
fn killed_gr_aware_bird_is_withdrawn_at_once() {
    let lab = Lab::new(1);
    let mut bird = Bird::start(
        &lab,
        1,
        &format!(
            "{STATICS}protocol bgp peer1 {{ local 10.255.0.2 as 65002; neighbor 10.255.0.1 as 65001;\n\
               ipv4 {{ import all; export where source = RTS_STATIC; }}; }}"
        ),
    );
    block_on_in(lab.ns(0), || async {
        let (speaker, best) = Speaker::start(ours(65001), Filters::default())
            .await
            .unwrap();
        let mut routes = Routes::new(best);
        let mut peer = PeerConfig::new(ip("10.255.0.2"), 65002);
        peer.families = vec![Family::Ipv4Unicast];
        speaker.add_peer(peer).await.unwrap();
        routes
            .until("BIRD's routes", |t| t.contains_key(&net("10.200.1.0/24")))
            .await;
        bird.kill();
        let killed = Instant::now();
        routes
            .until("routes of the dead BIRD withdrawn", |t| {
                !t.contains_key(&net("10.200.1.0/24"))
            })
            .await;
        assert!(killed.elapsed() < Duration::from_secs(5));
    });
}
