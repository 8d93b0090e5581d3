//! Start-up decisions, pure: which address each family gets, how the Node resource changes,
//! whether ClusterInformation needs writing and which default IP pools to create.

use std::net::{IpAddr, Ipv6Addr};

use api::{
    AsNumber, ClusterInformation, ClusterInformationSpec, IPPool, IPPoolSpec, Node, NodeAddress,
    NodeAddressType, NodeBgpSpec, ObjectMeta,
};
use ipnet::IpNet;

use crate::autodetect::{self, Family, Interface};
use crate::settings::{AddressSetting, PoolTemplate};

/// What to do about one family's node address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressPlan {
    /// Keep whatever the Node has (possibly nothing).
    Keep,
    /// Remove the address.
    Clear,
    /// Run the autodetection method.
    Detect,
    /// Use this address.
    Fixed(IpNet),
}

/// Decides from `IP`/`IP6` and the Node's current address. An unset `IP` keeps an existing
/// address and autodetects only when there is none; an unset `IP6` never autodetects. A fixed
/// address without a prefix takes the prefix of the local interface carrying it.
pub fn address_plan(
    setting: &AddressSetting,
    existing: &str,
    family: Family,
    interfaces: &[Interface],
) -> AddressPlan {
    match setting {
        AddressSetting::Unset if existing.is_empty() && family == Family::V4 => AddressPlan::Detect,
        AddressSetting::Unset => AddressPlan::Keep,
        AddressSetting::Autodetect => AddressPlan::Detect,
        AddressSetting::Disabled => AddressPlan::Clear,
        AddressSetting::Fixed { addr, prefix } => AddressPlan::Fixed(match prefix {
            Some(p) => IpNet::new(*addr, *p).unwrap_or_else(|_| IpNet::from(*addr)),
            None => autodetect::with_prefix(*addr, interfaces),
        }),
    }
}

/// Whether some local interface carries `addr` (a fixed `IP` that is not local only warns).
pub fn is_local(addr: IpAddr, interfaces: &[Interface]) -> bool {
    interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .any(|a| a.addr() == addr)
}

/// The Node as it should be: `existing` (or a new one named `name`) with its BGP addresses,
/// its `CalicoNodeIP` entries in `spec.addresses` and, when given, its AS number.
pub fn desired_node(
    existing: Option<&Node>,
    name: &str,
    ipv4: &str,
    ipv6: &str,
    as_number: Option<AsNumber>,
) -> Node {
    let mut node = existing.cloned().unwrap_or_else(|| Node {
        metadata: ObjectMeta::named(name),
        ..Default::default()
    });
    let mut bgp = node.spec.bgp.take().unwrap_or_default();
    bgp.ipv4_address = ipv4.to_string();
    bgp.ipv6_address = ipv6.to_string();
    if as_number.is_some() {
        bgp.as_number = as_number;
    }
    node.spec.bgp = (bgp != NodeBgpSpec::default()).then_some(bgp);
    node.spec
        .addresses
        .retain(|a| a.type_ != Some(NodeAddressType::CalicoNodeIp));
    for address in [ipv4, ipv6].into_iter().filter(|a| !a.is_empty()) {
        node.spec.addresses.push(NodeAddress {
            address: address.to_string(),
            type_: Some(NodeAddressType::CalicoNodeIp),
        });
    }
    node
}

/// Another node (not `name`) whose BGP address has the same IP as `ipv4` or `ipv6`, with
/// that address. Two nodes with one address would black-hole each other's routes.
pub fn conflicting_node<'a>(
    nodes: &'a [Node],
    name: &str,
    ipv4: &str,
    ipv6: &str,
) -> Option<(&'a str, String)> {
    let ip = |s: &str| s.parse::<IpNet>().ok().map(|n| n.addr());
    let ours: Vec<IpAddr> = [ipv4, ipv6].into_iter().filter_map(ip).collect();
    nodes
        .iter()
        .filter(|n| n.metadata.name != name)
        .find_map(|n| {
            let bgp = n.spec.bgp.as_ref()?;
            [&bgp.ipv4_address, &bgp.ipv6_address]
                .into_iter()
                .filter_map(|a| ip(a))
                .find(|a| ours.contains(a))
                .map(|a| (n.metadata.name.as_str(), a.to_string()))
        })
}

/// The ClusterInformation to write, or `None` when `existing` needs nothing. A new one gets
/// `guid`; an existing one keeps its GUID and an explicit `datastoreReady: false` (set during
/// a datastore migration), gains missing fields, our version, and `cluster_type`'s entries.
pub fn cluster_information(
    existing: Option<&ClusterInformation>,
    cluster_type: Option<&str>,
    version: &str,
    guid: &str,
) -> Option<ClusterInformation> {
    let mut info = existing.cloned().unwrap_or_else(|| ClusterInformation {
        metadata: ObjectMeta::named("default"),
        spec: ClusterInformationSpec::default(),
    });
    let spec = &mut info.spec;
    if spec.cluster_guid.is_empty() {
        spec.cluster_guid = guid.to_string();
    }
    spec.calico_version = version.to_string();
    let mut types: Vec<String> = spec
        .cluster_type
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    for t in cluster_type.unwrap_or("").split(',').map(str::trim) {
        if !t.is_empty() && !types.iter().any(|have| have == t) {
            types.push(t.to_string());
        }
    }
    spec.cluster_type = types.join(",");
    spec.datastore_ready.get_or_insert(true);
    if spec.variant.is_empty() {
        spec.variant = "Calico".to_string();
    }
    (existing != Some(&info)).then_some(info)
}

