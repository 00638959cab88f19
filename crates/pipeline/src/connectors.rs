//! The traces → metrics connectors in the pipeline: every stored trace export feeds
//! span metrics and the service graph; [`Connectors::flush`] (called every flush
//! interval by the server) turns their series into `metric_points` rows and keeps
//! their exemplars for the exemplar API.
//!
//! Only acknowledged traces are consumed, and only live ones: WAL replay after a
//! crash does not feed the connectors again, so their counters restart from zero —
//! a counter reset, which `rate()` and `increase()` handle.

use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use vispyr_connectors::{
    Collected, ServiceGraph, ServiceGraphConfig, SpanMetrics, SpanMetricsConfig,
};
use vispyr_model::{ExemplarStore, FamilyMetadata, MetadataStore, PrometheusRows, StoredExemplar};

/// Span metrics and service graph, each behind its own lock.
pub struct Connectors {
    span_metrics: Option<Mutex<SpanMetrics>>,
    service_graph: Option<Mutex<ServiceGraph>>,
    flush_interval: Duration,
}

impl Connectors {
    /// The enabled connectors; `None` when both are off.
    pub fn new(
        span_metrics: SpanMetricsConfig,
        service_graph: ServiceGraphConfig,
    ) -> Option<Connectors> {
        let flush_interval = match (span_metrics.enabled, service_graph.enabled) {
            (false, false) => return None,
            (true, false) => span_metrics.flush_interval,
            (false, true) => service_graph.flush_interval,
            (true, true) => span_metrics
                .flush_interval
                .min(service_graph.flush_interval),
        };
        Some(Connectors {
            span_metrics: span_metrics
                .enabled
                .then(|| Mutex::new(SpanMetrics::new(span_metrics))),
            service_graph: service_graph
                .enabled
                .then(|| Mutex::new(ServiceGraph::new(service_graph))),
            flush_interval,
        })
    }

    /// How often [`Connectors::flush`] should run.
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval
    }

    /// Feeds a stored trace export to the connectors.
    pub fn consume(&self, request: &ExportTraceServiceRequest, now_ms: i64) {
        if let Some(span_metrics) = &self.span_metrics {
            span_metrics
                .lock()
                .expect("span metrics lock")
                .consume(request);
        }
        if let Some(service_graph) = &self.service_graph {
            service_graph
                .lock()
                .expect("service graph lock")
                .consume(request, now_ms);
        }
    }

    /// Collects every active series at `now_ms` as `metric_points` rows (typed from
    /// the metadata the connectors register) and records their exemplars.
    pub fn collect(
        &self,
        now_ms: i64,
        metadata: &MetadataStore,
        exemplars: &ExemplarStore,
    ) -> vispyr_model::Converted {
        let mut collected = Collected::default();
        let mut take = |more: Collected| {
            collected.points.extend(more.points);
            collected.exemplars.extend(more.exemplars);
        };
        if let Some(span_metrics) = &self.span_metrics {
            take(
                span_metrics
                    .lock()
                    .expect("span metrics lock")
                    .collect(now_ms),
            );
        }
        if let Some(service_graph) = &self.service_graph {
            take(
                service_graph
                    .lock()
                    .expect("service graph lock")
                    .collect(now_ms),
            );
        }
        let mut rows = PrometheusRows::new();
        for point in &collected.points {
            rows.push_series_typed(
                point.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                std::iter::once((point.t, point.v)),
                metadata,
            );
        }
        exemplars.extend(
            collected
                .exemplars
                .into_iter()
                .map(|exemplar| StoredExemplar {
                    series_labels: exemplar.series_labels,
                    trace_id: exemplar.trace_id,
                    span_id: exemplar.span_id,
                    value: exemplar.value,
                    t: exemplar.t,
                }),
        );
        rows.finish()
    }
}

/// Registers types and help of the connector series (as Tempo's metrics-generator
/// names them), once when the pipeline gets its connectors.
pub(crate) fn register_metadata(metadata: &MetadataStore) {
    const FAMILIES: [(&str, &str, &str, &str); 9] = [
        (
            "traces_spanmetrics_calls_total",
            "counter",
            "",
            "Spans by service, name, kind and status.",
        ),
        (
            "traces_spanmetrics_latency",
            "histogram",
            "seconds",
            "Span duration.",
        ),
        (
            "traces_spanmetrics_size_total",
            "counter",
            "bytes",
            "Encoded size of spans.",
        ),
        (
            "traces_service_graph_request_total",
            "counter",
            "",
            "Requests between two nodes.",
        ),
        (
            "traces_service_graph_request_failed_total",
            "counter",
            "",
            "Failed requests between two nodes.",
        ),
        (
            "traces_service_graph_request_server_seconds",
            "histogram",
            "seconds",
            "Request time seen by the server.",
        ),
        (
            "traces_service_graph_request_client_seconds",
            "histogram",
            "seconds",
            "Request time seen by the client.",
        ),
        (
            "traces_service_graph_unpaired_spans_total",
            "counter",
            "",
            "Spans whose peer never arrived.",
        ),
        (
            "traces_service_graph_dropped_spans_total",
            "counter",
            "",
            "Spans dropped over the edge store bound.",
        ),
    ];
    for (family, kind, unit, help) in FAMILIES {
        metadata.update(
            family,
            FamilyMetadata {
                kind: kind.to_string(),
                help: help.to_string(),
                unit: unit.to_string(),
            },
        );
    }
}
