//! One function per v1 kind, each producing the v3 resource Calico's `calicoctl convert`
//! produced: names derived from identifiers, tags folded into labels and selectors,
//! `net` merged into `nets`, v1 enums mapped to v3 ones.

use std::net::IpAddr;

use ipnet::IpNet;

use super::names;
use super::types as v1;
use crate::as_number::AsNumber;
use crate::bgp::{BGPPeer, BGPPeerSpec};
use crate::endpoint::{
    workload_endpoint_name, EndpointPort, HostEndpoint, HostEndpointSpec, IpNat, WorkloadEndpoint,
    WorkloadEndpointPort, WorkloadEndpointSpec,
};
use crate::ippool::{EncapMode, IPPool, IPPoolSpec};
use crate::meta::ObjectMeta;
use crate::node::{Node, NodeBgpSpec, NodeSpec, OrchRef};
use crate::policy::{
    infer_policy_types, GlobalNetworkPolicy, GlobalNetworkPolicySpec, PolicyType, Profile,
};
use crate::resource::Resource;
use crate::rule::{Action, EntityRule, IcmpFields, Rule};

/// A conversion failure: the v1 field path and what is wrong with it.
pub(super) type Fault = (String, String);

fn fault(path: &str, message: impl Into<String>) -> Fault {
    (path.to_string(), message.into())
}

/// v1 kept the label Kubernetes namespaces were selected by under a different key.
const V1_NAMESPACE_LABEL: &str = "calico/k8s_ns";
const V3_NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

pub(super) fn ip_pool(p: v1::IpPool) -> Result<Resource, Fault> {
    let cidr = p
        .metadata
        .cidr
        .ok_or_else(|| {
            fault(
                "metadata.cidr",
                "missing; an IP pool is identified by its CIDR",
            )
        })?
        .0;
    let ipip_mode = match p.spec.ipip {
        Some(v1::Ipip {
            enabled: true,
            mode,
        }) => match mode {
            v1::IpipMode::CrossSubnet => EncapMode::CrossSubnet,
            v1::IpipMode::Always | v1::IpipMode::Unset => EncapMode::Always,
        },
        _ => EncapMode::Never,
    };
    let block_size = match cidr {
        IpNet::V4(_) => 26,
        IpNet::V6(_) => 122,
    };
    Ok(Resource::IPPool(IPPool {
        metadata: ObjectMeta::named(names::cidr(cidr)),
        spec: IPPoolSpec {
            cidr: cidr.to_string(),
            ipip_mode: Some(ipip_mode),
            vxlan_mode: Some(EncapMode::Never),
            nat_outgoing: p.spec.nat_outgoing,
            disabled: p.spec.disabled,
            node_selector: "all()".to_string(),
            block_size,
            ..IPPoolSpec::default()
        },
        status: None,
    }))
}

pub(super) fn bgp_peer(p: v1::BgpPeer) -> Result<Resource, Fault> {
    let m = p.metadata;
    let peer = m
        .peer_ip
        .ok_or_else(|| fault("metadata.peerIP", "missing; a BGP peer needs its peer IP"))?
        .0;
    let scope = m
        .scope
        .ok_or_else(|| fault("metadata.scope", "missing; expected \"global\" or \"node\""))?;
    let (name, node) = match scope {
        v1::Scope::Global if !m.node.is_empty() => {
            return Err(fault(
                "metadata.node",
                "must not be set when scope is \"global\"",
            ))
        }
        v1::Scope::Global => (names::ip(peer), String::new()),
        v1::Scope::Node if m.node.is_empty() => {
            return Err(fault(
                "metadata.node",
                "missing; required when scope is \"node\"",
            ))
        }
        v1::Scope::Node => {
            let node = names::normalize(&m.node);
            (format!("{node}.{}", names::ip(peer)), node)
        }
    };
    Ok(Resource::BGPPeer(BGPPeer {
        metadata: ObjectMeta::named(name),
        spec: BGPPeerSpec {
            node,
            peer_ip: peer.to_string(),
            as_number: p.spec.as_number.filter(|a| *a != AsNumber(0)),
            ..BGPPeerSpec::default()
        },
    }))
}