/// The default pools to create: one per family that has no pool yet, unless
/// `NO_DEFAULT_POOLS`. The IPv6 pool only when this node uses IPv6 or a CIDR was given;
/// without a CIDR it is the ULA `fdXX:XXXX:XXXX::/48` made from `ula_random`.
pub fn default_pools(
    v4: &PoolTemplate,
    v6: &PoolTemplate,
    no_default_pools: bool,
    node_has_ipv6: bool,
    existing: &[IPPool],
    ula_random: [u8; 5],
) -> Vec<IPPool> {
    if no_default_pools {
        return Vec::new();
    }
    let has_family = |v6: bool| {
        existing.iter().any(|p| {
            p.spec
                .cidr
                .parse::<IpNet>()
                .is_ok_and(|n| n.addr().is_ipv6() == v6)
        })
    };
    let pool = |name: &str, cidr: IpNet, t: &PoolTemplate| IPPool {
        metadata: ObjectMeta::named(name),
        spec: IPPoolSpec {
            cidr: cidr.to_string(),
            block_size: t.block_size,
            ipip_mode: Some(t.ipip_mode),
            vxlan_mode: Some(t.vxlan_mode),
            nat_outgoing: t.nat_outgoing,
            node_selector: t.node_selector.clone(),
            ..Default::default()
        },
        status: None,
    };
    let mut pools = Vec::new();
    if let (false, Some(cidr)) = (has_family(false), v4.cidr) {
        pools.push(pool("default-ipv4-ippool", cidr, v4));
    }
    if !has_family(true) && (node_has_ipv6 || v6.requested) {
        let cidr = v6.cidr.unwrap_or_else(|| random_ula(ula_random));
        pools.push(pool("default-ipv6-ippool", cidr, v6));
    }
    pools
}

/// `fdXX:XXXX:XXXX::/48` with the 40 random bits of `r` (RFC 4193).
fn random_ula(r: [u8; 5]) -> IpNet {
    let seg = |hi: u8, lo: u8| u16::from_be_bytes([hi, lo]);
    let addr = Ipv6Addr::new(
        seg(0xfd, r[0]),
        seg(r[1], r[2]),
        seg(r[3], r[4]),
        0,
        0,
        0,
        0,
        0,
    );
    IpNet::new(IpAddr::V6(addr), 48).unwrap_or_else(|_| IpNet::from(IpAddr::V6(addr)))
}

#[cfg(test)]
mod tests {
    use api::EncapMode;

    use super::*;

    fn ifaces() -> Vec<Interface> {
        vec![Interface {
            name: "eth0".into(),
            addresses: vec!["10.0.0.5/24".parse().unwrap()],
        }]
    }

    #[test]
    fn address_plans() {
        let i = ifaces();
        let fixed = |s: &str| AddressSetting::Fixed {
            addr: s.parse().unwrap(),
            prefix: None,
        };
        assert_eq!(
            address_plan(&AddressSetting::Unset, "", Family::V4, &i),
            AddressPlan::Detect
        );
        assert_eq!(
            address_plan(&AddressSetting::Unset, "10.0.0.9/24", Family::V4, &i),
            AddressPlan::Keep
        );
        assert_eq!(
            address_plan(&AddressSetting::Unset, "", Family::V6, &i),
            AddressPlan::Keep
        );
        assert_eq!(
            address_plan(&AddressSetting::Autodetect, "10.0.0.9/24", Family::V4, &i),
            AddressPlan::Detect
        );
        assert_eq!(
            address_plan(&AddressSetting::Disabled, "10.0.0.9/24", Family::V4, &i),
            AddressPlan::Clear
        );
        assert_eq!(
            address_plan(&fixed("10.0.0.5"), "", Family::V4, &i),
            AddressPlan::Fixed("10.0.0.5/24".parse().unwrap())
        );
        assert_eq!(
            address_plan(&fixed("10.9.0.5"), "", Family::V4, &i),
            AddressPlan::Fixed("10.9.0.5/32".parse().unwrap())
        );
        assert!(is_local("10.0.0.5".parse().unwrap(), &i));
        assert!(!is_local("10.9.0.5".parse().unwrap(), &i));
    }

