//! Export: which best routes each peer gets and with which attributes
//! (eBGP prepend and next-hop-self, iBGP split horizon, RFC 4456 reflection,
//! RFC 1997 well-known communities), then the export filter.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::table::Origin;
use super::{ChangeBuilder, Rib, Source, Verdict, DEFAULT_LOCAL_PREF};
use crate::codec::{Family, MpNextHop, PathAttributes};

/// RFC 1997 NO_EXPORT.
pub const NO_EXPORT: u32 = 0xffff_ff01;
/// RFC 1997 NO_ADVERTISE.
pub const NO_ADVERTISE: u32 = 0xffff_ff02;
/// RFC 1997 NO_EXPORT_SUBCONFED.
pub const NO_EXPORT_SUBCONFED: u32 = 0xffff_ff03;

/// Cache key of a per-batch export transformation: target peer, source
/// attributes (by address, pinned by the cached value), source, family.
pub(super) type ExportKey = (IpAddr, usize, Source, Family);
/// Cached value: the pinned source attributes and the transformed ones.
pub(super) type ExportValue = (Arc<PathAttributes>, Option<Arc<PathAttributes>>);

impl Rib {
    /// Brings the Adj-RIB-Out of the peer in `slot` for `prefix` in line
    /// with the Loc-RIB.
    pub(super) fn export_to(&mut self, slot: Origin, prefix: IpNet, out: &mut ChangeBuilder) {
        let desired = self.desired(slot, &prefix, out);
        let Some(Some(peer)) = self.peers.get_mut(slot as usize) else {
            return;
        };
        let addr = peer.info.address;
        match desired {
            Some(attrs) => {
                if peer
                    .adj_out
                    .get(&prefix)
                    .is_some_and(|a| Arc::ptr_eq(a, &attrs))
                {
                    return;
                }
                peer.adj_out.insert(prefix, attrs.clone());
                out.announce(addr, prefix, attrs);
            }
            None => {
                if peer.adj_out.remove(&prefix).is_some() {
                    out.withdraw(addr, prefix);
                }
            }
        }
    }

    /// The attributes the peer in `slot` should have for `prefix`, or `None`.
    fn desired(
        &mut self,
        slot: Origin,
        prefix: &IpNet,
        out: &mut ChangeBuilder,
    ) -> Option<Arc<PathAttributes>> {
        let family = Family::of(prefix);
        let peer = self.by_slot(slot)?;
        if !peer.families.contains(&family) {
            return None;
        }
        let addr = peer.info.address;
        let (path, attrs) = self.table.get(prefix)?.best()?;
        // A peer's own routes never go back to it.
        if path.origin == slot {
            return None;
        }
        let source = self.route(path, attrs).source;
        let key = (addr, Arc::as_ptr(attrs) as usize, source, family);
        let transformed = match out.export_cache.get(&key) {
            Some((_, cached)) => cached.clone(),
            None => {
                let pinned = attrs.clone();
                let t = self.transform(addr, source, &pinned, family);
                let t = t.map(|a| self.interner.intern(a));
                out.export_cache.insert(key, (pinned, t.clone()));
                t
            }
        }?;
        let peer = self.by_slot(slot)?;
        match (self.export)(&peer.info, prefix, &transformed) {
            Verdict::Accept => Some(transformed),
            Verdict::Reject => None,
            Verdict::Replace(a) => Some(self.interner.intern(a)),
        }
    }

    /// Policy-independent export rules for one (peer, source, attributes).
    fn transform(
        &self,
        addr: IpAddr,
        source: Source,
        attrs: &PathAttributes,
        family: Family,
    ) -> Option<PathAttributes> {
        let local_as = self.config.local_as;
        let target = &self.peer(&addr)?.info;
        let target_ebgp = target.asn != local_as;
        if attrs.communities.contains(&NO_ADVERTISE) {
            return None;
        }
        if target_ebgp
            && attrs
                .communities
                .iter()
                .any(|c| *c == NO_EXPORT || *c == NO_EXPORT_SUBCONFED)
        {
            return None;
        }
        let mut reflect_from = None;
        if let Source::Peer(src) = source {
            if src == addr {
                return None;
            }
            let from = &self.peer(&src)?.info;
            if from.asn == local_as && !target_ebgp {
                // iBGP to iBGP: split horizon unless reflecting (RFC 4456 §6)
                self.config.cluster_id?;
                if !from.rr_client && !target.rr_client {
                    return None;
                }
                reflect_from = Some(from.router_id);
            }
        }
        let mut a = attrs.clone();
        let next_hop_self = target_ebgp || source == Source::Local;
        if target_ebgp {
            a.as_path = Some(a.as_path.take().unwrap_or_default().prepend(local_as));
            a.local_pref = None;
            if source != Source::Local {
                a.med = None;
            }
            a.originator_id = None;
            a.cluster_list.clear();
        } else {
            a.local_pref.get_or_insert(DEFAULT_LOCAL_PREF);
            if let (Some(originator), Some(cluster)) = (reflect_from, self.config.cluster_id) {
                a.originator_id.get_or_insert(originator);
                a.cluster_list.insert(0, cluster);
            }
        }
        match family {
            Family::Ipv4Unicast => {
                let keep = match attrs.next_hop_for(family) {
                    Some(IpAddr::V4(nh)) if !next_hop_self || source == Source::Local => Some(nh),
                    _ => None,
                };
                a.next_hop = Some(keep.or(target.local_v4)?);
                a.mp_next_hop = None;
            }
            Family::Ipv6Unicast => {
                let keep = attrs
                    .mp_next_hop
                    .filter(|_| !next_hop_self || source == Source::Local);
                a.mp_next_hop = Some(keep.or(target.local_v6.map(|v6| MpNextHop {
                    global: IpAddr::V6(v6),
                    link_local: None,
                }))?);
                a.next_hop = None;
            }
        }
        Some(a)
    }
}