pub(super) fn policy(p: v1::Policy) -> Result<Resource, Fault> {
    let s = p.spec;
    if s.do_not_track && s.pre_dnat {
        return Err(fault(
            "spec.preDNAT",
            "preDNAT and doNotTrack cannot both be true",
        ));
    }
    if s.pre_dnat && (!s.egress.is_empty() || s.types.contains(&v1::PolicyType::Egress)) {
        return Err(fault(
            "spec.preDNAT",
            "a preDNAT policy cannot have egress rules or the egress type",
        ));
    }
    let ingress = rules(s.ingress);
    let egress = rules(s.egress);
    let types = if s.types.is_empty() {
        infer_policy_types(&ingress, &egress)
    } else {
        s.types
            .iter()
            .map(|t| match t {
                v1::PolicyType::Ingress => PolicyType::Ingress,
                v1::PolicyType::Egress => PolicyType::Egress,
            })
            .collect()
    };
    let mut metadata = ObjectMeta::named(names::convert_no_dots(&p.metadata.name));
    metadata.annotations = p.metadata.annotations;
    Ok(Resource::GlobalNetworkPolicy(GlobalNetworkPolicy {
        metadata,
        spec: GlobalNetworkPolicySpec {
            order: s.order,
            ingress,
            egress,
            selector: selector(&s.selector),
            types,
            do_not_track: s.do_not_track,
            pre_dnat: s.pre_dnat,
            apply_on_forward: s.do_not_track || s.pre_dnat,
            ..GlobalNetworkPolicySpec::default()
        },
    }))
}

pub(super) fn profile(p: v1::Profile) -> Result<Resource, Fault> {
    let name = names::profile(&p.metadata.name);
    let mut labels_to_apply = p.metadata.labels;
    for (i, tag) in p.metadata.tags.into_iter().enumerate() {
        if let Some(value) = labels_to_apply.get(&tag) {
            return Err(fault(
                &format!("metadata.tags[{i}]"),
                format!(
                    "tag \"{tag}\" and label \"{tag}: {value}\" would become the same label; change the label key first"
                ),
            ));
        }
        labels_to_apply.insert(tag, String::new());
    }
    let mut out = Profile {
        metadata: ObjectMeta::named(name),
        ..Profile::default()
    };
    out.spec.ingress = rules(p.spec.ingress);
    out.spec.egress = rules(p.spec.egress);
    out.spec.labels_to_apply = labels_to_apply;
    Ok(Resource::Profile(out))
}

pub(super) fn host_endpoint(h: v1::HostEndpoint) -> Result<Resource, Fault> {
    let node = names::normalize(&h.metadata.node);
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = h
        .spec
        .expected_ips
        .iter()
        .map(|ip| ip.0)
        .partition(IpAddr::is_ipv4);
    let mut metadata = ObjectMeta::named(names::convert(&format!("{node}.{}", h.metadata.name)));
    metadata.labels = h.metadata.labels;
    Ok(Resource::HostEndpoint(HostEndpoint {
        metadata,
        spec: HostEndpointSpec {
            node,
            interface_name: h.spec.interface_name,
            expected_ips: v4.iter().chain(&v6).map(IpAddr::to_string).collect(),
            profiles: h.spec.profiles.iter().map(|p| names::profile(p)).collect(),
            ports: h
                .spec
                .ports
                .into_iter()
                .map(|p| EndpointPort {
                    name: p.name,
                    protocol: p.protocol,
                    port: p.port,
                })
                .collect(),
        },
    }))
}

