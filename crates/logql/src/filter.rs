//! Line filters: `|= "s"`, `!= "s"`, `|~ "re"`, `!~ "re"`, `|> "pattern"`,
//! `!> "pattern"`, each with optional `or` alternatives.

use regex::Regex;

use crate::pattern::Pattern;

/// How a [`LineFilter`] tests a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`: the line contains the string.
    Contains,
    /// `!=`: the line does not contain the string.
    NotContains,
    /// `|~`: the regex matches somewhere in the line.
    Regex,
    /// `!~`: the regex matches nowhere in the line.
    NotRegex,
    /// `|>`: the line has the pattern's shape.
    Pattern,
    /// `!>`: the line does not have the pattern's shape.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        )
    }
}

#[derive(Debug, Clone)]
enum Compiled {
    Literal,
    Regex(Vec<Regex>),
    Pattern(Vec<Pattern>),
}

/// One line filter with its `or` alternatives.
///
/// A positive filter (`|=`, `|~`, `|>`) keeps a line when *any* alternative
/// matches; a negative one (`!=`, `!~`, `!>`) keeps it when *none* does, as
/// Loki does for `!= "a" or "b"`. An empty string in `|=`/`!=` matches every
/// line (Loki treats it as a no-op filter).
#[derive(Debug, Clone)]
pub struct LineFilter {
    op: LineFilterOp,
    values: Vec<String>,
    compiled: Compiled,
}

impl PartialEq for LineFilter {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.values == other.values
    }
}

impl LineFilter {
    /// Builds a filter; fails with a message on an invalid regex or pattern.
    pub fn new(op: LineFilterOp, values: Vec<String>) -> Result<LineFilter, String> {
        if values.is_empty() {
            return Err("a line filter needs at least one value".into());
        }
        let compiled = match op {
            LineFilterOp::Contains | LineFilterOp::NotContains => Compiled::Literal,
            LineFilterOp::Regex | LineFilterOp::NotRegex => {
                let mut regexes = Vec::with_capacity(values.len());
                for value in &values {
                    regexes.push(compile_regex(value)?);
                }
                Compiled::Regex(regexes)
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                let mut patterns = Vec::with_capacity(values.len());
                for value in &values {
                    patterns.push(Pattern::new(value, false)?);
                }
                Compiled::Pattern(patterns)
            }
        };
        Ok(LineFilter {
            op,
            values,
            compiled,
        })
    }

    /// The operator.
    pub fn op(&self) -> LineFilterOp {
        self.op
    }

    /// The strings, regexes or patterns as written, one per `or` alternative.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a line passes the filter.
    pub fn matches(&self, line: &str) -> bool {
        let any = match &self.compiled {
            Compiled::Literal => self.values.iter().any(|v| line.contains(v.as_str())),
            Compiled::Regex(regexes) => regexes.iter().any(|r| r.is_match(line)),
            Compiled::Pattern(patterns) => patterns.iter().any(|p| p.matches(line)),
        };
        if self.is_noop() {
            return true;
        }
        any != self.op.is_negative()
    }

    /// Substrings every passing line contains: the value of a `|=` filter
    /// without alternatives, for storage to prune with (bloom filters,
    /// n-gram indexes). Empty when nothing is required.
    pub fn required_substrings(&self) -> Vec<&str> {
        if self.op == LineFilterOp::Contains && self.values.len() == 1 && !self.values[0].is_empty()
        {
            return vec![self.values[0].as_str()];
        }
        Vec::new()
    }

    fn is_noop(&self) -> bool {
        matches!(self.compiled, Compiled::Literal) && self.values.iter().any(|v| v.is_empty())
    }
}

/// Compiles an unanchored RE2-syntax regex, with Go-like error wording.
pub(crate) fn compile_regex(source: &str) -> Result<Regex, String> {
    Regex::new(source).map_err(|err| regex_error(source, &err))
}

/// `error parsing regexp: <reason>: `<source>``, the last line of the regex
/// crate's message being the reason.
pub(crate) fn regex_error(source: &str, err: &regex::Error) -> String {
    let text = err.to_string();
    let reason = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid regex")
        .trim()
        .trim_start_matches("error: ");
    format!("error parsing regexp: {reason}: `{source}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(op: LineFilterOp, values: &[&str]) -> LineFilter {
        LineFilter::new(op, values.iter().map(|v| v.to_string()).collect()).unwrap()
    }

    #[test]
    fn contains_and_alternatives() {
        let f = filter(LineFilterOp::Contains, &["error"]);
        assert!(f.matches("an error here"));
        assert!(!f.matches("all fine"));
        assert_eq!(f.required_substrings(), vec!["error"]);
        let either = filter(LineFilterOp::Contains, &["a", "b"]);
        assert!(either.matches("xbx"));
        assert!(either.required_substrings().is_empty());
        let neither = filter(LineFilterOp::NotContains, &["a", "b"]);
        assert!(!neither.matches("xbx"));
        assert!(neither.matches("xyz"));
    }

    #[test]
    fn regexes_are_unanchored() {
        let f = filter(LineFilterOp::Regex, &["err(or)?"]);
        assert!(f.matches("an err"));
        let not = filter(LineFilterOp::NotRegex, &["^GET"]);
        assert!(not.matches("POST /"));
        assert!(!not.matches("GET /"));
        let err = LineFilter::new(LineFilterOp::Regex, vec!["(".into()]).unwrap_err();
        assert!(err.starts_with("error parsing regexp: "), "{err}");
    }

    #[test]
    fn empty_string_is_noop() {
        assert!(filter(LineFilterOp::Contains, &[""]).matches("x"));
        assert!(filter(LineFilterOp::NotContains, &[""]).matches("x"));
    }
}
