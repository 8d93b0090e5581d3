//! Packing: many prefixes sharing one attribute set into as few UPDATE
//! messages as fit in 4096 bytes each.

use ipnet::IpNet;

use super::attr::PathAttributes;
use super::{nlri, Family, Message, SessionCtx, Update, MAX_MESSAGE_LEN};
use crate::error::Result;

/// Bytes an MP attribute adds besides its prefixes: flags, type, 2-octet
/// length, AFI, SAFI, next-hop length, next hop, reserved.
fn mp_reach_overhead(attrs: &PathAttributes) -> usize {
    let nh = attrs
        .mp_next_hop
        .map_or(16, |n| match (n.global, n.link_local) {
            (std::net::IpAddr::V4(_), _) => 4,
            (_, None) => 16,
            (_, Some(_)) => 32,
        });
    4 + 3 + 1 + nh + 1
}

/// Splits `prefixes` into chunks whose wire size fits in `room` bytes.
fn chunks(prefixes: &[IpNet], room: usize) -> Vec<&[IpNet]> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        let len = nlri::encoded_len(p);
        if used + len > room && i > start {
            out.push(&prefixes[start..i]);
            start = i;
            used = 0;
        }
        used += len;
    }
    if start < prefixes.len() {
        out.push(&prefixes[start..]);
    }
    out
}

fn split_families(prefixes: &[IpNet]) -> [(Family, Vec<IpNet>); 2] {
    let (v4, v6) = prefixes.iter().partition(|n| matches!(n, IpNet::V4(_)));
    [(Family::Ipv4Unicast, v4), (Family::Ipv6Unicast, v6)]
}

/// Encodes UPDATEs announcing `prefixes` with `attrs`, as few as fit.
pub fn pack_announce(
    attrs: &PathAttributes,
    prefixes: &[IpNet],
    ctx: &SessionCtx,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (family, nets) in split_families(prefixes) {
        if nets.is_empty() {
            continue;
        }
        let mut template = Update {
            attrs: attrs.clone(),
            ..Update::default()
        };
        match family {
            // Probe with one prefix so the NEXT_HOP fallback is applied.
            Family::Ipv4Unicast => template.nlri = vec![nets[0]],
            // NEXT_HOP is meaningless in an MP-only UPDATE (RFC 4760 §3).
            Family::Ipv6Unicast => template.attrs.next_hop = None,
        }
        let probe = Message::Update(template.clone()).encode(ctx)?;
        let base = match family {
            Family::Ipv4Unicast => probe.len() - nlri::encoded_len(&nets[0]),
            Family::Ipv6Unicast => probe.len() + mp_reach_overhead(attrs),
        };
        let room = MAX_MESSAGE_LEN.saturating_sub(base);
        for chunk in chunks(&nets, room) {
            template.nlri = chunk.to_vec();
            out.push(Message::Update(template.clone()).encode(ctx)?);
        }
    }
    Ok(out)
}

/// Encodes UPDATEs withdrawing `prefixes`, as few as fit.
pub fn pack_withdraw(prefixes: &[IpNet], ctx: &SessionCtx) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (family, nets) in split_families(prefixes) {
        // header + two length fields, plus the MP_UNREACH header for IPv6
        let base = 23 + if family == Family::Ipv6Unicast { 7 } else { 0 };
        for chunk in chunks(&nets, MAX_MESSAGE_LEN - base) {
            let update = Update {
                withdrawn: chunk.to_vec(),
                ..Update::default()
            };
            out.push(Message::Update(update).encode(ctx)?);
        }
    }
    Ok(out)
}
