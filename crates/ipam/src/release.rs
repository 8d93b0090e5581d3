//! Release on the store: addresses (optionally guarded by handle and sequence number), whole
//! handles, and blocks. Block first, then handle counts (as Calico). A block left empty is
//! deleted when unaffine; when affine, its affinity is released if its host no longer needs
//! it (no enabled pool containing the block selects the host), `confirmed -> pendingDeletion
//! -> block deleted -> affinity deleted`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::block::{AllocationBlock, ReleaseSpec};
use crate::cidr::IpVersion;
use crate::client::{Context, Ipam};
use crate::error::{Error, Result};
use crate::keys::{
    affinity_key, affinity_prefix, block_key, handle_key, parse_affinity_key, HOST_PREFIX,
};
use crate::pools::Pool;
use crate::records::{AffinityState, BlockAffinity, IpamHandle};
use crate::stored::{self, too_many_retries, Cas, RETRIES};

/// What a release did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseResult {
    pub released: Vec<IpAddr>,
    /// Addresses that were not allocated (not an error, as in Calico).
    pub not_assigned: Vec<IpAddr>,
    /// Addresses left alone because their handle or sequence number had changed.
    pub skipped: Vec<IpAddr>,
}

impl Ipam {
    /// Releases addresses unconditionally.
    pub async fn release_ips(&self, ips: &[IpAddr]) -> Result<ReleaseResult> {
        let specs: Vec<ReleaseSpec> = ips.iter().map(|&ip| ReleaseSpec::ip(ip)).collect();
        self.release(&specs).await
    }

    /// Releases addresses, each only if still held under the handle and sequence number the
    /// request names (when it names them).
    pub async fn release(&self, specs: &[ReleaseSpec]) -> Result<ReleaseResult> {
        let mut result = ReleaseResult::default();
        let mut by_block: BTreeMap<IpNet, Vec<ReleaseSpec>> = BTreeMap::new();
        for version in [IpVersion::V4, IpVersion::V6] {
            let wanted: Vec<&ReleaseSpec> = specs
                .iter()
                .filter(|s| IpVersion::of(s.ip) == version)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let cidrs = self.block_cidrs(version).await?;
            for spec in wanted {
                match cidrs.iter().find(|b| b.contains(&spec.ip)) {
                    Some(b) => by_block.entry(*b).or_default().push(spec.clone()),
                    None => result.not_assigned.push(spec.ip),
                }
            }
        }
        for (cidr, specs) in by_block {
            let key = block_key(&cidr);
            let mut done = false;
            for _ in 0..RETRIES {
                let Some(current) = stored::get::<AllocationBlock>(self.store(), &key).await?
                else {
                    result.not_assigned.extend(specs.iter().map(|s| s.ip));
                    done = true;
                    break;
                };
                let mut block = current.value;
                let outcome = block.release(&specs);
                if outcome.released.is_empty() {
                    result.not_assigned.extend(outcome.not_assigned);
                    result.skipped.extend(outcome.skipped);
                    done = true;
                    break;
                }
                if !self.write_released(&key, &block, current.revision).await? {
                    continue;
                }
                let mut per_handle: BTreeMap<String, i64> = BTreeMap::new();
                for r in &outcome.released {
                    if let Some(h) = &r.handle {
                        *per_handle.entry(h.clone()).or_default() += 1;
                    }
                }
                for (h, n) in per_handle {
                    self.adjust_handle(&h, &cidr, -n).await?;
                }
                result
                    .released
                    .extend(outcome.released.iter().map(|r| r.ip));
                result.not_assigned.extend(outcome.not_assigned);
                result.skipped.extend(outcome.skipped);
                self.after_block_emptied(&block).await?;
                done = true;
                break;
            }
            if !done {
                return Err(too_many_retries(&key));
            }
        }
        Ok(result)
    }

