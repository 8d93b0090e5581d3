//! Prefix encoding shared by the NLRI, withdrawn-routes and MP fields
//! (RFC 4271 §4.3: length in bits, then the minimum number of octets).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::reader::Reader;
use super::Family;

/// Decodes a run of prefixes of one family; `None` if malformed. Host bits
/// beyond the prefix length are cleared.
pub(crate) fn decode(buf: &[u8], family: Family) -> Option<Vec<IpNet>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        let bits = r.u8()?;
        let bytes = r.take(usize::from(bits).div_ceil(8))?;
        let net = match family {
            Family::Ipv4Unicast => {
                let mut a = [0u8; 4];
                a.get_mut(..bytes.len())?.copy_from_slice(bytes);
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), bits).ok()?.trunc())
            }
            Family::Ipv6Unicast => {
                let mut a = [0u8; 16];
                a.get_mut(..bytes.len())?.copy_from_slice(bytes);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), bits).ok()?.trunc())
            }
        };
        out.push(net);
    }
    Some(out)
}

/// Bytes one prefix takes on the wire.
pub(crate) fn encoded_len(net: &IpNet) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

/// Appends prefixes in wire form.
pub(crate) fn encode(nets: &[IpNet], out: &mut Vec<u8>) {
    for net in nets {
        let bits = net.prefix_len();
        out.push(bits);
        let n = usize::from(bits).div_ceil(8);
        match net {
            IpNet::V4(v4) => out.extend_from_slice(&v4.network().octets()[..n]),
            IpNet::V6(v6) => out.extend_from_slice(&v6.network().octets()[..n]),
        }
    }
}
