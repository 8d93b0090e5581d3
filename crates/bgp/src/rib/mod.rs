//! Routing information bases, pure: per-peer Adj-RIB-In, the Loc-RIB with
//! best-path selection, and per-peer Adj-RIB-Out with import/export filters,
//! iBGP split horizon, route reflection (RFC 4456) and graceful-restart
//! helper state (RFC 4724). Every mutation returns the [`Changes`] it caused:
//! best-route changes for the FIB and per-peer UPDATE contents.
//!
//! Adj-RIB-In and Loc-RIB are one table: per prefix, the path from each peer
//! (and the local one) with the best kept first (see `table.rs`); peers are
//! numbered by slot so a path names its origin in four bytes.

mod best;
mod export;
mod hash;
mod intern;
mod table;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::codec::{Family, PathAttributes, Update};
pub use best::DEFAULT_LOCAL_PREF;
pub use export::{NO_ADVERTISE, NO_EXPORT, NO_EXPORT_SUBCONFED};
use hash::FastMap;
use intern::Interner;
use table::{Origin, Path, Paths, PrefixMap, LOCAL};

/// What an import or export filter decides for one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Take the route as it is.
    Accept,
    /// Drop the route.
    Reject,
    /// Take the route with these attributes instead.
    Replace(PathAttributes),
}

/// A filter hook: peer, prefix and attributes in, verdict out.
pub type Filter = Box<dyn Fn(&PeerInfo, &IpNet, &PathAttributes) -> Verdict + Send>;

/// RIB-wide configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Set to act as a route reflector with this cluster ID.
    pub cluster_id: Option<Ipv4Addr>,
}

/// What the RIB knows about a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's address (also the last best-path tie-break).
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP identifier (learned in OPEN).
    pub router_id: Ipv4Addr,
    /// The peer is a route-reflector client of ours.
    pub rr_client: bool,
    /// Our IPv4 address towards this peer (next hop self for IPv4).
    pub local_v4: Option<Ipv4Addr>,
    /// Our IPv6 address towards this peer (next hop self for IPv6).
    pub local_v6: Option<Ipv6Addr>,
}

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Announced by the embedding application.
    Local,
    /// Learned from the peer at this address.
    Peer(IpAddr),
}

/// A Loc-RIB entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestRoute {
    /// Who advertised it.
    pub source: Source,
    /// Its (shared) attributes.
    pub attrs: Arc<PathAttributes>,
}

impl BestRoute {
    /// The next hop for `prefix`.
    pub fn next_hop(&self, prefix: &IpNet) -> Option<IpAddr> {
        self.attrs.next_hop_for(Family::of(prefix))
    }
}

/// A change of the best route of one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BestChange {
    /// The prefix has a new best route.
    Updated(IpNet, BestRoute),
    /// The prefix is no longer reachable.
    Withdrawn(IpNet),
}

/// What one peer must be told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbound {
    /// Prefixes to announce, grouped by shared attributes.
    pub announce: Vec<(Arc<PathAttributes>, Vec<IpNet>)>,
    /// Prefixes to withdraw.
    pub withdraw: Vec<IpNet>,
}

/// The effects of one RIB operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Best-route changes, in prefix order of processing.
    pub best: Vec<BestChange>,
    /// UPDATE contents per peer.
    pub outbound: BTreeMap<IpAddr, Outbound>,
}

struct Peer {
    info: PeerInfo,
    /// Families negotiated while the session is up; empty when down.
    families: Vec<Family>,
    adj_out: PrefixMap<Arc<PathAttributes>>,
    /// Paths from this peer in the table (its Adj-RIB-In size).
    received: usize,
    /// Of those, accepted by import policy.
    accepted: usize,
    /// Of those, kept stale through a graceful restart.
    stale: usize,
}

/// One candidate route while selecting the best.
pub(crate) struct Candidate<'a> {
    pub(crate) local: bool,
    pub(crate) attrs: &'a PathAttributes,
    pub(crate) ebgp: bool,
    pub(crate) router_id: Ipv4Addr,
    pub(crate) peer: Option<IpAddr>,
    pub(crate) next_hop: Option<IpAddr>,
}

/// Per-peer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Prefixes in the Adj-RIB-In.
    pub received: usize,
    /// Of those, accepted by import policy.
    pub accepted: usize,
    /// Prefixes in the Adj-RIB-Out.
    pub advertised: usize,
}

/// How a prefix's paths change.
enum Edit {
    /// Add or replace the path of this origin.
    Set(Path),
    /// Remove the path of this origin.
    Remove(Origin),
}

