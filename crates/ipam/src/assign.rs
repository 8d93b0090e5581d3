//! Assignment on the store: `auto_assign` (affine blocks, then a newly claimed block, then
//! borrowing unless strict affinity) and `assign_ip`, with Calico's crash-safe write order:
//! affinity `pending` -> block created -> affinity `confirmed`; handle count before the block
//! write (undone if that write loses its race). A failed request releases what it took.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::block::{AllocationBlock, ReleaseSpec, Reservations};
use crate::cidr::IpVersion;
use crate::client::{AssignIPArgs, AssignedIps, AutoAssignArgs, Context, Ipam};
use crate::error::{Error, Result};
use crate::keys::{affinity_key, affinity_prefix, block_key, parse_affinity_key};
use crate::pools::{borrow_order, candidate_pools, choose_free_block, Pool, PoolRequest};
use crate::records::{AffinityState, BlockAffinity};
use crate::stored::{self, too_many_retries, Cas, RETRIES};

/// The owner and payload of one allocation.
struct Owner<'a> {
    handle: Option<&'a str>,
    attrs: &'a BTreeMap<String, String>,
}

impl Ipam {
    /// Assigns `num4` IPv4 and `num6` IPv6 addresses to `handle` on `hostname`. All or
    /// nothing: when a family cannot be satisfied, everything taken is released and the
    /// error (`no addresses available in pools [...]`, a pool error...) is returned.
    pub async fn auto_assign(&self, args: &AutoAssignArgs) -> Result<AssignedIps> {
        let ctx = self.context(&args.hostname).await?;
        let mut out = AssignedIps::default();
        let families = [
            (IpVersion::V4, args.num4, &args.ipv4_pools),
            (IpVersion::V6, args.num6, &args.ipv6_pools),
        ];
        for (version, num, requested) in families {
            if num == 0 {
                continue;
            }
            let mut got = Vec::new();
            let result = self
                .assign_family(&ctx, args, version, num, requested, &mut got)
                .await;
            match version {
                IpVersion::V4 => out.ipv4.extend(got),
                IpVersion::V6 => out.ipv6.extend(got),
            }
            if let Err(e) = result {
                let taken: Vec<ReleaseSpec> = out
                    .all()
                    .map(|n| ReleaseSpec {
                        ip: n.addr(),
                        handle: args.handle.clone(),
                        sequence_number: None,
                    })
                    .collect();
                self.release(&taken).await?;
                return Err(e);
            }
        }
        Ok(out)
    }

    /// One family of an auto-assign; pushes into `got` as it goes so the caller can undo.
    async fn assign_family(
        &self,
        ctx: &Context,
        args: &AutoAssignArgs,
        version: IpVersion,
        num: usize,
        requested: &[String],
        got: &mut Vec<IpNet>,
    ) -> Result<()> {
        let host = args.hostname.as_str();
        if host.is_empty() {
            return Err(Error::Invalid("auto-assign needs a hostname".to_string()));
        }
        let request = PoolRequest {
            version,
            requested,
            host,
            node_labels: &ctx.labels,
            namespace_labels: args.namespace_labels.as_ref(),
            usage: args.intended_use,
        };
        let pools = candidate_pools(&ctx.pools, &request)?;
        let owner = Owner {
            handle: args.handle.as_deref(),
            attrs: &args.attrs,
        };
        let max_blocks = match args.max_blocks_per_host {
            0 => ctx.config.max_blocks_per_host,
            n => n,
        };
        let affine = self.affine_blocks(host, version).await?;
        let mut affine = self.release_unneeded_affinities(ctx, host, affine).await?;
        let mut lost_claims = 0;
        loop {
            for cidr in in_pool_order(&pools, &affine) {
                let need = num - got.len();
                if need == 0 {
                    break;
                }
                let ips = self
                    .assign_from_block(cidr, need, &owner, &ctx.reservations, Some(host))
                    .await?;
                got.extend(ips.into_iter().map(|ip| with_prefix(ip, &cidr)));
            }
            if got.len() == num {
                return Ok(());
            }
            let at_limit = max_blocks > 0 && affine.len() >= max_blocks;
            if !ctx.config.auto_allocate_blocks || at_limit {
                break;
            }
            let existing = self.block_cidrs(version).await?;
            let Some(cidr) = choose_free_block(&pools, &existing, host, &ctx.reservations) else {
                break;
            };
            if !self.claim_block(host, cidr).await? {
                lost_claims += 1;
                if lost_claims > RETRIES {
                    return Err(too_many_retries(&block_key(&cidr)));
                }
            }
            // Re-read: other allocators for this host may have claimed blocks meanwhile.
            affine = self.affine_blocks(host, version).await?;
        }
        if !ctx.config.strict_affinity {
            let others: Vec<IpNet> = self
                .blocks(version)
                .await?
                .into_iter()
                .filter(|b| !b.value.is_affine_to(host))
                .map(|b| b.value.cidr)
                .collect();
            for cidr in borrow_order(&pools, others, host) {
                let need = num - got.len();
                if need == 0 {
                    break;
                }
                let ips = self
                    .assign_from_block(cidr, need, &owner, &ctx.reservations, None)
                    .await?;
                got.extend(ips.into_iter().map(|ip| with_prefix(ip, &cidr)));
            }
        }
        if got.len() == num {
            Ok(())
        } else {
            Err(Error::Exhausted {
                pools: pools.iter().map(|p| p.cidr.to_string()).collect(),
            })
        }
    }

