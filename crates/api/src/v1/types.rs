//! The Calico v1 (`apiVersion: v1`) resource shapes calicoctl 1.x read and wrote, with v1
//! field names and strict decoding: any field v1 did not have is rejected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::as_number::AsNumber;
use crate::port::Port;
use crate::protocol::Protocol;
use crate::rule::IcmpFields;

/// `kind: ipPool`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IpPool {
    #[serde(default)]
    pub metadata: IpPoolMetadata,
    #[serde(default)]
    pub spec: IpPoolSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IpPoolMetadata {
    pub cidr: Option<Net>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IpPoolSpec {
    pub ipip: Option<Ipip>,
    #[serde(default, rename = "nat-outgoing")]
    pub nat_outgoing: bool,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Ipip {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub mode: IpipMode,
}

/// v1 IPIP mode; empty means `always`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum IpipMode {
    #[default]
    #[serde(rename = "")]
    Unset,
    #[serde(rename = "always")]
    Always,
    #[serde(rename = "cross-subnet")]
    CrossSubnet,
}

/// `kind: bgpPeer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BgpPeer {
    #[serde(default)]
    pub metadata: BgpPeerMetadata,
    #[serde(default)]
    pub spec: BgpPeerSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct BgpPeerMetadata {
    pub scope: Option<Scope>,
    #[serde(default)]
    pub node: String,
    #[serde(rename = "peerIP")]
    pub peer_ip: Option<Ip>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Scope {
    Global,
    Node,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct BgpPeerSpec {
    pub as_number: Option<AsNumber>,
}

/// `kind: policy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Policy {
    #[serde(default)]
    pub metadata: PolicyMetadata,
    #[serde(default)]
    pub spec: PolicySpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PolicySpec {
    pub order: Option<f64>,
    #[serde(default)]
    pub ingress: Vec<Rule>,
    #[serde(default)]
    pub egress: Vec<Rule>,
    #[serde(default)]
    pub selector: String,
    #[serde(default)]
    pub do_not_track: bool,
    #[serde(default, rename = "preDNAT")]
    pub pre_dnat: bool,
    #[serde(default)]
    pub types: Vec<PolicyType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum PolicyType {
    Ingress,
    Egress,
}

/// `kind: profile`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Profile {
    #[serde(default)]
    pub metadata: ProfileMetadata,
    #[serde(default)]
    pub spec: ProfileSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileSpec {
    #[serde(default)]
    pub ingress: Vec<Rule>,
    #[serde(default)]
    pub egress: Vec<Rule>,
}

/// A v1 rule: lower-case actions, `tag`/`net` alongside their newer forms.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Rule {
    pub action: Action,
    pub ip_version: Option<u8>,
    pub protocol: Option<Protocol>,
    pub icmp: Option<IcmpFields>,
    pub not_protocol: Option<Protocol>,
    #[serde(rename = "notICMP")]
    pub not_icmp: Option<IcmpFields>,
    #[serde(default)]
    pub source: EntityRule,
    #[serde(default)]
    pub destination: EntityRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Action {
    Allow,
    Deny,
    Log,
    Pass,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct EntityRule {
    #[serde(default)]
    pub tag: String,
    pub net: Option<Net>,
    #[serde(default)]
    pub nets: Vec<Net>,
    #[serde(default)]
    pub selector: String,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub not_tag: String,
    pub not_net: Option<Net>,
    #[serde(default)]
    pub not_nets: Vec<Net>,
    #[serde(default)]
    pub not_selector: String,
    #[serde(default)]
    pub not_ports: Vec<Port>,
}

/// `kind: hostEndpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HostEndpoint {
    #[serde(default)]
    pub metadata: HostEndpointMetadata,
    #[serde(default)]
    pub spec: HostEndpointSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HostEndpointMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct HostEndpointSpec {
    #[serde(default)]
    pub interface_name: String,
    #[serde(default, rename = "expectedIPs")]
    pub expected_ips: Vec<Ip>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

/// A named port on an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndpointPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// `kind: workloadEndpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadEndpoint {
    #[serde(default)]
    pub metadata: WorkloadEndpointMetadata,
    #[serde(default)]
    pub spec: WorkloadEndpointSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct WorkloadEndpointMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub workload: String,
    #[serde(default)]
    pub orchestrator: String,
    #[serde(default)]
    pub node: String,
    #[serde(default, rename = "activeInstanceID")]
    pub active_instance_id: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct WorkloadEndpointSpec {
    #[serde(default, rename = "ipNetworks")]
    pub ip_networks: Vec<Net>,
    #[serde(default, rename = "ipNATs")]
    pub ip_nats: Vec<IpNat>,
    #[serde(rename = "ipv4Gateway")]
    pub ipv4_gateway: Option<Ip>,
    #[serde(rename = "ipv6Gateway")]
    pub ipv6_gateway: Option<Ip>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub interface_name: String,
    pub mac: Option<Mac>,
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IpNat {
    #[serde(rename = "internalIP")]
    pub internal_ip: Ip,
    #[serde(rename = "externalIP")]
    pub external_ip: Ip,
}

/// `kind: node`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Node {
    #[serde(default)]
    pub metadata: NodeMetadata,
    #[serde(default)]
    pub spec: NodeSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeMetadata {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NodeSpec {
    pub bgp: Option<NodeBgp>,
    #[serde(default)]
    pub orch_refs: Vec<OrchRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NodeBgp {
    pub as_number: Option<AsNumber>,
    #[serde(rename = "ipv4Address")]
    pub ipv4_address: Option<Net>,
    #[serde(rename = "ipv6Address")]
    pub ipv6_address: Option<Net>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct OrchRef {
    #[serde(default)]
    pub node_name: String,
    pub orchestrator: String,
}

/// An address with a prefix length as v1 stored it: `10.0.0.5/24` keeps its host bits
/// and a bare address means a single-address network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Net(pub IpNet);

/// A bare IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ip(pub IpAddr);

/// A 48-bit MAC address, written back lower-case and colon-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mac(pub String);

/// Deserialises a string and parses it with `parse`, reporting `what` on failure.
fn parse_string<'de, D, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T> {
        what: &'static str,
        parse: fn(&str) -> Option<T>,
    }
    impl<T> Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).ok_or_else(|| E::custom(format!("\"{v}\" is not {}", self.what)))
        }
    }
    d.deserialize_str(V { what, parse })
}

fn parse_net(s: &str) -> Option<Net> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        .map(Net)
}

fn parse_mac(s: &str) -> Option<Mac> {
    let hex: String = if s.len() == 14 && s.as_bytes()[4] == b'.' && s.as_bytes()[9] == b'.' {
        s.split('.').collect()
    } else {
        let sep = if s.contains('-') { '-' } else { ':' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.concat()
    };
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &lower[2 * i..2 * i + 2]).collect();
    Some(Mac(pairs.join(":")))
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Net, D::Error> {
        parse_string(d, "an IP address or CIDR", parse_net)
    }
}

impl<'de> Deserialize<'de> for Ip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ip, D::Error> {
        parse_string(d, "an IP address", |s| s.parse().ok().map(Ip))
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        parse_string(d, "a MAC address", parse_mac)
    }
}
