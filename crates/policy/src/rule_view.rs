//! A read-only view of compiled rules for the dataplane renderer: every
//! selector replaced by the IP set that realises it.

use api::{Action, IcmpFields};
use ipnet::IpNet;
use serde::Serialize;

use crate::compile::CompiledEntity;
use crate::ipsets::{IpSetId, IpSets};
use crate::keys::PolicyKey;
use crate::model::{EntitySets, InstalledRule, Model};
use crate::ordering::Direction;

/// One side of a rule as the dataplane renders it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityView {
    /// Any of these CIDRs (empty = any).
    pub nets: Vec<IpNet>,
    /// None of these CIDRs.
    pub not_nets: Vec<IpNet>,
    /// Address must be in this set (the rewritten selector).
    pub ip_set: Option<IpSetId>,
    /// Address must not be in this set (notSelector).
    pub not_ip_set: Option<IpSetId>,
    /// Port ranges; together with `named_port_sets` any one must match.
    pub ports: Vec<(u16, u16)>,
    /// (address, port) sets for named ports.
    pub named_port_sets: Vec<IpSetId>,
    /// Port ranges that must not match.
    pub not_ports: Vec<(u16, u16)>,
    /// (address, port) sets that must not match.
    pub not_named_port_sets: Vec<IpSetId>,
    /// A Service match: not modelled, the rule never matches.
    pub services: bool,
}

/// One rule as the dataplane renders it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    /// Allow, Deny, Pass or Log.
    pub action: Action,
    /// Restricts the rule to one IP family (explicitly, or by its CIDRs).
    pub ip_version: Option<u8>,
    /// IANA protocol number.
    pub protocol: Option<u8>,
    /// Protocol that must not match.
    pub not_protocol: Option<u8>,
    /// ICMP type/code.
    pub icmp: Option<IcmpFields>,
    /// ICMP type/code that must not match.
    pub not_icmp: Option<IcmpFields>,
    /// Source side.
    pub source: EntityView,
    /// Destination side.
    pub destination: EntityView,
}

fn entity(sets: &IpSets, e: &CompiledEntity, s: &EntitySets) -> EntityView {
    let ids = |keys: &[crate::ipsets::SetKey]| {
        keys.iter()
            .filter_map(|k| sets.public(k).cloned())
            .collect()
    };
    EntityView {
        nets: e.nets.clone(),
        not_nets: e.not_nets.clone(),
        ip_set: s.selector.as_ref().and_then(|k| sets.public(k).cloned()),
        not_ip_set: s
            .not_selector
            .as_ref()
            .and_then(|k| sets.public(k).cloned()),
        ports: e.ports.clone(),
        named_port_sets: ids(&s.named),
        not_ports: e.not_ports.clone(),
        not_named_port_sets: ids(&s.not_named),
        services: e.services,
    }
}

fn view(sets: &IpSets, rules: &[InstalledRule]) -> Vec<RuleView> {
    rules
        .iter()
        .map(|r| RuleView {
            action: r.rule.action,
            ip_version: r.rule.ip_version.or(r.rule.cidr_version),
            protocol: r.rule.protocol,
            not_protocol: r.rule.not_protocol,
            icmp: r.rule.icmp,
            not_icmp: r.rule.not_icmp,
            source: entity(sets, &r.rule.src, &r.src),
            destination: entity(sets, &r.rule.dst, &r.dst),
        })
        .collect()
}

impl Model {
    /// A policy's rules for a direction (`None` if the policy is unknown or
    /// its `types` exclude the direction).
    pub fn policy_rules(&self, key: &PolicyKey, direction: Direction) -> Option<Vec<RuleView>> {
        let rules = self.policy(key)?.rules(direction)?;
        Some(view(self.sets(), rules))
    }

    /// A profile's rules for a direction (`None` if the profile is unknown).
    pub fn profile_rules(&self, name: &str, direction: Direction) -> Option<Vec<RuleView>> {
        let p = self.profile(name)?;
        let rules = match direction {
            Direction::Ingress => &p.ingress,
            Direction::Egress => &p.egress,
        };
        Some(view(self.sets(), rules))
    }
}
