//! HostEndpoint and WorkloadEndpoint: the interfaces policy applies to, their named
//! ports, and Calico's workload endpoint name format.

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::protocol::Protocol;
use crate::skip::is_zero;

/// A host interface (or all host traffic with `interfaceName: "*"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEndpoint {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: HostEndpointSpec,
}

/// HostEndpoint spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostEndpointSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(default, rename = "expectedIPs", skip_serializing_if = "Vec::is_empty")]
    pub expected_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// A named port on a host endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// A workload's interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadEndpoint {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: WorkloadEndpointSpec,
}

/// WorkloadEndpoint spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEndpointSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub orchestrator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    #[serde(default, rename = "ipNetworks", skip_serializing_if = "Vec::is_empty")]
    pub ip_networks: Vec<String>,
    #[serde(default, rename = "ipNATs", skip_serializing_if = "Vec::is_empty")]
    pub ip_nats: Vec<IpNat>,
    #[serde(
        default,
        rename = "ipv4Gateway",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_gateway: String,
    #[serde(
        default,
        rename = "ipv6Gateway",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_gateway: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<WorkloadEndpointPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_spoofed_source_prefixes: Vec<String>,
    #[serde(
        default,
        rename = "qosControls",
        skip_serializing_if = "Option::is_none"
    )]
    pub qos_controls: Option<QosControls>,
}

/// One-to-one NAT of a workload address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpNat {
    #[serde(default, rename = "internalIP")]
    pub internal_ip: String,
    #[serde(default, rename = "externalIP")]
    pub external_ip: String,
}

/// A named (or host-mapped) workload port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEndpointPort {
    #[serde(default)]
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    #[serde(default)]
    pub host_port: u16,
    #[serde(default, rename = "hostIP")]
    pub host_ip: String,
}

/// Bandwidth, packet-rate and connection limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QosControls {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_bandwidth: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_burst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_peakrate: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_minburst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_bandwidth: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_burst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_peakrate: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_minburst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_packet_rate: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_packet_burst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_packet_rate: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_packet_burst: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ingress_max_connections: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_max_connections: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<Dscp>,
}

/// DSCP marking: a number 0..63 or a well-known name such as `AF11` or `EF`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dscp {
    Number(u8),
    Name(String),
}

/// Escapes one name segment: `-` becomes `--`.
fn escape(segment: &str) -> String {
    segment.replace('-', "--")
}

/// Builds a workload endpoint name: `<node>-<orchestrator>-<workload>-<endpoint>` with each
/// segment's dashes doubled (`node-1`, `k8s`, `pod-name`, `eth0` ⇒
/// `node--1-k8s-pod--name-eth0`).
pub fn workload_endpoint_name(
    node: &str,
    orchestrator: &str,
    workload: &str,
    endpoint: &str,
) -> String {
    [node, orchestrator, workload, endpoint]
        .iter()
        .map(|s| escape(s))
        .collect::<Vec<_>>()
        .join("-")
}

/// Splits a workload endpoint name back into its segments (single `-` separates, `--` is a
/// literal dash).
pub fn split_workload_endpoint_name(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('-', Some('-')) => {
                chars.next();
                current.push('-');
            }
            ('-', _) => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

impl WorkloadEndpointSpec {
    /// The workload segment of the name: pod for k8s, container ID for cni, `libnetwork`
    /// for libnetwork, otherwise `workload`.
    pub fn workload_segment(&self) -> &str {
        match self.orchestrator.as_str() {
            "k8s" => &self.pod,
            "cni" => &self.container_id,
            "libnetwork" => "libnetwork",
            _ => &self.workload,
        }
    }

    /// The name Calico derives from the spec, when all its parts are known.
    pub fn expected_name(&self) -> Option<String> {
        let w = self.workload_segment();
        let parts = [
            self.node.as_str(),
            self.orchestrator.as_str(),
            w,
            self.endpoint.as_str(),
        ];
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(workload_endpoint_name(
            parts[0], parts[1], parts[2], parts[3],
        ))
    }
}

fn validate_profiles(ctx: &Ctx, profiles: &[String]) -> Check {
    for (i, p) in profiles.iter().enumerate() {
        check::subdomain_name(ctx, &format!("spec.profiles[{i}]"), p)?;
    }
    Ok(())
}

fn port_common(ctx: &Ctx, at: &str, name: &str, protocol: Protocol, port: u16) -> Check {
    ctx.ensure(
        name.is_empty() || check::is_port_name(name),
        &format!("{at}.name"),
        || format!("\"{name}\" is not a valid port name"),
    )?;
    ctx.ensure(protocol.supports_ports(), &format!("{at}.protocol"), || {
        format!("protocol {protocol} does not support ports")
    })?;
    ctx.ensure(port > 0, &format!("{at}.port"), || {
        "must be between 1 and 65535".to_string()
    })
}

impl HostEndpoint {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::HostEndpoint, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        check::subdomain_name(&ctx, "spec.node", &s.node)?;
        let iface = &s.interface_name;
        ctx.ensure(
            iface.is_empty() || iface == "*" || check::is_interface_name(iface),
            "spec.interfaceName",
            || format!("\"{iface}\" is not an interface name (1-15 of [a-zA-Z0-9_.-]) or \"*\""),
        )?;
        ctx.ensure(
            !iface.is_empty() || !s.expected_ips.is_empty(),
            "spec.expectedIPs",
            || "expectedIPs must be set when interfaceName is empty".to_string(),
        )?;
        for (i, ip) in s.expected_ips.iter().enumerate() {
            check::ip(&ctx, &format!("spec.expectedIPs[{i}]"), ip)?;
        }
        validate_profiles(&ctx, &s.profiles)?;
        for (i, p) in s.ports.iter().enumerate() {
            let at = format!("spec.ports[{i}]");
            ctx.ensure(!p.name.is_empty(), &format!("{at}.name"), || {
                "must be specified".to_string()
            })?;
            port_common(&ctx, &at, &p.name, p.protocol, p.port)?;
        }
        Ok(())
    }
}

