//! Datastore keys of IPAM objects, laid out as Calico's etcd v3 mode does:
//! blocks `/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26`, affinities
//! `/calico/ipam/v2/host/<host>/ipv4/block/10.0.0.0-26`, handles `/calico/ipam/v2/handle/<id>`.

use ipnet::IpNet;

use crate::cidr::{key_name, parse_key_name, IpVersion};

/// Root of every IPAM key.
pub const IPAM_PREFIX: &str = "/calico/ipam/v2/";
/// Root of every handle key.
pub const HANDLE_PREFIX: &str = "/calico/ipam/v2/handle/";
/// Root of every affinity key.
pub const HOST_PREFIX: &str = "/calico/ipam/v2/host/";

/// Prefix of every block of one family.
pub fn block_prefix(version: IpVersion) -> String {
    format!("{IPAM_PREFIX}assignment/{}/block/", version.path())
}

/// Key of one block.
pub fn block_key(block: &IpNet) -> String {
    format!(
        "{}{}",
        block_prefix(IpVersion::of_net(block)),
        key_name(block)
    )
}

/// The block CIDR of a block key.
pub fn parse_block_key(key: &str) -> Option<IpNet> {
    let (_, name) = key.rsplit_once('/')?;
    parse_key_name(name)
}

/// Prefix of every affinity of `host` in one family.
pub fn affinity_prefix(host: &str, version: IpVersion) -> String {
    format!("{HOST_PREFIX}{host}/{}/block/", version.path())
}

/// Key of `host`'s affinity to `block`.
pub fn affinity_key(host: &str, block: &IpNet) -> String {
    format!(
        "{}{}",
        affinity_prefix(host, IpVersion::of_net(block)),
        key_name(block)
    )
}

/// The host and block of an affinity key.
pub fn parse_affinity_key(key: &str) -> Option<(String, IpNet)> {
    let rest = key.strip_prefix(HOST_PREFIX)?;
    let (host, rest) = rest.split_once('/')?;
    let (_family, rest) = rest.split_once('/')?;
    let name = rest.strip_prefix("block/")?;
    Some((host.to_string(), parse_key_name(name)?))
}

/// Key of one handle.
pub fn handle_key(handle: &str) -> String {
    format!("{HANDLE_PREFIX}{handle}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_calico() {
        let b: IpNet = "10.0.0.0/26".parse().unwrap();
        assert_eq!(
            block_key(&b),
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26"
        );
        assert_eq!(
            affinity_key("node-1", &b),
            "/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.0-26"
        );
        let v6: IpNet = "fd00::40/122".parse().unwrap();
        assert_eq!(
            block_key(&v6),
            "/calico/ipam/v2/assignment/ipv6/block/fd00::40-122"
        );
        assert_eq!(parse_block_key(&block_key(&v6)), Some(v6));
        assert_eq!(
            parse_affinity_key(&affinity_key("n", &v6)),
            Some(("n".to_string(), v6))
        );
        assert_eq!(
            handle_key("k8s-pod-network.abc"),
            "/calico/ipam/v2/handle/k8s-pod-network.abc"
        );
    }
}
