//! Best-path selection: RFC 4271 §9.1.2.2 with the customary tie-breaks.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::Candidate;
use crate::codec::Origin;

/// LOCAL_PREF assumed when a route carries none.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Orders two candidates; `Ordering::Less` means `a` is preferred. Steps:
/// 1. locally originated routes first (the usual "weight");
/// 2. higher LOCAL_PREF; 3. shorter AS_PATH; 4. lower ORIGIN;
/// 5. lower MED, only between routes from the same neighbouring AS;
/// 6. eBGP over iBGP; 7. lower IGP cost to the next hop (`igp_cost` hook);
/// 8. lower ORIGINATOR_ID, else router ID of the advertising peer;
/// 9. shorter CLUSTER_LIST; 10. lower peer address.
pub(crate) fn compare(
    a: &Candidate<'_>,
    b: &Candidate<'_>,
    igp_cost: &dyn Fn(IpAddr) -> u32,
) -> Ordering {
    let (x, y) = (a.attrs, b.attrs);
    let origin_rank = |o: Option<Origin>| o.map_or(3, |o| o as u8);
    let neighbour = |c: &Candidate<'_>| c.attrs.as_path.as_ref().and_then(|p| p.first_asn());
    let path_len = |c: &Candidate<'_>| c.attrs.as_path.as_ref().map_or(0, |p| p.path_len());
    let cost = |c: &Candidate<'_>| c.next_hop.map_or(0, igp_cost);
    let id = |c: &Candidate<'_>| u32::from(c.attrs.originator_id.unwrap_or(c.router_id));
    b.local
        .cmp(&a.local)
        .then_with(|| {
            let lp = |v: Option<u32>| v.unwrap_or(DEFAULT_LOCAL_PREF);
            lp(y.local_pref).cmp(&lp(x.local_pref))
        })
        .then_with(|| path_len(a).cmp(&path_len(b)))
        .then_with(|| origin_rank(x.origin).cmp(&origin_rank(y.origin)))
        .then_with(|| {
            if neighbour(a) == neighbour(b) {
                x.med.unwrap_or(0).cmp(&y.med.unwrap_or(0))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| b.ebgp.cmp(&a.ebgp))
        .then_with(|| cost(a).cmp(&cost(b)))
        .then_with(|| id(a).cmp(&id(b)))
        .then_with(|| x.cluster_list.len().cmp(&y.cluster_list.len()))
        .then_with(|| a.peer.cmp(&b.peer))
}