    #[test]
    fn node_is_created_and_updated() {
        let n = desired_node(None, "n1", "10.0.0.5/24", "", Some(AsNumber(64_512)));
        assert_eq!(n.metadata.name, "n1");
        let bgp = n.spec.bgp.clone().unwrap();
        assert_eq!(bgp.ipv4_address, "10.0.0.5/24");
        assert_eq!(bgp.as_number, Some(AsNumber(64_512)));
        assert_eq!(n.spec.addresses.len(), 1);
        // A second start with the same inputs changes nothing.
        assert_eq!(desired_node(Some(&n), "n1", "10.0.0.5/24", "", None), n);
        let mut with_other = n.clone();
        with_other.spec.addresses.push(NodeAddress {
            address: "1.2.3.4".into(),
            type_: Some(NodeAddressType::ExternalIp),
        });
        let moved = desired_node(Some(&with_other), "n1", "10.0.0.6/24", "fd00::6/64", None);
        let bgp = moved.spec.bgp.clone().unwrap();
        assert_eq!(bgp.ipv4_address, "10.0.0.6/24");
        assert_eq!(bgp.ipv6_address, "fd00::6/64");
        assert_eq!(
            bgp.as_number,
            Some(AsNumber(64_512)),
            "AS kept when AS unset"
        );
        let addrs: Vec<&str> = moved
            .spec
            .addresses
            .iter()
            .map(|a| a.address.as_str())
            .collect();
        assert_eq!(addrs, ["1.2.3.4", "10.0.0.6/24", "fd00::6/64"]);
        let none = desired_node(None, "n2", "", "", None);
        assert_eq!(none.spec.bgp, None);
        assert!(none.spec.addresses.is_empty());
    }

    #[test]
    fn detects_address_conflicts_with_other_nodes() {
        let other = desired_node(None, "other", "10.0.0.5/24", "fd00::5/64", None);
        let me = desired_node(None, "me", "10.0.0.6/24", "", None);
        let nodes = vec![other, me];
        assert_eq!(conflicting_node(&nodes, "me", "10.0.0.6/24", ""), None);
        assert_eq!(
            conflicting_node(&nodes, "me", "10.0.0.5/16", ""),
            Some(("other", "10.0.0.5".to_string()))
        );
        assert_eq!(
            conflicting_node(&nodes, "me", "", "fd00::5/64"),
            Some(("other", "fd00::5".to_string()))
        );
        assert_eq!(conflicting_node(&nodes, "other", "10.0.0.5/24", ""), None);
    }

    #[test]
    fn cluster_information_written_once_then_merged() {
        let first = cluster_information(None, Some("k8s,bgp"), "v0.1.0", "abc").unwrap();
        assert_eq!(first.metadata.name, "default");
        assert_eq!(first.spec.cluster_guid, "abc");
        assert_eq!(first.spec.cluster_type, "k8s,bgp");
        assert_eq!(first.spec.datastore_ready, Some(true));
        assert_eq!(
            cluster_information(Some(&first), Some("bgp"), "v0.1.0", "zzz"),
            None
        );
        let merged = cluster_information(Some(&first), Some("kubeadm"), "v0.2.0", "zzz").unwrap();
        assert_eq!(merged.spec.cluster_guid, "abc");
        assert_eq!(merged.spec.cluster_type, "k8s,bgp,kubeadm");
        assert_eq!(merged.spec.calico_version, "v0.2.0");
        let mut migrating = first.clone();
        migrating.spec.datastore_ready = Some(false);
        assert_eq!(
            cluster_information(Some(&migrating), None, "v0.1.0", "x"),
            None
        );
    }

    fn template(cidr: Option<&str>, v6: bool) -> PoolTemplate {
        PoolTemplate {
            cidr: cidr.map(|c| c.parse().unwrap()),
            block_size: if v6 { 122 } else { 26 },
            ipip_mode: EncapMode::Never,
            vxlan_mode: EncapMode::Never,
            nat_outgoing: !v6,
            node_selector: "all()".into(),
            requested: cidr.is_some() && v6,
        }
    }

    #[test]
    fn default_pools_only_for_missing_families() {
        let v4 = template(Some("192.168.0.0/16"), false);
        let v6 = template(None, true);
        let r = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let pools = default_pools(&v4, &v6, false, false, &[], r);
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].metadata.name, "default-ipv4-ippool");
        assert_eq!(pools[0].spec.cidr, "192.168.0.0/16");
        assert!(pools[0].spec.nat_outgoing);
        let both = default_pools(&v4, &v6, false, true, &[], r);
        assert_eq!(both[1].metadata.name, "default-ipv6-ippool");
        assert_eq!(both[1].spec.cidr, "fd12:3456:789a::/48");
        assert_eq!(both[1].spec.block_size, 122);
        assert!(default_pools(&v4, &v6, false, true, &both, r).is_empty());
        assert!(default_pools(&v4, &v6, true, true, &[], r).is_empty());
        let requested = template(Some("fd00:1::/48"), true);
        let only6 = default_pools(&v4, &requested, false, false, &pools, r);
        assert_eq!(only6.len(), 1);
        assert_eq!(only6[0].spec.cidr, "fd00:1::/48");
    }
}
