//! OPEN message and capabilities (RFC 4271 §4.2, RFC 5492, RFC 4760 §8,
//! RFC 2918, RFC 4724 §3, RFC 6793).

use std::net::Ipv4Addr;

use super::reader::Reader;
use super::{code, Family, AS_TRANS};
use crate::error::{Error, Result};

/// One capability advertised in OPEN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Code 1: multiprotocol extensions for one family.
    Multiprotocol(Family),
    /// Code 2: route refresh.
    RouteRefresh,
    /// Code 64: graceful restart.
    GracefulRestart {
        /// R bit: the sender has restarted.
        restarted: bool,
        /// Seconds the peer should keep our routes while we restart (12 bits).
        restart_time: u16,
        /// Families whose forwarding state is preserved.
        families: Vec<GrFamily>,
    },
    /// Code 65: 4-octet AS number support, carrying the real AS.
    FourOctetAs(u32),
    /// Anything else, kept verbatim (also multiprotocol for unknown families).
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// One family entry in the graceful restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// An OPEN message. `my_as` is the 2-octet field; the real AS of a 4-octet
/// speaker is in [`Capability::FourOctetAs`] (see [`Open::asn`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// My Autonomous System (AS_TRANS when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or >= 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// Builds an OPEN for a 4-octet-capable speaker with AS `asn`.
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, mut caps: Vec<Capability>) -> Open {
        caps.push(Capability::FourOctetAs(asn));
        Open {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities: caps,
        }
    }

    /// The sender's real AS: the 4-octet capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Families advertised with the multiprotocol capability; a speaker that
    /// advertises none supports IPv4 unicast only (RFC 4760 §8).
    pub fn families(&self) -> Vec<Family> {
        let fams: Vec<Family> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if fams.is_empty() {
            vec![Family::Ipv4Unicast]
        } else {
            fams
        }
    }

    /// Whether a capability with this code is present.
    pub fn has(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(4);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            let value = cap.value();
            caps.push(cap.code());
            caps.push(u8::try_from(value.len()).map_err(|_| Error::Encode("capability too long"))?);
            caps.extend_from_slice(&value);
        }
        if caps.is_empty() {
            out.push(0);
            return Ok(());
        }
        let caps_len =
            u8::try_from(caps.len()).map_err(|_| Error::Encode("capabilities too long"))?;
        let params_len = caps_len
            .checked_add(2)
            .ok_or(Error::Encode("optional parameters too long"))?;
        out.push(params_len);
        out.push(2); // parameter type 2: capabilities
        out.push(caps_len);
        out.extend_from_slice(&caps);
        Ok(())
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Open> {
        let err = |sub, data, reason| Error::msg(code::OPEN, sub, data, reason);
        let mut r = Reader::new(body);
        let version = r.u8().unwrap_or(0);
        if version != 4 {
            return Err(err(1, vec![0, 4], "unsupported version"));
        }
        let my_as = r.u16().unwrap_or(0);
        let hold_time = r.u16().unwrap_or(0);
        if hold_time == 1 || hold_time == 2 {
            return Err(err(6, vec![], "unacceptable hold time"));
        }
        let bgp_id = r.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED);
        if bgp_id.is_unspecified() {
            return Err(err(3, vec![], "bad BGP identifier"));
        }
        let params_len = usize::from(r.u8().unwrap_or(0));
        if params_len != r.rest().len() {
            return Err(Error::msg(
                code::OPEN,
                0,
                vec![],
                "optional parameters length mismatch",
            ));
        }
        let mut capabilities = Vec::new();
        while !r.is_empty() {
            let (Some(ptype), Some(plen)) = (r.u8(), r.u8()) else {
                return Err(Error::msg(
                    code::OPEN,
                    0,
                    vec![],
                    "truncated optional parameter",
                ));
            };
            let Some(value) = r.take(usize::from(plen)) else {
                return Err(Error::msg(
                    code::OPEN,
                    0,
                    vec![],
                    "truncated optional parameter",
                ));
            };
            if ptype != 2 {
                return Err(err(4, vec![], "unsupported optional parameter"));
            }
            let mut c = Reader::new(value);
            while !c.is_empty() {
                let (Some(ccode), Some(clen)) = (c.u8(), c.u8()) else {
                    return Err(Error::msg(code::OPEN, 0, vec![], "truncated capability"));
                };
                let Some(cval) = c.take(usize::from(clen)) else {
                    return Err(Error::msg(code::OPEN, 0, vec![], "truncated capability"));
                };
                capabilities.push(Capability::decode(ccode, cval)?);
            }
        }
        Ok(Open {
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => 1,
            Capability::RouteRefresh => 2,
            Capability::GracefulRestart { .. } => 64,
            Capability::FourOctetAs(_) => 65,
            Capability::Unknown { code, .. } => *code,
        }
    }

    fn value(&self) -> Vec<u8> {
        match self {
            Capability::Multiprotocol(f) => {
                let (afi, safi) = f.afi_safi();
                let a = afi.to_be_bytes();
                vec![a[0], a[1], 0, safi]
            }
            Capability::RouteRefresh => vec![],
            Capability::GracefulRestart {
                restarted,
                restart_time,
                families,
            } => {
                let head = (restart_time & 0x0fff) | if *restarted { 0x8000 } else { 0 };
                let mut v = head.to_be_bytes().to_vec();
                for gf in families {
                    let (afi, safi) = gf.family.afi_safi();
                    v.extend_from_slice(&afi.to_be_bytes());
                    v.push(safi);
                    v.push(if gf.forwarding_preserved { 0x80 } else { 0 });
                }
                v
            }
            Capability::FourOctetAs(asn) => asn.to_be_bytes().to_vec(),
            Capability::Unknown { value, .. } => value.clone(),
        }
    }

    fn decode(code: u8, value: &[u8]) -> Result<Capability> {
        let bad = || Error::msg(super::code::OPEN, 0, vec![], "malformed capability");
        let mut r = Reader::new(value);
        let unknown = || Capability::Unknown {
            code,
            value: value.to_vec(),
        };
        Ok(match code {
            1 => {
                if value.len() != 4 {
                    return Err(bad());
                }
                let afi = r.u16().ok_or_else(bad)?;
                let _reserved = r.u8();
                let safi = r.u8().ok_or_else(bad)?;
                match Family::from_afi_safi(afi, safi) {
                    Some(f) => Capability::Multiprotocol(f),
                    None => unknown(),
                }
            }
            2 if value.is_empty() => Capability::RouteRefresh,
            64 => {
                if value.len() < 2 || !(value.len() - 2).is_multiple_of(4) {
                    return Err(bad());
                }
                let head = r.u16().ok_or_else(bad)?;
                let mut families = Vec::new();
                while !r.is_empty() {
                    let afi = r.u16().ok_or_else(bad)?;
                    let safi = r.u8().ok_or_else(bad)?;
                    let flags = r.u8().ok_or_else(bad)?;
                    if let Some(family) = Family::from_afi_safi(afi, safi) {
                        families.push(GrFamily {
                            family,
                            forwarding_preserved: flags & 0x80 != 0,
                        });
                    }
                }
                Capability::GracefulRestart {
                    restarted: head & 0x8000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                }
            }
            65 => {
                if value.len() != 4 {
                    return Err(bad());
                }
                Capability::FourOctetAs(r.u32().ok_or_else(bad)?)
            }
            _ => unknown(),
        })
    }
}
