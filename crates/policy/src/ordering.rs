//! The ordered answer for one endpoint and direction: tiers by order then
//! name (no order = last), inside each tier policies by order then
//! `namespace/name`, then the endpoint's profiles.

use std::cmp::Ordering;

use api::Action;
use serde::Serialize;

use crate::keys::PolicyKey;

/// Traffic direction relative to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Direction {
    /// Traffic arriving at the endpoint.
    Ingress,
    /// Traffic sent by the endpoint.
    Egress,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// One tier's applicable policies, in evaluation order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierPolicies {
    /// Tier name.
    pub tier: String,
    /// What happens when no rule in the tier matched.
    pub default_action: Action,
    /// Policies, ordered.
    pub policies: Vec<PolicyKey>,
}

/// Everything that applies to one endpoint, per direction, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointPolicies {
    /// Tiers with at least one policy applying to ingress.
    pub ingress: Vec<TierPolicies>,
    /// Tiers with at least one policy applying to egress.
    pub egress: Vec<TierPolicies>,
    /// The endpoint's profiles, in its own order.
    pub profiles: Vec<String>,
}

impl EndpointPolicies {
    /// The tiers for one direction.
    pub fn tiers(&self, direction: Direction) -> &[TierPolicies] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// Compares optional orders, `None` last.
pub(crate) fn cmp_order(a: Option<f64>, b: Option<f64>) -> Ordering {
    a.unwrap_or(f64::INFINITY)
        .total_cmp(&b.unwrap_or(f64::INFINITY))
}

/// A policy that applies, with what it is sorted by.
pub(crate) struct Applicable<'a> {
    pub(crate) tier: &'a str,
    pub(crate) tier_order: Option<f64>,
    pub(crate) default_action: Action,
    pub(crate) order: Option<f64>,
    pub(crate) key: &'a PolicyKey,
}

/// Sorts and groups applicable policies into tiers.
pub(crate) fn group(mut list: Vec<Applicable<'_>>) -> Vec<TierPolicies> {
    list.sort_by(|a, b| {
        cmp_order(a.tier_order, b.tier_order)
            .then_with(|| a.tier.cmp(b.tier))
            .then_with(|| cmp_order(a.order, b.order))
            .then_with(|| a.key.to_string().cmp(&b.key.to_string()))
    });
    let mut out: Vec<TierPolicies> = Vec::new();
    for a in list {
        match out.last_mut() {
            Some(t) if t.tier == a.tier => t.policies.push(a.key.clone()),
            _ => out.push(TierPolicies {
                tier: a.tier.to_owned(),
                default_action: a.default_action,
                policies: vec![a.key.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_then_policies_sorted_with_missing_order_last() {
        let keys = [
            PolicyKey::global("b"),
            PolicyKey::global("a"),
            PolicyKey::namespaced("ns", "a"),
            PolicyKey::global("z"),
            PolicyKey::global("early"),
        ];
        let list = vec![
            Applicable {
                tier: "default",
                tier_order: None,
                default_action: Action::Deny,
                order: Some(10.0),
                key: &keys[0],
            },
            Applicable {
                tier: "default",
                tier_order: None,
                default_action: Action::Deny,
                order: Some(10.0),
                key: &keys[1],
            },
            Applicable {
                tier: "default",
                tier_order: None,
                default_action: Action::Deny,
                order: Some(10.0),
                key: &keys[2],
            },
            Applicable {
                tier: "default",
                tier_order: None,
                default_action: Action::Deny,
                order: None,
                key: &keys[3],
            },
            Applicable {
                tier: "sec",
                tier_order: Some(1.0),
                default_action: Action::Pass,
                order: Some(500.0),
                key: &keys[4],
            },
        ];
        let g = group(list);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].tier, "sec");
        assert_eq!(g[0].default_action, Action::Pass);
        let names: Vec<String> = g[1].policies.iter().map(|k| k.to_string()).collect();
        // "a" < "b" < "ns/a" by name at equal order; no order sorts last.
        assert_eq!(names, vec!["a", "b", "ns/a", "z"]);
    }

    #[test]
    fn none_order_sorts_after_any_number() {
        assert_eq!(cmp_order(Some(1e300), None), Ordering::Less);
        assert_eq!(cmp_order(None, None), Ordering::Equal);
        assert_eq!(cmp_order(Some(-1.0), Some(2.0)), Ordering::Less);
    }
}
