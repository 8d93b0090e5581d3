//! Grammar edge cases from selectors.md: what parses, what does not, and the
//! position and reason of each error.

use selector::{parse, CompareOp, Expr, ParseError, ValueSet, MAX_NESTING};

fn err(s: &str) -> ParseError {
    match parse(s) {
        Ok(sel) => panic!("{s:?} parsed as {sel}"),
        Err(e) => e,
    }
}

fn eq(label: &str, value: &str) -> Expr {
    Expr::Compare {
        label: label.into(),
        op: CompareOp::Eq,
        value: value.into(),
    }
}

#[test]
fn empty_and_blank_selectors_are_all() {
    for s in ["", " ", "\t \t"] {
        assert!(parse(s).unwrap().is_all(), "{s:?}");
    }
}

#[test]
fn precedence_not_then_and_then_or() {
    let sel = parse("a == 'x' || b == 'y' && !c == 'z'").unwrap();
    assert_eq!(
        sel.expr(),
        &Expr::Or(vec![
            eq("a", "x"),
            Expr::And(vec![eq("b", "y"), Expr::Not(Box::new(eq("c", "z")))]),
        ])
    );
}

#[test]
fn chains_are_n_ary_and_groups_nest() {
    let flat = parse("has(a) && has(b) && has(c)").unwrap();
    assert_eq!(flat.expr().children().len(), 3);
    let nested = parse("has(a) && (has(b) && has(c))").unwrap();
    assert_eq!(nested.expr().children().len(), 2);
    assert_eq!(nested.canonical(), "(has(a) && (has(b) && has(c)))");
}

#[test]
fn runs_of_not_collapse_by_parity() {
    assert_eq!(parse("!!has(a)").unwrap().expr(), &Expr::Has("a".into()));
    assert_eq!(
        parse("!!!has(a)").unwrap().expr(),
        &Expr::Not(Box::new(Expr::Has("a".into())))
    );
    assert_eq!(
        parse("!(!has(a))").unwrap().canonical(),
        "!!has(a)",
        "a group between the two '!' keeps both"
    );
}

#[test]
fn not_binds_a_whole_comparison() {
    assert_eq!(parse("!a == 'x'").unwrap(), parse("!(a == 'x')").unwrap());
}

#[test]
fn paren_groups_collapse() {
    assert_eq!(parse("((has(a)))").unwrap().expr(), &Expr::Has("a".into()));
}

#[test]
fn labels_may_be_named_like_keywords() {
    let sel = parse("contains contains \"contains\"").unwrap();
    assert_eq!(
        sel.expr(),
        &Expr::Compare {
            label: "contains".into(),
            op: CompareOp::Contains,
            value: "contains".into()
        }
    );
    for s in [
        "in in {'in'}",
        "all == 'x'",
        "has == 'x'",
        "global != 'x'",
        "not not in {}",
        "starts starts with 'a'",
        "with ends with 'b'",
    ] {
        assert_eq!(parse(s).unwrap().label_keys().len(), 1, "{s}");
    }
}

#[test]
fn multi_word_operator_spellings() {
    let canonical = |s: &str| parse(s).unwrap().canonical();
    assert_eq!(canonical("a startswith 'x'"), "a starts with \"x\"");
    assert_eq!(canonical("a starts\t  with 'x'"), "a starts with \"x\"");
    assert_eq!(canonical("a endswith 'x'"), "a ends with \"x\"");
    assert_eq!(canonical("a notin {'x'}"), "a not in {\"x\"}");
    assert_eq!(canonical("a not in{'x'}"), "a not in {\"x\"}");
    assert_eq!(canonical("a in{'x'}"), "a in {\"x\"}");
}

#[test]
fn sets_allow_empty_and_trailing_comma() {
    assert_eq!(
        parse("a in {}").unwrap().expr(),
        &Expr::In {
            label: "a".into(),
            values: ValueSet::default()
        }
    );
    assert_eq!(
        parse("a not in { 'y', 'x', 'y', }").unwrap().expr(),
        &Expr::NotIn {
            label: "a".into(),
            values: ValueSet::new(["x", "y"])
        }
    );
}

