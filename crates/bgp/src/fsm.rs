//! The per-peer session state machine of RFC 4271 §8, pure: the caller feeds
//! [`Event`]s with the current time and executes the returned [`Action`]s.
//! Timers are deadlines kept here and fired by [`Session::poll_timers`]; no
//! sockets, no clocks of its own.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::codec::{
    code, Capability, Family, GrFamily, Message, Notification, Open, SessionCtx, Update,
};

/// Hold time used while waiting for the peer's OPEN (RFC 4271 §8.2.2: "large value").
const OPEN_HOLD: Duration = Duration::from_secs(240);

/// Static configuration of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: u32,
    /// The AS we expect the peer to announce.
    pub remote_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose (0 or >= 3 seconds).
    pub hold_time: u16,
    /// ConnectRetryTimer interval.
    pub connect_retry: Duration,
    /// Shorter waits before the first retries after consecutive connection failures (the
    /// n-th failure waits the n-th entry, later ones `connect_retry`); counted from the
    /// last start or Established. Empty: always `connect_retry`.
    pub connect_retry_fast: Vec<Duration>,
    /// First delay before an automatic restart after an error; doubles up to
    /// `max_idle_hold` on repeated failures.
    pub idle_hold: Duration,
    /// Upper bound of the automatic-restart backoff.
    pub max_idle_hold: Duration,
    /// Never initiate the TCP connection; wait for the peer.
    pub passive: bool,
    /// Address families we offer.
    pub families: Vec<Family>,
    /// Graceful restart time we advertise; `None` disables the capability.
    pub graceful_restart: Option<u16>,
}

impl SessionConfig {
    /// Defaults close to BIRD's as Calico configures it.
    pub fn new(local_as: u32, remote_as: u32, router_id: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_as,
            remote_as,
            router_id,
            hold_time: 90,
            connect_retry: Duration::from_secs(5),
            connect_retry_fast: Vec::new(),
            idle_hold: Duration::from_secs(5),
            max_idle_hold: Duration::from_secs(30),
            passive: false,
            families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
            graceful_restart: Some(120),
        }
    }

    /// The OPEN we send.
    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        caps.push(Capability::RouteRefresh);
        if let Some(restart_time) = self.graceful_restart {
            // Every family with the F bit: the embedder keeps its forwarding state (kernel
            // routes) across a restart of the speaker, so helpers keep our routes meanwhile.
            caps.push(Capability::GracefulRestart {
                restarted: false,
                restart_time,
                families: self
                    .families
                    .iter()
                    .map(|f| GrFamily {
                        family: *f,
                        forwarding_preserved: true,
                    })
                    .collect(),
            });
        }
        Open::new(self.local_as, self.hold_time, self.router_id, caps)
    }
}

/// RFC 4271 §8.2.2 session states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Refusing connections, waiting for a start event.
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect to us.
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for a KEEPALIVE.
    OpenConfirm,
    /// Exchanging UPDATEs.
    Established,
}

/// The timers of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// ConnectRetryTimer.
    ConnectRetry,
    /// HoldTimer.
    Hold,
    /// KeepaliveTimer.
    Keepalive,
    /// IdleHoldTimer (automatic restart backoff, RFC 4271 §8.1.1 option).
    IdleHold,
}

const TIMERS: [Timer; 4] = [
    Timer::ConnectRetry,
    Timer::Hold,
    Timer::Keepalive,
    Timer::IdleHold,
];

/// Inputs of the state machine.
// UpdateMsg is nearly all traffic; boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Event 1 ManualStart (Event 4 ManualStart_with_PassiveTcpEstablishment
    /// when the config is passive).
    ManualStart,
    /// Event 2 ManualStop.
    ManualStop,
    /// Event 3 AutomaticStart (Event 5 when passive).
    AutomaticStart,
    /// Event 9 ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10 HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11 KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 13 IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// Event 16 Tcp_CR_Acked / Event 17 TcpConnectionConfirmed: a TCP
    /// connection (outgoing or accepted) is ready for this session.
    TcpConnected,
    /// Event 18 TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19 BGPOpen.
    BgpOpen(Open),
    /// Events 21 BGPHeaderErr, 22 BGPOpenMsgErr, 28 UpdateMsgErr: a received
    /// message failed to decode; the NOTIFICATION to send.
    MessageError(Notification),
    /// Event 23 OpenCollisionDump.
    OpenCollisionDump,
    /// Events 24 NotifMsgVerErr and 25 NotifMsg.
    NotifMsg(Notification),
    /// Event 26 KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27 UpdateMsg.
    UpdateMsg(Update),
    /// A ROUTE-REFRESH message (RFC 2918).
    RouteRefreshMsg(Family),
}

