//! The Linux side of a workload attachment, done as Calico does it: a veth pair with the
//! container end (`CNI_IFNAME`) created straight inside the pod namespace, the host end
//! `caliXXXXXXXXXXX` with MAC ee:ee:ee:ee:ee:ee, proxy ARP and forwarding sysctls; in the pod
//! the /32 and /128 addresses, `169.254.1.1 scope link` and default routes via 169.254.1.1
//! and the host end's link-local address; on the host a `/32` (`/128`) route per address.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::netns;
use crate::sysctl;

/// The MAC of every Calico host-side veth.
pub const HOST_MAC: [u8; 6] = [0xee; 6];
/// The container's IPv4 gateway, answered by proxy ARP on the host end.
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The host end's link-local address (EUI-64 of ee:ee:ee:ee:ee:ee), the IPv6 gateway.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xecee, 0xeeff, 0xfeee, 0xeeee);

const EEXIST: i32 = 17;
const ENODEV: i32 = 19;

/// What to build for one workload.
#[derive(Clone, Debug)]
pub struct VethSpec {
    pub host_name: String,
    pub ifname: String,
    pub mtu: u32,
    /// Single addresses (/32, /128).
    pub ips: Vec<IpNet>,
    pub allow_ip_forwarding: bool,
}

impl VethSpec {
    fn has_v4(&self) -> bool {
        self.ips.iter().any(|n| n.addr().is_ipv4())
    }

    fn has_v6(&self) -> bool {
        self.ips.iter().any(|n| n.addr().is_ipv6())
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// The link called `name` in the handle's namespace, if any.
pub async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(Error::netlink(format!("looking up link {name}"), e)),
    }
}

fn mac_of(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(mac) => Some(format_mac(mac)),
        _ => None,
    })
}

/// Deletes the link called `name` if it exists (which also removes its peer and routes).
/// Returns whether there was one.
pub async fn delete_link(handle: &Handle, name: &str) -> Result<bool> {
    let Some(link) = find_link(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(false),
        Err(e) => Err(Error::netlink(format!("deleting link {name}"), e)),
    }
}

/// Builds the attachment. `host` is a handle in the host namespace (the caller's), `ns` the
/// container's namespace. Returns the container interface's MAC. On error the caller
/// removes the host veth (which takes the container end with it).
pub async fn attach(host: &Handle, ns: File, spec: &VethSpec) -> Result<String> {
    delete_link(host, &spec.host_name).await?;
    let peer = LinkMessageBuilder::<LinkUnspec>::default()
        .name(spec.ifname.clone())
        .mtu(spec.mtu)
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.host_name.clone())
        .mtu(spec.mtu)
        .address(HOST_MAC.to_vec())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    host.link().add(veth).execute().await.map_err(|e| {
        let why = match errno(&e) {
            Some(EEXIST) => format!("an interface named {} already exists", spec.ifname),
            _ => e.to_string(),
        };
        Error::netlink(
            format!("creating veth {} <-> {}", spec.host_name, spec.ifname),
            why,
        )
    })?;
    let link = find_link(host, &spec.host_name)
        .await?
        .ok_or_else(|| Error::netlink("creating veth", format!("{} vanished", spec.host_name)))?;
    let index = link.header.index;
    host_sysctls(spec)?;
    host.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("bringing up {}", spec.host_name), e))?;

    let container = spec.clone();
    let mac = netns::run_in(ns, move |h| async move {
        configure_container(&h, &container).await
    })?;

    for ip in &spec.ips {
        add_host_route(host, index, &spec.host_name, *ip).await?;
    }
    Ok(mac)
}

fn host_sysctls(spec: &VethSpec) -> Result<()> {
    let name = spec.host_name.as_str();
    if spec.has_v4() {
        sysctl::set(&["net", "ipv4", "conf", name, "route_localnet"], "1")?;
        sysctl::set(&["net", "ipv4", "neigh", name, "proxy_delay"], "0")?;
        sysctl::set(&["net", "ipv4", "conf", name, "proxy_arp"], "1")?;
        sysctl::set(&["net", "ipv4", "conf", name, "forwarding"], "1")?;
    }
    if spec.has_v6() {
        sysctl::set(&["net", "ipv6", "conf", name, "accept_dad"], "0")?;
        sysctl::set(&["net", "ipv6", "conf", name, "disable_ipv6"], "0")?;
        sysctl::set(&["net", "ipv6", "conf", name, "forwarding"], "1")?;
        sysctl::set(&["net", "ipv6", "conf", name, "accept_ra"], "0")?;
    }
    Ok(())
}

