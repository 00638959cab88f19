//! Data types shared by the engine, the storage seam and the JSON encoder.

use futures::future::BoxFuture;
use regex::Regex;

/// Label pairs of one series, sorted by name; includes `__name__` when the
/// series has a metric name. Labels with empty values are never stored.
pub type Labels = Vec<(String, String)>;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Bit pattern Prometheus uses for staleness markers.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is a Prometheus staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// Sample value.
    pub v: f64,
}

/// A series and its samples, sorted by timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Sorted label pairs.
    pub labels: Labels,
    /// Samples sorted by `t`.
    pub samples: Vec<Sample>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// Sorted label pairs.
    pub labels: Labels,
    /// Evaluation timestamp in milliseconds.
    pub t: i64,
    /// Sample value.
    pub v: f64,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single number.
    Scalar {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string literal.
    String {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// Value.
        v: String,
    },
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector (instant query of a range selector) or a range query result.
    Matrix(Vec<Series>),
}

/// Errors of parsing and evaluating a query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The query or one of its parameters is invalid (Prometheus `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (Prometheus `execution`).
    #[error("{0}")]
    Execution(String),
    /// The storage failed to return series (Prometheus `internal`).
    #[error("storage error: {0}")]
    Storage(String),
    /// The query would load more samples than the engine allows.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
}

impl Error {
    /// The Prometheus HTTP API `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadData(_) => "bad_data",
            Error::Execution(_) | Error::TooManySamples => "execution",
            Error::Storage(_) => "internal",
        }
    }
}

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// A label matcher of a selector.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Literal value or regex source (unanchored, as written by the user).
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; regex matchers are compiled anchored as `^(?:value)$`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, Error> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                let anchored = format!("^(?:{value})$");
                let compiled = Regex::new(&anchored).map_err(|err| {
                    Error::BadData(format!("invalid regular expression {value:?}: {err}"))
                })?;
                Some(compiled)
            }
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Converts a matcher of the parser, reusing its already anchored regex.
    pub(crate) fn from_parser(m: &promql_parser::label::Matcher) -> Matcher {
        use promql_parser::label::MatchOp as P;
        let (op, regex) = match &m.op {
            P::Equal => (MatchOp::Equal, None),
            P::NotEqual => (MatchOp::NotEqual, None),
            P::Re(r) => (MatchOp::Regex, Some(r.clone())),
            P::NotRe(r) => (MatchOp::NotRegex, Some(r.clone())),
        };
        Matcher {
            name: m.name.clone(),
            op,
            value: m.value.clone(),
            regex,
        }
    }

    /// Whether a label value matches; a missing label is the empty string.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether a series with these labels matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(label_value(labels, &self.name))
    }
}

/// The value of label `name`, or "" when missing.
pub fn label_value<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// What the engine reads from.
pub trait Storage: Send + Sync {
    /// Raw samples in `[start_ms, end_ms]` (inclusive) of every series
    /// matching all matchers, staleness markers included as stored.
    fn select<'a>(
        &'a self,
        matchers: &'a [Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<Series>, Error>>;
}
