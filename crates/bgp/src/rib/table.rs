//! Compact storage for the RIB: prefix-keyed hash tables whose IPv4 keys are
//! one `u64` (address and length) instead of an 18-byte `IpNet`, and the
//! per-prefix path list that keeps the one path nearly every prefix has
//! inline, with the best path always first. At a million prefixes a table
//! bucket is 24 bytes (key 8, paths 16), which is where the memory goes.
//!
//! Past [`SPLIT_AT`] entries the IPv4 table is split into [`SHARDS`] hash
//! maps: a full table then grows in small steps instead of reallocating
//! 50 MiB at once, so neither the peak (old and new table side by side) nor
//! the allocator's leftovers from superseded tables scale with the table.
//! Small tables (per-peer Adj-RIB-Out of a mesh) stay one map.

use std::collections::hash_map::Entry;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::hash::FastMap;
use crate::codec::PathAttributes;

fn v4_key(net: &Ipv4Net) -> u64 {
    (u64::from(u32::from(net.addr())) << 8) | u64::from(net.prefix_len())
}

fn v4_net(key: u64) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(
        Ipv4Addr::from((key >> 8) as u32),
        (key & 0xff) as u8,
    ))
}

fn v6_key(net: &Ipv6Net) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[..16].copy_from_slice(&net.addr().octets());
    key[16] = net.prefix_len();
    key
}

fn v6_net(key: &[u8; 17]) -> IpNet {
    let mut addr = [0u8; 16];
    addr.copy_from_slice(&key[..16]);
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(addr), key[16]))
}

/// Number of IPv4 sub-tables of a large table.
const SHARDS: usize = 256;
/// Size at which an IPv4 table is split.
const SPLIT_AT: usize = 1 << 14;

/// The IPv4 sub-table of a key (top bits of a multiplicative hash, unrelated
/// to the bits the sub-table's own hasher uses).
fn shard(key: u64) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
}

