//! The verdict evaluator: a packet is judged at the egress of its source
//! endpoint (if local) and then at the ingress of its destination endpoint
//! (if local), each following reference/policy-semantics.md: tiers in order,
//! Pass, Log, end-of-tier drop, profiles only when no tier decided.

use std::net::IpAddr;

use api::{Action, IcmpFields};

use crate::compile::CompiledEntity;
use crate::ipsets::IpSets;
use crate::keys::EndpointKey;
use crate::model::{EntitySets, InstalledRule, Model};
use crate::ordering::Direction;
use crate::packet::{ConntrackState, Packet};
use crate::trace::{
    Decision, DirectionTrace, Disposition, PolicyTrace, RuleTrace, TierOutcome, TierTrace, Verdict,
};

/// Judges `packet` against the model and explains how.
pub fn trace(model: &Model, packet: &Packet) -> Verdict {
    let verdict = |disposition, decided_by, egress, ingress| Verdict {
        packet: packet.clone(),
        disposition,
        decided_by,
        egress,
        ingress,
    };
    match packet.conntrack {
        ConntrackState::Established | ConntrackState::Related => {
            return verdict(
                Disposition::Allow,
                Decision::ConntrackEstablished,
                None,
                None,
            )
        }
        ConntrackState::Invalid => {
            return verdict(Disposition::Deny, Decision::ConntrackInvalid, None, None)
        }
        ConntrackState::New => {}
    }
    let local = |ip: IpAddr| {
        model
            .endpoint_for_ip(ip)
            .filter(|k| model.is_local(k))
            .cloned()
    };
    let egress = local(packet.src).map(|ep| evaluate(model, ep, Direction::Egress, packet));
    if let Some(e) = &egress {
        if e.disposition == Disposition::Deny {
            let by = e.decided_by.clone();
            return verdict(Disposition::Deny, by, egress, None);
        }
    }
    let ingress = local(packet.dst).map(|ep| evaluate(model, ep, Direction::Ingress, packet));
    let decided_by = match (&ingress, &egress) {
        (Some(i), _) => i.decided_by.clone(),
        (None, Some(e)) => e.decided_by.clone(),
        (None, None) => Decision::NoLocalEndpoint,
    };
    let disposition = ingress
        .as_ref()
        .map_or(Disposition::Allow, |i| i.disposition);
    verdict(disposition, decided_by, egress, ingress)
}

/// Evaluation at one local endpoint and direction.
fn evaluate(
    model: &Model,
    endpoint: EndpointKey,
    direction: Direction,
    packet: &Packet,
) -> DirectionTrace {
    let mut out = DirectionTrace {
        endpoint,
        direction,
        tiers: Vec::new(),
        profiles: Vec::new(),
        disposition: Disposition::Deny,
        decided_by: Decision::NoProfileMatched,
    };
    let Some(applies) = model.endpoint_policies(&out.endpoint) else {
        return out;
    };
    for tier in applies.tiers(direction) {
        let mut tier_trace = TierTrace {
            tier: tier.tier.clone(),
            policies: Vec::new(),
            outcome: TierOutcome::EndOfTierDrop,
        };
        let mut passed = false;
        for key in &tier.policies {
            let rules = model
                .policy(key)
                .and_then(|p| p.rules(direction))
                .unwrap_or(&[]);
            let (policy_trace, hit) = run_rules(model, key.to_string(), rules, packet);
            tier_trace.policies.push(policy_trace);
            match hit {
                Some((rule, action @ (Action::Allow | Action::Deny))) => {
                    tier_trace.outcome = TierOutcome::Decided;
                    out.tiers.push(tier_trace);
                    out.disposition = disposition_of(action);
                    out.decided_by = Decision::Policy {
                        tier: tier.tier.clone(),
                        policy: key.clone(),
                        rule,
                        action,
                    };
                    return out;
                }
                Some((_, _)) => {
                    passed = true;
                    break;
                }
                None => {}
            }
        }
        if passed {
            tier_trace.outcome = TierOutcome::Passed;
        } else if tier.default_action == Action::Pass {
            tier_trace.outcome = TierOutcome::DefaultPass;
        } else {
            out.tiers.push(tier_trace);
            out.decided_by = Decision::EndOfTier {
                tier: tier.tier.clone(),
            };
            return out;
        }
        out.tiers.push(tier_trace);
    }
    for name in &applies.profiles {
        let profile = model.profile(name);
        let rules = profile
            .map(|p| match direction {
                Direction::Ingress => p.ingress.as_slice(),
                Direction::Egress => p.egress.as_slice(),
            })
            .unwrap_or(&[]);
        let (mut profile_trace, hit) = run_rules(model, name.clone(), rules, packet);
        profile_trace.missing = profile.is_none();
        out.profiles.push(profile_trace);
        // Pass in a profile behaves like no match.
        if let Some((rule, action @ (Action::Allow | Action::Deny))) = hit {
            out.disposition = disposition_of(action);
            out.decided_by = Decision::Profile {
                profile: name.clone(),
                rule,
                action,
            };
            return out;
        }
    }
    out
}

