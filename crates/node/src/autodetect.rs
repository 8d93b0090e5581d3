//! Node address autodetection, pure: given the host's interfaces and their addresses (read
//! elsewhere), pick the address a method (`first-found`, `interface=`, `skip-interface=`,
//! `cidr=`, `can-reach=`) selects, with its prefix length, as `Node.spec.bgp.ipv4Address`
//! wants it. The kernel's answer for `can-reach` is an input here, not a lookup.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::{Error, Result};

/// Interfaces `first-found` and `skip-interface=` never choose (container bridges, veths,
/// loopback and Calico's own devices).
pub const DEFAULT_SKIPPED_INTERFACES: &[&str] = &[
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^podman.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo",
    "^br-.*",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    r"^vxlan\.calico.*",
    r"^vxlan-v6\.calico.*",
    r"^wireguard\.cali.*",
    r"^wg-v6\.cali.*",
    "^nodelocaldns.*",
];

/// One host interface with its addresses (address and prefix length), in kernel order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub addresses: Vec<IpNet>,
}

/// An IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// 4 or 6, for messages.
    pub fn version(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }

    /// Whether `addr` is of this family.
    pub fn holds(self, addr: IpAddr) -> bool {
        matches!(
            (self, addr),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// How to choose the node's address (`IP_AUTODETECTION_METHOD` / `IP6_AUTODETECTION_METHOD`).
#[derive(Clone, Debug)]
pub enum Method {
    /// The first usable address on the first interface not in the default skip list.
    FirstFound,
    /// The first usable address on the first interface whose name matches one of these.
    Interface(Vec<Regex>),
    /// Like `FirstFound`, also skipping interfaces whose name matches one of these.
    SkipInterface(Vec<Regex>),
    /// The source address the kernel would use to reach this host name or address.
    CanReach(String),
    /// The first usable address inside one of these networks.
    Cidr(Vec<IpNet>),
}

impl Method {
    /// Parses a method as Calico spells it; empty means `first-found`.
    pub fn parse(variable: &str, text: &str) -> Result<Method> {
        let bad = |reason: &str| Error::setting(variable, text, reason);
        let text = text.trim();
        if text.is_empty() || text == "first-found" {
            return Ok(Method::FirstFound);
        }
        let Some((name, arg)) = text.split_once('=') else {
            return Err(bad(
                "expected first-found, interface=REGEX, skip-interface=REGEX, can-reach=DEST or cidr=CIDR",
            ));
        };
        let list = || arg.split(',').map(str::trim).filter(|s| !s.is_empty());
        let regexes = || -> Result<Vec<Regex>> {
            let compiled: Vec<Regex> = list()
                .map(|r| Regex::new(r).map_err(|e| bad(&format!("bad regex {r:?}: {e}"))))
                .collect::<Result<_>>()?;
            if compiled.is_empty() {
                return Err(bad("no interface pattern given"));
            }
            Ok(compiled)
        };
        match name {
            "interface" => Ok(Method::Interface(regexes()?)),
            "skip-interface" => Ok(Method::SkipInterface(regexes()?)),
            "can-reach" if !arg.trim().is_empty() => Ok(Method::CanReach(arg.trim().to_string())),
            "can-reach" => Err(bad("no destination given")),
            "cidr" => {
                let nets: Vec<IpNet> = list()
                    .map(|c| c.parse().map_err(|_| bad(&format!("{c:?} is not a CIDR"))))
                    .collect::<Result<_>>()?;
                if nets.is_empty() {
                    return Err(bad("no CIDR given"));
                }
                Ok(Method::Cidr(nets))
            }
            other => Err(bad(&format!("unknown autodetection method {other:?}"))),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join_re = |res: &[Regex]| {
            res.iter()
                .map(|r| r.as_str().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Method::FirstFound => f.write_str("first-found"),
            Method::Interface(res) => write!(f, "interface={}", join_re(res)),
            Method::SkipInterface(res) => write!(f, "skip-interface={}", join_re(res)),
            Method::CanReach(dest) => write!(f, "can-reach={dest}"),
            Method::Cidr(nets) => {
                let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
                write!(f, "cidr={}", nets.join(","))
            }
        }
    }
}

/// Whether an address can identify a node: unicast, not loopback, not link-local.
pub fn usable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            !(a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_unicast_link_local())
        }
    }
}

/// The address `method` picks among `interfaces` for `family`. `CanReach` needs the kernel's
/// chosen source address: pass it as `reach_source` (see [`with_prefix`]).
pub fn choose(
    method: &Method,
    family: Family,
    interfaces: &[Interface],
    reach_source: Option<IpAddr>,
) -> Option<IpNet> {
    let defaults: Vec<Regex> = DEFAULT_SKIPPED_INTERFACES
        .iter()
        .filter_map(|r| Regex::new(r).ok())
        .collect();
    let skipped_by = |skip: &[Regex], name: &str| skip.iter().any(|r| r.is_match(name));
    let first_on = |keep: &dyn Fn(&Interface) -> bool, within: Option<&[IpNet]>| {
        interfaces
            .iter()
            .filter(|i| keep(i))
            .flat_map(|i| i.addresses.iter().copied())
            .find(|a| {
                family.holds(a.addr())
                    && usable(a.addr())
                    && within.is_none_or(|nets| nets.iter().any(|n| n.contains(&a.addr())))
            })
    };
    match method {
        Method::FirstFound => first_on(&|i| !skipped_by(&defaults, &i.name), None),
        Method::SkipInterface(extra) => first_on(
            &|i| !skipped_by(&defaults, &i.name) && !skipped_by(extra, &i.name),
            None,
        ),
        Method::Interface(wanted) => first_on(&|i| skipped_by(wanted, &i.name), None),
        Method::Cidr(nets) => first_on(&|_| true, Some(nets)),
        Method::CanReach(_) => reach_source
            .filter(|a| family.holds(*a) && usable(*a))
            .map(|a| with_prefix(a, interfaces)),
    }
}

/// `addr` with the prefix length of the interface address that carries it, or a host prefix
/// (/32, /128) when no local interface has it.
pub fn with_prefix(addr: IpAddr, interfaces: &[Interface]) -> IpNet {
    interfaces
        .iter()
        .flat_map(|i| i.addresses.iter())
        .find(|a| a.addr() == addr)
        .copied()
        .unwrap_or_else(|| IpNet::from(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, addrs: &[&str]) -> Interface {
        Interface {
            name: name.to_string(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn host() -> Vec<Interface> {
        vec![
            iface("lo", &["127.0.0.1/8", "::1/128"]),
            iface("docker0", &["172.17.0.1/16"]),
            iface("cali1234", &["169.254.1.1/32"]),
            iface("veth0", &["10.9.9.9/24"]),
            iface("eth0", &["fe80::1/64", "10.0.0.5/24", "2001:db8::5/64"]),
            iface("eth1", &["192.168.7.3/24", "fd00:7::3/64"]),
            iface("wg0", &["10.200.0.1/30"]),
        ]
    }

    fn pick(method: &str, family: Family) -> Option<String> {
        let m = Method::parse("IP_AUTODETECTION_METHOD", method).unwrap();
        choose(&m, family, &host(), None).map(|n| n.to_string())
    }

    #[test]
    fn first_found_skips_default_interfaces_and_link_local() {
        assert_eq!(
            pick("first-found", Family::V4).as_deref(),
            Some("10.0.0.5/24")
        );
        assert_eq!(pick("", Family::V4).as_deref(), Some("10.0.0.5/24"));
        assert_eq!(
            pick("first-found", Family::V6).as_deref(),
            Some("2001:db8::5/64")
        );
    }

    #[test]
    fn interface_regexes_pick_first_matching_interface() {
        assert_eq!(
            pick("interface=eth1", Family::V4).as_deref(),
            Some("192.168.7.3/24")
        );
        assert_eq!(
            pick("interface=wg.*,eth1", Family::V4).as_deref(),
            Some("192.168.7.3/24"),
            "kernel order wins, not pattern order: eth1 precedes wg0"
        );
        assert_eq!(
            pick("interface=wg.*", Family::V4).as_deref(),
            Some("10.200.0.1/30")
        );
        // An explicit pattern may select an interface first-found would skip.
        assert_eq!(
            pick("interface=veth0", Family::V4).as_deref(),
            Some("10.9.9.9/24")
        );
        assert_eq!(pick("interface=nothere", Family::V4), None);
    }

    #[test]
    fn skip_interface_adds_to_defaults() {
        assert_eq!(
            pick("skip-interface=eth0", Family::V4).as_deref(),
            Some("192.168.7.3/24")
        );
        assert_eq!(
            pick("skip-interface=eth0, eth1", Family::V4).as_deref(),
            Some("10.200.0.1/30")
        );
        assert_eq!(pick("skip-interface=eth.*,wg.*", Family::V4), None);
    }

    #[test]
    fn cidr_picks_first_address_inside() {
        assert_eq!(
            pick("cidr=192.168.0.0/16", Family::V4).as_deref(),
            Some("192.168.7.3/24")
        );
        assert_eq!(
            pick("cidr=10.200.0.0/16,192.168.0.0/16", Family::V4).as_deref(),
            Some("192.168.7.3/24")
        );
        assert_eq!(
            pick("cidr=fd00::/8", Family::V6).as_deref(),
            Some("fd00:7::3/64")
        );
        assert_eq!(pick("cidr=fd00::/8", Family::V4), None);
        // Loopback is never usable, even when asked for by CIDR.
        assert_eq!(pick("cidr=127.0.0.0/8", Family::V4), None);
    }

    #[test]
    fn can_reach_uses_kernel_source_with_local_prefix() {
        let m = Method::parse("IP_AUTODETECTION_METHOD", "can-reach=8.8.8.8").unwrap();
        let src = "192.168.7.3".parse().ok();
        assert_eq!(
            choose(&m, Family::V4, &host(), src).map(|n| n.to_string()),
            Some("192.168.7.3/24".to_string())
        );
        let unknown = "10.1.1.1".parse().ok();
        assert_eq!(
            choose(&m, Family::V4, &host(), unknown).map(|n| n.to_string()),
            Some("10.1.1.1/32".to_string())
        );
        assert_eq!(choose(&m, Family::V6, &host(), src), None, "wrong family");
        assert_eq!(choose(&m, Family::V4, &host(), None), None);
    }

    #[test]
    fn parse_rejects_bad_methods_and_round_trips() {
        for bad in [
            "nope",
            "interface=",
            "interface=(",
            "cidr=10.0.0.0",
            "cidr=",
            "can-reach=",
            "bogus=1",
        ] {
            assert!(
                Method::parse("IP_AUTODETECTION_METHOD", bad).is_err(),
                "{bad}"
            );
        }
        for good in [
            "first-found",
            "interface=eth.*,ens.*",
            "skip-interface=eth1",
            "can-reach=www.example.com",
            "cidr=10.0.0.0/8,fd00::/8",
        ] {
            let m = Method::parse("IP_AUTODETECTION_METHOD", good).unwrap();
            assert_eq!(m.to_string(), good);
        }
    }

    #[test]
    fn nothing_usable_gives_none() {
        let only_lo = vec![
            iface("lo", &["127.0.0.1/8"]),
            iface("eth0", &["169.254.3.3/16"]),
        ];
        assert_eq!(
            choose(&Method::FirstFound, Family::V4, &only_lo, None),
            None
        );
    }
}