/// The RIBs of one speaker.
pub struct Rib {
    config: RibConfig,
    /// Peers by slot; a path's origin is its peer's slot.
    peers: Vec<Option<Peer>>,
    slots: FastMap<IpAddr, Origin>,
    /// Adj-RIB-In of every peer, local routes and the Loc-RIB, per prefix.
    table: PrefixMap<Paths>,
    interner: Interner,
    import: Filter,
    export: Filter,
    igp_cost: Box<dyn Fn(IpAddr) -> u32 + Send>,
}

impl Rib {
    /// An empty RIB accepting everything.
    pub fn new(config: RibConfig) -> Rib {
        Rib {
            config,
            peers: Vec::new(),
            slots: FastMap::default(),
            table: PrefixMap::default(),
            interner: Interner::default(),
            import: Box::new(|_, _, _| Verdict::Accept),
            export: Box::new(|_, _, _| Verdict::Accept),
            igp_cost: Box::new(|_| 0),
        }
    }

    /// Sets the import filter (applies to routes received from now on).
    pub fn set_import(&mut self, filter: Filter) {
        self.import = filter;
    }

    /// Sets the export filter (applies to advertisements from now on).
    pub fn set_export(&mut self, filter: Filter) {
        self.export = filter;
    }

    /// Sets the IGP-cost hook used by best-path step 7.
    pub fn set_igp_cost(&mut self, cost: Box<dyn Fn(IpAddr) -> u32 + Send>) {
        self.igp_cost = cost;
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    fn peer(&self, addr: &IpAddr) -> Option<&Peer> {
        let slot = *self.slots.get(addr)?;
        self.peers.get(slot as usize)?.as_ref()
    }

    fn peer_mut(&mut self, addr: &IpAddr) -> Option<&mut Peer> {
        let slot = *self.slots.get(addr)?;
        self.peers.get_mut(slot as usize)?.as_mut()
    }

    fn by_slot(&self, slot: Origin) -> Option<&Peer> {
        self.peers.get(slot as usize)?.as_ref()
    }

    /// The public form of a stored path.
    fn route(&self, path: &Path, attrs: &Arc<PathAttributes>) -> BestRoute {
        let source = match self.by_slot(path.origin) {
            Some(peer) if path.origin != LOCAL => Source::Peer(peer.info.address),
            _ => Source::Local,
        };
        BestRoute {
            source,
            attrs: attrs.clone(),
        }
    }

    /// Registers a peer (session down); re-registering updates its info.
    pub fn add_peer(&mut self, info: PeerInfo) {
        if let Some(peer) = self.peer_mut(&info.address) {
            peer.info = info;
            return;
        }
        let addr = info.address;
        let peer = Peer {
            info,
            families: Vec::new(),
            adj_out: PrefixMap::default(),
            received: 0,
            accepted: 0,
            stale: 0,
        };
        let slot = match self.peers.iter().position(Option::is_none) {
            Some(free) => {
                self.peers[free] = Some(peer);
                free
            }
            None => {
                self.peers.push(Some(peer));
                self.peers.len() - 1
            }
        };
        self.slots.insert(addr, slot as Origin);
    }

    /// Forgets a peer and every route learned from it.
    pub fn remove_peer(&mut self, addr: IpAddr) -> Changes {
        let Some(&slot) = self.slots.get(&addr) else {
            return Changes::default();
        };
        let mut out = ChangeBuilder::default();
        self.drop_paths(slot, |_, _| true, &mut out);
        self.slots.remove(&addr);
        self.peers[slot as usize] = None;
        out.finish()
    }

    /// The peer's session came up with `families` negotiated; `info` carries
    /// what OPEN and the socket told us. Returns the full initial table.
    pub fn peer_up(&mut self, info: PeerInfo, families: Vec<Family>) -> Changes {
        let addr = info.address;
        let Some(peer) = self.peer_mut(&addr) else {
            return Changes::default();
        };
        peer.info = info;
        peer.families = families;
        peer.adj_out.clear();
        let mut out = ChangeBuilder::default();
        let slot = self.slots[&addr];
        let prefixes: Vec<IpNet> = self.best_prefixes().collect();
        for prefix in prefixes {
            self.export_to(slot, prefix, &mut out);
        }
        out.finish()
    }

    /// Prefixes that have a best route.
    fn best_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.table
            .iter()
            .filter(|(_, paths)| paths.best().is_some())
            .map(|(p, _)| p)
    }

