//! Calico's BGPFilter on our speaker: the filters a BGPPeer names in `spec.filters`, applied
//! to that peer's sessions the way Calico's BIRD configuration does. The rules of the peer's
//! filters, in the order listed, are checked for each route of the family; the first match
//! decides. On export an `Accept` sends the route even where Calico's own export policy would
//! not and a `Reject` withholds it; with no match Calico's export policy decides. On import
//! a `Reject` drops the route and anything else keeps it. Rules on an `interface` never match:
//! our RIB holds no kernel routes to take an interface from. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use api::{BGPFilterAction, BGPFilterMatchOperator, BGPFilterRule, BGPFilterSpec};
use bgp::rib::{Filter, Verdict};
use ipnet::IpNet;

use super::inputs::BgpInputs;
use super::peers::PeerPlan;

/// Whether a route is matched by `rule`: `from_peer` says it was learned from a BGP peer
/// (Calico's `source: RemotePeers`) rather than originated here.
pub fn rule_matches(rule: &BGPFilterRule, prefix: &IpNet, from_peer: bool) -> bool {
    if !rule.interface.is_empty() || (rule.source.is_some() && !from_peer) {
        return false;
    }
    let Some(op) = rule.match_operator else {
        return true;
    };
    let Ok(cidr) = rule.cidr.parse::<IpNet>().map(|n| n.trunc()) else {
        return false;
    };
    let inside = || {
        let len = i32::from(prefix.prefix_len());
        let p = rule.prefix_length.unwrap_or_default();
        cidr.contains(prefix)
            && p.min.unwrap_or(i32::from(cidr.prefix_len())) <= len
            && len <= p.max.unwrap_or(i32::from(cidr.max_prefix_len()))
    };
    match op {
        BGPFilterMatchOperator::Equal => *prefix == cidr,
        BGPFilterMatchOperator::NotEqual => *prefix != cidr,
        BGPFilterMatchOperator::In => inside(),
        BGPFilterMatchOperator::NotIn => !inside(),
    }
}

/// The action of the first rule of `filters` (in order) that matches, for the direction
/// `rules` picks out of a spec by family.
pub fn decide<'a>(
    filters: &'a [BGPFilterSpec],
    rules: impl Fn(&'a BGPFilterSpec, bool) -> &'a [BGPFilterRule],
    prefix: &IpNet,
    from_peer: bool,
) -> Option<BGPFilterAction> {
    let v6 = matches!(prefix, IpNet::V6(_));
    filters
        .iter()
        .flat_map(|f| rules(f, v6))
        .find(|r| rule_matches(r, prefix, from_peer))
        .map(|r| r.action)
}

/// The export rules of a spec for one family.
pub fn export_rules(spec: &BGPFilterSpec, v6: bool) -> &[BGPFilterRule] {
    if v6 {
        &spec.export_v6
    } else {
        &spec.export_v4
    }
}

/// The import rules of a spec for one family.
pub fn import_rules(spec: &BGPFilterSpec, v6: bool) -> &[BGPFilterRule] {
    if v6 {
        &spec.import_v6
    } else {
        &spec.import_v4
    }
}

/// The BGPFilter specs of each session that names any, in the order the BGPPeer lists them;
/// names without a BGPFilter resource are left out (and reported by the peer computation).
pub fn peer_filters(inputs: &BgpInputs, plan: &PeerPlan) -> BTreeMap<IpAddr, Vec<BGPFilterSpec>> {
    plan.peers
        .values()
        .filter(|p| !p.filters.is_empty())
        .map(|p| {
            let specs = p
                .filters
                .iter()
                .filter_map(|name| inputs.filters.get(name).cloned())
                .collect();
            (p.address, specs)
        })
        .collect()
}

/// The import side: per session, the BGPFilter rules received routes must pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportPolicy {
    peers: BTreeMap<IpAddr, Vec<BGPFilterSpec>>,
}

impl ImportPolicy {
    /// The import rules of the sessions of `plan`.
    pub fn new(inputs: &BgpInputs, plan: &PeerPlan) -> ImportPolicy {
        let peers = peer_filters(inputs, plan)
            .into_iter()
            .filter(|(_, specs)| {
                specs
                    .iter()
                    .any(|s| !s.import_v4.is_empty() || !s.import_v6.is_empty())
            })
            .collect();
        ImportPolicy { peers }
    }

    /// The verdict on a route received from `peer`.
    pub fn verdict(&self, peer: IpAddr, prefix: &IpNet) -> Verdict {
        let filters = self.peers.get(&peer).map_or(&[][..], Vec::as_slice);
        match decide(filters, import_rules, prefix, true) {
            Some(BGPFilterAction::Reject) => Verdict::Reject,
            _ => Verdict::Accept,
        }
    }

    /// The policy as the speaker's import filter.
    pub fn into_filter(self) -> Filter {
        Box::new(move |peer, prefix, _| self.verdict(peer.address, prefix))
    }
}
