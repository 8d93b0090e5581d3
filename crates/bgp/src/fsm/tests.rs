//! Transition tests of the session FSM, driven with a synthetic clock.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::*;
use crate::codec::{Capability, Family, GrFamily, Message, Notification, Open, Update};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn config(passive: bool) -> SessionConfig {
    SessionConfig {
        passive,
        ..SessionConfig::new(65001, 65002, LOCAL)
    }
}

fn peer_open(asn: u32, hold: u16, gr: bool) -> Open {
    let mut caps = vec![Capability::Multiprotocol(Family::Ipv4Unicast)];
    if gr {
        caps.push(Capability::GracefulRestart {
            restarted: false,
            restart_time: 120,
            families: vec![GrFamily {
                family: Family::Ipv4Unicast,
                forwarding_preserved: true,
            }],
        });
    }
    Open::new(asn, hold, REMOTE, caps)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn notification_sent(actions: &[Action]) -> Option<(u8, u8)> {
    actions.iter().find_map(|a| match a {
        Action::Send(Message::Notification(n)) => Some((n.code, n.subcode)),
        _ => None,
    })
}

/// Brings a session to Established with a peer proposing `hold`.
fn established(t0: Instant, hold: u16, gr: bool) -> Session {
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    s.handle(Event::BgpOpen(peer_open(65002, hold, gr)), t0);
    let up = s.handle(Event::KeepAliveMsg, t0);
    assert!(matches!(up.last(), Some(Action::SessionUp(_))));
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn manual_start_active_connects() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    let a = s.handle(Event::ManualStart, t0);
    assert_eq!(
        a,
        vec![
            Action::StartTimer(Timer::ConnectRetry, secs(5)),
            Action::Connect
        ]
    );
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn manual_start_passive_waits() {
    let t0 = Instant::now();
    let mut s = Session::new(config(true));
    let a = s.handle(Event::ManualStart, t0);
    assert!(!a.contains(&Action::Connect));
    assert_eq!(s.state(), State::Active);
    // The retry timer does not make a passive session connect either.
    let a = s.poll_timers(t0 + secs(5));
    assert!(!a.contains(&Action::Connect));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn connect_retry_expiry_reconnects() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    assert!(s.poll_timers(t0 + secs(4)).is_empty());
    let a = s.poll_timers(t0 + secs(5));
    assert_eq!(
        a,
        vec![
            Action::StartTimer(Timer::ConnectRetry, secs(5)),
            Action::Close,
            Action::Connect
        ]
    );
    // A failed connection waits in Active for the next retry.
    s.handle(Event::TcpConnectionFails, t0 + secs(6));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn handshake_negotiates_and_comes_up() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    let a = s.handle(Event::TcpConnected, t0);
    assert!(
        matches!(&a[1], Action::Send(Message::Open(o)) if o.asn() == 65001 && o.hold_time == 90)
    );
    assert!(a.contains(&Action::StartTimer(Timer::Hold, secs(240))));
    assert_eq!(s.state(), State::OpenSent);
    let a = s.handle(Event::BgpOpen(peer_open(65002, 30, true)), t0);
    assert_eq!(
        a,
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Hold, secs(30)),
            Action::StartTimer(Timer::Keepalive, secs(10)),
        ]
    );
    assert_eq!(s.state(), State::OpenConfirm);
    let a = s.handle(Event::KeepAliveMsg, t0);
    let Some(Action::SessionUp(n)) = a.last() else {
        panic!("{a:?}")
    };
    assert_eq!(n.hold_time, 30);
    assert_eq!(n.families, vec![Family::Ipv4Unicast]);
    assert!(n.ctx.four_octet_as && n.ctx.ebgp);
    assert_eq!(
        n.peer_graceful_restart,
        Some((
            120,
            vec![GrFamily {
                family: Family::Ipv4Unicast,
                forwarding_preserved: true
            }]
        ))
    );
}

#[test]
fn wrong_peer_as_is_rejected() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    let a = s.handle(Event::BgpOpen(peer_open(65009, 90, false)), t0);
    assert_eq!(notification_sent(&a), Some((2, 2)));
    assert!(a.contains(&Action::Close));
    assert_eq!(s.state(), State::Idle);
    // An automatic restart is scheduled.
    assert!(a.contains(&Action::StartTimer(Timer::IdleHold, secs(5))));
}

