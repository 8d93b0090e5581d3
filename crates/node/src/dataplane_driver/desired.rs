//! Pure: the policy engine's answers plus [`NodeInputs`] -> the dataplane's
//! [`DesiredState`] and the routes this node owns. Deterministic (everything sorted), so
//! the same inputs always render the same nftables text.

use std::collections::{BTreeMap, BTreeSet};

use dataplane::model::{
    DesiredState, EndpointPolicy, EndpointToHostAction, HostEndpoint, IpPool, NamedPortMember,
    NodeConfig, Policy, Profile, TierDefault, TierPolicies, WorkloadEndpoint,
};
use dataplane::routes::Route;
use policy::{Direction, EndpointKey, EndpointPolicies, Member, Model, NamedPortRef, PolicyKey};

use super::inputs::{LocalInterface, NodeInputs};
use super::rules::{map_rule, protocol};

/// What this node wants programmed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// Policy state for the nftables renderer.
    pub state: DesiredState,
    /// Our routes: one per local workload address, one blackhole per affine block.
    pub routes: BTreeSet<Route>,
}

/// The dataplane id of a policy (names its chains `cali-pi-<id>` / `cali-po-<id>`).
pub fn policy_id(key: &PolicyKey) -> String {
    match &key.namespace {
        Some(ns) => format!("np/{ns}/{}", key.name),
        None => format!("gnp/{}", key.name),
    }
}

/// One local endpoint's policy as the renderer wants it, and what it depends on.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EndpointSides {
    /// Towards the endpoint.
    pub ingress: EndpointPolicy,
    /// From the endpoint.
    pub egress: EndpointPolicy,
    /// Every policy used (either direction): dataplane id, key and tier.
    pub policies: Vec<(String, PolicyKey, String)>,
    /// Every profile the endpoint names, known or not (only known ones are rendered).
    pub named_profiles: Vec<String>,
}

/// The policy of local endpoint `key`, if the engine knows it.
pub(super) fn endpoint_sides(model: &Model, key: &EndpointKey) -> Option<EndpointSides> {
    let lists = model.endpoint_policies(key)?;
    let known: Vec<String> = lists
        .profiles
        .iter()
        .filter(|p| model.profile_rules(p, Direction::Ingress).is_some())
        .cloned()
        .collect();
    let mut policies = BTreeMap::new();
    let mut side = |direction| EndpointPolicy {
        tiers: tiers(&lists, direction, &mut policies),
        profiles: known.clone(),
    };
    let (ingress, egress) = (side(Direction::Ingress), side(Direction::Egress));
    Some(EndpointSides {
        ingress,
        egress,
        policies: policies
            .into_iter()
            .map(|(key, tier)| (policy_id(&key), key, tier))
            .collect(),
        named_profiles: lists.profiles,
    })
}

/// The renderable rules of policy `key` (in tier `tier`).
pub(super) fn policy(model: &Model, key: &PolicyKey, tier: &str) -> Policy {
    let rules = |direction| renderable(&model.policy_rules(key, direction).unwrap_or_default());
    Policy {
        tier: tier.to_owned(),
        ingress: rules(Direction::Ingress),
        egress: rules(Direction::Egress),
    }
}

/// The renderable rules of profile `name`.
pub(super) fn profile(model: &Model, name: &str) -> Profile {
    let rules = |direction| renderable(&model.profile_rules(name, direction).unwrap_or_default());
    Profile {
        ingress: rules(Direction::Ingress),
        egress: rules(Direction::Egress),
    }
}

/// The node-wide settings: IP pools and the endpoint-to-host action.
pub(super) fn node_config(inputs: &NodeInputs, node: &str) -> NodeConfig {
    let mut config = NodeConfig {
        ip_pools: inputs
            .pools
            .values()
            .map(|p| IpPool {
                cidr: p.cidr,
                nat_outgoing: p.nat_outgoing,
            })
            .collect(),
        ..NodeConfig::default()
    };
    if let Some(action) = inputs.endpoint_to_host_action(node) {
        config.endpoint_to_host_action = match action {
            api::EndpointToHostAction::Drop => EndpointToHostAction::Drop,
            api::EndpointToHostAction::Return => EndpointToHostAction::Return,
            api::EndpointToHostAction::Accept => EndpointToHostAction::Accept,
        };
    }
    config
}

/// The routes of a local workload: one host route per address to its interface.
pub(super) fn workload_routes(local: &LocalInterface) -> impl Iterator<Item = Route> + '_ {
    local.nets.iter().map(|net| Route::Workload {
        dst: host_prefix(*net),
        iface: local.interface.clone(),
    })
}