impl WorkloadEndpoint {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::WorkloadEndpoint, &self.metadata);
        let name = &self.metadata.name;
        check::subdomain_name(&ctx, "metadata.name", name)?;
        let s = &self.spec;
        if let Some(expected) = s.expected_name() {
            ctx.ensure(*name == expected, "metadata.name", || {
                format!("\"{name}\" does not match the name derived from the spec: \"{expected}\"")
            })?;
        }
        check::optional_name(&ctx, "spec.node", &s.node)?;
        check::optional_name(&ctx, "spec.orchestrator", &s.orchestrator)?;
        check::optional_name(&ctx, "spec.pod", &s.pod)?;
        check::optional_name(&ctx, "spec.serviceAccountName", &s.service_account_name)?;
        let cid = &s.container_id;
        ctx.ensure(
            cid.is_empty()
                || (cid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !cid.starts_with('-')
                    && !cid.ends_with('-')),
            "spec.containerID",
            || format!("\"{cid}\" is not a valid container ID"),
        )?;
        let iface = &s.interface_name;
        ctx.ensure(
            iface.is_empty() || check::is_interface_name(iface),
            "spec.interfaceName",
            || format!("\"{iface}\" is not an interface name (1-15 of [a-zA-Z0-9_.-])"),
        )?;
        ctx.ensure(
            s.mac.is_empty() || check::is_mac(&s.mac),
            "spec.mac",
            || format!("\"{}\" is not a MAC address", s.mac),
        )?;
        let mut nets = Vec::new();
        for (i, n) in s.ip_networks.iter().enumerate() {
            let f = format!("spec.ipNetworks[{i}]");
            let net = check::parse_net(n).map_err(|e| ctx.fail(&f, e))?;
            ctx.ensure(net.prefix_len() == net.max_prefix_len(), &f, || {
                format!("{n} contains multiple addresses (only /32 or /128 allowed)")
            })?;
            nets.push(net);
        }
        check::optional_ip_of(&ctx, "spec.ipv4Gateway", &s.ipv4_gateway, 4)?;
        check::optional_ip_of(&ctx, "spec.ipv6Gateway", &s.ipv6_gateway, 6)?;
        for (i, nat) in s.ip_nats.iter().enumerate() {
            let at = format!("spec.ipNATs[{i}]");
            let internal = check::ip(&ctx, &format!("{at}.internalIP"), &nat.internal_ip)?;
            check::ip(&ctx, &format!("{at}.externalIP"), &nat.external_ip)?;
            ctx.ensure(
                nets.iter().any(|n| n.contains(&internal)),
                &format!("{at}.internalIP"),
                || format!("{internal} is not in the endpoint's ipNetworks"),
            )?;
        }
        validate_profiles(&ctx, &s.profiles)?;
        for (i, p) in s.ports.iter().enumerate() {
            let at = format!("spec.ports[{i}]");
            port_common(&ctx, &at, &p.name, p.protocol, p.port)?;
            ctx.ensure(
                !p.name.is_empty() || p.host_port != 0,
                &format!("{at}.name"),
                || "name must be set when no hostPort is given".to_string(),
            )?;
            if !p.host_ip.is_empty() {
                check::net(&ctx, &format!("{at}.hostIP"), &p.host_ip)?;
            }
        }
        for (i, c) in s.allow_spoofed_source_prefixes.iter().enumerate() {
            check::net(&ctx, &format!("spec.allowSpoofedSourcePrefixes[{i}]"), c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_round_trip() {
        let n = workload_endpoint_name("node-1", "k8s", "pod-name", "eth0");
        assert_eq!(n, "node--1-k8s-pod--name-eth0");
        assert_eq!(
            split_workload_endpoint_name(&n),
            vec!["node-1", "k8s", "pod-name", "eth0"]
        );
    }

    #[test]
    fn expected_name_by_orchestrator() {
        let mut s = WorkloadEndpointSpec {
            node: "n".into(),
            orchestrator: "cni".into(),
            container_id: "abc".into(),
            endpoint: "eth0".into(),
            ..Default::default()
        };
        assert_eq!(s.expected_name().as_deref(), Some("n-cni-abc-eth0"));
        s.orchestrator = "libnetwork".into();
        assert_eq!(
            s.expected_name().as_deref(),
            Some("n-libnetwork-libnetwork-eth0")
        );
        s.orchestrator = "openstack".into();
        assert_eq!(s.expected_name(), None);
    }
}
