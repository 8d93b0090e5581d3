//! FelixConfiguration: per-cluster (`default`) or per-node (`node.<name>`) dataplane agent
//! settings. Every field is optional; unset means "use the built-in default".

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::duration::Duration;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::port::Port;

/// Dataplane agent settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FelixConfiguration {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: FelixConfigurationSpec,
}

/// FelixConfiguration spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixConfigurationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_screen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_sys: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_exclude: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_insert_mode: Option<ChainInsertMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_endpoint_to_host_action: Option<EndpointToHostAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_filter_allow_action: Option<AllowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_mangle_allow_action: Option<AllowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_filter_deny_action: Option<DenyAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_mark_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_mark_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_backend: Option<IptablesBackend>,
    #[serde(
        default,
        rename = "nftablesMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_mode: Option<NftablesMode>,
    #[serde(
        default,
        rename = "bpfEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_enabled: Option<bool>,
    #[serde(
        default,
        rename = "ipipEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipip_enabled: Option<bool>,
    #[serde(default, rename = "ipipMTU", skip_serializing_if = "Option::is_none")]
    pub ipip_mtu: Option<i32>,
    #[serde(
        default,
        rename = "vxlanEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_enabled: Option<bool>,
    #[serde(default, rename = "vxlanMTU", skip_serializing_if = "Option::is_none")]
    pub vxlan_mtu: Option<i32>,
    #[serde(
        default,
        rename = "vxlanMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_mtu_v6: Option<i32>,
    #[serde(default, rename = "vxlanPort", skip_serializing_if = "Option::is_none")]
    pub vxlan_port: Option<i32>,
    #[serde(default, rename = "vxlanVNI", skip_serializing_if = "Option::is_none")]
    pub vxlan_vni: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_enabled: Option<bool>,
    #[serde(
        default,
        rename = "wireguardEnabledV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_enabled_v6: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_listening_port: Option<i32>,
    #[serde(
        default,
        rename = "wireguardListeningPortV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_listening_port_v6: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_interface_name: Option<String>,
    #[serde(
        default,
        rename = "wireguardInterfaceNameV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_interface_name_v6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_routing_rule_priority: Option<i32>,
    #[serde(
        default,
        rename = "wireguardMTU",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu: Option<i32>,
    #[serde(
        default,
        rename = "wireguardMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu_v6: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_inbound_host_ports: Option<Vec<ProtoPort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_outbound_host_ports: Option<Vec<ProtoPort>>,
    #[serde(
        default,
        rename = "natOutgoingAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_outgoing_address: Option<String>,
    #[serde(
        default,
        rename = "natPortRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_port_range: Option<Port>,
    #[serde(
        default,
        rename = "natOutgoingExclusions",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_outgoing_exclusions: Option<NatOutgoingExclusions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_loop_prevention: Option<ServiceLoopPrevention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsets_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
    #[serde(
        default,
        rename = "reportingTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub reporting_ttl: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_ranges: Option<Vec<RouteTableRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_range: Option<RouteTableRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_external_routes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_route_protocol: Option<i32>,
    #[serde(
        default,
        rename = "ipv6Support",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_support: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_node_port_ranges: Option<Vec<Port>>,
    #[serde(
        default,
        rename = "mtuIfacePattern",
        skip_serializing_if = "Option::is_none"
    )]
    pub mtu_iface_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting_enabled: Option<bool>,
    #[serde(
        default,
        rename = "ipForwarding",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_forwarding: Option<EnabledDisabled>,
}

/// Whether Calico's chains go first or last in the kernel's built-in chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChainInsertMode {
    #[serde(alias = "insert")]
    Insert,
    #[serde(alias = "append")]
    Append,
}

/// What happens to traffic from a workload to its own host when no policy decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndpointToHostAction {
    Drop,
    Return,
    Accept,
}

/// How an allow verdict is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllowAction {
    Accept,
    Return,
}

/// How a deny verdict is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DenyAction {
    Drop,
    Reject,
}

/// iptables flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IptablesBackend {
    Legacy,
    #[serde(rename = "NFT")]
    Nft,
    Auto,
}

/// Whether the nftables dataplane is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NftablesMode {
    Enabled,
    Disabled,
    Auto,
}

/// Which destinations are exempt from NAT-outgoing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NatOutgoingExclusions {
    IPPoolsOnly,
    IPPoolsAndHostIPs,
}

/// What to do with traffic to service IPs that no service claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceLoopPrevention {
    Drop,
    Reject,
    Disabled,
}

/// A two-valued switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnabledDisabled {
    Enabled,
    Disabled,
}

/// A failsafe port: protocol, port and optionally a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtoPort {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
}

/// An inclusive range of routing table indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableRange {
    pub min: u32,
    pub max: u32,
}

const LOG_LEVELS: &[&str] = &[
    "trace", "debug", "info", "warning", "error", "fatal", "none",
];
const MAX_NODE_PORT_RANGES: usize = 7;