/// A hash map from prefixes to `V`, one table per address family.
pub(crate) struct PrefixMap<V> {
    v4: Vec<FastMap<u64, V>>,
    v6: FastMap<[u8; 17], V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: Vec::new(),
            v6: FastMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.v4.iter().map(FastMap::len).sum::<usize>() + self.v6.len()
    }

    /// Which IPv4 map holds `key`: its shard once split, else the only one.
    fn index(&self, key: u64) -> usize {
        if self.v4.len() == SHARDS {
            shard(key)
        } else {
            0
        }
    }

    fn v4_shard(&self, key: u64) -> Option<&FastMap<u64, V>> {
        self.v4.get(self.index(key))
    }

    /// The map for `key`, ready for an insertion (created, or the table
    /// split, as needed).
    fn v4_shard_mut(&mut self, key: u64) -> &mut FastMap<u64, V> {
        if self.v4.is_empty() {
            self.v4.push(FastMap::default());
        }
        if self.v4.len() == 1 && self.v4[0].len() >= SPLIT_AT {
            let mut shards: Vec<FastMap<u64, V>> =
                (0..SHARDS).map(|_| FastMap::default()).collect();
            for (k, v) in self.v4.pop().into_iter().flatten() {
                shards[shard(k)].insert(k, v);
            }
            self.v4 = shards;
        }
        let i = self.index(key);
        &mut self.v4[i]
    }

    pub(crate) fn get(&self, net: &IpNet) -> Option<&V> {
        match net {
            IpNet::V4(n) => {
                let key = v4_key(n);
                self.v4_shard(key)?.get(&key)
            }
            IpNet::V6(n) => self.v6.get(&v6_key(n)),
        }
    }

    pub(crate) fn get_mut(&mut self, net: &IpNet) -> Option<&mut V> {
        match net {
            IpNet::V4(n) => {
                let key = v4_key(n);
                let i = self.index(key);
                self.v4.get_mut(i)?.get_mut(&key)
            }
            IpNet::V6(n) => self.v6.get_mut(&v6_key(n)),
        }
    }

    pub(crate) fn insert(&mut self, net: IpNet, value: V) -> Option<V> {
        match net {
            IpNet::V4(n) => {
                let key = v4_key(&n);
                self.v4_shard_mut(key).insert(key, value)
            }
            IpNet::V6(n) => self.v6.insert(v6_key(&n), value),
        }
    }

    /// Inserts `value` if `net` is absent (`None`); otherwise leaves the map
    /// alone and hands back the present value and `value`. One probe.
    pub(crate) fn upsert(&mut self, net: IpNet, value: V) -> Option<(&mut V, V)> {
        match net {
            IpNet::V4(n) => match self.v4_shard_mut(v4_key(&n)).entry(v4_key(&n)) {
                Entry::Occupied(o) => Some((o.into_mut(), value)),
                Entry::Vacant(v) => {
                    v.insert(value);
                    None
                }
            },
            IpNet::V6(n) => match self.v6.entry(v6_key(&n)) {
                Entry::Occupied(o) => Some((o.into_mut(), value)),
                Entry::Vacant(v) => {
                    v.insert(value);
                    None
                }
            },
        }
    }

    pub(crate) fn remove(&mut self, net: &IpNet) -> Option<V> {
        match net {
            IpNet::V4(n) => {
                let key = v4_key(n);
                let i = self.index(key);
                let table = self.v4.get_mut(i)?;
                let removed = table.remove(&key);
                shrink_if_sparse(table);
                removed
            }
            IpNet::V6(n) => {
                let removed = self.v6.remove(&v6_key(n));
                shrink_if_sparse(&mut self.v6);
                removed
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> {
        let v4 = self.v4.iter().flatten().map(|(k, v)| (v4_net(*k), v));
        v4.chain(self.v6.iter().map(|(k, v)| (v6_net(k), v)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> {
        let v4 = self.v4.iter_mut().flatten().map(|(k, v)| (v4_net(*k), v));
        v4.chain(self.v6.iter_mut().map(|(k, v)| (v6_net(k), v)))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(IpNet, &mut V) -> bool) {
        for table in &mut self.v4 {
            table.retain(|k, v| keep(v4_net(*k), v));
            shrink_if_sparse(table);
        }
        self.v6.retain(|k, v| keep(v6_net(k), v));
        shrink_if_sparse(&mut self.v6);
    }

    pub(crate) fn clear(&mut self) {
        *self = PrefixMap::default();
    }
}

/// Gives memory back after a burst of removals (a withdrawn full table),
/// once a table is at most a quarter full.
fn shrink_if_sparse<K: std::hash::Hash + Eq, V>(table: &mut FastMap<K, V>) {
    if table.capacity() > 64 && table.len() * 4 < table.capacity() {
        table.shrink_to(table.len() * 2);
    }
}

/// Who a path came from: a peer's slot number, or [`LOCAL`].
pub(crate) type Origin = u32;

/// The origin of locally announced routes.
pub(crate) const LOCAL: Origin = u32::MAX;

/// One path for a prefix: an Adj-RIB-In entry (or a local announcement).
#[derive(Clone, Debug)]
pub(crate) struct Path {
    /// Attributes after import policy; `None` if the import filter rejected it.
    pub(crate) attrs: Option<Arc<PathAttributes>>,
    pub(crate) origin: Origin,
    /// Retained across a graceful restart, awaiting refresh.
    pub(crate) stale: bool,
}

/// The paths of one prefix, never empty; the first is the best when it is
/// eligible (has attributes). One path lives inline.
#[derive(Clone, Debug)]
pub(crate) enum Paths {
    One(Path),
    // A thin pointer: with `Vec` or `Box<[Path]>` inline, `Paths` (and every
    // table bucket) would grow from 16 to 24+ bytes for the rare multi-path case.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Path>>),
}

impl Paths {
    pub(crate) fn as_slice(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    /// The path from `origin`.
    pub(crate) fn find_mut(&mut self, origin: Origin) -> Option<&mut Path> {
        self.as_mut_slice().iter_mut().find(|p| p.origin == origin)
    }

    pub(crate) fn push(&mut self, path: Path) {
        match self {
            Paths::One(first) => {
                let first = first.clone();
                *self = Paths::Many(Box::new(vec![first, path]));
            }
            Paths::Many(v) => v.push(path),
        }
    }

    /// Removes the path from `origin`; `None` if there was none. Returns
    /// `Some(true)` when it was the last one (the caller drops the entry).
    pub(crate) fn remove(&mut self, origin: Origin) -> Option<bool> {
        match self {
            Paths::One(p) => (p.origin == origin).then_some(true),
            Paths::Many(v) => {
                let i = v.iter().position(|p| p.origin == origin)?;
                v.remove(i);
                if v.len() == 1 {
                    *self = Paths::One(v[0].clone());
                }
                Some(false)
            }
        }
    }

    /// The best path, if any is eligible.
    pub(crate) fn best(&self) -> Option<(&Path, &Arc<PathAttributes>)> {
        let first = &self.as_slice()[0];
        first.attrs.as_ref().map(|a| (first, a))
    }

    /// Moves path `i` to the front (making it the best).
    pub(crate) fn promote(&mut self, i: usize) {
        if let Paths::Many(v) = self {
            v.swap(0, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(i: u32) -> IpNet {
        IpNet::V4(Ipv4Net::new_assert(
            Ipv4Addr::from(0x0a00_0000 + (i << 6)),
            26,
        ))
    }

    #[test]
    fn large_tables_split_and_stay_consistent() {
        let mut m = PrefixMap::default();
        let n = SPLIT_AT as u32 * 3;
        for i in 0..n {
            assert!(m.upsert(net(i), i).is_none());
        }
        assert_eq!(m.v4.len(), SHARDS);
        assert_eq!(m.len(), n as usize);
        assert!((0..n).all(|i| m.get(&net(i)) == Some(&i)));
        assert_eq!(m.upsert(net(7), 0).map(|(v, _)| *v), Some(7));
        let mut keys: Vec<IpNet> = m.keys().collect();
        keys.sort();
        assert_eq!(keys, (0..n).map(net).collect::<Vec<_>>());
        for i in (0..n).filter(|i| i % 10 != 0) {
            assert_eq!(m.remove(&net(i)), Some(i));
        }
        assert_eq!(m.len(), (n as usize).div_ceil(10));
        assert!((0..n).all(|i| m.get(&net(i)).is_some() == (i % 10 == 0)));
        let v6: IpNet = "2001:db8::/64".parse().expect("prefix");
        m.insert(v6, 1);
        assert_eq!(m.get(&v6), Some(&1));
        assert_eq!(m.iter().count(), m.len());
        m.clear();
        assert_eq!(m.len(), 0);
        assert_eq!(m.get(&net(0)), None);
    }
}
