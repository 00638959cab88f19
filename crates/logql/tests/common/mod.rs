//! An in-memory [`Storage`] and the deterministic log corpus the
//! evaluation and golden tests run against.
//!
//! All times are `T0 + n seconds`, `T0 = 1_700_000_000 s`.
//!
//! ```text
//! stream {app="api", env="prod"}  JSON, k = 1..=12 at T0 + 30k s
//!   level  = error if k%4==0 (k=4,8,12), warn if k%4==2 (k=2,6,10), else info (6 lines)
//!   status = 500 / 404 / 200 for error / warn / info
//!   latency_ms = 10k; path = "/orders" if k%3==0 (k=3,6,9,12) else "/users" (8 lines)
//!   user = {"id": k}
//! stream {app="web", env="prod"}  logfmt, k = 1..=6 at T0 + 60k s
//!   level=error status=503 for k=3,6, else level=info status=200
//!   duration = (100k)ms, size = kKB
//! stream {app="web", env="dev"}   plain text at T0 + 45, 135, 225, 315 s:
//!   "GET /health 200" (15 B), "error: connection refused" (25 B, metadata trace_id="t1"),
//!   "GET /health 200" (15 B), "panic: nil pointer" (18 B, metadata trace_id="t2")
//! stream {app="api", env="dev"}   "{broken" at T0+100 s (bad JSON),
//!   {"level":"error","status":500,"latency_ms":5} at T0+200 s
//! ```
//!
//! Expected numbers for a few key queries (checked by hand, asserted in
//! `eval.rs` and pinned in `golden/`):
//!
//! - `count_over_time({app="api"}[5m])` at T0+360: window (T0+60, T0+360]
//!   holds prod k=3..=12 → 10 and dev T0+100, T0+200 → 2.
//! - `count_over_time({app="web", env="prod"}[1m])` from T0+60 to T0+180
//!   step 60: 1, 1, 1 — the window is left-open, so the line at T0+60 is
//!   not counted again at T0+120.
//! - `sum by (env) (count_over_time({app=~".+"} |= "error" [10m]))` at
//!   T0+360: prod = 3 (api) + 2 (web) = 5; dev = 1 (web) + 1 (api) = 2.
//! - `sum by (app) (sum_over_time({app="api", env="prod"} | json | unwrap latency_ms [5m]))`
//!   at T0+360: 10 × (3 + … + 12) = 750.
//! - `quantile_over_time(0.5, … | unwrap latency_ms [10m]) by (app)`: values
//!   10..=120, rank 5.5 → (60 + 70) / 2 = 65.
//! - `bytes_over_time({app="web", env="dev"}[10m])` at T0+360: 15+25+15+18 = 73.
//! - `rate({app="web", env="prod"}[1m])` at T0+120: 1 line / 60 s.

#![allow(dead_code)]

use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use vispyr_logql::{Direction, Error, Labels, LogEntry, SelectRequest, Storage};

pub const S: i64 = 1_000_000_000;
pub const T0: i64 = 1_700_000_000 * S;

/// What a select call asked and got.
#[derive(Debug, Clone)]
pub struct Call {
    pub limit: Option<usize>,
    pub line_filters: usize,
    pub start_ns: i64,
    pub end_ns: i64,
    pub returned: usize,
    pub needs_line: bool,
}

/// Entries in memory; applies a request exactly as the storage contract says
/// and records every call.
#[derive(Default)]
pub struct MemStorage {
    pub entries: Vec<LogEntry>,
    pub calls: Mutex<Vec<Call>>,
}

impl MemStorage {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Storage for MemStorage {
    fn select<'a>(
        &'a self,
        request: &'a SelectRequest,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, Error>> {
        async move {
            let mut out: Vec<LogEntry> = self
                .entries
                .iter()
                .filter(|e| {
                    e.timestamp_ns >= request.start_ns
                        && e.timestamp_ns < request.end_ns
                        && request.matchers.iter().all(|m| m.matches_labels(&e.stream))
                        && request.line_filters.iter().all(|f| f.matches(&e.line))
                })
                .cloned()
                .collect();
            out.sort_by_key(|e| e.timestamp_ns);
            if request.direction == Direction::Backward {
                out.reverse();
            }
            if let Some(limit) = request.limit {
                out.truncate(limit);
            }
            // Storage may skip lines nobody reads: do so, so that a request
            // wrongly saying so shows up as wrong results.
            if !request.needs_line {
                for entry in &mut out {
                    entry.line.clear();
                }
            }
            self.calls.lock().unwrap().push(Call {
                limit: request.limit,
                line_filters: request.line_filters.len(),
                start_ns: request.start_ns,
                end_ns: request.end_ns,
                returned: out.len(),
                needs_line: request.needs_line,
            });
            Ok(out)
        }
        .boxed()
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut out: Labels = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    out.sort();
    out
}

fn entry(t_s: i64, stream: &[(&str, &str)], line: String, metadata: &[(&str, &str)]) -> LogEntry {
    LogEntry {
        timestamp_ns: T0 + t_s * S,
        line,
        stream: labels(stream),
        metadata: labels(metadata),
    }
}

/// The corpus described in the module docs.
pub fn corpus() -> MemStorage {
    let mut entries = Vec::new();
    let api_prod = [("app", "api"), ("env", "prod")];
    for k in 1..=12i64 {
        let (level, status) = match k % 4 {
            0 => ("error", 500),
            2 => ("warn", 404),
            _ => ("info", 200),
        };
        let path = if k % 3 == 0 { "/orders" } else { "/users" };
        let line = format!(
            r#"{{"level":"{level}","status":{status},"latency_ms":{},"path":"{path}","user":{{"id":{k}}}}}"#,
            10 * k
        );
        entries.push(entry(30 * k, &api_prod, line, &[]));
    }
    let web_prod = [("app", "web"), ("env", "prod")];
    for k in 1..=6i64 {
        let (level, status) = if k % 3 == 0 {
            ("error", 503)
        } else {
            ("info", 200)
        };
        let line = format!(
            "level={level} method=GET path=/ status={status} duration={}ms size={k}KB",
            100 * k
        );
        entries.push(entry(60 * k, &web_prod, line, &[]));
    }
    let web_dev = [("app", "web"), ("env", "dev")];
    entries.push(entry(45, &web_dev, "GET /health 200".into(), &[]));
    entries.push(entry(
        135,
        &web_dev,
        "error: connection refused".into(),
        &[("trace_id", "t1")],
    ));
    entries.push(entry(225, &web_dev, "GET /health 200".into(), &[]));
    entries.push(entry(
        315,
        &web_dev,
        "panic: nil pointer".into(),
        &[("trace_id", "t2")],
    ));
    let api_dev = [("app", "api"), ("env", "dev")];
    entries.push(entry(100, &api_dev, "{broken".into(), &[]));
    entries.push(entry(
        200,
        &api_dev,
        r#"{"level":"error","status":500,"latency_ms":5}"#.into(),
        &[],
    ));
    MemStorage {
        entries,
        calls: Mutex::new(Vec::new()),
    }
}
