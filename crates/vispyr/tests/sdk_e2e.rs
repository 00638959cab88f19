//! End-to-end: the real OpenTelemetry SDKs (Node.js and Python) send traces, metrics
//! and logs to the real binary; SQL must return exactly what they sent.

mod support;

use serde_json::{Value, json};
use support::{ClientSummary, Server, run_node, run_python};

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

fn parsed(value: &Value) -> Value {
    serde_json::from_str(text(value)).unwrap()
}

fn assert_traces(server: &Server, sent: &ClientSummary) {
    let trace = &sent.trace_id;
    let root = &sent.spans["GET /users/:id"];
    let db = &sent.spans["SELECT users"];
    let render = &sent.spans["render"];

    let rows = server.rows(&format!(
        "select span_name, span_kind, status_code, status_message, span_id, parent_span_id, \
         service_name, scope_name, duration_ns >= 0, end_timestamp >= timestamp \
         from spans where trace_id = '{trace}' order by span_name"
    ));
    let service = sent.service_name.as_str();
    assert_eq!(
        rows,
        vec![
            vec![
                json!("GET /users/:id"),
                json!("server"),
                json!("unset"),
                Value::Null,
                json!(root),
                Value::Null,
                json!(service),
                json!("e2e-tracer"),
                json!(true),
                json!(true)
            ],
            vec![
                json!("SELECT users"),
                json!("client"),
                json!("error"),
                json!("connection reset"),
                json!(db),
                json!(root),
                json!(service),
                json!("e2e-tracer"),
                json!(true),
                json!(true)
            ],
            vec![
                json!("render"),
                json!("internal"),
                json!("unset"),
                Value::Null,
                json!(render),
                json!(root),
                json!(service),
                json!("e2e-tracer"),
                json!(true),
                json!(true)
            ],
        ]
    );

    let rows = server.rows(&format!(
        "select span_attributes['http.request.method'], span_attributes['http.route'], \
         span_attributes['http.response.status_code'], span_attributes['sampling.ratio'], \
         span_attributes['cache.hit'], span_attributes['user.roles'], span_attribute_types, \
         resource_attributes['service.version'], resource_attributes['deployment.environment.name'], \
         resource_attributes['host.cpu.count'], resource_attribute_types, events \
         from spans where span_id = '{root}'"
    ));
    let row = &rows[0];
    assert_eq!(
        &row[..6],
        &[
            json!("GET"),
            json!("/users/:id"),
            json!("200"),
            json!("0.25"),
            json!("true"),
            json!(r#"["admin","dev"]"#)
        ]
    );
    assert_eq!(
        parsed(&row[6]),
        json!({"cache.hit": "bool", "http.response.status_code": "int", "sampling.ratio": "double", "user.roles": "array"})
    );
    assert_eq!(&row[7..10], &[json!("1.2.3"), json!("test"), json!("2")]);
    assert_eq!(parsed(&row[10])["host.cpu.count"], json!("int"));
    let events = row[11].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["name"], json!("cache.lookup"));
    assert_eq!(
        events[0]["attributes"],
        json!({"cache.key": "user:42", "attempt": "1"})
    );
    assert_eq!(
        parsed(&events[0]["attribute_types"]),
        json!({"attempt": "int"})
    );

    let links = server.scalar(&format!(
        "select links from spans where span_id = '{render}'"
    ));
    assert_eq!(
        links,
        json!([{"trace_id": trace, "span_id": db, "trace_state": null,
                "attributes": {"link.kind": "follows"}, "attribute_types": null}])
    );
}

fn assert_logs(server: &Server, sent: &ClientSummary) {
    let rows = server.rows(&format!(
        "select severity_number, severity_text, body, trace_id, span_id, scope_name, \
         log_attributes['user.id'], log_attributes['db.duration_ms'], log_attribute_types \
         from logs where service_name = '{}' order by severity_number",
        sent.service_name
    ));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let root = &sent.spans["GET /users/:id"];
    let db = &sent.spans["SELECT users"];
    assert_eq!(
        &rows[0][..7],
        &[
            json!(9),
            json!("INFO"),
            json!("user loaded"),
            json!(sent.trace_id),
            json!(root),
            json!("e2e-logger"),
            json!("42")
        ]
    );
    assert_eq!(parsed(&rows[0][8])["user.id"], json!("int"));
    assert_eq!(
        &rows[1][..6],
        &[
            json!(13),
            json!("WARN"),
            json!("slow query"),
            json!(sent.trace_id),
            json!(db),
            json!("e2e-logger")
        ]
    );
    assert_eq!(rows[1][7], json!("12.5"));
    assert_eq!(parsed(&rows[1][8])["db.duration_ms"], json!("double"));
    assert_eq!(
        &rows[2][..5],
        &[
            json!(17),
            json!("ERROR"),
            json!("no trace context"),
            Value::Null,
            Value::Null
        ]
    );
}