    /// Assigns exactly `args.ip`, claiming its block for `args.hostname` if nobody has it.
    /// Returns the address with its block's prefix length.
    pub async fn assign_ip(&self, args: &AssignIPArgs) -> Result<IpNet> {
        let ip = args.ip;
        let pools = self.pools().await?;
        let pool = pools
            .iter()
            .find(|p| p.cidr.contains(&ip))
            .ok_or(Error::NotInPool { ip })?;
        if pool.disabled {
            return Err(Error::BadPool {
                pool: pool.name.clone(),
                reason: "is disabled".to_string(),
            });
        }
        if !pool.allowed_uses.contains(&args.intended_use) {
            return Err(Error::BadPool {
                pool: pool.name.clone(),
                reason: format!("does not allow use {:?}", args.intended_use),
            });
        }
        let cidr = pool.block_for(ip);
        let key = block_key(&cidr);
        for _ in 0..RETRIES {
            let Some(current) = stored::get::<AllocationBlock>(self.store(), &key).await? else {
                self.claim_block(&args.hostname, cidr).await?;
                continue;
            };
            let mut block = current.value;
            if !block.assign(ip, args.handle.as_deref(), &args.attrs) {
                return Err(Error::AlreadyAssigned {
                    ip,
                    block: cidr.to_string(),
                });
            }
            if let Some(h) = &args.handle {
                self.adjust_handle(h, &cidr, 1).await?;
            }
            match stored::update(self.store(), &key, &block, current.revision).await? {
                Cas::Done(_) => return Ok(with_prefix(ip, &cidr)),
                Cas::Lost => {
                    if let Some(h) = &args.handle {
                        self.adjust_handle(h, &cidr, -1).await?;
                    }
                }
            }
        }
        Err(too_many_retries(&key))
    }

    /// Takes up to `num` addresses from one block. With `affine_to`, only while the block is
    /// still that host's (re-creating it if its confirmed affinity survived the block).
    async fn assign_from_block(
        &self,
        cidr: IpNet,
        num: usize,
        owner: &Owner<'_>,
        reservations: &Reservations,
        affine_to: Option<&str>,
    ) -> Result<Vec<IpAddr>> {
        let key = block_key(&cidr);
        for _ in 0..RETRIES {
            let Some(current) = stored::get::<AllocationBlock>(self.store(), &key).await? else {
                match affine_to {
                    Some(host) if self.recreate_block(host, cidr).await? => continue,
                    _ => return Ok(Vec::new()),
                }
            };
            if affine_to.is_some_and(|h| !current.value.is_affine_to(h)) {
                return Ok(Vec::new());
            }
            let mut block = current.value;
            let ips = block.auto_assign(num, owner.handle, owner.attrs, reservations);
            if ips.is_empty() {
                return Ok(ips);
            }
            let count = ips.len() as i64;
            if let Some(h) = owner.handle {
                self.adjust_handle(h, &cidr, count).await?;
            }
            match stored::update(self.store(), &key, &block, current.revision).await? {
                Cas::Done(_) => return Ok(ips),
                Cas::Lost => {
                    if let Some(h) = owner.handle {
                        self.adjust_handle(h, &cidr, -count).await?;
                    }
                }
            }
        }
        Err(too_many_retries(&key))
    }

