//! The crate's single error type: decode failures (with document number and field path)
//! and validation failures (with kind, name, field path and reason).

use crate::kind::Kind;

/// Everything that can go wrong while decoding, encoding or validating resources.
///
/// Documents are numbered from 1 in the order they appear in the input text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A document could not be parsed or did not match the schema.
    #[error("document {document}: {}{message}", path_prefix(path))]
    Decode {
        /// 1-based document number within the input.
        document: usize,
        /// Field path such as `spec.ipipMode` (empty when the problem is not in one field).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A resource decoded fine but breaks one of Calico's rules.
    #[error("{kind}({name}): {field}: {reason}")]
    Validation {
        /// Kind of the offending resource.
        kind: Kind,
        /// `name`, or `namespace/name` for namespaced kinds.
        name: String,
        /// Field path such as `spec.ingress[0].protocol`.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// Resources could not be rendered as YAML.
    #[error("encoding YAML: {0}")]
    Encode(String),
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}
