//! NetworkPolicy, GlobalNetworkPolicy, Profile and Tier: types, defaults (tier, policy
//! types inference, built-in tier orders) and validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::ippool::Condition;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::rule::{self, Action, Direction, Rule, Scope};
use crate::skip::is_false;

/// Which traffic direction a policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

/// Hints that change how a policy is programmed, not what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PerformanceHint {
    AssumeNeededOnEveryNode,
}

/// The tier policies land in when none is given.
pub const DEFAULT_TIER: &str = "default";

/// Label Calico sets on every policy naming its tier.
pub const TIER_LABEL: &str = "projectcalico.org/tier";

/// A namespaced policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

/// NetworkPolicy spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::order::serialize"
    )]
    pub order: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PerformanceHint>,
}

/// A cluster-wide policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalNetworkPolicy {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: GlobalNetworkPolicySpec,
}

/// GlobalNetworkPolicy spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalNetworkPolicySpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::order::serialize"
    )]
    pub order: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PolicyType>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub do_not_track: bool,
    #[serde(default, rename = "preDNAT", skip_serializing_if = "is_false")]
    pub pre_dnat: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub apply_on_forward: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_selector: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_selector: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performance_hints: Vec<PerformanceHint>,
}

/// A profile: rules and labels inherited by the endpoints that list it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ProfileSpec,
}

/// Profile spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_to_apply: BTreeMap<String, String>,
}

/// An ordered group of policies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TierSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TierStatus>,
}

/// Tier spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSpec {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::order::serialize"
    )]
    pub order: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<Action>,
}

/// Tier status, written by Calico.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Built-in tiers: name, order, default action.
pub const BUILTIN_TIERS: &[(&str, f64, Action)] = &[
    ("kube-admin", 1_000.0, Action::Pass),
    (DEFAULT_TIER, 1_000_000.0, Action::Deny),
    ("kube-baseline", 10_000_000.0, Action::Pass),
];

/// Calico's inference when `types` is empty: Egress only when there are egress rules
/// and no ingress rules; both when both are present; otherwise Ingress.
pub fn infer_policy_types(ingress: &[Rule], egress: &[Rule]) -> Vec<PolicyType> {
    match (ingress.is_empty(), egress.is_empty()) {
        (_, true) => vec![PolicyType::Ingress],
        (true, false) => vec![PolicyType::Egress],
        (false, false) => vec![PolicyType::Ingress, PolicyType::Egress],
    }
}

fn is_label_name_with_optional_tier(name: &str) -> bool {
    match name.split_once('.') {
        Some((a, b)) => check::is_dns_label(a) && check::is_dns_label(b),
        None => check::is_dns_label(name),
    }
}

fn policy_name(ctx: &Ctx, name: &str, allow_knp: bool) -> Check {
    if name.is_empty() {
        return Err(ctx.fail("metadata.name", "name must be specified"));
    }
    let knp = allow_knp
        && ["knp.default.", "ossg.default."]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(check::is_dns_subdomain));
    ctx.ensure(
        name.len() <= 253 && (knp || is_label_name_with_optional_tier(name)),
        "metadata.name",
        || {
            format!("\"{name}\" must consist of lower case alphanumeric characters or '-' (optionally one '.' after a tier name)")
        },
    )
}

fn tier_ref(ctx: &Ctx, tier: &str) -> Check {
    ctx.ensure(
        tier.is_empty() || check::is_dns_label(tier),
        "spec.tier",
        || format!("\"{tier}\" is not a valid tier name"),
    )
}

fn unique_types(ctx: &Ctx, types: &[PolicyType]) -> Check {
    for (i, t) in types.iter().enumerate() {
        ctx.ensure(!types[..i].contains(t), "spec.types", || {
            format!("'{t:?}' type specified more than once")
        })?;
    }
    Ok(())
}

fn unique_hints(ctx: &Ctx, hints: &[PerformanceHint]) -> Check {
    for (i, h) in hints.iter().enumerate() {
        ctx.ensure(!hints[..i].contains(h), "spec.performanceHints", || {
            format!("{h:?} specified more than once")
        })?;
    }
    Ok(())
}

/// Defaults shared by both policy kinds: the tier (and its label), inferred policy types and
/// normalised rules.
fn policy_defaults(
    metadata: &mut ObjectMeta,
    tier: &mut String,
    types: &mut Vec<PolicyType>,
    ingress: &mut [Rule],
    egress: &mut [Rule],
) {
    if tier.is_empty() {
        *tier = DEFAULT_TIER.to_string();
    }
    metadata.labels.insert(TIER_LABEL.to_string(), tier.clone());
    if types.is_empty() {
        *types = infer_policy_types(ingress, egress);
    }
    rule::normalise_rules(ingress);
    rule::normalise_rules(egress);
}

/// The tier reference and the selectors both policy kinds carry.
fn tier_and_selectors(ctx: &Ctx, tier: &str, selector: &str, service_account: &str) -> Check {
    tier_ref(ctx, tier)?;
    check::selector(ctx, "spec.selector", selector, false)?;
    check::selector(ctx, "spec.serviceAccountSelector", service_account, false)
}

