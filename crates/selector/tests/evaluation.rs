//! The evaluation table of selectors.md: every operator with the label
//! present (matching and not) and absent, plus the illustrative examples.

use std::collections::{BTreeMap, HashMap};

use selector::{parse, Labels};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn eval(sel: &str, pairs: &[(&str, &str)]) -> bool {
    parse(sel).unwrap().matches(&labels(pairs))
}

#[test]
fn evaluation_table() {
    // (selector, value of k or None for absent, expected)
    let rows: &[(&str, Option<&str>, bool)] = &[
        ("k == 'x'", Some("x"), true),
        ("k == 'x'", Some("y"), false),
        ("k == 'x'", None, false),
        ("k != 'x'", Some("x"), false),
        ("k != 'x'", Some("y"), true),
        ("k != 'x'", None, true),
        ("k in {'x', 'y'}", Some("y"), true),
        ("k in {'x', 'y'}", Some("z"), false),
        ("k in {'x', 'y'}", None, false),
        ("k not in {'x', 'y'}", Some("y"), false),
        ("k not in {'x', 'y'}", Some("z"), true),
        ("k not in {'x', 'y'}", None, true),
        ("k contains 'ell'", Some("hello"), true),
        ("k contains 'ell'", Some("help"), false),
        ("k contains 'ell'", None, false),
        ("k contains ''", Some(""), true),
        ("k starts with 'fr'", Some("front"), true),
        ("k starts with 'fr'", Some("afro"), false),
        ("k starts with 'fr'", None, false),
        ("k ends with 'nd'", Some("frontend"), true),
        ("k ends with 'nd'", Some("ends"), false),
        ("k ends with 'nd'", None, false),
        ("has(k)", Some(""), true),
        ("has(k)", None, false),
        ("all()", Some("x"), true),
        ("all()", None, true),
        ("global()", Some("x"), true),
        ("global()", None, true),
        ("k in {}", Some(""), false),
        ("k in {}", None, false),
        ("k not in {}", Some(""), true),
        ("k not in {}", None, true),
        ("k == 'X'", Some("x"), false),
        ("k == ''", Some(""), true),
        ("k == ''", None, false),
    ];
    for &(sel, value, expected) in rows {
        let pairs: Vec<(&str, &str)> = value.map(|v| ("k", v)).into_iter().collect();
        assert_eq!(eval(sel, &pairs), expected, "{sel} with k = {value:?}");
    }
}

#[test]
fn illustrative_examples() {
    assert!(eval("env != 'prod'", &[]));
    assert!(!eval("env in {'a','b'} && has(tier)", &[("env", "a")]));
    assert!(eval("!(role == 'db')", &[("role", "web")]));
    assert!(eval("app starts with 'front'", &[("app", "frontend")]));
    assert!(eval("x == \"it's\"", &[("x", "it's")]));
}

#[test]
fn and_or_not_combine() {
    let sel = "(a == '1' || b == '2') && !has(c)";
    assert!(eval(sel, &[("a", "1")]));
    assert!(eval(sel, &[("b", "2")]));
    assert!(!eval(sel, &[("a", "1"), ("c", "")]));
    assert!(!eval(sel, &[("a", "2"), ("b", "1")]));
}

#[test]
fn comparisons_are_byte_wise_on_unicode() {
    assert!(eval("k contains 'é'", &[("k", "café")]));
    assert!(!eval("k == 'é'", &[("k", "e\u{301}")]));
}

#[test]
fn label_sources_hashmap_and_references() {
    let sel = parse("a == '1' && b not in {'x'}").unwrap();
    let map: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
    assert!(sel.matches(&map));
    let by_ref: &dyn Labels = &map;
    assert!(sel.matches(by_ref));
    assert!(sel.matches(&&labels(&[("a", "1"), ("b", "y")])));
    assert!(!sel.matches(&labels(&[("a", "1"), ("b", "x")])));
}

/// Labels computed on the fly: the trait is the seam the policy engine uses
/// for profile-inherited labels.
struct Inherited<'a> {
    own: &'a BTreeMap<String, String>,
    profile: &'a BTreeMap<String, String>,
}

impl Labels for Inherited<'_> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.own
            .get_label(key)
            .or_else(|| self.profile.get_label(key))
    }
}

#[test]
fn custom_label_sources() {
    let own = labels(&[("a", "ep-a"), ("b", "ep-b")]);
    let profile = labels(&[("a", "prof-a"), ("c", "prof-c")]);
    let effective = Inherited {
        own: &own,
        profile: &profile,
    };
    assert!(eval_with(
        "a == 'ep-a' && c == 'prof-c' && has(b)",
        &effective
    ));
    assert!(!eval_with("a == 'prof-a'", &effective));
}

fn eval_with(sel: &str, labels: &impl Labels) -> bool {
    parse(sel).unwrap().matches(labels)
}