/// Inside the container: sysctls, link up, addresses, gateway and default routes.
async fn configure_container(h: &Handle, spec: &VethSpec) -> Result<String> {
    let ifname = spec.ifname.as_str();
    let link = find_link(h, ifname)
        .await?
        .ok_or_else(|| Error::netlink("configuring the container", format!("no {ifname}")))?;
    let index = link.header.index;
    if spec.has_v6() {
        for scope in ["all", "default", "lo"] {
            sysctl::set(&["net", "ipv6", "conf", scope, "disable_ipv6"], "0")?;
        }
        sysctl::set(&["net", "ipv6", "conf", ifname, "accept_dad"], "0")?;
    }
    if spec.allow_ip_forwarding {
        if spec.has_v4() {
            sysctl::set(&["net", "ipv4", "ip_forward"], "1")?;
        }
        if spec.has_v6() {
            sysctl::set(&["net", "ipv6", "conf", "all", "forwarding"], "1")?;
        }
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("bringing up {ifname}"), e))?;
    for ip in &spec.ips {
        h.address()
            .add(index, ip.addr(), ip.prefix_len())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("adding {ip} to {ifname}"), e))?;
    }
    if spec.has_v4() {
        let gw = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(GATEWAY_V4, 32)
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Boot)
            .build();
        add_route(h, gw, &format!("{GATEWAY_V4} dev {ifname}")).await?;
        let default = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(GATEWAY_V4)
            .output_interface(index)
            .protocol(RouteProtocol::Boot)
            .build();
        add_route(h, default, &format!("default via {GATEWAY_V4}")).await?;
    }
    if spec.has_v6() {
        let default = RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(GATEWAY_V6)
            .output_interface(index)
            .protocol(RouteProtocol::Boot)
            .build();
        add_route(h, default, &format!("default via {GATEWAY_V6}")).await?;
    }
    Ok(mac_of(&link).unwrap_or_default())
}

async fn add_route(h: &Handle, route: RouteMessage, what: &str) -> Result<()> {
    h.route()
        .add(route)
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("adding route {what}"), e))
}

fn host_route(index: u32, ip: IpNet) -> RouteMessage {
    RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(ip.addr(), ip.prefix_len())
        .map(|b| {
            b.output_interface(index)
                .scope(RouteScope::Link)
                .protocol(RouteProtocol::Boot)
                .build()
        })
        .unwrap_or_default()
}

/// Adds `<ip> dev <host veth> scope link proto boot`; a route to the same destination via
/// another interface is a conflict (another workload owns the address).
async fn add_host_route(h: &Handle, index: u32, name: &str, ip: IpNet) -> Result<()> {
    match h.route().add(host_route(index, ip)).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(EEXIST) => match route_oif(h, ip).await? {
            Some(oif) if oif == index => Ok(()),
            _ => Err(Error::netlink(
                format!("adding host route {ip} dev {name}"),
                format!("route conflict: a route to {ip} already exists via another interface"),
            )),
        },
        Err(e) => Err(Error::netlink(
            format!("adding host route {ip} dev {name}"),
            e,
        )),
    }
}

/// The output interface of the main-table route to exactly `ip`, if there is one.
async fn route_oif(h: &Handle, ip: IpNet) -> Result<Option<u32>> {
    let query = match ip {
        IpNet::V4(_) => RouteMessageBuilder::<Ipv4Addr>::new().build(),
        IpNet::V6(_) => RouteMessageBuilder::<Ipv6Addr>::new().build(),
    };
    let mut routes = h.route().get(query).execute();
    while let Some(r) = routes
        .try_next()
        .await
        .map_err(|e| Error::netlink("listing routes", e))?
    {
        if r.header.destination_prefix_length != ip.prefix_len() {
            continue;
        }
        let dst = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(d) => Some(d.clone()),
            _ => None,
        });
        if dst == Some(ip.addr().into()) {
            return Ok(r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            }));
        }
    }
    Ok(None)
}

/// What CHECK verifies: the host veth exists and is up, each address has its host route
/// through it, and the container interface holds every address.
pub async fn verify(host: &Handle, ns: File, spec: &VethSpec) -> Result<()> {
    let fail = |what: String| Error::netlink("CHECK", what);
    let link = find_link(host, &spec.host_name)
        .await?
        .ok_or_else(|| fail(format!("host interface {} does not exist", spec.host_name)))?;
    if mac_of(&link).as_deref() != Some(&format_mac(&HOST_MAC)) {
        return Err(fail(format!(
            "{} does not have MAC ee:ee:ee:ee:ee:ee",
            spec.host_name
        )));
    }
    for ip in &spec.ips {
        if route_oif(host, *ip).await? != Some(link.header.index) {
            return Err(fail(format!("no route to {ip} via {}", spec.host_name)));
        }
    }
    let want = spec.clone();
    netns::run_in(ns, move |h| async move {
        let link = find_link(&h, &want.ifname)
            .await?
            .ok_or_else(|| fail(format!("container has no interface {}", want.ifname)))?;
        let mut addrs = h
            .address()
            .get()
            .set_link_index_filter(link.header.index)
            .execute();
        let mut have = Vec::new();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| Error::netlink("listing addresses", e))?
        {
            for attr in &a.attributes {
                if let netlink_packet_route::address::AddressAttribute::Address(ip) = attr {
                    have.push((*ip, a.header.prefix_len));
                }
            }
        }
        for ip in &want.ips {
            if !have.contains(&(ip.addr(), ip.prefix_len())) {
                return Err(fail(format!("{} does not hold {ip}", want.ifname)));
            }
        }
        Ok(())
    })
}
