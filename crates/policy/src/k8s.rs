//! Kubernetes `networking.k8s.io/v1` NetworkPolicy: serde types for the k8s
//! YAML, and the conversion into the Calico NetworkPolicy Calico generates
//! for it (`knp.default.<name>`, tier default, order 1000).

use std::collections::BTreeMap;

use api::{
    Action, EntityRule, NetworkPolicy, NetworkPolicySpec, ObjectMeta, PolicyType, Port, Protocol,
    Rule,
};
use serde::{Deserialize, Serialize};

use crate::compile::parse_net;
use crate::error::Error;
use crate::rewrite::ORCHESTRATOR_LABEL;

/// Name prefix of converted policies.
pub const K8S_POLICY_PREFIX: &str = "knp.default.";

/// Order given to converted policies.
pub const K8S_POLICY_ORDER: f64 = 1000.0;

/// A Kubernetes NetworkPolicy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sNetworkPolicy {
    /// `networking.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `NetworkPolicy`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata (the subset used).
    #[serde(default)]
    pub metadata: K8sMeta,
    /// The policy.
    #[serde(default)]
    pub spec: K8sNetworkPolicySpec,
}

/// Kubernetes object metadata (the fields carried over).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sMeta {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Resource version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

/// NetworkPolicy spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sNetworkPolicySpec {
    /// Pods the policy applies to (`{}` = all in the namespace).
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Vec<K8sIngressRule>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Vec<K8sEgressRule>,
    /// `Ingress` / `Egress`.
    #[serde(default)]
    pub policy_types: Vec<String>,
}

/// A Kubernetes label selector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact matches.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values for In / NotIn.
    #[serde(default)]
    pub values: Vec<String>,
}

/// An ingress rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct K8sIngressRule {
    /// Sources (empty = anything).
    #[serde(default)]
    pub from: Vec<K8sPeer>,
    /// Destination ports (empty = all).
    #[serde(default)]
    pub ports: Vec<K8sPort>,
}

/// An egress rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct K8sEgressRule {
    /// Destinations (empty = anything).
    #[serde(default)]
    pub to: Vec<K8sPeer>,
    /// Destination ports (empty = all).
    #[serde(default)]
    pub ports: Vec<K8sPort>,
}

/// A rule peer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sPeer {
    /// Pods (in the policy's namespace unless namespaceSelector is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// A CIDR with exceptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// `ipBlock`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpBlock {
    /// The CIDR.
    pub cidr: String,
    /// CIDRs inside it to exclude.
    #[serde(default)]
    pub except: Vec<String>,
}

/// A rule port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sPort {
    /// `TCP` (default), `UDP`, `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Number or named port; absent = all ports of the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// End of a port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}

/// Kubernetes' int-or-string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A string (a named port).
    Str(String),
}

/// The converted policy, and the rules that could not be converted (Calico
/// drops such rules and keeps the policy).
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// The Calico NetworkPolicy.
    pub policy: NetworkPolicy,
    /// One message per dropped rule.
    pub dropped_rules: Vec<String>,
}

