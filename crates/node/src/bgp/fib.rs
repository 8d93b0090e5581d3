//! Kernel FIB sync for BGP-learned routes: the pure choice of which best routes go into the
//! kernel and the minimal diff, and a thin shell on [`GatewayRoutes`] that lists, replaces and
//! deletes only routes of protocol [`BGP_ROUTE_PROTOCOL`] in the main table.
//!
//! The protocol is 12 (`proto bird`), where Calico's BIRD puts them, and deliberately not the
//! dataplane's 80: the dataplane's route manager sweeps every proto-80 route it did not
//! program, so sharing its number would have each owner delete the other's routes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::EncapMode;
use dataplane::gateway_routes::{GatewayRoute, GatewayRoutes};
use ipnet::IpNet;

use super::exports::affine_blocks;
use super::inputs::{node_ip, BgpInputs};
use crate::{Error, Result};

/// Routing protocol number of the routes this module owns (`ip route ... proto bird`).
pub const BGP_ROUTE_PROTOCOL: u8 = 12;

/// A route to a remote prefix through a BGP next hop.
pub type KernelRoute = GatewayRoute;

/// Which learned best routes (prefix → next hop) node `me` installs: not its own blocks, not
/// routes through its own addresses, and not prefixes of pools whose cluster routes Felix
/// programs itself (IPIP or VXLAN pools), like Calico's `calico_kernel_programming` filter.
pub fn kernel_routes(
    me: &str,
    inputs: &BgpInputs,
    learned: &BTreeMap<IpNet, IpAddr>,
) -> BTreeSet<KernelRoute> {
    let own_blocks = affine_blocks(me, inputs);
    let own_ips: Vec<IpAddr> = inputs
        .nodes
        .get(me)
        .map(|n| [node_ip(n, false), node_ip(n, true)])
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let encap = |mode: Option<EncapMode>| mode.is_some_and(|m| m != EncapMode::Never);
    let felix_owned: Vec<IpNet> = inputs
        .pool_nets()
        .filter(|(_, p)| encap(p.ipip_mode) || encap(p.vxlan_mode))
        .map(|(n, _)| n)
        .collect();
    learned
        .iter()
        .filter(|(dst, via)| {
            dst.addr().is_ipv4() == via.is_ipv4()
                && !own_blocks.contains(dst)
                && !own_ips.contains(via)
                && !felix_owned.iter().any(|p| p.contains(*dst))
        })
        .map(|(dst, via)| KernelRoute {
            dst: *dst,
            via: *via,
        })
        .collect()
}

/// The writes that turn `actual` into `desired`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibDiff {
    /// Routes to add or replace (a replace moves a prefix to its new gateway in one step).
    pub replace: Vec<KernelRoute>,
    /// Routes whose prefix is no longer wanted.
    pub delete: Vec<KernelRoute>,
}

/// Pure diff: replace what is missing or changed, delete prefixes no longer wanted. With
/// `keep_unknown` (after a restart, before the sessions had time to re-learn everything), only
/// prefixes in `installed` (wanted earlier by this run) are deleted, so a restart flushes nothing.
pub fn fib_diff(
    actual: &BTreeSet<KernelRoute>,
    desired: &BTreeSet<KernelRoute>,
    installed: &BTreeSet<IpNet>,
    keep_unknown: bool,
) -> FibDiff {
    let wanted: BTreeSet<IpNet> = desired.iter().map(|r| r.dst).collect();
    FibDiff {
        replace: desired.difference(actual).copied().collect(),
        delete: actual
            .iter()
            .filter(|r| !wanted.contains(&r.dst))
            .filter(|r| !keep_unknown || installed.contains(&r.dst))
            .copied()
            .collect(),
    }
}

/// The netlink shell; its socket lives in the network namespace of the thread that called
/// [`Fib::new`].
pub struct Fib {
    routes: GatewayRoutes,
    /// Prefixes this run has wanted in the kernel at some point.
    installed: BTreeSet<IpNet>,
}

fn netlink(error: dataplane::Error) -> Error {
    Error::Bgp {
        context: "kernel routes".into(),
        reason: error.to_string(),
    }
}

impl Fib {
    /// Opens a netlink socket; call inside a tokio runtime (its connection task is spawned).
    pub fn new() -> Result<Fib> {
        let routes = GatewayRoutes::new(BGP_ROUTE_PROTOCOL).map_err(|e| match e {
            dataplane::Error::NetlinkSocket(e) => {
                Error::io("cannot open a netlink socket", "NETLINK_ROUTE", e)
            }
            other => netlink(other),
        })?;
        Ok(Fib {
            routes,
            installed: BTreeSet::new(),
        })
    }

    /// Our routes in the kernel.
    pub async fn list(&self) -> Result<BTreeSet<KernelRoute>> {
        Ok(self
            .routes
            .list()
            .await
            .map_err(netlink)?
            .into_keys()
            .collect())
    }

    /// Makes our kernel routes `desired` (see [`fib_diff`] for `keep_unknown`); returns what
    /// was written.
    pub async fn sync(
        &mut self,
        desired: &BTreeSet<KernelRoute>,
        keep_unknown: bool,
    ) -> Result<FibDiff> {
        let actual = self.routes.list().await.map_err(netlink)?;
        self.installed.extend(desired.iter().map(|r| r.dst));
        let diff = fib_diff(
            &actual.keys().copied().collect(),
            desired,
            &self.installed,
            keep_unknown,
        );
        for r in &diff.replace {
            self.routes.replace(*r).await.map_err(netlink)?;
        }
        for r in &diff.delete {
            self.routes
                .delete(*r, actual[r].clone())
                .await
                .map_err(netlink)?;
            self.installed.remove(&r.dst);
        }
        Ok(diff)
    }
}
