//! Pure pool decisions: which pools may serve a request on a host, which free block a host
//! claims next (a per-host deterministic start, so hosts spread out instead of colliding),
//! and the order in which other hosts' blocks are tried when borrowing.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use api::{AllowedUse, AssignmentMode, IPPool};
use ipnet::IpNet;
use selector::Selector;

use crate::block::Reservations;
use crate::cidr::{block_count, nth_block, IpVersion};
use crate::error::{Error, Result};

/// What the IPAM needs of an IPPool, parsed once.
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub cidr: IpNet,
    pub block_size: u8,
    pub disabled: bool,
    pub node_selector: Selector,
    /// `None` when the pool has no namespaceSelector.
    pub namespace_selector: Option<Selector>,
    pub allowed_uses: Vec<AllowedUse>,
    pub manual: bool,
}

/// Who asks for addresses, as pool selection needs it.
#[derive(Clone, Copy, Debug)]
pub struct PoolRequest<'a> {
    pub version: IpVersion,
    /// Pools named by the caller (name or CIDR); empty means "any that fits".
    pub requested: &'a [String],
    pub host: &'a str,
    pub node_labels: &'a BTreeMap<String, String>,
    /// The pod namespace's labels; `None` (tunnels, non-pod callers) skips namespaceSelector.
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    pub usage: AllowedUse,
}

impl Pool {
    /// Parses an IPPool resource (CIDR and nodeSelector must be valid).
    pub fn from_resource(pool: &IPPool) -> Result<Self> {
        let spec = &pool.spec;
        let cidr = spec.network().ok_or_else(|| {
            Error::Invalid(format!(
                "IPPool {} has invalid cidr {}",
                pool.metadata.name, spec.cidr
            ))
        })?;
        let node_selector = selector::parse(spec.effective_node_selector()).map_err(|e| {
            Error::Invalid(format!("IPPool {} nodeSelector: {e}", pool.metadata.name))
        })?;
        let namespace_selector = match spec.namespace_selector.trim() {
            "" => None,
            text => Some(selector::parse(text).map_err(|e| {
                Error::Invalid(format!(
                    "IPPool {} namespaceSelector: {e}",
                    pool.metadata.name
                ))
            })?),
        };
        let allowed_uses = if spec.allowed_uses.is_empty() {
            vec![AllowedUse::Workload, AllowedUse::Tunnel]
        } else {
            spec.allowed_uses.clone()
        };
        Ok(Pool {
            name: pool.metadata.name.clone(),
            cidr: cidr.trunc(),
            block_size: spec.effective_block_size(),
            disabled: spec.disabled,
            node_selector,
            namespace_selector,
            allowed_uses,
            manual: spec.assignment_mode == Some(AssignmentMode::Manual),
        })
    }

    /// The pool's family.
    pub fn version(&self) -> IpVersion {
        IpVersion::of_net(&self.cidr)
    }

    /// Why this pool may not serve `req` (`None` when it may).
    pub fn refusal(&self, req: &PoolRequest) -> Option<String> {
        if self.version() != req.version {
            return Some(format!("is not an {} pool", req.version.path()));
        }
        if self.disabled {
            return Some("is disabled".to_string());
        }
        if !self.node_selector.matches(req.node_labels) {
            return Some(format!("does not select node {}", req.host));
        }
        if let (Some(sel), Some(labels)) = (&self.namespace_selector, req.namespace_labels) {
            if !sel.matches(labels) {
                return Some("does not select the pod's namespace".to_string());
            }
        }
        if !self.allowed_uses.contains(&req.usage) {
            return Some(format!("does not allow use {:?}", req.usage));
        }
        None
    }

    /// The block of this pool holding `ip`.
    pub fn block_for(&self, ip: IpAddr) -> IpNet {
        crate::cidr::block_of(ip, self.block_size)
    }

    /// True when `block` lies inside this pool.
    pub fn contains_block(&self, block: &IpNet) -> bool {
        self.cidr.contains(&block.network()) && block.prefix_len() >= self.cidr.prefix_len()
    }
}

/// The pools a request may use, in the order to try them.
///
/// Pools named in `req.requested` (CNI `ipv4_pools`/`ipv6_pools`, by name or CIDR) must exist
/// and fit (family, enabled, node and namespace selectors, allowed use), else the request
/// fails. With none named: every fitting pool not in Manual assignment mode, in CIDR order.
pub fn candidate_pools(pools: &[Pool], req: &PoolRequest) -> Result<Vec<Pool>> {
    let mut chosen: Vec<Pool> = Vec::new();
    if req.requested.is_empty() {
        chosen.extend(
            pools
                .iter()
                .filter(|p| !p.manual && p.refusal(req).is_none())
                .cloned(),
        );
        chosen.sort_by_key(|p| p.cidr);
    } else {
        for want in req.requested {
            let want_net: Option<IpNet> = want.parse().ok();
            let pool = pools
                .iter()
                .find(|p| p.name == *want || Some(p.cidr) == want_net.map(|n| n.trunc()))
                .ok_or_else(|| bad_pool(want, "does not exist"))?;
            if let Some(reason) = pool.refusal(req) {
                return Err(bad_pool(want, &reason));
            }
            if !chosen.iter().any(|c| c.name == pool.name) {
                chosen.push(pool.clone());
            }
        }
    }
    if chosen.is_empty() {
        return Err(Error::NoPools {
            host: req.host.to_string(),
            detail: Some(format!("no enabled {} pool selects it", req.version.path())),
        });
    }
    Ok(chosen)
}

