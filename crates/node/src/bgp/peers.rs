//! Which BGP sessions this node wants, computed the way Calico's confd does from the Node
//! resources, the BGPPeers and the BGPConfigurations `default` and `node.<name>`: the
//! node-to-node mesh, global and node-specific peers (peerIP, nodeSelector, peerSelector and
//! the implied reverse sessions), route-reflector clients, AS numbers (and per-peer local
//! AS), ports, passwords, next-hop modes, GTSM, the BGPFilters each session uses and one
//! session per address family. Pure: secrets come in as a closure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use api::SourceAddress;
use api::{BGPPeer, BgpPassword, BindMode, NextHopMode, Node, ReversePeering, SecretKeyRef};
use bgp::codec::Family;
use bgp::PeerConfig;

use super::inputs::{node_ip, BgpInputs};

/// The AS of a node when neither the node nor the `default` BGPConfiguration sets one.
pub const DEFAULT_AS: u32 = 64512;
/// The BGP port when no BGPConfiguration sets `listenPort`.
pub const DEFAULT_PORT: u16 = 179;
/// Hold time proposed when a peer sets no keepalive time (BIRD's default).
pub const DEFAULT_HOLD_TIME: u16 = 240;
/// Graceful-restart time when none is configured (BIRD's default).
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// The wait between connection attempts once the quick retries are used up: Calico's BIRD
/// template sets `connect retry time 5` (BIRD's and RFC 4271's default is 120 s).
pub const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Quicker waits before the first retries after consecutive connection failures. Nodes
/// start together (a cluster, `calico-lab up`), so a mesh peer's first connection is often
/// refused because the other end's speaker starts a few milliseconds later; waiting the
/// whole `CONNECT_RETRY` for that would delay every session by 5 s. (BIRD instead waits
/// Calico's `connect delay time 2` before its first attempt.)
pub const FAST_CONNECT_RETRIES: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// How a session came about, as `calicoctl node status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerType {
    /// The automatic full mesh between Calico nodes.
    Mesh,
    /// A BGPPeer that applies to every node.
    Global,
    /// A BGPPeer that applies to this node by `node` or `nodeSelector`.
    NodeSpecific,
    /// A BGPPeer session to a Calico node acting as our route reflector.
    RouteReflector,
}

impl PeerType {
    /// The PEER TYPE column text.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerType::Mesh => "node-to-node mesh",
            PeerType::Global => "global",
            PeerType::NodeSpecific => "node specific",
            PeerType::RouteReflector => "route reflector",
        }
    }

    /// The prefix of the BIRD protocol name Calico would give the session.
    fn name_prefix(self) -> &'static str {
        match self {
            PeerType::Mesh => "Mesh",
            PeerType::Global => "Global",
            PeerType::NodeSpecific | PeerType::RouteReflector => "Node",
        }
    }
}

/// What to put in NEXT_HOP towards a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// The speaker's default: keep for iBGP, self for eBGP.
    Auto,
    /// Always our own address (`nextHopMode: Self`).
    SelfHop,
    /// Never rewrite (`nextHopMode: Keep`, or `keepOriginalNextHop` on eBGP).
    Keep,
}

/// One session this node wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredPeer {
    /// Neighbour address.
    pub address: IpAddr,
    /// Neighbour port.
    pub port: u16,
    /// Neighbour AS.
    pub remote_as: u32,
    /// How the session came about.
    pub peer_type: PeerType,
    /// Calico's BIRD protocol name, e.g. `Mesh_10_0_0_2`.
    pub name: String,
    /// Only wait for the neighbour to connect (the lower-addressed end of a Calico-to-Calico
    /// session).
    pub passive: bool,
    /// The neighbour is a route-reflector client of ours.
    pub rr_client: bool,
    /// TCP MD5 password.
    pub password: Option<String>,
    /// Our source address for the session.
    pub source: Option<IpAddr>,
    /// Next-hop handling.
    pub next_hop: NextHop,
    /// Graceful-restart time to advertise, seconds.
    pub restart_time: u16,
    /// Hold time to propose, seconds.
    pub hold_time: u16,
    /// Names of the BGPFilters applied to the session, in order.
    pub filters: Vec<String>,
    /// Our AS towards this peer when it is not the node's (`localASNumber`).
    pub local_as: Option<u32>,
    /// GTSM: the peer is at most this many hops away (`ttlSecurity`).
    pub ttl_security: Option<u8>,
}

