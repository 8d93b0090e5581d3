//! Route manager on rtnetlink: /32 (/128) routes per workload to its veth and blackhole routes
//! per affine block, in the main table, all tagged with our routing protocol number
//! [`ROUTE_PROTOCOL`] so we only ever list, change or delete our own routes.
//!
//! The diff ([`diff_routes`]) is pure; [`RouteManager`] is the thin netlink shell. Its socket
//! lives in the network namespace of the thread that called [`RouteManager::new`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::error::Error;

/// Our routing protocol number (`ip route ... proto 80`), the one Felix uses for its own
/// routes. Routes with any other protocol are never touched.
pub const ROUTE_PROTOCOL: u8 = 80;

/// A route we own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `<ip>/32 dev <veth> scope link proto 80`.
    Workload {
        /// Workload address (a host prefix).
        dst: IpNet,
        /// Host-side veth.
        iface: String,
    },
    /// `blackhole <block> proto 80`.
    Blackhole {
        /// Affine block.
        dst: IpNet,
    },
}

impl Route {
    fn dst(&self) -> IpNet {
        match self {
            Route::Workload { dst, .. } | Route::Blackhole { dst } => *dst,
        }
    }
}

/// What to change to go from the routes we have to the routes we want.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDiff {
    /// Routes to delete (first).
    pub delete: Vec<Route>,
    /// Routes to add (after the deletes).
    pub add: Vec<Route>,
}

impl RouteDiff {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

/// Pure diff of two route sets.
pub fn diff_routes(actual: &BTreeSet<Route>, desired: &BTreeSet<Route>) -> RouteDiff {
    RouteDiff {
        delete: actual.difference(desired).cloned().collect(),
        add: desired.difference(actual).cloned().collect(),
    }
}

/// Netlink shell for our routes.
pub struct RouteManager {
    handle: Handle,
}

impl RouteManager {
    /// Open a netlink socket in the calling thread's network namespace. Must be called inside
    /// a tokio runtime context (the connection task is spawned on it).
    pub fn new() -> Result<Self, Error> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::NetlinkSocket)?;
        tokio::spawn(connection);
        Ok(RouteManager { handle })
    }

    /// Interface index -> name, for all links.
    async fn links(&self) -> Result<BTreeMap<u32, String>, Error> {
        let mut stream = self.handle.link().get().execute();
        let mut links = BTreeMap::new();
        while let Some(msg) = stream.try_next().await.map_err(netlink("list links"))? {
            let name = msg.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            });
            if let Some(name) = name {
                links.insert(msg.header.index, name);
            }
        }
        Ok(links)
    }

    /// Our routes (protocol [`ROUTE_PROTOCOL`], main table), both IP versions.
    pub async fn list(&self) -> Result<BTreeSet<Route>, Error> {
        Ok(self.list_messages().await?.into_keys().collect())
    }

    async fn list_messages(&self) -> Result<BTreeMap<Route, RouteMessage>, Error> {
        let links = self.links().await?;
        let mut routes = BTreeMap::new();
        for query in [
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
        ] {
            let mut stream = self.handle.route().get(query).execute();
            while let Some(msg) = stream.try_next().await.map_err(netlink("list routes"))? {
                if let Some(route) = ours(&msg, &links) {
                    routes.insert(route, msg);
                }
            }
        }
        Ok(routes)
    }

    /// Make our routes exactly `desired`; returns what changed.
    pub async fn sync(&self, desired: &BTreeSet<Route>) -> Result<RouteDiff, Error> {
        let actual = self.list_messages().await?;
        let have: BTreeSet<Route> = actual.keys().cloned().collect();
        let diff = diff_routes(&have, desired);
        for route in &diff.delete {
            let msg = actual[route].clone();
            self.handle
                .route()
                .del(msg)
                .execute()
                .await
                .map_err(netlink(&format!("delete {route:?}")))?;
        }
        if !diff.add.is_empty() {
            let links = self.links().await?;
            for route in &diff.add {
                let msg = build(route, &links)?;
                self.handle
                    .route()
                    .add(msg)
                    .replace()
                    .execute()
                    .await
                    .map_err(netlink(&format!("add {route:?}")))?;
            }
        }
        Ok(diff)
    }
}

fn netlink(operation: &str) -> impl Fn(rtnetlink::Error) -> Error + '_ {
    move |source| Error::Netlink {
        operation: operation.to_owned(),
        source,
    }
}

/// The route a kernel message describes, if it is one of ours.
fn ours(msg: &RouteMessage, links: &BTreeMap<u32, String>) -> Option<Route> {
    let h = &msg.header;
    if h.protocol != RouteProtocol::Other(ROUTE_PROTOCOL) || h.table != RouteHeader::RT_TABLE_MAIN {
        return None;
    }
    let mut dst = None;
    let mut oif = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let dst = match (dst, h.address_family) {
        (Some(a), _) => a,
        (None, AddressFamily::Inet6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        (None, _) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    };
    let dst = IpNet::new(dst, h.destination_prefix_length).ok()?;
    match h.kind {
        RouteType::BlackHole => Some(Route::Blackhole { dst }),
        RouteType::Unicast => Some(Route::Workload {
            dst,
            // A route whose link vanished still gets listed, so it can be deleted.
            iface: oif
                .map(|i| links.get(&i).cloned().unwrap_or_else(|| format!("#{i}")))
                .unwrap_or_default(),
        }),
        _ => None,
    }
}

fn build(route: &Route, links: &BTreeMap<u32, String>) -> Result<RouteMessage, Error> {
    let dst = route.dst();
    let builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .expect("an IpNet is a valid destination prefix")
        .protocol(RouteProtocol::Other(ROUTE_PROTOCOL));
    let builder = match route {
        Route::Workload { iface, .. } => {
            let index = links
                .iter()
                .find(|(_, name)| *name == iface)
                .map(|(i, _)| *i)
                .ok_or_else(|| Error::NoSuchInterface(iface.clone()))?;
            builder.output_interface(index).scope(RouteScope::Link)
        }
        Route::Blackhole { .. } => builder.kind(RouteType::BlackHole),
    };
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(dst: &str, iface: &str) -> Route {
        Route::Workload {
            dst: dst.parse().unwrap(),
            iface: iface.to_owned(),
        }
    }

    #[test]
    fn diff_deletes_stale_adds_missing_and_moves_changed() {
        let actual: BTreeSet<Route> = [
            wl("10.65.0.2/32", "cali1"),
            wl("10.65.0.3/32", "cali2"),
            Route::Blackhole {
                dst: "10.65.0.0/26".parse().unwrap(),
            },
        ]
        .into();
        let desired: BTreeSet<Route> = [
            wl("10.65.0.2/32", "cali1"),
            wl("10.65.0.3/32", "cali9"),
            Route::Blackhole {
                dst: "10.65.0.0/26".parse().unwrap(),
            },
        ]
        .into();
        let d = diff_routes(&actual, &desired);
        assert_eq!(d.delete, vec![wl("10.65.0.3/32", "cali2")]);
        assert_eq!(d.add, vec![wl("10.65.0.3/32", "cali9")]);
        assert!(diff_routes(&desired, &desired).is_empty());
    }
}
