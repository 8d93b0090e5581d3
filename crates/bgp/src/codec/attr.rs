//! Path attributes (RFC 4271 §5, RFC 1997, RFC 4456, RFC 4760, RFC 6793,
//! RFC 8092): the in-memory form and their per-attribute codec, with RFC 7606
//! error classification of each malformed attribute.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::nlri;
use super::reader::Reader;
use super::{code, Family, SessionCtx};
use crate::error::{Error, Result};

/// The AS number stood in for a 4-octet AS towards 2-octet speakers.
pub const AS_TRANS: u16 = 23456;

const OPTIONAL: u8 = 0x80;
const TRANSITIVE: u8 = 0x40;
const PARTIAL: u8 = 0x20;
const EXTENDED: u8 = 0x10;

const ORIGIN: u8 = 1;
const AS_PATH: u8 = 2;
const NEXT_HOP: u8 = 3;
const MED: u8 = 4;
const LOCAL_PREF: u8 = 5;
const ATOMIC_AGGREGATE: u8 = 6;
const AGGREGATOR: u8 = 7;
const COMMUNITIES: u8 = 8;
const ORIGINATOR_ID: u8 = 9;
const CLUSTER_LIST: u8 = 10;
const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;
const AS4_PATH: u8 = 17;
const AS4_AGGREGATOR: u8 = 18;
const LARGE_COMMUNITY: u8 = 32;

/// ORIGIN values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// 0: learned from an interior protocol.
    Igp,
    /// 1: learned via EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

/// AS_PATH segment types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE (RFC 5065).
    ConfedSequence,
    /// 4: AS_CONFED_SET (RFC 5065).
    ConfedSet,
}

/// One AS_PATH segment (1 to 255 ASes on the wire; longer ones are split).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentKind,
    /// AS numbers, always 4-octet in memory.
    pub asns: Vec<u32>,
}

/// An AS_PATH, always with 4-octet AS numbers (AS4_PATH already merged).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path made of one AS_SEQUENCE (empty path if `asns` is empty).
    pub fn sequence(asns: Vec<u32>) -> AsPath {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection: an AS_SET counts as one,
    /// confederation segments count as zero (RFC 4271 §9.1.2.2, RFC 5065).
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// The neighbouring AS: the first AS of a leading AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentKind::Sequence => s.asns.first().copied(),
            _ => None,
        }
    }

    /// The path with `asn` prepended, as done when advertising to eBGP.
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut out = self.clone();
        match out.segments.first_mut() {
            Some(s) if s.kind == SegmentKind::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, asn)
            }
            _ => out.segments.insert(
                0,
                AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![asn],
                },
            ),
        }
        out
    }
}

/// AGGREGATOR value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// AS of the aggregating speaker.
    pub asn: u32,
    /// Its address.
    pub address: Ipv4Addr,
}

/// A large community (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

/// Next hop carried in MP_REACH_NLRI (RFC 4760; RFC 2545 for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MpNextHop {
    /// The global next hop.
    pub global: IpAddr,
    /// The IPv6 link-local next hop, when 32 bytes were sent.
    pub link_local: Option<Ipv6Addr>,
}

/// An optional transitive attribute we do not understand, passed on with the
/// Partial bit set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute flags (without the extended-length bit).
    pub flags: u8,
    /// Attribute type code.
    pub type_code: u8,
    /// Attribute value.
    pub value: Vec<u8>,
}

/// The path attributes of an UPDATE. MP_REACH/MP_UNREACH prefixes live in
/// [`super::Update`]; only the MP next hop is kept here so that all prefixes
/// of one family share one attribute set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    /// ORIGIN (well-known mandatory).
    pub origin: Option<Origin>,
    /// AS_PATH (well-known mandatory).
    pub as_path: Option<AsPath>,
    /// NEXT_HOP for IPv4 NLRI.
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<u32>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// Next hop of MP_REACH_NLRI.
    pub mp_next_hop: Option<MpNextHop>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// Unrecognised optional transitive attributes.
    pub unknown: Vec<RawAttribute>,
}

impl PathAttributes {
    /// The next hop to use for a prefix of `family`.
    pub fn next_hop_for(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::Ipv4Unicast => self
                .next_hop
                .map(IpAddr::V4)
                .or(self.mp_next_hop.map(|n| n.global).filter(IpAddr::is_ipv4)),
            Family::Ipv6Unicast => self.mp_next_hop.map(|n| n.global).filter(IpAddr::is_ipv6),
        }
    }
}

