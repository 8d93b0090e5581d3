//! BGP-4 wire codec (RFC 4271 and extensions): framing, message types and the
//! entry points `decode_message` / `Message::encode`. Pure: bytes in, values
//! out; the decoder never panics and classifies UPDATE errors per RFC 7606.

mod attr;
mod nlri;
mod open;
mod pack;
mod reader;
mod update;

pub use attr::{
    Aggregator, AsPath, AsSegment, ErrorAction, LargeCommunity, MpNextHop, Origin, PathAttributes,
    Problem, RawAttribute, SegmentKind, AS_TRANS,
};
pub use open::{Capability, GrFamily, Open};
pub use pack::{pack_announce, pack_withdraw};
pub use update::Update;

use crate::error::{Error, Result};
use reader::Reader;

/// Length of the fixed message header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest message allowed without RFC 8654 extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313).
pub mod code {
    /// Message Header Error.
    pub const HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// The address families this speaker understands (AFI/SAFI pairs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

impl Family {
    /// The (AFI, SAFI) code points.
    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
        }
    }

    /// The family for an (AFI, SAFI) pair, if we support it.
    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    /// The family of a prefix.
    pub fn of(net: &ipnet::IpNet) -> Family {
        match net {
            ipnet::IpNet::V4(_) => Family::Ipv4Unicast,
            ipnet::IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }
}

/// Per-session parameters the codec needs (negotiated in OPEN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCtx {
    /// Both sides advertised the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// The peer is in another AS (changes RFC 7606 handling of LOCAL_PREF and
    /// the route-reflection attributes).
    pub ebgp: bool,
}

impl Default for SessionCtx {
    fn default() -> Self {
        SessionCtx {
            four_octet_as: true,
            ebgp: false,
        }
    }
}

/// A NOTIFICATION message (RFC 4271 §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Error code, see [`code`].
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Diagnostic data.
    pub data: Vec<u8>,
}

/// One BGP message.
// UPDATE is nearly all traffic; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Open(Open),
    /// Type 2.
    Update(Update),
    /// Type 3.
    Notification(Notification),
    /// Type 4.
    Keepalive,
    /// Type 5 (RFC 2918).
    RouteRefresh(Family),
}

impl Message {
    fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => 1,
            Message::Update(_) => 2,
            Message::Notification(_) => 3,
            Message::Keepalive => 4,
            Message::RouteRefresh(_) => 5,
        }
    }

    /// Encodes the message, header included.
    pub fn encode(&self, ctx: &SessionCtx) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&[0, 0, self.type_code()]);
        match self {
            Message::Open(open) => open.encode_body(&mut out)?,
            Message::Update(update) => update.encode_body(&mut out, ctx)?,
            Message::Notification(n) => {
                out.push(n.code);
                out.push(n.subcode);
                out.extend_from_slice(&n.data);
            }
            Message::Keepalive => {}
            Message::RouteRefresh(family) => {
                let (afi, safi) = family.afi_safi();
                out.extend_from_slice(&afi.to_be_bytes());
                out.push(0);
                out.push(safi);
            }
        }
        finish_header(out)
    }
}

/// Writes the length into an encoded message, checking the 4096-byte limit.
pub(crate) fn finish_header(mut out: Vec<u8>) -> Result<Vec<u8>> {
    if out.len() > MAX_MESSAGE_LEN {
        return Err(Error::Encode("message longer than 4096 bytes"));
    }
    let len = out.len() as u16;
    out[16..18].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Returns the length of the first complete message in `buf`, `None` if more
/// bytes are needed, or a header error (RFC 4271 §6.1).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16].iter().any(|&b| b != 0xff) {
        return Err(Error::msg(code::HEADER, 1, vec![], "marker not all ones"));
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(Error::msg(
            code::HEADER,
            2,
            buf[16..18].to_vec(),
            "bad message length",
        ));
    }
    Ok((buf.len() >= len).then_some(len))
}

/// Decodes exactly one complete message (as delimited by [`frame_len`]).
pub fn decode_message(msg: &[u8], ctx: &SessionCtx) -> Result<Message> {
    let len = frame_len(msg)?.ok_or(Error::msg(code::HEADER, 2, vec![], "truncated message"))?;
    if len != msg.len() {
        return Err(Error::msg(
            code::HEADER,
            2,
            msg[16..18].to_vec(),
            "length field does not match message",
        ));
    }
    let kind = msg[18];
    let body = &msg[HEADER_LEN..];
    let bad_len = || Error::msg(code::HEADER, 2, msg[16..18].to_vec(), "bad length for type");
    match kind {
        1 => {
            if body.len() < 10 {
                return Err(bad_len());
            }
            Ok(Message::Open(Open::decode_body(body)?))
        }
        2 => {
            if body.len() < 4 {
                return Err(bad_len());
            }
            Ok(Message::Update(Update::decode_body(body, ctx)?))
        }
        3 => {
            if body.len() < 2 {
                return Err(bad_len());
            }
            Ok(Message::Notification(Notification {
                code: body[0],
                subcode: body[1],
                data: body[2..].to_vec(),
            }))
        }
        4 => {
            if !body.is_empty() {
                return Err(bad_len());
            }
            Ok(Message::Keepalive)
        }
        5 => {
            if body.len() != 4 {
                return Err(bad_len());
            }
            let mut r = Reader::new(body);
            let afi = r.u16().unwrap_or(0);
            let _reserved = r.u8();
            let safi = r.u8().unwrap_or(0);
            Family::from_afi_safi(afi, safi)
                .map(Message::RouteRefresh)
                .ok_or(Error::msg(
                    code::ROUTE_REFRESH,
                    1,
                    body.to_vec(),
                    "route refresh for unsupported family",
                ))
        }
        other => Err(Error::msg(code::HEADER, 3, vec![other], "bad message type")),
    }
}

#[cfg(test)]
mod tests;