pub(super) fn workload_endpoint(w: v1::WorkloadEndpoint) -> Result<Resource, Fault> {
    let m = w.metadata;
    let s = w.spec;
    let mut labels = m.labels;
    if let Some(ns) = labels.remove(V1_NAMESPACE_LABEL) {
        labels.insert(V3_NAMESPACE_LABEL.to_string(), ns);
    }
    let (mut workload, mut pod, mut container_id) = (String::new(), String::new(), String::new());
    match m.orchestrator.as_str() {
        "k8s" => {
            let (_, p) = m.workload.split_once('.').ok_or_else(|| {
                fault(
                    "metadata.workload",
                    format!(
                        "\"{}\" is not <namespace>.<pod>: a k8s workload not added by the Calico CNI plugin cannot be converted",
                        m.workload
                    ),
                )
            })?;
            pod = p.to_string();
            container_id = m.active_instance_id;
        }
        "cni" => container_id = m.workload,
        "libnetwork" => workload = "libnetwork".to_string(),
        _ => workload = names::convert(&m.workload),
    }
    let spec = WorkloadEndpointSpec {
        orchestrator: names::convert(&m.orchestrator),
        workload,
        node: names::normalize(&m.node),
        container_id,
        pod,
        endpoint: names::convert(&m.name),
        ip_networks: by_family(&s.ip_networks, |n| n.0.addr())
            .into_iter()
            .map(|n| n.0.trunc().to_string())
            .collect(),
        ip_nats: by_family(&s.ip_nats, |n| n.internal_ip.0)
            .into_iter()
            .map(|n| IpNat {
                internal_ip: n.internal_ip.0.to_string(),
                external_ip: n.external_ip.0.to_string(),
            })
            .collect(),
        ipv4_gateway: s.ipv4_gateway.map(|g| g.0.to_string()).unwrap_or_default(),
        ipv6_gateway: s.ipv6_gateway.map(|g| g.0.to_string()).unwrap_or_default(),
        profiles: s.profiles.iter().map(|p| names::profile(p)).collect(),
        interface_name: s.interface_name,
        mac: s.mac.map(|m| m.0).unwrap_or_default(),
        ports: s
            .ports
            .into_iter()
            .map(|p| WorkloadEndpointPort {
                name: p.name,
                protocol: p.protocol,
                port: p.port,
                host_port: 0,
                host_ip: String::new(),
            })
            .collect(),
        ..WorkloadEndpointSpec::default()
    };
    let name = wep_name(&spec)?;
    let mut metadata = ObjectMeta::named(name);
    metadata.labels = labels;
    Ok(Resource::WorkloadEndpoint(WorkloadEndpoint {
        metadata,
        spec,
    }))
}

/// The items with IPv4 addresses first, then the IPv6 ones, each group in input order.
fn by_family<T>(items: &[T], addr: impl Fn(&T) -> IpAddr) -> Vec<&T> {
    let (v4, v6): (Vec<&T>, Vec<&T>) = items.iter().partition(|i| addr(i).is_ipv4());
    v4.into_iter().chain(v6).collect()
}

/// The v3 name from the segments the orchestrator calls for; each must be set and must
/// not start or end with `-`.
fn wep_name(s: &WorkloadEndpointSpec) -> Result<String, Fault> {
    let third = match s.orchestrator.as_str() {
        "k8s" => ("pod", "metadata.workload", &s.pod),
        "cni" => ("containerID", "metadata.workload", &s.container_id),
        "libnetwork" => ("orchestrator", "metadata.orchestrator", &s.orchestrator),
        _ => ("workload", "metadata.workload", &s.workload),
    };
    let segments = [
        ("node", "metadata.node", &s.node),
        ("orchestrator", "metadata.orchestrator", &s.orchestrator),
        third,
        ("endpoint", "metadata.name", &s.endpoint),
    ];
    for (v3_field, path, value) in segments {
        if value.is_empty() {
            return Err(fault(
                path,
                format!("missing; the workload endpoint name needs its {v3_field}"),
            ));
        }
        if value.starts_with('-') || value.ends_with('-') {
            return Err(fault(
                path,
                format!("{v3_field} \"{value}\" must not start or end with '-'"),
            ));
        }
    }
    Ok(workload_endpoint_name(
        segments[0].2,
        segments[1].2,
        segments[2].2,
        segments[3].2,
    ))
}

