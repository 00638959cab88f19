//! TraceQL: parsing and evaluating Grafana Tempo's trace query language.
//!
//! This crate owns the language: the lexer and hand-written parser (with
//! Tempo's static type checks), evaluation of a query against one trace held
//! in memory, and the span conditions storage can use to pick candidate
//! traces. It does not own storage, fetching or the HTTP API: callers build
//! a [`Trace`] per candidate and ask [`Query::evaluate`].
//!
//! ```text
//! parse(text) ─▶ Query ─┬─ required_span_filters() ─▶ storage scan ─▶ candidate traces
//!                       └─ evaluate(&Trace) ─▶ Vec<SpanSet> (empty = no match)
//! ```
//!
//! Supported: spanset filters over intrinsics (`name`, `status`, `kind`,
//! `duration`, `statusMessage`, `rootName`, `rootServiceName`,
//! `traceDuration` and the `span:`/`trace:` forms) and span/resource/
//! unscoped attributes; comparison, regex, boolean and arithmetic
//! operators; spanset `&&`, `||` and all structural operators (plain, `!`
//! and `&` forms); pipelines with `count`, `avg`, `min`, `max`, `sum`
//! comparisons, `by()`, `select()` and `coalesce()`; `with (...)` hints.
//! Not supported: metrics queries, `event.`/`link.`/`instrumentation.`/
//! `parent.` scopes, arrays.

mod ast;
mod conditions;
mod error;
mod eval;
mod lexer;
mod parser;
mod value;

use std::fmt;

pub use ast::{AttributeScope, CompareOp, Field, Intrinsic};
pub use conditions::Condition;
pub use error::ParseError;
pub use eval::{SpanData, SpanSet, Trace};
pub use value::{Kind, Status, Value};

/// A parsed, type-checked TraceQL query. Cheap to share: evaluation takes
/// `&self` and the query is `Send + Sync`.
///
/// Displays as a canonical, fully parenthesised query that parses back to
/// the same query.
#[derive(Debug, Clone)]
pub struct Query {
    pipeline: ast::Pipeline,
    hints: Vec<(String, Value)>,
}

/// Parses and type-checks a query.
///
/// ```
/// use vispyr_traceql::{SpanData, Status, Trace, parse};
///
/// let query = parse("{ status = error } | count() > 0").unwrap();
/// let trace = Trace {
///     trace_id: "t1".into(),
///     spans: vec![SpanData { span_id: "a".into(), status: Status::Error, ..SpanData::default() }],
/// };
/// let sets = query.evaluate(&trace);
/// assert_eq!(sets[0].spans, vec![0]);
/// assert_eq!(sets[0].scalar, Some(1.0));
///
/// let err = parse("{ name = }").unwrap_err();
/// assert_eq!(err.to_string(), r#"parse error at line 1, col 10: unexpected "}", expected a value"#);
/// ```
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let parsed = parser::parse_query(query)?;
    Ok(Query {
        pipeline: parsed.pipeline,
        hints: parsed.hints,
    })
}

impl Query {
    /// The spansets of `trace` the query selects; empty when the trace does
    /// not match. Each spanset lists indices into `trace.spans` and carries
    /// the last aggregate's value and the `by()` groups.
    pub fn evaluate(&self, trace: &Trace) -> Vec<SpanSet> {
        eval::evaluate(&self.pipeline, trace)
    }

    /// Whether the query selects any spanset of `trace`.
    pub fn matches(&self, trace: &Trace) -> bool {
        !self.evaluate(trace).is_empty()
    }

    /// Span-level conditions that are necessary for a trace to match: for
    /// each returned conjunction, every matching trace has at least one span
    /// satisfying all of its conditions ([`Condition::matches_span`]). An
    /// empty list means no pruning is possible.
    pub fn required_span_filters(&self) -> Vec<Vec<Condition>> {
        conditions::required_span_filters(&self.pipeline)
    }

    /// Fields named in `select(...)` stages, for the caller to return with
    /// the spans; evaluation itself ignores them.
    pub fn selected_fields(&self) -> Vec<Field> {
        let mut fields = Vec::new();
        for stage in &self.pipeline.stages {
            if let ast::Stage::Select(selected) = stage {
                for field in selected {
                    if !fields.contains(field) {
                        fields.push(field.clone());
                    }
                }
            }
        }
        fields
    }

    /// The `with (name = value, ...)` hints, e.g. `most_recent = true`.
    pub fn hints(&self) -> &[(String, Value)] {
        &self.hints
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pipeline)?;
        if !self.hints.is_empty() {
            f.write_str(" with (")?;
            for (i, (name, value)) in self.hints.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{name}={value}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}