/// What RFC 7606 says to do about a malformed attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// All NLRI of the UPDATE are treated as withdrawn (RFC 7606 §2).
    TreatAsWithdraw,
    /// The attribute is dropped and the UPDATE processed without it.
    AttributeDiscard,
}

/// A tolerated error found while decoding an UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Type code of the offending attribute (0 if not attribute-specific).
    pub type_code: u8,
    /// What was done about it.
    pub action: ErrorAction,
    /// Human-readable cause.
    pub reason: &'static str,
}

/// MP_REACH_NLRI contents.
pub(crate) struct MpReach {
    pub(crate) nlri: Vec<IpNet>,
}

/// Result of decoding the path attribute block.
#[derive(Default)]
pub(crate) struct Decoded {
    pub(crate) attrs: PathAttributes,
    pub(crate) mp_reach: Option<MpReach>,
    pub(crate) mp_unreach: Option<(Family, Vec<IpNet>)>,
    pub(crate) problems: Vec<Problem>,
}

/// Expected (optional, transitive) flag bits and RFC 7606 action per type.
fn rules(type_code: u8, ctx: &SessionCtx) -> Option<(u8, Option<ErrorAction>)> {
    use ErrorAction::{AttributeDiscard as Discard, TreatAsWithdraw as Withdraw};
    let ibgp_only = if ctx.ebgp { Discard } else { Withdraw };
    Some(match type_code {
        ORIGIN | AS_PATH | NEXT_HOP => (TRANSITIVE, Some(Withdraw)),
        LOCAL_PREF => (TRANSITIVE, Some(ibgp_only)),
        ATOMIC_AGGREGATE => (TRANSITIVE, Some(Discard)),
        MED => (OPTIONAL, Some(Withdraw)),
        AGGREGATOR | AS4_AGGREGATOR | AS4_PATH => (OPTIONAL | TRANSITIVE, Some(Discard)),
        COMMUNITIES | LARGE_COMMUNITY => (OPTIONAL | TRANSITIVE, Some(Withdraw)),
        ORIGINATOR_ID | CLUSTER_LIST => (OPTIONAL, Some(ibgp_only)),
        // None: a malformed MP attribute resets the session (RFC 7606 §5.3).
        MP_REACH | MP_UNREACH => (OPTIONAL, None),
        _ => return None,
    })
}

fn update_err(subcode: u8, data: Vec<u8>, reason: &'static str) -> Error {
    Error::msg(code::UPDATE, subcode, data, reason)
}

