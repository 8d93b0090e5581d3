//! Address arithmetic for blocks: IPv4 and IPv6 as one 128-bit number line, the n-th block of
//! a pool, the block holding an address, and ordinal <-> address inside a block.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An IP family; `path()` is the segment used in datastore keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// The family of a network.
    pub fn of_net(net: &IpNet) -> Self {
        Self::of(net.addr())
    }

    /// `ipv4` or `ipv6`, as in `/calico/ipam/v2/assignment/ipv4/block/`.
    pub fn path(self) -> &'static str {
        match self {
            IpVersion::V4 => "ipv4",
            IpVersion::V6 => "ipv6",
        }
    }
}

/// The address as an integer (IPv4 in the low 32 bits).
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of `version` with integer value `value` (truncated to the family's width).
pub fn from_u128(version: IpVersion, value: u128) -> IpAddr {
    match version {
        IpVersion::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpVersion::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// A network of `version` at `addr`/`prefix` (host bits cleared).
pub fn net(version: IpVersion, addr: u128, prefix: u8) -> IpNet {
    let net = match from_u128(version, addr) {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, prefix).expect("prefix checked by caller")),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, prefix).expect("prefix checked by caller")),
    };
    net.trunc()
}

/// Number of addresses in `net`, saturating at `u128::MAX` for `::/0`.
pub fn size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

/// Number of blocks of prefix `block_size` in `pool` (0 if the pool is smaller than a block).
pub fn block_count(pool: &IpNet, block_size: u8) -> u128 {
    if block_size < pool.prefix_len() || block_size > pool.max_prefix_len() {
        return 0;
    }
    1u128
        .checked_shl(u32::from(block_size - pool.prefix_len()))
        .unwrap_or(u128::MAX)
}

/// The `n`-th block (0-based) of prefix `block_size` in `pool`.
pub fn nth_block(pool: &IpNet, block_size: u8, n: u128) -> IpNet {
    let version = IpVersion::of_net(pool);
    let stride = size(&net(version, 0, block_size));
    net(
        version,
        to_u128(pool.network()).wrapping_add(n.wrapping_mul(stride)),
        block_size,
    )
}

/// The block of prefix `block_size` that holds `ip`.
pub fn block_of(ip: IpAddr, block_size: u8) -> IpNet {
    net(IpVersion::of(ip), to_u128(ip), block_size)
}

/// Number of ordinals (addresses) in a block.
pub fn block_len(block: &IpNet) -> usize {
    usize::try_from(size(block)).unwrap_or(usize::MAX)
}

/// The address at `ordinal` in `block`.
pub fn ip_at(block: &IpNet, ordinal: usize) -> IpAddr {
    from_u128(
        IpVersion::of_net(block),
        to_u128(block.network()) + ordinal as u128,
    )
}

/// The ordinal of `ip` in `block`, or `None` when `ip` is outside it.
pub fn ordinal_of(block: &IpNet, ip: IpAddr) -> Option<usize> {
    if !block.contains(&ip) {
        return None;
    }
    usize::try_from(to_u128(ip) - to_u128(block.network())).ok()
}

/// The key segment of a block: `10.0.0.0-26`, `fd00::-122`.
pub fn key_name(block: &IpNet) -> String {
    format!("{}-{}", block.network(), block.prefix_len())
}

/// Parses a key segment made by [`key_name`].
pub fn parse_key_name(name: &str) -> Option<IpNet> {
    let (addr, prefix) = name.rsplit_once('-')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    IpNet::new(addr, prefix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn v4_block_math() {
        let pool = n("10.0.0.0/16");
        assert_eq!(block_count(&pool, 26), 1024);
        assert_eq!(nth_block(&pool, 26, 0), n("10.0.0.0/26"));
        assert_eq!(nth_block(&pool, 26, 5), n("10.0.1.64/26"));
        assert_eq!(nth_block(&pool, 26, 1023), n("10.0.255.192/26"));
        assert_eq!(
            block_of("10.0.1.77".parse().unwrap(), 26),
            n("10.0.1.64/26")
        );
        let b = n("10.0.1.64/26");
        assert_eq!(block_len(&b), 64);
        assert_eq!(ip_at(&b, 0), "10.0.1.64".parse::<IpAddr>().unwrap());
        assert_eq!(ip_at(&b, 63), "10.0.1.127".parse::<IpAddr>().unwrap());
        assert_eq!(ordinal_of(&b, "10.0.1.77".parse().unwrap()), Some(13));
        assert_eq!(ordinal_of(&b, "10.0.1.128".parse().unwrap()), None);
        assert_eq!(block_count(&n("10.0.0.0/27"), 26), 0);
        assert_eq!(block_count(&n("10.0.0.0/32"), 32), 1);
    }

    #[test]
    fn v6_block_math() {
        let pool = n("fd00::/48");
        assert_eq!(block_count(&pool, 122), 1u128 << 74);
        assert_eq!(nth_block(&pool, 122, 1), n("fd00::40/122"));
        assert_eq!(nth_block(&pool, 122, 4), n("fd00::100/122"));
        let b = block_of("fd00::1:ff".parse().unwrap(), 122);
        assert_eq!(b, n("fd00::1:c0/122"));
        assert_eq!(ordinal_of(&b, "fd00::1:ff".parse().unwrap()), Some(63));
        assert_eq!(ip_at(&b, 1), "fd00::1:c1".parse::<IpAddr>().unwrap());
        assert_eq!(block_count(&n("::/0"), 128), u128::MAX);
        assert_eq!(size(&n("::/0")), u128::MAX);
    }

    #[test]
    fn key_names_round_trip() {
        for s in [
            "10.0.0.0/26",
            "fd00::/122",
            "fd00:1::40/122",
            "192.168.3.4/32",
        ] {
            let b = n(s);
            let name = key_name(&b);
            assert_eq!(parse_key_name(&name), Some(b), "{name}");
        }
        assert_eq!(key_name(&n("10.0.0.0/26")), "10.0.0.0-26");
        assert_eq!(key_name(&n("fd00::/122")), "fd00::-122");
        assert_eq!(parse_key_name("10.0.0.0"), None);
        assert_eq!(parse_key_name("10.0.0.0-40"), None);
    }
}