#[test]
fn errors_name_reason_and_position() {
    let cases: &[(&str, usize, &str)] = &[
        ("a", 1, "expected operator after label"),
        ("a b", 2, "expected operator after label"),
        ("label inf \"x\"", 6, "expected operator after label"),
        ("a == b", 5, "expected string"),
        ("'x' == a", 0, "unexpected string literal"),
        ("a = 'b'", 2, "expected '=='"),
        ("has(a) & has(b)", 7, "expected '&&'"),
        ("has(a) | has(b)", 7, "expected '||'"),
        ("()", 1, "unexpected ')'"),
        ("(has(a)", 7, "expected ')'"),
        ("has(a))", 6, "unexpected ')'"),
        ("has(a) &&", 9, "unexpected end of selector"),
        ("has(a) ||", 9, "unexpected end of selector"),
        ("!", 1, "unexpected end of selector"),
        ("a == ", 5, "unexpected end of selector, expected string"),
        ("a == 'x", 5, "unterminated string"),
        ("a contains 'it''s'", 15, "unexpected string literal"),
        ("a in 'x'", 5, "expected '{'"),
        ("a in {'x' 'y'}", 10, "expected ',' or '}'"),
        ("a in {,}", 6, "expected string or '}'"),
        (
            "a in {'x'",
            9,
            "unexpected end of selector, expected ',' or '}'",
        ),
        ("has()", 4, "expected label in has()"),
        ("has(a", 5, "expected ')'"),
        ("all(", 4, "expected ')'"),
        ("has(a) has(b)", 7, "unexpected has()"),
        ("é == 'x'", 0, "unexpected character 'é'"),
        ("x == 'é' && ~", 12, "unexpected character '~'"),
    ];
    for &(input, position, reason) in cases {
        let e = err(input);
        assert_eq!(
            (e.position, e.reason.as_str()),
            (position, reason),
            "{input:?}"
        );
        assert_eq!(e.input, input);
    }
}

#[test]
fn error_message_is_one_line_naming_input_reason_and_position() {
    assert_eq!(
        err("a = 'b'").to_string(),
        "invalid selector \"a = 'b'\": expected '==' at position 2"
    );
}

#[test]
fn label_length_limit_applies_everywhere() {
    let ok = "k".repeat(512);
    let long = "k".repeat(513);
    assert!(parse(&format!("{ok} == 'v'")).is_ok());
    assert!(parse(&format!("has({ok})")).is_ok());
    for s in [format!("{long} == 'v'"), format!("has( {long})")] {
        assert!(err(&s).reason.starts_with("label too long"), "{s}");
    }
    assert_eq!(err(&format!("has( {long})")).position, 5);
}

#[test]
fn deep_nesting_up_to_the_limit() {
    let nested = |depth: usize| format!("{}has(a){}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(
        parse(&nested(MAX_NESTING)).unwrap().expr(),
        &Expr::Has("a".into())
    );
    let e = err(&nested(MAX_NESTING + 1));
    assert_eq!(e.position, MAX_NESTING);
    assert!(e.reason.contains("nested deeper"));

    let mut deep = String::from("has(x)");
    for i in 0..MAX_NESTING {
        deep = format!("!(has(l{i}) && {deep})");
    }
    let sel = parse(&deep).unwrap();
    assert_eq!(parse(&sel.canonical()).unwrap(), sel);
    assert_eq!(sel.label_keys().len(), MAX_NESTING + 1);
}

#[test]
fn from_str_and_display_agree_with_parse() {
    let sel: selector::Selector = "a in {'b','a'}".parse().unwrap();
    assert_eq!(sel.to_string(), "a in {\"a\", \"b\"}");
    assert!("a = 'b'".parse::<selector::Selector>().is_err());
}