/// Converts a Kubernetes NetworkPolicy the way Calico's k8s conversion does.
pub fn convert_k8s_network_policy(np: &K8sNetworkPolicy) -> Result<Converted, Error> {
    let ns = np
        .metadata
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| Error::K8sConversion {
            name: np.metadata.name.clone(),
            reason: "metadata.namespace is required".to_owned(),
        })?;
    let mut dropped_rules = Vec::new();
    let mut ingress = Vec::new();
    for (i, r) in np.spec.ingress.iter().enumerate() {
        match rules_for(&r.from, &r.ports, true) {
            Ok(rules) => ingress.extend(rules),
            Err(e) => dropped_rules.push(format!("ingress[{i}]: {e}")),
        }
    }
    let mut egress = Vec::new();
    for (i, r) in np.spec.egress.iter().enumerate() {
        match rules_for(&r.to, &r.ports, false) {
            Ok(rules) => egress.extend(rules),
            Err(e) => dropped_rules.push(format!("egress[{i}]: {e}")),
        }
    }
    let has = |t: &str| np.spec.policy_types.iter().any(|p| p == t);
    let mut types = Vec::new();
    if has("Ingress") {
        types.push(PolicyType::Ingress);
    }
    if has("Egress") {
        types.push(PolicyType::Egress);
    }
    if types.is_empty() {
        types.push(PolicyType::Ingress);
    }
    let metadata = ObjectMeta {
        name: format!("{K8S_POLICY_PREFIX}{}", np.metadata.name),
        namespace: Some(ns),
        uid: np.metadata.uid.clone(),
        resource_version: np.metadata.resource_version.clone(),
        creation_timestamp: np.metadata.creation_timestamp.clone(),
        ..Default::default()
    };
    let spec = NetworkPolicySpec {
        tier: api::DEFAULT_TIER.to_owned(),
        order: Some(K8S_POLICY_ORDER),
        selector: k8s_selector(Some(&np.spec.pod_selector), true),
        ingress,
        egress,
        types,
        ..Default::default()
    };
    Ok(Converted {
        policy: NetworkPolicy { metadata, spec },
        dropped_rules,
    })
}

/// Calico's text for a k8s label selector; pod selectors start with the
/// orchestrator clause, an empty namespace selector is `all()`.
fn k8s_selector(sel: Option<&LabelSelector>, pod: bool) -> String {
    let mut parts = Vec::new();
    if pod {
        parts.push(format!("{ORCHESTRATOR_LABEL} == 'k8s'"));
    }
    let Some(sel) = sel else {
        return parts.join(" && ");
    };
    if !pod && sel.match_labels.is_empty() && sel.match_expressions.is_empty() {
        return "all()".to_owned();
    }
    for (k, v) in &sel.match_labels {
        parts.push(format!("{k} == '{v}'"));
    }
    for e in &sel.match_expressions {
        let values = e.values.join("', '");
        match e.operator.as_str() {
            "In" => parts.push(format!("{} in {{ '{values}' }}", e.key)),
            "NotIn" => parts.push(format!("{} not in {{ '{values}' }}", e.key)),
            "Exists" => parts.push(format!("has({})", e.key)),
            "DoesNotExist" => parts.push(format!("! has({})", e.key)),
            _ => {}
        }
    }
    parts.join(" && ")
}

/// The Calico fields for one peer: selector, namespaceSelector, nets, notNets.
type PeerFields = (String, String, Vec<String>, Vec<String>);

fn peer_fields(peer: Option<&K8sPeer>) -> Result<PeerFields, String> {
    let Some(peer) = peer else {
        return Ok(Default::default());
    };
    if let Some(block) = &peer.ip_block {
        let net = |s: &String| {
            parse_net(s)
                .filter(|_| s.contains('/'))
                .map(|n| n.to_string())
                .ok_or_else(|| format!("invalid CIDR \"{s}\" in ipBlock"))
        };
        let nets = vec![net(&block.cidr)?];
        let not_nets = block.except.iter().map(net).collect::<Result<_, _>>()?;
        return Ok((String::new(), String::new(), nets, not_nets));
    }
    Ok((
        k8s_selector(peer.pod_selector.as_ref(), true),
        k8s_selector(peer.namespace_selector.as_ref(), false),
        Vec::new(),
        Vec::new(),
    ))
}

