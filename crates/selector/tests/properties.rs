//! Property tests: canonical text round-trips, evaluation agrees with a
//! deliberately naive model evaluator, and the parser never panics.

use std::collections::BTreeMap;

use proptest::prelude::*;
use selector::{parse, CompareOp, Expr, Selector, ValueSet};

const LABELS: &[&str] = &[
    "a",
    "b",
    "in",
    "contains",
    "not",
    "app.kubernetes.io/name",
    "x-y_z",
];

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(LABELS).prop_map(str::to_owned)
}

/// Short values over a tiny alphabet so that labels often match; never both
/// kinds of quote (such a literal cannot be written in the language).
fn value() -> impl Strategy<Value = String> {
    "[ab'\" é]{0,3}".prop_map(|v| {
        if v.contains('"') {
            v.replace('\'', "")
        } else {
            v
        }
    })
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(label(), value(), 0..6)
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Contains,
        CompareOp::StartsWith,
        CompareOp::EndsWith,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        Just(Expr::All),
        Just(Expr::Global),
        label().prop_map(Expr::Has),
        (label(), compare_op(), value()).prop_map(|(label, op, value)| Expr::Compare {
            label,
            op,
            value
        }),
        (label(), prop::collection::vec(value(), 0..4)).prop_map(|(label, v)| Expr::In {
            label,
            values: ValueSet::new(v)
        }),
        (label(), prop::collection::vec(value(), 0..4)).prop_map(|(label, v)| Expr::NotIn {
            label,
            values: ValueSet::new(v)
        }),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Expr::And),
            prop::collection::vec(inner, 0..5).prop_map(Expr::Or),
        ]
    })
}

/// A model of the language, independent of the crate's tree.
#[derive(Clone, Debug)]
enum Model {
    All,
    Global,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    Contains(String, String),
    Starts(String, String),
    Ends(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Not(Box<Model>),
    And(Vec<Model>),
    Or(Vec<Model>),
}

fn model() -> impl Strategy<Value = Model> {
    let leaf = prop_oneof![
        Just(Model::All),
        Just(Model::Global),
        label().prop_map(Model::Has),
        (label(), value()).prop_map(|(l, v)| Model::Eq(l, v)),
        (label(), value()).prop_map(|(l, v)| Model::Ne(l, v)),
        (label(), value()).prop_map(|(l, v)| Model::Contains(l, v)),
        (label(), value()).prop_map(|(l, v)| Model::Starts(l, v)),
        (label(), value()).prop_map(|(l, v)| Model::Ends(l, v)),
        (label(), prop::collection::vec(value(), 0..4)).prop_map(|(l, v)| Model::In(l, v)),
        (label(), prop::collection::vec(value(), 0..4)).prop_map(|(l, v)| Model::NotIn(l, v)),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|m| Model::Not(Box::new(m))),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Model::And),
            prop::collection::vec(inner, 2..5).prop_map(Model::Or),
        ]
    })
}

/// The evaluation table, spelled out one row at a time with linear scans.
fn naive_eval(m: &Model, labels: &BTreeMap<String, String>) -> bool {
    let mut value_of = None;
    for (k, v) in labels {
        if let Some(key) = model_label(m) {
            if k == key {
                value_of = Some(v.clone());
            }
        }
    }
    match m {
        Model::All | Model::Global => true,
        Model::Has(_) => value_of.is_some(),
        Model::Eq(_, x) => value_of == Some(x.clone()),
        Model::Ne(_, x) => value_of != Some(x.clone()),
        Model::Contains(_, x) => value_of.is_some_and(|v| naive_find(&v, x)),
        Model::Starts(_, x) => {
            value_of.is_some_and(|v| v.len() >= x.len() && v.as_bytes()[..x.len()] == *x.as_bytes())
        }
        Model::Ends(_, x) => value_of.is_some_and(|v| {
            v.len() >= x.len() && v.as_bytes()[v.len() - x.len()..] == *x.as_bytes()
        }),
        Model::In(_, set) => value_of.is_some_and(|v| set.contains(&v)),
        Model::NotIn(_, set) => match value_of {
            None => true,
            Some(v) => set.iter().all(|s| *s != v),
        },
        Model::Not(inner) => !naive_eval(inner, labels),
        Model::And(parts) => {
            let mut result = true;
            for p in parts {
                result = result && naive_eval(p, labels);
            }
            result
        }
        Model::Or(parts) => {
            let mut result = false;
            for p in parts {
                result = result || naive_eval(p, labels);
            }
            result
        }
    }
}

fn naive_find(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len()).any(|start| h.len() - start >= n.len() && h[start..start + n.len()] == *n)
}

fn model_label(m: &Model) -> Option<&str> {
    match m {
        Model::Has(l)
        | Model::Eq(l, _)
        | Model::Ne(l, _)
        | Model::Contains(l, _)
        | Model::Starts(l, _)
        | Model::Ends(l, _)
        | Model::In(l, _)
        | Model::NotIn(l, _) => Some(l),
        _ => None,
    }
}

/// Writes a model as selector text, varying blanks, quotes, operator
/// spellings, redundant parentheses and `!!` according to `style` bits.
struct Writer {
    style: u64,
    out: String,
}

impl Writer {
    fn flip(&mut self) -> bool {
        self.style = self
            .style
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.style >> 63 == 1
    }

    fn blank(&mut self) {
        if self.flip() {
            let blank = if self.flip() { " " } else { "\t " };
            self.out.push_str(blank);
        }
    }