/// Builds the desired state of node `node` from scratch.
pub fn build(model: &Model, inputs: &NodeInputs, node: &str) -> Desired {
    let mut out = Desired::default();
    let mut used_policies = BTreeMap::new();
    let mut used_profiles = BTreeSet::new();
    let mut endpoint = |key: &EndpointKey| -> Option<(EndpointPolicy, EndpointPolicy)> {
        let sides = endpoint_sides(model, key)?;
        used_profiles.extend(sides.ingress.profiles.iter().cloned());
        for (_, key, tier) in sides.policies {
            used_policies.insert(key, tier);
        }
        Some((sides.ingress, sides.egress))
    };

    for (key, local) in &inputs.workloads {
        let Some((ingress, egress)) = endpoint(key) else {
            continue;
        };
        out.state.workloads.push(WorkloadEndpoint {
            interface: local.interface.clone(),
            ingress,
            egress,
        });
        out.routes.extend(workload_routes(local));
    }
    for (key, local) in &inputs.host_endpoints {
        if let Some((ingress, egress)) = endpoint(key) {
            out.state.host_endpoints.push(HostEndpoint {
                interface: local.interface.clone(),
                ingress,
                egress,
            });
        }
    }
    dedup_interfaces(&mut out.state);
    for cidr in &inputs.affine_blocks {
        out.routes.insert(Route::Blackhole { dst: *cidr });
    }
    for (key, tier) in &used_policies {
        let p = policy(model, key, tier);
        out.state.policies.insert(policy_id(key), p);
    }
    for name in &used_profiles {
        let p = profile(model, name);
        out.state.profiles.insert(name.clone(), p);
    }
    out.state.ip_sets = selector_sets(model);
    out.state.named_port_sets = named_port_sets(model);
    out.state.config = node_config(inputs, node);
    out
}

/// The ordered tiers of one direction, noting every policy used with its tier.
fn tiers(
    lists: &EndpointPolicies,
    direction: Direction,
    used: &mut BTreeMap<PolicyKey, String>,
) -> Vec<TierPolicies> {
    lists
        .tiers(direction)
        .iter()
        .map(|t| {
            for key in &t.policies {
                used.insert(key.clone(), t.tier.clone());
            }
            TierPolicies {
                name: t.tier.clone(),
                policies: t.policies.iter().map(policy_id).collect(),
                default_action: match t.default_action {
                    api::Action::Pass => TierDefault::Pass,
                    _ => TierDefault::Deny,
                },
            }
        })
        .collect()
}

/// The rules the dataplane renders (Service rules never match and are left out).
fn renderable(views: &[policy::RuleView]) -> Vec<dataplane::model::Rule> {
    views.iter().filter_map(map_rule).collect()
}

/// Selector sets (not named-port sets) by id with their CIDRs.
pub(super) fn selector_sets(model: &Model) -> BTreeMap<String, Vec<ipnet::IpNet>> {
    model
        .ip_sets()
        .into_iter()
        .filter(|(id, _)| id.named_port.is_none())
        .map(|(id, members)| (id.id, members.into_iter().map(|m| m.net).collect()))
        .collect()
}

/// Named-port sets by id with their (address, protocol, port) members.
pub(super) fn named_port_sets(model: &Model) -> BTreeMap<String, Vec<NamedPortMember>> {
    model
        .ip_sets()
        .into_iter()
        .filter_map(|(id, members)| {
            let named = id.named_port.as_ref()?;
            let members = members
                .iter()
                .filter_map(|m| named_port_member(named, m))
                .collect();
            Some((id.id, members))
        })
        .collect()
}

/// A named-port set member as the renderer wants it (`None` without a resolved port).
pub(super) fn named_port_member(named: &NamedPortRef, m: &Member) -> Option<NamedPortMember> {
    Some(NamedPortMember {
        addr: m.net.addr(),
        protocol: protocol(named.protocol),
        port: m.port?,
    })
}

/// Two endpoints naming the same interface would make the renderer refuse the whole state;
/// keep the first (by endpoint key) so one bad endpoint cannot stop policy for the rest.
fn dedup_interfaces(state: &mut DesiredState) {
    let mut seen = BTreeSet::new();
    state.workloads.retain(|w| seen.insert(w.interface.clone()));
    state
        .host_endpoints
        .retain(|h| seen.insert(h.interface.clone()));
}

/// A workload address as a host route destination.
fn host_prefix(net: ipnet::IpNet) -> ipnet::IpNet {
    ipnet::IpNet::from(net.addr())
}
