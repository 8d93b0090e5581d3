//! The selector rewrites Calico applies before matching: label prefixes and
//! the namespaceSelector translation of `all()` and `global()`.

use std::collections::BTreeMap;

use selector::{namespace_selector, parse, Selector, NAMESPACE_LABEL, NAMESPACE_LABEL_PREFIX};

fn ns(s: &str) -> String {
    namespace_selector(&parse(s).unwrap()).canonical()
}

#[test]
fn namespace_selector_rewrites() {
    let cases = [
        ("team == 'a'", "pcns.team == \"a\""),
        ("", "has(projectcalico.org/namespace)"),
        ("all()", "has(projectcalico.org/namespace)"),
        ("global()", "!has(projectcalico.org/namespace)"),
        ("!global()", "has(projectcalico.org/namespace)"),
        (
            "has(a) || global()",
            "(has(pcns.a) || !has(projectcalico.org/namespace))",
        ),
        (
            "projectcalico.org/name in {'x', 'y'} && all()",
            "(pcns.projectcalico.org/name in {\"x\", \"y\"} && has(projectcalico.org/namespace))",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(ns(input), expected, "{input:?}");
        assert_eq!(parse(expected).unwrap().canonical(), expected);
    }
}

#[test]
fn rule_selector_combination_matches_calico_text() {
    let combined = Selector::and(
        namespace_selector(&parse("namespace == 'red'").unwrap()),
        parse("has(label1)").unwrap(),
    );
    assert_eq!(
        combined,
        parse("(pcns.namespace == \"red\") && (has(label1))").unwrap()
    );
    let global = Selector::and(
        namespace_selector(&parse("global()").unwrap()),
        parse("has(label3)").unwrap(),
    );
    assert_eq!(
        global.canonical(),
        "(!has(projectcalico.org/namespace) && has(label3))"
    );
}

#[test]
fn with_label_prefix_touches_only_labels() {
    let sel = parse("a in {'x'} && !has(b) && all() && c != 'v' || global()").unwrap();
    assert_eq!(
        sel.with_label_prefix("pcsa.").canonical(),
        "((pcsa.a in {\"x\"} && !has(pcsa.b) && all() && pcsa.c != \"v\") || global())"
    );
    assert_eq!(sel.with_label_prefix(""), sel);
}

#[test]
fn rewritten_namespace_selector_matches_inherited_labels() {
    let sel = namespace_selector(&parse("team == 'a'").unwrap());
    let pod = BTreeMap::from([
        (NAMESPACE_LABEL.to_string(), "ns1".to_string()),
        (format!("{NAMESPACE_LABEL_PREFIX}team"), "a".to_string()),
        ("team".to_string(), "b".to_string()),
    ]);
    assert!(sel.matches(&pod));
    let host = BTreeMap::from([("team".to_string(), "a".to_string())]);
    assert!(!sel.matches(&host));

    let global = namespace_selector(&parse("global()").unwrap());
    assert!(global.matches(&host));
    assert!(!global.matches(&pod));
    let all = namespace_selector(&Selector::all());
    assert!(all.matches(&pod));
    assert!(!all.matches(&host));
}