#[test]
fn ibgp_with_same_router_id_is_rejected() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(65001, 65001, LOCAL));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    let open = Open::new(65001, 90, LOCAL, vec![]);
    let a = s.handle(Event::BgpOpen(open), t0);
    assert_eq!(notification_sent(&a), Some((2, 3)));
}

#[test]
fn keepalive_and_hold_timers() {
    let t0 = Instant::now();
    let mut s = established(t0, 30, true);
    let a = s.poll_timers(t0 + secs(10));
    assert_eq!(a[0], Action::Send(Message::Keepalive));
    assert_eq!(s.state(), State::Established);
    // A keepalive from the peer at 20 s pushes the hold deadline to 50 s.
    s.handle(Event::KeepAliveMsg, t0 + secs(20));
    assert!(notification_sent(&s.poll_timers(t0 + secs(31))).is_none());
    // A stale expiry event (deadline not reached) is ignored.
    assert!(s.handle(Event::HoldTimerExpires, t0 + secs(40)).is_empty());
    let a = s.poll_timers(t0 + secs(50));
    assert_eq!(notification_sent(&a), Some((4, 0)));
    // A NOTIFICATION (4/0) was sent: not a graceful restart (RFC 4724, RFC 8538).
    assert!(a.contains(&Action::SessionDown {
        reason: DownReason::HoldTimerExpired,
        graceful: false
    }));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn zero_hold_time_disables_timers() {
    let t0 = Instant::now();
    let s = established(t0, 0, false);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn updates_flow_only_when_established() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    let a = s.handle(Event::UpdateMsg(Update::default()), t0);
    assert_eq!(notification_sent(&a), Some((5, 1)));

    let mut s = established(t0, 90, false);
    let a = s.handle(Event::UpdateMsg(Update::default()), t0 + secs(1));
    assert_eq!(
        a,
        vec![
            Action::StartTimer(Timer::Hold, secs(90)),
            Action::Routes(Update::default())
        ]
    );
    let a = s.handle(Event::RouteRefreshMsg(Family::Ipv4Unicast), t0);
    assert!(a.contains(&Action::RouteRefresh(Family::Ipv4Unicast)));
    // Not negotiated: ignored.
    let a = s.handle(Event::RouteRefreshMsg(Family::Ipv6Unicast), t0);
    assert!(!a.iter().any(|x| matches!(x, Action::RouteRefresh(_))));
}

#[test]
fn down_reasons_and_graceful_flag() {
    let t0 = Instant::now();
    let mut s = established(t0, 90, true);
    let a = s.handle(Event::TcpConnectionFails, t0);
    assert!(a.contains(&Action::SessionDown {
        reason: DownReason::ConnectionLost,
        graceful: true
    }));

    let mut s = established(t0, 90, true);
    let n = Notification {
        code: 6,
        subcode: 4,
        data: vec![],
    };
    let a = s.handle(Event::NotifMsg(n.clone()), t0);
    assert!(a.contains(&Action::SessionDown {
        reason: DownReason::ReceivedNotification(n),
        graceful: false
    }));

    let mut s = established(t0, 90, true);
    let a = s.handle(Event::ManualStop, t0);
    assert_eq!(notification_sent(&a), Some((6, 2)));
    assert!(a.contains(&Action::SessionDown {
        reason: DownReason::Manual,
        graceful: false
    }));
    // Manual stop: no automatic restart.
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn gr_capability_without_families_keeps_nothing() {
    // RFC 4724 §3: no <AFI, SAFI> listed means the peer preserves no forwarding state.
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    let caps = vec![
        Capability::Multiprotocol(Family::Ipv4Unicast),
        Capability::GracefulRestart {
            restarted: false,
            restart_time: 120,
            families: vec![],
        },
    ];
    s.handle(Event::BgpOpen(Open::new(65002, 90, REMOTE, caps)), t0);
    s.handle(Event::KeepAliveMsg, t0);
    assert_eq!(s.state(), State::Established);
    let a = s.handle(Event::TcpConnectionFails, t0);
    assert!(a.contains(&Action::SessionDown {
        reason: DownReason::ConnectionLost,
        graceful: false
    }));
}

#[test]
fn automatic_restart_backs_off() {
    let t0 = Instant::now();
    let mut s = established(t0, 90, false);
    let bad = Notification {
        code: 3,
        subcode: 1,
        data: vec![],
    };
    let a = s.handle(Event::MessageError(bad.clone()), t0);
    assert_eq!(notification_sent(&a), Some((3, 1)));
    assert!(a.contains(&Action::StartTimer(Timer::IdleHold, secs(5))));
    let a = s.poll_timers(t0 + secs(5));
    assert!(a.contains(&Action::Connect));
    assert_eq!(s.state(), State::Connect);
    // Fails again before Established: the wait doubles.
    let a = s.handle(Event::NotifMsg(bad), t0 + secs(6));
    assert!(a.contains(&Action::StartTimer(Timer::IdleHold, secs(10))));
}

#[test]
fn early_restart_disarms_idle_hold() {
    // An accepted connection restarts an Idle session before its IdleHold
    // timer fires (AutomaticStart); the stale timer must not later hit the
    // new session as an FSM error.
    let t0 = Instant::now();
    let mut s = established(t0, 90, false);
    s.handle(Event::NotifMsg(notification(6, 7)), t0);
    assert_eq!(s.state(), State::Idle);
    let a = s.handle(Event::AutomaticStart, t0 + secs(1));
    assert!(a.contains(&Action::StopTimer(Timer::IdleHold)));
    s.handle(Event::TcpConnected, t0 + secs(1));
    s.handle(Event::BgpOpen(peer_open(65002, 90, false)), t0 + secs(1));
    s.handle(Event::KeepAliveMsg, t0 + secs(1));
    assert_eq!(s.state(), State::Established);
    let a = s.poll_timers(t0 + secs(10));
    assert_eq!(notification_sent(&a), None);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn collision_dump_sends_cease() {
    let t0 = Instant::now();
    let mut s = Session::new(config(false));
    s.handle(Event::ManualStart, t0);
    s.handle(Event::TcpConnected, t0);
    s.handle(Event::BgpOpen(peer_open(65002, 90, false)), t0);
    let a = s.handle(Event::OpenCollisionDump, t0);
    assert_eq!(notification_sent(&a), Some((6, 7)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn collision_resolution_by_identifier() {
    assert!(keep_locally_initiated(REMOTE, LOCAL));
    assert!(!keep_locally_initiated(LOCAL, REMOTE));
    // compared as unsigned 32-bit numbers, not bytewise strings
    assert!(keep_locally_initiated(
        Ipv4Addr::new(200, 0, 0, 1),
        Ipv4Addr::new(100, 255, 255, 255)
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::ManualStart),
            Just(Event::ManualStop),
            Just(Event::AutomaticStart),
            Just(Event::ConnectRetryTimerExpires),
            Just(Event::HoldTimerExpires),
            Just(Event::KeepaliveTimerExpires),
            Just(Event::IdleHoldTimerExpires),
            Just(Event::TcpConnected),
            Just(Event::TcpConnectionFails),
            (0..3u32, 0..100u16).prop_map(|(d, h)| Event::BgpOpen(peer_open(
                65002 + d,
                if h < 3 { 0 } else { h },
                h % 2 == 0
            ))),
            Just(Event::OpenCollisionDump),
            Just(Event::NotifMsg(Notification {
                code: 6,
                subcode: 2,
                data: vec![]
            })),
            Just(Event::KeepAliveMsg),
            Just(Event::UpdateMsg(Update::default())),
            Just(Event::RouteRefreshMsg(Family::Ipv4Unicast)),
        ]
    }

    proptest! {
        /// Whatever the event order: SessionUp and SessionDown alternate,
        /// Established always has negotiated parameters, and routes are only
        /// delivered while Established.
        #[test]
        fn random_event_sequences_keep_invariants(events in prop::collection::vec((event(), 0..50u64), 1..80)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut s = Session::new(config(false));
            let mut up = false;
            for (event, advance) in events {
                now += Duration::from_secs(advance);
                let mut actions = s.poll_timers(now);
                actions.extend(s.handle(event, now));
                for a in &actions {
                    match a {
                        Action::SessionUp(_) => { prop_assert!(!up); up = true; }
                        Action::SessionDown { .. } => { prop_assert!(up); up = false; }
                        Action::Routes(_) => prop_assert!(up),
                        _ => {}
                    }
                }
                prop_assert_eq!(up, s.state() == State::Established);
                if s.state() == State::Established {
                    prop_assert!(s.negotiated().is_some());
                }
                if s.state() == State::Idle {
                    prop_assert!(s.negotiated().is_none());
                }
            }
        }
    }
}
