//! In-process tests of the tokio shell in a private network namespace:
//! connection collisions (RFC 4271 §6.8) between two speakers that connect
//! to each other at the same instant, as both ends of a BIRD or FRR mesh do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use testkit::netns::Netns;

use crate::codec::Family;
use crate::fsm::State;
use crate::{Filters, PeerConfig, Speaker, SpeakerConfig};

const A: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);
const ROUNDS: usize = 40;

/// TCP connections in state ESTABLISHED to or from `ports` in this thread's
/// namespace (each connection counts once per end).
fn established_sockets(ports: [u16; 2]) -> usize {
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").expect("read tcp table");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    .is_some_and(|p| ports.contains(&p))
            };
            f.len() > 3 && f[3] == "01" && (port(f[1]) || port(f[2]))
        })
        .count()
}

async fn speaker(addr: Ipv4Addr, port: u16, router_id: Ipv4Addr) -> Speaker {
    let mut config = SpeakerConfig::new(65000, router_id);
    config.listen = Some(SocketAddr::new(IpAddr::V4(addr), port));
    Speaker::start(config, Filters::default())
        .await
        .expect("start speaker")
        .0
}

fn peer(local: Ipv4Addr, remote: Ipv4Addr, port: u16) -> PeerConfig {
    let mut peer = PeerConfig::new(IpAddr::V4(remote), 65000);
    peer.port = port;
    peer.source = Some(IpAddr::V4(local));
    peer.families = vec![Family::Ipv4Unicast];
    // Longer than the whole round may take: only collision resolution, not
    // a retry after a lost connection, can bring the session up in time.
    peer.connect_retry = Duration::from_secs(30);
    peer
}

/// Both speakers' views of their one peer.
async fn states(a: &Speaker, b: &Speaker) -> Vec<crate::PeerStatus> {
    let mut all = a.peers().await.expect("status");
    all.extend(b.peers().await.expect("status"));
    all
}

async fn one_round(round: usize) {
    // Alternate which side holds the higher BGP identifier.
    let (id_a, id_b) = if round.is_multiple_of(2) {
        (A, B)
    } else {
        (B, A)
    };
    // Fresh ports each round, so no listener of the last round is in the way.
    let ports = [20000 + 2 * round as u16, 20001 + 2 * round as u16];
    let a = speaker(A, ports[0], id_a).await;
    let b = speaker(B, ports[1], id_b).await;
    let (ra, rb) = tokio::join!(
        a.add_peer(peer(A, B, ports[1])),
        b.add_peer(peer(B, A, ports[0]))
    );
    ra.expect("add peer");
    rb.expect("add peer");
    let start = Instant::now();
    let up = loop {
        let all = states(&a, &b).await;
        if all.iter().all(|p| p.state == State::Established) {
            break all;
        }
        // Below the 5 s IdleHold and 30 s ConnectRetry timers: no recovery
        // path other than resolving the collision fits in here.
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "round {round}: not Established: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The losing connection closes at both ends; one stays.
    let start = Instant::now();
    while established_sockets(ports) != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "round {round}: {} established BGP sockets",
            established_sockets(ports)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // And the surviving session does not flap afterwards.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = states(&a, &b).await;
    assert_eq!(established_sockets(ports), 2, "round {round}");
    for (before, after) in up.iter().zip(&later) {
        assert_eq!(after.state, State::Established, "round {round}: {after:?}");
        assert_eq!(after.since, before.since, "round {round}: session flapped");
    }
}

#[test]
fn simultaneous_connects_end_with_one_session() {
    let ns = Netns::new("cbgpb", "collide");
    for addr in [A, B] {
        ns.ip(&["addr", "add", &format!("{addr}/32"), "dev", "lo"]);
    }
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            for round in 0..ROUNDS {
                one_round(round).await;
            }
        });
    });
}
