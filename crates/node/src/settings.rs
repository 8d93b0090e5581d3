//! Start-up settings read from the environment the way calico-node reads them, pure: a
//! lookup function in, a validated [`Settings`] out. Datastore access settings are read by
//! `datastore::DatastoreConfig` and Felix serving settings by `felix_config`.

use std::net::IpAddr;
use std::path::PathBuf;

use api::{AsNumber, EncapMode};
use ipnet::IpNet;

use crate::autodetect::Method;
use crate::{Error, Result};

/// Where calico-node keeps its state files (`nodename`) unless `CALICO_STATE_DIR` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/calico";

/// What `IP` / `IP6` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressSetting {
    /// Not set: keep the address already on the Node, else autodetect (IPv4) or leave unset (IPv6).
    Unset,
    /// `autodetect`: detect again at every start.
    Autodetect,
    /// `none`: this node has no address of the family.
    Disabled,
    /// A fixed address, with a prefix length when one was given.
    Fixed { addr: IpAddr, prefix: Option<u8> },
}

impl AddressSetting {
    fn parse(variable: &str, value: Option<&str>, v6: bool) -> Result<Self> {
        let text = match value.map(str::trim) {
            None | Some("") => return Ok(AddressSetting::Unset),
            Some(t) => t,
        };
        match text.to_ascii_lowercase().as_str() {
            "autodetect" => return Ok(AddressSetting::Autodetect),
            "none" => return Ok(AddressSetting::Disabled),
            _ => {}
        }
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            Error::setting(variable, text, "expected an address, autodetect or none")
        })?;
        if addr.is_ipv6() != v6 {
            let want = if v6 { "an IPv6" } else { "an IPv4" };
            return Err(Error::setting(
                variable,
                text,
                format!("{want} address is needed"),
            ));
        }
        let prefix = match prefix {
            Some(p) => {
                let net = IpNet::new(addr, p.parse().unwrap_or(u8::MAX))
                    .map_err(|_| Error::setting(variable, text, "bad prefix length"))?;
                Some(net.prefix_len())
            }
            None => None,
        };
        Ok(AddressSetting::Fixed { addr, prefix })
    }
}

/// One default pool's template (`CALICO_IPV4POOL_*` / `CALICO_IPV6POOL_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolTemplate {
    /// `None` for IPv6 means "a random ULA /48".
    pub cidr: Option<IpNet>,
    pub block_size: u8,
    pub ipip_mode: EncapMode,
    pub vxlan_mode: EncapMode,
    pub nat_outgoing: bool,
    pub node_selector: String,
    /// Whether the pool was asked for explicitly (a CIDR given).
    pub requested: bool,
}

/// Everything calico-node's start-up reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `NODENAME`, if set.
    pub node_name: Option<String>,
    /// `CALICO_STATE_DIR` (default `/var/lib/calico`): holds the `nodename` file.
    pub state_dir: PathBuf,
    pub ipv4: AddressSetting,
    pub ipv6: AddressSetting,
    pub ipv4_method: Method,
    pub ipv6_method: Method,
    /// `AS`: the node's AS number, if set.
    pub as_number: Option<AsNumber>,
    /// `NO_DEFAULT_POOLS`.
    pub no_default_pools: bool,
    pub ipv4_pool: PoolTemplate,
    pub ipv6_pool: PoolTemplate,
    /// `CLUSTER_TYPE`, e.g. `k8s,bgp`.
    pub cluster_type: Option<String>,
    /// `CALICO_VERSION` or this crate's version, written to ClusterInformation.
    pub calico_version: String,
    /// `CALICO_DATAPLANE`: `nftables` (default) programs the kernel; `none` runs without.
    pub dataplane_enabled: bool,
    /// `CALICO_NETWORKING_BACKEND`: `bird` (default) runs the BGP speaker; `vxlan` and
    /// `none` do not.
    pub bgp_enabled: bool,
}

/// Parses a boolean as Go's `strconv.ParseBool` does.
pub fn parse_bool(variable: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(Error::setting(variable, value, "expected true or false")),
    }
}

