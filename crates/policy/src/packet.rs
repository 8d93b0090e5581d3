//! The packet a verdict is asked for: addresses, protocol, ports or ICMP
//! type/code, and its connection-tracking state.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Connection-tracking state of the packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum ConntrackState {
    /// First packet of a flow: policy is evaluated.
    #[default]
    New,
    /// Part of an allowed flow (e.g. a reply): accepted before policy.
    Established,
    /// Related to an allowed flow (e.g. an ICMP error): accepted before policy.
    Related,
    /// Not part of any known flow: dropped before policy.
    Invalid,
}

/// ICMP type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpHeader {
    /// ICMP type.
    #[serde(rename = "type")]
    pub type_: u8,
    /// ICMP code.
    pub code: u8,
}

/// A packet to judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IANA protocol number.
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: Option<u16>,
    /// Destination port (TCP, UDP, SCTP).
    pub dst_port: Option<u16>,
    /// ICMP header (ICMP, ICMPv6).
    pub icmp: Option<IcmpHeader>,
    /// Connection-tracking state.
    pub conntrack: ConntrackState,
}

impl Packet {
    /// A new TCP flow.
    pub fn tcp(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Packet {
        Packet::with_ports(6, src, src_port, dst, dst_port)
    }

    /// A new UDP flow.
    pub fn udp(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Packet {
        Packet::with_ports(17, src, src_port, dst, dst_port)
    }

    /// A new flow of any port-carrying protocol (6, 17, 132).
    pub fn with_ports(
        protocol: u8,
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
    ) -> Packet {
        Packet {
            src,
            dst,
            protocol,
            src_port: Some(src_port),
            dst_port: Some(dst_port),
            icmp: None,
            conntrack: ConntrackState::New,
        }
    }

    /// An ICMP (v4) or ICMPv6 (v6) message, by the family of `src`.
    pub fn icmp(src: IpAddr, dst: IpAddr, type_: u8, code: u8) -> Packet {
        Packet {
            src,
            dst,
            protocol: if src.is_ipv4() { 1 } else { 58 },
            src_port: None,
            dst_port: None,
            icmp: Some(IcmpHeader { type_, code }),
            conntrack: ConntrackState::New,
        }
    }

    /// The same packet in another conntrack state.
    pub fn in_state(mut self, state: ConntrackState) -> Packet {
        self.conntrack = state;
        self
    }

    /// 4 or 6.
    pub fn ip_version(&self) -> u8 {
        if self.src.is_ipv4() {
            4
        } else {
            6
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            1 => "ICMP".to_owned(),
            6 => "TCP".to_owned(),
            17 => "UDP".to_owned(),
            58 => "ICMPv6".to_owned(),
            132 => "SCTP".to_owned(),
            n => format!("proto {n}"),
        };
        let end = |ip: &IpAddr, port: Option<u16>| match (ip, port) {
            (IpAddr::V6(_), Some(p)) => format!("[{ip}]:{p}"),
            (_, Some(p)) => format!("{ip}:{p}"),
            (_, None) => ip.to_string(),
        };
        write!(
            f,
            "{proto} {} -> {}",
            end(&self.src, self.src_port),
            end(&self.dst, self.dst_port)
        )?;
        if let Some(h) = self.icmp {
            write!(f, " type {} code {}", h.type_, h.code)?;
        }
        if self.conntrack != ConntrackState::New {
            write!(f, " ({:?})", self.conntrack)?;
        }
        Ok(())
    }
}