pub(super) fn node(n: v1::Node) -> Result<Resource, Fault> {
    let bgp = match n.spec.bgp {
        None => None,
        Some(b) => {
            if b.ipv4_address.is_none() && b.ipv6_address.is_none() {
                return Err(fault("spec.bgp", "needs ipv4Address or ipv6Address"));
            }
            if let Some(a) = b.ipv4_address.filter(|a| !a.0.addr().is_ipv4()) {
                return Err(fault(
                    "spec.bgp.ipv4Address",
                    format!("{} is not an IPv4 address and subnet", a.0),
                ));
            }
            if let Some(a) = b.ipv6_address.filter(|a| !a.0.addr().is_ipv6()) {
                return Err(fault(
                    "spec.bgp.ipv6Address",
                    format!("{} is not an IPv6 address and subnet", a.0),
                ));
            }
            Some(NodeBgpSpec {
                as_number: b.as_number,
                ipv4_address: b.ipv4_address.map(|a| a.0.to_string()).unwrap_or_default(),
                ipv6_address: b.ipv6_address.map(|a| a.0.to_string()).unwrap_or_default(),
                ..NodeBgpSpec::default()
            })
        }
    };
    Ok(Resource::Node(Node {
        metadata: ObjectMeta::named(names::normalize(&n.metadata.name)),
        spec: NodeSpec {
            bgp,
            orch_refs: n
                .spec
                .orch_refs
                .into_iter()
                .map(|o| OrchRef {
                    node_name: o.node_name,
                    orchestrator: o.orchestrator,
                })
                .collect(),
            ..NodeSpec::default()
        },
        ..Node::default()
    }))
}

fn rules(rs: Vec<v1::Rule>) -> Vec<Rule> {
    rs.into_iter().map(rule).collect()
}

fn rule(r: v1::Rule) -> Rule {
    let action = match r.action {
        v1::Action::Allow => Action::Allow,
        v1::Action::Deny => Action::Deny,
        v1::Action::Log => Action::Log,
        v1::Action::Pass => Action::Pass,
    };
    Rule {
        ip_version: r.ip_version,
        protocol: r.protocol,
        icmp: icmp(r.icmp),
        not_protocol: r.not_protocol,
        not_icmp: icmp(r.not_icmp),
        source: entity(r.source),
        destination: entity(r.destination),
        ..Rule::new(action)
    }
}

/// An ICMP match with neither type nor code matches nothing specific and is dropped.
fn icmp(i: Option<IcmpFields>) -> Option<IcmpFields> {
    i.filter(|i| i.type_.is_some() || i.code.is_some())
}

fn entity(e: v1::EntityRule) -> EntityRule {
    EntityRule {
        nets: merged_nets(e.nets, e.net),
        not_nets: merged_nets(e.not_nets, e.not_net),
        selector: with_tag(selector(&e.selector), &e.tag),
        not_selector: with_tag(selector(&e.not_selector), &e.not_tag),
        ports: e.ports,
        not_ports: e.not_ports,
        ..EntityRule::default()
    }
}

/// `nets` followed by the deprecated single `net`, each reduced to its network.
fn merged_nets(nets: Vec<v1::Net>, net: Option<v1::Net>) -> Vec<String> {
    nets.into_iter()
        .chain(net)
        .map(|n| n.0.trunc().to_string())
        .collect()
}

/// v1 selectors named the Kubernetes namespace label `calico/k8s_ns`.
fn selector(s: &str) -> String {
    s.replace(V1_NAMESPACE_LABEL, V3_NAMESPACE_LABEL)
}

/// A tag became a label with an empty value, so matching it means `<tag> == ''`, ANDed
/// with any selector.
fn with_tag(selector: String, tag: &str) -> String {
    match (tag.is_empty(), selector.is_empty()) {
        (true, _) => selector,
        (false, true) => format!("{tag} == ''"),
        (false, false) => format!("({selector}) && {tag} == ''"),
    }
}