impl DesiredPeer {
    /// The speaker configuration of this session: one address family per session, like
    /// Calico's separate BIRD instances per family.
    pub fn to_config(&self) -> PeerConfig {
        let mut c = PeerConfig::new(self.address, self.remote_as);
        c.port = self.port;
        c.passive = self.passive;
        c.hold_time = self.hold_time;
        c.families = vec![if self.address.is_ipv4() {
            Family::Ipv4Unicast
        } else {
            Family::Ipv6Unicast
        }];
        c.graceful_restart = Some(self.restart_time);
        c.rr_client = self.rr_client;
        c.password = self.password.clone();
        c.source = self.source;
        c.connect_retry = CONNECT_RETRY;
        c.connect_retry_fast = FAST_CONNECT_RETRIES.to_vec();
        c.local_as = self.local_as;
        c.ttl_security = self.ttl_security;
        c
    }
}

/// Speaker-wide settings of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSettings {
    /// This node's AS.
    pub asn: u32,
    /// BGP identifier: the node's IPv4 address, or a hash of its IPv6 address.
    pub router_id: Ipv4Addr,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Route-reflector cluster ID, when this node is a route reflector.
    pub cluster_id: Option<Ipv4Addr>,
    /// The node's IPv4 BGP address.
    pub ipv4: Option<Ipv4Addr>,
    /// The node's IPv6 BGP address.
    pub ipv6: Option<Ipv6Addr>,
}

/// The sessions this node wants, and what could not be honoured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerPlan {
    /// `None` when this node has no Node resource or no BGP address yet.
    pub local: Option<LocalSettings>,
    /// Sessions by neighbour address.
    pub peers: BTreeMap<IpAddr, DesiredPeer>,
    /// Human-readable reasons for sessions or options left out.
    pub problems: Vec<String>,
}

/// Reads a BGP password referenced by a resource.
pub type SecretReader<'a> = &'a dyn Fn(&SecretKeyRef) -> Result<String, String>;

/// A node's AS: its own, else the cluster default, else 64512.
pub fn node_as(node: &Node, inputs: &BgpInputs) -> u32 {
    node.spec
        .bgp
        .as_ref()
        .and_then(|b| b.as_number)
        .or_else(|| inputs.default_config().and_then(|c| c.as_number))
        .map_or(DEFAULT_AS, |a| a.0)
}

/// The port a node listens on: `node.<name>`, else `default`, else 179.
pub fn listen_port(node: &str, inputs: &BgpInputs) -> u16 {
    inputs
        .node_config(node)
        .and_then(|c| c.listen_port)
        .or_else(|| inputs.default_config().and_then(|c| c.listen_port))
        .unwrap_or(DEFAULT_PORT)
}

/// A candidate session before de-duplication and the Calico-to-Calico rules.
struct Candidate<'a> {
    address: IpAddr,
    port: Option<u16>,
    remote_as: Option<u32>,
    peer_type: PeerType,
    password: Option<&'a BgpPassword>,
    resource: Option<&'a BGPPeer>,
    restart: Option<&'a api::Duration>,
}

/// Computes the sessions of node `me`.
pub fn compute_peers(me: &str, inputs: &BgpInputs, secrets: SecretReader) -> PeerPlan {
    let mut plan = PeerPlan::default();
    let Some(node) = inputs.nodes.get(me) else {
        plan.problems
            .push(format!("no Node resource named {me:?} yet"));
        return plan;
    };
    let (v4, v6) = (node_ip(node, false), node_ip(node, true));
    if v4.is_none() && v6.is_none() {
        plan.problems
            .push(format!("Node {me:?} has no BGP IPv4 or IPv6 address"));
        return plan;
    }
    let local = local_settings(me, node, inputs, &mut plan.problems);
    let candidates = candidates(me, node, inputs, &mut plan.problems);
    let own = |a: &IpAddr| Some(*a) == v4 || Some(*a) == v6;
    for c in candidates {
        if own(&c.address) || plan.peers.contains_key(&c.address) {
            continue;
        }
        let my_ip = if c.address.is_ipv4() { v4 } else { v6 };
        let Some(my_ip) = my_ip else { continue };
        if let Some(peer) = finish(c, my_ip, &local, inputs, secrets, &mut plan.problems) {
            plan.peers.insert(peer.address, peer);
        }
    }
    plan.local = Some(local);
    plan
}