fn disposition_of(action: Action) -> Disposition {
    if action == Action::Allow {
        Disposition::Allow
    } else {
        Disposition::Deny
    }
}

/// Runs rules in order until one with a terminal action (Allow, Deny, Pass)
/// matches; Log rules that match are recorded and evaluation goes on.
fn run_rules(
    model: &Model,
    name: String,
    rules: &[InstalledRule],
    packet: &Packet,
) -> (PolicyTrace, Option<(usize, Action)>) {
    let mut trace = PolicyTrace {
        name,
        rules: Vec::new(),
        missing: false,
    };
    for (index, r) in rules.iter().enumerate() {
        let matched = rule_matches(model.sets(), r, packet);
        let action = r.rule.action;
        trace.rules.push(RuleTrace {
            index,
            action,
            matched,
        });
        if matched && action != Action::Log {
            return (trace, Some((index, action)));
        }
    }
    (trace, None)
}

/// Whether a packet matches every criterion of a rule.
pub(crate) fn rule_matches(sets: &IpSets, r: &InstalledRule, packet: &Packet) -> bool {
    let rule = &r.rule;
    let version = packet.ip_version();
    if rule.ip_version.is_some_and(|v| v != version)
        || rule.cidr_version.is_some_and(|v| v != version)
    {
        return false;
    }
    if rule.protocol.is_some_and(|p| p != packet.protocol)
        || rule.not_protocol == Some(packet.protocol)
    {
        return false;
    }
    if rule.icmp.as_ref().is_some_and(|i| !icmp_matches(i, packet)) {
        return false;
    }
    if rule
        .not_icmp
        .as_ref()
        .is_some_and(|i| icmp_matches(i, packet))
    {
        return false;
    }
    let side = |e: &CompiledEntity, s: &EntitySets, ip: IpAddr, port: Option<u16>| {
        entity_matches(sets, e, s, ip, port, packet.protocol)
    };
    side(&rule.src, &r.src, packet.src, packet.src_port)
        && side(&rule.dst, &r.dst, packet.dst, packet.dst_port)
}

fn icmp_matches(fields: &IcmpFields, packet: &Packet) -> bool {
    let Some(h) = packet.icmp else {
        return false;
    };
    matches!(packet.protocol, 1 | 58)
        && fields.type_.is_none_or(|t| t == i32::from(h.type_))
        && fields.code.is_none_or(|c| c == i32::from(h.code))
}

fn entity_matches(
    sets: &IpSets,
    e: &CompiledEntity,
    s: &EntitySets,
    ip: IpAddr,
    port: Option<u16>,
    protocol: u8,
) -> bool {
    if e.services {
        return false;
    }
    if !e.nets.is_empty() && !e.nets.iter().any(|n| n.contains(&ip)) {
        return false;
    }
    if e.not_nets.iter().any(|n| n.contains(&ip)) {
        return false;
    }
    if s.selector
        .as_ref()
        .is_some_and(|k| !sets.contains_ip(k, ip))
    {
        return false;
    }
    if s.not_selector
        .as_ref()
        .is_some_and(|k| sets.contains_ip(k, ip))
    {
        return false;
    }
    let in_ranges =
        |ranges: &[(u16, u16)], p: u16| ranges.iter().any(|(lo, hi)| *lo <= p && p <= *hi);
    let in_named = |keys: &[crate::ipsets::SetKey], p: u16| {
        keys.iter().any(|k| {
            k.named
                .as_ref()
                .is_some_and(|(proto, _)| *proto == protocol)
                && sets.contains_ip_port(k, ip, p)
        })
    };
    if !e.ports.is_empty() || !s.named.is_empty() {
        match port {
            Some(p) if in_ranges(&e.ports, p) || in_named(&s.named, p) => {}
            _ => return false,
        }
    }
    if let Some(p) = port {
        if in_ranges(&e.not_ports, p) || in_named(&s.not_named, p) {
            return false;
        }
    }
    true
}
