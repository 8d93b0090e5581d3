//! The tokio shell: a [`Speaker`] handle in front of one owner task.
//!
//! ```text
//!  Speaker handle ──Command──────────┐
//!  accept task ───Input::Accepted────┤
//!  connect tasks ─Input::Connected───┤      ┌──────────────────────────────┐
//!  reader tasks ──Input::Frame/Closed┼────▶ │ owner task (core.rs)         │──BestChange──▶ FIB sync
//!  timers: sleep_until(next deadline)┘      │  Rib, Session per peer,      │
//!                                           │  Conn per session            │──bytes──▶ writer tasks
//!                                           └──────────────────────────────┘
//! ```
//! Only the owner task mutates state; child tasks read sockets or write
//! bytes and are aborted when their handles drop.

mod conn;
mod core;
mod gtsm;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::{Family, PathAttributes};
use crate::error::{Error, Result};
use crate::fsm::State;
use crate::rib::{BestChange, Filter};
use conn::Task;

/// Speaker-wide configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Where to listen (`[::]:179` by default; port 0 picks one); `None`
    /// makes every peer active-only.
    pub listen: Option<SocketAddr>,
    /// Act as a route reflector with this cluster ID.
    pub cluster_id: Option<Ipv4Addr>,
}

impl SpeakerConfig {
    /// Listening on every address, port 179.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> SpeakerConfig {
        SpeakerConfig {
            local_as,
            router_id,
            listen: Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 179)),
            cluster_id: None,
        }
    }
}

/// One configured neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Neighbour address.
    pub address: IpAddr,
    /// Neighbour TCP port for outgoing connections.
    pub port: u16,
    /// Neighbour AS (equal to ours for iBGP).
    pub remote_as: u32,
    /// Only accept connections, never initiate.
    pub passive: bool,
    /// Hold time to propose.
    pub hold_time: u16,
    /// ConnectRetryTimer.
    pub connect_retry: Duration,
    /// Shorter waits before the first retries after consecutive connection failures
    /// ([`crate::fsm::SessionConfig::connect_retry_fast`]); empty by default.
    pub connect_retry_fast: Vec<Duration>,
    /// Families to offer.
    pub families: Vec<Family>,
    /// Graceful restart time to advertise (`None`: no capability).
    pub graceful_restart: Option<u16>,
    /// The peer is a route-reflector client.
    pub rr_client: bool,
    /// TCP MD5 password (RFC 2385).
    pub password: Option<String>,
    /// Source address for outgoing connections.
    pub source: Option<IpAddr>,
    /// Next-hop-self address for IPv4 when the session runs over IPv6.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next-hop-self address for IPv6 when the session runs over IPv4.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Our AS in the OPEN to this peer when not the speaker's (a "local AS"); the RIB keeps
    /// using the speaker's AS, so an export filter rewrites AS_PATH where that matters.
    pub local_as: Option<u32>,
    /// GTSM (RFC 5082): the peer is at most this many hops away; we send with TTL 255 and
    /// the kernel drops its segments arriving with a TTL below `256 - hops`.
    pub ttl_security: Option<u8>,
}

impl PeerConfig {
    /// A neighbour with defaults (port 179, hold 90 s, retry 5 s, both
    /// families, graceful restart 120 s).
    pub fn new(address: IpAddr, remote_as: u32) -> PeerConfig {
        PeerConfig {
            address,
            port: 179,
            remote_as,
            passive: false,
            hold_time: 90,
            connect_retry: Duration::from_secs(5),
            connect_retry_fast: Vec::new(),
            families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
            graceful_restart: Some(120),
            rr_client: false,
            password: None,
            source: None,
            next_hop_v4: None,
            next_hop_v6: None,
            local_as: None,
            ttl_security: None,
        }
    }
}

/// A snapshot of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Neighbour address.
    pub address: IpAddr,
    /// Session state.
    pub state: State,
    /// When the session last entered or left Established.
    pub since: SystemTime,
    /// Prefixes in its Adj-RIB-In.
    pub received: usize,
    /// Of those, accepted by import policy.
    pub accepted: usize,
    /// Prefixes we advertise to it.
    pub advertised: usize,
    /// The last error seen on the session.
    pub last_error: Option<String>,
    /// Negotiated hold time, while established.
    pub hold_time: Option<u16>,
    /// The restart time of the peer's graceful-restart capability (kept after the session
    /// drops, while its routes are held).
    pub peer_restart_time: Option<u16>,
    /// Of its routes, those kept stale through its restart (RFC 4724 helper).
    pub stale: usize,
}

