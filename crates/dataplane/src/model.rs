//! Desired-state types: what the node agent wants programmed, with no Calico resource types.
//!
//! The node agent maps the policy engine's output into these: endpoints with their ordered
//! tiers -> policies and profiles per direction, the rules of each policy and profile, the
//! members of each selector set, and a few node-wide settings. Everything is plain data with
//! serde, so a state can be dumped, recorded and replayed (golden tests use it as input).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything the renderer needs for one node, both IP versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DesiredState {
    /// Local workload endpoints (one veth each).
    pub workloads: Vec<WorkloadEndpoint>,
    /// Host endpoints (host interfaces under policy).
    pub host_endpoints: Vec<HostEndpoint>,
    /// Policies by id (the id names the chains `cali-pi-<id>` / `cali-po-<id>`).
    pub policies: BTreeMap<String, Policy>,
    /// Profiles by name (chains `cali-pri-<name>` / `cali-pro-<name>`).
    pub profiles: BTreeMap<String, Profile>,
    /// Selector sets by id: the addresses each selector matches (set `s_<id>`).
    pub ip_sets: BTreeMap<String, Vec<IpNet>>,
    /// Named-port sets by id: the (address, protocol, port) of every endpoint whose named
    /// port a rule resolves (set `n_<id>`).
    pub named_port_sets: BTreeMap<String, Vec<NamedPortMember>>,
    /// Node-wide settings.
    pub config: NodeConfig,
}

/// A workload endpoint: its host-side interface and the policy that applies to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadEndpoint {
    /// Host-side veth name, e.g. `cali1a2b3c4d5e6`.
    pub interface: String,
    /// Traffic towards the workload.
    pub ingress: EndpointPolicy,
    /// Traffic sent by the workload.
    pub egress: EndpointPolicy,
}

/// A host endpoint: a host interface whose traffic to/from the host is policed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostEndpoint {
    /// Host interface name, e.g. `eth0`.
    pub interface: String,
    /// Traffic arriving at the host through the interface.
    pub ingress: EndpointPolicy,
    /// Traffic the host sends out through the interface.
    pub egress: EndpointPolicy,
}

/// The ordered policy for one endpoint in one direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointPolicy {
    /// Tiers in evaluation order, each with its applicable policies in order.
    /// Only tiers with at least one applicable policy belong here.
    pub tiers: Vec<TierPolicies>,
    /// Profiles in order, consulted when no tier gave a verdict.
    pub profiles: Vec<String>,
}

/// One tier's applicable policies for an endpoint and direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierPolicies {
    /// Tier name (for comments).
    pub name: String,
    /// Policy ids in order.
    pub policies: Vec<String>,
    /// What happens to traffic no policy of the tier matched.
    pub default_action: TierDefault,
}

/// A tier's default action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierDefault {
    /// End-of-tier drop (Calico's default).
    #[default]
    Deny,
    /// Continue with the next tier.
    Pass,
}

/// A policy: its tier (for comments) and its rules per direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Tier the policy belongs to.
    pub tier: String,
    /// Rules applied to traffic towards the endpoint.
    pub ingress: Vec<Rule>,
    /// Rules applied to traffic sent by the endpoint.
    pub egress: Vec<Rule>,
}

/// A profile: rules per direction, evaluated like a policy (Pass behaves as no match).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Rules applied to traffic towards the endpoint.
    pub ingress: Vec<Rule>,
    /// Rules applied to traffic sent by the endpoint.
    pub egress: Vec<Rule>,
}

/// One rule: every present field must match (AND); lists inside a field are OR.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    /// What to do with a matching packet.
    pub action: Action,
    /// Restrict the rule to one IP version.
    pub ip_version: Option<IpVersion>,
    /// Protocol that must match.
    pub protocol: Option<Protocol>,
    /// Protocol that must not match.
    pub not_protocol: Option<Protocol>,
    /// ICMP (or ICMPv6) type/code that must match.
    pub icmp: Option<IcmpMatch>,
    /// ICMP (or ICMPv6) type/code that must not match.
    pub not_icmp: Option<IcmpMatch>,
    /// Source side of the packet.
    pub source: EndpointMatch,
    /// Destination side of the packet.
    pub destination: EndpointMatch,
}

