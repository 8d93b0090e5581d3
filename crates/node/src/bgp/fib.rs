//! Kernel FIB sync for BGP-learned routes: the pure choice of which best routes go into the
//! kernel and the minimal diff, and a thin rtnetlink shell that lists, replaces and deletes
//! only routes of protocol [`BGP_ROUTE_PROTOCOL`] in the main table.
//!
//! The protocol is 12 (`proto bird`), where Calico's BIRD puts them, and deliberately not the
//! dataplane's 80: the dataplane's route manager sweeps every proto-80 route it did not
//! program, so sharing its number would have each owner delete the other's routes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::EncapMode;
use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use super::exports::affine_blocks;
use super::inputs::{node_ip, BgpInputs};
use crate::{Error, Result};

/// Routing protocol number of the routes this module owns (`ip route ... proto bird`).
pub const BGP_ROUTE_PROTOCOL: u8 = 12;

/// A route to a remote prefix through a BGP next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelRoute {
    /// Destination prefix.
    pub dst: IpNet,
    /// Gateway.
    pub via: IpAddr,
}

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
    handle: Handle,
    /// Prefixes this run has wanted in the kernel at some point.
    installed: BTreeSet<IpNet>,
}

fn netlink(context: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |e| Error::Bgp {
        context,
        reason: e.to_string(),
    }
}

impl Fib {
    /// Opens a netlink socket; call inside a tokio runtime (its connection task is spawned).
    pub fn new() -> Result<Fib> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::io("cannot open a netlink socket", "NETLINK_ROUTE", e))?;
        tokio::spawn(connection);
        Ok(Fib {
            handle,
            installed: BTreeSet::new(),
        })
    }

    async fn list_messages(&self) -> Result<BTreeMap<KernelRoute, RouteMessage>> {
        let mut out = BTreeMap::new();
        for query in [
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
        ] {
            let mut stream = self.handle.route().get(query).execute();
            while let Some(msg) = stream
                .try_next()
                .await
                .map_err(netlink("listing routes".into()))?
            {
                if let Some(route) = ours(&msg) {
                    out.insert(route, msg);
                }
            }
        }
        Ok(out)
    }

    /// Our routes in the kernel.
    pub async fn list(&self) -> Result<BTreeSet<KernelRoute>> {
        Ok(self.list_messages().await?.into_keys().collect())
    }

    /// Makes our kernel routes `desired` (see [`fib_diff`] for `keep_unknown`); returns what
    /// was written.
    pub async fn sync(
        &mut self,
        desired: &BTreeSet<KernelRoute>,
        keep_unknown: bool,
    ) -> Result<FibDiff> {
        let actual = self.list_messages().await?;
        self.installed.extend(desired.iter().map(|r| r.dst));
        let diff = fib_diff(
            &actual.keys().copied().collect(),
            desired,
            &self.installed,
            keep_unknown,
        );
        for r in &diff.replace {
            let msg = RouteMessageBuilder::<IpAddr>::new()
                .destination_prefix(r.dst.addr(), r.dst.prefix_len())
                .and_then(|b| b.gateway(r.via))
                .map_err(|e| Error::Bgp {
                    context: format!("route {} via {}", r.dst, r.via),
                    reason: e.to_string(),
                })?
                .protocol(RouteProtocol::from(BGP_ROUTE_PROTOCOL))
                .build();
            self.handle
                .route()
                .add(msg)
                .replace()
                .execute()
                .await
                .map_err(netlink(format!("adding route {} via {}", r.dst, r.via)))?;
        }
        for r in &diff.delete {
            self.handle
                .route()
                .del(actual[r].clone())
                .execute()
                .await
                .map_err(netlink(format!("deleting route {} via {}", r.dst, r.via)))?;
            self.installed.remove(&r.dst);
        }
        Ok(diff)
    }
}

/// The route a kernel message describes, if it is one of ours.
fn ours(msg: &RouteMessage) -> Option<KernelRoute> {
    let h = &msg.header;
    // Parsed messages carry named protocols (12 is `RouteProtocol::Bird`): compare numbers.
    if u8::from(h.protocol) != BGP_ROUTE_PROTOCOL
        || h.table != RouteHeader::RT_TABLE_MAIN
        || h.kind != RouteType::Unicast
    {
        return None;
    }
    let (mut dst, mut via) = (None, None);
    for attr in &msg.attributes {
        let addr = |a: &RouteAddress| match a {
            RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
            RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        };
        match attr {
            RouteAttribute::Destination(a) => dst = addr(a),
            RouteAttribute::Gateway(a) => via = addr(a),
            _ => {}
        }
    }
    let dst = dst.unwrap_or(match h.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    Some(KernelRoute {
        dst: IpNet::new(dst, h.destination_prefix_length).ok()?,
        via: via?,
    })
}
