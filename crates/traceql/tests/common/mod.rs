//! A hand-built trace shared by the evaluation tests:
//!
//! ```text
//! a  frontend GET /checkout   server  ok     0ms  +500ms  (root)
//! └─ b  frontend HTTP POST    client  unset  10ms +400ms
//!    └─ c  backend POST /cart  server  error  20ms +380ms  "cart failed"
//!       ├─ d  backend cache get internal unset 25ms +5ms
//!       ├─ e  db SELECT cart    client  error  40ms +300ms "timeout"
//!       └─ f  db INSERT audit   client  ok     350ms +20ms
//! ```
//!
//! The spans are stored shuffled (`e a c f b d`) to check that evaluation
//! does not depend on their order; [`idx`] maps letters to indices.

#![allow(dead_code)]

use vispyr_traceql::{Kind, SpanData, Status, Trace, Value, parse};

pub const MS: i64 = 1_000_000;

const ORDER: [char; 6] = ['e', 'a', 'c', 'f', 'b', 'd'];

/// Index in `checkout_trace().spans` of the span named by `letter`.
pub fn idx(letter: char) -> usize {
    ORDER
        .iter()
        .position(|&c| c == letter)
        .expect("span letter")
}

/// Sorted indices of the spans named by `letters` (e.g. `"ace"`).
pub fn spans(letters: &str) -> Vec<usize> {
    let mut indices: Vec<usize> = letters.chars().map(idx).collect();
    indices.sort_unstable();
    indices
}

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

fn attrs(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn span(
    id: &str,
    parent: &str,
    service: &str,
    name: &str,
    kind: Kind,
    status: Status,
    status_message: &str,
    start_ms: i64,
    duration_ms: i64,
    span_attributes: &[(&str, Value)],
) -> SpanData {
    let resource_attributes = match service {
        // frontend carries service.name only in `service_name`.
        "frontend" => attrs(&[("deployment.environment", s("production"))]),
        "backend" => attrs(&[
            ("service.name", s("backend")),
            ("deployment.environment", s("production")),
        ]),
        _ => attrs(&[("service.name", s(service)), ("host.cores", Value::Int(8))]),
    };
    SpanData {
        span_id: id.to_string(),
        parent_span_id: parent.to_string(),
        name: name.to_string(),
        service_name: service.to_string(),
        kind,
        status,
        status_message: status_message.to_string(),
        start_ns: start_ms * MS,
        duration_ns: duration_ms * MS,
        span_attributes: attrs(span_attributes),
        resource_attributes,
    }
}

pub fn checkout_trace() -> Trace {
    let a = span(
        "a1",
        "",
        "frontend",
        "GET /checkout",
        Kind::Server,
        Status::Ok,
        "",
        0,
        500,
        &[
            ("http.method", s("GET")),
            ("http.status_code", Value::Int(200)),
            ("cache.hit", Value::Bool(true)),
        ],
    );
    let b = span(
        "b2",
        "a1",
        "frontend",
        "HTTP POST",
        Kind::Client,
        Status::Unset,
        "",
        10,
        400,
        &[
            ("http.method", s("POST")),
            ("http.status_code", Value::Int(500)),
        ],
    );
    let c = span(
        "c3",
        "b2",
        "backend",
        "POST /cart",
        Kind::Server,
        Status::Error,
        "cart failed",
        20,
        380,
        &[
            ("http.status_code", Value::Int(500)),
            ("ratio", Value::Float(0.75)),
        ],
    );
    let d = span(
        "d4",
        "c3",
        "backend",
        "cache get",
        Kind::Internal,
        Status::Unset,
        "",
        25,
        5,
        &[("cache.hit", Value::Bool(false))],
    );
    let e = span(
        "e5",
        "c3",
        "db",
        "SELECT cart",
        Kind::Client,
        Status::Error,
        "timeout",
        40,
        300,
        &[
            ("db.system", s("postgresql")),
            ("db.rows", Value::Int(0)),
            ("db.timeout", Value::Duration(250 * MS)),
        ],
    );
    let f = span(
        "f6",
        "c3",
        "db",
        "INSERT audit",
        Kind::Client,
        Status::Ok,
        "",
        350,
        20,
        &[("db.system", s("postgresql")), ("db.rows", Value::Int(3))],
    );
    Trace {
        trace_id: "0af7651916cd43dd8448eb211c80319c".to_string(),
        spans: vec![e, a, c, f, b, d],
    }
}

/// Spans of `checkout_trace()` the query selects, merged over spansets.
#[track_caller]
pub fn selected(query: &str) -> Vec<usize> {
    let parsed = parse(query).unwrap_or_else(|err| panic!("{query:?}: {err}"));
    let mut all: Vec<usize> = parsed
        .evaluate(&checkout_trace())
        .into_iter()
        .flat_map(|set| set.spans)
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Asserts that `query` selects exactly the spans named by `letters`.
#[track_caller]
pub fn assert_selects(query: &str, letters: &str) {
    assert_eq!(
        selected(query),
        spans(letters),
        "spans selected by {query:?}"
    );
}
