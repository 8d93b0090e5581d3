//! Routing information bases, pure: per-peer Adj-RIB-In, the Loc-RIB with
//! best-path selection, and per-peer Adj-RIB-Out with import/export filters,
//! iBGP split horizon, route reflection (RFC 4456) and graceful-restart
//! helper state (RFC 4724). Every mutation returns the [`Changes`] it caused:
//! best-route changes for the FIB and per-peer UPDATE contents.

mod best;
mod export;
mod hash;
mod intern;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::codec::{Family, PathAttributes, Update};
pub use best::DEFAULT_LOCAL_PREF;
pub use export::{NO_ADVERTISE, NO_EXPORT, NO_EXPORT_SUBCONFED};
use hash::FastMap;
use intern::Interner;

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

/// Per-prefix Adj-RIB-In entry.
#[derive(Clone, Debug)]
struct InEntry {
    /// Attributes after import policy; `None` if the import filter rejected it.
    attrs: Option<Arc<PathAttributes>>,
    /// Retained across a graceful restart, awaiting refresh.
    stale: bool,
}

struct Peer {
    info: PeerInfo,
    /// Families negotiated while the session is up; empty when down.
    families: Vec<Family>,
    adj_in: FastMap<IpNet, InEntry>,
    adj_out: FastMap<IpNet, Arc<PathAttributes>>,
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

/// The RIBs of one speaker.
pub struct Rib {
    config: RibConfig,
    peers: FastMap<IpAddr, Peer>,
    local: FastMap<IpNet, Arc<PathAttributes>>,
    loc: FastMap<IpNet, BestRoute>,
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
            peers: FastMap::default(),
            local: FastMap::default(),
            loc: FastMap::default(),
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

    /// Registers a peer (session down).
    pub fn add_peer(&mut self, info: PeerInfo) {
        self.peers.insert(
            info.address,
            Peer {
                info,
                families: Vec::new(),
                adj_in: FastMap::default(),
                adj_out: FastMap::default(),
            },
        );
    }

    /// Forgets a peer and every route learned from it.
    pub fn remove_peer(&mut self, addr: IpAddr) -> Changes {
        let Some(peer) = self.peers.remove(&addr) else {
            return Changes::default();
        };
        let touched: Vec<IpNet> = peer.adj_in.into_keys().collect();
        self.recompute(&touched)
    }

    /// The peer's session came up with `families` negotiated; `info` carries
    /// what OPEN and the socket told us. Returns the full initial table.
    pub fn peer_up(&mut self, info: PeerInfo, families: Vec<Family>) -> Changes {
        let addr = info.address;
        let Some(peer) = self.peers.get_mut(&addr) else {
            return Changes::default();
        };
        peer.info = info;
        peer.families = families;
        peer.adj_out.clear();
        let mut out = ChangeBuilder::default();
        let prefixes: Vec<IpNet> = self.loc.keys().copied().collect();
        for prefix in prefixes {
            self.export_to(addr, prefix, &mut out);
        }
        out.finish()
    }

    /// The session went down. With `graceful`, the peer's routes stay in use
    /// marked stale until [`Rib::sweep_stale`] (RFC 4724 helper mode).
    pub fn peer_down(&mut self, addr: IpAddr, graceful: bool) -> Changes {
        let Some(peer) = self.peers.get_mut(&addr) else {
            return Changes::default();
        };
        peer.families.clear();
        peer.adj_out.clear();
        if graceful {
            for entry in peer.adj_in.values_mut() {
                entry.stale = true;
            }
            return Changes::default();
        }
        let touched: Vec<IpNet> = peer.adj_in.drain().map(|(k, _)| k).collect();
        self.recompute(&touched)
    }

    /// Removes the peer's stale routes of `family` (End-of-RIB received) or of
    /// every family (`None`: restart timer expired).
    pub fn sweep_stale(&mut self, addr: IpAddr, family: Option<Family>) -> Changes {
        let Some(peer) = self.peers.get_mut(&addr) else {
            return Changes::default();
        };
        let mut touched = Vec::new();
        peer.adj_in.retain(|prefix, e| {
            let sweep = e.stale && family.is_none_or(|f| f == Family::of(prefix));
            if sweep {
                touched.push(*prefix);
            }
            !sweep
        });
        self.recompute(&touched)
    }

    /// Applies an UPDATE received from `addr`.
    pub fn apply_update(&mut self, addr: IpAddr, update: Update) -> Changes {
        let mut touched = Vec::with_capacity(update.withdrawn.len() + update.nlri.len());
        let Some(peer) = self.peers.get_mut(&addr) else {
            return Changes::default();
        };
        for prefix in update.withdrawn {
            if peer.adj_in.remove(&prefix).is_some() {
                touched.push(prefix);
            }
        }
        if !update.nlri.is_empty() {
            let info = peer.info.clone();
            let looped = self.looped(&info, &update.attrs);
            let shared = self.interner.intern(update.attrs);
            let Some(peer) = self.peers.get_mut(&addr) else {
                return Changes::default();
            };
            for prefix in update.nlri {
                let attrs = if looped {
                    None
                } else {
                    match (self.import)(&peer.info, &prefix, &shared) {
                        Verdict::Accept => Some(shared.clone()),
                        Verdict::Reject => None,
                        Verdict::Replace(a) => Some(self.interner.intern(a)),
                    }
                };
                peer.adj_in.insert(
                    prefix,
                    InEntry {
                        attrs,
                        stale: false,
                    },
                );
                touched.push(prefix);
            }
        }
        self.recompute(&touched)
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
        for prefix in prefixes {
            self.local.insert(*prefix, shared.clone());
        }
        self.recompute(prefixes)
    }

