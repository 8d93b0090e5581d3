//! Policy rules (used by NetworkPolicy, GlobalNetworkPolicy and Profile): the types, the
//! normalisation of nets and the per-rule validation.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::port::Port;
use crate::protocol::Protocol;

/// A rule's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Allow,
    Deny,
    Log,
    Pass,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One policy rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_protocol: Option<Protocol>,
    #[serde(default, rename = "notICMP", skip_serializing_if = "Option::is_none")]
    pub not_icmp: Option<IcmpFields>,
    #[serde(default, skip_serializing_if = "EntityRule::is_empty")]
    pub source: EntityRule,
    #[serde(default, skip_serializing_if = "EntityRule::is_empty")]
    pub destination: EntityRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<RuleMetadata>,
}

impl Rule {
    /// A rule with only an action.
    pub fn new(action: Action) -> Rule {
        Rule {
            action,
            ip_version: None,
            protocol: None,
            icmp: None,
            not_protocol: None,
            not_icmp: None,
            source: EntityRule::default(),
            destination: EntityRule::default(),
            http: None,
            metadata: None,
        }
    }
}

/// ICMP type and code match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpFields {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
}

/// Source or destination match criteria.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_nets: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub not_selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_accounts: Option<ServiceAccountMatch>,
}

impl EntityRule {
    /// True when no criterion is set (matches everything).
    pub fn is_empty(&self) -> bool {
        *self == EntityRule::default()
    }
}

/// Kubernetes Service match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceMatch {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Service account match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
}

/// HTTP match (application-layer policy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<HttpPath>,
}

/// One HTTP path match: exactly one of `exact` or `prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPath {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exact: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

/// Free-form rule annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Which list a rule sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Ingress,
    Egress,
}

/// Where rules are being validated: in a GlobalNetworkPolicy a service match must name its
/// namespace; elsewhere (NetworkPolicy, Profile) it defaults to the policy's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Namespaced,
    Global,
}

const MAX_RULES: usize = 1024;
const MAX_NETS: usize = 256;
const MAX_PORTS: usize = 50;

/// Rewrites bare IPs to /32 or /128 CIDRs, as Calico stores them.
pub(crate) fn normalise_nets(nets: &mut [String]) {
    for n in nets.iter_mut() {
        if !n.contains('/') {
            if let Ok(addr) = n.parse::<std::net::IpAddr>() {
                *n = IpNet::from(addr).to_string();
            }
        }
    }
}

pub(crate) fn normalise_rules(rules: &mut [Rule]) {
    for r in rules {
        for e in [&mut r.source, &mut r.destination] {
            normalise_nets(&mut e.nets);
            normalise_nets(&mut e.not_nets);
        }
    }
}

/// Validates a list of rules at `field` (e.g. `spec.ingress`).
pub(crate) fn validate_rules(
    ctx: &Ctx,
    field: &str,
    rules: &[Rule],
    dir: Direction,
    scope: Scope,
) -> Check {
    ctx.ensure(rules.len() <= MAX_RULES, field, || {
        format!(
            "{} rules is more than the maximum of {MAX_RULES}",
            rules.len()
        )
    })?;
    for (i, r) in rules.iter().enumerate() {
        validate_rule(ctx, &format!("{field}[{i}]"), r, dir, scope)?;
    }
    Ok(())
}

fn validate_rule(ctx: &Ctx, at: &str, r: &Rule, dir: Direction, scope: Scope) -> Check {
    if let Some(v) = r.ip_version {
        ctx.ensure(v == 4 || v == 6, &format!("{at}.ipVersion"), || {
            format!("must be 4 or 6, not {v}")
        })?;
    }
    for (name, p) in [("protocol", r.protocol), ("notProtocol", r.not_protocol)] {
        if let Some(p) = p {
            ctx.ensure(p.number() != 0, &format!("{at}.{name}"), || {
                "protocol number must be between 1 and 255".to_string()
            })?;
        }
    }
    validate_ports_need_protocol(ctx, at, r)?;
    validate_icmp(ctx, at, r)?;
    if let Some(http) = &r.http {
        validate_http(ctx, &format!("{at}.http"), r, http, dir)?;
    }
    validate_rule_nets(ctx, at, r)?;
    validate_entity(ctx, &format!("{at}.source"), &r.source, scope)?;
    validate_entity(ctx, &format!("{at}.destination"), &r.destination, scope)?;
    validate_services_placement(ctx, at, r, dir)
}

