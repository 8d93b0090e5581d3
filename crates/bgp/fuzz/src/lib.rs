//! Helpers shared by the fuzz targets: the session context picked by an
//! input byte, and the normal form two decodes of one message must share.

use bgp::codec::{Message, SegmentKind, SessionCtx, Update};
use ipnet::IpNet;
use std::net::IpAddr;

/// Bit 0: 4-octet AS negotiated; bit 1: eBGP session.
pub fn ctx(selector: u8) -> SessionCtx {
    SessionCtx {
        four_octet_as: selector & 1 != 0,
        ebgp: selector & 2 != 0,
    }
}

/// What survives an encode/decode round trip: prefix lists as sets (the
/// encoder splits them by family into the classic fields and MP_(UN)REACH),
/// unknown attributes in type order (the encoder writes attributes in
/// ascending type order), an IPv4 MP next hop as NEXT_HOP (the encoder
/// writes it there for IPv4 NLRI), no MP next hop without IPv6 NLRI (it travels only
/// inside MP_REACH_NLRI, which is written only for IPv6 prefixes), and no record of RFC 7606 problems (the re-encoded
/// message no longer contains what the first decode tolerated).
pub fn normalise(mut msg: Message) -> Message {
    if let Message::Update(update) = &mut msg {
        normalise_update(update);
    }
    msg
}

/// [`normalise`] for a bare UPDATE.
pub fn normalise_update(update: &mut Update) {
    update.problems.clear();
    update.withdrawn.sort();
    update.nlri.sort();
    update.attrs.unknown.sort_by_key(|a| a.type_code);
    if let Some(IpAddr::V4(nh)) = update.attrs.mp_next_hop.as_ref().map(|m| m.global) {
        update.attrs.next_hop.get_or_insert(nh);
    }
    if !update.nlri.iter().any(|n| matches!(n, IpNet::V6(_))) {
        update.attrs.mp_next_hop = None;
    }
}

/// Cases the round-trip check skips:
/// - on a 2-octet-AS session, an AS path with confederation segments after
///   ordinary ones: AS4_PATH never carries confederation segments (RFC 6793
///   §3), so the merge puts them first, where a confederation prepends them;
/// - lossy by design: on a 2-octet-AS session, a path with a 4-octet AS next
///   to an AGGREGATOR whose AS fits 2 octets; the receiver of such an
///   AGGREGATOR must ignore AS4_PATH (RFC 6793 §4.2.3).
///
/// The findings kept in `crates/bgp/tests/fuzz_regressions.rs` are fixed.
pub fn known_finding(update: &Update, ctx: &SessionCtx) -> bool {
    let confed = !ctx.four_octet_as
        && update.attrs.as_path.as_ref().is_some_and(|p| {
            p.segments
                .iter()
                .any(|s| matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet))
        });
    let aggregator_rule = !ctx.four_octet_as
        && update.attrs.aggregator.is_some_and(|a| a.asn <= 0xffff)
        && update.attrs.as_path.as_ref().is_some_and(|p| {
            p.segments
                .iter()
                .any(|s| s.asns.iter().any(|&asn| asn > 0xffff))
        });
    confed || aggregator_rule
}
