//! The owner task: the RIB, one FSM per peer (two during a connection
//! collision) and the connections they drive. Child tasks feed [`Input`];
//! FSM [`Action`]s are executed here and nowhere else.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::conn::{self, Conn, Input, Task};
use super::{Command, Filters, PeerConfig, PeerStatus, SpeakerConfig};
use crate::codec::{
    decode_message, pack_announce, pack_withdraw, Family, Message, Notification, Update,
};
use crate::error::Error;
use crate::fsm::{self, Action, DownReason, Event, Negotiated, Session, SessionConfig, State};
use crate::rib::{BestChange, Changes, PeerInfo, Rib, RibConfig};

/// Which of a peer's sessions: the main one, or the second one that exists
/// only while a connection collision (RFC 4271 §6.8) is being resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Main,
    Second,
}

struct Endpoint {
    session: Session,
    conn: Option<Conn>,
}

struct Slot {
    config: PeerConfig,
    main: Endpoint,
    second: Option<Endpoint>,
    connecting: Option<Task>,
    attempt: u64,
    since: SystemTime,
    last_error: Option<String>,
    restart_time: Option<u16>,
    stale_until: Option<Instant>,
}

impl Slot {
    fn endpoint(&mut self, which: Which) -> Option<&mut Endpoint> {
        match which {
            Which::Main => Some(&mut self.main),
            Which::Second => self.second.as_mut(),
        }
    }

    /// The state [`PeerStatus`] reports: the established session's, else the main one's.
    fn reported_state(&self) -> State {
        self.established()
            .map_or(self.main.session.state(), |e| e.session.state())
    }

    fn established(&self) -> Option<&Endpoint> {
        std::iter::once(&self.main)
            .chain(self.second.as_ref())
            .find(|e| e.session.state() == State::Established)
    }
}

pub(super) struct Core {
    config: SpeakerConfig,
    rib: Rib,
    listener: Option<Arc<TcpListener>>,
    peers: BTreeMap<IpAddr, Slot>,
    input_tx: mpsc::UnboundedSender<Input>,
    input_rx: mpsc::UnboundedReceiver<Input>,
    best_tx: mpsc::UnboundedSender<BestChange>,
    /// The reported state of each peer as last told to `states_tx`.
    states: BTreeMap<IpAddr, State>,
    states_tx: watch::Sender<()>,
    next_conn: u64,
    draining: Vec<Task>,
}