/// Policy types and performance hints are each listed at most once.
fn unique_types_and_hints(ctx: &Ctx, types: &[PolicyType], hints: &[PerformanceHint]) -> Check {
    unique_types(ctx, types)?;
    unique_hints(ctx, hints)
}

/// Both rule lists, in order.
fn rule_lists(ctx: &Ctx, ingress: &[Rule], egress: &[Rule], scope: Scope) -> Check {
    rule::validate_rules(ctx, "spec.ingress", ingress, Direction::Ingress, scope)?;
    rule::validate_rules(ctx, "spec.egress", egress, Direction::Egress, scope)
}

impl NetworkPolicy {
    pub(crate) fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        policy_defaults(
            &mut self.metadata,
            &mut s.tier,
            &mut s.types,
            &mut s.ingress,
            &mut s.egress,
        );
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::NetworkPolicy, &self.metadata);
        policy_name(&ctx, &self.metadata.name, true)?;
        let s = &self.spec;
        tier_and_selectors(&ctx, &s.tier, &s.selector, &s.service_account_selector)?;
        unique_types_and_hints(&ctx, &s.types, &s.performance_hints)?;
        rule_lists(&ctx, &s.ingress, &s.egress, Scope::Namespaced)
    }
}

impl GlobalNetworkPolicy {
    pub(crate) fn apply_defaults(&mut self) {
        let s = &mut self.spec;
        policy_defaults(
            &mut self.metadata,
            &mut s.tier,
            &mut s.types,
            &mut s.ingress,
            &mut s.egress,
        );
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::GlobalNetworkPolicy, &self.metadata);
        policy_name(&ctx, &self.metadata.name, false)?;
        let s = &self.spec;
        tier_and_selectors(&ctx, &s.tier, &s.selector, &s.service_account_selector)?;
        check::selector(&ctx, "spec.namespaceSelector", &s.namespace_selector, false)?;
        unique_types_and_hints(&ctx, &s.types, &s.performance_hints)?;
        ctx.ensure(!(s.do_not_track && s.pre_dnat), "spec.preDNAT", || {
            "preDNAT and doNotTrack cannot both be true".to_string()
        })?;
        ctx.ensure(
            !s.do_not_track || s.apply_on_forward,
            "spec.applyOnForward",
            || "doNotTrack requires applyOnForward: true".to_string(),
        )?;
        if s.pre_dnat {
            ctx.ensure(s.apply_on_forward, "spec.applyOnForward", || {
                "preDNAT requires applyOnForward: true".to_string()
            })?;
            ctx.ensure(s.egress.is_empty(), "spec.egress", || {
                "preDNAT policy cannot have egress rules".to_string()
            })?;
            ctx.ensure(!s.types.contains(&PolicyType::Egress), "spec.types", || {
                "preDNAT policy cannot have Egress type".to_string()
            })?;
        }
        rule_lists(&ctx, &s.ingress, &s.egress, Scope::Global)
    }
}

impl Profile {
    pub(crate) fn apply_defaults(&mut self) {
        rule::normalise_rules(&mut self.spec.ingress);
        rule::normalise_rules(&mut self.spec.egress);
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::Profile, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        check::labels(&ctx, "spec.labelsToApply", &self.spec.labels_to_apply)?;
        rule_lists(
            &ctx,
            &self.spec.ingress,
            &self.spec.egress,
            Scope::Namespaced,
        )
    }
}

impl Tier {
    pub(crate) fn apply_defaults(&mut self) {
        let builtin = BUILTIN_TIERS
            .iter()
            .find(|(n, _, _)| *n == self.metadata.name);
        if let Some((_, order, action)) = builtin {
            self.spec.order.get_or_insert(*order);
            self.spec.default_action.get_or_insert(*action);
        }
        self.spec.default_action.get_or_insert(Action::Deny);
    }

    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::Tier, &self.metadata);
        let name = &self.metadata.name;
        ctx.ensure(check::is_dns_label(name), "metadata.name", || {
            format!(
                "\"{name}\" must consist of lower case alphanumeric characters or '-' (at most 63)"
            )
        })?;
        if let Some(a) = self.spec.default_action {
            ctx.ensure(
                matches!(a, Action::Deny | Action::Pass),
                "spec.defaultAction",
                || format!("must be Deny or Pass, not {a}"),
            )?;
        }
        if let Some(o) = self.spec.order {
            ctx.ensure(o.is_finite(), "spec.order", || {
                "must be a finite number".to_string()
            })?;
        }
        let builtin = BUILTIN_TIERS.iter().find(|(n, _, _)| n == name);
        if let (Some((_, want, _)), Some(o)) = (builtin, self.spec.order) {
            ctx.ensure(o == *want, "spec.order", || {
                format!("the built-in tier {name} must have order {want}")
            })?;
        }
        Ok(())
    }
}
