//! Canonical printing, unique IDs and the selector queries (`is_all`,
//! `uses_global`, `label_keys`).

use selector::{parse, CompareOp, Expr, Selector};

fn canonical(s: &str) -> String {
    parse(s).unwrap().canonical()
}

#[test]
fn canonical_examples() {
    let cases = [
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        ("a startswith '\"'", "a starts with '\"'"),
        ("", "all()"),
        ("  all( ) ", "all()"),
        ("global()", "global()"),
        ("a=='x'", "a == \"x\""),
        ("a!=\"x\"", "a != \"x\""),
        ("a endswith'x'", "a ends with \"x\""),
        ("a in {'b', 'a', 'b'}", "a in {\"a\", \"b\"}"),
        ("a notin {'\"q\"', 'z'}", "a not in {'\"q\"', \"z\"}"),
        ("a in {}", "a in {}"),
        ("has(a) && has(b) && has(c)", "(has(a) && has(b) && has(c))"),
        ("has(a) || has(b)", "(has(a) || has(b))"),
        ("(has(a))", "has(a)"),
        ("!a == 'x'", "!a == \"x\""),
        ("!(a == 'x' && b == 'y')", "!(a == \"x\" && b == \"y\")"),
        (
            "a == 'x' || b == 'y' && c == 'z'",
            "(a == \"x\" || (b == \"y\" && c == \"z\"))",
        ),
    ];
    for (input, expected) in cases {
        let sel = parse(input).unwrap();
        assert_eq!(sel.canonical(), expected, "{input:?}");
        assert_eq!(sel.to_string(), expected, "{input:?}");
        assert_eq!(canonical(expected), expected, "re-parse of {expected:?}");
    }
}

#[test]
fn unique_id_matches_calico() {
    let id = Selector::all().unique_id();
    assert!(id.starts_with("s:5y5I3VdR"), "{id}");
    // ipset names truncate `cali40` + ID to 31 characters.
    assert_eq!(
        format!("cali40{id}")[..31],
        *"cali40s:5y5I3VdRZfDU01O--xXAPx2"
    );
    assert_eq!(parse("").unwrap().unique_id(), id);
    // 28-byte digest → 38 base64 characters, URL-safe and unpadded.
    assert_eq!(id.len(), 2 + 38);
}

#[test]
fn unique_id_follows_the_canonical_text() {
    let a = parse("a == 'x' && has(b)").unwrap();
    let b = parse("(a==\"x\")&&(has( b ))").unwrap();
    let c = parse("has(b) && a == 'x'").unwrap();
    assert_eq!(a.unique_id(), b.unique_id());
    assert_ne!(a.unique_id(), c.unique_id());
    assert!(a
        .unique_id()
        .bytes()
        .all(|ch| ch.is_ascii_alphanumeric() || b"-_:".contains(&ch)));
}

#[test]
fn is_all_only_for_all() {
    assert!(parse("").unwrap().is_all());
    assert!(parse("((all()))").unwrap().is_all());
    assert!(parse("!!all()").unwrap().is_all());
    assert!(!parse("!all()").unwrap().is_all());
    assert!(!parse("global()").unwrap().is_all());
    assert!(!parse("all() && all()").unwrap().is_all());
}

#[test]
fn uses_global_anywhere() {
    assert!(parse("global()").unwrap().uses_global());
    assert!(parse("has(a) || !(b == 'x' && global())")
        .unwrap()
        .uses_global());
    assert!(!parse("global == 'x' && all()").unwrap().uses_global());
}

#[test]
fn label_keys_sorted_and_unique() {
    let sel =
        parse("z == 'a' && (has(b) || a in {'q'}) && !b not in {} && c contains 'x'").unwrap();
    assert_eq!(sel.label_keys(), vec!["a", "b", "c", "z"]);
    assert!(parse("all() || global()").unwrap().label_keys().is_empty());
}

#[test]
fn from_expr_normalises_to_parser_shapes() {
    let has = |l: &str| Expr::Has(l.into());
    let not = |e: Expr| Expr::Not(Box::new(e));
    let cases = [
        (not(not(has("a"))), "has(a)"),
        (Expr::And(vec![has("a")]), "has(a)"),
        (Expr::And(vec![]), "all()"),
        (Expr::Or(vec![]), "!all()"),
        (
            Expr::Or(vec![not(not(not(has("a")))), Expr::And(vec![has("b")])]),
            "(!has(a) || has(b))",
        ),
    ];
    for (expr, expected) in cases {
        let sel = Selector::from_expr(expr);
        assert_eq!(sel.canonical(), expected);
        assert_eq!(parse(expected).unwrap(), sel);
    }
    assert!(!Selector::from_expr(Expr::Or(vec![])).matches(&std::collections::BTreeMap::new()));
}

#[test]
fn and_combines_like_calico_text_concatenation() {
    let s = parse("has(a) && has(b)").unwrap();
    let n = parse("projectcalico.org/namespace == 'ns1'").unwrap();
    let combined = Selector::and(&s, n.clone());
    assert_eq!(
        combined,
        parse(&format!("({}) && ({})", "has(a) && has(b)", n)).unwrap()
    );
    assert_eq!(
        combined.canonical(),
        "((has(a) && has(b)) && projectcalico.org/namespace == \"ns1\")"
    );
}

#[test]
fn compare_op_spellings() {
    let ops = [
        (CompareOp::Eq, "=="),
        (CompareOp::Ne, "!="),
        (CompareOp::Contains, "contains"),
        (CompareOp::StartsWith, "starts with"),
        (CompareOp::EndsWith, "ends with"),
    ];
    for (op, text) in ops {
        assert_eq!(op.as_str(), text);
        let sel = Selector::from_expr(Expr::Compare {
            label: "k".into(),
            op,
            value: "v".into(),
        });
        assert_eq!(sel.canonical(), format!("k {text} \"v\""));
    }
}
