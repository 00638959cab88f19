//! The Loki-compatible API against the real binary: LogQL results over a fixed
//! data set pushed with the Loki push API, checked against golden files
//! (timestamps relative to the data set's base), the label and series APIs, the
//! WebSocket tail, and bad queries.
//!
//! The data set (base `B`, a whole minute):
//! - `{job="api", env="prod"}`: 30 JSON lines at `B + 10s·i`, i = 0..29; every
//!   fifth (i = 0, 5, …, 25) is `level=error`, `status=500`, the rest `info`/200;
//!   `path` is `/b` when i is a multiple of 3, else `/a`; `latency_ms = 10·i`.
//! - `{job="worker"}`: 10 logfmt lines at `B + 30s·i`, i = 0..9:
//!   `level=warn msg="retry job" attempt=i`.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files; check them by hand.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::Server;

const SECOND: i64 = 1_000_000_000;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A whole minute an hour ago, so every window of the queries is in the past.
fn base() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    (now - 3_600 * SECOND) / (60 * SECOND) * (60 * SECOND)
}

fn push(server: &Server, streams: Value) {
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .json(&json!({ "streams": streams }))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 204, "{}", response.text().unwrap());
}

fn push_data_set(server: &Server, base: i64) {
    let api: Vec<Value> = (0..30i64)
        .map(|i| {
            let error = i % 5 == 0;
            let line = json!({
                "level": if error { "error" } else { "info" },
                "status": if error { 500 } else { 200 },
                "path": if i % 3 == 0 { "/b" } else { "/a" },
                "latency_ms": 10 * i,
            });
            json!([(base + 10 * SECOND * i).to_string(), line.to_string()])
        })
        .collect();
    let worker: Vec<Value> = (0..10i64)
        .map(|i| {
            json!([
                (base + 30 * SECOND * i).to_string(),
                format!("level=warn msg=\"retry job\" attempt={i}")
            ])
        })
        .collect();
    push(
        server,
        json!([
            {"stream": {"job": "api", "env": "prod"}, "values": api},
            {"stream": {"job": "worker"}, "values": worker},
        ]),
    );
}

