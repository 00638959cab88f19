//! PromQL evaluation with Prometheus 2.42 semantics over any series storage.
//!
//! This crate owns parsing checks, evaluation (selectors, functions,
//! aggregations, binary operators, subqueries) and the encoding of results as
//! the Prometheus HTTP API `data` object. It does not own storage: callers
//! implement [`Storage`], which the engine asks once per selector for raw
//! samples (staleness markers included) before evaluating in memory. It does
//! not serve HTTP either.
//!
//! ```text
//! Engine::instant / Engine::range
//!   ├─ parse (promql-parser) and reject what Prometheus 2.42 does not know
//!   ├─ plan: widest [start, end] per selector (offset, @, range, lookback, subqueries)
//!   ├─ Storage::select once per selector
//!   └─ evaluate step by step over the in-memory series → Value → result_json
//! ```
//!
//! Native histograms are not supported: `histogram_count`, `histogram_sum`
//! and `histogram_fraction` return empty vectors, as Prometheus does for
//! float series.

mod aggregate;
mod binary;
mod engine;
mod functions;
mod json;
mod types;

pub use engine::{Engine, parse_selector, query_selectors};
pub use json::{format_float, result_json};
pub use types::{
    Error, InstantSample, Labels, METRIC_NAME, MatchOp, Matcher, STALE_NAN_BITS, Sample, Series,
    Storage, Value, is_stale_nan, label_value,
};
