//! How Calico turns the selector fields of a policy and of its rules into the
//! selectors actually matched (reference/selectors.md, "How selector fields
//! are rewritten"): namespace scoping, `pcns.`/`pcsa.` prefixes and the way
//! selector, serviceAccounts, namespaceSelector and notSelector combine.

use api::{EntityRule, Kind, ServiceAccountMatch};
use selector::{
    namespace_selector, CompareOp, Expr, Selector, ValueSet, NAMESPACE_LABEL,
    SERVICE_ACCOUNT_LABEL_PREFIX,
};

use crate::error::Error;

/// Label carrying a workload's service account name.
pub const SERVICE_ACCOUNT_LABEL: &str = "projectcalico.org/serviceaccount";

/// Label carrying a workload's orchestrator.
pub const ORCHESTRATOR_LABEL: &str = "projectcalico.org/orchestrator";

/// Which resource a selector belongs to, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) kind: Kind,
    pub(crate) name: &'a str,
}

impl Origin<'_> {
    /// Parses one selector field; blank text is `all()`.
    pub(crate) fn parse(&self, field: &str, text: &str) -> Result<Selector, Error> {
        selector::parse(text).map_err(|source| Error::Selector {
            kind: self.kind,
            name: self.name.to_owned(),
            field: field.to_owned(),
            source,
        })
    }
}

/// `label == "value"`.
pub(crate) fn label_equals(label: &str, value: &str) -> Selector {
    Selector::from_expr(Expr::Compare {
        label: label.to_owned(),
        op: CompareOp::Eq,
        value: value.to_owned(),
    })
}

/// The selector a policy uses to pick endpoints: its own selector, scoped to
/// its namespace (NetworkPolicy), and ANDed with its namespaceSelector
/// (GlobalNetworkPolicy, `pcns.` labels) and serviceAccountSelector (`pcsa.`).
pub(crate) fn policy_selector(
    origin: Origin<'_>,
    namespace: Option<&str>,
    selector: &str,
    namespace_sel: &str,
    service_account_sel: &str,
) -> Result<Selector, Error> {
    let mut out = origin.parse("spec.selector", selector)?;
    if let Some(ns) = namespace {
        out = Selector::and(out, label_equals(NAMESPACE_LABEL, ns));
    }
    if !namespace_sel.trim().is_empty() {
        let ns_sel = origin.parse("spec.namespaceSelector", namespace_sel)?;
        out = Selector::and(out, namespace_selector(&ns_sel));
    }
    if !service_account_sel.trim().is_empty() {
        let sa = origin.parse("spec.serviceAccountSelector", service_account_sel)?;
        out = Selector::and(out, sa.with_label_prefix(SERVICE_ACCOUNT_LABEL_PREFIX));
    }
    Ok(out)
}

/// The two selectors of an entity rule after rewriting.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntitySelectors {
    /// Combined selector, serviceAccounts and namespace scope; `None` = any.
    pub(crate) positive: Option<Selector>,
    /// `notSelector` as written (Calico does not scope it).
    pub(crate) negative: Option<Selector>,
}

/// Rewrites an entity rule's selector fields the way Calico does: the
/// namespace scope (`namespaceSelector`, or the policy's own namespace) is
/// ANDed in as soon as any selector field is used, including notSelector.
pub(crate) fn entity_selectors(
    origin: Origin<'_>,
    field: &str,
    entity: &EntityRule,
    namespace: Option<&str>,
) -> Result<EntitySelectors, Error> {
    let has_ns_sel = !entity.namespace_selector.trim().is_empty();
    let ns_scope = if has_ns_sel {
        let raw = origin.parse(
            &format!("{field}.namespaceSelector"),
            &entity.namespace_selector,
        )?;
        Some(namespace_selector(&raw))
    } else {
        namespace.map(|ns| label_equals(NAMESPACE_LABEL, ns))
    };
    let sa = match &entity.service_accounts {
        Some(sa) => service_account_selector(origin, field, sa)?,
        None => None,
    };
    let own = if entity.selector.trim().is_empty() {
        None
    } else {
        Some(origin.parse(&format!("{field}.selector"), &entity.selector)?)
    };
    let negative = if entity.not_selector.trim().is_empty() {
        None
    } else {
        Some(origin.parse(&format!("{field}.notSelector"), &entity.not_selector)?)
    };
    let mut positive = match (sa, own) {
        (Some(a), Some(b)) => Some(Selector::and(a, b)),
        (a, b) => a.or(b),
    };
    if let Some(scope) = ns_scope {
        if positive.is_some() || negative.is_some() || has_ns_sel {
            positive = Some(match positive {
                Some(p) => Selector::and(scope, p),
                None => scope,
            });
        }
    }
    Ok(EntitySelectors { positive, negative })
}

