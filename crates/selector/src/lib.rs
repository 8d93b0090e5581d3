//! Calico's label selector language: parser, evaluator, canonical printer,
//! unique IDs, and the rewrites Calico applies to selector fields.
//!
//! ```
//! use std::collections::BTreeMap;
//! let sel = selector::parse("! (has( b)||! has(a ))").unwrap();
//! assert_eq!(sel.canonical(), "!(has(b) || !has(a))");
//! let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
//! assert!(sel.matches(&labels));
//! ```

mod ast;
mod canonical;
mod error;
mod labels;
mod lexer;
mod parser;
mod rewrite;
mod selector;

pub use ast::{CompareOp, Expr, ValueSet};
pub use error::ParseError;
pub use labels::Labels;
pub use lexer::{is_valid_label, MAX_LABEL_LEN};
pub use parser::MAX_NESTING;
pub use rewrite::{
    namespace_selector, NAMESPACE_LABEL, NAMESPACE_LABEL_PREFIX, SERVICE_ACCOUNT_LABEL_PREFIX,
};
pub use selector::{parse, Selector};