fn bad_pool(pool: &str, reason: &str) -> Error {
    Error::BadPool {
        pool: pool.to_string(),
        reason: reason.to_string(),
    }
}

/// A stable 64-bit FNV-1a hash of the host name: each host starts its search elsewhere.
pub fn host_hash(host: &str) -> u64 {
    host.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How many blocks past `existing.len()` the search may probe for a block not covered by
/// reservations before giving up on a pool.
const RESERVED_PROBE_LIMIT: u128 = 4096;

/// The next block `host` should claim: the first block, starting at a host-dependent offset
/// in each pool (pools in order), that does not exist yet and is not entirely reserved.
pub fn choose_free_block(
    pools: &[Pool],
    existing: &HashSet<IpNet>,
    host: &str,
    reservations: &Reservations,
) -> Option<IpNet> {
    for pool in pools {
        let count = block_count(&pool.cidr, pool.block_size);
        if count == 0 {
            continue;
        }
        let start = u128::from(host_hash(host)) % count;
        let probes = count.min(existing.len() as u128 + 1 + RESERVED_PROBE_LIMIT);
        for i in 0..probes {
            let n = (start + i) % count;
            let block = nth_block(&pool.cidr, pool.block_size, n);
            if !existing.contains(&block) && !reservations.covers(&block) {
                return Some(block);
            }
        }
    }
    None
}

/// Orders borrowable blocks: by pool order, then rotated by the host's hash so that hosts
/// borrowing at the same time start in different places.
pub fn borrow_order(pools: &[Pool], mut blocks: Vec<IpNet>, host: &str) -> Vec<IpNet> {
    blocks.sort();
    let mut ordered = Vec::with_capacity(blocks.len());
    for pool in pools {
        let mut mine: Vec<IpNet> = blocks
            .iter()
            .copied()
            .filter(|b| pool.contains_block(b) && !ordered.contains(b))
            .collect();
        if !mine.is_empty() {
            let shift = (host_hash(host) % mine.len() as u64) as usize;
            mine.rotate_left(shift);
        }
        ordered.extend(mine);
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, cidr: &str, block_size: u8, sel: &str) -> Pool {
        Pool {
            name: name.to_string(),
            cidr: cidr.parse().unwrap(),
            block_size,
            disabled: false,
            node_selector: selector::parse(sel).unwrap(),
            namespace_selector: None,
            allowed_uses: vec![AllowedUse::Workload, AllowedUse::Tunnel],
            manual: false,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Candidates for a workload on host `n` with `labels`, no namespace.
    fn cands(
        pools: &[Pool],
        requested: &[String],
        version: IpVersion,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Pool>> {
        candidate_pools(
            pools,
            &PoolRequest {
                version,
                requested,
                host: "n",
                node_labels: labels,
                namespace_labels: None,
                usage: AllowedUse::Workload,
            },
        )
    }

    #[test]
    fn default_candidates_filter_family_selector_use_and_state() {
        let mut disabled = pool("off", "10.9.0.0/16", 26, "all()");
        disabled.disabled = true;
        let mut lb = pool("lb", "10.8.0.0/16", 26, "all()");
        lb.allowed_uses = vec![AllowedUse::LoadBalancer];
        let mut manual = pool("manual", "10.7.0.0/16", 26, "all()");
        manual.manual = true;
        let pools = vec![
            pool("b", "10.2.0.0/16", 26, "all()"),
            pool("a", "10.1.0.0/16", 26, "zone == 'x'"),
            pool("v6", "fd00::/48", 122, "all()"),
            disabled,
            lb,
            manual,
        ];
        let got = cands(&pools, &[], IpVersion::V4, &labels(&[("zone", "x")])).unwrap();
        let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let got = cands(&pools, &[], IpVersion::V4, &labels(&[])).unwrap();
        assert_eq!(got.len(), 1);
        let got = cands(&pools, &[], IpVersion::V6, &labels(&[])).unwrap();
        assert_eq!(got[0].name, "v6");
        let err = cands(&pools[3..4], &[], IpVersion::V4, &labels(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no configured Calico pools for node n: no enabled ipv4 pool selects it"
        );
    }

    #[test]
    fn requested_pools_by_name_or_cidr_are_checked() {
        let mut off = pool("off", "10.9.0.0/16", 26, "all()");
        off.disabled = true;
        let mut manual = pool("manual", "10.7.0.0/16", 26, "all()");
        manual.manual = true;
        let pools = vec![
            pool("a", "10.1.0.0/16", 26, "zone == 'x'"),
            pool("b", "10.2.0.0/16", 26, "all()"),
            off,
            manual,
        ];
        let l = labels(&[("zone", "x")]);
        let req = |names: &[&str], l: &BTreeMap<String, String>| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            cands(&pools, &names, IpVersion::V4, l)
        };
        let got = req(&["10.2.0.0/16", "a"], &l).unwrap();
        assert_eq!(
            got.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(req(&["manual"], &l).unwrap()[0].name, "manual");
        assert_eq!(
            req(&["off"], &l).unwrap_err().to_string(),
            "the requested pool off is disabled"
        );
        assert_eq!(
            req(&["nope"], &l).unwrap_err().to_string(),
            "the requested pool nope does not exist"
        );
        assert_eq!(
            req(&["a"], &labels(&[])).unwrap_err().to_string(),
            "the requested pool a does not select node n"
        );
    }

    #[test]
    fn namespace_selector_applies_only_to_pod_requests() {
        let mut ns_pool = pool("team", "10.3.0.0/16", 26, "all()");
        ns_pool.namespace_selector = Some(selector::parse("team == 'red'").unwrap());
        let pools = vec![ns_pool];
        let node = labels(&[]);
        let red = labels(&[("team", "red")]);
        let blue = labels(&[("team", "blue")]);
        let base = PoolRequest {
            version: IpVersion::V4,
            requested: &[],
            host: "n",
            node_labels: &node,
            namespace_labels: None,
            usage: AllowedUse::Workload,
        };
        assert_eq!(
            candidate_pools(
                &pools,
                &PoolRequest {
                    namespace_labels: Some(&red),
                    ..base
                }
            )
            .unwrap()
            .len(),
            1
        );
        assert!(candidate_pools(
            &pools,
            &PoolRequest {
                namespace_labels: Some(&blue),
                ..base
            }
        )
        .is_err());
        assert_eq!(candidate_pools(&pools, &base).unwrap().len(), 1);
        let named = ["team".to_string()];
        let err = candidate_pools(
            &pools,
            &PoolRequest {
                requested: &named,
                namespace_labels: Some(&blue),
                ..base
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the requested pool team does not select the pod's namespace"
        );
    }

    #[test]
    fn free_block_choice_is_per_host_and_skips_taken_and_reserved() {
        let pools = vec![pool("a", "10.0.0.0/24", 26, "all()")];
        let none = Reservations::default();
        let mut existing = HashSet::new();
        let first = choose_free_block(&pools, &existing, "host-a", &none).unwrap();
        assert_eq!(first.prefix_len(), 26);
        assert!(pools[0].contains_block(&first));
        assert_eq!(
            choose_free_block(&pools, &existing, "host-a", &none),
            Some(first),
            "deterministic"
        );
        let mut seen = HashSet::new();
        while let Some(b) = choose_free_block(&pools, &existing, "host-a", &none) {
            assert!(seen.insert(b));
            existing.insert(b);
        }
        assert_eq!(seen.len(), 4);
        let reserved = Reservations(vec!["10.0.0.0/25".parse().unwrap()]);
        let got = choose_free_block(&pools, &HashSet::new(), "host-a", &reserved).unwrap();
        assert!(got.network() >= "10.0.0.128".parse::<IpAddr>().unwrap());
        let starts: HashSet<IpNet> = (0..16)
            .filter_map(|i| choose_free_block(&pools, &HashSet::new(), &format!("h{i}"), &none))
            .collect();
        assert!(starts.len() > 1, "hosts start in different places");
    }

    #[test]
    fn v6_pools_with_huge_block_counts_are_searched_lazily() {
        let pools = vec![pool("v6", "fd00::/48", 122, "all()")];
        let b = choose_free_block(&pools, &HashSet::new(), "n", &Reservations::default()).unwrap();
        assert_eq!(b.prefix_len(), 122);
        assert!(pools[0].contains_block(&b));
    }

    #[test]
    fn borrow_order_groups_by_pool() {
        let pools = vec![
            pool("b", "10.2.0.0/16", 26, "all()"),
            pool("a", "10.1.0.0/16", 26, "all()"),
        ];
        let blocks: Vec<IpNet> = ["10.1.0.0/26", "10.2.0.0/26", "10.2.0.64/26", "10.3.0.0/26"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got = borrow_order(&pools, blocks, "x");
        assert_eq!(
            got.len(),
            3,
            "blocks outside candidate pools are never borrowed"
        );
        assert!(got[..2].iter().all(|b| pools[0].contains_block(b)));
        assert_eq!(got[2], "10.1.0.0/26".parse::<IpNet>().unwrap());
    }
}
