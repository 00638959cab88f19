//! Black-box test of the public API: configs from YAML fixtures, one realistic
//! request through both connectors, collected series as the pipeline sees them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde::Deserialize;
use vispyr_connectors::{
    Collected, ServiceGraph, ServiceGraphConfig, SpanMetrics, SpanMetricsConfig,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    span_metrics: SpanMetricsConfig,
    service_graph: ServiceGraphConfig,
}

fn load(name: &str) -> Result<Fixture, String> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let fixture: Fixture = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
    fixture.span_metrics.validate().map_err(|e| e.to_string())?;
    fixture
        .service_graph
        .validate()
        .map_err(|e| e.to_string())?;
    Ok(fixture)
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

const T0_NS: u64 = 1_700_000_000_000_000_000;

fn span(id: u8, parent: Option<u8>, kind: SpanKind, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![0xab; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.to_string(),
        kind: kind as i32,
        start_time_unix_nano: T0_NS,
        end_time_unix_nano: T0_NS + 20_000_000,
        attributes,
        ..Span::default()
    }
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                attribute("service.name", service),
                attribute("deployment.environment", "prod"),
            ],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        schema_url: String::new(),
    }
}

/// frontend (root SERVER) → CLIENT → cart SERVER → CLIENT to PostgreSQL.
fn checkout_trace() -> ExportTraceServiceRequest {
    let http = |method: &str, route: &str| {
        vec![
            attribute("http.request.method", method),
            attribute("http.route", route),
        ]
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                "frontend",
                vec![
                    span(
                        1,
                        None,
                        SpanKind::Server,
                        "POST /checkout",
                        http("POST", "/checkout"),
                    ),
                    span(2, Some(1), SpanKind::Client, "POST", http("POST", "")),
                ],
            ),
            resource_spans(
                "cart",
                vec![
                    span(
                        3,
                        Some(2),
                        SpanKind::Server,
                        "POST /cart",
                        http("POST", "/cart"),
                    ),
                    span(
                        4,
                        Some(3),
                        SpanKind::Client,
                        "SELECT shop.items",
                        vec![
                            attribute("db.system", "postgresql"),
                            attribute("db.name", "shop"),
                        ],
                    ),
                ],
            ),
        ],
    }
}

fn find(collected: &Collected, name: &str, subset: &[(&str, &str)], t: i64) -> Vec<f64> {
    collected
        .points
        .iter()
        .filter(|p| p.t == t)
        .filter(|p| p.labels.iter().any(|(n, v)| n == "__name__" && v == name))
        .filter(|p| {
            subset
                .iter()
                .all(|(n, v)| p.labels.iter().any(|(ln, lv)| ln == n && lv == v))
        })
        .map(|p| p.v)
        .collect()
}

#[test]
fn fixtures_parse_and_broken_ones_are_refused() {
    let good = load("connectors.yaml").unwrap();
    assert_eq!(good.span_metrics.flush_interval.as_secs(), 30);
    assert_eq!(good.service_graph.wait.as_secs(), 5);
    let unknown = load("broken-unknown-field.yaml").unwrap_err();
    assert!(unknown.contains("dimension"), "{unknown}");
    let buckets = load("broken-buckets.yaml").unwrap_err();
    assert!(buckets.contains("histogram_buckets"), "{buckets}");
}

#[test]
fn one_trace_through_both_connectors() {
    let fixture = load("connectors.yaml").unwrap();
    let mut span_metrics = SpanMetrics::new(fixture.span_metrics);
    let mut graph = ServiceGraph::new(fixture.service_graph);
    let request = checkout_trace();
    let now_ms = 1_700_000_015_000;
    span_metrics.consume(&request);
    graph.consume(&request, now_ms - 15_000);

    let metrics = span_metrics.collect(now_ms);
    let calls = find(
        &metrics,
        "traces_spanmetrics_calls_total",
        &[
            ("service", "cart"),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("http_route", "/cart"),
            ("deployment_environment", "prod"),
        ],
        now_ms,
    );
    assert_eq!(calls, vec![1.0]);
    let all_calls: f64 = find(&metrics, "traces_spanmetrics_calls_total", &[], now_ms)
        .iter()
        .sum();
    assert_eq!(all_calls, 4.0);
    // every point's labels are sorted by name
    for point in &metrics.points {
        assert!(
            point.labels.windows(2).all(|w| w[0].0 < w[1].0),
            "{:?}",
            point.labels
        );
    }
    assert_eq!(span_metrics.active_series(), 4 * (2 + 5 + 2));

    // the wait (5 s) has passed: the root span became a `user` edge
    let edges = graph.collect(now_ms);
    let requests = |client: &str, server: &str| {
        find(
            &edges,
            "traces_service_graph_request_total",
            &[("client", client), ("server", server)],
            now_ms,
        )
    };
    assert_eq!(requests("frontend", "cart"), vec![1.0]);
    assert_eq!(requests("cart", "shop"), vec![1.0]);
    assert_eq!(requests("user", "frontend"), vec![1.0]);
    let database = find(
        &edges,
        "traces_service_graph_request_total",
        &[
            ("connection_type", "database"),
            ("deployment_environment", "prod"),
        ],
        now_ms,
    );
    assert_eq!(database, vec![1.0]);
    let virtual_client = find(
        &edges,
        "traces_service_graph_request_total",
        &[
            ("virtual_node", "client"),
            ("connection_type", "virtual_node"),
        ],
        now_ms,
    );
    assert_eq!(virtual_client, vec![1.0]);
    assert!(
        edges
            .exemplars
            .iter()
            .all(|e| e.trace_id == "ab".repeat(16))
    );
    assert!(!edges.exemplars.is_empty());
}
