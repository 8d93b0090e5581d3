//! Pure mapping of the policy engine's rule view ([`policy::RuleView`]) to the dataplane's
//! rule model ([`dataplane::model::Rule`]).
//!
//! Two kinds of rule have no nftables rendering yet and are left out of the chain (the
//! caller counts them): rules that match a Service (the engine never matches them either,
//! so leaving them out is exact) and rules with named ports (the dataplane has no
//! (address, port) sets yet; leaving them out under-matches, which is logged).

use dataplane::model::{
    Action, EndpointMatch, IcmpMatch, IpVersion, PortRange, Protocol, Rule as DpRule,
};
use policy::{EntityView, RuleView};

/// Why a rule could not be rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// It matches a Service: such rules never match (not modelled).
    Service,
    /// It uses named ports, which the nftables renderer does not support yet.
    NamedPort,
}

/// The dataplane rule for one engine rule, or why it is left out.
pub fn map_rule(rule: &RuleView) -> Result<DpRule, Skipped> {
    for side in [&rule.source, &rule.destination] {
        if side.services {
            return Err(Skipped::Service);
        }
        if !side.named_port_sets.is_empty() || !side.not_named_port_sets.is_empty() {
            return Err(Skipped::NamedPort);
        }
    }
    Ok(DpRule {
        action: match rule.action {
            api::Action::Allow => Action::Allow,
            api::Action::Deny => Action::Deny,
            api::Action::Pass => Action::Pass,
            api::Action::Log => Action::Log,
        },
        ip_version: match rule.ip_version {
            Some(4) => Some(IpVersion::V4),
            Some(6) => Some(IpVersion::V6),
            _ => None,
        },
        protocol: rule.protocol.map(protocol),
        not_protocol: rule.not_protocol.map(protocol),
        icmp: rule.icmp.as_ref().and_then(icmp),
        not_icmp: rule.not_icmp.as_ref().and_then(icmp),
        source: entity(&rule.source),
        destination: entity(&rule.destination),
    })
}

fn protocol(number: u8) -> Protocol {
    match number {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        1 => Protocol::Icmp,
        58 => Protocol::IcmpV6,
        132 => Protocol::Sctp,
        136 => Protocol::UdpLite,
        n => Protocol::Number(n),
    }
}

/// ICMP type/code; validation guarantees a type whenever a code is given.
fn icmp(fields: &api::IcmpFields) -> Option<IcmpMatch> {
    let icmp_type = u8::try_from(fields.type_?).ok()?;
    Some(IcmpMatch {
        icmp_type,
        code: fields.code.and_then(|c| u8::try_from(c).ok()),
    })
}

fn entity(e: &EntityView) -> EndpointMatch {
    let ranges = |ports: &[(u16, u16)]| {
        ports
            .iter()
            .map(|&(first, last)| PortRange { first, last })
            .collect()
    };
    EndpointMatch {
        nets: e.nets.clone(),
        not_nets: e.not_nets.clone(),
        selector_set: e.ip_set.as_ref().map(|s| s.id.clone()),
        not_selector_sets: e.not_ip_set.iter().map(|s| s.id.clone()).collect(),
        ports: ranges(&e.ports),
        not_ports: ranges(&e.not_ports),
    }
}
