//! Netlink shell for routes through a gateway that one owner tags with a routing protocol
//! number of its own (calico-node's BGP-learned routes, the lab's top-of-rack router): it
//! lists, replaces and deletes only unicast routes of that protocol in the main table. Which
//! routes are wanted is the owner's pure logic. The socket lives in the network namespace of
//! the thread that called [`GatewayRoutes::new`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::error::Error;

/// A route to a prefix through a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayRoute {
    /// Destination prefix.
    pub dst: IpNet,
    /// Gateway.
    pub via: IpAddr,
}

/// The routes of one protocol number.
pub struct GatewayRoutes {
    handle: Handle,
    protocol: u8,
}

fn netlink(operation: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |source| Error::Netlink { operation, source }
}

impl GatewayRoutes {
    /// Opens a netlink socket for routes of `protocol`; call inside a tokio runtime (its
    /// connection task is spawned on it).
    pub fn new(protocol: u8) -> Result<Self, Error> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::NetlinkSocket)?;
        tokio::spawn(connection);
        Ok(GatewayRoutes { handle, protocol })
    }

    /// Our routes in the kernel, both IP versions, with the messages that delete them.
    pub async fn list(&self) -> Result<BTreeMap<GatewayRoute, RouteMessage>, Error> {
        let mut out = BTreeMap::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut stream = self.handle.route().get(query).execute();
            while let Some(msg) = stream
                .try_next()
                .await
                .map_err(netlink("listing routes".into()))?
            {
                if let Some(route) = ours(&msg, self.protocol) {
                    out.insert(route, msg);
                }
            }
        }
        Ok(out)
    }

    /// Adds `route`, replacing any route to the same prefix.
    pub async fn replace(&self, route: GatewayRoute) -> Result<(), Error> {
        let what = || format!("adding route {} via {}", route.dst, route.via);
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(route.dst.addr(), route.dst.prefix_len())
            .and_then(|b| b.gateway(route.via))
            .map_err(|e| Error::InvalidRoute(format!("{}: {e}", what())))?
            .protocol(RouteProtocol::from(self.protocol))
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(netlink(what()))
    }

    /// Deletes the route a [`GatewayRoutes::list`] message describes.
    pub async fn delete(&self, route: GatewayRoute, msg: RouteMessage) -> Result<(), Error> {
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(netlink(format!(
                "deleting route {} via {}",
                route.dst, route.via
            )))
    }
}

/// The route a kernel message describes, if it is a unicast main-table route of `protocol`.
fn ours(msg: &RouteMessage, protocol: u8) -> Option<GatewayRoute> {
    let h = &msg.header;
    // Parsed messages carry named protocols (12 is `RouteProtocol::Bird`): compare numbers.
    if u8::from(h.protocol) != protocol
        || h.table != RouteHeader::RT_TABLE_MAIN
        || h.kind != RouteType::Unicast
    {
        return None;
    }
    let addr = |a: &RouteAddress| match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    };
    let (mut dst, mut via) = (None, None);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = addr(a),
            RouteAttribute::Gateway(a) => via = addr(a),
            _ => {}
        }
    }
    let dst = dst.unwrap_or(match h.address_family {
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    });
    Some(GatewayRoute {
        dst: IpNet::new(dst, h.destination_prefix_length).ok()?,
        via: via?,
    })
}
