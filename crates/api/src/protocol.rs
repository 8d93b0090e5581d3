//! IP protocol as written in rules: a name (`TCP`, `udp`, `ICMPv6`...) or a number 0..255.
//! Names are accepted in any case and written back in Calico's canonical spelling.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    IcmpV6,
    Sctp,
    UdpLite,
    /// A protocol number (validation accepts 1..255).
    Number(u8),
}

const NAMED: &[(Protocol, &str)] = &[
    (Protocol::Tcp, "TCP"),
    (Protocol::Udp, "UDP"),
    (Protocol::Icmp, "ICMP"),
    (Protocol::IcmpV6, "ICMPv6"),
    (Protocol::Sctp, "SCTP"),
    (Protocol::UdpLite, "UDPLite"),
];

impl Protocol {
    /// Parses a name (any case) or a decimal number.
    pub fn parse(s: &str) -> Result<Protocol, String> {
        if let Some((p, _)) = NAMED.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)) {
            return Ok(*p);
        }
        if let Ok(n) = s.parse::<u8>() {
            return Ok(Protocol::Number(n));
        }
        Err(format!(
            "unknown protocol \"{s}\", expected one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1..255"
        ))
    }

    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::IcmpV6 => 58,
            Protocol::Sctp => 132,
            Protocol::UdpLite => 136,
            Protocol::Number(n) => n,
        }
    }

    /// Whether `ports`/`notPorts` make sense with this protocol (TCP, UDP, SCTP).
    pub fn supports_ports(self) -> bool {
        matches!(self.number(), 6 | 17 | 132)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Number(n) => write!(f, "{n}"),
            named => {
                let name = NAMED
                    .iter()
                    .find(|(p, _)| p == named)
                    .map(|(_, n)| *n)
                    .unwrap_or_default();
                f.write_str(name)
            }
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Number(n) => s.serialize_u8(*n),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protocol name or number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::Number)
                    .map_err(|_| E::custom(format!("protocol number {v} is not in 1..255")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::Number)
                    .map_err(|_| E::custom(format!("protocol number {v} is not in 1..255")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Protocol, E> {
                Protocol::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_case_insensitive_and_canonicalised() {
        let p: Protocol = serde_json::from_value(json!("icmpv6")).unwrap();
        assert_eq!(p, Protocol::IcmpV6);
        assert_eq!(serde_json::to_value(p).unwrap(), json!("ICMPv6"));
        let t: Protocol = serde_json::from_value(json!("tcp")).unwrap();
        assert_eq!(serde_json::to_value(t).unwrap(), json!("TCP"));
        let n: Protocol = serde_json::from_value(json!(47)).unwrap();
        assert_eq!(serde_json::to_value(n).unwrap(), json!(47));
        assert!(serde_json::from_value::<Protocol>(json!("GRE")).is_err());
        assert!(serde_json::from_value::<Protocol>(json!(256)).is_err());
    }

    #[test]
    fn port_capable_protocols() {
        assert!(Protocol::Tcp.supports_ports());
        assert!(Protocol::Number(17).supports_ports());
        assert!(Protocol::Sctp.supports_ports());
        assert!(!Protocol::Icmp.supports_ports());
        assert!(!Protocol::UdpLite.supports_ports());
    }
}
