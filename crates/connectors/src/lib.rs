//! Traces → metrics connectors: span metrics (RED) and the service graph.
//!
//! They replace Grafana Tempo's metrics-generator processors
//! (`modules/generator/processor/spanmetrics` and `.../servicegraphs`) and
//! produce the same series names, labels and semantics, so Grafana's service
//! graph and APM views work on them unchanged:
//!
//! ```text
//!  ExportTraceServiceRequest ──► SpanMetrics::consume ──┐
//!                           └──► ServiceGraph::consume ─┤  (state machines,
//!                                                       │   single-threaded)
//!         every flush_interval: collect(now_ms) ◄───────┘
//!                └──► Collected { points, exemplars } ──► metric storage
//! ```
//!
//! **Owns**: decoding spans into counters/histograms, pairing client and server
//! spans into edges, series lifecycle (staleness, cardinality limit), the
//! connector configs. **Does not own**: scheduling (the pipeline calls
//! `collect` every `flush_interval` and wraps each connector in a mutex),
//! storage of the points, or spreading traces across nodes (a service graph
//! only pairs spans it sees, so all spans of a trace must reach one instance).
//!
//! Counters are cumulative from the connector's start. Every `collect` emits
//! the current value of every active series at `now_ms`, as Tempo's registry
//! does; a series seen for the first time also gets a 0 at the end of the
//! previous minute, so `increase()` counts its first increments.

mod config;
mod labels;
mod registry;
mod servicegraph;
mod spanmetrics;

#[cfg(test)]
mod testutil;

pub use config::{IntrinsicDimensions, ServiceGraphConfig, SpanMetricsConfig};
pub use servicegraph::ServiceGraph;
pub use spanmetrics::SpanMetrics;

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Series labels sorted by name, including `__name__` (and `le` for
    /// histogram buckets).
    pub labels: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// Sample value.
    pub v: f64,
}

/// A sample trace for a series: the latest span observed in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Labels of the series it belongs to (as in [`Point::labels`]).
    pub series_labels: Vec<(String, String)>,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    /// The observed value (latency in seconds).
    pub value: f64,
    /// Milliseconds since the Unix epoch (the collect time).
    pub t: i64,
}

/// What one `collect` produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// Current value of every active series.
    pub points: Vec<Point>,
    /// Exemplars recorded since the previous collect.
    pub exemplars: Vec<Exemplar>,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config field has a value serde accepted but the connector cannot use.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