fn validate_ports_need_protocol(ctx: &Ctx, at: &str, r: &Rule) -> Check {
    for (side, e) in [("source", &r.source), ("destination", &r.destination)] {
        for (name, ports) in [("ports", &e.ports), ("notPorts", &e.not_ports)] {
            if ports.is_empty() {
                continue;
            }
            let field = format!("{at}.{side}.{name}");
            match r.protocol {
                None => ctx.ensure(
                    ports.iter().all(|p| matches!(p, Port::Named(_))),
                    &field,
                    || {
                        "rules with numeric port or port range must set protocol to TCP or UDP or SCTP"
                            .to_string()
                    },
                )?,
                Some(p) => ctx.ensure(p.supports_ports(), &field, || {
                    format!("rules that specify ports must set protocol to TCP or UDP or SCTP, not {p}")
                })?,
            }
        }
    }
    Ok(())
}

fn validate_icmp(ctx: &Ctx, at: &str, r: &Rule) -> Check {
    for (name, icmp) in [("icmp", &r.icmp), ("notICMP", &r.not_icmp)] {
        let Some(icmp) = icmp else { continue };
        let field = format!("{at}.{name}");
        match r.protocol {
            Some(Protocol::Icmp) => ctx.ensure(r.ip_version != Some(6), &field, || {
                "protocol ICMP needs ipVersion 4 (use ICMPv6 for IPv6)".to_string()
            })?,
            Some(Protocol::IcmpV6) => ctx.ensure(r.ip_version != Some(4), &field, || {
                "protocol ICMPv6 needs ipVersion 6 (use ICMP for IPv4)".to_string()
            })?,
            _ => {
                return Err(ctx.fail(&field, "ICMP fields require protocol ICMP or ICMPv6"));
            }
        }
        if let Some(t) = icmp.type_ {
            ctx.ensure((0..=254).contains(&t), &format!("{field}.type"), || {
                format!("ICMP type {t} is not in 0..254")
            })?;
        }
        if let Some(c) = icmp.code {
            ctx.ensure(icmp.type_.is_some(), &format!("{field}.code"), || {
                "ICMP code specified without an ICMP type".to_string()
            })?;
            ctx.ensure((0..=255).contains(&c), &format!("{field}.code"), || {
                format!("ICMP code {c} is not in 0..255")
            })?;
        }
    }
    Ok(())
}

fn validate_http(ctx: &Ctx, field: &str, r: &Rule, http: &HttpMatch, dir: Direction) -> Check {
    ctx.ensure(r.action == Action::Allow, field, || {
        format!(
            "HTTP match is only allowed on Allow rules, not {}",
            r.action
        )
    })?;
    ctx.ensure(dir == Direction::Ingress, field, || {
        "HTTP match is not allowed in egress rules".to_string()
    })?;
    ctx.ensure(
        matches!(r.protocol, None | Some(Protocol::Tcp)),
        field,
        || "HTTP match requires protocol TCP or no protocol".to_string(),
    )?;
    for (i, m) in http.methods.iter().enumerate() {
        ctx.ensure(
            !http.methods[..i].contains(m),
            &format!("{field}.methods[{i}]"),
            || format!("HTTP method \"{m}\" listed more than once"),
        )?;
    }
    for (i, p) in http.paths.iter().enumerate() {
        let at = format!("{field}.paths[{i}]");
        ctx.ensure(p.exact.is_empty() != p.prefix.is_empty(), &at, || {
            "exactly one of exact or prefix must be set".to_string()
        })?;
        let path = if p.exact.is_empty() {
            &p.prefix
        } else {
            &p.exact
        };
        ctx.ensure(
            path.starts_with('/') && !path.contains(['?', ' ', '#']),
            &at,
            || {
                format!(
                    "HTTP path \"{path}\" must start with '/' and not contain '?', '#' or spaces"
                )
            },
        )?;
    }
    Ok(())
}

fn validate_rule_nets(ctx: &Ctx, at: &str, r: &Rule) -> Check {
    let mut seen: Option<u8> = None;
    for (side, e) in [("source", &r.source), ("destination", &r.destination)] {
        for (name, nets) in [("nets", &e.nets), ("notNets", &e.not_nets)] {
            let field = format!("{at}.{side}.{name}");
            ctx.ensure(nets.len() <= MAX_NETS, &field, || {
                format!(
                    "{} entries is more than the maximum of {MAX_NETS}",
                    nets.len()
                )
            })?;
            for (i, n) in nets.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let net = check::parse_net(n).map_err(|e| ctx.fail(&f, e))?;
                let v = check::ip_version(net.addr());
                if name == "notNets" {
                    ctx.ensure(net.prefix_len() != 0, &f, || {
                        format!("catch-all {n} in notNets matches no traffic")
                    })?;
                }
                if let Some(want) = r.ip_version {
                    ctx.ensure(want == v, &f, || {
                        format!("{n} is IPv{v} but the rule has ipVersion {want}")
                    })?;
                }
                if let Some(prev) = seen {
                    ctx.ensure(prev == v, &f, || {
                        "rule contains both IPv4 and IPv6 CIDRs".to_string()
                    })?;
                }
                seen = Some(v);
            }
        }
    }
    Ok(())
}

