//! Effective labels: an item's own labels, the labels Calico derives for it
//! (namespace, orchestrator, service account) and those inherited from its
//! profiles' `labelsToApply` (own label wins, then the first profile listing
//! the key).

use std::collections::BTreeMap;

use api::WorkloadEndpoint;
use selector::NAMESPACE_LABEL;

use crate::rewrite::{ORCHESTRATOR_LABEL, SERVICE_ACCOUNT_LABEL};
use crate::selector_index::LabelMap;

/// Calico only sets the service-account label for names shorter than this.
const MAX_SERVICE_ACCOUNT_LABEL_LEN: usize = 63;

/// A workload endpoint's own labels plus the ones Calico derives; the derived
/// values overwrite user labels of the same key, as Calico's pod conversion does.
pub(crate) fn workload_labels(wep: &WorkloadEndpoint) -> LabelMap {
    let mut labels = wep.metadata.labels.clone();
    if let Some(ns) = &wep.metadata.namespace {
        labels.insert(NAMESPACE_LABEL.to_owned(), ns.clone());
    }
    if !wep.spec.orchestrator.is_empty() {
        labels.insert(ORCHESTRATOR_LABEL.to_owned(), wep.spec.orchestrator.clone());
    }
    let sa = &wep.spec.service_account_name;
    if !sa.is_empty() && sa.len() < MAX_SERVICE_ACCOUNT_LABEL_LEN {
        labels.insert(SERVICE_ACCOUNT_LABEL.to_owned(), sa.clone());
    }
    labels
}

/// A namespaced network set's labels plus the namespace label.
pub(crate) fn network_set_labels(labels: &BTreeMap<String, String>, namespace: &str) -> LabelMap {
    let mut out = labels.clone();
    out.insert(NAMESPACE_LABEL.to_owned(), namespace.to_owned());
    out
}

/// Own labels, then each profile's `labelsToApply` in order for keys not yet set.
pub(crate) fn effective_labels<'a>(
    own: &LabelMap,
    profiles: impl IntoIterator<Item = Option<&'a LabelMap>>,
) -> LabelMap {
    let mut out = own.clone();
    for labels in profiles.into_iter().flatten() {
        for (k, v) in labels {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn own_label_wins_then_first_profile() {
        // The example from reference/selectors.md "Inheritance".
        let own = map(&[("a", "ep-a"), ("b", "ep-b")]);
        let p1 = map(&[("a", "prof-a"), ("c", "prof-c")]);
        let p2 = map(&[("c", "later"), ("d", "d2")]);
        let eff = effective_labels(&own, [Some(&p1), None, Some(&p2)]);
        assert_eq!(
            eff,
            map(&[("a", "ep-a"), ("b", "ep-b"), ("c", "prof-c"), ("d", "d2")])
        );
    }

    #[test]
    fn workload_gets_namespace_orchestrator_and_short_service_account() {
        let mut wep = WorkloadEndpoint::default();
        wep.metadata.namespace = Some("prod".into());
        wep.metadata.labels = map(&[("app", "web"), (NAMESPACE_LABEL, "spoofed")]);
        wep.spec.orchestrator = "k8s".into();
        wep.spec.service_account_name = "sa1".into();
        let l = workload_labels(&wep);
        assert_eq!(l[NAMESPACE_LABEL], "prod");
        assert_eq!(l[ORCHESTRATOR_LABEL], "k8s");
        assert_eq!(l[SERVICE_ACCOUNT_LABEL], "sa1");
        assert_eq!(l["app"], "web");
        wep.spec.service_account_name = "x".repeat(63);
        assert!(!workload_labels(&wep).contains_key(SERVICE_ACCOUNT_LABEL));
    }

    #[test]
    fn network_set_gets_namespace_label() {
        let l = network_set_labels(&map(&[("role", "dns")]), "ns1");
        assert_eq!(l, map(&[("role", "dns"), (NAMESPACE_LABEL, "ns1")]));
    }
}
