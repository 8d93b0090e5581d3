//! Pure rewrites Calico applies to selector fields before matching, such as
//! prefixing every label of a namespaceSelector with `pcns.`.

use crate::ast::Expr;
use crate::selector::{negate, Selector};

/// The label Calico puts on every namespaced endpoint and network set.
pub const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

/// Prefix given to namespace labels inherited through `kns.<ns>` profiles.
pub const NAMESPACE_LABEL_PREFIX: &str = "pcns.";

/// Prefix given to service-account labels inherited through `ksa.` profiles.
pub const SERVICE_ACCOUNT_LABEL_PREFIX: &str = "pcsa.";

impl Selector {
    /// The same selector with `prefix` put in front of every label it reads;
    /// `all()` and `global()` are left alone.
    pub fn with_label_prefix(&self, prefix: &str) -> Selector {
        Selector::from_expr(map_leaves(self.expr(), &mut |leaf| {
            prefix_label(leaf, prefix)
        }))
    }
}

/// Calico's namespaceSelector rewrite: labels get the `pcns.` prefix,
/// `all()` becomes `has(projectcalico.org/namespace)` (any namespaced
/// object) and `global()` becomes `!has(projectcalico.org/namespace)`
/// (non-namespaced objects). A `!` before `global()` cancels, as it does
/// when Calico re-parses its rewritten text.
pub fn namespace_selector(sel: &Selector) -> Selector {
    Selector::from_expr(map_leaves(sel.expr(), &mut |leaf| match leaf {
        Expr::All => Expr::Has(NAMESPACE_LABEL.to_owned()),
        Expr::Global => Expr::Not(Box::new(Expr::Has(NAMESPACE_LABEL.to_owned()))),
        other => prefix_label(other, NAMESPACE_LABEL_PREFIX),
    }))
}

/// A copy of `leaf` with `prefix` in front of its label, if it has one.
fn prefix_label(leaf: &Expr, prefix: &str) -> Expr {
    let mut out = leaf.clone();
    match &mut out {
        Expr::Has(label)
        | Expr::Compare { label, .. }
        | Expr::In { label, .. }
        | Expr::NotIn { label, .. } => label.insert_str(0, prefix),
        Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => {}
    }
    out
}

/// Rebuilds `expr` with every leaf replaced by `f(leaf)`, cancelling double
/// negations a replacement may introduce.
fn map_leaves(expr: &Expr, f: &mut impl FnMut(&Expr) -> Expr) -> Expr {
    match expr {
        Expr::Not(operand) => negate(map_leaves(operand, f)),
        Expr::And(operands) => Expr::And(operands.iter().map(|e| map_leaves(e, f)).collect()),
        Expr::Or(operands) => Expr::Or(operands.iter().map(|e| map_leaves(e, f)).collect()),
        leaf => f(leaf),
    }
}