fn validate_entity(ctx: &Ctx, at: &str, e: &EntityRule, scope: Scope) -> Check {
    check::selector(ctx, &format!("{at}.selector"), &e.selector, false)?;
    check::selector(ctx, &format!("{at}.notSelector"), &e.not_selector, false)?;
    let ns_field = format!("{at}.namespaceSelector");
    check::selector(ctx, &ns_field, &e.namespace_selector, true)?;
    if e.namespace_selector.contains("global(") {
        ctx.ensure(e.namespace_selector.trim() == "global()", &ns_field, || {
            "global() cannot be combined with other selectors".to_string()
        })?;
    }
    for (name, ports) in [("ports", &e.ports), ("notPorts", &e.not_ports)] {
        let field = format!("{at}.{name}");
        ctx.ensure(ports.len() <= MAX_PORTS, &field, || {
            format!(
                "{} ports is more than the maximum of {MAX_PORTS}",
                ports.len()
            )
        })?;
        for (i, p) in ports.iter().enumerate() {
            match p {
                Port::Range { min, max } => {
                    let at = format!("{field}[{i}]");
                    ctx.ensure(min <= max, &at, || {
                        format!("port range minimum {min} is greater than maximum {max}")
                    })?;
                    ctx.ensure(*min >= 1, &at, || {
                        "port number must be between 1 and 65535".to_string()
                    })?;
                }
                Port::Named(n) => {
                    ctx.ensure(check::is_port_name(n), &format!("{field}[{i}]"), || {
                        format!("\"{n}\" is not a valid port name")
                    })?
                }
            }
        }
    }
    if let Some(sa) = &e.service_accounts {
        let field = format!("{at}.serviceAccounts");
        for (i, n) in sa.names.iter().enumerate() {
            check::subdomain_name(ctx, &format!("{field}.names[{i}]"), n)?;
        }
        check::selector(ctx, &format!("{field}.selector"), &sa.selector, false)?;
    }
    if let Some(svc) = &e.services {
        let field = format!("{at}.services");
        ctx.ensure(!svc.name.is_empty(), &format!("{field}.name"), || {
            "a service name must be specified".to_string()
        })?;
        check::subdomain_name(ctx, &format!("{field}.name"), &svc.name)?;
        check::optional_name(ctx, &format!("{field}.namespace"), &svc.namespace)?;
        let conflicts = [
            ("selector", !e.selector.is_empty()),
            ("notSelector", !e.not_selector.is_empty()),
            ("namespaceSelector", !e.namespace_selector.is_empty()),
            ("nets", !e.nets.is_empty()),
            ("notNets", !e.not_nets.is_empty()),
            ("serviceAccounts", e.service_accounts.is_some()),
        ];
        if let Some((name, _)) = conflicts.iter().find(|(_, set)| *set) {
            return Err(ctx.fail(&field, format!("services cannot be combined with {name}")));
        }
        if scope == Scope::Global {
            ctx.ensure(
                !svc.namespace.is_empty(),
                &format!("{field}.namespace"),
                || "must specify a namespace in a global policy".to_string(),
            )?;
        }
    }
    Ok(())
}

fn validate_services_placement(ctx: &Ctx, at: &str, r: &Rule, dir: Direction) -> Check {
    match dir {
        Direction::Egress => {
            ctx.ensure(
                r.source.services.is_none(),
                &format!("{at}.source.services"),
                || "not allowed in egress rule source".to_string(),
            )?;
            let d = &r.destination;
            ctx.ensure(
                d.services.is_none() || (d.ports.is_empty() && d.not_ports.is_empty()),
                &format!("{at}.destination.ports"),
                || "ports cannot be combined with services in an egress rule".to_string(),
            )
        }
        Direction::Ingress => ctx.ensure(
            r.destination.services.is_none(),
            &format!("{at}.destination.services"),
            || "not allowed in ingress rule destination".to_string(),
        ),
    }
}