/// What the session agreed with the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Peer AS.
    pub peer_as: u32,
    /// Peer BGP identifier.
    pub peer_id: Ipv4Addr,
    /// min(our hold time, theirs).
    pub hold_time: u16,
    /// Families both sides offered.
    pub families: Vec<Family>,
    /// Codec parameters for this session.
    pub ctx: SessionCtx,
    /// Peer supports ROUTE-REFRESH.
    pub route_refresh: bool,
    /// Peer's graceful restart capability: restart time and families whose
    /// forwarding state it preserves.
    pub peer_graceful_restart: Option<(u16, Vec<GrFamily>)>,
}

/// Why a session left Established (or failed to reach it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// Stopped by the operator.
    Manual,
    /// The hold timer expired.
    HoldTimerExpired,
    /// The TCP connection failed or closed.
    ConnectionLost,
    /// We sent a NOTIFICATION for a message error.
    SentNotification(Notification),
    /// The peer sent a NOTIFICATION.
    ReceivedNotification(Notification),
    /// An event arrived that is not valid in the current state.
    FsmError,
    /// Lost a connection collision (§6.8).
    Collision,
}

/// Outputs of the state machine, executed by the caller in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this message to the connection.
    Send(Message),
    /// Start an outgoing TCP connection.
    Connect,
    /// Close the connection.
    Close,
    /// A timer was (re)armed to fire after the duration.
    StartTimer(Timer, Duration),
    /// A timer was stopped.
    StopTimer(Timer),
    /// The session reached Established.
    SessionUp(Negotiated),
    /// The session left Established; `graceful` means the peer is
    /// restart-capable and its routes should be kept stale (RFC 4724 §4.2).
    SessionDown {
        /// Why.
        reason: DownReason,
        /// Retain the peer's routes as stale.
        graceful: bool,
    },
    /// An UPDATE to apply to this peer's Adj-RIB-In.
    Routes(Update),
    /// The peer asks for our routes of a family again.
    RouteRefresh(Family),
}

/// One BGP session.
#[derive(Clone, Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    deadlines: [Option<Instant>; 4],
    negotiated: Option<Negotiated>,
    backoff: Duration,
    /// Connection failures since the last start or Established.
    failures: usize,
    /// Stopped by the operator: no automatic restart.
    stopped: bool,
}

impl Session {
    /// A session in Idle; send [`Event::ManualStart`] to bring it up.
    pub fn new(config: SessionConfig) -> Session {
        let backoff = config.idle_hold;
        Session {
            config,
            state: State::Idle,
            deadlines: [None; 4],
            negotiated: None,
            backoff,
            failures: 0,
            stopped: true,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What was negotiated (from OpenConfirm on).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Codec parameters to use now (defaults before OPEN was received).
    pub fn codec_ctx(&self) -> SessionCtx {
        self.negotiated.as_ref().map_or(
            SessionCtx {
                four_octet_as: true,
                ebgp: self.config.local_as != self.config.remote_as,
            },
            |n| n.ctx,
        )
    }

    /// The earliest armed timer deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn poll_timers(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        for timer in TIMERS {
            if self.deadlines[timer as usize].is_some_and(|d| d <= now) {
                let event = match timer {
                    Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
                    Timer::Hold => Event::HoldTimerExpires,
                    Timer::Keepalive => Event::KeepaliveTimerExpires,
                    Timer::IdleHold => Event::IdleHoldTimerExpires,
                };
                out.extend(self.handle(event, now));
            }
        }
        out
    }

    fn start(&mut self, timer: Timer, after: Duration, now: Instant, out: &mut Vec<Action>) {
        self.deadlines[timer as usize] = Some(now + after);
        out.push(Action::StartTimer(timer, after));
    }

    fn stop(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if self.deadlines[timer as usize].take().is_some() {
            out.push(Action::StopTimer(timer));
        }
    }

    /// Whether a timer event is genuine (armed and due), not a stale wake-up.
    fn due(&self, timer: Timer, now: Instant) -> bool {
        self.deadlines[timer as usize].is_some_and(|d| d <= now)
    }