/// Decodes the path attribute block of an UPDATE. `has_nlri` tells whether
/// the (IPv4) NLRI field is non-empty, for the mandatory-attribute check.
pub(crate) fn decode(buf: &[u8], ctx: &SessionCtx, has_nlri: bool) -> Result<Decoded> {
    let mut d = Decoded::default();
    let mut seen = [false; 256];
    let mut as4_path = None;
    let mut as4_aggregator = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let start = r.rest();
        let header = (|| {
            let flags = r.u8()?;
            let type_code = r.u8()?;
            let len = if flags & EXTENDED != 0 {
                usize::from(r.u16()?)
            } else {
                usize::from(r.u8()?)
            };
            Some((flags, type_code, r.take(len)?))
        })();
        let Some((flags, type_code, value)) = header else {
            // RFC 7606 §4: attribute list overrun; the NLRI field is still
            // locatable, but NLRI hidden in an unparsed MP_REACH are not.
            if d.mp_reach.is_none() && !has_nlri {
                return Err(update_err(
                    1,
                    vec![],
                    "attribute length overruns attribute list",
                ));
            }
            d.problems.push(Problem {
                type_code: 0,
                action: ErrorAction::TreatAsWithdraw,
                reason: "attribute length overruns attribute list",
            });
            break;
        };
        if seen[usize::from(type_code)] {
            if type_code == MP_REACH || type_code == MP_UNREACH {
                return Err(update_err(1, vec![], "duplicate MP attribute"));
            }
            d.problems.push(Problem {
                type_code,
                action: ErrorAction::AttributeDiscard,
                reason: "duplicate attribute",
            });
            continue;
        }
        seen[usize::from(type_code)] = true;
        let Some((expected, action)) = rules(type_code, ctx) else {
            if flags & OPTIONAL == 0 {
                // RFC 4271 §6.3: the data is the whole attribute (type, length and value).
                let data = start[..start.len() - r.rest().len()].to_vec();
                return Err(update_err(2, data, "unrecognized well-known attribute"));
            }
            if flags & TRANSITIVE != 0 {
                d.attrs.unknown.push(RawAttribute {
                    flags: (flags & !EXTENDED) | PARTIAL,
                    type_code,
                    value: value.to_vec(),
                });
            }
            continue;
        };
        let outcome = if flags & (OPTIONAL | TRANSITIVE) != expected {
            Err("attribute flags conflict with type")
        } else {
            decode_one(
                &mut d,
                type_code,
                value,
                ctx,
                &mut as4_path,
                &mut as4_aggregator,
            )
        };
        if let Err(reason) = outcome {
            let Some(action) = action else {
                return Err(update_err(9, vec![], reason));
            };
            d.problems.push(Problem {
                type_code,
                action,
                reason,
            });
        }
    }
    if !ctx.four_octet_as {
        merge_as4(&mut d.attrs, as4_path, as4_aggregator);
    }
    // Unknown attributes are kept in type-code order, the order the encoder sends them in.
    d.attrs.unknown.sort_by_key(|u| u.type_code);
    let reach = has_nlri || d.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
    if reach {
        let missing = if d.attrs.origin.is_none() && !seen[usize::from(ORIGIN)] {
            Some("missing ORIGIN")
        } else if d.attrs.as_path.is_none() && !seen[usize::from(AS_PATH)] {
            Some("missing AS_PATH")
        } else if has_nlri && d.attrs.next_hop.is_none() && !seen[usize::from(NEXT_HOP)] {
            Some("missing NEXT_HOP")
        } else {
            None
        };
        if let Some(reason) = missing {
            d.problems.push(Problem {
                type_code: 0,
                action: ErrorAction::TreatAsWithdraw,
                reason,
            });
        }
    }
    Ok(d)
}

