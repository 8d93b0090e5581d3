//! The match part of policy and profile rules: protocols, addresses (nets and selector sets),
//! ports (numeric and named-port sets) and ICMP, each with its negation, for one IP version.

use ipnet::IpNet;

use super::{Pieces, SetKind};
use crate::model::{EndpointMatch, IcmpMatch, IpVersion, PortRange, Protocol, Rule};
use crate::names;

impl Pieces<'_> {
    /// The match parts of a rule, one list per nft rule it takes (empty when the rule cannot
    /// match in this IP version). A side whose ports are numeric ports and named ports, or
    /// several named ports, is an OR that one nft rule cannot say: the rule is written once
    /// per alternative (per source alternative times per destination alternative).
    pub(super) fn rule_matches(&self, rule: &Rule) -> Result<Vec<Vec<String>>, String> {
        if rule.ip_version.is_some_and(|v| v != self.family) {
            return Ok(Vec::new());
        }
        let mut prefix = Vec::new();
        if let Some(p) = rule.protocol {
            if !self.protocol_in_family(p) {
                return Ok(Vec::new());
            }
            prefix.push(format!("meta l4proto {}", protocol_name(p)));
        }
        if let Some(p) = rule.not_protocol {
            if self.protocol_in_family(p) {
                prefix.push(format!("meta l4proto != {}", protocol_name(p)));
            }
        }
        let has_ports = |m: &EndpointMatch| !m.ports.is_empty() || !m.not_ports.is_empty();
        if has_ports(&rule.source) || has_ports(&rule.destination) {
            match rule.protocol {
                Some(Protocol::Tcp | Protocol::Udp | Protocol::Sctp | Protocol::UdpLite) => {}
                _ => return Err("ports need protocol tcp, udp, sctp or udplite".to_owned()),
            }
        }
        for (side, m) in [("saddr", &rule.source), ("daddr", &rule.destination)] {
            if !self.address_match(side, m, &mut prefix)? {
                return Ok(Vec::new());
            }
        }
        let src = self.port_matches(("saddr", "sport"), &rule.source)?;
        let dst = self.port_matches(("daddr", "dport"), &rule.destination)?;
        let icmp = icmp_matches(rule, self.family)?;
        let mut variants: Vec<Vec<String>> = Vec::new();
        for s in &src.alternatives {
            for d in &dst.alternatives {
                let mut parts = prefix.clone();
                parts.extend(s.iter().cloned());
                parts.extend(src.negated.iter().cloned());
                parts.extend(d.iter().cloned());
                parts.extend(dst.negated.iter().cloned());
                parts.extend(icmp.iter().cloned());
                if !variants.contains(&parts) {
                    variants.push(parts);
                }
            }
        }
        Ok(variants)
    }

    /// The port matches of one side: the alternatives (numeric ports, each named-port set;
    /// one empty alternative when there are none) and the negated matches.
    fn port_matches(
        &self,
        (addr, port): (&str, &str),
        m: &EndpointMatch,
    ) -> Result<PortMatches, String> {
        let a = self.addr_keyword();
        let named = |id: &String| -> Result<String, String> {
            if self
                .known_set
                .is_none_or(|known| known(SetKind::NamedPort, id))
            {
                Ok(names::named_port_set(id))
            } else {
                Err(format!("unknown named-port set {id}"))
            }
        };
        let tuple = format!("{a} {addr} . meta l4proto . th {port}");
        let mut alternatives = Vec::new();
        if !m.ports.is_empty() {
            alternatives.push(Some(format!("th {port} {}", port_list(&m.ports))));
        }
        for id in &m.named_port_sets {
            alternatives.push(Some(format!("{tuple} @{}", named(id)?)));
        }
        if alternatives.is_empty() {
            alternatives.push(None);
        }
        let mut negated = Vec::new();
        if !m.not_ports.is_empty() {
            negated.push(format!("th {port} != {}", port_list(&m.not_ports)));
        }
        for id in &m.not_named_port_sets {
            negated.push(format!("{tuple} != @{}", named(id)?));
        }
        Ok(PortMatches {
            alternatives,
            negated,
        })
    }

    /// Pushes the address matches of one side; false when the side cannot match here.
    fn address_match(
        &self,
        side: &str,
        m: &EndpointMatch,
        parts: &mut Vec<String>,
    ) -> Result<bool, String> {
        let a = self.addr_keyword();
        let nets = self.of_family(&m.nets);
        if !m.nets.is_empty() && nets.is_empty() {
            return Ok(false);
        }
        if !nets.is_empty() {
            parts.push(format!("{a} {side} {}", net_list(&nets)));
        }
        let not_nets = self.of_family(&m.not_nets);
        if !not_nets.is_empty() {
            parts.push(format!("{a} {side} != {}", net_list(&not_nets)));
        }
        let known = |id: &String| {
            if self
                .known_set
                .is_none_or(|known| known(SetKind::Selector, id))
            {
                Ok(names::selector_set(id))
            } else {
                Err(format!("unknown selector set {id}"))
            }
        };
        if let Some(id) = &m.selector_set {
            parts.push(format!("{a} {side} @{}", known(id)?));
        }
        for id in &m.not_selector_sets {
            parts.push(format!("{a} {side} != @{}", known(id)?));
        }
        Ok(true)
    }

    fn protocol_in_family(&self, p: Protocol) -> bool {
        !matches!(
            (p, self.family),
            (Protocol::Icmp, IpVersion::V6) | (Protocol::IcmpV6, IpVersion::V4)
        )
    }
}