fn log_level(ctx: &Ctx, field: &str, v: &Option<String>) -> Check {
    match v {
        Some(l) => ctx.ensure(LOG_LEVELS.contains(&l.to_ascii_lowercase().as_str()), field, || {
            format!("unknown log level \"{l}\", expected one of Trace, Debug, Info, Warning, Error, Fatal, None")
        }),
        None => Ok(()),
    }
}

fn port_number(ctx: &Ctx, field: &str, v: Option<i32>) -> Check {
    match v {
        Some(p) => ctx.ensure((1..=65535).contains(&p), field, || {
            format!("port {p} is not in 1..65535")
        }),
        None => Ok(()),
    }
}

fn non_negative(ctx: &Ctx, field: &str, v: Option<i32>) -> Check {
    match v {
        Some(n) => ctx.ensure(n >= 0, field, || format!("{n} must not be negative")),
        None => Ok(()),
    }
}

fn proto_ports(ctx: &Ctx, field: &str, v: &Option<Vec<ProtoPort>>) -> Check {
    for (i, p) in v.iter().flatten().enumerate() {
        let at = format!("{field}[{i}]");
        ctx.ensure(
            ["tcp", "udp", "sctp"].contains(&p.protocol.to_ascii_lowercase().as_str()),
            &format!("{at}.protocol"),
            || format!("protocol must be TCP, UDP or SCTP, not \"{}\"", p.protocol),
        )?;
        if !p.net.is_empty() {
            check::net(ctx, &format!("{at}.net"), &p.net)?;
        }
    }
    Ok(())
}

impl FelixConfiguration {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::FelixConfiguration, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        log_level(&ctx, "spec.logSeverityScreen", &s.log_severity_screen)?;
        log_level(&ctx, "spec.logSeverityFile", &s.log_severity_file)?;
        log_level(&ctx, "spec.logSeveritySys", &s.log_severity_sys)?;
        for (field, v) in [
            ("spec.vxlanPort", s.vxlan_port),
            ("spec.wireguardListeningPort", s.wireguard_listening_port),
            (
                "spec.wireguardListeningPortV6",
                s.wireguard_listening_port_v6,
            ),
            ("spec.healthPort", s.health_port),
            ("spec.prometheusMetricsPort", s.prometheus_metrics_port),
        ] {
            port_number(&ctx, field, v)?;
        }
        for (field, v) in [
            ("spec.ipipMTU", s.ipip_mtu),
            ("spec.vxlanMTU", s.vxlan_mtu),
            ("spec.vxlanMTUV6", s.vxlan_mtu_v6),
            ("spec.wireguardMTU", s.wireguard_mtu),
            ("spec.wireguardMTUV6", s.wireguard_mtu_v6),
            ("spec.deviceRouteProtocol", s.device_route_protocol),
        ] {
            non_negative(&ctx, field, v)?;
        }
        if let Some(vni) = s.vxlan_vni {
            ctx.ensure((1..=16_777_215).contains(&vni), "spec.vxlanVNI", || {
                format!("VNI {vni} is not in 1..16777215")
            })?;
        }
        proto_ports(
            &ctx,
            "spec.failsafeInboundHostPorts",
            &s.failsafe_inbound_host_ports,
        )?;
        proto_ports(
            &ctx,
            "spec.failsafeOutboundHostPorts",
            &s.failsafe_outbound_host_ports,
        )?;
        if let Some(a) = &s.nat_outgoing_address {
            if !a.is_empty() {
                check::ip(&ctx, "spec.natOutgoingAddress", a)?;
            }
        }
        if let Some(Port::Named(n)) = &s.nat_port_range {
            return Err(ctx.fail(
                "spec.natPortRange",
                format!("must be numeric, not the named port \"{n}\""),
            ));
        }
        if let Some(ranges) = &s.kube_node_port_ranges {
            ctx.ensure(
                ranges.len() <= MAX_NODE_PORT_RANGES,
                "spec.kubeNodePortRanges",
                || format!("node port ranges list is too long (max {MAX_NODE_PORT_RANGES})"),
            )?;
            ctx.ensure(
                ranges.iter().all(|p| !matches!(p, Port::Named(_))),
                "spec.kubeNodePortRanges",
                || "node port ranges should not contain named ports".to_string(),
            )?;
        }
        if let Some(r) = s.route_table_range {
            ctx.ensure(
                r.min >= 1 && r.min <= r.max && r.max <= 250,
                "spec.routeTableRange",
                || "must be a range of route table indices within 1..250".to_string(),
            )?;
        }
        for (i, r) in s.route_table_ranges.iter().flatten().enumerate() {
            ctx.ensure(
                r.min >= 1 && r.min <= r.max,
                &format!("spec.routeTableRanges[{i}]"),
                || format!("{}-{} is not a range with 1 <= min <= max", r.min, r.max),
            )?;
        }
        if let Some(name) = &s.wireguard_interface_name {
            ctx.ensure(
                check::is_interface_name(name),
                "spec.wireguardInterfaceName",
                || format!("\"{name}\" is not a valid interface name"),
            )?;
        }
        Ok(())
    }
}
