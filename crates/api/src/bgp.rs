//! BGPConfiguration (cluster-wide `default` or per-node `node.<name>` BGP settings),
//! BGPPeer (explicit peerings) and BGPFilter (per-peer route filters): types and validation.

use serde::{Deserialize, Serialize};

use crate::as_number::AsNumber;
use crate::check::{self, Check, Ctx};
use crate::duration::Duration;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::skip::is_false;

/// BGP settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BGPConfiguration {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: BGPConfigurationSpec,
}

/// BGPConfiguration spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPConfigurationSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_severity_screen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_to_node_mesh_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<AsNumber>,
    #[serde(
        default,
        rename = "serviceLoadBalancerIPs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_load_balancer_ips: Vec<CidrBlock>,
    #[serde(
        default,
        rename = "serviceExternalIPs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_external_ips: Vec<CidrBlock>,
    #[serde(
        default,
        rename = "serviceClusterIPs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_cluster_ips: Vec<CidrBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_load_balancer_aggregation: Option<LoadBalancerAggregation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<Community>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_advertisements: Vec<PrefixAdvertisement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_password: Option<BgpPassword>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_max_restart_time: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_mode: Option<BindMode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_interfaces: Vec<String>,
    #[serde(
        default,
        rename = "localWorkloadPeeringIPV4",
        skip_serializing_if = "String::is_empty"
    )]
    pub local_workload_peering_ipv4: String,
    #[serde(
        default,
        rename = "localWorkloadPeeringIPV6",
        skip_serializing_if = "String::is_empty"
    )]
    pub local_workload_peering_ipv6: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_cluster_routes: Option<ProgramClusterRoutes>,
    #[serde(
        default,
        rename = "ipv4NormalRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_normal_route_priority: Option<i32>,
    #[serde(
        default,
        rename = "ipv6NormalRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_normal_route_priority: Option<i32>,
}

/// `{cidr: ...}` entry of the service advertisement lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CidrBlock {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
}

/// Whether LoadBalancer IPs are advertised one by one or as the configured ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LoadBalancerAggregation {
    Enabled,
    Disabled,
}

/// A named BGP community value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Community {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// Communities attached to routes within a CIDR.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixAdvertisement {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
}

/// A password taken from a Kubernetes secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpPassword {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// Reference to one key of a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Which address BIRD listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BindMode {
    None,
    #[serde(rename = "NodeIP")]
    NodeIp,
}

/// Which cluster routes BIRD programs into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProgramClusterRoutes {
    Enabled,
    Disabled,
    EnabledNoEncapOnly,
}

const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warning", "error", "fatal"];

/// Fields that only the cluster-wide `default` BGPConfiguration may set.
fn global_only_fields(s: &BGPConfigurationSpec) -> Option<&'static str> {
    [
        (
            "spec.nodeToNodeMeshEnabled",
            s.node_to_node_mesh_enabled.is_some(),
        ),
        ("spec.asNumber", s.as_number.is_some()),
        ("spec.serviceClusterIPs", !s.service_cluster_ips.is_empty()),
        (
            "spec.serviceExternalIPs",
            !s.service_external_ips.is_empty(),
        ),
        (
            "spec.serviceLoadBalancerIPs",
            !s.service_load_balancer_ips.is_empty(),
        ),
        ("spec.nodeMeshPassword", s.node_mesh_password.is_some()),
        (
            "spec.nodeMeshMaxRestartTime",
            s.node_mesh_max_restart_time.is_some(),
        ),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(f, _)| f)
}

/// Checks a community value: `aa:nn` (16-bit parts) or `aa:nn:mm` (32-bit parts).
pub(crate) fn is_community_value(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    let all_digits = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    all_digits
        && match parts.len() {
            2 => parts.iter().all(|p| p.parse::<u16>().is_ok()),
            3 => parts.iter().all(|p| p.parse::<u32>().is_ok()),
            _ => false,
        }
}