    /// The blocks `host` owns in one family: confirmed affinities, plus pending ones whose
    /// block already exists with this host's affinity (a claim interrupted before its last
    /// step), which are confirmed on the way.
    pub(crate) async fn affine_blocks(&self, host: &str, version: IpVersion) -> Result<Vec<IpNet>> {
        let listed =
            stored::list::<BlockAffinity>(self.store(), &affinity_prefix(host, version)).await?;
        let mut blocks = Vec::new();
        for (key, aff) in listed {
            let Some((_, cidr)) = parse_affinity_key(&key) else {
                continue;
            };
            match aff.value.state {
                AffinityState::Confirmed => blocks.push(cidr),
                AffinityState::Pending => {
                    let block =
                        stored::get::<AllocationBlock>(self.store(), &block_key(&cidr)).await?;
                    if block.is_some_and(|b| b.value.is_affine_to(host)) {
                        self.set_affinity(host, cidr, AffinityState::Confirmed)
                            .await?;
                        blocks.push(cidr);
                    }
                }
                AffinityState::PendingDeletion => {}
            }
        }
        Ok(blocks)
    }

    /// Claims `cidr` for `host`: affinity `pending`, block created with `host:<host>`,
    /// affinity `confirmed`. False when another host got the block first (our pending
    /// affinity is then removed again) or the block is being released.
    pub(crate) async fn claim_block(&self, host: &str, cidr: IpNet) -> Result<bool> {
        let akey = affinity_key(host, &cidr);
        if stored::create(
            self.store(),
            &akey,
            &BlockAffinity::new(AffinityState::Pending),
        )
        .await?
            == Cas::Lost
        {
            let existing = stored::get::<BlockAffinity>(self.store(), &akey).await?;
            if existing.is_some_and(|a| a.value.state == AffinityState::PendingDeletion) {
                return Ok(false);
            }
        }
        let bkey = block_key(&cidr);
        let block = AllocationBlock::new(cidr, Some(host));
        if stored::create(self.store(), &bkey, &block).await? == Cas::Lost {
            let winner = stored::get::<AllocationBlock>(self.store(), &bkey).await?;
            if !winner.is_some_and(|b| b.value.is_affine_to(host)) {
                self.drop_pending_affinity(&akey).await?;
                return Ok(false);
            }
        }
        self.set_affinity(host, cidr, AffinityState::Confirmed)
            .await?;
        Ok(true)
    }

    /// Re-creates the block of a confirmed affinity whose block object is missing.
    async fn recreate_block(&self, host: &str, cidr: IpNet) -> Result<bool> {
        let aff = stored::get::<BlockAffinity>(self.store(), &affinity_key(host, &cidr)).await?;
        if !aff.is_some_and(|a| a.value.state == AffinityState::Confirmed) {
            return Ok(false);
        }
        let block = AllocationBlock::new(cidr, Some(host));
        stored::create(self.store(), &block_key(&cidr), &block).await?;
        Ok(true)
    }

    /// Sets `host`'s affinity to `cidr` to `state`, creating it if missing.
    pub(crate) async fn set_affinity(
        &self,
        host: &str,
        cidr: IpNet,
        state: AffinityState,
    ) -> Result<()> {
        let key = affinity_key(host, &cidr);
        for _ in 0..RETRIES {
            let cas = match stored::get::<BlockAffinity>(self.store(), &key).await? {
                None => stored::create(self.store(), &key, &BlockAffinity::new(state)).await?,
                Some(cur) if cur.value.state == state => return Ok(()),
                Some(cur) => {
                    stored::update(self.store(), &key, &BlockAffinity::new(state), cur.revision)
                        .await?
                }
            };
            if let Cas::Done(_) = cas {
                return Ok(());
            }
        }
        Err(too_many_retries(&key))
    }

    /// Deletes an affinity that is still `pending`.
    async fn drop_pending_affinity(&self, key: &str) -> Result<()> {
        for _ in 0..RETRIES {
            match stored::get::<BlockAffinity>(self.store(), key).await? {
                Some(cur) if cur.value.state == AffinityState::Pending => {
                    if let Cas::Done(_) = stored::delete(self.store(), key, cur.revision).await? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
        Err(too_many_retries(key))
    }
}

/// The affine blocks that lie in candidate pools, in pool order then CIDR order.
fn in_pool_order(pools: &[Pool], affine: &[IpNet]) -> Vec<IpNet> {
    let mut ordered = Vec::new();
    for pool in pools {
        let mut mine: Vec<IpNet> = affine
            .iter()
            .copied()
            .filter(|b| pool.contains_block(b) && !ordered.contains(b))
            .collect();
        mine.sort();
        ordered.extend(mine);
    }
    ordered
}

/// `ip` with its block's prefix length, as Calico returns assigned addresses.
fn with_prefix(ip: IpAddr, block: &IpNet) -> IpNet {
    IpNet::new(ip, block.prefix_len()).expect("block prefix fits its family")
}
