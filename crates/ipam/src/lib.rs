//! Calico's IP address management on the [`datastore::Store`]: pools split into blocks that
//! hosts claim by affinity; addresses come from the host's blocks, then a newly claimed block,
//! then (without strict affinity) other hosts' blocks. Handles group a workload's addresses
//! for release. Keys and JSON match Calico's etcd v3 layout.
//!
//! Pure decisions live in `block` (one block's allocations), `pools` (pool and block choice)
//! and `cidr` (address arithmetic); `assign` and `release` are the thin compare-and-swap
//! shell around them; `check`, `repair` and `show` serve `calicoctl ipam`. Invariants and
//! write orders: DESIGN.md beside this crate.

mod assign;
mod block;
mod check;
mod cidr;
mod client;
mod error;
mod keys;
mod pools;
mod records;
mod release;
mod repair;
mod show;
mod stored;

pub use block::{AllocationAttribute, AllocationBlock, ReleaseSpec, Reservations};
pub use check::{
    check, render_check, AffinityProblem, AffinityRecord, AllocatedIp, BlockSummary,
    BrokenAffinity, CheckReport, InUseIp, IpamSnapshot, NodeAllocations, REPORT_VERSION,
};
pub use cidr::IpVersion;
pub use client::{AllocationInfo, AssignIPArgs, AssignedIps, AutoAssignArgs, Ipam, IpamConfig};
pub use error::{Error, Result};
pub use keys::{affinity_key, block_key, handle_key};
pub use pools::{candidate_pools, Pool, PoolRequest};
pub use records::{AffinityState, BlockAffinity, IpamHandle};
pub use release::ReleaseResult;
pub use repair::FromReportOutcome;
pub use show::{
    borrowed, format_g5, render_borrowed, render_configuration, render_ip_info, render_release_ip,
    render_usage, usage, BorrowedIp, Grouping, UsageRow,
};
pub use stored::Versioned;
