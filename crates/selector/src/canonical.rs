//! The canonical printer: one spelling per selector tree, used for
//! de-duplication and unique IDs.
//!
//! Literals use double quotes unless they contain `"`; binary operators have
//! single spaces; n-ary `&&`/`||` are wrapped in parentheses; `in` sets print
//! sorted and de-duplicated (a [`ValueSet`] already is).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{Expr, ValueSet};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(label) => write!(f, "has({label})"),
            Expr::Compare { label, op, value } => {
                write!(f, "{label} {} ", op.as_str())?;
                write_quoted(f, value)
            }
            Expr::In { label, values } => write_set(f, label, "in", values),
            Expr::NotIn { label, values } => write_set(f, label, "not in", values),
            Expr::Not(operand) => write!(f, "!{operand}"),
            Expr::And(operands) => write_joined(f, operands, " && "),
            Expr::Or(operands) => write_joined(f, operands, " || "),
        }
    }
}

fn write_quoted(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    let quote = if value.contains('"') { '\'' } else { '"' };
    f.write_char(quote)?;
    f.write_str(value)?;
    f.write_char(quote)
}

fn write_set(f: &mut Formatter<'_>, label: &str, op: &str, values: &ValueSet) -> fmt::Result {
    write!(f, "{label} {op} {{")?;
    for (i, value) in values.values().iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, value)?;
    }
    f.write_char('}')
}

fn write_joined(f: &mut Formatter<'_>, operands: &[Expr], separator: &str) -> fmt::Result {
    f.write_char('(')?;
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        operand.fmt(f)?;
    }
    f.write_char(')')
}
