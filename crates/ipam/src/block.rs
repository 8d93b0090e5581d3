//! The allocation block, Calico's CAS unit: its stored JSON shape and every pure decision on
//! it (which ordinals to hand out, explicit assignment, release, attribute bookkeeping).
//!
//! Invariants kept by every method: `allocations.len()` equals the block size; an ordinal is
//! in `unallocated` exactly when `allocations[ordinal]` is `None`; every `Some(i)` indexes
//! `attributes`, and every attribute entry is referenced by at least one ordinal.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::cidr::{block_len, ip_at, ordinal_of};

/// Affinity value prefix for host-owned blocks (`host:<node>`).
pub const HOST_AFFINITY_PREFIX: &str = "host:";

/// Per-allocation metadata; several ordinals may share one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationAttribute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub secondary: BTreeMap<String, String>,
    /// Fields not interpreted here (e.g. `alternate`), kept when the block is rewritten.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Value stored at `/calico/ipam/v2/assignment/ipvX/block/<block>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationBlock {
    pub cidr: IpNet,
    /// `host:<node>` when a host owns the block, `None` when unaffine.
    pub affinity: Option<String>,
    #[serde(default)]
    pub strict_affinity: bool,
    pub allocations: Vec<Option<usize>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub unallocated: Vec<usize>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<AllocationAttribute>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub sequence_number: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sequence_number_for_allocation: BTreeMap<String, u64>,
    /// Fields not interpreted here (e.g. `affinityClaimTime`), kept when the block is
    /// rewritten so that blocks written by Calico lose nothing.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Go writes empty slices and maps as `null`; read those as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One allocation released from a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    pub ip: IpAddr,
    pub handle: Option<String>,
}

/// A release request for one address, optionally guarded by the handle and sequence number
/// the caller saw (so a stale request never frees an address re-allocated meanwhile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSpec {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
}

impl ReleaseSpec {
    /// An unconditional release of `ip`.
    pub fn ip(ip: IpAddr) -> Self {
        ReleaseSpec {
            ip,
            handle: None,
            sequence_number: None,
        }
    }
}

/// What a release did to each requested address of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseOutcome {
    pub released: Vec<Released>,
    /// Addresses that were already free (reported, not an error).
    pub not_assigned: Vec<IpAddr>,
    /// Addresses held under another handle or sequence number than the request named.
    pub skipped: Vec<IpAddr>,
}

/// Address ranges automatic assignment must skip (from IPReservations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reservations(pub Vec<IpNet>);

impl Reservations {
    /// True when `ip` is reserved.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(&ip))
    }

    /// True when every address of `block` is reserved by one reservation.
    pub fn covers(&self, block: &IpNet) -> bool {
        self.0
            .iter()
            .any(|r| r.prefix_len() <= block.prefix_len() && r.contains(&block.network()))
    }
}

impl AllocationBlock {
    /// A fresh block: everything free, in ascending ordinal order.
    pub fn new(cidr: IpNet, host: Option<&str>) -> Self {
        let cidr = cidr.trunc();
        let len = block_len(&cidr);
        AllocationBlock {
            cidr,
            affinity: host.map(|h| format!("{HOST_AFFINITY_PREFIX}{h}")),
            strict_affinity: false,
            allocations: vec![None; len],
            unallocated: (0..len).collect(),
            attributes: Vec::new(),
            deleted: false,
            sequence_number: 0,
            sequence_number_for_allocation: BTreeMap::new(),
            other: Map::new(),
        }
    }

    /// The host this block is affine to, if any.
    pub fn host(&self) -> Option<&str> {
        self.affinity.as_deref()?.strip_prefix(HOST_AFFINITY_PREFIX)
    }

    /// True when the block is affine to `host`.
    pub fn is_affine_to(&self, host: &str) -> bool {
        self.host() == Some(host)
    }

    /// Number of addresses in the block.
    pub fn len(&self) -> usize {
        self.allocations.len()
    }

