//! What this node originates and what its export filter lets out, as Calico's BIRD export
//! filter does: the blocks affine to this node as aggregates, /32 (/128) routes for addresses
//! it borrowed from other nodes' blocks, advertised service CIDRs; never a more specific of an
//! own block, only routes inside IP pools that allow BGP export (or advertised service
//! ranges), with the communities of matching `prefixAdvertisements`; the export rules of a
//! peer's BGPFilters come first. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::{BGPFilterAction, BGPFilterSpec};
use bgp::codec::{LargeCommunity, PathAttributes, SegmentKind};
use bgp::rib::{Filter, PeerInfo, Verdict};
use ipnet::IpNet;

use super::filters::{decide, export_rules, peer_filters};
use super::inputs::BgpInputs;
use super::peers::{NextHop, PeerPlan};

/// The attribute secondary key IPAM records the allocating node under.
const NODE_ATTRIBUTE: &str = "node";

/// Blocks whose `affinity` is `host:<me>`.
pub fn affine_blocks(me: &str, inputs: &BgpInputs) -> BTreeSet<IpNet> {
    inputs
        .blocks
        .values()
        .filter(|b| b.host() == Some(me))
        .map(|b| b.cidr.trunc())
        .collect()
}

/// Whether `prefix` lies in a pool, and whether that pool allows BGP export.
fn pool_export(prefix: &IpNet, inputs: &BgpInputs) -> Option<bool> {
    inputs
        .pool_nets()
        .filter(|(net, _)| net.contains(prefix))
        .map(|(_, spec)| !spec.disable_bgp_export)
        .next()
}

/// The service CIDRs the `default` BGPConfiguration asks every node to advertise.
fn service_cidrs(inputs: &BgpInputs) -> BTreeSet<IpNet> {
    let Some(c) = inputs.default_config() else {
        return BTreeSet::new();
    };
    c.service_cluster_ips
        .iter()
        .chain(&c.service_external_ips)
        .chain(&c.service_load_balancer_ips)
        .filter_map(|b| b.cidr.parse::<IpNet>().ok().map(|n| n.trunc()))
        .collect()
}

/// Every prefix node `me` originates.
pub fn compute_exports(me: &str, inputs: &BgpInputs) -> BTreeSet<IpNet> {
    let mut out: BTreeSet<IpNet> = affine_blocks(me, inputs)
        .into_iter()
        .filter(|b| pool_export(b, inputs) != Some(false))
        .collect();
    for block in inputs.blocks.values().filter(|b| b.host() != Some(me)) {
        for (ip, attr) in block.allocated() {
            if attr.secondary.get(NODE_ATTRIBUTE).map(String::as_str) == Some(me) {
                let host = IpNet::from(ip);
                if pool_export(&host, inputs) == Some(true) {
                    out.insert(host);
                }
            }
        }
    }
    out.extend(service_cidrs(inputs));
    out
}

/// The export filter's decision data; rebuilt whenever its inputs change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportPolicy {
    affine: BTreeSet<IpNet>,
    pools: Vec<(IpNet, bool)>,
    services: BTreeSet<IpNet>,
    communities: Vec<(IpNet, Vec<u32>, Vec<LargeCommunity>)>,
    next_hop_self: BTreeSet<IpAddr>,
    originated: BTreeSet<IpNet>,
    filters: BTreeMap<IpAddr, Vec<BGPFilterSpec>>,
    node_as: u32,
    local_as: BTreeMap<IpAddr, u32>,
}

impl ExportPolicy {
    /// The policy of node `me` towards the peers of `plan`.
    pub fn new(me: &str, inputs: &BgpInputs, plan: &PeerPlan) -> ExportPolicy {
        let mut communities = Vec::new();
        if let Some(c) = inputs.default_config() {
            let names: BTreeMap<&str, &str> = c
                .communities
                .iter()
                .map(|c| (c.name.as_str(), c.value.as_str()))
                .collect();
            for adv in &c.prefix_advertisements {
                let Ok(net) = adv.cidr.parse::<IpNet>() else {
                    continue;
                };
                let (mut std, mut large) = (Vec::new(), Vec::new());
                for c in &adv.communities {
                    match parse_community(names.get(c.as_str()).copied().unwrap_or(c)) {
                        Some(Community::Standard(v)) => std.push(v),
                        Some(Community::Large(v)) => large.push(v),
                        None => {}
                    }
                }
                communities.push((net.trunc(), std, large));
            }
        }
        ExportPolicy {
            affine: affine_blocks(me, inputs),
            pools: inputs
                .pool_nets()
                .map(|(n, s)| (n, !s.disable_bgp_export))
                .collect(),
            services: service_cidrs(inputs),
            communities,
            next_hop_self: plan
                .peers
                .values()
                .filter(|p| p.next_hop == NextHop::SelfHop)
                .map(|p| p.address)
                .collect(),
            originated: compute_exports(me, inputs),
            filters: peer_filters(inputs, plan),
            node_as: plan.local.as_ref().map_or(0, |l| l.asn),
            local_as: plan
                .peers
                .values()
                .filter_map(|p| Some((p.address, p.local_as?)))
                .collect(),
        }
    }

