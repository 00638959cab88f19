//! Data types shared by the engine, the storage seam and the JSON encoder.

use futures::future::BoxFuture;
use vispyr_promql::{Labels, Matcher};

use crate::error::Error;
use crate::filter::LineFilter;

/// One stored log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The log line.
    pub line: String,
    /// Stream (indexed) labels, sorted by name.
    pub stream: Labels,
    /// Structured metadata (non-indexed labels), sorted by name.
    pub metadata: Labels,
}

/// Order of entries in a log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// What the engine asks storage for.
///
/// Storage must return only entries whose stream labels match every
/// matcher (a missing label is the empty string), whose line passes every
/// line filter ([`LineFilter::matches`]) and whose timestamp is in
/// `[start_ns, end_ns)`. When `limit` is `Some(n)` it returns at most `n`
/// entries: the first ones in `direction` order (newest first for
/// [`Direction::Backward`]); otherwise all of them, in any order.
#[derive(Debug, Clone)]
pub struct SelectRequest {
    /// Stream label matchers.
    pub matchers: Vec<Matcher>,
    /// Line filters to apply to every line.
    pub line_filters: Vec<LineFilter>,
    /// Inclusive start, in nanoseconds.
    pub start_ns: i64,
    /// Exclusive end, in nanoseconds.
    pub end_ns: i64,
    /// Which entries count as "first" for `limit`.
    pub direction: Direction,
    /// Maximum number of entries to return.
    pub limit: Option<usize>,
    /// False when nothing after the pushed-down filters reads the line (a plain
    /// `count_over_time` or `rate`): storage may then return empty lines and
    /// skip reading them.
    pub needs_line: bool,
}

/// What the engine reads from.
pub trait Storage: Send + Sync {
    /// Entries as described by [`SelectRequest`].
    fn select<'a>(
        &'a self,
        request: &'a SelectRequest,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, Error>>;
}

/// One stream of a log query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Stream labels, structured metadata and parsed labels, sorted by name.
    pub labels: Labels,
    /// `(timestamp_ns, line)` in the query's direction.
    pub entries: Vec<(i64, String)>,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Nanoseconds since the Unix epoch.
    pub t_ns: i64,
    /// Value.
    pub v: f64,
}

/// A series of a range query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Sorted labels.
    pub labels: Labels,
    /// Points sorted by time.
    pub points: Vec<Point>,
}

/// One element of an instant query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Sorted labels.
    pub labels: Labels,
    /// Evaluation time in nanoseconds.
    pub t_ns: i64,
    /// Value.
    pub v: f64,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// A log query: streams sorted by labels.
    Streams(Vec<Stream>),
    /// A metric range query: series sorted by labels.
    Matrix(Vec<Series>),
    /// A metric instant query.
    Vector(Vec<Sample>),
    /// An instant query of a literal expression such as `1 + 1`.
    Scalar {
        /// Evaluation time in nanoseconds.
        t_ns: i64,
        /// Value.
        v: f64,
    },
}
