//! `Selector`: a parsed selector tree together with its canonical text.

use std::borrow::Borrow;
use std::fmt::{self, Display, Formatter};
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha224};

use crate::ast::Expr;
use crate::error::ParseError;
use crate::labels::Labels;
use crate::parser::parse_expr;

/// A parsed label selector. Two selectors are equal when their trees are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    expr: Expr,
    canonical: String,
}

/// Parses selector text; blank text is `all()`.
pub fn parse(s: &str) -> Result<Selector, ParseError> {
    parse_expr(s).map(Selector::from_normal_expr)
}

impl Selector {
    /// `all()`: matches everything.
    pub fn all() -> Selector {
        Selector::from_normal_expr(Expr::All)
    }

    /// Wraps a tree built by hand, normalising it the way the parser would
    /// have produced it: `!!x` becomes `x`, a one-operand `&&`/`||` becomes
    /// its operand, an empty `&&` becomes `all()` and an empty `||` `!all()`.
    /// The canonical text of the result re-parses to an equal selector as
    /// long as every label is valid (`[a-zA-Z0-9_./-]`, 1..=512) and no
    /// literal contains both kinds of quote.
    pub fn from_expr(expr: Expr) -> Selector {
        Selector::from_normal_expr(normalize(expr))
    }

    fn from_normal_expr(expr: Expr) -> Selector {
        let canonical = expr.to_string();
        Selector { expr, canonical }
    }

    /// `(a && b)`, as Calico builds `(A) && (B)` when combining selectors.
    pub fn and(a: impl Borrow<Selector>, b: impl Borrow<Selector>) -> Selector {
        Selector::from_normal_expr(Expr::And(vec![
            a.borrow().expr.clone(),
            b.borrow().expr.clone(),
        ]))
    }

    /// The syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether `labels` satisfy the selector. Does not allocate.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.expr.matches(labels)
    }

    /// The canonical text (also what `Display` prints).
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The canonical text, borrowed.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `"s:" + base64url_nopad(SHA-224("s:" + canonical))`, Calico's ID for a
    /// selector (Felix also derives IP-set names from it).
    pub fn unique_id(&self) -> String {
        let mut hasher = Sha224::new();
        hasher.update(b"s:");
        hasher.update(self.canonical.as_bytes());
        format!("s:{}", URL_SAFE_NO_PAD.encode(hasher.finalize()))
    }

    /// True for `all()` (and so for the empty selector).
    pub fn is_all(&self) -> bool {
        self.expr == Expr::All
    }

    /// True if `global()` appears anywhere in the selector.
    pub fn uses_global(&self) -> bool {
        let mut found = false;
        self.expr.walk(&mut |e| found |= *e == Expr::Global);
        found
    }

    /// The labels the selector reads, sorted and without duplicates.
    pub fn label_keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        self.expr.walk(&mut |e| keys.extend(e.label()));
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

impl Default for Selector {
    fn default() -> Self {
        Selector::all()
    }
}

impl FromStr for Selector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Display for Selector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// Rewrites a hand-built tree into the shape the parser produces.
fn normalize(expr: Expr) -> Expr {
    match expr {
        Expr::Not(operand) => negate(normalize(*operand)),
        Expr::And(operands) => join(operands, Expr::And, Expr::All),
        Expr::Or(operands) => join(operands, Expr::Or, Expr::Not(Box::new(Expr::All))),
        leaf => leaf,
    }
}

/// `!expr`, cancelling a double negation as the parser does.
pub(crate) fn negate(expr: Expr) -> Expr {
    match expr {
        Expr::Not(inner) => *inner,
        other => Expr::Not(Box::new(other)),
    }
}

fn join(operands: Vec<Expr>, build: fn(Vec<Expr>) -> Expr, empty: Expr) -> Expr {
    let mut operands: Vec<Expr> = operands.into_iter().map(normalize).collect();
    match operands.len() {
        0 => empty,
        1 => operands.pop().unwrap_or(empty),
        _ => build(operands),
    }
}
