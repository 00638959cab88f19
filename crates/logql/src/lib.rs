//! LogQL: parsing and evaluating Grafana Loki 3's log query language over
//! any log storage.
//!
//! This crate owns the language: the lexer and hand-written parser (with
//! Loki's static checks and positioned errors), log pipelines (line
//! filters, parsers, label filters, formatters), metric evaluation (range
//! and vector aggregations, binary operators) and the encoding of results
//! as the Loki HTTP API `data` object. It does not own storage: callers
//! implement [`Storage`], which the engine asks once per stream selector
//! for raw entries. It does not serve HTTP either, nor does it tail.
//!
//! ```text
//! Engine::query_range / Engine::query_instant
//!   ├─ parse → Expr (log query or metric query), Loki's checks
//!   ├─ plan: per selector, matchers + the line filters before any line
//!   │        rewrite (pushed down) + widest time range (+ limit when no
//!   │        later stage can drop entries)
//!   ├─ Storage::select once per selector
//!   ├─ pipeline per entry (LogSelector::process is the same code)
//!   └─ log query  → streams (newest/oldest `limit` entries)
//!      metric     → per step: range windows (t - range, t] → aggregations
//!                   → binary operators → matrix / vector / scalar → result_json
//! ```
//!
//! Range windows are left-open and right-closed, `(t - range, t]` (shifted
//! by `offset`), as Loki's range vector iterator: an entry exactly at
//! `t - range` belongs to the previous window, one exactly at `t` to this
//! one. Log queries read `[start, end)`.
//!
//! Labels of a result stream or series are the stream labels, plus
//! structured metadata, plus labels found by parsers; a parsed or metadata
//! label whose name is a stream label becomes `<name>_extracted`.
//!
//! Not supported: `ip()` label/line filters, `label_replace`, `label_join`,
//! `sort` by labels, `count_values`, `approx_topk`, `| unpack` of
//! non-string values, `--categorize-labels` encoding, variants, and query
//! statistics beyond the number of returned entries.

mod ast;
mod engine;
mod error;
mod filter;
mod json;
mod jsonline;
mod lexer;
mod parser;
mod pattern;
mod pipeline;
mod template;
mod types;
mod units;

use std::fmt;

pub use ast::LogSelector;
pub use engine::Engine;
pub use error::{Error, ParseError};
pub use filter::{LineFilter, LineFilterOp};
pub use json::result_json;
pub use types::{
    Direction, LogEntry, Point, QueryResult, Sample, SelectRequest, Series, Storage, Stream,
};
pub use vispyr_promql::{Labels, MatchOp, Matcher};

use parser::Node;

/// A parsed, checked LogQL query.
///
/// Displays as a canonical query that parses back to the same text.
#[derive(Debug, Clone)]
pub struct Expr {
    node: Node,
}

/// Parses and checks a query.
///
/// ```
/// use vispyr_logql::parse;
///
/// let expr = parse(r#"{app="api"} |= "error" | json | status >= 500"#).unwrap();
/// assert!(expr.is_log_query());
/// assert_eq!(expr.to_string(), r#"{app="api"} |= "error" | json | status>=500"#);
///
/// let err = parse(r#"{app="api"} | json |"#).unwrap_err();
/// assert_eq!(err.to_string(), "parse error at line 1, col 21: syntax error: unexpected $end, expecting IDENTIFIER");
/// ```
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    Ok(Expr {
        node: parser::parse_query(query)?,
    })
}

/// The matchers of a bare stream selector such as `{a="b", c=~"d.*"}`, for
/// the `match[]` parameter of the series API. Anything else, or a selector
/// with only empty-compatible matchers, is an error.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, ParseError> {
    parser::parse_matchers(selector)
}

impl Expr {
    /// Whether this is a log query (returns streams) rather than a metric
    /// query.
    pub fn is_log_query(&self) -> bool {
        matches!(self.node, Node::Log(_))
    }

    /// The selector and pipeline of a log query, e.g. for live tailing.
    pub fn log_selector(&self) -> Option<LogSelector> {
        match &self.node {
            Node::Log(selector) => Some(selector.clone()),
            Node::Metric(_) => None,
        }
    }

    /// The matchers of every stream selector in the query, for label APIs
    /// that take a `query` parameter.
    pub fn stream_matchers(&self) -> Vec<Vec<Matcher>> {
        fn walk(expr: &ast::MetricExpr, out: &mut Vec<Vec<Matcher>>) {
            match expr {
                ast::MetricExpr::Range { range, .. } => out.push(range.selector.matchers.clone()),
                ast::MetricExpr::Vector { expr, .. } => walk(expr, out),
                ast::MetricExpr::Binary { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                ast::MetricExpr::Literal(_) | ast::MetricExpr::VectorLiteral(_) => {}
            }
        }
        let mut out = Vec::new();
        match &self.node {
            Node::Log(selector) => out.push(selector.matchers.clone()),
            Node::Metric(expr) => walk(expr, &mut out),
        }
        out
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Node::Log(selector) => write!(f, "{selector}"),
            Node::Metric(expr) => write!(f, "{expr}"),
        }
    }
}

impl LogSelector {
    /// The stream label matchers.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The line filters a storage may apply before the pipeline runs: those
    /// that come before any stage that rewrites the line (`line_format`,
    /// `unpack`, `decolorize`). Parsers and label filters in between do not
    /// change the line, so filters after them are included.
    pub fn pushdown_filters(&self) -> Vec<LineFilter> {
        engine::split_pushdown(&self.stages).0
    }

    /// Runs the whole pipeline (stream matchers excluded) on one entry:
    /// `None` when a filter drops it, else the resulting labels (sorted)
    /// and line.
    pub fn process(&self, entry: &LogEntry) -> Option<(Labels, String)> {
        let (builder, line) = pipeline::run_stages(
            &self.stages,
            entry.timestamp_ns,
            &entry.line,
            &entry.stream,
            &entry.metadata,
        )?;
        Some((builder.into_labels(), line))
    }
}
