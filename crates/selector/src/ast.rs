//! The selector syntax tree, and how each node evaluates against labels.

use crate::labels::Labels;

/// A comparison between a label's value and a string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompareOp {
    /// `label == "v"`: present and equal.
    Eq,
    /// `label != "v"`: absent, or present and different.
    Ne,
    /// `label contains "v"`: present and has `v` as a substring.
    Contains,
    /// `label starts with "v"`: present and has `v` as a prefix.
    StartsWith,
    /// `label ends with "v"`: present and has `v` as a suffix.
    EndsWith,
}

impl CompareOp {
    /// The operator as the canonical printer writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Contains => "contains",
            CompareOp::StartsWith => "starts with",
            CompareOp::EndsWith => "ends with",
        }
    }

    /// Whether a label with this state satisfies the comparison with `operand`.
    fn holds(self, value: Option<&str>, operand: &str) -> bool {
        match (self, value) {
            (CompareOp::Ne, None) => true,
            (_, None) => false,
            (CompareOp::Eq, Some(v)) => v == operand,
            (CompareOp::Ne, Some(v)) => v != operand,
            (CompareOp::Contains, Some(v)) => v.contains(operand),
            (CompareOp::StartsWith, Some(v)) => v.starts_with(operand),
            (CompareOp::EndsWith, Some(v)) => v.ends_with(operand),
        }
    }
}

/// The literal set of an `in` / `not in` expression: sorted and without
/// duplicates, so membership is a binary search and printing is canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ValueSet(Vec<String>);

impl ValueSet {
    /// Builds a set from any values, sorting and de-duplicating them.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        values.sort_unstable();
        values.dedup();
        ValueSet(values)
    }

    /// Whether `value` is a member.
    pub fn contains(&self, value: &str) -> bool {
        self.0
            .binary_search_by(|member| member.as_str().cmp(value))
            .is_ok()
    }

    /// The members in sorted order.
    pub fn values(&self) -> &[String] {
        &self.0
    }
}

/// One node of a selector expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `all()`: matches everything (also the empty selector).
    All,
    /// `global()`: matches everything as an endpoint matcher; inside a
    /// namespaceSelector it means "non-namespaced objects".
    Global,
    /// `has(label)`.
    Has(String),
    /// `label <op> "value"`.
    Compare {
        /// The label read.
        label: String,
        /// The comparison.
        op: CompareOp,
        /// The string literal compared against.
        value: String,
    },
    /// `label in {...}`: present with a value in the set.
    In {
        /// The label read.
        label: String,
        /// The literal set.
        values: ValueSet,
    },
    /// `label not in {...}`: absent, or present with a value outside the set.
    NotIn {
        /// The label read.
        label: String,
        /// The literal set.
        values: ValueSet,
    },
    /// `!operand`.
    Not(Box<Expr>),
    /// `(a && b && ...)`, short-circuiting, at least two operands when built
    /// by the parser or [`crate::Selector::from_expr`].
    And(Vec<Expr>),
    /// `(a || b || ...)`, short-circuiting, at least two operands when built
    /// by the parser or [`crate::Selector::from_expr`].
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates this expression against `labels`, without allocating.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(label) => labels.get_label(label).is_some(),
            Expr::Compare { label, op, value } => op.holds(labels.get_label(label), value),
            Expr::In { label, values } => {
                labels.get_label(label).is_some_and(|v| values.contains(v))
            }
            Expr::NotIn { label, values } => {
                labels.get_label(label).is_none_or(|v| !values.contains(v))
            }
            Expr::Not(operand) => !operand.matches(labels),
            Expr::And(operands) => operands.iter().all(|e| e.matches(labels)),
            Expr::Or(operands) => operands.iter().any(|e| e.matches(labels)),
        }
    }

    /// The label this node reads directly, if it is a leaf that reads one.
    pub fn label(&self) -> Option<&str> {
        match self {
            Expr::Has(label)
            | Expr::Compare { label, .. }
            | Expr::In { label, .. }
            | Expr::NotIn { label, .. } => Some(label),
            Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => None,
        }
    }

    /// The direct children of this node (empty for leaves).
    pub fn children(&self) -> &[Expr] {
        match self {
            Expr::Not(operand) => std::slice::from_ref(operand.as_ref()),
            Expr::And(operands) | Expr::Or(operands) => operands,
            _ => &[],
        }
    }

    /// Calls `visit` on this node and every node below it, parents first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr)) {
        visit(self);
        for child in self.children() {
            child.walk(visit);
        }
    }
}
