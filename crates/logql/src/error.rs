//! The errors of this crate: a query that does not parse, and a query that
//! fails to evaluate.

/// A query that does not parse or does not pass Loki's static checks.
///
/// Displays like Loki: `parse error at line 1, col 5: syntax error: unexpected
/// IDENTIFIER, expecting STRING`. Checks that are not tied to a position
/// (e.g. "at least one non-empty matcher") have `line == 0 && column == 0`
/// and display as `parse error : <message>`, again as Loki does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the offending token; 0 when not tied to a position.
    pub line: usize,
    /// 1-based column of the offending token, in characters; 0 when not tied
    /// to a position.
    pub column: usize,
    /// Byte offset of the offending token in the query.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 && self.column == 0 {
            write!(f, "parse error : {}", self.message)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}

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

    /// An error of a whole-query check, without a position.
    pub(crate) fn global(message: impl Into<String>) -> ParseError {
        ParseError {
            line: 0,
            column: 0,
            offset: 0,
            message: message.into(),
        }
    }
}

/// Errors of parsing and evaluating a query.
///
/// The HTTP layer maps [`Error::Parse`] and [`Error::BadQuery`] to 400 and
/// [`Error::Storage`] to 500.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The query does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query or its parameters are valid syntax but cannot be run:
    /// step too small, too many points or series, pipeline errors in a
    /// metric query, log query as an instant query.
    #[error("{0}")]
    BadQuery(String),
    /// The storage failed to return entries.
    #[error("storage error: {0}")]
    Storage(String),
}