/// A rule action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Accept for this endpoint and direction.
    #[default]
    Allow,
    /// Drop.
    Deny,
    /// Skip the rest of the tier, go to the next tier.
    Pass,
    /// Log (nflog) and continue with the next rule.
    Log,
}

/// IP version of a rule or a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpVersion {
    /// IPv4 (`table ip calico`).
    V4,
    /// IPv6 (`table ip6 calico`).
    V6,
}

/// A layer-4 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1); only in IPv4 rules.
    Icmp,
    /// ICMPv6 (58); only in IPv6 rules.
    IcmpV6,
    /// SCTP (132).
    Sctp,
    /// UDP-Lite (136).
    UdpLite,
    /// Any other protocol number.
    Number(u8),
}

/// ICMP type and optional code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpMatch {
    /// ICMP type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code; `None` = any code.
    #[serde(default)]
    pub code: Option<u8>,
}

/// Matches on one side (source or destination) of a packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointMatch {
    /// Address must be in one of these networks.
    pub nets: Vec<IpNet>,
    /// Address must be in none of these networks.
    pub not_nets: Vec<IpNet>,
    /// Address must be in this selector set (id into `DesiredState::ip_sets`).
    pub selector_set: Option<String>,
    /// Address must be in none of these selector sets.
    pub not_selector_sets: Vec<String>,
    /// Port must be one of these (needs a port-carrying protocol); together with
    /// `named_port_sets`, any one must match.
    pub ports: Vec<PortRange>,
    /// (Address, protocol, port) must be in one of these named-port sets (ids into
    /// `DesiredState::named_port_sets`).
    pub named_port_sets: Vec<String>,
    /// Port must be none of these.
    pub not_ports: Vec<PortRange>,
    /// (Address, protocol, port) must be in none of these named-port sets.
    pub not_named_port_sets: Vec<String>,
}

/// One member of a named-port set: an endpoint address and the port its name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedPortMember {
    /// Endpoint address.
    pub addr: IpAddr,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// Port number.
    pub port: u16,
}

/// An inclusive port range; `first == last` for a single port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

/// Node-wide dataplane settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Interface name prefix of workload veths (`cali`).
    pub workload_iface_prefix: String,
    /// What happens to workload -> host traffic after the workload's egress policy.
    pub endpoint_to_host_action: EndpointToHostAction,
    /// Inbound failsafe ports for host endpoints.
    pub failsafe_inbound: Vec<FailsafePort>,
    /// Outbound failsafe ports for host endpoints.
    pub failsafe_outbound: Vec<FailsafePort>,
    /// IP pools: all go into `all_pools`; those with `nat_outgoing` into `masq_pools`.
    pub ip_pools: Vec<IpPool>,
    /// nflog group for Log rules on ingress (egress uses `group + 1`).
    pub log_group: u16,
    /// Prefix of Log rules.
    pub log_prefix: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        let tcp = |port| FailsafePort {
            protocol: Protocol::Tcp,
            port,
        };
        let udp = |port| FailsafePort {
            protocol: Protocol::Udp,
            port,
        };
        NodeConfig {
            workload_iface_prefix: "cali".to_owned(),
            endpoint_to_host_action: EndpointToHostAction::Drop,
            failsafe_inbound: vec![
                tcp(22),
                udp(68),
                tcp(179),
                tcp(2379),
                tcp(2380),
                tcp(5473),
                tcp(6443),
                tcp(6666),
                tcp(6667),
            ],
            failsafe_outbound: vec![
                udp(53),
                udp(67),
                tcp(179),
                tcp(2379),
                tcp(2380),
                tcp(5473),
                tcp(6443),
                tcp(6666),
                tcp(6667),
            ],
            ip_pools: Vec::new(),
            log_group: 1,
            log_prefix: "calico-packet".to_owned(),
        }
    }
}

/// Calico's `defaultEndpointToHostAction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointToHostAction {
    /// Drop workload -> host traffic.
    #[default]
    Drop,
    /// Continue with host-endpoint processing in INPUT.
    Return,
    /// Accept (once the workload's egress policy allowed it).
    Accept,
}

/// A failsafe port: always allowed to/from the host through host endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailsafePort {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Destination port.
    pub port: u16,
}

/// An IP pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpPool {
    /// Pool CIDR.
    pub cidr: IpNet,
    /// Masquerade traffic from this pool to destinations outside all pools.
    #[serde(default)]
    pub nat_outgoing: bool,
}