    /// Feeds one event; returns the actions to perform, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let timer_of = match &event {
            Event::ConnectRetryTimerExpires => Some(Timer::ConnectRetry),
            Event::HoldTimerExpires => Some(Timer::Hold),
            Event::KeepaliveTimerExpires => Some(Timer::Keepalive),
            Event::IdleHoldTimerExpires => Some(Timer::IdleHold),
            _ => None,
        };
        if let Some(timer) = timer_of {
            if !self.due(timer, now) {
                return out;
            }
            self.deadlines[timer as usize] = None;
        }
        match (self.state, event) {
            (State::Idle, Event::ManualStart) => {
                self.stopped = false;
                self.backoff = self.config.idle_hold;
                self.failures = 0;
                self.begin(now, &mut out);
            }
            (State::Idle, Event::AutomaticStart | Event::IdleHoldTimerExpires) => {
                if !self.stopped {
                    self.begin(now, &mut out);
                }
            }
            (State::Idle, _) => {}
            (_, Event::ManualStart | Event::AutomaticStart) => {}
            (_, Event::ManualStop) => {
                self.stopped = true;
                if matches!(
                    self.state,
                    State::OpenSent | State::OpenConfirm | State::Established
                ) {
                    out.push(notify(code::CEASE, 2));
                }
                self.go_idle(DownReason::Manual, now, &mut out);
            }
            (State::Connect | State::Active, Event::ConnectRetryTimerExpires) => {
                let retry = self.config.connect_retry;
                self.start(Timer::ConnectRetry, retry, now, &mut out);
                if !self.config.passive {
                    if self.state == State::Connect {
                        out.push(Action::Close);
                    }
                    out.push(Action::Connect);
                    self.state = State::Connect;
                }
            }
            (State::Connect | State::Active, Event::TcpConnected) => {
                self.stop(Timer::ConnectRetry, &mut out);
                out.push(Action::Send(Message::Open(self.config.open())));
                self.start(Timer::Hold, OPEN_HOLD, now, &mut out);
                self.state = State::OpenSent;
            }
            (State::Connect | State::Active, Event::TcpConnectionFails) => {
                let retry = self.retry_after_failure();
                self.start(Timer::ConnectRetry, retry, now, &mut out);
                self.state = State::Active;
            }
            (State::OpenSent, Event::TcpConnectionFails) => {
                out.push(Action::Close);
                self.stop(Timer::Hold, &mut out);
                let retry = self.retry_after_failure();
                self.start(Timer::ConnectRetry, retry, now, &mut out);
                self.state = State::Active;
            }
            (State::OpenSent, Event::BgpOpen(open)) => self.on_open(open, now, &mut out),
            (
                State::OpenSent | State::OpenConfirm | State::Established,
                Event::HoldTimerExpires,
            ) => {
                out.push(notify(code::HOLD_TIMER, 0));
                self.go_idle(DownReason::HoldTimerExpired, now, &mut out);
            }
            (State::OpenSent | State::OpenConfirm | State::Established, Event::MessageError(n)) => {
                out.push(Action::Send(Message::Notification(n.clone())));
                self.go_idle(DownReason::SentNotification(n), now, &mut out);
            }
            (_, Event::NotifMsg(n)) => {
                self.go_idle(DownReason::ReceivedNotification(n), now, &mut out)
            }
            (_, Event::OpenCollisionDump) => {
                if self.state != State::Connect && self.state != State::Active {
                    out.push(notify(code::CEASE, 7));
                }
                self.go_idle(DownReason::Collision, now, &mut out);
            }
            (State::OpenConfirm | State::Established, Event::KeepaliveTimerExpires) => {
                out.push(Action::Send(Message::Keepalive));
                self.arm_keepalive(now, &mut out);
            }
            (State::OpenConfirm, Event::KeepAliveMsg) => {
                self.arm_hold(now, &mut out);
                self.state = State::Established;
                self.backoff = self.config.idle_hold;
                self.failures = 0;
                if let Some(n) = &self.negotiated {
                    out.push(Action::SessionUp(n.clone()));
                }
            }
            (State::Established, Event::KeepAliveMsg) => self.arm_hold(now, &mut out),
            (State::Established, Event::UpdateMsg(update)) => {
                self.arm_hold(now, &mut out);
                out.push(Action::Routes(update));
            }
            (State::Established, Event::RouteRefreshMsg(family)) => {
                self.arm_hold(now, &mut out);
                if self
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.families.contains(&family))
                {
                    out.push(Action::RouteRefresh(family));
                }
            }
            (State::OpenConfirm | State::Established, Event::TcpConnectionFails) => {
                self.go_idle(DownReason::ConnectionLost, now, &mut out)
            }
            (State::Connect | State::Active, _) => {
                self.go_idle(DownReason::FsmError, now, &mut out);
            }
            (state, _) => {
                let subcode = match state {
                    State::OpenSent => 1,
                    State::OpenConfirm => 2,
                    _ => 3,
                };
                out.push(notify(code::FSM, subcode));
                self.go_idle(DownReason::FsmError, now, &mut out);
            }
        }
        out
    }

    /// The wait before retrying after a connection failure; counts the failure.
    fn retry_after_failure(&mut self) -> Duration {
        let fast = self.config.connect_retry_fast.get(self.failures).copied();
        self.failures += 1;
        fast.unwrap_or(self.config.connect_retry)
    }

    /// Idle -> Connect (active) or Active (passive). A restart before the
    /// IdleHoldTimer fired (an accepted connection) disarms it, or it would
    /// later hit the new session as an FSM error.
    fn begin(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.stop(Timer::IdleHold, out);
        let retry = self.config.connect_retry;
        self.start(Timer::ConnectRetry, retry, now, out);
        if self.config.passive {
            self.state = State::Active;
        } else {
            out.push(Action::Connect);
            self.state = State::Connect;
        }
    }

    fn on_open(&mut self, open: Open, now: Instant, out: &mut Vec<Action>) {
        let peer_as = open.asn();
        if peer_as != self.config.remote_as {
            let n = notification(code::OPEN, 2);
            out.push(Action::Send(Message::Notification(n.clone())));
            return self.go_idle(DownReason::SentNotification(n), now, out);
        }
        let ibgp = peer_as == self.config.local_as;
        if ibgp && open.bgp_id == self.config.router_id {
            let n = notification(code::OPEN, 3);
            out.push(Action::Send(Message::Notification(n.clone())));
            return self.go_idle(DownReason::SentNotification(n), now, out);
        }
        let theirs = open.families();
        let families = self
            .config
            .families
            .iter()
            .copied()
            .filter(|f| theirs.contains(f))
            .collect();
        let peer_graceful_restart = open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart {
                restart_time,
                families,
                ..
            } => Some((*restart_time, families.clone())),
            _ => None,
        });
        self.negotiated = Some(Negotiated {
            peer_as,
            peer_id: open.bgp_id,
            hold_time: open.hold_time.min(self.config.hold_time),
            families,
            ctx: SessionCtx {
                four_octet_as: open.has(65),
                ebgp: !ibgp,
            },
            route_refresh: open.has(2),
            peer_graceful_restart,
        });
        out.push(Action::Send(Message::Keepalive));
        self.arm_hold(now, out);
        self.arm_keepalive(now, out);
        self.state = State::OpenConfirm;
    }

    fn hold_time(&self) -> u16 {
        self.negotiated.as_ref().map_or(0, |n| n.hold_time)
    }

    fn arm_hold(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.hold_time() {
            0 => self.stop(Timer::Hold, out),
            h => self.start(Timer::Hold, Duration::from_secs(h.into()), now, out),
        }
    }

    fn arm_keepalive(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.hold_time() {
            0 => self.stop(Timer::Keepalive, out),
            h => self.start(
                Timer::Keepalive,
                Duration::from_secs((h / 3).into()),
                now,
                out,
            ),
        }
    }

    /// Any state -> Idle: close, stop timers, report the session down if it
    /// was up, and arm the automatic restart unless stopped by the operator.
    fn go_idle(&mut self, reason: DownReason, now: Instant, out: &mut Vec<Action>) {
        let was_up = self.state == State::Established;
        if self.state != State::Idle {
            out.push(Action::Close);
        }
        for timer in TIMERS {
            self.stop(timer, out);
        }
        if was_up {
            // RFC 4724 §4.2: routes are kept only if the peer listed families in its
            // capability (none: it cannot preserve forwarding state, §3) and the TCP
            // session ended without a NOTIFICATION. A hold timer expiry sends one; RFC
            // 8538's N bit, which would extend GR to it, is not negotiated.
            let gr = self.negotiated.as_ref().is_some_and(|n| {
                n.peer_graceful_restart
                    .as_ref()
                    .is_some_and(|(_, families)| !families.is_empty())
            });
            let graceful = gr && matches!(reason, DownReason::ConnectionLost);
            out.push(Action::SessionDown { reason, graceful });
        }
        self.negotiated = None;
        self.state = State::Idle;
        if !self.stopped {
            let wait = self.backoff;
            self.backoff = (self.backoff * 2).min(self.config.max_idle_hold);
            self.start(Timer::IdleHold, wait, now, out);
        }
    }
}

fn notification(code: u8, subcode: u8) -> Notification {
    Notification {
        code,
        subcode,
        data: vec![],
    }
}

fn notify(code: u8, subcode: u8) -> Action {
    Action::Send(Message::Notification(notification(code, subcode)))
}

/// Connection collision resolution (RFC 4271 §6.8): true if the connection
/// we initiated survives, i.e. our BGP identifier is the higher one.
pub fn keep_locally_initiated(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> bool {
    u32::from(local_id) > u32::from(remote_id)
}

#[cfg(test)]
mod tests;