impl Core {
    pub(super) fn new(
        config: SpeakerConfig,
        filters: Filters,
        listener: Option<Arc<TcpListener>>,
        best_tx: mpsc::UnboundedSender<BestChange>,
        states_tx: watch::Sender<()>,
    ) -> Core {
        let mut rib = Rib::new(RibConfig {
            local_as: config.local_as,
            router_id: config.router_id,
            cluster_id: config.cluster_id,
        });
        if let Some(f) = filters.import {
            rib.set_import(f);
        }
        if let Some(f) = filters.export {
            rib.set_export(f);
        }
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        Core {
            config,
            rib,
            listener,
            peers: BTreeMap::new(),
            input_tx,
            input_rx,
            best_tx,
            states: BTreeMap::new(),
            states_tx,
            next_conn: 0,
            draining: Vec::new(),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let _accept = self
            .listener
            .clone()
            .map(|l| Task::spawn(conn::accept(l, self.input_tx.clone())));
        loop {
            let deadline = self.next_deadline();
            let sleep = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some(input) = self.input_rx.recv() => self.input(input),
                () = sleep => {}
            }
            self.poll_timers(Instant::now());
            self.draining.retain(|t| !t.is_finished());
            self.note_states();
        }
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.stop_peer(addr);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|s| {
                [
                    s.main.session.next_deadline(),
                    s.second.as_ref().and_then(|e| e.session.next_deadline()),
                    s.stale_until,
                ]
            })
            .flatten()
            .min()
    }

    /// Marks the state watch changed when a peer came or went or its reported state moved.
    fn note_states(&mut self) {
        let same = self.states.len() == self.peers.len()
            && self
                .states
                .iter()
                .zip(&self.peers)
                .all(|((a, state), (b, slot))| a == b && *state == slot.reported_state());
        if !same {
            self.states = self
                .peers
                .iter()
                .map(|(a, slot)| (*a, slot.reported_state()))
                .collect();
            self.states_tx.send_replace(());
        }
    }

    fn poll_timers(&mut self, now: Instant) {
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            for which in [Which::Main, Which::Second] {
                let Some(ep) = self.peers.get_mut(&addr).and_then(|s| s.endpoint(which)) else {
                    continue;
                };
                let actions = ep.session.poll_timers(now);
                self.execute(addr, which, actions, now);
            }
            let Some(slot) = self.peers.get_mut(&addr) else {
                continue;
            };
            if slot.stale_until.is_some_and(|t| t <= now) {
                slot.stale_until = None;
                let changes = self.rib.sweep_stale(addr, None);
                self.apply(changes);
            }
            self.tidy(addr);
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::AddPeer(cfg, reply) => {
                let _ = reply.send(self.add_peer(*cfg, now));
            }
            Command::RemovePeer(addr, reply) => {
                if !self.peers.contains_key(&addr) {
                    let _ = reply.send(Err(Error::UnknownPeer(addr)));
                    return;
                }
                self.stop_peer(addr);
                if let Some(slot) = self.peers.remove(&addr) {
                    if let (Some(l), Some(_)) = (&self.listener, &slot.config.password) {
                        // The key goes with the peer; failure leaves a harmless key.
                        let _ = crate::md5::set_key(l.as_ref(), addr, None);
                    }
                }
                let changes = self.rib.remove_peer(addr);
                self.apply(changes);
                let _ = reply.send(Ok(()));
            }
            Command::Announce(prefixes, attrs) => {
                let changes = self.rib.announce_local(&prefixes, attrs);
                self.apply(changes);
            }
            Command::Withdraw(prefixes) => {
                let changes = self.rib.withdraw_local(&prefixes);
                self.apply(changes);
            }
            Command::SetFilters(filters) => {
                if let Some(f) = filters.export {
                    self.rib.set_export(f);
                    let changes = self.rib.reexport();
                    self.apply(changes);
                }
                if let Some(f) = filters.import {
                    self.rib.set_import(f);
                    self.request_refresh();
                }
            }
            Command::Status(reply) => {
                let status = self
                    .peers
                    .iter()
                    .map(|(addr, slot)| {
                        let counts = self.rib.counts(*addr);
                        let established = slot.established();
                        let state =
                            established.map_or(slot.main.session.state(), |e| e.session.state());
                        PeerStatus {
                            address: *addr,
                            state,
                            since: slot.since,
                            received: counts.received,
                            accepted: counts.accepted,
                            advertised: counts.advertised,
                            last_error: slot.last_error.clone(),
                            hold_time: established
                                .and_then(|e| e.session.negotiated())
                                .map(|n| n.hold_time),
                            peer_restart_time: slot.restart_time,
                            stale: self.rib.stale_count(*addr),
                        }
                    })
                    .collect();
                let _ = reply.send(status);
            }
        }
    }

    /// Sends ROUTE-REFRESH for every negotiated family to established peers
    /// that support it.
    fn request_refresh(&self) {
        for slot in self.peers.values() {
            let Some(ep) = slot.established() else {
                continue;
            };
            let (Some(n), Some(conn)) = (ep.session.negotiated(), &ep.conn) else {
                continue;
            };
            if !n.route_refresh {
                continue;
            }
            for family in &n.families {
                if let Ok(bytes) = Message::RouteRefresh(*family).encode(&n.ctx) {
                    conn.send(bytes);
                }
            }
        }
    }

    fn add_peer(&mut self, cfg: PeerConfig, now: Instant) -> crate::Result<()> {
        let addr = cfg.address;
        if self.peers.contains_key(&addr) {
            self.stop_peer(addr);
            self.peers.remove(&addr);
            let changes = self.rib.remove_peer(addr);
            self.apply(changes);
        }
        if let (Some(l), Some(key)) = (&self.listener, &cfg.password) {
            crate::md5::set_key(l.as_ref(), addr, Some(key.as_bytes()))?;
        }
        let session = Session::new(SessionConfig {
            hold_time: cfg.hold_time,
            connect_retry: cfg.connect_retry,
            connect_retry_fast: cfg.connect_retry_fast.clone(),
            passive: cfg.passive,
            families: cfg.families.clone(),
            graceful_restart: cfg.graceful_restart,
            ..SessionConfig::new(
                cfg.local_as.unwrap_or(self.config.local_as),
                cfg.remote_as,
                self.config.router_id,
            )
        });
        self.rib.add_peer(PeerInfo {
            address: addr,
            asn: cfg.remote_as,
            router_id: std::net::Ipv4Addr::UNSPECIFIED,
            rr_client: cfg.rr_client,
            local_v4: cfg.next_hop_v4,
            local_v6: cfg.next_hop_v6,
        });
        self.peers.insert(
            addr,
            Slot {
                config: cfg,
                main: Endpoint {
                    session,
                    conn: None,
                },
                second: None,
                connecting: None,
                attempt: 0,
                since: SystemTime::now(),
                last_error: None,
                restart_time: None,
                stale_until: None,
            },
        );
        self.feed(addr, Which::Main, Event::ManualStart, now);
        Ok(())
    }

    fn stop_peer(&mut self, addr: IpAddr) {
        let now = Instant::now();
        self.feed(addr, Which::Second, Event::ManualStop, now);
        self.feed(addr, Which::Main, Event::ManualStop, now);
    }

    /// Runs one event through a session and executes the actions.
    fn feed(&mut self, addr: IpAddr, which: Which, event: Event, now: Instant) {
        let Some(ep) = self.peers.get_mut(&addr).and_then(|s| s.endpoint(which)) else {
            return;
        };
        let actions = ep.session.handle(event, now);
        self.execute(addr, which, actions, now);
        self.tidy(addr);
    }

    /// Drops a finished collision session (dumped, or its connection lost:
    /// a second session never reconnects by itself); promotes the survivor
    /// when the main session lost its connection.
    fn tidy(&mut self, addr: IpAddr) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(second) = &slot.second else {
            return;
        };
        if second.session.state() == State::Idle || second.conn.is_none() {
            if let Some(conn) = slot.second.take().and_then(|e| e.conn) {
                self.draining.extend(conn.close());
            }
        } else if slot.main.conn.is_none() {
            if let Some(second) = slot.second.take() {
                slot.main = second;
            }
        }
    }

    fn execute(&mut self, addr: IpAddr, which: Which, actions: Vec<Action>, now: Instant) {
        for action in actions {
            let Some(slot) = self.peers.get_mut(&addr) else {
                return;
            };
            match action {
                Action::Send(msg) => {
                    let Some(ep) = slot.endpoint(which) else {
                        continue;
                    };
                    match msg.encode(&ep.session.codec_ctx()) {
                        Ok(bytes) => {
                            if let Some(c) = &ep.conn {
                                c.send(bytes);
                            }
                        }
                        Err(e) => slot.last_error = Some(e.to_string()),
                    }
                }
                Action::Connect if which == Which::Main => self.start_connect(addr),
                Action::Connect => {}
                Action::Close => {
                    // An outgoing attempt in flight is kept: it may be the
                    // connection the peer keeps (see `take_connection`).
                    if let Some(conn) = slot.endpoint(which).and_then(|e| e.conn.take()) {
                        self.draining.extend(conn.close());
                    }
                }
                Action::StartTimer(..) | Action::StopTimer(_) => {}
                Action::SessionUp(n) => self.session_up(addr, which, n),
                Action::SessionDown { reason, graceful } => {
                    if !matches!(reason, DownReason::Manual) {
                        slot.last_error = Some(describe(&reason));
                    }
                    slot.since = SystemTime::now();
                    if graceful {
                        let secs = slot.restart_time.unwrap_or(120);
                        slot.stale_until = Some(now + Duration::from_secs(secs.into()));
                    }
                    let changes = self.rib.peer_down(addr, graceful);
                    self.apply(changes);
                }
                Action::Routes(update) => {
                    let changes = match update.end_of_rib {
                        Some(family) => self.rib.sweep_stale(addr, Some(family)),
                        None => self.rib.apply_update(addr, update),
                    };
                    self.apply(changes);
                }
                Action::RouteRefresh(family) => {
                    let changes = self.rib.refresh(addr, family);
                    self.apply(changes);
                }
            }
        }
    }

    fn session_up(&mut self, addr: IpAddr, which: Which, n: Negotiated) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        let local = slot
            .endpoint(which)
            .and_then(|e| e.conn.as_ref())
            .map(|c| c.local.ip().to_canonical());
        let info = PeerInfo {
            address: addr,
            asn: n.peer_as,
            router_id: n.peer_id,
            rr_client: slot.config.rr_client,
            local_v4: slot.config.next_hop_v4.or(match local {
                Some(IpAddr::V4(a)) => Some(a),
                _ => None,
            }),
            local_v6: slot.config.next_hop_v6.or(match local {
                Some(IpAddr::V6(a)) => Some(a),
                _ => None,
            }),
        };
        slot.since = SystemTime::now();
        slot.restart_time = n.peer_graceful_restart.as_ref().map(|g| g.0);
        let changes = self.rib.peer_up(info, n.families.clone());
        self.apply(changes);
        // RFC 4724 §4.2: stale routes of families whose forwarding state the
        // restarted peer did not preserve are dropped at once.
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            let preserved = n.peer_graceful_restart.as_ref().is_some_and(|(_, fams)| {
                fams.iter()
                    .any(|g| g.family == family && g.forwarding_preserved)
            });
            if !preserved {
                let changes = self.rib.sweep_stale(addr, Some(family));
                self.apply(changes);
            }
        }
        // End-of-RIB after the initial table (RFC 4724 §2).
        if let Some(ep) = self.peers.get(&addr).and_then(Slot::established) {
            for family in n.families {
                if let (Ok(bytes), Some(c)) = (
                    Message::Update(Update::end_of_rib(family)).encode(&n.ctx),
                    &ep.conn,
                ) {
                    c.send(bytes);
                }
            }
        }
    }

    /// Sends best-route changes out and UPDATEs to established peers.
    fn apply(&mut self, changes: Changes) {
        for change in changes.best {
            let _ = self.best_tx.send(change);
        }
        for (addr, out) in changes.outbound {
            let Some(slot) = self.peers.get_mut(&addr) else {
                continue;
            };
            let Some(ep) = slot.established() else {
                continue;
            };
            let (Some(conn), ctx) = (&ep.conn, ep.session.codec_ctx()) else {
                continue;
            };
            let mut error = None;
            match pack_withdraw(&out.withdraw, &ctx) {
                Ok(msgs) => msgs.into_iter().for_each(|m| conn.send(m)),
                Err(e) => error = Some(e.to_string()),
            }
            for (attrs, prefixes) in &out.announce {
                match pack_announce(attrs, prefixes, &ctx) {
                    Ok(msgs) => msgs.into_iter().for_each(|m| conn.send(m)),
                    Err(e) => error = Some(e.to_string()),
                }
            }
            if error.is_some() {
                slot.last_error = error;
            }
        }
    }

    fn start_connect(&mut self, addr: IpAddr) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        slot.attempt += 1;
        let target = SocketAddr::new(addr, slot.config.port);
        slot.connecting = Some(Task::spawn(conn::connect(
            target,
            slot.config.source,
            slot.config.password.clone(),
            slot.config.ttl_security,
            slot.attempt,
            self.input_tx.clone(),
        )));
    }

    fn new_conn(&mut self, stream: tokio::net::TcpStream, local: bool) -> Option<Conn> {
        self.next_conn += 1;
        Conn::new(self.next_conn, stream, local, self.input_tx.clone()).ok()
    }

    fn find_conn(&self, id: u64) -> Option<(IpAddr, Which)> {
        self.peers.iter().find_map(|(addr, slot)| {
            if slot.main.conn.as_ref().is_some_and(|c| c.id == id) {
                Some((*addr, Which::Main))
            } else if slot
                .second
                .as_ref()
                .and_then(|e| e.conn.as_ref())
                .is_some_and(|c| c.id == id)
            {
                Some((*addr, Which::Second))
            } else {
                None
            }
        })
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Accepted(stream, remote) => {
                self.accepted(stream, remote.ip().to_canonical(), now)
            }
            Input::Connected {
                peer,
                attempt,
                result,
            } => {
                let Some(slot) = self.peers.get_mut(&peer) else {
                    return;
                };
                if attempt != slot.attempt {
                    return;
                }
                slot.connecting = None;
                if slot.main.session.state() != State::Connect {
                    // The main session moved on while ours was in flight
                    // (the peer's connection took over, or was dumped). The
                    // peer may already have accepted ours and chosen it, so
                    // it is used, not dropped (dropping both ends' outgoing
                    // connections at once would retry in lockstep).
                    if let Ok(stream) = result {
                        self.take_connection(peer, stream, true, now);
                    }
                    return;
                }
                let stream = match result {
                    Ok(stream) => stream,
                    Err(e) => {
                        slot.last_error = Some(format!("connect: {e}"));
                        return self.feed(peer, Which::Main, Event::TcpConnectionFails, now);
                    }
                };
                match self.new_conn(stream, true) {
                    Some(conn) => {
                        if let Some(slot) = self.peers.get_mut(&peer) {
                            slot.main.conn = Some(conn);
                        }
                        self.feed(peer, Which::Main, Event::TcpConnected, now);
                    }
                    None => self.feed(peer, Which::Main, Event::TcpConnectionFails, now),
                }
            }
            Input::Frame { conn, bytes } => {
                let Some((addr, which)) = self.find_conn(conn) else {
                    return;
                };
                self.frame(addr, which, conn, &bytes, now);
            }
            Input::Closed { conn, error } => {
                let Some((addr, which)) = self.find_conn(conn) else {
                    return;
                };
                if let Some(slot) = self.peers.get_mut(&addr) {
                    slot.last_error = Some(error);
                }
                self.feed(addr, which, Event::TcpConnectionFails, now);
            }
        }
    }

    fn accepted(&mut self, stream: tokio::net::TcpStream, addr: IpAddr, now: Instant) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return; // not a configured peer: dropping the stream closes it
        };
        if let Some(hops) = slot.config.ttl_security {
            if let Err(e) = super::gtsm::set(&stream, addr, hops) {
                slot.last_error = Some(format!("GTSM: {e}"));
                return;
            }
        }
        self.take_connection(addr, stream, false, now);
    }

    /// A connection to `addr` (accepted, or our own that completed after
    /// the main session moved on) goes where the main session's state says.
    fn take_connection(
        &mut self,
        addr: IpAddr,
        stream: tokio::net::TcpStream,
        local: bool,
        now: Instant,
    ) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        match slot.main.session.state() {
            State::Idle => {
                // Restart at once instead of waiting out the idle hold.
                let actions: Vec<Action> = slot
                    .main
                    .session
                    .handle(Event::AutomaticStart, now)
                    .into_iter()
                    .filter(|a| *a != Action::Connect)
                    .collect();
                self.execute(addr, Which::Main, actions, now);
                let still_idle = self
                    .peers
                    .get(&addr)
                    .is_none_or(|s| s.main.session.state() == State::Idle);
                if !still_idle {
                    self.attach_main(addr, stream, local, now);
                }
            }
            State::Connect | State::Active => self.attach_main(addr, stream, local, now),
            State::OpenSent | State::OpenConfirm => {
                self.collision_candidate(addr, stream, local, now)
            }
            State::Established => {} // refuse: dropping the stream closes it
        }
    }

    /// A second connection to a peer whose main session is past Connect:
    /// runs it as the second session until an OPEN tells which one survives
    /// (§6.8). Refused when the main session is Established or a collision
    /// is already being resolved.
    fn collision_candidate(
        &mut self,
        addr: IpAddr,
        stream: tokio::net::TcpStream,
        local: bool,
        now: Instant,
    ) {
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        let open = matches!(
            slot.main.session.state(),
            State::OpenSent | State::OpenConfirm
        );
        if !open || slot.second.is_some() {
            return;
        }
        let config = slot.main.session.config().clone();
        let Some(conn) = self.new_conn(stream, local) else {
            return;
        };
        if let Some(slot) = self.peers.get_mut(&addr) {
            slot.second = Some(Endpoint {
                session: Session::new(config),
                conn: Some(conn),
            });
        }
        self.feed(addr, Which::Second, Event::ManualStart, now);
        self.feed(addr, Which::Second, Event::TcpConnected, now);
    }

    /// Hands an accepted connection to the main session. An outgoing attempt
    /// still in flight is kept: if it completes, it becomes the collision
    /// candidate.
    fn attach_main(
        &mut self,
        addr: IpAddr,
        stream: tokio::net::TcpStream,
        local: bool,
        now: Instant,
    ) {
        let conn = self.new_conn(stream, local);
        let Some(slot) = self.peers.get_mut(&addr) else {
            return;
        };
        if let Some(old) = slot.main.conn.take() {
            self.draining.extend(old.close());
        }
        slot.main.conn = conn;
        self.feed(addr, Which::Main, Event::TcpConnected, now);
    }

    fn frame(&mut self, addr: IpAddr, which: Which, conn: u64, bytes: &[u8], now: Instant) {
        let Some(ep) = self.peers.get_mut(&addr).and_then(|s| s.endpoint(which)) else {
            return;
        };
        let event = match decode_message(bytes, &ep.session.codec_ctx()) {
            Ok(Message::Open(open)) => Event::BgpOpen(open),
            Ok(Message::Update(u)) => Event::UpdateMsg(u),
            Ok(Message::Notification(n)) => Event::NotifMsg(n),
            Ok(Message::Keepalive) => Event::KeepAliveMsg,
            Ok(Message::RouteRefresh(f)) => Event::RouteRefreshMsg(f),
            Err(Error::Message {
                code,
                subcode,
                data,
                ..
            }) => Event::MessageError(Notification {
                code,
                subcode,
                data,
            }),
            Err(_) => return,
        };
        let mut which = which;
        if let Event::BgpOpen(open) = &event {
            if let Some(loser) = self.collision_loser(addr, open.bgp_id) {
                self.feed(addr, loser, Event::OpenCollisionDump, now);
                // Dumping the main session promotes the second one: find
                // where this connection's session lives now.
                match self.find_conn(conn) {
                    Some((_, now_at)) => which = now_at,
                    None => return,
                }
            }
        }
        self.feed(addr, which, event, now);
    }

    /// With two sessions alive, the one to dump once the peer's BGP
    /// identifier is known (§6.8).
    fn collision_loser(&self, addr: IpAddr, remote_id: std::net::Ipv4Addr) -> Option<Which> {
        let slot = self.peers.get(&addr)?;
        let second = slot.second.as_ref()?;
        let keep_local = fsm::keep_locally_initiated(self.config.router_id, remote_id);
        let main_local = slot.main.conn.as_ref()?.initiated_locally;
        let second_local = second.conn.as_ref()?.initiated_locally;
        match (main_local == keep_local, second_local == keep_local) {
            (true, false) => Some(Which::Second),
            (false, true) => Some(Which::Main),
            _ => None,
        }
    }
}

fn describe(reason: &DownReason) -> String {
    match reason {
        DownReason::Manual => "stopped".into(),
        DownReason::HoldTimerExpired => "hold timer expired".into(),
        DownReason::ConnectionLost => "connection lost".into(),
        DownReason::SentNotification(n) => {
            format!("sent NOTIFICATION {}/{}", n.code, n.subcode)
        }
        DownReason::ReceivedNotification(n) => {
            format!("received NOTIFICATION {}/{}", n.code, n.subcode)
        }
        DownReason::FsmError => "finite state machine error".into(),
        DownReason::Collision => "connection collision".into(),
    }
}