impl Settings {
    /// Reads the settings through `lookup` (a variable's value, if set; empty counts as unset).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let flag = |name: &str, default: bool| match var(name) {
            Some(v) => parse_bool(name, &v),
            None => Ok(default),
        };
        let as_number = match var("AS") {
            Some(v) => Some(AsNumber::parse(v.trim()).map_err(|e| Error::setting("AS", &v, e))?),
            None => None,
        };
        let dataplane_enabled = match var("CALICO_DATAPLANE").as_deref().map(str::trim) {
            None | Some("nftables") => true,
            Some("none") => false,
            Some(other) => {
                return Err(Error::setting(
                    "CALICO_DATAPLANE",
                    other,
                    "expected nftables or none",
                ))
            }
        };
        let bgp_enabled = match var("CALICO_NETWORKING_BACKEND").as_deref().map(str::trim) {
            None | Some("bird") => true,
            Some("vxlan" | "none") => false,
            Some(other) => {
                return Err(Error::setting(
                    "CALICO_NETWORKING_BACKEND",
                    other,
                    "expected bird, vxlan or none",
                ))
            }
        };
        Ok(Settings {
            node_name: var("NODENAME").map(|n| n.trim().to_string()),
            state_dir: var("CALICO_STATE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            ipv4: AddressSetting::parse("IP", var("IP").as_deref(), false)?,
            ipv6: AddressSetting::parse("IP6", var("IP6").as_deref(), true)?,
            ipv4_method: Method::parse(
                "IP_AUTODETECTION_METHOD",
                &var("IP_AUTODETECTION_METHOD").unwrap_or_default(),
            )?,
            ipv6_method: Method::parse(
                "IP6_AUTODETECTION_METHOD",
                &var("IP6_AUTODETECTION_METHOD").unwrap_or_default(),
            )?,
            as_number,
            no_default_pools: flag("NO_DEFAULT_POOLS", false)?,
            ipv4_pool: pool_template(&var, "IPV4", false)?,
            ipv6_pool: pool_template(&var, "IPV6", true)?,
            cluster_type: var("CLUSTER_TYPE").map(|t| t.trim().to_string()),
            calico_version: var("CALICO_VERSION")
                .unwrap_or_else(|| format!("v{}", env!("CARGO_PKG_VERSION"))),
            dataplane_enabled,
            bgp_enabled,
        })
    }
}

