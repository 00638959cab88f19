//! Builders of OTLP requests and lookups in [`Collected`] for the unit tests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::Collected;

/// 2023-11-14T22:13:20Z, a realistic wall clock.
pub(crate) const T0_MS: i64 = 1_700_000_000_000;

pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

pub(crate) fn kv_double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// A span under construction: valid ids, 1 s after `T0_MS`, 10 ms long.
pub(crate) struct TestSpan(Span);

impl TestSpan {
    pub(crate) fn new(trace: u128, id: u64) -> Self {
        let start_ns = (T0_MS as u64 + 1_000) * 1_000_000;
        Self(Span {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: id.to_be_bytes().to_vec(),
            name: "op".to_string(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: start_ns,
            end_time_unix_nano: start_ns + 10_000_000,
            ..Span::default()
        })
    }

    pub(crate) fn parent(mut self, id: u64) -> Self {
        self.0.parent_span_id = id.to_be_bytes().to_vec();
        self
    }

    pub(crate) fn kind(mut self, kind: SpanKind) -> Self {
        self.0.kind = kind as i32;
        self
    }

    pub(crate) fn name(mut self, name: &str) -> Self {
        self.0.name = name.to_string();
        self
    }

    /// Duration in microseconds.
    pub(crate) fn micros(mut self, duration_us: u64) -> Self {
        self.0.end_time_unix_nano = self.0.start_time_unix_nano + duration_us * 1_000;
        self
    }

    pub(crate) fn attr(mut self, key: &str, value: &str) -> Self {
        self.0.attributes.push(kv(key, value));
        self
    }

    pub(crate) fn status(mut self, code: StatusCode) -> Self {
        self.0.status = Some(Status {
            message: String::new(),
            code: code as i32,
        });
        self
    }

    pub(crate) fn build(self) -> Span {
        self.0
    }
}

pub(crate) fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    request_with_resource(vec![kv("service.name", service)], spans)
}

pub(crate) fn request_with_resource(
    resource: Vec<KeyValue>,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Value at `t` of the series named `name` whose other labels are exactly
/// `labels` (order does not matter).
pub(crate) fn value(
    collected: &Collected,
    name: &str,
    labels: &[(&str, &str)],
    t: i64,
) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    wanted.push(("__name__".to_string(), name.to_string()));
    wanted.sort();
    let matches: Vec<f64> = collected
        .points
        .iter()
        .filter(|point| point.t == t)
        .filter(|point| {
            let mut have = point.labels.clone();
            have.sort();
            have == wanted
        })
        .map(|point| point.v)
        .collect();
    assert!(matches.len() <= 1, "series {name} {labels:?} emitted twice");
    matches.first().copied()
}

/// Points at `t` of series named `name`.
pub(crate) fn series_named<'a>(
    collected: &'a Collected,
    name: &str,
    t: i64,
) -> Vec<&'a crate::Point> {
    collected
        .points
        .iter()
        .filter(|point| point.t == t)
        .filter(|point| {
            point
                .labels
                .iter()
                .any(|(n, v)| n == "__name__" && v == name)
        })
        .collect()
}

/// Sum at `t` over all series named `name`.
pub(crate) fn total(collected: &Collected, name: &str, t: i64) -> f64 {
    series_named(collected, name, t).iter().map(|p| p.v).sum()
}