fn password(ctx: &Ctx, field: &str, p: &BgpPassword) -> Check {
    let Some(r) = &p.secret_key_ref else {
        return Err(ctx.fail(field, "secretKeyRef must be specified"));
    };
    check::subdomain_name(ctx, &format!("{field}.secretKeyRef.name"), &r.name)?;
    ctx.ensure(
        !r.key.is_empty(),
        &format!("{field}.secretKeyRef.key"),
        || "key must be specified".to_string(),
    )
}

fn as_number(ctx: &Ctx, field: &str, asn: Option<AsNumber>) -> Check {
    ctx.ensure(asn != Some(AsNumber(0)), field, || {
        "AS number must be between 1 and 4294967295".to_string()
    })
}

impl BGPConfiguration {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::BGPConfiguration, &self.metadata);
        let name = &self.metadata.name;
        check::subdomain_name(&ctx, "metadata.name", name)?;
        let s = &self.spec;
        if name.starts_with("node.") {
            if let Some(f) = global_only_fields(s) {
                return Err(ctx.fail(
                    f,
                    "can only be set in the cluster-wide \"default\" BGPConfiguration",
                ));
            }
        }
        let lvl = &s.log_severity_screen;
        ctx.ensure(
            lvl.is_empty() || LOG_LEVELS.contains(&lvl.to_ascii_lowercase().as_str()),
            "spec.logSeverityScreen",
            || format!("unknown log level \"{lvl}\", expected one of Trace, Debug, Info, Warning, Error, Fatal"),
        )?;
        as_number(&ctx, "spec.asNumber", s.as_number)?;
        ctx.ensure(s.listen_port != Some(0), "spec.listenPort", || {
            "must be between 1 and 65535".to_string()
        })?;
        for (field, list) in [
            ("spec.serviceClusterIPs", &s.service_cluster_ips),
            ("spec.serviceExternalIPs", &s.service_external_ips),
            ("spec.serviceLoadBalancerIPs", &s.service_load_balancer_ips),
        ] {
            for (i, b) in list.iter().enumerate() {
                check::net(&ctx, &format!("{field}[{i}].cidr"), &b.cidr)?;
            }
        }
        for (i, c) in s.communities.iter().enumerate() {
            let at = format!("spec.communities[{i}]");
            check::subdomain_name(&ctx, &format!("{at}.name"), &c.name)?;
            ctx.ensure(is_community_value(&c.value), &format!("{at}.value"), || {
                format!("\"{}\" is not a community value aa:nn or aa:nn:mm", c.value)
            })?;
        }
        for (i, pa) in s.prefix_advertisements.iter().enumerate() {
            let at = format!("spec.prefixAdvertisements[{i}]");
            check::net(&ctx, &format!("{at}.cidr"), &pa.cidr)?;
            for (j, c) in pa.communities.iter().enumerate() {
                let known = is_community_value(c) || s.communities.iter().any(|d| &d.name == c);
                ctx.ensure(known, &format!("{at}.communities[{j}]"), || {
                    format!("community \"{c}\" is neither a value nor a name defined in spec.communities")
                })?;
            }
        }
        if let Some(p) = &s.node_mesh_password {
            ctx.ensure(
                s.node_to_node_mesh_enabled != Some(false),
                "spec.nodeMeshPassword",
                || "only valid when nodeToNodeMeshEnabled is true".to_string(),
            )?;
            password(&ctx, "spec.nodeMeshPassword", p)?;
        }
        for (i, iface) in s.ignored_interfaces.iter().enumerate() {
            let ok = (1..=15).contains(&iface.len())
                && iface
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'*' | b'-'));
            ctx.ensure(ok, &format!("spec.ignoredInterfaces[{i}]"), || {
                format!("\"{iface}\" is not an interface name or pattern")
            })?;
        }
        check::optional_ip_of(
            &ctx,
            "spec.localWorkloadPeeringIPV4",
            &s.local_workload_peering_ipv4,
            4,
        )?;
        check::optional_ip_of(
            &ctx,
            "spec.localWorkloadPeeringIPV6",
            &s.local_workload_peering_ipv6,
            6,
        )?;
        for (field, prio) in [
            ("spec.ipv4NormalRoutePriority", s.ipv4_normal_route_priority),
            ("spec.ipv6NormalRoutePriority", s.ipv6_normal_route_priority),
        ] {
            if let Some(p) = prio {
                ctx.ensure((1..=2_147_483_646).contains(&p), field, || {
                    "must be between 1 and 2147483646".to_string()
                })?;
            }
        }
        Ok(())
    }
}