/// `serviceAccounts`: the selector with `pcsa.` labels, the names as an `in`
/// set on the service-account label, ANDed when both are given.
fn service_account_selector(
    origin: Origin<'_>,
    field: &str,
    sa: &ServiceAccountMatch,
) -> Result<Option<Selector>, Error> {
    let by_labels = if sa.selector.trim().is_empty() {
        None
    } else {
        let raw = origin.parse(&format!("{field}.serviceAccounts.selector"), &sa.selector)?;
        Some(raw.with_label_prefix(SERVICE_ACCOUNT_LABEL_PREFIX))
    };
    let by_names = (!sa.names.is_empty()).then(|| {
        Selector::from_expr(Expr::In {
            label: SERVICE_ACCOUNT_LABEL.to_owned(),
            values: ValueSet::new(sa.names.iter().cloned()),
        })
    });
    Ok(match (by_labels, by_names) {
        (Some(a), Some(b)) => Some(Selector::and(a, b)),
        (a, b) => a.or(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NP: Origin<'static> = Origin {
        kind: Kind::NetworkPolicy,
        name: "prod/p",
    };

    fn entity(selector: &str, ns_sel: &str, not_sel: &str) -> EntityRule {
        EntityRule {
            selector: selector.into(),
            namespace_selector: ns_sel.into(),
            not_selector: not_sel.into(),
            ..Default::default()
        }
    }

    fn text(s: &Option<Selector>) -> Option<String> {
        s.as_ref().map(Selector::canonical)
    }

    #[test]
    fn namespaced_policy_selector_is_scoped_to_its_namespace() {
        let s = policy_selector(NP, Some("prod"), "role == 'db'", "", "").unwrap();
        assert_eq!(
            s.canonical(),
            "(role == \"db\" && projectcalico.org/namespace == \"prod\")"
        );
    }

    #[test]
    fn gnp_namespace_and_service_account_selectors_are_prefixed() {
        let gnp = Origin {
            kind: Kind::GlobalNetworkPolicy,
            name: "g",
        };
        let s = policy_selector(gnp, None, "", "team == 'a'", "role == 'x'").unwrap();
        assert_eq!(
            s.canonical(),
            "((all() && pcns.team == \"a\") && pcsa.role == \"x\")"
        );
        let all_ns = policy_selector(gnp, None, "", "all()", "").unwrap();
        assert_eq!(
            all_ns.canonical(),
            "(all() && has(projectcalico.org/namespace))"
        );
    }

    #[test]
    fn rule_selector_in_namespaced_policy_is_scoped() {
        let e = entity("app == 'web'", "", "");
        let s = entity_selectors(NP, "f", &e, Some("prod")).unwrap();
        assert_eq!(
            text(&s.positive).unwrap(),
            "(projectcalico.org/namespace == \"prod\" && app == \"web\")"
        );
        assert!(s.negative.is_none());
    }

    #[test]
    fn rule_with_only_nets_is_not_scoped() {
        let e = EntityRule {
            nets: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let s = entity_selectors(NP, "f", &e, Some("prod")).unwrap();
        assert!(s.positive.is_none() && s.negative.is_none());
    }

    #[test]
    fn not_selector_alone_scopes_the_positive_side_but_stays_raw() {
        let e = entity("", "", "app == 'x'");
        let s = entity_selectors(NP, "f", &e, Some("prod")).unwrap();
        assert_eq!(
            text(&s.positive).unwrap(),
            "projectcalico.org/namespace == \"prod\""
        );
        assert_eq!(text(&s.negative).unwrap(), "app == \"x\"");
    }

    #[test]
    fn namespace_selector_replaces_the_own_namespace_scope() {
        let e = entity("app == 'a'", "team == 'x'", "");
        let s = entity_selectors(NP, "f", &e, Some("prod")).unwrap();
        assert_eq!(
            text(&s.positive).unwrap(),
            "(pcns.team == \"x\" && app == \"a\")"
        );
        let global = entity("", "global()", "");
        let g = entity_selectors(NP, "f", &global, Some("prod")).unwrap();
        assert_eq!(
            text(&g.positive).unwrap(),
            "!has(projectcalico.org/namespace)"
        );
    }

    #[test]
    fn service_accounts_combine_names_and_selector() {
        let e = EntityRule {
            service_accounts: Some(ServiceAccountMatch {
                names: vec!["b".into(), "a".into()],
                selector: "k == 'v'".into(),
            }),
            ..Default::default()
        };
        let s = entity_selectors(NP, "f", &e, None).unwrap();
        assert_eq!(
            text(&s.positive).unwrap(),
            "(pcsa.k == \"v\" && projectcalico.org/serviceaccount in {\"a\", \"b\"})"
        );
    }

    #[test]
    fn bad_selector_names_the_field() {
        let e = entity("a = 'b'", "", "");
        let err = entity_selectors(NP, "spec.ingress[0].source", &e, None).unwrap_err();
        match err {
            Error::Selector { field, .. } => assert_eq!(field, "spec.ingress[0].source.selector"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