/// Import and export filters for the speaker's RIB.
#[derive(Default)]
pub struct Filters {
    /// Applied to every received route.
    pub import: Option<Filter>,
    /// Applied to every route about to be advertised.
    pub export: Option<Filter>,
}

enum Command {
    AddPeer(Box<PeerConfig>, oneshot::Sender<Result<()>>),
    RemovePeer(IpAddr, oneshot::Sender<Result<()>>),
    Announce(Vec<IpNet>, PathAttributes),
    Withdraw(Vec<IpNet>),
    Status(oneshot::Sender<Vec<PeerStatus>>),
    SetFilters(Filters),
}

/// Handle to a running speaker; dropping it stops the speaker and closes
/// every session.
pub struct Speaker {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: Option<SocketAddr>,
    states: watch::Receiver<()>,
    _task: Task,
}

impl Speaker {
    /// Binds the listener and starts the owner task. Returns the handle and
    /// the stream of best-route changes.
    pub async fn start(
        config: SpeakerConfig,
        filters: Filters,
    ) -> Result<(Speaker, mpsc::UnboundedReceiver<BestChange>)> {
        let listener = match config.listen {
            Some(addr) => Some(Arc::new(bind(addr)?)),
            None => None,
        };
        let local_addr = match &listener {
            Some(l) => Some(
                l.local_addr()
                    .map_err(|e| Error::io("listener address", e))?,
            ),
            None => None,
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let (best_tx, best_rx) = mpsc::unbounded_channel();
        let (states_tx, states) = watch::channel(());
        let core = core::Core::new(config, filters, listener, best_tx, states_tx);
        let task = Task::spawn(core.run(rx));
        Ok((
            Speaker {
                commands,
                local_addr,
                states,
                _task: task,
            },
            best_rx,
        ))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// A watch marked changed whenever a peer is added or removed or the state
    /// [`Speaker::peers`] reports for one changes: for prompt status reports.
    pub fn state_changes(&self) -> watch::Receiver<()> {
        let mut rx = self.states.clone();
        rx.mark_unchanged();
        rx
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.commands.send(cmd).map_err(|_| Error::Stopped)
    }

    /// Adds and starts a peer.
    pub async fn add_peer(&self, peer: PeerConfig) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::AddPeer(Box::new(peer), tx))?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Stops and removes a peer, withdrawing its routes.
    pub async fn remove_peer(&self, address: IpAddr) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::RemovePeer(address, tx))?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Originates prefixes with the given attributes.
    pub fn announce(&self, prefixes: Vec<IpNet>, attrs: PathAttributes) -> Result<()> {
        self.send(Command::Announce(prefixes, attrs))
    }

    /// Stops originating prefixes.
    pub fn withdraw(&self, prefixes: Vec<IpNet>) -> Result<()> {
        self.send(Command::Withdraw(prefixes))
    }

    /// Replaces the given filters (`None` keeps the current one). A new export
    /// filter is applied to every peer at once; a new import filter asks each
    /// established peer to send its routes again (ROUTE-REFRESH, RFC 2918).
    pub fn set_filters(&self, filters: Filters) -> Result<()> {
        self.send(Command::SetFilters(filters))
    }

    /// Status of every peer, ordered by address.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx))?;
        rx.await.map_err(|_| Error::Stopped)
    }
}

/// A dual-stack (for `[::]`) listening socket.
fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let ctx = |what: &str| format!("{what} {addr}");
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket =
        Socket::new(domain, Type::STREAM, None).map_err(|e| Error::io(ctx("socket"), e))?;
    if addr.is_ipv6() {
        socket
            .set_only_v6(false)
            .map_err(|e| Error::io(ctx("IPV6_V6ONLY"), e))?;
    }
    socket
        .set_reuse_address(true)
        .map_err(|e| Error::io(ctx("SO_REUSEADDR"), e))?;
    socket
        .bind(&addr.into())
        .map_err(|e| Error::io(ctx("bind"), e))?;
    socket
        .listen(128)
        .map_err(|e| Error::io(ctx("listen"), e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| Error::io(ctx("nonblocking"), e))?;
    tokio::net::TcpListener::from_std(socket.into()).map_err(|e| Error::io(ctx("register"), e))
}

#[cfg(test)]
mod tests;