/// Reads `CALICO_<FAMILY>POOL_*`.
fn pool_template(
    var: &dyn Fn(&str) -> Option<String>,
    family: &str,
    v6: bool,
) -> Result<PoolTemplate> {
    let name = |suffix: &str| format!("CALICO_{family}POOL_{suffix}");
    let cidr = match var(&name("CIDR")) {
        Some(text) => {
            let net: IpNet = text
                .trim()
                .parse()
                .map_err(|_| Error::setting(&name("CIDR"), &text, "not a CIDR"))?;
            if net.addr().is_ipv6() != v6 {
                return Err(Error::setting(&name("CIDR"), &text, "wrong IP family"));
            }
            Some(net.trunc())
        }
        None if v6 => None,
        None => Some("192.168.0.0/16".parse().expect("valid literal CIDR")),
    };
    let block_size = match var(&name("BLOCK_SIZE")) {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| Error::setting(&name("BLOCK_SIZE"), &text, "not a prefix length"))?,
        None if v6 => 122,
        None => 26,
    };
    let mode = |suffix: &str| -> Result<EncapMode> {
        let variable = name(suffix);
        match var(&variable).map(|m| m.trim().to_ascii_lowercase()) {
            None => Ok(EncapMode::Never),
            Some(m) => match m.as_str() {
                "never" | "off" | "false" => Ok(EncapMode::Never),
                "always" => Ok(EncapMode::Always),
                "crosssubnet" | "cross-subnet" => Ok(EncapMode::CrossSubnet),
                _ => Err(Error::setting(
                    &variable,
                    &m,
                    "expected Never, Always or CrossSubnet",
                )),
            },
        }
    };
    let nat_outgoing = match var(&name("NAT_OUTGOING")) {
        Some(v) => parse_bool(&name("NAT_OUTGOING"), &v)?,
        None => !v6,
    };
    Ok(PoolTemplate {
        requested: var(&name("CIDR")).is_some(),
        cidr,
        block_size,
        ipip_mode: mode("IPIP")?,
        vxlan_mode: mode("VXLAN")?,
        nat_outgoing,
        node_selector: var(&name("NODE_SELECTOR")).unwrap_or_else(|| "all()".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.node_name, None);
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/calico"));
        assert_eq!(s.ipv4, AddressSetting::Unset);
        assert_eq!(s.ipv6, AddressSetting::Unset);
        assert_eq!(s.ipv4_method.to_string(), "first-found");
        assert_eq!(s.as_number, None);
        assert!(!s.no_default_pools);
        assert_eq!(s.ipv4_pool.cidr, "192.168.0.0/16".parse().ok());
        assert_eq!(s.ipv4_pool.block_size, 26);
        assert!(s.ipv4_pool.nat_outgoing);
        assert_eq!(s.ipv4_pool.ipip_mode, EncapMode::Never);
        assert_eq!(s.ipv6_pool.cidr, None);
        assert_eq!(s.ipv6_pool.block_size, 122);
        assert!(!s.ipv6_pool.nat_outgoing);
        assert!(s.dataplane_enabled);
        assert!(s.bgp_enabled);
    }

    #[test]
    fn explicit_values() {
        let s = settings(&[
            ("NODENAME", "node-1"),
            ("IP", "10.0.0.5/24"),
            ("IP6", "autodetect"),
            ("IP6_AUTODETECTION_METHOD", "interface=eth1"),
            ("AS", "1.10"),
            ("NO_DEFAULT_POOLS", "true"),
            ("CALICO_IPV4POOL_CIDR", "10.244.1.0/16"),
            ("CALICO_IPV4POOL_IPIP", "CrossSubnet"),
            ("CALICO_IPV4POOL_BLOCK_SIZE", "24"),
            ("CALICO_IPV6POOL_CIDR", "fd00:1::/48"),
            ("CALICO_STATE_DIR", "/tmp/x"),
            ("CLUSTER_TYPE", "k8s,bgp"),
            ("CALICO_DATAPLANE", "none"),
            ("CALICO_NETWORKING_BACKEND", "vxlan"),
        ])
        .unwrap();
        assert_eq!(s.node_name.as_deref(), Some("node-1"));
        assert_eq!(
            s.ipv4,
            AddressSetting::Fixed {
                addr: "10.0.0.5".parse().unwrap(),
                prefix: Some(24)
            }
        );
        assert_eq!(s.ipv6, AddressSetting::Autodetect);
        assert_eq!(s.ipv6_method.to_string(), "interface=eth1");
        assert_eq!(s.as_number, Some(AsNumber(65_546)));
        assert!(s.no_default_pools);
        assert_eq!(s.ipv4_pool.cidr, "10.244.0.0/16".parse().ok());
        assert_eq!(s.ipv4_pool.ipip_mode, EncapMode::CrossSubnet);
        assert_eq!(s.ipv4_pool.block_size, 24);
        assert!(s.ipv6_pool.requested);
        assert_eq!(s.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.cluster_type.as_deref(), Some("k8s,bgp"));
        assert!(!s.dataplane_enabled);
        assert!(!s.bgp_enabled);
        let none = settings(&[("IP", "none"), ("IP6", "fd00::1")]).unwrap();
        assert_eq!(none.ipv4, AddressSetting::Disabled);
        assert!(matches!(
            none.ipv6,
            AddressSetting::Fixed { prefix: None, .. }
        ));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("IP", "fd00::1"),
            ("IP", "10.0.0.1/40"),
            ("IP6", "10.0.0.1"),
            ("IP", "banana"),
            ("AS", "-1"),
            ("NO_DEFAULT_POOLS", "yes"),
            ("CALICO_IPV4POOL_CIDR", "fd00::/48"),
            ("CALICO_IPV4POOL_IPIP", "sometimes"),
            ("IP_AUTODETECTION_METHOD", "guess"),
            ("CALICO_DATAPLANE", "iptables"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }
}
