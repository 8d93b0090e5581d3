//! The crate's single error type: a selector that failed to parse.

/// A selector string that is not valid, with the 0-based character offset of
/// the offending token and a short reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {input:?}: {reason} at position {position}")]
pub struct ParseError {
    /// The whole selector text as given.
    pub input: String,
    /// 0-based offset, in characters (not bytes), of the offending token.
    pub position: usize,
    /// What was wrong, e.g. "expected operator after label".
    pub reason: String,
}

impl ParseError {
    /// Builds an error for `input` at byte offset `byte_offset`, converting it
    /// to a character offset.
    pub(crate) fn at_byte(input: &str, byte_offset: usize, reason: impl Into<String>) -> Self {
        let byte_offset = byte_offset.min(input.len());
        ParseError {
            input: input.to_owned(),
            position: input[..byte_offset].chars().count(),
            reason: reason.into(),
        }
    }
}