    /// Releases every address of `handle` and deletes the handle.
    /// `Error::HandleNotFound` for an unknown handle (CNI DEL ignores it).
    pub async fn release_by_handle(&self, handle: &str) -> Result<Vec<IpAddr>> {
        let hkey = handle_key(handle);
        let stored_handle = stored::get::<IpamHandle>(self.store(), &hkey)
            .await?
            .ok_or_else(|| Error::HandleNotFound {
                handle: handle.to_string(),
            })?;
        let mut released = Vec::new();
        for cidr in stored_handle.value.block.keys() {
            let Ok(cidr) = cidr.parse::<IpNet>() else {
                continue;
            };
            let key = block_key(&cidr);
            let mut done = false;
            for _ in 0..RETRIES {
                let Some(current) = stored::get::<AllocationBlock>(self.store(), &key).await?
                else {
                    done = true;
                    break;
                };
                let mut block = current.value;
                let ips = block.release_handle(handle);
                if ips.is_empty() {
                    done = true;
                    break;
                }
                if !self.write_released(&key, &block, current.revision).await? {
                    continue;
                }
                self.adjust_handle(handle, &cidr, -(ips.len() as i64))
                    .await?;
                released.extend(ips);
                self.after_block_emptied(&block).await?;
                done = true;
                break;
            }
            if !done {
                return Err(too_many_retries(&key));
            }
        }
        // Counts left by an interrupted writer refer to nothing now: drop the handle.
        for _ in 0..RETRIES {
            let Some(current) = stored::get::<IpamHandle>(self.store(), &hkey).await? else {
                return Ok(released);
            };
            if let Cas::Done(_) = stored::delete(self.store(), &hkey, current.revision).await? {
                return Ok(released);
            }
        }
        Err(too_many_retries(&hkey))
    }

    /// Writes a block after a release: deleted when empty and unaffine, else updated.
    async fn write_released(
        &self,
        key: &str,
        block: &AllocationBlock,
        revision: i64,
    ) -> Result<bool> {
        let cas = if block.is_empty() && block.affinity.is_none() {
            stored::delete(self.store(), key, revision).await?
        } else {
            stored::update(self.store(), key, block, revision).await?
        };
        Ok(matches!(cas, Cas::Done(_)))
    }

    /// After a release left `block` empty: gives up its affinity if its host no longer
    /// needs it.
    async fn after_block_emptied(&self, block: &AllocationBlock) -> Result<()> {
        let Some(host) = block.host() else {
            return Ok(());
        };
        if !block.is_empty() {
            return Ok(());
        }
        let pools = self.pools().await?;
        let labels = self.host_labels(host).await?;
        if !host_needs_block(&pools, &labels, &block.cidr) {
            self.release_affinity(host, block.cidr, true).await?;
        }
        Ok(())
    }

    /// Releases the empty ones of `host`'s blocks `affine` that no pool selecting the host
    /// contains any more (run before each auto-assign, as Calico does); returns the rest.
    pub(crate) async fn release_unneeded_affinities(
        &self,
        ctx: &Context,
        host: &str,
        affine: Vec<IpNet>,
    ) -> Result<Vec<IpNet>> {
        let mut kept = Vec::with_capacity(affine.len());
        for cidr in affine {
            let released = !host_needs_block(&ctx.pools, &ctx.labels, &cidr)
                && self.release_affinity(host, cidr, true).await?;
            if !released {
                kept.push(cidr);
            }
        }
        Ok(kept)
    }

    /// Releases every block affinity of `host` (node removal): empty blocks are deleted,
    /// blocks still holding addresses become unaffine. Returns the blocks released.
    pub async fn release_host_affinities(&self, host: &str) -> Result<Vec<IpNet>> {
        let mut released = Vec::new();
        for version in [IpVersion::V4, IpVersion::V6] {
            let listed = self.store.list(&affinity_prefix(host, version)).await?;
            for kv in listed.items {
                if let Some((_, cidr)) = parse_affinity_key(&kv.key) {
                    if self.release_affinity(host, cidr, false).await? {
                        released.push(cidr);
                    }
                }
            }
        }
        Ok(released)
    }