    /// Whether `prefix` may be sent at all, in Calico's order: own aggregates yes, anything
    /// more specific inside them no, then by pool, then advertised service ranges.
    pub fn allows(&self, prefix: &IpNet) -> bool {
        if self.affine.contains(prefix) {
            return self
                .pools
                .iter()
                .find(|(n, _)| n.contains(prefix))
                .is_none_or(|(_, export)| *export);
        }
        if self.affine.iter().any(|b| b.contains(prefix)) {
            return false;
        }
        if let Some((_, export)) = self.pools.iter().find(|(n, _)| n.contains(prefix)) {
            return *export;
        }
        self.services.iter().any(|s| s.contains(prefix))
    }

    /// The verdict for sending `prefix` with `attrs` to `peer`.
    pub fn verdict(&self, peer: &PeerInfo, prefix: &IpNet, attrs: &PathAttributes) -> Verdict {
        let filters = self
            .filters
            .get(&peer.address)
            .map_or(&[][..], Vec::as_slice);
        let from_peer = !self.originated.contains(prefix);
        let accepted = match decide(filters, export_rules, prefix, from_peer) {
            Some(BGPFilterAction::Reject) => return Verdict::Reject,
            Some(BGPFilterAction::Accept) => true,
            None if !self.allows(prefix) => return Verdict::Reject,
            None => false,
        };
        let mut out = None::<PathAttributes>;
        // A BGPFilter's accept ends Calico's filter before the communities are added.
        for (net, std, large) in self.communities.iter().filter(|_| !accepted) {
            if net.contains(prefix) {
                let a = out.get_or_insert_with(|| attrs.clone());
                for c in std {
                    if !a.communities.contains(c) {
                        a.communities.push(*c);
                    }
                }
                for c in large {
                    if !a.large_communities.contains(c) {
                        a.large_communities.push(*c);
                    }
                }
            }
        }
        if self.next_hop_self.contains(&peer.address) {
            let a = out.get_or_insert_with(|| attrs.clone());
            match prefix {
                IpNet::V4(_) => {
                    if let Some(v4) = peer.local_v4 {
                        a.next_hop = Some(v4);
                    }
                }
                IpNet::V6(_) => {
                    if let (Some(v6), Some(nh)) = (peer.local_v6, a.mp_next_hop.as_mut()) {
                        nh.global = IpAddr::V6(v6);
                        nh.link_local = None;
                    }
                }
            }
        }
        // A session with its own local AS: the RIB prepended the node's AS; the peer must
        // see the local AS instead.
        if let Some(asn) = self.local_as.get(&peer.address) {
            let a = out.get_or_insert_with(|| attrs.clone());
            let first = a.as_path.as_mut().and_then(|p| p.segments.first_mut());
            if let Some(seg) = first.filter(|s| s.kind == SegmentKind::Sequence) {
                if seg.asns.first() == Some(&self.node_as) {
                    seg.asns[0] = *asn;
                }
            }
        }
        match out {
            Some(a) if &a != attrs => Verdict::Replace(a),
            _ => Verdict::Accept,
        }
    }

    /// The policy as the speaker's export filter.
    pub fn into_filter(self) -> Filter {
        Box::new(move |peer, prefix, attrs| self.verdict(peer, prefix, attrs))
    }
}

/// A BGP community value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Community {
    /// `aa:nn` (RFC 1997).
    Standard(u32),
    /// `aa:nn:mm` (RFC 8092).
    Large(LargeCommunity),
}

/// Parses `aa:nn` or `aa:nn:mm`.
pub fn parse_community(text: &str) -> Option<Community> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [a, n] => Some(Community::Standard(
            (u32::from(a.parse::<u16>().ok()?) << 16) | u32::from(n.parse::<u16>().ok()?),
        )),
        [g, l1, l2] => Some(Community::Large(LargeCommunity {
            global: g.parse().ok()?,
            local1: l1.parse().ok()?,
            local2: l2.parse().ok()?,
        })),
        _ => None,
    }
}
