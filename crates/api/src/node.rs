//! Node: a Calico host with its BGP addresses, tunnel addresses and orchestrator references.

use serde::{Deserialize, Serialize};

use crate::as_number::AsNumber;
use crate::check::{self, Check, Ctx};
use crate::kind::Kind;
use crate::meta::ObjectMeta;

/// A Calico node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default, skip_serializing_if = "NodeStatus::is_empty")]
    pub status: NodeStatus,
}

/// Node spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<NodeBgpSpec>,
    #[serde(
        default,
        rename = "ipv4VXLANTunnelAddr",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_vxlan_tunnel_addr: String,
    #[serde(
        default,
        rename = "vxlanTunnelMACAddr",
        skip_serializing_if = "String::is_empty"
    )]
    pub vxlan_tunnel_mac_addr: String,
    #[serde(
        default,
        rename = "ipv6VXLANTunnelAddr",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_vxlan_tunnel_addr: String,
    #[serde(
        default,
        rename = "vxlanTunnelMACAddrV6",
        skip_serializing_if = "String::is_empty"
    )]
    pub vxlan_tunnel_mac_addr_v6: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orch_refs: Vec<OrchRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<NodeWireguardSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<NodeInterface>,
}

/// The node's BGP identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeBgpSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<AsNumber>,
    /// Node IPv4 address with prefix, e.g. `10.0.0.5/24`.
    #[serde(
        default,
        rename = "ipv4Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    #[serde(
        default,
        rename = "ipv6Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    #[serde(
        default,
        rename = "ipv4IPIPTunnelAddr",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_ipip_tunnel_addr: String,
    #[serde(
        default,
        rename = "routeReflectorClusterID",
        skip_serializing_if = "String::is_empty"
    )]
    pub route_reflector_cluster_id: String,
}

/// Orchestrator reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrchRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    #[serde(default)]
    pub orchestrator: String,
}

/// WireGuard device addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeWireguardSpec {
    #[serde(
        default,
        rename = "interfaceIPv4Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub interface_ipv4_address: String,
    #[serde(
        default,
        rename = "interfaceIPv6Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub interface_ipv6_address: String,
}

/// One of the node's addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAddress {
    pub address: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<NodeAddressType>,
}

/// Where a node address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeAddressType {
    #[serde(rename = "CalicoNodeIP")]
    CalicoNodeIp,
    #[serde(rename = "InternalIP")]
    InternalIp,
    #[serde(rename = "ExternalIP")]
    ExternalIp,
}

/// A host interface and its addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInterface {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// Node status, written by calico-node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wireguard_public_key: String,
    #[serde(
        default,
        rename = "wireguardPublicKeyV6",
        skip_serializing_if = "String::is_empty"
    )]
    pub wireguard_public_key_v6: String,
    #[serde(default, rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
}

impl NodeStatus {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == NodeStatus::default()
    }
}

fn cidr_of(ctx: &Ctx, field: &str, s: &str, version: u8) -> Check {
    if s.is_empty() {
        return Ok(());
    }
    let net: ipnet::IpNet = s.parse().map_err(|_| {
        ctx.fail(
            field,
            format!("\"{s}\" is not an address with prefix length (e.g. 10.0.0.5/24)"),
        )
    })?;
    ctx.ensure(check::ip_version(net.addr()) == version, field, || {
        format!("\"{s}\" is not an IPv{version} address")
    })
}

fn mac(ctx: &Ctx, field: &str, s: &str) -> Check {
    ctx.ensure(s.is_empty() || check::is_mac(s), field, || {
        format!("\"{s}\" is not a MAC address")
    })
}

impl Node {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::Node, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        if let Some(b) = &s.bgp {
            ctx.ensure(*b != NodeBgpSpec::default(), "spec.bgp", || {
                "must not be empty when present".to_string()
            })?;
            cidr_of(&ctx, "spec.bgp.ipv4Address", &b.ipv4_address, 4)?;
            cidr_of(&ctx, "spec.bgp.ipv6Address", &b.ipv6_address, 6)?;
            check::optional_ip_of(
                &ctx,
                "spec.bgp.ipv4IPIPTunnelAddr",
                &b.ipv4_ipip_tunnel_addr,
                4,
            )?;
            check::optional_ip_of(
                &ctx,
                "spec.bgp.routeReflectorClusterID",
                &b.route_reflector_cluster_id,
                4,
            )?;
            ctx.ensure(
                b.as_number != Some(AsNumber(0)),
                "spec.bgp.asNumber",
                || "AS number must be between 1 and 4294967295".to_string(),
            )?;
        }
        check::optional_ip_of(
            &ctx,
            "spec.ipv4VXLANTunnelAddr",
            &s.ipv4_vxlan_tunnel_addr,
            4,
        )?;
        check::optional_ip_of(
            &ctx,
            "spec.ipv6VXLANTunnelAddr",
            &s.ipv6_vxlan_tunnel_addr,
            6,
        )?;
        mac(&ctx, "spec.vxlanTunnelMACAddr", &s.vxlan_tunnel_mac_addr)?;
        mac(
            &ctx,
            "spec.vxlanTunnelMACAddrV6",
            &s.vxlan_tunnel_mac_addr_v6,
        )?;
        if let Some(w) = &s.wireguard {
            check::optional_ip_of(
                &ctx,
                "spec.wireguard.interfaceIPv4Address",
                &w.interface_ipv4_address,
                4,
            )?;
            check::optional_ip_of(
                &ctx,
                "spec.wireguard.interfaceIPv6Address",
                &w.interface_ipv6_address,
                6,
            )?;
        }
        for (i, o) in s.orch_refs.iter().enumerate() {
            ctx.ensure(
                !o.orchestrator.is_empty(),
                &format!("spec.orchRefs[{i}].orchestrator"),
                || "orchestrator must be specified".to_string(),
            )?;
        }
        for (i, a) in s.addresses.iter().enumerate() {
            check::net(&ctx, &format!("spec.addresses[{i}].address"), &a.address)?;
        }
        for (i, c) in self.status.pod_cidrs.iter().enumerate() {
            check::net(&ctx, &format!("status.podCIDRs[{i}]"), c)?;
        }
        Ok(())
    }
}
