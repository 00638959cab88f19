//! The one error of this crate: a query that does not parse or type-check.

/// A query that does not parse, or that parses but cannot be evaluated
/// (type errors, invalid regexes, unsupported features).
///
/// Displays like Tempo: `parse error at line 1, col 15: unexpected "}", expected a value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column of the offending token, in characters.
    pub column: usize,
    /// Byte offset of the offending token in the query.
    pub offset: usize,
    /// What was found and what was expected, lowercase.
    pub message: String,
}

impl ParseError {
    /// An error at byte `offset` of `src` (clamped to the query's length).
    pub(crate) fn at(src: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let (offset, line, column) = vispyr_common::text::position(src, offset);
        ParseError {
            line,
            column,
            offset,
            message: message.into(),
        }
    }
}