/// One side's port matches (see [`Pieces::port_matches`]).
struct PortMatches {
    /// Any one must match; `None` is "no port match" (the side has no positive ports).
    alternatives: Vec<Option<String>>,
    /// All must hold.
    negated: Vec<String>,
}

/// The ICMP type/code matches of a rule.
fn icmp_matches(rule: &Rule, family: IpVersion) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    if rule.icmp.is_none() && rule.not_icmp.is_none() {
        return Ok(parts);
    }
    let icmp = match (rule.protocol, family) {
        (Some(Protocol::Icmp), IpVersion::V4) => "icmp",
        (Some(Protocol::IcmpV6), IpVersion::V6) => "icmpv6",
        _ => return Err("icmp type/code needs protocol icmp or icmpv6".to_owned()),
    };
    if let Some(IcmpMatch { icmp_type, code }) = rule.icmp {
        parts.push(format!("{icmp} type {icmp_type}"));
        if let Some(code) = code {
            parts.push(format!("{icmp} code {code}"));
        }
    }
    if let Some(IcmpMatch { icmp_type, code }) = rule.not_icmp {
        match code {
            None => parts.push(format!("{icmp} type != {icmp_type}")),
            Some(code) => parts.push(format!(
                "{icmp} type . {icmp} code != {{ {icmp_type} . {code} }}"
            )),
        }
    }
    Ok(parts)
}

/// Sorted, deduplicated nets with every net inside another one dropped: nft rejects
/// overlapping intervals, while adjacent ones are kept apart so that a membership change
/// stays a one-element change.
pub(super) fn without_contained(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    for n in &mut nets {
        *n = n.trunc();
    }
    nets.sort_by_key(|n| (n.network(), n.prefix_len()));
    let mut kept: Vec<IpNet> = Vec::with_capacity(nets.len());
    for n in nets {
        if !kept.last().is_some_and(|last| last.contains(&n)) {
            kept.push(n);
        }
    }
    kept
}

pub(super) fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "tcp".to_owned(),
        Protocol::Udp => "udp".to_owned(),
        Protocol::Icmp => "icmp".to_owned(),
        Protocol::IcmpV6 => "ipv6-icmp".to_owned(),
        Protocol::Sctp => "sctp".to_owned(),
        Protocol::UdpLite => "udplite".to_owned(),
        Protocol::Number(n) => n.to_string(),
    }
}

fn net_list(nets: &[IpNet]) -> String {
    match nets {
        [one] => one.to_string(),
        many => format!(
            "{{ {} }}",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn port_list(ports: &[PortRange]) -> String {
    let text = |p: &PortRange| {
        if p.first == p.last {
            p.first.to_string()
        } else {
            format!("{}-{}", p.first, p.last)
        }
    };
    match ports {
        [one] => text(one),
        many => {
            // Sorted and merged so nft never sees overlapping intervals.
            let mut sorted: Vec<PortRange> = many.to_vec();
            sorted.sort();
            let mut merged: Vec<PortRange> = Vec::new();
            for p in sorted {
                match merged.last_mut() {
                    Some(last) if u32::from(p.first) <= u32::from(last.last) + 1 => {
                        last.last = last.last.max(p.last);
                    }
                    _ => merged.push(p),
                }
            }
            match merged.as_slice() {
                [one] => text(one),
                many => format!(
                    "{{ {} }}",
                    many.iter().map(text).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn contained_nets_are_dropped_adjacent_ones_kept() {
        let got = without_contained(nets(&[
            "10.0.0.3/32",
            "10.0.0.0/8",
            "10.0.0.0/24",
            "11.0.0.1/32",
            "11.0.0.0/32",
            "11.0.0.1/32",
            "10.1.2.3/16",
        ]));
        assert_eq!(got, nets(&["10.0.0.0/8", "11.0.0.0/32", "11.0.0.1/32"]));
    }

    #[test]
    fn port_lists_are_merged_and_sorted() {
        let p = |first, last| PortRange { first, last };
        assert_eq!(port_list(&[p(80, 80)]), "80");
        assert_eq!(
            port_list(&[p(90, 99), p(80, 80), p(81, 85), p(95, 120)]),
            "{ 80-85, 90-120 }"
        );
        assert_eq!(port_list(&[p(1, 10), p(11, 11)]), "1-11");
    }
}
