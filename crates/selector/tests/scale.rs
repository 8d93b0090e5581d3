//! Parsing many distinct selectors: each keeps its own canonical text and ID.

use std::collections::{BTreeMap, HashSet};

use selector::parse;

#[test]
fn ten_thousand_distinct_selectors() {
    let texts: Vec<String> = (0..10_000)
        .map(|i| match i % 4 {
            0 => format!("app == 'svc-{i}' && tier in {{'web', 'db'}}"),
            1 => format!("(role != 'r{i}' || has(team-{i})) && !env starts with 'dev'"),
            2 => format!(
                "projectcalico.org/namespace == 'ns{i}' && pcns.team not in {{'a', 'b{i}'}}"
            ),
            _ => format!("k{i} contains 'x' || k{i} ends with \"y\""),
        })
        .collect();
    let selectors: Vec<_> = texts.iter().map(|t| parse(t).unwrap()).collect();

    let canonical: HashSet<String> = selectors.iter().map(|s| s.canonical()).collect();
    let ids: HashSet<String> = selectors.iter().map(|s| s.unique_id()).collect();
    assert_eq!(canonical.len(), 10_000);
    assert_eq!(ids.len(), 10_000);

    let labels = BTreeMap::from([
        ("app".to_string(), "svc-4".to_string()),
        ("tier".to_string(), "db".to_string()),
        ("env".to_string(), "prod".to_string()),
    ]);
    let matching: Vec<usize> = selectors
        .iter()
        .enumerate()
        .filter(|(_, s)| s.matches(&labels))
        .map(|(i, _)| i)
        .collect();
    // Only selector 4 of the `app` family matches; every `role` one does
    // because `role` is absent and `env` does not start with "dev".
    assert_eq!(matching.iter().filter(|&&i| i % 4 == 0).count(), 1);
    assert!(matching.contains(&4));
    assert_eq!(matching.iter().filter(|&&i| i % 4 == 1).count(), 2_500);
    assert_eq!(matching.len(), 2_501);
}