    /// The session went down. With `graceful`, the peer's routes stay in use
    /// marked stale until [`Rib::sweep_stale`] (RFC 4724 helper mode).
    pub fn peer_down(&mut self, addr: IpAddr, graceful: bool) -> Changes {
        let Some(&slot) = self.slots.get(&addr) else {
            return Changes::default();
        };
        let Some(peer) = self.peer_mut(&addr) else {
            return Changes::default();
        };
        peer.families.clear();
        peer.adj_out.clear();
        if graceful {
            peer.stale = peer.received;
            for (_, paths) in self.table.iter_mut() {
                if let Some(path) = paths.find_mut(slot) {
                    path.stale = true;
                }
            }
            return Changes::default();
        }
        let mut out = ChangeBuilder::default();
        self.drop_paths(slot, |_, _| true, &mut out);
        out.finish()
    }

    /// Removes the peer's stale routes of `family` (End-of-RIB received) or of
    /// every family (`None`: restart timer expired).
    pub fn sweep_stale(&mut self, addr: IpAddr, family: Option<Family>) -> Changes {
        let Some(&slot) = self.slots.get(&addr) else {
            return Changes::default();
        };
        if self.by_slot(slot).is_none_or(|p| p.stale == 0) {
            return Changes::default();
        }
        let mut out = ChangeBuilder::default();
        self.drop_paths(
            slot,
            |prefix, path| path.stale && family.is_none_or(|f| f == Family::of(prefix)),
            &mut out,
        );
        out.finish()
    }

    /// Removes the paths of `slot` that match `pick`, for every prefix.
    fn drop_paths(
        &mut self,
        slot: Origin,
        pick: impl Fn(&IpNet, &Path) -> bool,
        out: &mut ChangeBuilder,
    ) {
        let doomed: Vec<IpNet> = self
            .table
            .iter()
            .filter(|(prefix, paths)| {
                paths
                    .as_slice()
                    .iter()
                    .any(|p| p.origin == slot && pick(prefix, p))
            })
            .map(|(p, _)| p)
            .collect();
        for prefix in doomed {
            self.edit(prefix, Edit::Remove(slot), out);
        }
    }

    /// Applies an UPDATE received from `addr`.
    pub fn apply_update(&mut self, addr: IpAddr, update: Update) -> Changes {
        let mut out = ChangeBuilder::default();
        let Some(&slot) = self.slots.get(&addr) else {
            return out.finish();
        };
        for prefix in update.withdrawn {
            self.edit(prefix, Edit::Remove(slot), &mut out);
        }
        if !update.nlri.is_empty() {
            let Some(info) = self.by_slot(slot).map(|p| p.info.clone()) else {
                return out.finish();
            };
            let looped = self.looped(&info, &update.attrs);
            let shared = self.interner.intern(update.attrs);
            for prefix in update.nlri {
                let attrs = if looped {
                    None
                } else {
                    match (self.import)(&info, &prefix, &shared) {
                        Verdict::Accept => Some(shared.clone()),
                        Verdict::Reject => None,
                        Verdict::Replace(a) => Some(self.interner.intern(a)),
                    }
                };
                let path = Path {
                    attrs,
                    origin: slot,
                    stale: false,
                };
                self.edit(prefix, Edit::Set(path), &mut out);
            }
        }
        out.finish()
    }

    /// Loop checks on receipt: our AS in the path (eBGP), our router ID as
    /// ORIGINATOR_ID, our cluster ID in CLUSTER_LIST (RFC 4456 §8).
    fn looped(&self, peer: &PeerInfo, attrs: &PathAttributes) -> bool {
        let ebgp = peer.asn != self.config.local_as;
        (ebgp
            && attrs
                .as_path
                .as_ref()
                .is_some_and(|p| p.contains(self.config.local_as)))
            || attrs.originator_id == Some(self.config.router_id)
            || self
                .config
                .cluster_id
                .is_some_and(|c| attrs.cluster_list.contains(&c))
    }

    /// Originates `prefixes` with `attrs` (ORIGIN and AS_PATH are filled in
    /// if absent; next hops are set per peer on export).
    pub fn announce_local(&mut self, prefixes: &[IpNet], mut attrs: PathAttributes) -> Changes {
        attrs.origin.get_or_insert(crate::codec::Origin::Igp);
        attrs.as_path.get_or_insert_with(Default::default);
        let shared = self.interner.intern(attrs);
        let mut out = ChangeBuilder::default();
        for prefix in prefixes {
            let path = Path {
                attrs: Some(shared.clone()),
                origin: LOCAL,
                stale: false,
            };
            self.edit(*prefix, Edit::Set(path), &mut out);
        }
        out.finish()
    }