fn local_settings(
    me: &str,
    node: &Node,
    inputs: &BgpInputs,
    problems: &mut Vec<String>,
) -> LocalSettings {
    let ipv4 = match node_ip(node, false) {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    let ipv6 = match node_ip(node, true) {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    let router_id = ipv4.unwrap_or_else(|| router_id_from_v6(ipv6.unwrap_or(Ipv6Addr::LOCALHOST)));
    let cid = node
        .spec
        .bgp
        .as_ref()
        .map(|b| b.route_reflector_cluster_id.as_str())
        .unwrap_or("");
    let cluster_id = match cid {
        "" => None,
        text => match text.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(format!(
                    "routeReflectorClusterID {text:?} of Node {me:?} is not an IPv4 address"
                ));
                None
            }
        },
    };
    let bind = inputs
        .node_config(me)
        .and_then(|c| c.bind_mode)
        .or_else(|| inputs.default_config().and_then(|c| c.bind_mode));
    let ip = match bind {
        Some(BindMode::NodeIp) => ipv4
            .map(IpAddr::V4)
            .or(ipv6.map(IpAddr::V6))
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    LocalSettings {
        asn: node_as(node, inputs),
        router_id,
        listen: SocketAddr::new(ip, listen_port(me, inputs)),
        cluster_id,
        ipv4,
        ipv6,
    }
}

/// A stable BGP identifier for an IPv6-only node (FNV-1a over the address).
fn router_id_from_v6(a: Ipv6Addr) -> Ipv4Addr {
    let mut h: u32 = 0x811c_9dc5;
    for b in a.octets() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    Ipv4Addr::from(h)
}

fn labels(node: &Node) -> &BTreeMap<String, String> {
    &node.metadata.labels
}

/// Evaluates a selector on a node; unparseable selectors match nothing (and are reported).
fn selects(text: &str, node: &Node, problems: &mut Vec<String>) -> bool {
    match selector::parse(text) {
        Ok(s) => s.matches(labels(node)),
        Err(e) => {
            let msg = format!("selector {text:?}: {e}");
            if !problems.contains(&msg) {
                problems.push(msg);
            }
            false
        }
    }
}

fn is_global(p: &BGPPeer) -> bool {
    p.spec.node.is_empty() && (p.spec.node_selector.is_empty() || p.spec.node_selector == "all()")
}

/// Whether BGPPeer `p` gives node `n` (named `name`) sessions of its own.
fn applies_to(p: &BGPPeer, name: &str, n: &Node, problems: &mut Vec<String>) -> bool {
    is_global(p)
        || p.spec.node == name
        || (!p.spec.node_selector.is_empty() && selects(&p.spec.node_selector, n, problems))
}

/// Every candidate, in Calico's order: mesh, then global peers, then node-specific ones.
fn candidates<'a>(
    me: &str,
    node: &'a Node,
    inputs: &'a BgpInputs,
    problems: &mut Vec<String>,
) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    let default = inputs.default_config();
    let mesh = default.and_then(|c| c.node_to_node_mesh_enabled) != Some(false);
    let others = || inputs.nodes.iter().filter(move |(n, _)| n.as_str() != me);
    let both_families = |other: &Node| {
        [false, true]
            .into_iter()
            .filter(|v6| node_ip(node, *v6).is_some())
            .filter_map(|v6| node_ip(other, v6))
            .collect::<Vec<_>>()
    };
    if mesh {
        for (name, other) in others() {
            for address in both_families(other) {
                out.push(Candidate {
                    address,
                    port: Some(listen_port(name, inputs)),
                    remote_as: Some(node_as(other, inputs)),
                    peer_type: PeerType::Mesh,
                    password: default.and_then(|c| c.node_mesh_password.as_ref()),
                    resource: None,
                    restart: default.and_then(|c| c.node_mesh_max_restart_time.as_ref()),
                });
            }
        }
    }
    let (global, specific): (Vec<&BGPPeer>, Vec<&BGPPeer>) =
        inputs.peers.values().partition(|p| is_global(p));
    for p in global.into_iter().chain(specific) {
        let peer_type = if is_global(p) {
            PeerType::Global
        } else {
            PeerType::NodeSpecific
        };
        let base = |address, port, remote_as| Candidate {
            address,
            port,
            remote_as,
            peer_type,
            password: p.spec.password.as_ref(),
            resource: Some(p),
            restart: p.spec.max_restart_time.as_ref(),
        };
        if !p.spec.local_workload_selector.is_empty() {
            problems.push(format!(
                "BGPPeer {:?}: localWorkloadSelector peering is not supported",
                p.metadata.name
            ));
            continue;
        }
        if applies_to(p, me, node, problems) {
            if !p.spec.peer_ip.is_empty() {
                match api::parse_peer_ip(&p.spec.peer_ip) {
                    Ok((address, port)) => {
                        out.push(base(address, port, p.spec.as_number.map(|a| a.0)))
                    }
                    Err(e) => problems.push(format!("BGPPeer {:?}: {e}", p.metadata.name)),
                }
            } else if !p.spec.peer_selector.is_empty() {
                for (name, other) in others() {
                    if selects(&p.spec.peer_selector, other, problems) {
                        for address in both_families(other) {
                            out.push(base(
                                address,
                                Some(listen_port(name, inputs)),
                                Some(node_as(other, inputs)),
                            ));
                        }
                    }
                }
            }
        }
        // The reverse of a peerSelector peering: nodes that select us peer with us, so we
        // peer with them (unless the user manages the reverse side by hand).
        let reverse = p.spec.reverse_peering != Some(ReversePeering::Manual)
            && !p.spec.peer_selector.is_empty()
            && selects(&p.spec.peer_selector, node, problems);
        if reverse {
            for (name, other) in others() {
                if applies_to(p, name, other, problems) {
                    for address in both_families(other) {
                        out.push(base(
                            address,
                            Some(listen_port(name, inputs)),
                            Some(node_as(other, inputs)),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The Calico node whose BGP address is `a`, if any.
fn node_with_ip(a: IpAddr, inputs: &BgpInputs) -> Option<(&str, &Node)> {
    inputs
        .nodes
        .iter()
        .find(|(_, n)| node_ip(n, a.is_ipv6()) == Some(a))
        .map(|(name, n)| (name.as_str(), n))
}

fn cluster_id_of(n: &Node) -> &str {
    n.spec
        .bgp
        .as_ref()
        .map_or("", |b| b.route_reflector_cluster_id.as_str())
}

/// Between Calico nodes only one end connects: a node waits for peers whose address is
/// greater than its own **as text**, exactly as Calico's confd decides BIRD's `passive on`
/// (a Go string comparison, so `172.31.0.99` sorts after `172.31.0.100`). Numeric order
/// would be tidier, but in a cluster mixing our nodes with Calico's, a pair such as .99 and
/// .100 would then have both ends passive and never connect. Either order makes exactly one
/// end of every pair of distinct addresses active.
pub(crate) fn mesh_passive(peer: IpAddr, me: IpAddr) -> bool {
    peer.to_string() > me.to_string()
}

/// Applies the Calico-to-Calico rules and per-peer options to one candidate.
fn finish(
    c: Candidate,
    my_ip: IpAddr,
    local: &LocalSettings,
    inputs: &BgpInputs,
    secrets: SecretReader,
    problems: &mut Vec<String>,
) -> Option<DesiredPeer> {
    let what = match c.resource {
        Some(p) => format!("BGPPeer {:?}", p.metadata.name),
        None => "node-to-node mesh".to_string(),
    };
    let calico = node_with_ip(c.address, inputs);
    let remote_as = match (c.remote_as, calico) {
        (Some(a), _) => a,
        (None, Some((_, n))) => node_as(n, inputs),
        (None, None) => {
            problems.push(format!("{what}: peer {} has no asNumber", c.address));
            return None;
        }
    };
    let port = c
        .port
        .or(calico.map(|(name, _)| listen_port(name, inputs)))
        .unwrap_or(DEFAULT_PORT);
    let password = match c.password.and_then(|p| p.secret_key_ref.as_ref()) {
        None => None,
        Some(r) => match secrets(r) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(format!(
                    "{what}: session to {} left out: password: {e}",
                    c.address
                ));
                return None;
            }
        },
    };
    let my_cid = local.cluster_id.map(|c| c.to_string()).unwrap_or_default();
    let peer_cid = calico.map_or("", |(_, n)| cluster_id_of(n));
    let rr_client = !my_cid.is_empty() && remote_as == local.asn && peer_cid != my_cid;
    let mut peer_type = c.peer_type;
    if peer_type != PeerType::Mesh && !peer_cid.is_empty() && peer_cid != my_cid {
        peer_type = PeerType::RouteReflector;
    }
    let spec = c.resource.map(|p| &p.spec);
    let ebgp = remote_as != local.asn;
    let next_hop = match spec.and_then(|s| s.next_hop_mode) {
        Some(NextHopMode::SelfHop) => NextHop::SelfHop,
        Some(NextHopMode::Keep) => NextHop::Keep,
        Some(NextHopMode::Auto) => NextHop::Auto,
        None if spec.is_some_and(|s| s.keep_original_next_hop) && ebgp => NextHop::Keep,
        None => NextHop::Auto,
    };
    if next_hop == NextHop::Keep && ebgp {
        problems.push(format!(
            "{what}: next hop keep towards eBGP peer {} is not supported; using next hop self",
            c.address
        ));
    }
    if let Some(s) = spec {
        for (set, option) in [
            (
                s.num_allowed_local_as_numbers.is_some_and(|n| n > 0),
                "numAllowedLocalASNumbers",
            ),
            (!s.reachable_by.is_empty(), "reachableBy"),
        ] {
            if set {
                problems.push(format!("{what}: {option} is not supported; ignored"));
            }
        }
    }
    // A local AS only for eBGP on both sides of it: the RIB applies iBGP or eBGP rules by
    // the node's AS.
    let local_as = spec
        .and_then(|s| s.local_as_number)
        .map(|a| a.0)
        .filter(|a| *a != local.asn);
    let local_as = match local_as {
        Some(l) if remote_as == l || remote_as == local.asn => {
            problems.push(format!(
                "{what}: localASNumber {l} towards peer {} in AS {remote_as} would switch the \
                 session between iBGP and eBGP, which is not supported; ignored",
                c.address
            ));
            None
        }
        other => other,
    };
    let ttl_security = spec.and_then(|s| s.ttl_security).filter(|t| *t > 0);
    let filters = spec.map(|s| s.filters.clone()).unwrap_or_default();
    for f in filters.iter().filter(|f| !inputs.filters.contains_key(*f)) {
        problems.push(format!(
            "{what}: BGPFilter {f:?} does not exist; the session runs without it"
        ));
    }
    let source = match spec.and_then(|s| s.source_address) {
        Some(SourceAddress::None) => None,
        _ => Some(my_ip),
    };
    let hold_time = spec
        .and_then(|s| s.keepalive_time.as_ref())
        .map_or(DEFAULT_HOLD_TIME, |k| {
            u16::try_from(k.to_std().as_secs().saturating_mul(3).max(3)).unwrap_or(u16::MAX)
        });
    let restart_time = c.restart.map_or(DEFAULT_RESTART_TIME, |d| {
        u16::try_from(d.to_std().as_secs()).unwrap_or(u16::MAX)
    });
    let name = format!(
        "{}_{}",
        peer_type.name_prefix(),
        c.address.to_string().replace(['.', ':'], "_")
    );
    Some(DesiredPeer {
        address: c.address,
        port,
        remote_as,
        peer_type,
        name,
        passive: calico.is_some() && mesh_passive(c.address, my_ip),
        rr_client,
        password,
        source,
        next_hop,
        restart_time,
        hold_time,
        filters,
        local_as,
        ttl_security,
    })
}