/// Decodes one known attribute into `d`; `Err` means malformed.
fn decode_one(
    d: &mut Decoded,
    type_code: u8,
    value: &[u8],
    ctx: &SessionCtx,
    as4_path: &mut Option<AsPath>,
    as4_aggregator: &mut Option<Aggregator>,
) -> std::result::Result<(), &'static str> {
    let mut r = Reader::new(value);
    let a = &mut d.attrs;
    match type_code {
        ORIGIN => {
            a.origin = Some(match value {
                [0] => Origin::Igp,
                [1] => Origin::Egp,
                [2] => Origin::Incomplete,
                _ => return Err("bad ORIGIN"),
            })
        }
        AS_PATH => a.as_path = Some(decode_as_path(value, ctx.four_octet_as)?),
        NEXT_HOP => a.next_hop = Some(exact_u32(value, "bad NEXT_HOP length")?.into()),
        MED => a.med = Some(exact_u32(value, "bad MED length")?),
        LOCAL_PREF => {
            let v = exact_u32(value, "bad LOCAL_PREF length")?;
            if ctx.ebgp {
                return Err("LOCAL_PREF from an external peer");
            }
            a.local_pref = Some(v);
        }
        ATOMIC_AGGREGATE if value.is_empty() => a.atomic_aggregate = true,
        ATOMIC_AGGREGATE => return Err("bad ATOMIC_AGGREGATE length"),
        AGGREGATOR => {
            let asn = if ctx.four_octet_as && value.len() == 8 {
                r.u32()
            } else if !ctx.four_octet_as && value.len() == 6 {
                r.u16().map(u32::from)
            } else {
                None
            };
            let (Some(asn), Some(address)) = (asn, r.ipv4()) else {
                return Err("bad AGGREGATOR length");
            };
            a.aggregator = Some(Aggregator { asn, address });
        }
        COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err("bad COMMUNITIES length");
            }
            a.communities = std::iter::from_fn(|| r.u32()).collect();
        }
        ORIGINATOR_ID => {
            let v = exact_u32(value, "bad ORIGINATOR_ID length")?;
            if ctx.ebgp {
                return Err("ORIGINATOR_ID from an external peer");
            }
            a.originator_id = Some(v.into());
        }
        CLUSTER_LIST => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err("bad CLUSTER_LIST length");
            }
            if ctx.ebgp {
                return Err("CLUSTER_LIST from an external peer");
            }
            a.cluster_list = std::iter::from_fn(|| r.ipv4()).collect();
        }
        MP_REACH => {
            let (afi, safi) = (
                r.u16().ok_or("short MP_REACH")?,
                r.u8().ok_or("short MP_REACH")?,
            );
            let nh_len = usize::from(r.u8().ok_or("short MP_REACH")?);
            let nh = r.take(nh_len).ok_or("MP_REACH next hop overruns")?;
            r.u8().ok_or("short MP_REACH")?;
            let Some(family) = Family::from_afi_safi(afi, safi) else {
                d.problems.push(Problem {
                    type_code,
                    action: ErrorAction::AttributeDiscard,
                    reason: "MP_REACH for an unsupported family",
                });
                return Ok(());
            };
            let nlri = nlri::decode(r.rest(), family).ok_or("bad MP_REACH NLRI")?;
            let next_hop = decode_mp_next_hop(family, nh);
            if next_hop.is_none() {
                d.problems.push(Problem {
                    type_code,
                    action: ErrorAction::TreatAsWithdraw,
                    reason: "bad MP_REACH next hop length",
                });
            }
            d.attrs.mp_next_hop = next_hop;
            d.mp_reach = Some(MpReach { nlri });
        }
        MP_UNREACH => {
            let (afi, safi) = (
                r.u16().ok_or("short MP_UNREACH")?,
                r.u8().ok_or("short MP_UNREACH")?,
            );
            let Some(family) = Family::from_afi_safi(afi, safi) else {
                d.problems.push(Problem {
                    type_code,
                    action: ErrorAction::AttributeDiscard,
                    reason: "MP_UNREACH for an unsupported family",
                });
                return Ok(());
            };
            let withdrawn = nlri::decode(r.rest(), family).ok_or("bad MP_UNREACH NLRI")?;
            d.mp_unreach = Some((family, withdrawn));
        }
        AS4_PATH => {
            let path = decode_as_path(value, true)?;
            if ctx.four_octet_as {
                return Err("AS4_PATH from a 4-octet speaker");
            }
            *as4_path = Some(path);
        }
        AS4_AGGREGATOR => {
            let (Some(asn), Some(address), true) = (r.u32(), r.ipv4(), value.len() == 8) else {
                return Err("bad AS4_AGGREGATOR length");
            };
            if ctx.four_octet_as {
                return Err("AS4_AGGREGATOR from a 4-octet speaker");
            }
            *as4_aggregator = Some(Aggregator { asn, address });
        }
        LARGE_COMMUNITY => {
            if value.is_empty() || !value.len().is_multiple_of(12) {
                return Err("bad LARGE_COMMUNITY length");
            }
            a.large_communities = std::iter::from_fn(|| {
                Some(LargeCommunity {
                    global: r.u32()?,
                    local1: r.u32()?,
                    local2: r.u32()?,
                })
            })
            .collect();
        }
        _ => {}
    }
    Ok(())
}

