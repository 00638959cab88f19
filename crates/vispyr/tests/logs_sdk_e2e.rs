//! End-to-end: application loggers under the real OpenTelemetry SDKs send logs next
//! to their spans, and Vispyr must join the two.
//!
//! ```text
//!   node  pino ──(@opentelemetry/instrumentation-pino)──┐
//!   python logging ──(opentelemetry-sdk LoggingHandler)─┤  OTLP/HTTP protobuf
//!                                                       ▼  /v1/traces + /v1/logs
//!                                                    vispyr ── /api/v1/logs/search
//!                                                           └─ /api/v1/traces/{id}
//! ```
//!
//! Each client (`tests/e2e/node/logs.mjs`, `tests/e2e/python/logs.py`) writes one
//! line in a root span, one in its child span and one outside any span, and prints
//! which line it wrote where. Every record must come back with the ids of the span
//! it was written in (none for the third), the trace view must count one log per
//! span, and a search by trace id must return exactly the two in-span lines.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, node_command, python_command, repo_root, require, run_client};

/// One line a client logged, as it reports it.
#[derive(Debug, serde::Deserialize)]
struct SentLog {
    body: String,
    /// `"root"` or `"child"`: the span that was active; `None` outside any span.
    span: Option<String>,
    /// The level by its OpenTelemetry short name (`info`, `warn`, `error`).
    level: String,
}

/// What a logs client printed: the ids it generated and the lines it wrote, in order.
#[derive(Debug, serde::Deserialize)]
struct LogsSummary {
    trace_id: String,
    /// `"root"` and `"child"` → span id.
    spans: HashMap<String, String>,
    service_name: String,
    logs: Vec<SentLog>,
}

impl LogsSummary {
    fn span_id(&self, span: &str) -> &str {
        self.spans
            .get(span)
            .unwrap_or_else(|| panic!("the summary has no {span:?} span: {self:?}"))
    }
}

/// What one SDK makes of the same three log calls.
struct Expected {
    /// The instrumentation scope the records arrive under.
    scope_name: &'static str,
    /// `(level, severity_number, severity_text)` for every level the client uses.
    severities: [(&'static str, u64, &'static str); 3],
    /// `telemetry.sdk.language` on the resource.
    sdk_language: &'static str,
}

/// Runs a logs client script against `endpoint` as `service`.
fn run_logs_client(mut command: Command, endpoint: &str, service: &str) -> LogsSummary {
    command
        .env("OTLP_ENDPOINT", endpoint)
        .env("SERVICE_NAME", service);
    run_client(command)
}

/// Runs `tests/e2e/node/logs.mjs` (pino + the OpenTelemetry JS SDK).
fn run_node_logs(endpoint: &str, service: &str) -> LogsSummary {
    let dir = repo_root().join("tests/e2e/node");
    require(&dir.join("node_modules/pino"));
    require(&dir.join("node_modules/@opentelemetry/instrumentation-pino"));
    run_logs_client(node_command("logs.mjs"), endpoint, service)
}

/// Runs `tests/e2e/python/logs.py` (stdlib logging + the OpenTelemetry Python SDK).
fn run_python_logs(endpoint: &str, service: &str) -> LogsSummary {
    run_logs_client(python_command("logs.py"), endpoint, service)
}

fn get(server: &Server, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}{path}", server.http))
        .query(query)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Searches logs until at least `want` records match (or 10 s pass) and returns