    /// Gives up `host`'s claim on `cidr`: affinity `pendingDeletion`, then the block is
    /// deleted (empty) or made unaffine (unless `require_empty`, which instead restores the
    /// affinity and returns false), then the affinity is deleted.
    pub async fn release_affinity(
        &self,
        host: &str,
        cidr: IpNet,
        require_empty: bool,
    ) -> Result<bool> {
        let akey = affinity_key(host, &cidr);
        let bkey = block_key(&cidr);
        self.mark_pending_deletion(&akey).await?;
        let mut settled = false;
        for _ in 0..RETRIES {
            let cas = match stored::get::<AllocationBlock>(self.store(), &bkey).await? {
                None => Cas::Done(0),
                Some(b) if !b.value.is_affine_to(host) => Cas::Done(0),
                Some(b) if b.value.is_empty() => {
                    stored::delete(self.store(), &bkey, b.revision).await?
                }
                Some(_) if require_empty => {
                    self.set_affinity(host, cidr, AffinityState::Confirmed)
                        .await?;
                    return Ok(false);
                }
                Some(b) => {
                    let mut block = b.value;
                    block.affinity = None;
                    stored::update(self.store(), &bkey, &block, b.revision).await?
                }
            };
            if let Cas::Done(_) = cas {
                settled = true;
                break;
            }
        }
        if !settled {
            return Err(too_many_retries(&bkey));
        }
        for _ in 0..RETRIES {
            let Some(cur) = stored::get::<BlockAffinity>(self.store(), &akey).await? else {
                return Ok(true);
            };
            if let Cas::Done(_) = stored::delete(self.store(), &akey, cur.revision).await? {
                return Ok(true);
            }
        }
        Err(too_many_retries(&akey))
    }

    /// Moves an existing affinity to `pendingDeletion` (no-op when absent).
    async fn mark_pending_deletion(&self, key: &str) -> Result<()> {
        for _ in 0..RETRIES {
            let Some(cur) = stored::get::<BlockAffinity>(self.store(), key).await? else {
                return Ok(());
            };
            if cur.value.state == AffinityState::PendingDeletion {
                return Ok(());
            }
            let next = BlockAffinity::new(AffinityState::PendingDeletion);
            if let Cas::Done(_) = stored::update(self.store(), key, &next, cur.revision).await? {
                return Ok(());
            }
        }
        Err(too_many_retries(key))
    }

    /// Adds `delta` to `handle`'s count for `block`; creates the handle on first use and
    /// deletes it when nothing is left.
    pub(crate) async fn adjust_handle(
        &self,
        handle: &str,
        block: &IpNet,
        delta: i64,
    ) -> Result<()> {
        let key = handle_key(handle);
        let block = block.to_string();
        for _ in 0..RETRIES {
            let cas = match stored::get::<IpamHandle>(self.store(), &key).await? {
                None if delta <= 0 => return Ok(()),
                None => {
                    let mut h = IpamHandle::default();
                    h.adjust(&block, delta);
                    stored::create(self.store(), &key, &h).await?
                }
                Some(cur) => {
                    let mut h = cur.value;
                    h.adjust(&block, delta);
                    if h.is_empty() {
                        stored::delete(self.store(), &key, cur.revision).await?
                    } else {
                        stored::update(self.store(), &key, &h, cur.revision).await?
                    }
                }
            };
            if let Cas::Done(_) = cas {
                return Ok(());
            }
        }
        Err(too_many_retries(&key))
    }

    /// Every affinity in the store: (host, block, state, revision).
    pub async fn affinities(&self) -> Result<Vec<(String, IpNet, AffinityState, i64)>> {
        let listed = stored::list::<BlockAffinity>(self.store(), HOST_PREFIX).await?;
        Ok(listed
            .into_iter()
            .filter_map(|(key, a)| {
                parse_affinity_key(&key).map(|(h, c)| (h, c, a.value.state, a.revision))
            })
            .collect())
    }
}

/// True when some enabled pool containing `block` selects a host with `labels`.
pub(crate) fn host_needs_block(
    pools: &[Pool],
    labels: &BTreeMap<String, String>,
    block: &IpNet,
) -> bool {
    pools
        .iter()
        .any(|p| !p.disabled && p.contains_block(block) && p.node_selector.matches(labels))
}