/// An explicit BGP peering.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BGPPeer {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: BGPPeerSpec,
}

/// BGPPeer spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPeerSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_selector: String,
    #[serde(default, rename = "peerIP", skip_serializing_if = "String::is_empty")]
    pub peer_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<AsNumber>,
    #[serde(
        default,
        rename = "localASNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_as_number: Option<AsNumber>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer_selector: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_original_next_hop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_mode: Option<NextHopMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<BgpPassword>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<SourceAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart_time: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<Duration>,
    #[serde(
        default,
        rename = "numAllowedLocalASNumbers",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_allowed_local_as_numbers: Option<i32>,
    #[serde(
        default,
        rename = "ttlSecurity",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl_security: Option<u8>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reachable_by: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_workload_selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_peering: Option<ReversePeering>,
}

/// How the next hop is set on routes sent to the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NextHopMode {
    Auto,
    #[serde(rename = "Self")]
    SelfHop,
    Keep,
}

/// Whether BIRD sets the node IP as source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceAddress {
    #[serde(rename = "UseNodeIP")]
    UseNodeIp,
    None,
}

/// Whether a selector-based peering implies the reverse session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReversePeering {
    Auto,
    Manual,
}

/// Splits `1.2.3.4`, `1.2.3.4:1179` or `[fd00::1]:1179` into address and optional port.
pub fn parse_peer_ip(s: &str) -> Result<(std::net::IpAddr, Option<u16>), String> {
    let bad = || format!("\"{s}\" is not <IP>, <IPv4>:<port> or [<IPv6>]:<port>");
    if let Ok(ip) = s.parse() {
        return Ok((ip, None));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        let ip: std::net::Ipv6Addr = h.parse().map_err(|_| bad())?;
        (std::net::IpAddr::V6(ip), p)
    } else {
        let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
        let ip: std::net::Ipv4Addr = h.parse().map_err(|_| bad())?;
        (std::net::IpAddr::V4(ip), p)
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host, Some(p))),
        _ => Err(bad()),
    }
}