/// what the last search found; the caller asserts the exact count.
fn search_for(server: &Server, query: &[(&str, &str)], want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(server, "/api/v1/logs/search", query);
        assert_eq!(status, 200, "{query:?}: {body}");
        let logs = body["logs"]
            .as_array()
            .unwrap_or_else(|| panic!("{query:?}: no logs array in {body}"))
            .clone();
        if logs.len() >= want || Instant::now() >= deadline {
            return logs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The trace view, once it answers 200 (or after 10 s, failing).
fn trace_view(server: &Server, trace_id: &str) -> Value {
    let path = format!("/api/v1/traces/{trace_id}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(server, &path, &[]);
        if status == 200 {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// Checks what every SDK must get right and returns the stored records by body.
fn assert_correlated(
    server: &Server,
    sent: &LogsSummary,
    expected: &Expected,
) -> HashMap<String, Value> {
    // The shape this test relies on: info in the root span, warn in the child,
    // error outside any span (so a client cannot pass by reporting less).
    let shape: Vec<(Option<&str>, &str)> = sent
        .logs
        .iter()
        .map(|line| (line.span.as_deref(), line.level.as_str()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (Some("root"), "info"),
            (Some("child"), "warn"),
            (None, "error")
        ],
        "{sent:?}"
    );
    let in_span: Vec<&SentLog> = sent.logs.iter().filter(|l| l.span.is_some()).collect();
    let root = sent.span_id("root");
    let child = sent.span_id("child");
    assert_ne!(root, child);

    let service = sent.service_name.as_str();
    let records = search_for(
        server,
        &[("service", service), ("limit", "100")],
        sent.logs.len(),
    );
    assert_eq!(records.len(), sent.logs.len(), "{records:#?}");

    // Pino timestamps have millisecond precision, so two lines can tie: match
    // records by body, not by position.
    let mut by_body: HashMap<String, Value> = HashMap::new();
    for record in records {
        let body = text(&record["body"]).to_string();
        let previous = by_body.insert(body.clone(), record);
        assert!(previous.is_none(), "two records with body {body:?}");
    }
    for line in &sent.logs {
        let record = by_body
            .get(&line.body)
            .unwrap_or_else(|| panic!("no record {:?} in {by_body:#?}", line.body));
        let (trace_id, span_id) = match line.span.as_deref() {
            Some(span) => (sent.trace_id.as_str(), sent.span_id(span)),
            None => ("", ""),
        };
        assert_eq!(record["trace_id"], trace_id, "{record:#}");
        assert_eq!(record["span_id"], span_id, "{record:#}");
        assert_eq!(record["level"], line.level.as_str(), "{record:#}");
        let (_, number, severity_text) = expected
            .severities
            .iter()
            .find(|(level, _, _)| *level == line.level)
            .unwrap_or_else(|| panic!("no expected severity for level {:?}", line.level));
        assert_eq!(record["severity_number"], *number, "{record:#}");
        assert_eq!(record["severity_text"], *severity_text, "{record:#}");
        assert_eq!(record["service_name"], service, "{record:#}");
        assert_eq!(record["scope_name"], expected.scope_name, "{record:#}");
        assert_eq!(record["resource"]["service.name"], service, "{record:#}");
        assert_eq!(record["resource"]["service.version"], "1.2.3", "{record:#}");
        assert_eq!(
            record["resource"]["telemetry.sdk.language"], expected.sdk_language,
            "{record:#}"
        );
        let timestamp = record["timestamp_ns"].as_u64().unwrap_or(0);
        assert!(timestamp > 0, "{record:#}");
    }

    // The trace view lists both spans, each with the one line written in it.
    let trace = trace_view(server, &sent.trace_id);
    assert_eq!(trace["trace_id"], sent.trace_id.as_str());
    let spans = trace["spans"].as_array().expect("spans array");
    assert_eq!(spans.len(), 2, "{trace:#}");
    let root_span = span_by_id(&trace, root);
    assert_eq!(root_span["name"], "checkout");
    assert_eq!(root_span["parent_span_id"], "");
    assert_eq!(root_span["service_name"], service);
    assert_eq!(root_span["log_count"], 1, "{root_span:#}");
    let child_span = span_by_id(&trace, child);
    assert_eq!(child_span["name"], "charge card");
    assert_eq!(child_span["parent_span_id"], root);
    assert_eq!(child_span["log_count"], 1, "{child_span:#}");

    // Searching by trace id finds exactly the two in-span lines, with their spans.
    let by_trace = search_for(
        server,
        &[("trace_id", sent.trace_id.as_str())],
        in_span.len(),
    );
    let found: BTreeSet<(&str, &str)> = by_trace
        .iter()
        .map(|record| (text(&record["body"]), text(&record["span_id"])))
        .collect();
    let wanted: BTreeSet<(&str, &str)> = in_span
        .iter()
        .map(|line| {
            let span = line.span.as_deref().expect("in a span");
            (line.body.as_str(), sent.span_id(span))
        })
        .collect();
    assert_eq!(by_trace.len(), 2, "{by_trace:#?}");
    assert_eq!(found, wanted);

    by_body
}

/// A span of the trace view by id.
fn span_by_id<'a>(trace: &'a Value, span_id: &str) -> &'a Value {
    trace["spans"]
        .as_array()
        .and_then(|spans| {
            spans
                .iter()
                .find(|candidate| candidate["span_id"] == span_id)
        })
        .unwrap_or_else(|| panic!("no span {span_id} in {trace:#}"))
}

/// The SQL view of the same records, by severity: body, severity number, trace
/// id, span id (NULL outside any span) and the attribute types (a JSON object
/// string, parsed here; NULL when every attribute is a string).
fn sql_rows(server: &Server, service: &str) -> Vec<Vec<Value>> {
    let rows = server.rows(&format!(
        "select body, severity_number, trace_id, span_id, log_attribute_types \
         from logs where service_name = '{service}' order by severity_number"
    ));
    let mut parsed_rows = Vec::new();
    for mut row in rows {
        assert_eq!(row.len(), 5, "{row:?}");
        let types = match row.pop().expect("five columns") {
            Value::Null => Value::Null,
            types => serde_json::from_str(text(&types))
                .unwrap_or_else(|e| panic!("bad log_attribute_types {types}: {e}")),
        };
        row.push(types);
        parsed_rows.push(row);
    }
    parsed_rows
}

#[test]
fn node_pino_logs_carry_the_trace_context_of_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_node_logs(&server.otlp_http, "node-pino");
    let expected = Expected {
        scope_name: "@opentelemetry/instrumentation-pino",
        // Pino's level labels become the severity text, lower case.
        severities: [
            ("info", 9, "info"),
            ("warn", 13, "warn"),
            ("error", 17, "error"),
        ],
        sdk_language: "nodejs",
    };
    let records = assert_correlated(&server, &sent, &expected);

    // The instrumentation strips pino's `pid`, `hostname` and the `trace_id`,
    // `span_id`, `trace_flags` fields it injected; what is left of the logged
    // object becomes typed attributes, and the body is just the message.
    assert_eq!(records["checkout started"]["attributes"], json!({}));
    assert_eq!(
        records["payment slow"]["attributes"],
        json!({"orderId": 42})
    );
    assert_eq!(records["payment slow"]["body"], "payment slow");
    assert_eq!(records["inventory sync failed"]["attributes"], json!({}));

    let root = sent.span_id("root");
    let child = sent.span_id("child");
    assert_eq!(
        sql_rows(&server, &sent.service_name),
        vec![
            vec![
                json!("checkout started"),
                json!(9),
                json!(sent.trace_id),
                json!(root),
                Value::Null
            ],
            vec![
                json!("payment slow"),
                json!(13),
                json!(sent.trace_id),
                json!(child),
                json!({"orderId": "int"})
            ],
            vec![
                json!("inventory sync failed"),
                json!(17),
                Value::Null,
                Value::Null,
                Value::Null
            ],
        ]
    );
}

#[test]
fn python_logging_handler_logs_carry_the_trace_context_of_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let sent = run_python_logs(&server.otlp_http, "python-logging");
    let expected = Expected {
        // The stdlib logger's name.
        scope_name: "shop",
        // Python's WARNING is sent as WARN.
        severities: [
            ("info", 9, "INFO"),
            ("warn", 13, "WARN"),
            ("error", 17, "ERROR"),
        ],
        sdk_language: "python",
    };
    let records = assert_correlated(&server, &sent, &expected);

    // The handler adds the code location to every record; `extra={...}` keys
    // become attributes next to it.
    for (body, function, extra) in [
        ("checkout started", "checkout", None),
        ("payment slow", "charge_card", Some(("order.id", json!(42)))),
        ("inventory sync failed", "sync_inventory", None),
    ] {
        let attributes = records[body]["attributes"]
            .as_object()
            .unwrap_or_else(|| panic!("{body}: no attributes"));
        let mut keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want_keys = vec!["code.file.path", "code.function.name", "code.line.number"];
        if let Some((key, value)) = &extra {
            want_keys.push(*key);
            assert_eq!(attributes[*key], *value, "{body}");
        }
        want_keys.sort_unstable();
        assert_eq!(keys, want_keys, "{body}");
        assert_eq!(attributes["code.function.name"], function, "{body}");
        let path = text(&attributes["code.file.path"]);
        assert!(
            path.ends_with("/tests/e2e/python/logs.py"),
            "{body}: {path}"
        );
        let line = attributes["code.line.number"].as_u64().unwrap_or(0);
        assert!(line > 0, "{body}: {attributes:?}");
    }

    let root = sent.span_id("root");
    let child = sent.span_id("child");
    assert_eq!(
        sql_rows(&server, &sent.service_name),
        vec![
            vec![
                json!("checkout started"),
                json!(9),
                json!(sent.trace_id),
                json!(root),
                json!({"code.line.number": "int"})
            ],
            vec![
                json!("payment slow"),
                json!(13),
                json!(sent.trace_id),
                json!(child),
                json!({"order.id": "int", "code.line.number": "int"})
            ],
            vec![
                json!("inventory sync failed"),
                json!(17),
                Value::Null,
                Value::Null,
                json!({"code.line.number": "int"})
            ],
        ]
    );
}