    /// Number of allocated addresses.
    pub fn in_use(&self) -> usize {
        self.allocations.iter().filter(|a| a.is_some()).count()
    }

    /// True when nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.allocations.iter().all(Option::is_none)
    }

    /// Every allocated address with its attributes, in ordinal order.
    pub fn allocated(&self) -> impl Iterator<Item = (IpAddr, &AllocationAttribute)> + '_ {
        self.allocations.iter().enumerate().filter_map(|(ord, a)| {
            a.and_then(|i| self.attributes.get(i))
                .map(|attr| (ip_at(&self.cidr, ord), attr))
        })
    }

    /// The attributes of `ip` when it is allocated here.
    pub fn allocation(&self, ip: IpAddr) -> Option<&AllocationAttribute> {
        let ord = ordinal_of(&self.cidr, ip)?;
        self.allocations
            .get(ord)
            .copied()
            .flatten()
            .and_then(|i| self.attributes.get(i))
    }

    /// The block sequence number recorded when `ip` was allocated.
    pub fn sequence_of(&self, ip: IpAddr) -> Option<u64> {
        let ord = ordinal_of(&self.cidr, ip)?;
        self.sequence_number_for_allocation
            .get(&ord.to_string())
            .copied()
    }

    /// Allocates up to `num` addresses in `unallocated` order, skipping reserved ones, and
    /// returns them (fewer, possibly none, when the block runs out).
    pub fn auto_assign(
        &mut self,
        num: usize,
        handle: Option<&str>,
        attrs: &BTreeMap<String, String>,
        reservations: &Reservations,
    ) -> Vec<IpAddr> {
        let chosen: Vec<usize> = self
            .unallocated
            .iter()
            .copied()
            .filter(|&o| !reservations.contains(ip_at(&self.cidr, o)))
            .take(num)
            .collect();
        if chosen.is_empty() {
            return Vec::new();
        }
        let taken: BTreeSet<usize> = chosen.iter().copied().collect();
        self.unallocated.retain(|o| !taken.contains(o));
        self.record(&chosen, handle, attrs);
        chosen.into_iter().map(|o| ip_at(&self.cidr, o)).collect()
    }

    /// Allocates exactly `ip`; false (and no change) when it is outside the block or
    /// already allocated.
    pub fn assign(
        &mut self,
        ip: IpAddr,
        handle: Option<&str>,
        attrs: &BTreeMap<String, String>,
    ) -> bool {
        let Some(ord) = ordinal_of(&self.cidr, ip) else {
            return false;
        };
        if self.allocations[ord].is_some() {
            return false;
        }
        self.unallocated.retain(|&o| o != ord);
        self.record(&[ord], handle, attrs);
        true
    }

    /// Releases the requested addresses of this block (others are ignored).
    pub fn release(&mut self, requests: &[ReleaseSpec]) -> ReleaseOutcome {
        let mut outcome = ReleaseOutcome::default();
        for req in requests {
            let Some(ord) = ordinal_of(&self.cidr, req.ip) else {
                continue;
            };
            let Some(attr_index) = self.allocations[ord] else {
                outcome.not_assigned.push(req.ip);
                continue;
            };
            let holder = self.attributes[attr_index].handle_id.clone();
            let seq = self.sequence_of(req.ip);
            let handle_differs = req.handle.is_some() && req.handle != holder;
            let seq_differs = req.sequence_number.is_some() && req.sequence_number != seq;
            if handle_differs || seq_differs {
                outcome.skipped.push(req.ip);
                continue;
            }
            self.free(ord);
            outcome.released.push(Released {
                ip: req.ip,
                handle: holder,
            });
        }
        if !outcome.released.is_empty() {
            self.compact_attributes();
            self.sequence_number += 1;
        }
        outcome
    }

    /// Releases every address held by `handle` and returns them.
    pub fn release_handle(&mut self, handle: &str) -> Vec<IpAddr> {
        let requests: Vec<ReleaseSpec> = self
            .allocated()
            .filter(|(_, a)| a.handle_id.as_deref() == Some(handle))
            .map(|(ip, _)| ReleaseSpec::ip(ip))
            .collect();
        self.release(&requests)
            .released
            .into_iter()
            .map(|r| r.ip)
            .collect()
    }

    /// Marks `ordinals` allocated to one (shared or new) attribute entry.
    fn record(
        &mut self,
        ordinals: &[usize],
        handle: Option<&str>,
        attrs: &BTreeMap<String, String>,
    ) {
        let wanted = AllocationAttribute {
            handle_id: handle.map(str::to_string),
            secondary: attrs.clone(),
            other: Map::new(),
        };
        let index = match self.attributes.iter().position(|a| *a == wanted) {
            Some(i) => i,
            None => {
                self.attributes.push(wanted);
                self.attributes.len() - 1
            }
        };
        for &ord in ordinals {
            self.allocations[ord] = Some(index);
            self.sequence_number_for_allocation
                .insert(ord.to_string(), self.sequence_number);
        }
        self.sequence_number += 1;
    }

    /// Frees one ordinal: it goes to the back of the queue (longest-free is reused first).
    fn free(&mut self, ord: usize) {
        self.allocations[ord] = None;
        self.unallocated.push(ord);
        self.sequence_number_for_allocation.remove(&ord.to_string());
    }

    /// Drops attribute entries no ordinal references and renumbers the rest.
    fn compact_attributes(&mut self) {
        let used: BTreeSet<usize> = self.allocations.iter().flatten().copied().collect();
        let mut renumber = vec![None; self.attributes.len()];
        let mut kept = Vec::with_capacity(used.len());
        for (old, attr) in std::mem::take(&mut self.attributes).into_iter().enumerate() {
            if used.contains(&old) {
                renumber[old] = Some(kept.len());
                kept.push(attr);
            }
        }
        self.attributes = kept;
        for a in self.allocations.iter_mut().flatten() {
            *a = renumber[*a].expect("referenced attribute kept");
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn block(s: &str) -> AllocationBlock {
        AllocationBlock::new(s.parse().unwrap(), Some("n1"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn attrs(pod: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("pod".to_string(), pod.to_string())])
    }

    fn check_invariants(b: &AllocationBlock) {
        assert_eq!(b.allocations.len(), block_len(&b.cidr));
        let free: BTreeSet<usize> = b.unallocated.iter().copied().collect();
        assert_eq!(free.len(), b.unallocated.len(), "duplicate free ordinal");
        for (ord, a) in b.allocations.iter().enumerate() {
            assert_eq!(a.is_none(), free.contains(&ord), "ordinal {ord}");
            if let Some(i) = a {
                assert!(*i < b.attributes.len());
            }
        }
        for i in 0..b.attributes.len() {
            assert!(
                b.allocations.contains(&Some(i)),
                "unreferenced attribute {i}"
            );
        }
    }

    #[test]
    fn new_block_shape_and_json() {
        let b = block("10.0.0.0/30");
        assert_eq!(b.unallocated, vec![0, 1, 2, 3]);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["cidr"], "10.0.0.0/30");
        assert_eq!(json["affinity"], "host:n1");
        assert_eq!(
            json["allocations"],
            serde_json::json!([null, null, null, null])
        );
        assert_eq!(json["sequenceNumber"], 0);
        assert_eq!(json["strictAffinity"], false);
        let back: AllocationBlock = serde_json::from_value(json).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn reads_calico_written_blocks_and_keeps_unknown_fields() {
        let calico = r#"{"cidr":"10.65.0.0/30","affinity":"host:node-1","affinityClaimTime":"2024-01-02T03:04:05Z","strictAffinity":false,
            "allocations":[0,null,null,null],"unallocated":[1,2,3],
            "attributes":[{"handle_id":"k8s-pod-network.abc","secondary":{"namespace":"default","node":"node-1","pod":"web"},"alternate":{"pod":"old"}}],
            "deleted":false,"sequenceNumber":7,"sequenceNumberForAllocation":null}"#;
        let mut b: AllocationBlock = serde_json::from_str(calico).unwrap();
        assert_eq!(b.host(), Some("node-1"));
        assert_eq!(
            b.allocation(ip("10.65.0.0")).unwrap().secondary["pod"],
            "web"
        );
        let got = b.auto_assign(1, Some("x"), &BTreeMap::new(), &Reservations::default());
        assert_eq!(got, vec![ip("10.65.0.1")]);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["affinityClaimTime"], "2024-01-02T03:04:05Z");
        assert_eq!(json["attributes"][0]["alternate"]["pod"], "old");
        assert_eq!(json["sequenceNumberForAllocation"]["1"], 7);
        assert_eq!(json["sequenceNumber"], 8);
        check_invariants(&b);
    }

    #[test]
    fn assigns_in_order_including_network_and_broadcast() {
        let mut b = block("10.0.0.0/29");
        let got = b.auto_assign(3, Some("h1"), &attrs("p1"), &Reservations::default());
        assert_eq!(got, vec![ip("10.0.0.0"), ip("10.0.0.1"), ip("10.0.0.2")]);
        let rest = b.auto_assign(10, Some("h2"), &attrs("p2"), &Reservations::default());
        assert_eq!(rest.len(), 5);
        assert_eq!(rest.last(), Some(&ip("10.0.0.7")));
        assert!(b
            .auto_assign(1, None, &BTreeMap::new(), &Reservations::default())
            .is_empty());
        assert_eq!(b.attributes.len(), 2, "one entry per (handle, attrs)");
        assert_eq!(b.sequence_of(ip("10.0.0.0")), Some(0));
        assert_eq!(b.sequence_of(ip("10.0.0.5")), Some(1));
        assert_eq!(b.sequence_number, 2);
        check_invariants(&b);
    }

    #[test]
    fn released_addresses_are_reused_last() {
        let mut b = block("10.0.0.0/30");
        let none = Reservations::default();
        b.auto_assign(2, Some("h"), &BTreeMap::new(), &none);
        let out = b.release(&[ReleaseSpec::ip(ip("10.0.0.0"))]);
        assert_eq!(out.released.len(), 1);
        assert_eq!(out.released[0].handle.as_deref(), Some("h"));
        assert_eq!(b.unallocated, vec![2, 3, 0]);
        let next = b.auto_assign(2, Some("h"), &BTreeMap::new(), &none);
        assert_eq!(next, vec![ip("10.0.0.2"), ip("10.0.0.3")]);
        check_invariants(&b);
    }

    #[test]
    fn reservations_are_skipped_not_removed() {
        let mut b = block("10.0.0.0/29");
        let r = Reservations(vec![
            "10.0.0.0/30".parse().unwrap(),
            "10.0.0.5/32".parse().unwrap(),
        ]);
        let got = b.auto_assign(8, Some("h"), &BTreeMap::new(), &r);
        assert_eq!(got, vec![ip("10.0.0.4"), ip("10.0.0.6"), ip("10.0.0.7")]);
        assert_eq!(b.unallocated, vec![0, 1, 2, 3, 5]);
        // Explicit assignment of a reserved address is allowed.
        assert!(b.assign(ip("10.0.0.5"), Some("x"), &BTreeMap::new()));
        assert!(r.covers(&"10.0.0.0/31".parse().unwrap()));
        assert!(!r.covers(&"10.0.0.0/29".parse().unwrap()));
        check_invariants(&b);
    }

    #[test]
    fn explicit_assign_refuses_taken_and_foreign_addresses() {
        let mut b = block("fd00::/126");
        assert!(b.assign(ip("fd00::2"), Some("a"), &BTreeMap::new()));
        assert!(!b.assign(ip("fd00::2"), Some("b"), &BTreeMap::new()));
        assert!(!b.assign(ip("fd00::9"), Some("b"), &BTreeMap::new()));
        let got = b.auto_assign(4, Some("c"), &BTreeMap::new(), &Reservations::default());
        assert_eq!(got, vec![ip("fd00::"), ip("fd00::1"), ip("fd00::3")]);
        check_invariants(&b);
    }

    #[test]
    fn guarded_release_skips_changed_owners() {
        let mut b = block("10.0.0.0/30");
        b.auto_assign(1, Some("old"), &BTreeMap::new(), &Reservations::default());
        let seq = b.sequence_of(ip("10.0.0.0"));
        let wrong_handle = ReleaseSpec {
            ip: ip("10.0.0.0"),
            handle: Some("other".into()),
            sequence_number: None,
        };
        let wrong_seq = ReleaseSpec {
            ip: ip("10.0.0.0"),
            handle: Some("old".into()),
            sequence_number: Some(seq.unwrap() + 7),
        };
        let out = b.release(&[wrong_handle, wrong_seq]);
        assert_eq!(out.skipped.len(), 2);
        assert_eq!(b.in_use(), 1);
        let out = b.release(&[
            ReleaseSpec {
                ip: ip("10.0.0.0"),
                handle: Some("old".into()),
                sequence_number: seq,
            },
            ReleaseSpec::ip(ip("10.0.0.1")),
        ]);
        assert_eq!(out.released.len(), 1);
        assert_eq!(out.not_assigned, vec![ip("10.0.0.1")]);
        assert!(b.is_empty());
        assert!(b.attributes.is_empty());
    }

    #[test]
    fn release_handle_renumbers_attributes() {
        let mut b = block("10.0.0.0/29");
        let none = Reservations::default();
        b.auto_assign(2, Some("a"), &attrs("a"), &none);
        b.auto_assign(2, Some("b"), &attrs("b"), &none);
        b.auto_assign(1, Some("c"), &attrs("c"), &none);
        assert_eq!(b.release_handle("a"), vec![ip("10.0.0.0"), ip("10.0.0.1")]);
        assert_eq!(b.attributes.len(), 2);
        assert_eq!(
            b.allocation(ip("10.0.0.4")).unwrap().handle_id.as_deref(),
            Some("c")
        );
        assert_eq!(b.allocation(ip("10.0.0.2")).unwrap().secondary["pod"], "b");
        assert!(b.release_handle("nope").is_empty());
        check_invariants(&b);
    }

    proptest! {
        #[test]
        fn random_operations_keep_invariants(ops in proptest::collection::vec((0u8..3, 0usize..16, 0u8..3), 1..80)) {
            let mut b = block("10.1.0.0/28");
            let none = Reservations(vec!["10.1.0.3/32".parse().unwrap()]);
            let mut held: BTreeMap<IpAddr, String> = BTreeMap::new();
            for (op, n, h) in ops {
                let handle = format!("h{h}");
                match op {
                    0 => {
                        for got in b.auto_assign(n % 4 + 1, Some(&handle), &BTreeMap::new(), &none) {
                            prop_assert!(got != ip("10.1.0.3"));
                            prop_assert!(held.insert(got, handle.clone()).is_none(), "double allocation");
                        }
                    }
                    1 => {
                        let target = ip_at(&b.cidr, n);
                        let out = b.release(&[ReleaseSpec::ip(target)]);
                        prop_assert_eq!(out.released.len() == 1, held.remove(&target).is_some());
                    }
                    _ => {
                        let freed = b.release_handle(&handle);
                        for f in freed {
                            prop_assert_eq!(held.remove(&f), Some(handle.clone()));
                        }
                        prop_assert!(held.values().all(|v| *v != handle));
                    }
                }
                check_invariants(&b);
                prop_assert_eq!(b.in_use(), held.len());
            }
        }
    }
}
