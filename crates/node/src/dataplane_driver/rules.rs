//! Pure mapping of the policy engine's rule view ([`policy::RuleView`]) to the dataplane's
//! rule model ([`dataplane::model::Rule`]).
//!
//! Rules that match a Service have no nftables rendering and are left out of the chain: the
//! engine never matches them either, so leaving them out is exact. Named ports map to the
//! engine's named-port sets (ids into `DesiredState::named_port_sets`).

use dataplane::model::{
    Action, EndpointMatch, IcmpMatch, IpVersion, PortRange, Protocol, Rule as DpRule,
};
use policy::{EntityView, RuleView};

/// The dataplane rule for one engine rule; `None` for a rule matching a Service.
pub fn map_rule(rule: &RuleView) -> Option<DpRule> {
    if rule.source.services || rule.destination.services {
        return None;
    }
    Some(DpRule {
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

/// The dataplane protocol of an IANA protocol number.
pub(super) fn protocol(number: u8) -> Protocol {
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
        named_port_sets: e.named_port_sets.iter().map(|s| s.id.clone()).collect(),
        not_ports: ranges(&e.not_ports),
        not_named_port_sets: e.not_named_port_sets.iter().map(|s| s.id.clone()).collect(),
    }
}