    /// Stops originating `prefixes`.
    pub fn withdraw_local(&mut self, prefixes: &[IpNet]) -> Changes {
        let mut out = ChangeBuilder::default();
        for prefix in prefixes {
            self.edit(*prefix, Edit::Remove(LOCAL), &mut out);
        }
        out.finish()
    }

    /// Re-evaluates every peer's Adj-RIB-Out against the current export
    /// rules (after [`Rib::set_export`]): announces what is newly exported or
    /// changed, withdraws what no longer is.
    pub fn reexport(&mut self) -> Changes {
        let mut out = ChangeBuilder::default();
        let best: Vec<IpNet> = self.best_prefixes().collect();
        for slot in 0..self.peers.len() {
            let Some(peer) = self.by_slot(slot as Origin) else {
                continue;
            };
            let mut prefixes = best.clone();
            prefixes.extend(
                peer.adj_out
                    .keys()
                    .filter(|p| self.table.get(p).is_none_or(|e| e.best().is_none())),
            );
            for prefix in prefixes {
                self.export_to(slot as Origin, prefix, &mut out);
            }
        }
        out.finish()
    }

    /// Everything we must re-send to `addr` for `family` (ROUTE-REFRESH).
    pub fn refresh(&mut self, addr: IpAddr, family: Family) -> Changes {
        let mut out = ChangeBuilder::default();
        let Some(&slot) = self.slots.get(&addr) else {
            return out.finish();
        };
        let Some(peer) = self.peer_mut(&addr) else {
            return out.finish();
        };
        let mut prefixes = Vec::new();
        peer.adj_out.retain(|p, _| {
            let hit = Family::of(&p) == family;
            if hit {
                prefixes.push(p);
            }
            !hit
        });
        for prefix in prefixes {
            self.export_to(slot, prefix, &mut out);
        }
        out.finish()
    }

    /// The best route for a prefix.
    pub fn best(&self, prefix: &IpNet) -> Option<BestRoute> {
        let (path, attrs) = self.table.get(prefix)?.best()?;
        Some(self.route(path, attrs))
    }

    /// The whole Loc-RIB.
    pub fn loc_rib(&self) -> impl Iterator<Item = (IpNet, BestRoute)> + '_ {
        self.table.iter().filter_map(|(prefix, paths)| {
            let (path, attrs) = paths.best()?;
            Some((prefix, self.route(path, attrs)))
        })
    }

    /// Counters for one peer.
    pub fn counts(&self, addr: IpAddr) -> PeerCounts {
        self.peer(&addr)
            .map_or(PeerCounts::default(), |p| PeerCounts {
                received: p.received,
                accepted: p.accepted,
                advertised: p.adj_out.len(),
            })
    }

    /// Routes of `addr` still marked stale.
    pub fn stale_count(&self, addr: IpAddr) -> usize {
        self.peer(&addr).map_or(0, |p| p.stale)
    }

    /// Number of distinct attribute sets held (memory diagnostics).
    pub fn attribute_sets(&mut self) -> usize {
        self.interner.sweep();
        self.interner.len()
    }

    /// Changes one prefix's paths, re-selects its best route and, if that
    /// changed, records the change and exports it to every peer. One table
    /// probe for a new prefix, two when the last path goes.
    fn edit(&mut self, prefix: IpNet, edit: Edit, out: &mut ChangeBuilder) {
        let Rib {
            table,
            peers,
            config,
            igp_cost,
            ..
        } = self;
        let family = Family::of(&prefix);
        let best_of = |paths: &Paths| paths.best().map(|(p, a)| (p.origin, a.clone()));
        let (old, new) = match edit {
            Edit::Set(path) => {
                count(peers, &path, 1);
                let fresh = (path.origin, path.attrs.clone());
                match table.upsert(prefix, Paths::One(path)) {
                    None => (None, fresh.1.map(|a| (fresh.0, a))),
                    Some((paths, Paths::One(path))) => {
                        let old = best_of(paths);
                        match paths.find_mut(path.origin) {
                            Some(slot) => {
                                let replaced = std::mem::replace(slot, path);
                                count(peers, &replaced, -1);
                            }
                            None => paths.push(path),
                        }
                        select(paths, peers, config, &**igp_cost, family);
                        (old, best_of(paths))
                    }
                    Some((_, Paths::Many(_))) => return, // upsert hands back what it was given
                }
            }
            Edit::Remove(origin) => {
                let Some(paths) = table.get_mut(&prefix) else {
                    return;
                };
                let old = best_of(paths);
                let Some(path) = paths.find_mut(origin).cloned() else {
                    return;
                };
                count(peers, &path, -1);
                if paths.remove(origin) == Some(true) {
                    table.remove(&prefix);
                    (old, None)
                } else {
                    select(paths, peers, config, &**igp_cost, family);
                    (old, best_of(paths))
                }
            }
        };
        let same = match (&old, &new) {
            (Some((o, oa)), Some((n, na))) => o == n && Arc::ptr_eq(oa, na),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        match new {
            Some((origin, attrs)) => {
                let source = match self.by_slot(origin) {
                    Some(peer) if origin != LOCAL => Source::Peer(peer.info.address),
                    _ => Source::Local,
                };
                out.best
                    .push(BestChange::Updated(prefix, BestRoute { source, attrs }));
            }
            None => out.best.push(BestChange::Withdrawn(prefix)),
        }
        for slot in 0..self.peers.len() {
            self.export_to(slot as Origin, prefix, out);
        }
    }
}