    /// Stops originating `prefixes`.
    pub fn withdraw_local(&mut self, prefixes: &[IpNet]) -> Changes {
        for prefix in prefixes {
            self.local.remove(prefix);
        }
        self.recompute(prefixes)
    }

    /// Re-evaluates every peer's Adj-RIB-Out against the current export
    /// rules (after [`Rib::set_export`]): announces what is newly exported or
    /// changed, withdraws what no longer is.
    pub fn reexport(&mut self) -> Changes {
        let mut out = ChangeBuilder::default();
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            let mut prefixes: Vec<IpNet> = self.loc.keys().copied().collect();
            if let Some(peer) = self.peers.get(&addr) {
                prefixes.extend(peer.adj_out.keys().filter(|p| !self.loc.contains_key(p)));
            }
            for prefix in prefixes {
                self.export_to(addr, prefix, &mut out);
            }
        }
        out.finish()
    }

    /// Everything we must re-send to `addr` for `family` (ROUTE-REFRESH).
    pub fn refresh(&mut self, addr: IpAddr, family: Family) -> Changes {
        let mut out = ChangeBuilder::default();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return out.finish();
        };
        let mut prefixes = Vec::new();
        peer.adj_out.retain(|p, _| {
            let hit = Family::of(p) == family;
            if hit {
                prefixes.push(*p);
            }
            !hit
        });
        for prefix in prefixes {
            self.export_to(addr, prefix, &mut out);
        }
        out.finish()
    }

    /// The best route for a prefix.
    pub fn best(&self, prefix: &IpNet) -> Option<&BestRoute> {
        self.loc.get(prefix)
    }

    /// The whole Loc-RIB.
    pub fn loc_rib(&self) -> impl Iterator<Item = (&IpNet, &BestRoute)> {
        self.loc.iter()
    }

    /// Counters for one peer.
    pub fn counts(&self, addr: IpAddr) -> PeerCounts {
        self.peers
            .get(&addr)
            .map_or(PeerCounts::default(), |p| PeerCounts {
                received: p.adj_in.len(),
                accepted: p.adj_in.values().filter(|e| e.attrs.is_some()).count(),
                advertised: p.adj_out.len(),
            })
    }

    /// Routes of `addr` still marked stale.
    pub fn stale_count(&self, addr: IpAddr) -> usize {
        self.peers
            .get(&addr)
            .map_or(0, |p| p.adj_in.values().filter(|e| e.stale).count())
    }

    /// Number of distinct attribute sets held (memory diagnostics).
    pub fn attribute_sets(&mut self) -> usize {
        self.interner.sweep();
        self.interner.len()
    }

    /// Re-selects the best route of each prefix and exports changes.
    fn recompute(&mut self, prefixes: &[IpNet]) -> Changes {
        let mut out = ChangeBuilder::default();
        let peers: Vec<IpAddr> = self.peers.keys().copied().collect();
        for prefix in prefixes {
            let new = self.select(prefix);
            let old = self.loc.get(prefix);
            let same = match (old, &new) {
                (Some(o), Some(n)) => o.source == n.source && Arc::ptr_eq(&o.attrs, &n.attrs),
                (None, None) => true,
                _ => false,
            };
            if same {
                continue;
            }
            match new {
                Some(best) => {
                    self.loc.insert(*prefix, best.clone());
                    out.best.push(BestChange::Updated(*prefix, best));
                }
                None => {
                    self.loc.remove(prefix);
                    out.best.push(BestChange::Withdrawn(*prefix));
                }
            }
            for &addr in &peers {
                self.export_to(addr, *prefix, &mut out);
            }
        }
        out.finish()
    }

    fn select(&self, prefix: &IpNet) -> Option<BestRoute> {
        let family = Family::of(prefix);
        let local = self.local.get(prefix).map(|a| {
            (
                Source::Local,
                Candidate {
                    local: true,
                    attrs: a,
                    ebgp: false,
                    router_id: self.config.router_id,
                    peer: None,
                    next_hop: None,
                },
                a,
            )
        });
        let learned = self.peers.values().filter_map(|p| {
            let a = p.adj_in.get(prefix)?.attrs.as_ref()?;
            Some((
                Source::Peer(p.info.address),
                Candidate {
                    local: false,
                    attrs: a,
                    ebgp: p.info.asn != self.config.local_as,
                    router_id: p.info.router_id,
                    peer: Some(p.info.address),
                    next_hop: a.next_hop_for(family),
                },
                a,
            ))
        });
        local
            .into_iter()
            .chain(learned)
            .min_by(|x, y| best::compare(&x.1, &y.1, &*self.igp_cost))
            .map(|(source, _, attrs)| BestRoute {
                source,
                attrs: attrs.clone(),
            })
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