impl BGPPeer {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::BGPPeer, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        check::optional_name(&ctx, "spec.node", &s.node)?;
        check::selector(&ctx, "spec.nodeSelector", &s.node_selector, false)?;
        check::selector(&ctx, "spec.peerSelector", &s.peer_selector, false)?;
        check::selector(
            &ctx,
            "spec.localWorkloadSelector",
            &s.local_workload_selector,
            false,
        )?;
        ctx.ensure(
            s.node.is_empty() || s.node_selector.is_empty(),
            "spec.nodeSelector",
            || "node and nodeSelector cannot both be set".to_string(),
        )?;
        ctx.ensure(
            s.peer_ip.is_empty() || s.peer_selector.is_empty(),
            "spec.peerSelector",
            || "peerIP and peerSelector cannot both be set".to_string(),
        )?;
        let peer = if s.peer_ip.is_empty() {
            None
        } else {
            Some(parse_peer_ip(&s.peer_ip).map_err(|e| ctx.fail("spec.peerIP", e))?)
        };
        as_number(&ctx, "spec.asNumber", s.as_number)?;
        as_number(&ctx, "spec.localASNumber", s.local_as_number)?;
        ctx.ensure(
            s.peer_selector.is_empty() || s.as_number.is_none(),
            "spec.asNumber",
            || {
                "cannot be set together with peerSelector (the AS comes from the peer node)"
                    .to_string()
            },
        )?;
        if !s.local_workload_selector.is_empty() {
            ctx.ensure(
                s.peer_ip.is_empty() && s.peer_selector.is_empty(),
                "spec.localWorkloadSelector",
                || "cannot be combined with peerIP or peerSelector".to_string(),
            )?;
            ctx.ensure(s.as_number.is_some(), "spec.asNumber", || {
                "must be set with localWorkloadSelector".to_string()
            })?;
        }
        ctx.ensure(
            !(s.keep_original_next_hop && s.next_hop_mode.is_some()),
            "spec.nextHopMode",
            || "cannot be set together with keepOriginalNextHop: true".to_string(),
        )?;
        if let Some(p) = &s.password {
            password(&ctx, "spec.password", p)?;
        }
        if let Some(n) = s.num_allowed_local_as_numbers {
            ctx.ensure(n >= 0, "spec.numAllowedLocalASNumbers", || {
                "must not be negative".to_string()
            })?;
        }
        if !s.reachable_by.is_empty() {
            let gw = check::ip(&ctx, "spec.reachableBy", &s.reachable_by)?;
            let Some((peer_ip, _)) = peer else {
                return Err(ctx.fail("spec.reachableBy", "requires peerIP to be set"));
            };
            ctx.ensure(
                gw.is_ipv4() == peer_ip.is_ipv4(),
                "spec.reachableBy",
                || "reachableBy and peerIP address families differ".to_string(),
            )?;
        }
        for (i, f) in s.filters.iter().enumerate() {
            check::subdomain_name(&ctx, &format!("spec.filters[{i}]"), f)?;
        }
        Ok(())
    }
}

/// Route filters for BGP peers that name it in `spec.filters` (`projectcalico.org/v3`
/// BGPFilter): per family and direction, rules checked in order, the first match decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BGPFilter {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: BGPFilterSpec,
}

/// BGPFilter spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterSpec {
    #[serde(default, rename = "exportV4", skip_serializing_if = "Vec::is_empty")]
    pub export_v4: Vec<BGPFilterRule>,
    #[serde(default, rename = "importV4", skip_serializing_if = "Vec::is_empty")]
    pub import_v4: Vec<BGPFilterRule>,
    #[serde(default, rename = "exportV6", skip_serializing_if = "Vec::is_empty")]
    pub export_v6: Vec<BGPFilterRule>,
    #[serde(default, rename = "importV6", skip_serializing_if = "Vec::is_empty")]
    pub import_v6: Vec<BGPFilterRule>,
}

/// One filter rule (Calico's BGPFilterRuleV4 and BGPFilterRuleV6 have the same shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPFilterRule {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<BGPFilterPrefixLength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BGPFilterSource>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_operator: Option<BGPFilterMatchOperator>,
    pub action: BGPFilterAction,
}

/// Bounds on the prefix length of matched routes (inclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BGPFilterPrefixLength {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
}

/// Where a matched route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BGPFilterSource {
    /// Learned from BGP peers (not originated by this node).
    RemotePeers,
}

/// How a rule's `cidr` is compared with a route's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BGPFilterMatchOperator {
    Equal,
    NotEqual,
    In,
    NotIn,
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BGPFilterAction {
    Accept,
    Reject,
}

impl BGPFilter {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::BGPFilter, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        for (field, rules, v6) in [
            ("exportV4", &s.export_v4, false),
            ("importV4", &s.import_v4, false),
            ("exportV6", &s.export_v6, true),
            ("importV6", &s.import_v6, true),
        ] {
            for (i, r) in rules.iter().enumerate() {
                filter_rule(&ctx, &format!("spec.{field}[{i}]"), r, v6)?;
            }
        }
        Ok(())
    }
}

