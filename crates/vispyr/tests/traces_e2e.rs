//! Traces sent over OTLP/HTTP to the real binary: span metrics and service graph
//! read back through PromQL and the exemplar API, and the trace API (services,
//! operations, trace by id, search with filters and TraceQL).

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

/// Three requests to frontend: two fast ones, one failing slow one. Each calls
/// backend (instrumented: its server span arrives in a separate request) and
/// PostgreSQL (uninstrumented: only the client span with db.* exists). Trace ids
/// are 0x01…, 0x02…, 0x03…; returns the start time (Unix ns).
fn send_shop_traces(server: &Server) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    use span::SpanKind::{Client, Server as ServerKind};

    for trace in 1..=3u8 {
        let slow = trace == 3;
        let route = vec![
            attribute("http.request.method", "GET"),
            attribute("http.route", "/items"),
        ];
        send(
            server,
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
            server,
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

    now
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
    let now = send_shop_traces(&server);

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

fn api(server: &Server, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.http))
        .query(params)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap())
}

fn trace_ids(body: &Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn trace_api_services_trace_by_id_and_search() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    send_shop_traces(&server);
    let range = [("from", "now-1h")];
    let id = |t: u8| format!("{t:02x}").repeat(16);

    let (status, body) = api(&server, "/api/v1/services", &range);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["services"], serde_json::json!(["backend", "frontend"]));
    let (_, body) = api(&server, "/api/v1/services/frontend/operations", &range);
    assert_eq!(
        body["operations"],
        serde_json::json!(["GET", "GET /items", "SELECT shop.items"])
    );

    // Trace by id: tree order with depth, typed attributes, resource.
    let (status, body) = api(&server, &format!("/api/v1/traces/{}", id(3)), &[]);
    assert_eq!(status, 200, "{body}");
    let spans = body["spans"].as_array().unwrap();
    let order: Vec<(&str, u64)> = spans
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(order.len(), 4);
    assert_eq!(order[0], ("GET /items", 0));
    assert!(order.contains(&("GET /stock", 2)), "{order:?}");
    assert!(order.contains(&("SELECT shop.items", 1)), "{order:?}");
    assert_eq!(spans[0]["status"], "error");
    assert_eq!(spans[0]["attributes"]["http.route"], "/items");
    assert_eq!(spans[0]["resource"]["service.name"], "frontend");
    let (status, _) = api(&server, &format!("/api/v1/traces/{}", "ab".repeat(16)), &[]);
    assert_eq!(status, 404);
    let (status, body) = api(&server, "/api/v1/traces/not-an-id", &[]);
    assert_eq!(status, 400, "{body}");

    // Structured search.
    let search = |extra: &[(&str, &str)]| {
        let params: Vec<(&str, &str)> = range.iter().chain(extra).copied().collect();
        api(&server, "/api/v1/traces", &params)
    };
    let (_, body) = search(&[("service", "frontend")]);
    let mut all = trace_ids(&body);
    all.sort();
    assert_eq!(all, [id(1), id(2), id(3)]);
    let (_, body) = search(&[("status", "error")]);
    assert_eq!(trace_ids(&body), [id(3)]);
    let summary = &body["traces"][0];
    assert_eq!(summary["root_service"], "frontend");
    assert_eq!(summary["root_name"], "GET /items");
    assert_eq!(summary["span_count"], 4);
    assert_eq!(summary["error_count"], 1);
    assert_eq!(summary["duration_ns"], 700_000_000);
    assert_eq!(
        summary["services"],
        serde_json::json!(["backend", "frontend"])
    );
    let (_, body) = search(&[("min_duration", "500ms")]);
    assert_eq!(trace_ids(&body), [id(3)]);
    let (_, body) = search(&[("attr", "db.name=shop"), ("limit", "2")]);
    assert_eq!(trace_ids(&body).len(), 2);

    // TraceQL.
    let (_, body) = search(&[("q", "{} | count() > 1")]);
    assert_eq!(trace_ids(&body).len(), 3);
    let (_, body) = search(&[(
        "q",
        r#"{ resource.service.name = "frontend" && status = error }"#,
    )]);
    assert_eq!(trace_ids(&body), [id(3)]);
    let (_, body) = search(&[(
        "q",
        r#"{ span.db.system = "postgresql" } && { duration > 500ms }"#,
    )]);
    assert_eq!(trace_ids(&body), [id(3)]);
    let (_, body) = search(&[(
        "q",
        r#"{ name = "GET /items" } >> { resource.service.name = "backend" }"#,
    )]);
    assert_eq!(trace_ids(&body).len(), 3);
    assert_eq!(body["traces"][0]["matched"], 1, "{body}");
    let (_, body) = search(&[("q", r#"{ span.http.route = "/nowhere" }"#)]);
    assert!(trace_ids(&body).is_empty());
    // Malformed TraceQL: 400 with the position and what was expected.
    let (status, body) = search(&[("q", "{ name = }")]);
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("line 1, col 10") && message.contains("expected"),
        "{message}"
    );
}

/// The Tempo API as Grafana's Tempo data source calls it.
#[test]
fn tempo_api_for_grafana() {
    use opentelemetry_proto::tonic::trace::v1::TracesData;

    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let now = send_shop_traces(&server);
    let id = |t: u8| format!("{t:02x}").repeat(16);
    let client = reqwest::blocking::Client::new();
    let echo = client
        .get(format!("{}/tempo/api/echo", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(echo, "echo");

    // Trace by id as JSON and as protobuf (what Grafana's backend asks for).
    let (status, body) = api(&server, &format!("/tempo/api/traces/{}", id(3)), &[]);
    assert_eq!(status, 200, "{body}");
    let batches = body["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "frontend and backend resources: {body}");
    let span_count: usize = batches
        .iter()
        .flat_map(|b| b["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum();
    assert_eq!(span_count, 4);
    let protobuf = client
        .get(format!("{}/tempo/api/traces/{}", server.http, id(3)))
        .header("accept", "application/protobuf")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let trace = TracesData::decode(protobuf).unwrap();
    let spans: Vec<_> = trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert_eq!(spans.len(), 4);
    assert!(spans.iter().all(|s| s.trace_id == vec![3u8; 16]));
    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(root.name, "GET /items");
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        700_000_000
    );
    assert_eq!(root.status.as_ref().unwrap().code, 2, "error status");
    let route = root
        .attributes
        .iter()
        .find(|kv| kv.key == "http.route")
        .unwrap();
    assert_eq!(
        route.value.as_ref().unwrap().value,
        Some(
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue("/items".into())
        )
    );
    let (status, body) = api(&server, &format!("/tempo/api/v2/traces/{}", id(1)), &[]);
    assert_eq!(status, 200);
    assert_eq!(body["trace"]["resourceSpans"].as_array().unwrap().len(), 2);
    let (status, _) = api(
        &server,
        &format!("/tempo/api/traces/{}", "cd".repeat(16)),
        &[],
    );
    assert_eq!(status, 404);

    // Search: TraceQL and tags, with Tempo's result shape.
    let start = (now / 1_000_000_000 - 60).to_string();
    let end = (now / 1_000_000_000 + 60).to_string();
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let search = |extra: &[(&str, &str)]| {
        let params: Vec<(&str, &str)> = range.iter().chain(extra).copied().collect();
        api(&server, "/tempo/api/search", &params)
    };
    let (status, body) = search(&[("q", "{ status = error }")]);
    assert_eq!(status, 200, "{body}");
    let traces = body["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{body}");
    assert_eq!(traces[0]["traceID"], id(3));
    assert_eq!(traces[0]["rootServiceName"], "frontend");
    assert_eq!(traces[0]["rootTraceName"], "GET /items");
    assert_eq!(traces[0]["durationMs"], 700);
    assert_eq!(traces[0]["spanSets"][0]["matched"], 1);
    assert_eq!(
        traces[0]["spanSets"][0]["spans"][0]["durationNanos"],
        "700000000"
    );
    let (_, body) = search(&[("q", "{} | count() > 1")]);
    assert_eq!(body["traces"].as_array().unwrap().len(), 3);
    let (_, body) = search(&[("tags", "service.name=backend"), ("minDuration", "15ms")]);
    assert_eq!(body["traces"].as_array().unwrap().len(), 3, "{body}");
    let (_, body) = search(&[("tags", "db.system=postgresql"), ("limit", "1")]);
    assert_eq!(body["traces"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = search(&[("q", "{ duration > }")]);
    assert_eq!(status, 400, "{body}");

    // Tag names and values for the query editor.
    let (_, body) = api(&server, "/tempo/api/search/tags", &range);
    let names = body["tagNames"].as_array().unwrap();
    for tag in ["http.route", "db.system", "service.name"] {
        assert!(names.contains(&Value::from(tag)), "{tag}: {body}");
    }
    let (_, body) = api(&server, "/tempo/api/v2/search/tags", &range);
    let scopes = body["scopes"].as_array().unwrap();
    let scope = |name: &str| {
        scopes
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {body}"))["tags"]
            .clone()
    };
    assert!(
        scope("resource")
            .as_array()
            .unwrap()
            .contains(&Value::from("service.name"))
    );
    assert!(
        scope("span")
            .as_array()
            .unwrap()
            .contains(&Value::from("http.route"))
    );
    assert!(
        scope("intrinsic")
            .as_array()
            .unwrap()
            .contains(&Value::from("duration"))
    );
    let (_, body) = api(
        &server,
        "/tempo/api/v2/search/tag/resource.service.name/values",
        &range,
    );
    assert_eq!(
        body["tagValues"],
        serde_json::json!([
            {"type": "string", "value": "backend"},
            {"type": "string", "value": "frontend"}
        ])
    );
    let (_, body) = api(
        &server,
        "/tempo/api/v2/search/tag/span.http.route/values",
        &range,
    );
    let values: Vec<&str> = body["tagValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["/items", "/stock"]);
    let (_, body) = api(&server, "/tempo/api/v2/search/tag/status/values", &range);
    assert_eq!(body["tagValues"][0]["type"], "keyword", "{body}");
}