/// One Calico Allow rule per (protocol, peer) for a k8s rule.
fn rules_for(peers: &[K8sPeer], ports: &[K8sPort], ingress: bool) -> Result<Vec<Rule>, String> {
    // Protocol ("" = none) -> ports (None = all ports of the protocol).
    let mut by_protocol: BTreeMap<String, Option<Vec<Port>>> = BTreeMap::new();
    if ports.is_empty() {
        by_protocol.insert(String::new(), None);
    }
    for p in ports {
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_owned());
        let numbers = match &p.port {
            None => None,
            Some(port) => {
                let mut text = match port {
                    IntOrString::Int(n) => n.to_string(),
                    IntOrString::Str(s) => s.clone(),
                };
                if let Some(end) = p.end_port {
                    text = format!("{text}:{end}");
                }
                Some(vec![
                    Port::parse(&text).map_err(|e| format!("invalid port {text:?}: {e}"))?
                ])
            }
        };
        match numbers {
            None => {
                by_protocol.insert(protocol, None);
            }
            Some(list) => match by_protocol.get_mut(&protocol) {
                None => {
                    by_protocol.insert(protocol, Some(list));
                }
                Some(Some(existing)) => existing.extend(list),
                Some(None) => {}
            },
        }
    }
    let peers: Vec<Option<&K8sPeer>> = if peers.is_empty() {
        vec![None]
    } else {
        peers.iter().map(Some).collect()
    };
    let mut rules = Vec::new();
    for (protocol_text, list) in by_protocol {
        let protocol = if protocol_text.is_empty() {
            None
        } else {
            Some(Protocol::parse(&protocol_text)?)
        };
        let ports = list.map(simplify_ports).unwrap_or_default();
        for peer in &peers {
            let (selector, namespace_selector, nets, not_nets) = peer_fields(*peer)?;
            let peer_side = EntityRule {
                selector,
                namespace_selector,
                nets,
                not_nets,
                ..Default::default()
            };
            let mut rule = Rule::new(Action::Allow);
            rule.protocol = protocol;
            if ingress {
                rule.source = peer_side;
                rule.destination.ports = ports.clone();
            } else {
                rule.destination = EntityRule {
                    ports: ports.clone(),
                    ..peer_side
                };
            }
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// Calico's SimplifyPorts: named ports first (as given), then numeric ports
/// coalesced into ranges; fewer than two numbers are left as given.
fn simplify_ports(ports: Vec<Port>) -> Vec<Port> {
    if ports.len() <= 1 {
        return ports;
    }
    let mut named = Vec::new();
    let mut numbers: Vec<u32> = Vec::new();
    for p in &ports {
        match p {
            Port::Named(_) => named.push(p.clone()),
            Port::Range { min, max } => numbers.extend(u32::from(*min)..=u32::from(*max)),
        }
    }
    if numbers.len() <= 1 {
        return ports;
    }
    numbers.sort_unstable();
    let mut out = named;
    let mut i = 0;
    while i < numbers.len() {
        let first = numbers[i];
        let mut last = first;
        i += 1;
        while i < numbers.len() && numbers[i] <= last + 1 {
            last = numbers[i];
            i += 1;
        }
        // Values came from u16 ports, so they fit.
        let (min, max) = (first as u16, last as u16);
        out.push(Port::Range { min, max });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Converted {
        let np: K8sNetworkPolicy = serde_json::from_value(json).unwrap();
        convert_k8s_network_policy(&np).unwrap()
    }

    #[test]
    fn default_deny_ingress_has_types_and_no_rules() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "deny", "namespace": "prod"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
        }));
        let p = &c.policy;
        assert_eq!(p.metadata.name, "knp.default.deny");
        assert_eq!(p.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(p.spec.order, Some(1000.0));
        assert_eq!(p.spec.selector, "projectcalico.org/orchestrator == 'k8s'");
        assert_eq!(p.spec.types, vec![PolicyType::Ingress]);
        assert!(p.spec.ingress.is_empty() && p.spec.egress.is_empty());
    }

    #[test]
    fn missing_policy_types_mean_ingress_and_egress_flag_is_kept() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "x", "namespace": "n"},
            "spec": {"podSelector": {"matchLabels": {"b": "2", "a": "1"}}, "egress": [{}], "policyTypes": ["Egress"]}
        }));
        assert_eq!(
            c.policy.spec.selector,
            "projectcalico.org/orchestrator == 'k8s' && a == '1' && b == '2'"
        );
        assert_eq!(c.policy.spec.types, vec![PolicyType::Egress]);
        assert_eq!(c.policy.spec.egress, vec![Rule::new(Action::Allow)]);
        let no_types = policy(serde_json::json!({
            "metadata": {"name": "x", "namespace": "n"}, "spec": {"ingress": [{}]}
        }));
        assert_eq!(no_types.policy.spec.types, vec![PolicyType::Ingress]);
    }

    #[test]
    fn peers_and_ports_expand_per_protocol_and_peer() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
                "ingress": [{
                    "from": [
                        {"podSelector": {"matchLabels": {"role": "fe"}}},
                        {"namespaceSelector": {}},
                        {"ipBlock": {"cidr": "10.0.0.5/8", "except": ["10.1.0.0/16"]}}
                    ],
                    "ports": [{"port": 81}, {"port": 80}, {"port": 82}, {"protocol": "UDP", "port": "dns"}, {"port": 9000, "endPort": 9002}]
                }]
            }
        }));
        let p = &c.policy.spec;
        assert_eq!(
            p.selector,
            "projectcalico.org/orchestrator == 'k8s' && app in { 'a', 'b' }"
        );
        // TCP sorts before UDP; three peers each.
        assert_eq!(p.ingress.len(), 6);
        let tcp = &p.ingress[0];
        assert_eq!(tcp.protocol, Some(Protocol::Tcp));
        assert_eq!(
            tcp.destination.ports,
            vec![
                Port::Range { min: 80, max: 82 },
                Port::Range {
                    min: 9000,
                    max: 9002
                }
            ]
        );
        assert_eq!(
            tcp.source.selector,
            "projectcalico.org/orchestrator == 'k8s' && role == 'fe'"
        );
        assert_eq!(tcp.source.namespace_selector, "");
        let all_ns = &p.ingress[1];
        assert_eq!(
            all_ns.source.selector,
            "projectcalico.org/orchestrator == 'k8s'"
        );
        assert_eq!(all_ns.source.namespace_selector, "all()");
        let block = &p.ingress[2];
        assert_eq!(block.source.nets, vec!["10.0.0.0/8".to_string()]);
        assert_eq!(block.source.not_nets, vec!["10.1.0.0/16".to_string()]);
        assert_eq!(block.source.selector, "");
        let udp = &p.ingress[3];
        assert_eq!(udp.protocol, Some(Protocol::Udp));
        assert_eq!(udp.destination.ports, vec![Port::Named("dns".into())]);
    }

    #[test]
    fn port_without_number_means_all_ports_of_protocol() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "x", "namespace": "n"},
            "spec": {"egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}],
                     "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "UDP"}]}],
                     "policyTypes": ["Egress"]}
        }));
        let r = &c.policy.spec.egress[0];
        assert_eq!(r.protocol, Some(Protocol::Udp));
        assert!(r.destination.ports.is_empty());
        assert_eq!(r.destination.namespace_selector, "team == 'a'");
    }

    #[test]
    fn converted_policy_is_valid_calico() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}}], "ports": [{"port": "http"}]}]}
        }));
        assert_eq!(
            c.policy.spec.ingress[0].source.selector,
            "projectcalico.org/orchestrator == 'k8s' && ! has(x)"
        );
        let r = api::Resource::NetworkPolicy(c.policy);
        r.validate().unwrap();
    }

    #[test]
    fn bad_rule_is_dropped_but_policy_kept() {
        let c = policy(serde_json::json!({
            "metadata": {"name": "x", "namespace": "n"},
            "spec": {"ingress": [{"ports": [{"port": "http", "endPort": 90}]}, {}]}
        }));
        assert_eq!(c.dropped_rules.len(), 1);
        assert!(c.dropped_rules[0].starts_with("ingress[0]"));
        assert_eq!(c.policy.spec.ingress, vec![Rule::new(Action::Allow)]);
    }

    #[test]
    fn simplify_keeps_single_numbers_and_merges_duplicates() {
        assert_eq!(simplify_ports(vec![Port::number(5)]), vec![Port::number(5)]);
        assert_eq!(
            simplify_ports(vec![
                Port::number(3),
                Port::Named("a".into()),
                Port::number(3),
                Port::number(1)
            ]),
            vec![Port::Named("a".into()), Port::number(1), Port::number(3)]
        );
    }
}