fn assert_metrics(server: &Server, sent: &ClientSummary) {
    let service = &sent.service_name;
    let rows = server.rows(&format!(
        "select metric_name, labels['http_route'], labels['le'], value, metric_type, labels['job'] \
         from metric_points where service_name = '{service}' and metric_name <> 'target_info' \
         order by metric_name, labels['http_route'], value"
    ));
    let expected = vec![
        json!([
            "http_server_request_duration_seconds_bucket",
            "/users/:id",
            "0.1",
            1.0,
            "histogram",
            service
        ]),
        json!([
            "http_server_request_duration_seconds_bucket",
            "/users/:id",
            "0.5",
            2.0,
            "histogram",
            service
        ]),
        json!([
            "http_server_request_duration_seconds_bucket",
            "/users/:id",
            "1",
            3.0,
            "histogram",
            service
        ]),
        json!([
            "http_server_request_duration_seconds_bucket",
            "/users/:id",
            "+Inf",
            4.0,
            "histogram",
            service
        ]),
        json!([
            "http_server_request_duration_seconds_count",
            "/users/:id",
            null,
            4.0,
            "histogram",
            service
        ]),
        json!([
            "http_server_request_duration_seconds_sum",
            "/users/:id",
            null,
            2.95,
            "histogram",
            service
        ]),
        json!([
            "http_server_requests_total",
            "/health",
            null,
            1.0,
            "counter",
            service
        ]),
        json!([
            "http_server_requests_total",
            "/users/:id",
            null,
            5.0,
            "counter",
            service
        ]),
        json!([
            "process_memory_usage_bytes",
            null,
            null,
            1048576.0,
            "gauge",
            service
        ]),
        json!(["queue_size", null, null, 5.0, "gauge", service]),
    ];
    let rows: Vec<Value> = rows.into_iter().map(Value::from).collect();
    assert_eq!(rows, expected);

    let target = server.rows(&format!(
        "select labels['service_version'], labels['deployment_environment_name'], value \
         from metric_points where metric_name = 'target_info' and service_name = '{service}'"
    ));
    assert_eq!(
        target,
        vec![vec![json!("1.2.3"), json!("test"), json!(1.0)]]
    );
}

fn assert_everything(server: &Server, sent: &ClientSummary) {
    assert_traces(server, sent);
    assert_logs(server, sent);
    assert_metrics(server, sent);
}

#[test]
fn node_sdk_over_http_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_node(&server.otlp_http, "http/json", "node-json");
    assert_everything(&server, &sent);
}

#[test]
fn node_sdk_over_http_protobuf_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_node(&server.otlp_http, "http/protobuf", "node-proto");
    assert_everything(&server, &sent);

    // A graceful stop flushes the memtable into segments; the same answers come back
    // from Parquet after the restart.
    server.stop();
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(server.data_dir.join("catalog.json")).unwrap(),
    )
    .unwrap();
    let signals: Vec<&str> = catalog["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| segment["signal"].as_str().unwrap())
        .collect();
    assert_eq!(signals.len(), 3, "{catalog}");
    for signal in ["traces", "metrics", "logs"] {
        assert!(signals.contains(&signal), "{catalog}");
    }
    server.restart();
    assert_everything(&server, &sent);
}

#[test]
fn python_sdk_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_python(&server.otlp_grpc, "grpc", "python-grpc");
    assert_everything(&server, &sent);
}

#[test]
fn python_sdk_over_http_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_python(&server.otlp_http, "http/protobuf", "python-http");
    assert_everything(&server, &sent);
    // The Python logging handler adds code location attributes with their types.
    let types = server.scalar("select log_attribute_types from logs where severity_number = 9");
    assert_eq!(parsed(&types)["code.line.number"], json!("int"));
}
