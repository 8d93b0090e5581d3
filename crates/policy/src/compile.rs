//! Rules compiled for matching: parsed CIDRs, numeric port ranges apart from
//! named ports, protocols as numbers and rewritten selectors. Compiling does
//! all the parsing up front, so a resource that fails here never reaches the
//! model.

use api::{Action, EntityRule, IcmpFields, Kind, Port, Rule};
use ipnet::IpNet;
use selector::Selector;

use crate::error::Error;
use crate::rewrite::{entity_selectors, Origin};

/// One side (source or destination) of a rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledEntity {
    pub(crate) nets: Vec<IpNet>,
    pub(crate) not_nets: Vec<IpNet>,
    pub(crate) selector: Option<Selector>,
    pub(crate) not_selector: Option<Selector>,
    pub(crate) ports: Vec<(u16, u16)>,
    pub(crate) named_ports: Vec<String>,
    pub(crate) not_ports: Vec<(u16, u16)>,
    pub(crate) not_named_ports: Vec<String>,
    /// A Kubernetes Service match: the model has no Service data, so the
    /// rule never matches.
    pub(crate) services: bool,
}

/// A rule ready to match packets.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    pub(crate) action: Action,
    pub(crate) ip_version: Option<u8>,
    /// IP version of the rule's CIDRs, if it has any: the rule only exists
    /// in that family's rendering.
    pub(crate) cidr_version: Option<u8>,
    pub(crate) protocol: Option<u8>,
    pub(crate) not_protocol: Option<u8>,
    pub(crate) icmp: Option<IcmpFields>,
    pub(crate) not_icmp: Option<IcmpFields>,
    pub(crate) src: CompiledEntity,
    pub(crate) dst: CompiledEntity,
}

impl CompiledRule {
    /// Protocol named ports resolve with: the rule's if it carries ports,
    /// otherwise TCP (as Felix does).
    pub(crate) fn named_port_protocol(&self) -> u8 {
        self.protocol
            .filter(|p| matches!(p, 6 | 17 | 132))
            .unwrap_or(6)
    }
}

/// Compiles `rules` found at `field` (e.g. `spec.ingress`) of a resource;
/// `namespace` is the policy's namespace for NetworkPolicy.
pub(crate) fn compile_rules(
    kind: Kind,
    name: &str,
    field: &str,
    rules: &[Rule],
    namespace: Option<&str>,
) -> Result<Vec<CompiledRule>, Error> {
    let origin = Origin { kind, name };
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| compile_rule(origin, &format!("{field}[{i}]"), r, namespace))
        .collect()
}

fn compile_rule(
    origin: Origin<'_>,
    at: &str,
    r: &Rule,
    namespace: Option<&str>,
) -> Result<CompiledRule, Error> {
    let src = compile_entity(origin, &format!("{at}.source"), &r.source, namespace)?;
    let dst = compile_entity(
        origin,
        &format!("{at}.destination"),
        &r.destination,
        namespace,
    )?;
    let cidr_version = [&src.nets, &src.not_nets, &dst.nets, &dst.not_nets]
        .into_iter()
        .flatten()
        .next()
        .map(|n| if n.addr().is_ipv4() { 4 } else { 6 });
    Ok(CompiledRule {
        action: r.action,
        ip_version: r.ip_version,
        cidr_version,
        protocol: r.protocol.map(|p| p.number()),
        not_protocol: r.not_protocol.map(|p| p.number()),
        icmp: r.icmp,
        not_icmp: r.not_icmp,
        src,
        dst,
    })
}

fn compile_entity(
    origin: Origin<'_>,
    at: &str,
    e: &EntityRule,
    namespace: Option<&str>,
) -> Result<CompiledEntity, Error> {
    let selectors = entity_selectors(origin, at, e, namespace)?;
    let (ports, named_ports) = split_ports(&e.ports);
    let (not_ports, not_named_ports) = split_ports(&e.not_ports);
    Ok(CompiledEntity {
        nets: parse_nets(origin, &format!("{at}.nets"), &e.nets)?,
        not_nets: parse_nets(origin, &format!("{at}.notNets"), &e.not_nets)?,
        selector: selectors.positive,
        not_selector: selectors.negative,
        ports,
        named_ports,
        not_ports,
        not_named_ports,
        services: e.services.is_some(),
    })
}

fn split_ports(ports: &[Port]) -> (Vec<(u16, u16)>, Vec<String>) {
    let mut numeric = Vec::new();
    let mut named = Vec::new();
    for p in ports {
        match p {
            Port::Range { min, max } => numeric.push((*min, *max)),
            Port::Named(n) => named.push(n.clone()),
        }
    }
    (numeric, named)
}

/// Parses CIDRs or bare IPs, masked to their network.
pub(crate) fn parse_nets(
    origin: Origin<'_>,
    field: &str,
    nets: &[String],
) -> Result<Vec<IpNet>, Error> {
    nets.iter()
        .enumerate()
        .map(|(i, n)| {
            parse_net(n).ok_or_else(|| Error::Address {
                kind: origin.kind,
                name: origin.name.to_owned(),
                field: format!("{field}[{i}]"),
                value: n.clone(),
            })
        })
        .collect()
}

/// A CIDR (masked) or a bare IP (as a host net).
pub(crate) fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::Protocol;

    #[test]
    fn ports_split_and_protocols_become_numbers() {
        let mut r = Rule::new(Action::Allow);
        r.protocol = Some(Protocol::Udp);
        r.destination.ports = vec![Port::number(53), Port::Named("dns".into())];
        r.source.nets = vec!["10.1.2.3/8".into()];
        let c = compile_rules(Kind::GlobalNetworkPolicy, "g", "spec.egress", &[r], None).unwrap();
        assert_eq!(c[0].protocol, Some(17));
        assert_eq!(c[0].dst.ports, vec![(53, 53)]);
        assert_eq!(c[0].dst.named_ports, vec!["dns".to_string()]);
        assert_eq!(c[0].src.nets, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(c[0].cidr_version, Some(4));
        assert_eq!(c[0].named_port_protocol(), 17);
    }

    #[test]
    fn named_ports_default_to_tcp() {
        let r = compile_rule(
            Origin {
                kind: Kind::Profile,
                name: "p",
            },
            "x",
            &Rule::new(Action::Allow),
            None,
        )
        .unwrap();
        assert_eq!(r.named_port_protocol(), 6);
    }

    #[test]
    fn bad_cidr_is_reported_with_its_field() {
        let mut r = Rule::new(Action::Deny);
        r.destination.not_nets = vec!["10.0.0.0/8".into(), "nope".into()];
        let err =
            compile_rules(Kind::GlobalNetworkPolicy, "g", "spec.ingress", &[r], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GlobalNetworkPolicy(g): spec.ingress[0].destination.notNets[1]: \"nope\" is not an IP address or CIDR"
        );
    }
}
