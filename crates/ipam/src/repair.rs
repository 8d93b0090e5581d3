//! The store side of `calicoctl ipam check` and `ipam release --from-report`: load a
//! snapshot, and release what a report found, re-checking each item at write time so that
//! nothing re-allocated since the report was taken is touched.

use std::collections::BTreeMap;

use api::{Kind, Resource};

use crate::block::{AllocationBlock, ReleaseSpec};
use crate::check::{check, AffinityProblem, AffinityRecord, CheckReport, IpamSnapshot};
use crate::cidr::IpVersion;
use crate::client::Ipam;
use crate::error::Result;
use crate::keys::{affinity_key, block_key, handle_key, HANDLE_PREFIX};
use crate::records::IpamHandle;
use crate::stored::{self, Cas};

/// What `release --from-report` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FromReportOutcome {
    pub released_ips: usize,
    /// Leaked addresses left alone because they changed hands since the report.
    pub skipped_ips: usize,
    pub released_handles: usize,
    pub fixed_affinities: usize,
}

impl FromReportOutcome {
    /// The text calicoctl prints.
    pub fn render(&self, report: &CheckReport) -> String {
        format!(
            "Releasing {} old IPs...\nReleased {} IPs successfully\nReleased {} leaked handles, fixed {} block affinities\n",
            report.leaked_ips.len(),
            self.released_ips,
            self.released_handles,
            self.fixed_affinities
        )
    }
}

impl Ipam {
    /// Reads everything `check` needs.
    pub async fn snapshot(&self) -> Result<IpamSnapshot> {
        let mut blocks = Vec::new();
        for version in [IpVersion::V4, IpVersion::V6] {
            blocks.extend(self.blocks(version).await?.into_iter().map(|b| b.value));
        }
        let affinities = self
            .affinities()
            .await?
            .into_iter()
            .map(|(host, block, state, revision)| AffinityRecord {
                host,
                block,
                state,
                revision,
            })
            .collect();
        let handles: BTreeMap<String, IpamHandle> =
            stored::list::<IpamHandle>(self.store(), HANDLE_PREFIX)
                .await?
                .into_iter()
                .filter_map(|(k, h)| Some((k.strip_prefix(HANDLE_PREFIX)?.to_string(), h.value)))
                .collect();
        let nodes = self
            .resources
            .list(Kind::Node, None, "")
            .await?
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::Node(n) => Some(n),
                _ => None,
            })
            .collect();
        let workload_endpoints = self
            .resources
            .list(Kind::WorkloadEndpoint, None, "")
            .await?
            .items
            .into_iter()
            .filter_map(|r| match r {
                Resource::WorkloadEndpoint(w) => Some(w),
                _ => None,
            })
            .collect();
        Ok(IpamSnapshot {
            blocks,
            affinities,
            handles,
            pools: self.pools().await?,
            nodes,
            workload_endpoints,
        })
    }

    /// `calicoctl ipam check`.
    pub async fn check(&self) -> Result<CheckReport> {
        Ok(check(&self.snapshot().await?))
    }

    /// `calicoctl ipam release --from-report`: releases leaked addresses (only while still
    /// held under the same handle and sequence number), deletes leaked handles that still
    /// match nothing, removes affinity keys without a block (unchanged since the report) and
    /// releases the affinities of nodes that no longer exist.
    pub async fn release_from_report(&self, report: &CheckReport) -> Result<FromReportOutcome> {
        let mut outcome = FromReportOutcome::default();
        let specs: Vec<ReleaseSpec> = report
            .leaked_ips
            .iter()
            .map(|l| ReleaseSpec {
                ip: l.ip,
                handle: l.handle.clone(),
                sequence_number: l.sequence_number,
            })
            .collect();
        let released = self.release(&specs).await?;
        outcome.released_ips = released.released.len();
        outcome.skipped_ips = released.skipped.len();
        for handle in &report.leaked_handles {
            if self.delete_handle_if_unused(handle).await? {
                outcome.released_handles += 1;
            }
        }
        for a in &report.broken_affinities {
            let fixed = match a.problem {
                AffinityProblem::BlockMissing => {
                    let key = affinity_key(&a.host, &a.block);
                    let absent = self.store.get(&block_key(&a.block)).await?.is_none();
                    absent && stored::delete(self.store(), &key, a.revision).await? != Cas::Lost
                }
                AffinityProblem::NodeMissing => {
                    !self.node_exists(&a.host).await?
                        && self.release_affinity(&a.host, a.block, false).await?
                }
                AffinityProblem::BlockOwnedByOther { .. } | AffinityProblem::AffinityKeyMissing => {
                    false
                }
            };
            if fixed {
                outcome.fixed_affinities += 1;
            }
        }
        Ok(outcome)
    }

    /// True when a Node resource named `host` exists.
    async fn node_exists(&self, host: &str) -> Result<bool> {
        match self.resources.get(Kind::Node, None, host).await {
            Ok(_) => Ok(true),
            Err(datastore::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `handle` if no block holds an address under it any more.
    async fn delete_handle_if_unused(&self, handle: &str) -> Result<bool> {
        let key = handle_key(handle);
        let Some(current) = stored::get::<IpamHandle>(self.store(), &key).await? else {
            return Ok(false);
        };
        for cidr in current.value.block.keys() {
            let Ok(cidr) = cidr.parse() else {
                continue;
            };
            if let Some(b) = stored::get::<AllocationBlock>(self.store(), &block_key(&cidr)).await?
            {
                if b.value
                    .allocated()
                    .any(|(_, a)| a.handle_id.as_deref() == Some(handle))
                {
                    return Ok(false);
                }
            }
        }
        Ok(stored::delete(self.store(), &key, current.revision).await? != Cas::Lost)
    }
}