fn get(server: &Server, path: &str, query: &[(&str, String)]) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", server.http))
        .query(query)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn get_json(server: &Server, path: &str, query: &[(&str, String)]) -> Value {
    let (status, body) = get(server, path, query);
    assert_eq!(status, 200, "{path} {query:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Replaces absolute times with offsets from `base`: nanosecond strings in
/// stream values become `+<seconds>s`, second numbers in matrix/vector points
/// become seconds since base.
fn relative(value: &mut Value, base: i64) {
    let result = &mut value["data"]["result"];
    let Some(items) = result.as_array_mut() else {
        return;
    };
    for item in items {
        if let Some(values) = item.get_mut("values").and_then(Value::as_array_mut) {
            for point in values {
                match &point[0] {
                    Value::String(ns) => {
                        let ns: i64 = ns.parse().unwrap();
                        point[0] = json!(format!("+{}s", (ns - base) as f64 / 1e9));
                    }
                    Value::Number(seconds) => {
                        point[0] = json!(seconds.as_f64().unwrap() - (base / SECOND) as f64);
                    }
                    _ => {}
                }
            }
        }
        if let Some(point) = item.get_mut("value").and_then(Value::as_array_mut)
            && let Some(seconds) = point[0].as_f64()
        {
            point[0] = json!(seconds - (base / SECOND) as f64);
        }
    }
    value["data"].as_object_mut().unwrap().remove("stats");
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/loki_golden")
}

fn check_golden(name: &str, query: &str, actual: &Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let document = json!({ "query": query, "response": actual });
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&document).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(
        expected["query"], query,
        "{name}: golden file is for another query"
    );
    assert_eq!(
        expected["response"],
        *actual,
        "{name}: result differs from {}",
        path.display()
    );
}

/// (golden name, query, kind): `range` runs query_range over [B, B+5m] step 1m
/// with limit 5; `instant` runs query at B+5m.
const QUERIES: &[(&str, &str, &str)] = &[
    ("errors_backward", r#"{job="api"} |= "error""#, "range"),
    (
        "json_filter_line_format",
        r#"{job="api"} | json | status >= 500 | line_format "{{.path}} {{.status}} {{.latency_ms}}ms""#,
        "range",
    ),
    (
        "logfmt_number_filter",
        r#"{job="worker"} | logfmt | attempt > 6"#,
        "range",
    ),
    (
        "regex_negative_json_label",
        r#"{job="api"} !~ "info" | json | path = "/b""#,
        "range",
    ),
    (
        "count_by_level",
        r#"sum by (level) (count_over_time({job="api"} | json [1m]))"#,
        "range",
    ),
    ("rate_per_stream", r#"rate({job=~".+"}[1m])"#, "range"),
    (
        "bytes_over_time",
        r#"bytes_over_time({job="worker"}[5m])"#,
        "range",
    ),
    (
        "topk_jobs",
        r#"topk(1, sum by (job) (count_over_time({job=~".+"}[1m])))"#,
        "range",
    ),
    (
        "instant_sum",
        r#"sum(count_over_time({job="api"}[5m]))"#,
        "instant",
    ),
    (
        "avg_unwrap_latency",
        r#"avg_over_time({job="api"} | json | unwrap latency_ms [1m])"#,
        "range",
    ),
];

#[test]
fn logql_results_match_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let base = base();
    push_data_set(&server, base);
    let at = |offset: i64| (base + offset * SECOND).to_string();
    for (name, query, kind) in QUERIES {
        let mut response = match *kind {
            "range" => get_json(
                &server,
                "/loki/api/v1/query_range",
                &[
                    ("query", query.to_string()),
                    ("start", at(0)),
                    ("end", at(300)),
                    ("step", "60s".into()),
                    ("limit", "5".into()),
                ],
            ),
            _ => get_json(
                &server,
                "/loki/api/v1/query",
                &[("query", query.to_string()), ("time", at(300))],
            ),
        };
        assert_eq!(response["status"], "success", "{name}");
        relative(&mut response, base);
        check_golden(name, query, &response);
    }

    // A few numbers straight from the data set, independent of the goldens.
    let instant = get_json(
        &server,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum(count_over_time({job="api"} |= "error" [10m]))"#.into(),
            ),
            ("time", at(300)),
        ],
    );
    assert_eq!(instant["data"]["result"][0]["value"][1], "6", "{instant}");
    let errors = get_json(
        &server,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{job="api"} | json | level="error""#.into()),
            ("start", at(0)),
            ("end", at(300)),
            ("limit", "100".into()),
            ("direction", "forward".into()),
        ],
    );
    // Parsed labels differ per line (latency_ms), so each line is its own stream.
    let times: Vec<i64> = errors["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|stream| stream["values"].as_array().unwrap().clone())
        .map(|value| value[0].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(times.len(), 6);
    assert_eq!(times.iter().min(), Some(&base));
}

#[test]
fn labels_series_tail_and_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let base = base();
    push_data_set(&server, base);
    let range = [
        ("start", (base - 60 * SECOND).to_string()),
        ("end", (base + 600 * SECOND).to_string()),
    ];
    let labels = get_json(&server, "/loki/api/v1/labels", &range);
    assert_eq!(labels["data"], json!(["env", "job", "service_name"]));
    let values = get_json(&server, "/loki/api/v1/label/job/values", &range);
    assert_eq!(values["data"], json!(["api", "worker"]));
    let mut query = range.to_vec();
    query.push(("query", r#"{env="prod"}"#.into()));
    let values = get_json(&server, "/loki/api/v1/label/job/values", &query);
    assert_eq!(values["data"], json!(["api"]));
    let mut query = range.to_vec();
    query.push(("match[]", r#"{job=~"w.*"}"#.into()));
    let series = get_json(&server, "/loki/api/v1/series", &query);
    assert_eq!(
        series["data"],
        json!([{"job": "worker", "service_name": "worker"}])
    );

    // Bad queries: 400 with the parser's message and position.
    for (query, needle) in [
        (r#"{job="api" |= "x""#, "parse error at line 1"),
        (r#"{job="api"} |~ "(""#, "error parsing regexp"),
        (r#"count_over_time({job="api"})"#, "parse error"),
        (r#"{job=""}"#, "at least one"),
    ] {
        let (status, body) = get(
            &server,
            "/loki/api/v1/query_range",
            &[("query", query.into())],
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(needle), "{query}: {body}");
    }
    let (status, body) = get(&server, "/loki/api/v1/query_range", &[]);
    assert_eq!(status, 400, "{body}");

    // Tail over WebSocket: a new matching line arrives within a second.
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={}",
        server.http.trim_start_matches("http://"),
        urlencode(r#"{job="tailme"} |= "boom""#)
    );
    let (mut socket, _) = tungstenite::connect(url).expect("websocket tail");
    std::thread::sleep(Duration::from_millis(300));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let sent = Instant::now();
    push(
        &server,
        json!([{"stream": {"job": "tailme"}, "values": [
            [now.to_string(), "all quiet"],
            [(now + 1).to_string(), "boom: disk on fire"],
        ]}]),
    );
    let message = loop {
        match socket.read().expect("tail message") {
            tungstenite::Message::Text(text) => break text.to_string(),
            _ => continue,
        }
    };
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "tail took {:?}",
        sent.elapsed()
    );
    let message: Value = serde_json::from_str(&message).unwrap();
    let streams = message["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{message}");
    assert_eq!(streams[0]["stream"]["job"], "tailme");
    assert_eq!(streams[0]["values"][0][1], "boom: disk on fire");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
