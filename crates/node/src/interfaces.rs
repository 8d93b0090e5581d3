//! The thin I/O side of autodetection: the interfaces and addresses of the network namespace
//! the agent runs in (getifaddrs), and the source address the kernel would pick to reach a
//! destination (a UDP socket `connect()`, which sends nothing).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use ipnet::IpNet;
use nix::ifaddrs::getifaddrs;
use nix::sys::socket::SockaddrStorage;

use crate::autodetect::{Family, Interface};
use crate::{Error, Result};

/// Every interface with its addresses, in kernel (interface index) order.
pub fn list() -> Result<Vec<Interface>> {
    let entries = getifaddrs().map_err(|e| Error::Interfaces(format!("getifaddrs: {e}")))?;
    let mut interfaces: Vec<Interface> = Vec::new();
    for entry in entries {
        let position = match interfaces
            .iter()
            .position(|i| i.name == entry.interface_name)
        {
            Some(p) => p,
            None => {
                interfaces.push(Interface {
                    name: entry.interface_name.clone(),
                    addresses: Vec::new(),
                });
                interfaces.len() - 1
            }
        };
        let (Some(addr), Some(mask)) = (
            entry.address.as_ref().and_then(ip_of),
            entry.netmask.as_ref().and_then(ip_of),
        ) else {
            continue;
        };
        let prefix = match mask {
            IpAddr::V4(m) => u32::from(m).count_ones(),
            IpAddr::V6(m) => u128::from(m).count_ones(),
        };
        if let Ok(net) = IpNet::new(addr, prefix as u8) {
            interfaces[position].addresses.push(net);
        }
    }
    Ok(interfaces)
}

fn ip_of(storage: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    storage.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// The local address the kernel's routing would use to reach `destination` (an address or a
/// host name), found by connecting a UDP socket; no packet is sent.
pub fn source_address_for(destination: &str, family: Family) -> Result<IpAddr> {
    let fail = |why: String| Error::Autodetect {
        version: family.version(),
        method: format!("can-reach={destination}"),
        reason: why,
    };
    let target: SocketAddr = match destination.parse::<IpAddr>() {
        Ok(ip) if family.holds(ip) => SocketAddr::new(ip, 80),
        Ok(_) => {
            return Err(fail(
                "the destination is of the other IP family".to_string(),
            ))
        }
        Err(_) => (destination, 80)
            .to_socket_addrs()
            .map_err(|e| fail(format!("cannot resolve: {e}")))?
            .find(|a| family.holds(a.ip()))
            .ok_or_else(|| fail("the name has no address of this family".to_string()))?,
    };
    let local: SocketAddr = match family {
        Family::V4 => "0.0.0.0:0".parse(),
        Family::V6 => "[::]:0".parse(),
    }
    .map_err(|e| fail(format!("{e}")))?;
    let socket = UdpSocket::bind(local).map_err(|e| fail(format!("udp socket: {e}")))?;
    socket
        .connect(target)
        .map_err(|e| fail(format!("no route: {e}")))?;
    socket
        .local_addr()
        .map(|a| a.ip())
        .map_err(|e| fail(format!("udp socket: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read-only look at the namespace the tests run in: loopback is always there.
    #[test]
    fn lists_loopback() {
        let all = list().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo");
        assert!(
            lo.addresses.contains(&"127.0.0.1/8".parse().unwrap()),
            "{lo:?}"
        );
    }

    // A UDP connect sends nothing; the kernel just picks the source.
    #[test]
    fn kernel_picks_loopback_source_for_loopback() {
        let src = source_address_for("127.0.0.1", Family::V4).unwrap();
        assert_eq!(src, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(source_address_for("127.0.0.1", Family::V6).is_err());
    }
}