fn exact_u32(value: &[u8], reason: &'static str) -> std::result::Result<u32, &'static str> {
    match value {
        [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(reason),
    }
}

fn decode_mp_next_hop(family: Family, nh: &[u8]) -> Option<MpNextHop> {
    let mut r = Reader::new(nh);
    match (family, nh.len()) {
        (Family::Ipv4Unicast, 4) => Some(MpNextHop {
            global: IpAddr::V4(r.ipv4()?),
            link_local: None,
        }),
        (Family::Ipv6Unicast, 16) => Some(MpNextHop {
            global: IpAddr::V6(r.ipv6()?),
            link_local: None,
        }),
        (Family::Ipv6Unicast, 32) => Some(MpNextHop {
            global: IpAddr::V6(r.ipv6()?),
            link_local: Some(r.ipv6()?),
        }),
        _ => None,
    }
}

fn decode_as_path(value: &[u8], four: bool) -> std::result::Result<AsPath, &'static str> {
    let mut r = Reader::new(value);
    let mut segments = Vec::new();
    while !r.is_empty() {
        let kind = match r.u8() {
            Some(1) => SegmentKind::Set,
            Some(2) => SegmentKind::Sequence,
            Some(3) => SegmentKind::ConfedSequence,
            Some(4) => SegmentKind::ConfedSet,
            _ => return Err("bad AS_PATH segment type"),
        };
        let count = usize::from(r.u8().ok_or("truncated AS_PATH segment")?);
        if count == 0 {
            return Err("empty AS_PATH segment");
        }
        let width = if four { 4 } else { 2 };
        let raw = r.take(count * width).ok_or("AS_PATH segment overruns")?;
        let asns = raw
            .chunks_exact(width)
            .map(|c| match c {
                [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
                _ => u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            })
            .collect();
        segments.push(AsSegment { kind, asns });
    }
    Ok(AsPath { segments })
}

/// RFC 6793 §4.2.3: rebuilds the real path from AS_PATH and AS4_PATH.
fn merge_as4(a: &mut PathAttributes, as4_path: Option<AsPath>, as4_agg: Option<Aggregator>) {
    if let Some(agg) = a.aggregator {
        if agg.asn != u32::from(AS_TRANS) {
            return; // AS4_* were added by a 2-octet speaker after aggregation
        }
        if let Some(real) = as4_agg {
            a.aggregator = Some(real);
        }
    }
    let (Some(mut as4), Some(path)) = (as4_path, a.as_path.as_ref()) else {
        return;
    };
    // RFC 6793 §3: confederation segments must not appear in AS4_PATH; a receiver discards them.
    as4.segments
        .retain(|s| !matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet));
    let (n, m) = (path.path_len(), as4.path_len());
    if n < m {
        return;
    }
    let mut keep = n - m;
    let mut merged = Vec::new();
    for seg in &path.segments {
        let counted = match seg.kind {
            SegmentKind::Sequence => seg.asns.len(),
            SegmentKind::Set => 1,
            _ => 0,
        };
        if counted <= keep {
            keep -= counted;
            merged.push(seg.clone());
            continue;
        }
        if keep > 0 && seg.kind == SegmentKind::Sequence {
            merged.push(AsSegment {
                kind: SegmentKind::Sequence,
                asns: seg.asns[..keep].to_vec(),
            });
        } else {
            keep = 0;
        }
        break;
    }
    for seg in as4.segments {
        match merged.last_mut() {
            // join the split sequence with the first AS4_PATH sequence
            Some(last)
                if keep > 0
                    && last.kind == SegmentKind::Sequence
                    && seg.kind == SegmentKind::Sequence =>
            {
                last.asns.extend(seg.asns);
                keep = 0;
            }
            _ => merged.push(seg),
        }
    }
    a.as_path = Some(AsPath { segments: merged });
}

fn push_attr(out: &mut Vec<(u8, u8, Vec<u8>)>, flags: u8, type_code: u8, value: Vec<u8>) {
    out.push((type_code, flags, value));
}

fn encode_as_path(path: &AsPath, four: bool, skip_confed: bool) -> (Vec<u8>, bool) {
    let mut v = Vec::new();
    let mut needs_as4 = false;
    for seg in &path.segments {
        let kind = match seg.kind {
            SegmentKind::Set => 1,
            SegmentKind::Sequence => 2,
            SegmentKind::ConfedSequence | SegmentKind::ConfedSet if skip_confed => continue,
            SegmentKind::ConfedSequence => 3,
            SegmentKind::ConfedSet => 4,
        };
        for chunk in seg.asns.chunks(255) {
            v.push(kind);
            v.push(chunk.len() as u8);
            for &asn in chunk {
                if four {
                    v.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let short = u16::try_from(asn).unwrap_or_else(|_| {
                        needs_as4 = true;
                        AS_TRANS
                    });
                    v.extend_from_slice(&short.to_be_bytes());
                }
            }
        }
    }
    (v, needs_as4)
}

/// Encodes the attribute block (MP attributes included) into `out`, in
/// ascending type order. `mp_reach`/`mp_unreach` carry non-IPv4 prefixes.
pub(crate) fn encode(
    a: &PathAttributes,
    mp_reach: Option<(Family, &[IpNet])>,
    mp_unreach: Option<(Family, &[IpNet])>,
    ctx: &SessionCtx,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut attrs: Vec<(u8, u8, Vec<u8>)> = Vec::new();
    let wk = TRANSITIVE;
    let opt_t = OPTIONAL | TRANSITIVE;
    if let Some(origin) = a.origin {
        push_attr(&mut attrs, wk, ORIGIN, vec![origin as u8]);
    }
    if let Some(path) = &a.as_path {
        let (v, needs_as4) = encode_as_path(path, ctx.four_octet_as, false);
        push_attr(&mut attrs, wk, AS_PATH, v);
        if needs_as4 {
            push_attr(
                &mut attrs,
                opt_t,
                AS4_PATH,
                encode_as_path(path, true, true).0,
            );
        }
    }
    if let Some(nh) = a.next_hop {
        push_attr(&mut attrs, wk, NEXT_HOP, nh.octets().to_vec());
    }
    if let Some(med) = a.med {
        push_attr(&mut attrs, OPTIONAL, MED, med.to_be_bytes().to_vec());
    }
    if let Some(lp) = a.local_pref {
        push_attr(&mut attrs, wk, LOCAL_PREF, lp.to_be_bytes().to_vec());
    }
    if a.atomic_aggregate {
        push_attr(&mut attrs, wk, ATOMIC_AGGREGATE, vec![]);
    }
    if let Some(agg) = a.aggregator {
        let mut v = Vec::new();
        if ctx.four_octet_as {
            v.extend_from_slice(&agg.asn.to_be_bytes());
        } else {
            let short = u16::try_from(agg.asn).unwrap_or(AS_TRANS);
            v.extend_from_slice(&short.to_be_bytes());
            if u32::from(short) != agg.asn {
                let mut v4 = agg.asn.to_be_bytes().to_vec();
                v4.extend_from_slice(&agg.address.octets());
                push_attr(&mut attrs, opt_t, AS4_AGGREGATOR, v4);
            }
        }
        v.extend_from_slice(&agg.address.octets());
        push_attr(&mut attrs, opt_t, AGGREGATOR, v);
    }
    if !a.communities.is_empty() {
        let v = a.communities.iter().flat_map(|c| c.to_be_bytes()).collect();
        push_attr(&mut attrs, opt_t, COMMUNITIES, v);
    }
    if let Some(id) = a.originator_id {
        push_attr(&mut attrs, OPTIONAL, ORIGINATOR_ID, id.octets().to_vec());
    }
    if !a.cluster_list.is_empty() {
        let v = a.cluster_list.iter().flat_map(|c| c.octets()).collect();
        push_attr(&mut attrs, OPTIONAL, CLUSTER_LIST, v);
    }
    if let Some((family, nlri)) = mp_reach {
        let nh = a
            .mp_next_hop
            .ok_or(Error::Encode("MP_REACH without a next hop"))?;
        let (afi, safi) = family.afi_safi();
        let mut v = afi.to_be_bytes().to_vec();
        v.push(safi);
        let mut nh_bytes = match nh.global {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        if let Some(ll) = nh.link_local {
            nh_bytes.extend_from_slice(&ll.octets());
        }
        v.push(nh_bytes.len() as u8);
        v.extend_from_slice(&nh_bytes);
        v.push(0);
        nlri::encode(nlri, &mut v);
        push_attr(&mut attrs, OPTIONAL, MP_REACH, v);
    }
    if let Some((family, withdrawn)) = mp_unreach {
        let (afi, safi) = family.afi_safi();
        let mut v = afi.to_be_bytes().to_vec();
        v.push(safi);
        nlri::encode(withdrawn, &mut v);
        push_attr(&mut attrs, OPTIONAL, MP_UNREACH, v);
    }
    if !a.large_communities.is_empty() {
        let v = a
            .large_communities
            .iter()
            .flat_map(|c| [c.global, c.local1, c.local2])
            .flat_map(u32::to_be_bytes)
            .collect();
        push_attr(&mut attrs, opt_t, LARGE_COMMUNITY, v);
    }
    for raw in &a.unknown {
        push_attr(
            &mut attrs,
            raw.flags & !EXTENDED,
            raw.type_code,
            raw.value.clone(),
        );
    }
    attrs.sort_by_key(|(t, _, _)| *t);
    for (type_code, flags, value) in attrs {
        let len = u16::try_from(value.len()).map_err(|_| Error::Encode("attribute too long"))?;
        if len > 255 {
            out.extend_from_slice(&[flags | EXTENDED, type_code]);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.extend_from_slice(&[flags, type_code, len as u8]);
        }
        out.extend_from_slice(&value);
    }
    Ok(())
}