    fn sep(&mut self) {
        self.out.push(' ');
        self.blank();
    }

    fn quoted(&mut self, v: &str) {
        let quote = if v.contains('"') || (!v.contains('\'') && self.flip()) {
            '\''
        } else {
            '"'
        };
        self.out.push(quote);
        self.out.push_str(v);
        self.out.push(quote);
    }

    fn binary(&mut self, l: &str, op: &str, v: &str) {
        self.out.push_str(l);
        self.sep();
        self.out.push_str(op);
        self.blank();
        self.quoted(v);
    }

    fn set(&mut self, l: &str, op: &str, values: &[String]) {
        self.out.push_str(l);
        self.sep();
        self.out.push_str(op);
        self.blank();
        self.out.push('{');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.blank();
            self.quoted(v);
        }
        if !values.is_empty() && self.flip() {
            self.out.push(',');
        }
        self.blank();
        self.out.push('}');
    }

    fn write(&mut self, m: &Model) {
        self.blank();
        if self.flip() && self.flip() {
            self.out.push_str("!!");
        }
        let extra_parens = self.flip() && self.flip();
        if extra_parens {
            self.out.push('(');
        }
        match m {
            Model::All => {
                let text = if self.flip() { "all()" } else { "all( )" };
                self.out.push_str(text)
            }
            Model::Global => self.out.push_str("global()"),
            Model::Has(l) => {
                self.out.push_str("has(");
                self.blank();
                self.out.push_str(l);
                self.blank();
                self.out.push(')');
            }
            Model::Eq(l, v) => self.binary(l, "==", v),
            Model::Ne(l, v) => self.binary(l, "!=", v),
            Model::Contains(l, v) => self.binary(l, "contains ", v),
            Model::Starts(l, v) => {
                let op = if self.flip() {
                    "startswith "
                } else {
                    "starts  with "
                };
                self.binary(l, op, v)
            }
            Model::Ends(l, v) => {
                let op = if self.flip() {
                    "endswith "
                } else {
                    "ends\twith "
                };
                self.binary(l, op, v)
            }
            Model::In(l, values) => self.set(l, "in", values),
            Model::NotIn(l, values) => {
                let op = if self.flip() { "notin" } else { "not in" };
                self.set(l, op, values)
            }
            Model::Not(inner) => {
                self.out.push('!');
                self.write(inner);
            }
            Model::And(parts) => self.join(parts, "&&"),
            Model::Or(parts) => self.join(parts, "||"),
        }
        if extra_parens {
            self.blank();
            self.out.push(')');
        }
        self.blank();
    }

    fn join(&mut self, parts: &[Model], op: &str) {
        self.out.push('(');
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.out.push_str(op);
            }
            self.write(part);
        }
        self.out.push(')');
    }
}

fn render(m: &Model, style: u64) -> String {
    let mut w = Writer {
        style,
        out: String::new(),
    };
    w.write(m);
    w.out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_text_round_trips(e in expr(), maps in prop::collection::vec(label_map(), 8)) {
        let sel = Selector::from_expr(e);
        let text = sel.canonical();
        let reparsed = parse(&text).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(reparsed.canonical(), text);
        prop_assert_eq!(reparsed.unique_id(), sel.unique_id());
        prop_assert_eq!(&reparsed, &sel);
        for labels in &maps {
            prop_assert_eq!(reparsed.matches(labels), sel.matches(labels));
        }
    }

    #[test]
    fn evaluation_agrees_with_naive_model(
        m in model(),
        style in any::<u64>(),
        maps in prop::collection::vec(label_map(), 8),
    ) {
        let text = render(&m, style);
        let sel = parse(&text).map_err(|err| TestCaseError::fail(err.to_string()))?;
        for labels in &maps {
            prop_assert_eq!(sel.matches(labels), naive_eval(&m, labels), "{} on {:?}", text, labels);
        }
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parsed_text_prints_to_a_stable_equivalent_form(
        parts in prop::collection::vec(prop::sample::select(vec![
            "a", "in", "not", "contains", "starts", "with", "ends", "has(", "all(", "global(",
            "(", ")", "{", "}", ",", "!", "!=", "==", "=", "&&", "||", "&", "|", "'x'", "\"y\"",
            "'", "\"", " ", "\t", "\n", "é",
        ]), 0..24),
        maps in prop::collection::vec(label_map(), 4),
    ) {
        let text: String = parts.concat();
        if let Ok(sel) = parse(&text) {
            let once = parse(&sel.canonical()).map_err(|err| TestCaseError::fail(err.to_string()))?;
            let twice = parse(&once.canonical()).map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!(&twice, &once);
            for labels in &maps {
                prop_assert_eq!(once.matches(labels), sel.matches(labels));
            }
        }
    }
}

proptest! {
    #[test]
    fn label_prefix_commutes_with_evaluation(e in expr(), labels in label_map()) {
        let sel = Selector::from_expr(e);
        let prefixed_labels: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (format!("pcns.{k}"), v.clone())).collect();
        let prefixed = sel.with_label_prefix("pcns.");
        prop_assert_eq!(prefixed.matches(&prefixed_labels), sel.matches(&labels));
        prop_assert!(prefixed.label_keys().iter().all(|k| k.starts_with("pcns.")));
        prop_assert_eq!(parse(&prefixed.canonical()).ok(), Some(prefixed));
    }
}
