//! UPDATE message (RFC 4271 §4.3) with MP_REACH/MP_UNREACH folded in: the
//! in-memory form lists prefixes of both families together, and the decoder
//! applies RFC 7606 (treat-as-withdraw moves every announced prefix into
//! `withdrawn`).

use ipnet::IpNet;

use super::attr::{self, ErrorAction, PathAttributes, Problem};
use super::reader::Reader;
use super::{code, nlri, Family, SessionCtx};
use crate::error::{Error, Result};

/// An UPDATE message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn prefixes (Withdrawn Routes field and MP_UNREACH_NLRI).
    pub withdrawn: Vec<IpNet>,
    /// Path attributes shared by every prefix in `nlri`.
    pub attrs: PathAttributes,
    /// Announced prefixes (NLRI field and MP_REACH_NLRI).
    pub nlri: Vec<IpNet>,
    /// Set when the message is an End-of-RIB marker (RFC 4724 §2).
    pub end_of_rib: Option<Family>,
    /// Errors tolerated per RFC 7606 while decoding (never encoded).
    pub problems: Vec<Problem>,
}

impl Update {
    /// The End-of-RIB marker for `family`.
    pub fn end_of_rib(family: Family) -> Update {
        Update {
            end_of_rib: Some(family),
            ..Update::default()
        }
    }

    /// Whether the decoder applied treat-as-withdraw to this message.
    pub fn treated_as_withdraw(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.action == ErrorAction::TreatAsWithdraw)
    }

    pub(crate) fn decode_body(body: &[u8], ctx: &SessionCtx) -> Result<Update> {
        let malformed = |reason| Error::msg(code::UPDATE, 1, vec![], reason);
        let mut r = Reader::new(body);
        let wlen = usize::from(r.u16().ok_or(malformed("truncated"))?);
        let wbuf = r.take(wlen).ok_or(malformed("withdrawn length overruns"))?;
        let alen = usize::from(r.u16().ok_or(malformed("truncated"))?);
        let abuf = r.take(alen).ok_or(malformed("attribute length overruns"))?;
        let mut withdrawn =
            nlri::decode(wbuf, Family::Ipv4Unicast).ok_or(malformed("bad withdrawn routes"))?;
        let mut nlri = nlri::decode(r.rest(), Family::Ipv4Unicast).ok_or(Error::msg(
            code::UPDATE,
            10,
            vec![],
            "bad NLRI",
        ))?;
        let d = attr::decode(abuf, ctx, !nlri.is_empty())?;
        let mut end_of_rib = None;
        if withdrawn.is_empty() && nlri.is_empty() {
            if abuf.is_empty() {
                end_of_rib = Some(Family::Ipv4Unicast);
            } else if let (Some((family, w)), None, true, true) = (
                &d.mp_unreach,
                &d.mp_reach,
                d.problems.is_empty(),
                d.attrs == PathAttributes::default(),
            ) {
                if w.is_empty() {
                    end_of_rib = Some(*family);
                }
            }
        }
        let mut attrs = d.attrs;
        if let Some((_, w)) = d.mp_unreach {
            withdrawn.extend(w);
        }
        if let Some(reach) = d.mp_reach {
            nlri.extend(reach.nlri);
        }
        let problems = d.problems;
        if problems
            .iter()
            .any(|p| p.action == ErrorAction::TreatAsWithdraw)
        {
            withdrawn.append(&mut nlri);
            attrs = PathAttributes::default();
        }
        Ok(Update {
            withdrawn,
            attrs,
            nlri,
            end_of_rib,
            problems,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>, ctx: &SessionCtx) -> Result<()> {
        if self.end_of_rib.is_none()
            && self.withdrawn.is_empty()
            && self.nlri.is_empty()
            && self.attrs == PathAttributes::default()
        {
            // On the wire an empty UPDATE is the IPv4 End-of-RIB marker (RFC 4724 §2).
            return Err(Error::Encode(
                "an UPDATE with no routes and no attributes would be an End-of-RIB marker",
            ));
        }
        let (w4, w6): (Vec<IpNet>, Vec<IpNet>) = self
            .withdrawn
            .iter()
            .partition(|n| matches!(n, IpNet::V4(_)));
        let (n4, n6): (Vec<IpNet>, Vec<IpNet>) =
            self.nlri.iter().partition(|n| matches!(n, IpNet::V4(_)));
        let wpos = out.len();
        out.extend_from_slice(&[0, 0]);
        nlri::encode(&w4, out);
        let wlen = u16::try_from(out.len() - wpos - 2).map_err(|_| Error::Encode("too long"))?;
        out[wpos..wpos + 2].copy_from_slice(&wlen.to_be_bytes());
        let apos = out.len();
        out.extend_from_slice(&[0, 0]);
        let mp_reach = (!n6.is_empty()).then_some((Family::Ipv6Unicast, n6.as_slice()));
        let mp_unreach = (!w6.is_empty() || self.end_of_rib == Some(Family::Ipv6Unicast))
            .then_some((Family::Ipv6Unicast, w6.as_slice()));
        if !n4.is_empty() && self.attrs.next_hop.is_none() {
            let mut attrs = self.attrs.clone();
            attrs.next_hop = match attrs.next_hop_for(Family::Ipv4Unicast) {
                Some(std::net::IpAddr::V4(nh)) => Some(nh),
                _ => return Err(Error::Encode("IPv4 NLRI without a next hop")),
            };
            attr::encode(&attrs, mp_reach, mp_unreach, ctx, out)?;
        } else {
            attr::encode(&self.attrs, mp_reach, mp_unreach, ctx, out)?;
        }
        let alen = u16::try_from(out.len() - apos - 2).map_err(|_| Error::Encode("too long"))?;
        out[apos..apos + 2].copy_from_slice(&alen.to_be_bytes());
        nlri::encode(&n4, out);
        Ok(())
    }
}