fn filter_rule(ctx: &Ctx, path: &str, r: &BGPFilterRule, v6: bool) -> Check {
    let max_len = if v6 { 128 } else { 32 };
    if !r.cidr.is_empty() {
        let net: ipnet::IpNet = r.cidr.parse().map_err(|_| {
            ctx.fail(
                format!("{path}.cidr"),
                format!("\"{}\" is not a CIDR", r.cidr),
            )
        })?;
        ctx.ensure(net.addr().is_ipv6() == v6, &format!("{path}.cidr"), || {
            format!(
                "\"{}\" is not an IPv{} CIDR",
                r.cidr,
                if v6 { 6 } else { 4 }
            )
        })?;
    }
    ctx.ensure(
        r.cidr.is_empty() == r.match_operator.is_none(),
        &format!("{path}.matchOperator"),
        || "cidr and matchOperator must be set together".to_string(),
    )?;
    if let Some(p) = r.prefix_length {
        ctx.ensure(!r.cidr.is_empty(), &format!("{path}.prefixLength"), || {
            "requires cidr".to_string()
        })?;
        for (bound, v) in [("min", p.min), ("max", p.max)] {
            if let Some(v) = v {
                ctx.ensure(
                    (0..=max_len).contains(&v),
                    &format!("{path}.prefixLength.{bound}"),
                    || format!("must be between 0 and {max_len}"),
                )?;
            }
        }
        if let (Some(min), Some(max)) = (p.min, p.max) {
            ctx.ensure(min <= max, &format!("{path}.prefixLength"), || {
                "min must not exceed max".to_string()
            })?;
        }
    }
    if !r.interface.is_empty() {
        ctx.ensure(
            r.interface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-*".contains(c)),
            &format!("{path}.interface"),
            || format!("\"{}\" is not an interface name pattern", r.interface),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod filter_tests {
    use crate::{decode_documents, Resource};

    const SAMPLE: &str = "\
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata:
  name: my-filter
spec:
  exportV4:
    - action: Accept
      matchOperator: In
      cidr: 77.0.0.0/16
      source: RemotePeers
    - action: Reject
      interface: '*.calico'
  importV4:
    - action: Accept
      matchOperator: In
      cidr: 55.0.0.0/16
      prefixLength:
        min: 30
    - action: Reject
      matchOperator: NotIn
      cidr: 44.0.0.0/16
  exportV6:
    - action: Reject
      source: RemotePeers
  importV6:
    - action: Accept
      matchOperator: Equal
      cidr: 5000::0/64
    - action: Reject
";

    fn one(yaml: &str) -> Resource {
        decode_documents(yaml).unwrap().remove(0)
    }

    #[test]
    fn calicos_sample_decodes_validates_and_round_trips() {
        let r = one(SAMPLE);
        let Resource::BGPFilter(f) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(f.spec.export_v4.len(), 2);
        assert_eq!(
            f.spec.import_v4[0].prefix_length.and_then(|p| p.min),
            Some(30)
        );
        r.validate().unwrap();
        assert_eq!(Resource::from_json(r.to_json()).unwrap(), r);
    }

    #[test]
    fn bad_rules_are_refused_with_their_path() {
        for (rule, path) in [
            ("{action: Accept, cidr: 10.0.0.0/8}", "spec.exportV4[0].matchOperator"),
            ("{action: Accept, matchOperator: In}", "spec.exportV4[0].matchOperator"),
            (
                "{action: Accept, matchOperator: In, cidr: 'fd00::/8'}",
                "spec.exportV4[0].cidr",
            ),
            (
                "{action: Accept, matchOperator: In, cidr: 10.0.0.0/8, prefixLength: {min: 33}}",
                "spec.exportV4[0].prefixLength.min",
            ),
            (
                "{action: Accept, matchOperator: In, cidr: 10.0.0.0/8, prefixLength: {min: 28, max: 24}}",
                "spec.exportV4[0].prefixLength",
            ),
        ] {
            let yaml = format!(
                "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {{name: f}}\nspec:\n  exportV4: [{rule}]\n"
            );
            let err = one(&yaml).validate().unwrap_err().to_string();
            assert!(err.contains(path), "{rule}: {err}");
        }
        let unknown = "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: f}\nspec:\n  exportV4: [{action: Maybe}]\n";
        assert!(decode_documents(unknown).is_err());
    }
}
