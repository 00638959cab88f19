//! Span metrics and service graph from traces sent over OTLP/HTTP to the real
//! binary, read back through PromQL and the exemplar API.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use prost::Message;
use serde_json::Value;
use support::Server;

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

struct SpanSpec<'a> {
    trace: u8,
    id: u8,
    parent: u8,
    name: &'a str,
    kind: span::SpanKind,
    millis: u64,
    error: bool,
    attributes: Vec<KeyValue>,
}

fn span(spec: SpanSpec<'_>, start: u64) -> Span {
    Span {
        trace_id: vec![spec.trace; 16],
        span_id: vec![spec.id; 8],
        parent_span_id: if spec.parent == 0 {
            Vec::new()
        } else {
            vec![spec.parent; 8]
        },
        name: spec.name.into(),
        kind: spec.kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + spec.millis * 1_000_000,
        attributes: spec.attributes,
        status: spec.error.then(|| Status {
            code: status::StatusCode::Error as i32,
            ..Status::default()
        }),
        ..Span::default()
    }
}

fn send(server: &Server, service: &str, spans: Vec<Span>) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("content-type", "application/x-protobuf")
        .body(support::trace_request(service, spans).encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn query(server: &Server, expr: &str) -> Value {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/prometheus/api/v1/query", server.http))
        .query(&[("query", expr)])
        .send()
        .unwrap();
    let body: Value = response.json().unwrap();
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body
}

/// The value of a one-element instant vector, or None when it is empty.
fn value(server: &Server, expr: &str) -> Option<f64> {
    let body = query(server, expr);
    let result = body["data"]["result"].as_array().unwrap();
    assert!(result.len() <= 1, "{expr}: {body}");
    result
        .first()
        .map(|one| one["value"][1].as_str().unwrap().parse().unwrap())
}

#[test]
fn span_metrics_and_service_graph_from_otlp_traces() {
    let temp = tempfile::tempdir().unwrap();
    let config = r#"connectors:
  span_metrics:
    flush_interval: 1s
  service_graph:
    flush_interval: 1s
    wait: 1s
"#;
    let server = Server::start_in(&temp.path().join("data"), config);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    use span::SpanKind::{Client, Server as ServerKind};

    // Three requests to frontend: two fast ones, one failing slow one. Each calls
    // backend (instrumented: its server span arrives in a separate request) and
    // PostgreSQL (uninstrumented: only the client span with db.* exists).
    for trace in 1..=3u8 {
        let slow = trace == 3;
        let route = vec![
            attribute("http.request.method", "GET"),
            attribute("http.route", "/items"),
        ];
        send(
            &server,
            "frontend",
            vec![
                span(
                    SpanSpec {
                        trace,
                        id: 1,
                        parent: 0,
                        name: "GET /items",
                        kind: ServerKind,
                        millis: if slow { 700 } else { 40 },
                        error: slow,
                        attributes: route,
                    },
                    now,
                ),
                span(
                    SpanSpec {
                        trace,
                        id: 2,
                        parent: 1,
                        name: "GET",
                        kind: Client,
                        millis: 30,
                        error: false,
                        attributes: vec![attribute("server.address", "backend")],
                    },
                    now,
                ),
                span(
                    SpanSpec {
                        trace,
                        id: 4,
                        parent: 1,
                        name: "SELECT shop.items",
                        kind: Client,
                        millis: 5,
                        error: false,
                        attributes: vec![
                            attribute("db.system", "postgresql"),
                            attribute("db.name", "shop"),
                        ],
                    },
                    now,
                ),
            ],
        );
        send(
            &server,
            "backend",
            vec![span(
                SpanSpec {
                    trace,
                    id: 3,
                    parent: 2,
                    name: "GET /stock",
                    kind: ServerKind,
                    millis: 20,
                    error: false,
                    attributes: vec![attribute("http.route", "/stock")],
                },
                now,
            )],
        );
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let calls =
        "sum(traces_spanmetrics_calls_total{service=\"frontend\", span_name=\"GET /items\"})";
    while value(&server, calls) != Some(3.0) {
        assert!(
            Instant::now() < deadline,
            "span metrics never reached 3 calls:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // RED by status, route label from the default dimensions.
    let errors = "traces_spanmetrics_calls_total{service=\"frontend\", span_kind=\"SPAN_KIND_SERVER\", status_code=\"STATUS_CODE_ERROR\", http_route=\"/items\"}";
    assert_eq!(value(&server, errors), Some(1.0));
    let ok = "traces_spanmetrics_calls_total{service=\"frontend\", span_name=\"GET /items\", status_code=\"STATUS_CODE_UNSET\", http_request_method=\"GET\"}";
    assert_eq!(value(&server, ok), Some(2.0));
    // Latency histogram in seconds: two requests ≤ 50 ms, all three ≤ 1 s.
    let bucket = |le: &str| {
        value(
            &server,
            &format!("traces_spanmetrics_latency_bucket{{service=\"frontend\", span_name=\"GET /items\", status_code=\"STATUS_CODE_UNSET\", le=\"{le}\"}}"),
        )
        .unwrap_or(0.0)
            + value(
                &server,
                &format!("traces_spanmetrics_latency_bucket{{service=\"frontend\", span_name=\"GET /items\", status_code=\"STATUS_CODE_ERROR\", le=\"{le}\"}}"),
            )
            .unwrap_or(0.0)
    };
    assert_eq!(bucket("0.025"), 0.0);
    assert_eq!(bucket("0.05"), 2.0);
    assert_eq!(bucket("0.5"), 2.0);
    assert_eq!(bucket("1"), 3.0);
    assert_eq!(bucket("+Inf"), 3.0);
    let sum = value(
        &server,
        "sum(traces_spanmetrics_latency_sum{service=\"frontend\", span_name=\"GET /items\"})",
    )
    .unwrap();
    assert!((sum - 0.78).abs() < 1e-9, "latency sum {sum}");
    let p50 = value(
        &server,
        "histogram_quantile(0.5, sum by (le) (traces_spanmetrics_latency_bucket{service=\"frontend\", span_name=\"GET /items\"}))",
    )
    .unwrap();
    assert!(p50 > 0.025 && p50 <= 0.05, "p50 {p50}");

    // Service graph: frontend → backend paired, frontend → shop (database).
    let edge = "traces_service_graph_request_total{client=\"frontend\", server=\"backend\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    while value(&server, edge) != Some(3.0) {
        assert!(
            Instant::now() < deadline,
            "no frontend → backend edge: {}",
            query(&server, "traces_service_graph_request_total")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let database = query(
        &server,
        "traces_service_graph_request_total{client=\"frontend\", server=\"shop\"}",
    );
    assert_eq!(database["data"]["result"][0]["value"][1], "3", "{database}");
    assert_eq!(
        database["data"]["result"][0]["metric"]["connection_type"], "database",
        "{database}"
    );
    assert_eq!(
        value(
            &server,
            "sum(traces_service_graph_request_server_seconds_count{client=\"frontend\", server=\"backend\"})"
        ),
        Some(3.0)
    );

    // Exemplars carry trace ids of the spans sent.
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/prometheus/api/v1/query_exemplars", server.http))
        .query(&[
            (
                "query",
                "traces_spanmetrics_latency_bucket{service=\"frontend\"}",
            ),
            ("start", &(now / 1_000_000_000 - 60).to_string()),
            ("end", &(now / 1_000_000_000 + 3600).to_string()),
        ])
        .send()
        .unwrap();
    let body: Value = response.json().unwrap();
    let trace_ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|series| series["exemplars"].as_array().unwrap().clone())
        .map(|exemplar| exemplar["labels"]["trace_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!trace_ids.is_empty(), "{body}");
    let sent: Vec<String> = (1..=3u8).map(|t| format!("{t:02x}").repeat(16)).collect();
    assert!(
        trace_ids.iter().all(|id| sent.contains(id)),
        "{trace_ids:?}"
    );

    // Typed for Grafana's query builder.
    let metadata: Value = reqwest::blocking::Client::new()
        .get(format!("{}/prometheus/api/v1/metadata", server.http))
        .query(&[("metric", "traces_spanmetrics_latency")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        metadata["data"]["traces_spanmetrics_latency"][0]["type"],
        "histogram"
    );
}