/// Keeps a peer's counters in step with one path coming (`sign` 1) or
/// going (-1).
fn count(peers: &mut [Option<Peer>], path: &Path, sign: isize) {
    if path.origin == LOCAL {
        return;
    }
    if let Some(Some(peer)) = peers.get_mut(path.origin as usize) {
        let add = |n: &mut usize, yes: bool| {
            if yes {
                *n = n.wrapping_add_signed(sign);
            }
        };
        add(&mut peer.received, true);
        add(&mut peer.accepted, path.attrs.is_some());
        add(&mut peer.stale, path.stale);
    }
}

/// A path as best-path selection sees it; `None` if ineligible.
fn candidate<'a>(
    path: &'a Path,
    peers: &'a [Option<Peer>],
    config: &RibConfig,
    family: Family,
) -> Option<Candidate<'a>> {
    let attrs = path.attrs.as_deref()?;
    if path.origin == LOCAL {
        return Some(Candidate {
            local: true,
            attrs,
            ebgp: false,
            router_id: config.router_id,
            peer: None,
            next_hop: None,
        });
    }
    let info = &peers.get(path.origin as usize)?.as_ref()?.info;
    Some(Candidate {
        local: false,
        attrs,
        ebgp: info.asn != config.local_as,
        router_id: info.router_id,
        peer: Some(info.address),
        next_hop: attrs.next_hop_for(family),
    })
}

/// Moves the best eligible path to the front.
fn select(
    paths: &mut Paths,
    peers: &[Option<Peer>],
    config: &RibConfig,
    igp_cost: &dyn Fn(IpAddr) -> u32,
    family: Family,
) {
    let all = paths.as_slice();
    if all.len() == 1 {
        return;
    }
    let best = all
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, candidate(p, peers, config, family)?)))
        .min_by(|x, y| best::compare(&x.1, &y.1, igp_cost))
        .map(|(i, _)| i);
    if let Some(i) = best {
        paths.promote(i);
    }
}

/// Accumulates changes, grouping announcements by shared attributes.
#[derive(Default)]
struct ChangeBuilder {
    best: Vec<BestChange>,
    peers: BTreeMap<IpAddr, PeerBuilder>,
    export_cache: FastMap<export::ExportKey, export::ExportValue>,
}

#[derive(Default)]
struct PeerBuilder {
    groups: FastMap<*const PathAttributes, (Arc<PathAttributes>, Vec<IpNet>)>,
    order: Vec<*const PathAttributes>,
    withdraw: Vec<IpNet>,
}

impl ChangeBuilder {
    fn announce(&mut self, peer: IpAddr, prefix: IpNet, attrs: Arc<PathAttributes>) {
        let b = self.peers.entry(peer).or_default();
        let key = Arc::as_ptr(&attrs);
        b.groups
            .entry(key)
            .or_insert_with(|| {
                b.order.push(key);
                (attrs, Vec::new())
            })
            .1
            .push(prefix);
    }

    fn withdraw(&mut self, peer: IpAddr, prefix: IpNet) {
        self.peers.entry(peer).or_default().withdraw.push(prefix);
    }

    fn finish(self) -> Changes {
        let outbound = self
            .peers
            .into_iter()
            .map(|(addr, mut b)| {
                let announce = b.order.iter().filter_map(|k| b.groups.remove(k)).collect();
                (
                    addr,
                    Outbound {
                        announce,
                        withdraw: b.withdraw,
                    },
                )
            })
            .collect();
        Changes {
            best: self.best,
            outbound,
        }
    }
}

#[cfg(test)]
mod tests;
