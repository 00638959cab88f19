//! Issue 5's system test: a small instrumented Node.js system sends its traces
//! to the real binary, and everything Vispyr derives from them is checked with
//! exact numbers — span metrics per route and status, latency buckets, service
//! graph edges with their virtual nodes, search, TraceQL — and the Tempo API's
//! JSON against golden files.
//!
//! ```text
//!   driver (tests/e2e/node/system.mjs, no SDK)
//!     │ 5× GET /checkout/1..5, then 3× GET /health, then 2× GET /fail, one at a time
//!     ▼
//!   frontend (Express) ──► inventory (Express) ──► PostgreSQL (pg Pool, "127.0.0.1")
//!     │ /checkout only
//!     ▼
//!   legacy (plain node:http, no SDK, "localhost", answers after 300 ms)
//! ```
//!
//! frontend and inventory run the OpenTelemetry Node SDK 0.223 with the http,
//! express and pg instrumentations. The spans one request makes:
//!
//! | request | frontend | inventory | spans |
//! |---|---|---|---|
//! | `/checkout/:id` | SERVER `GET /checkout/:id` > INTERNAL `request handler` > CLIENT `GET` (inventory), CLIENT `GET` (legacy) | SERVER `GET /stock/:id` > INTERNAL `request handler` > CLIENT `pg-pool.connect`, CLIENT `pg.query:SELECT shop` | 8 |
//! | `/health` | SERVER `GET /health` > INTERNAL `request handler` | — | 2 |
//! | `/fail` | SERVER `GET /fail` (500: ERROR) > `request handler` > CLIENT `GET` (inventory answered 404: ERROR on a client span) | as for checkout; its 404 leaves the SERVER span UNSET | 7 |
//!
//! so frontend exports 5·4 + 3·2 + 2·3 = 32 spans and inventory (5 + 2)·4 = 28.
//! The expected numbers below are written as sums over the script, with the
//! reason next to each.
//!
//! PostgreSQL is a throwaway cluster (initdb into the test's temp dir, trust
//! authentication, TCP on 127.0.0.1 and a free port). PostgreSQL refuses to run
//! as root, so under root it runs as `nobody` through `setpriv`.
//!
//! Needs `bash tests/e2e/install.sh` (npm packages, Debian's PostgreSQL).
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files; check them by hand.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::Server;

/// The fixed request script of system.mjs.
const CHECKOUTS: f64 = 5.0;
const HEALTH_CHECKS: f64 = 3.0;
const FAILS: f64 = 2.0;
/// Every /checkout and every /fail calls inventory once, which runs one query.
const INVENTORY_REQUESTS: f64 = CHECKOUTS + FAILS;
/// legacy's delay: a lower bound on every /checkout.
const LEGACY_DELAY_MS: u64 = 300;
const LEGACY_DELAY_SECONDS: f64 = LEGACY_DELAY_MS as f64 / 1000.0;

// --- The system -----------------------------------------------------------------

/// What system.mjs prints.
#[derive(Debug, serde::Deserialize)]
struct Summary {
    requests: Vec<Request>,
    spans: HashMap<String, u64>,
}

#[derive(Debug, serde::Deserialize)]
struct Request {
    path: String,
    status: u16,
    trace_id: String,
}

impl Summary {
    /// Trace ids of the requests to paths starting with `prefix`, newest
    /// first (the order searches answer in).
    fn traces(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .requests
            .iter()
            .filter(|request| request.path.starts_with(prefix))
            .map(|request| request.trace_id.clone())
            .collect();
        ids.reverse();
        ids
    }

    /// The trace of the first request to `path_prefix` in script order.
    fn first(&self, path_prefix: &str) -> String {
        self.requests
            .iter()
            .find(|request| request.path.starts_with(path_prefix))
            .map(|request| request.trace_id.clone())
            .unwrap_or_else(|| panic!("no request to {path_prefix}"))
    }

    /// Every trace, newest first.
    fn all_traces(&self) -> Vec<String> {
        self.traces("/")
    }

    /// A readable stand-in for each trace id in golden files:
    /// `<trace of request 3: /checkout/3>`.
    fn trace_names(&self) -> HashMap<String, String> {
        self.requests
            .iter()
            .enumerate()
            .map(|(i, request)| {
                let name = format!("<trace of request {}: {}>", i + 1, request.path);
                (request.trace_id.clone(), name)
            })
            .collect()
    }
}

// --- HTTP helpers -----------------------------------------------------------------

fn get(server: &Server, path: &str, params: &[(&str, &str)]) -> Value {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.http))
        .query(params)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert!(status.is_success(), "{path} {params:?}: {status} {body}");
    body
}

type Labels = BTreeMap<String, String>;

/// Every series of an instant query: its labels without `__name__` → value.
fn series(server: &Server, expr: &str) -> BTreeMap<Labels, f64> {
    let body = get(server, "/prometheus/api/v1/query", &[("query", expr)]);
    assert_eq!(body["status"], "success", "{expr}: {body}");
    let mut out = BTreeMap::new();
    for one in body["data"]["result"].as_array().unwrap() {
        let mut labels: Labels = serde_json::from_value(one["metric"].clone()).unwrap();
        labels.remove("__name__");
        let value: f64 = one["value"][1].as_str().unwrap().parse().unwrap();
        assert!(out.insert(labels, value).is_none(), "{expr}: {body}");
    }
    out
}

/// The value of a query that must answer exactly one series (0 when empty).
fn scalar(server: &Server, expr: &str) -> f64 {
    let all = series(server, expr);
    assert!(all.len() <= 1, "{expr}: {all:?}");
    all.into_values().next().unwrap_or(0.0)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn table(rows: &[(&[(&str, &str)], f64)]) -> BTreeMap<Labels, f64> {
    rows.iter()
        .map(|(pairs, value)| (labels(pairs), *value))
        .collect()
}

fn assert_series(server: &Server, expr: &str, expected: &BTreeMap<Labels, f64>) {
    let actual = series(server, expr);
    let show = |t: &BTreeMap<Labels, f64>| {
        t.iter()
            .map(|(l, v)| format!("  {v} {l:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        actual == *expected,
        "{expr}\nexpected:\n{}\nactual:\n{}",
        show(expected),
        show(&actual)
    );
}

/// Polls `expr` (one series) until it reaches `want`; fails on timeout.
fn wait_for(server: &Server, expr: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = scalar(server, expr);
        if value >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expr} is {value}, never reached {want}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn trace_ids(body: &Value, key: &str) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|trace| trace[key].as_str().unwrap().to_string())
        .collect()
}

/// `/api/v1/traces` over the last hour with `params`.
fn search(server: &Server, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("from", "now-1h")];
    all.extend_from_slice(params);
    get(server, "/api/v1/traces", &all)
}

/// Trace ids and `matched` counts of a TraceQL search.
fn traceql(server: &Server, query: &str) -> (Vec<String>, Vec<u64>) {
    let body = search(server, &[("q", query)]);
    let matched = body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| trace["matched"].as_u64().unwrap())
        .collect();
    (trace_ids(&body, "trace_id"), matched)
}

// --- Golden files -----------------------------------------------------------------

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/system_golden")
}

fn check_golden(name: &str, request: &str, actual: &Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let document = json!({ "request": request, "response": actual });
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        let text = serde_json::to_string_pretty(&document).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        expected["request"], request,
        "{name}: golden file is for another request"
    );
    assert!(
        expected["response"] == *actual,
        "{name}: response differs from {} (UPDATE_GOLDEN=1 rewrites it):\n{}",
        path.display(),
        serde_json::to_string_pretty(actual).unwrap()
    );
}

/// `url` with the port of its authority replaced: `http://localhost:<port>/x`.
fn without_port(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{scheme}://{host}:<port>{path}")
        }
        _ => url.to_string(),
    }
}

/// A Unix-nanosecond string (as OTLP JSON carries it), replaced by `<ns>`.
fn replace_nanos(value: &mut Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        text.parse::<u64>().is_ok_and(|ns| ns > 0),
        "not nanoseconds: {text}"
    );
    *value = json!("<ns>");
}

/// Replaces, in OTLP JSON attribute lists, what changes from run to run:
/// ports, URLs' ports, the SDK's version.
fn normalise_attributes(attributes: &mut Value) {
    for attribute in attributes.as_array_mut().unwrap() {
        let key = attribute["key"].as_str().unwrap().to_string();
        let value = &mut attribute["value"];
        if key.ends_with(".port") {
            assert!(value["intValue"].is_string(), "{key}: {value}");
            *value = json!({ "intValue": "<port>" });
        } else if key == "url.full" {
            let url = without_port(value["stringValue"].as_str().unwrap());
            *value = json!({ "stringValue": url });
        } else if key == "telemetry.sdk.version" {
            *value = json!({ "stringValue": "<version>" });
        }
    }
}

/// A Tempo `/api/traces/{id}` answer in a form stable across runs: batches by
/// service, scopes by name, spans by name and attributes (the server orders
/// by start time, which Node rounds to the millisecond, so ties are common);
/// span ids become `<span N>`, numbered depth first from the root (so the
/// tree can be read off the parent ids), times `<ns>`, ports `<port>`,
/// versions `<version>`.
fn canonical_tempo_trace(body: &Value, trace_id: &str) -> Value {
    let mut body = body.clone();
    let batches = body["batches"].as_array_mut().unwrap();
    for batch in batches.iter_mut() {
        normalise_attributes(&mut batch["resource"]["attributes"]);
        let scopes = batch["scopeSpans"].as_array_mut().unwrap();
        for scope in scopes.iter_mut() {
            scope["scope"]["version"] = json!("<version>");
            let spans = scope["spans"].as_array_mut().unwrap();
            for span in spans.iter_mut() {
                normalise_attributes(&mut span["attributes"]);
                replace_nanos(&mut span["startTimeUnixNano"]);
                replace_nanos(&mut span["endTimeUnixNano"]);
                assert_eq!(span["traceId"], trace_id, "{span}");
                span["traceId"] = json!("<trace>");
            }
            spans.sort_by_key(|span| {
                let mut key = span.clone();
                key["spanId"] = Value::Null;
                key["parentSpanId"] = Value::Null;
                key.to_string()
            });
        }
        scopes.sort_by_key(|scope| scope["scope"]["name"].to_string());
    }
    let service = |batch: &Value| {
        batch["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .map(|kv| kv["value"].to_string())
            .unwrap_or_default()
    };
    batches.sort_by_key(service);

    // Number the spans depth first from the root, siblings in the order
    // above: `<span 1>` is the root.
    let mut order: Vec<(String, String)> = Vec::new();
    for batch in batches.iter() {
        for scope in batch["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                let id = span["spanId"].as_str().unwrap().to_string();
                let parent = span["parentSpanId"].as_str().unwrap().to_string();
                order.push((id, parent));
            }
        }
    }
    let mut names: HashMap<String, String> = HashMap::new();
    let mut stack: Vec<&str> = order
        .iter()
        .rev()
        .filter(|(_, parent)| parent.is_empty())
        .map(|(id, _)| id.as_str())
        .collect();
    while let Some(id) = stack.pop() {
        let next = format!("<span {}>", names.len() + 1);
        assert!(names.insert(id.to_string(), next).is_none(), "{id} twice");
        let children = order.iter().rev().filter(|(_, parent)| parent == id);
        stack.extend(children.map(|(child, _)| child.as_str()));
    }
    assert_eq!(
        names.len(),
        order.len(),
        "spans outside the tree: {order:?}"
    );
    for batch in batches.iter_mut() {
        for scope in batch["scopeSpans"].as_array_mut().unwrap() {
            for span in scope["spans"].as_array_mut().unwrap() {
                let id = span["spanId"].as_str().unwrap().to_string();
                span["spanId"] = json!(names[&id]);
                let parent = span["parentSpanId"].as_str().unwrap().to_string();
                if !parent.is_empty() {
                    let name = names
                        .get(&parent)
                        .unwrap_or_else(|| panic!("parent {parent} is not in the trace: {span}"));
                    span["parentSpanId"] = json!(name);
                }
            }
        }
    }
    body
}

/// A Tempo `/api/search` answer in a form stable across runs: trace ids
/// become the request that made them (the order is part of the answer:
/// newest first), span ids `<span>`, times `<ns>`, durations `<ms>`; the
/// spans of a span set are sorted by name.
fn canonical_tempo_search(body: &Value, trace_names: &HashMap<String, String>) -> Value {
    let mut body = body.clone();
    for trace in body["traces"].as_array_mut().unwrap() {
        let id = trace["traceID"].as_str().unwrap();
        let name = trace_names
            .get(id)
            .unwrap_or_else(|| panic!("search found a trace the script did not make: {id}"));
        trace["traceID"] = json!(name);
        replace_nanos(&mut trace["startTimeUnixNano"]);
        assert!(trace["durationMs"].is_u64(), "{trace}");
        trace["durationMs"] = json!("<ms>");
        canonical_span_set(&mut trace["spanSet"]);
        for span_set in trace["spanSets"].as_array_mut().unwrap() {
            canonical_span_set(span_set);
        }
    }
    body
}

fn canonical_span_set(span_set: &mut Value) {
    let spans = span_set["spans"].as_array_mut().unwrap();
    for span in spans.iter_mut() {
        assert!(span["spanID"].as_str().is_some_and(|id| id.len() == 16));
        span["spanID"] = json!("<span>");
        replace_nanos(&mut span["startTimeUnixNano"]);
        replace_nanos(&mut span["durationNanos"]);
    }
    spans.sort_by_key(|span| span["name"].to_string());
}

// --- The test -------------------------------------------------------------------

#[test]
fn instrumented_node_system_issue_5() {
    let started = Instant::now();
    let temp = tempfile::tempdir().unwrap();
    let postgres = support::postgres::start_postgres(&temp.path().join("pg"));
    let server = Server::start_in(&temp.path().join("data"), support::FAST_CONNECTORS);

    let mut command = support::node_command("system.mjs");
    command
        .env("OTLP_ENDPOINT", &server.otlp_http)
        .env("PG_PORT", postgres.port.to_string())
        .env("PRICE_DELAY_MS", LEGACY_DELAY_MS.to_string());
    let summary: Summary = support::run_client(command);
    let script: Vec<(&str, u16)> = summary
        .requests
        .iter()
        .map(|r| (r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        script,
        [
            ("/checkout/1", 200),
            ("/checkout/2", 200),
            ("/checkout/3", 200),
            ("/checkout/4", 200),
            ("/checkout/5", 200),
            ("/health", 200),
            ("/health", 200),
            ("/health", 200),
            ("/fail", 500),
            ("/fail", 500),
        ]
    );
    // See the table in the module docs.
    let frontend_spans = 4.0 * CHECKOUTS + 2.0 * HEALTH_CHECKS + 3.0 * FAILS;
    let inventory_spans = 4.0 * INVENTORY_REQUESTS;
    assert_eq!(summary.spans["frontend"] as f64, frontend_spans);
    assert_eq!(summary.spans["inventory"] as f64, inventory_spans);

    // Wait until every span is counted and every edge is settled (virtual
    // nodes only after `wait`), then check the exact values: a double count
    // would overshoot and fail the tables below.
    let edges = CHECKOUTS + HEALTH_CHECKS + FAILS // user → frontend
        + INVENTORY_REQUESTS // frontend → inventory
        + CHECKOUTS // frontend → legacy
        + 2.0 * INVENTORY_REQUESTS; // inventory → PostgreSQL
    wait_for(
        &server,
        "sum(traces_spanmetrics_calls_total)",
        frontend_spans + inventory_spans,
    );
    wait_for(&server, "sum(traces_service_graph_request_total)", edges);

    check_span_metrics(&server);
    check_service_graph(&server);
    check_trace_api(&server, &summary);
    check_traceql(&server, &summary);
    check_tempo_api(&server, &summary);

    drop(postgres);
    eprintln!("system test took {:?}", started.elapsed());
}

/// RED metrics: one series per service, span name, kind, status and the
/// default dimensions (`http.request.method`, `http.route`; the old
/// `http.method` is not sent by these instrumentations).
fn check_span_metrics(server: &Server) {
    let (server_kind, internal, client) = (
        ("span_kind", "SPAN_KIND_SERVER"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("span_kind", "SPAN_KIND_CLIENT"),
    );
    let (unset, error) = (
        ("status_code", "STATUS_CODE_UNSET"),
        ("status_code", "STATUS_CODE_ERROR"),
    );
    let (frontend, inventory) = (("service", "frontend"), ("service", "inventory"));
    let method_get = ("http_request_method", "GET");
    let calls = table(&[
        // Server spans are named by route (the express instrumentation tells
        // the http one); status follows HTTP semconv: 5xx is an error on a
        // server span, 4xx is not.
        (
            &[
                frontend,
                ("span_name", "GET /checkout/:id"),
                server_kind,
                unset,
                method_get,
                ("http_route", "/checkout/:id"),
            ],
            CHECKOUTS,
        ),
        (
            &[
                frontend,
                ("span_name", "GET /health"),
                server_kind,
                unset,
                method_get,
                ("http_route", "/health"),
            ],
            HEALTH_CHECKS,
        ),
        (
            &[
                frontend,
                ("span_name", "GET /fail"),
                server_kind,
                error,
                method_get,
                ("http_route", "/fail"),
            ],
            FAILS,
        ),
        // Express 5's route handler span, one per request, with the route.
        (
            &[
                frontend,
                ("span_name", "request handler"),
                internal,
                unset,
                ("http_route", "/checkout/:id"),
            ],
            CHECKOUTS,
        ),
        (
            &[
                frontend,
                ("span_name", "request handler"),
                internal,
                unset,
                ("http_route", "/health"),
            ],
            HEALTH_CHECKS,
        ),
        (
            &[
                frontend,
                ("span_name", "request handler"),
                internal,
                unset,
                ("http_route", "/fail"),
            ],
            FAILS,
        ),
        // Outgoing calls are just "GET": each /checkout calls inventory and
        // legacy (both 200); each /fail calls inventory, whose 404 is an
        // error on a client span.
        (
            &[frontend, ("span_name", "GET"), client, unset, method_get],
            2.0 * CHECKOUTS,
        ),
        (
            &[frontend, ("span_name", "GET"), client, error, method_get],
            FAILS,
        ),
        // inventory answers 404 to /fail's lookup: not an error on a server span.
        (
            &[
                inventory,
                ("span_name", "GET /stock/:id"),
                server_kind,
                unset,
                method_get,
                ("http_route", "/stock/:id"),
            ],
            INVENTORY_REQUESTS,
        ),
        (
            &[
                inventory,
                ("span_name", "request handler"),
                internal,
                unset,
                ("http_route", "/stock/:id"),
            ],
            INVENTORY_REQUESTS,
        ),
        // pool.query() = a pg-pool.connect span (the one pooled connection,
        // opened before any request, is handed out) + the query's span.
        (
            &[inventory, ("span_name", "pg-pool.connect"), client, unset],
            INVENTORY_REQUESTS,
        ),
        (
            &[
                inventory,
                ("span_name", "pg.query:SELECT shop"),
                client,
                unset,
            ],
            INVENTORY_REQUESTS,
        ),
    ]);
    assert_series(server, "traces_spanmetrics_calls_total", &calls);

    // Every observation lands in +Inf and in _count.
    assert_series(server, "traces_spanmetrics_latency_count", &calls);
    let mut infinite = series(server, "traces_spanmetrics_latency_bucket{le=\"+Inf\"}");
    infinite = infinite
        .into_iter()
        .map(|(mut labels, value)| {
            assert_eq!(labels.remove("le").as_deref(), Some("+Inf"));
            (labels, value)
        })
        .collect();
    assert_eq!(infinite, calls);

    // Buckets of /checkout's server span: legacy's 300 ms delay puts all
    // five above 0.25 s; 10 s is far above anything this system does.
    let checkout = |le: &str| {
        scalar(
            server,
            &format!(
                "traces_spanmetrics_latency_bucket{{service=\"frontend\", span_name=\"GET /checkout/:id\", le=\"{le}\"}}"
            ),
        )
    };
    assert_eq!(checkout("0.002"), 0.0);
    assert_eq!(checkout("0.25"), 0.0);
    assert_eq!(checkout("10"), CHECKOUTS);
    assert_eq!(checkout("+Inf"), CHECKOUTS);
    let sum = scalar(
        server,
        "traces_spanmetrics_latency_sum{service=\"frontend\", span_name=\"GET /checkout/:id\"}",
    );
    assert!(
        (CHECKOUTS * LEGACY_DELAY_SECONDS..10.0 * CHECKOUTS).contains(&sum),
        "latency sum {sum}"
    );
    // The same holds for the handler span inside it.
    assert_eq!(
        scalar(
            server,
            "traces_spanmetrics_latency_bucket{service=\"frontend\", span_name=\"request handler\", http_route=\"/checkout/:id\", le=\"0.25\"}",
        ),
        0.0
    );
    // Of the ten successful outgoing GETs, the five to legacy are slower than
    // 0.25 s.
    let fast_gets = scalar(
        server,
        "traces_spanmetrics_latency_bucket{service=\"frontend\", span_name=\"GET\", status_code=\"STATUS_CODE_UNSET\", le=\"0.25\"}",
    );
    assert!(fast_gets <= CHECKOUTS, "{fast_gets}");
    assert_eq!(
        scalar(
            server,
            "traces_spanmetrics_latency_bucket{service=\"frontend\", span_name=\"GET /health\", le=\"10\"}",
        ),
        HEALTH_CHECKS
    );
}

/// Edges between the services, with Tempo's virtual nodes for the
/// uninstrumented ends.
fn check_service_graph(server: &Server) {
    let requests = table(&[
        // The driver has no SDK: every frontend server span is a root with no
        // client span, so its caller is the `user` node.
        (
            &[
                ("client", "user"),
                ("server", "frontend"),
                ("connection_type", "virtual_node"),
            ],
            CHECKOUTS + HEALTH_CHECKS + FAILS,
        ),
        // Both halves instrumented and paired by parent id: no connection type.
        (
            &[("client", "frontend"), ("server", "inventory")],
            INVENTORY_REQUESTS,
        ),
        // legacy has no SDK: frontend's client span expires alone and its
        // server.address ("localhost", how frontend calls legacy) names the node.
        (
            &[
                ("client", "frontend"),
                ("server", "localhost"),
                ("connection_type", "virtual_node"),
            ],
            CHECKOUTS,
        ),
        // Client spans with db.system.name are database edges at once, named
        // by server.address as in Tempo ("127.0.0.1", how inventory reaches
        // PostgreSQL); pg-pool.connect carries db.system.name too, so each
        // request counts twice.
        (
            &[
                ("client", "inventory"),
                ("server", "127.0.0.1"),
                ("connection_type", "database"),
            ],
            2.0 * INVENTORY_REQUESTS,
        ),
    ]);
    assert_series(server, "traces_service_graph_request_total", &requests);
    // An edge fails when either half is an error: /fail's server span (500)
    // and its client span to inventory (404). Counters exist only once hit.
    let failed = table(&[
        (
            &[
                ("client", "user"),
                ("server", "frontend"),
                ("connection_type", "virtual_node"),
            ],
            FAILS,
        ),
        (&[("client", "frontend"), ("server", "inventory")], FAILS),
    ]);
    assert_series(server, "traces_service_graph_request_failed_total", &failed);
    // Every half found its other half or a virtual node.
    assert_series(
        server,
        "traces_service_graph_unpaired_spans_total",
        &BTreeMap::new(),
    );
    assert_series(
        server,
        "traces_service_graph_dropped_spans_total",
        &BTreeMap::new(),
    );
    // Both latency histograms observe every edge.
    assert_series(
        server,
        "traces_service_graph_request_server_seconds_count",
        &requests,
    );
    assert_series(
        server,
        "traces_service_graph_request_client_seconds_count",
        &requests,
    );

    // frontend → legacy: the client side waited ≥ 0.3 s each time (buckets
    // 0.1 · 2ⁿ); the virtual server side has no span, so 0 s, as in Tempo.
    let legacy = |histogram: &str, le: &str| {
        scalar(
            server,
            &format!(
                "traces_service_graph_request_{histogram}_seconds_bucket{{server=\"localhost\", le=\"{le}\"}}"
            ),
        )
    };
    assert_eq!(legacy("client", "0.2"), 0.0);
    assert_eq!(legacy("client", "12.8"), CHECKOUTS);
    assert_eq!(legacy("server", "0.1"), CHECKOUTS);
    // user → frontend: the virtual client side is 0 s.
    assert_eq!(
        scalar(
            server,
            "traces_service_graph_request_client_seconds_bucket{client=\"user\", le=\"0.1\"}"
        ),
        CHECKOUTS + HEALTH_CHECKS + FAILS
    );
    // A database edge has one span: both latencies are the client's.
    let database = |histogram: &str| {
        scalar(
            server,
            &format!(
                "traces_service_graph_request_{histogram}_seconds_sum{{connection_type=\"database\"}}"
            ),
        )
    };
    assert_eq!(database("server"), database("client"));
}

/// The native trace API: services, operations, a trace's tree, search filters.
fn check_trace_api(server: &Server, summary: &Summary) {
    let range = [("from", "now-1h")];
    let body = get(server, "/api/v1/services", &range);
    assert_eq!(body["services"], json!(["frontend", "inventory"]));
    let body = get(server, "/api/v1/services/frontend/operations", &range);
    assert_eq!(
        body["operations"],
        json!([
            "GET",
            "GET /checkout/:id",
            "GET /fail",
            "GET /health",
            "request handler"
        ])
    );
    let body = get(server, "/api/v1/services/inventory/operations", &range);
    assert_eq!(
        body["operations"],
        json!([
            "GET /stock/:id",
            "pg-pool.connect",
            "pg.query:SELECT shop",
            "request handler"
        ])
    );

    // A checkout's tree across both services (siblings may start in the same
    // millisecond, so the order among them is not checked).
    let checkout = summary.first("/checkout");
    let body = get(server, &format!("/api/v1/traces/{checkout}"), &[]);
    let spans = body["spans"].as_array().unwrap();
    let mut tree: Vec<(u64, &str, &str, &str, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["depth"].as_u64().unwrap(),
                s["resource"]["service.name"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tree[0],
        (0, "frontend", "GET /checkout/:id", "server", "unset")
    );
    tree.sort();
    assert_eq!(
        tree,
        [
            (0, "frontend", "GET /checkout/:id", "server", "unset"),
            (1, "frontend", "request handler", "internal", "unset"),
            (2, "frontend", "GET", "client", "unset"),
            (2, "frontend", "GET", "client", "unset"),
            (3, "inventory", "GET /stock/:id", "server", "unset"),
            (4, "inventory", "request handler", "internal", "unset"),
            (5, "inventory", "pg-pool.connect", "client", "unset"),
            (5, "inventory", "pg.query:SELECT shop", "client", "unset"),
        ]
    );

    // Structured search, newest first. /checkout's server span, its handler
    // and its GET to legacy last at least 300 ms; /health and /fail take a
    // few milliseconds (this assumes none takes 300 ms).
    let body = search(
        server,
        &[("service", "frontend"), ("min_duration", "300ms")],
    );
    assert_eq!(trace_ids(&body, "trace_id"), summary.traces("/checkout"));
    for trace in body["traces"].as_array().unwrap() {
        assert_eq!(trace["root_service"], "frontend");
        assert_eq!(trace["root_name"], "GET /checkout/:id");
        assert_eq!(trace["span_count"], 8);
        assert_eq!(trace["error_count"], 0);
        assert_eq!(trace["services"], json!(["frontend", "inventory"]));
        assert!(trace["duration_ns"].as_f64().unwrap() >= LEGACY_DELAY_SECONDS * 1e9);
    }
    // Errors: /fail's server span and its client span.
    let body = search(server, &[("status", "error")]);
    assert_eq!(trace_ids(&body, "trace_id"), summary.traces("/fail"));
    for trace in body["traces"].as_array().unwrap() {
        assert_eq!(trace["root_name"], "GET /fail");
        assert_eq!(trace["span_count"], 7);
        assert_eq!(trace["error_count"], 2);
    }
    let body = search(server, &[("span_name", "GET /health")]);
    assert_eq!(trace_ids(&body, "trace_id"), summary.traces("/health"));
    assert!(
        body["traces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["span_count"] == 2 && t["services"] == json!(["frontend"]))
    );
    // Every trace that reached inventory queried PostgreSQL.
    let body = search(server, &[("attr", "db.system.name=postgresql")]);
    let mut reached: Vec<String> = summary.traces("/fail");
    reached.extend(summary.traces("/checkout"));
    assert_eq!(trace_ids(&body, "trace_id"), reached);
}

fn check_traceql(server: &Server, summary: &Summary) {
    let checkouts = summary.traces("/checkout");
    let fails = summary.traces("/fail");
    let reached_inventory: Vec<String> = fails.iter().chain(&checkouts).cloned().collect();
    let n = |count: f64, matched: u64| vec![matched; count as usize];

    // The route is on the server span and on express's handler span.
    assert_eq!(
        traceql(server, r#"{ span.http.route = "/checkout/:id" }"#),
        (checkouts.clone(), n(CHECKOUTS, 2))
    );
    // /health traces have 2 spans, so all ten have more than one ...
    let (ids, matched) = traceql(server, "{} | count() > 1");
    assert_eq!(ids, summary.all_traces());
    assert_eq!(
        matched,
        [n(FAILS, 7), n(HEALTH_CHECKS, 2), n(CHECKOUTS, 8)].concat()
    );
    // ... and only those that reached inventory more than two.
    assert_eq!(
        traceql(server, "{} | count() > 2").0,
        reached_inventory.clone()
    );
    assert_eq!(
        traceql(
            server,
            r#"{ resource.service.name = "inventory" && span.db.system.name = "postgresql" }"#
        ),
        (reached_inventory.clone(), n(INVENTORY_REQUESTS, 2))
    );
    assert_eq!(
        traceql(server, "{ span.http.response.status_code >= 500 }"),
        (fails.clone(), n(FAILS, 1))
    );
    assert_eq!(
        traceql(
            server,
            "{ kind = server && span.http.response.status_code = 404 }"
        ),
        (fails.clone(), n(FAILS, 1))
    );
    assert_eq!(
        traceql(server, "{ status = error }"),
        (fails.clone(), n(FAILS, 2))
    );
    // Descendants in another service: both pg spans under /fail.
    assert_eq!(
        traceql(
            server,
            r#"{ name = "GET /fail" } >> { span.db.system.name = "postgresql" }"#
        ),
        (fails.clone(), n(FAILS, 2))
    );
    assert_eq!(
        traceql(server, r#"{ span.server.address = "localhost" }"#),
        (checkouts.clone(), n(CHECKOUTS, 1))
    );
    // Durations: only a lower bound is certain — each call to legacy waits
    // 300 ms.
    assert_eq!(
        traceql(
            server,
            r#"{ rootServiceName = "frontend" && span.server.address = "localhost" && duration >= 300ms }"#
        ),
        (checkouts, n(CHECKOUTS, 1))
    );
}

/// Grafana's Tempo data source: trace by id and search, against golden files.
fn check_tempo_api(server: &Server, summary: &Summary) {
    let names = summary.trace_names();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = (now - 3600).to_string();
    let end = (now + 60).to_string();
    let range = [("start", start.as_str()), ("end", end.as_str())];

    for (golden, trace_id) in [
        ("tempo_trace_checkout", summary.first("/checkout")),
        ("tempo_trace_fail", summary.first("/fail")),
    ] {
        let path = format!("/tempo/api/traces/{trace_id}");
        let body = get(server, &path, &[]);
        let v2 = get(server, &format!("/tempo/api/v2/traces/{trace_id}"), &[]);
        assert_eq!(v2["trace"]["resourceSpans"], body["batches"]);
        check_golden(
            golden,
            &format!("/tempo/api/traces/{}", names[&trace_id]),
            &canonical_tempo_trace(&body, &trace_id),
        );
    }

    for (golden, query, expected) in [
        (
            "tempo_search_checkout_route",
            r#"{ span.http.route = "/checkout/:id" }"#,
            summary.traces("/checkout"),
        ),
        (
            "tempo_search_errors",
            "{ status = error }",
            summary.traces("/fail"),
        ),
    ] {
        let mut params = vec![("q", query)];
        params.extend_from_slice(&range);
        let body = get(server, "/tempo/api/search", &params);
        assert_eq!(trace_ids(&body, "traceID"), expected);
        check_golden(
            golden,
            &format!("/tempo/api/search?q={query}"),
            &canonical_tempo_search(&body, &names),
        );
    }

    // Grafana's "search" tab: tags and a duration floor.
    let mut params = vec![("tags", "service.name=frontend"), ("minDuration", "300ms")];
    params.extend_from_slice(&range);
    let body = get(server, "/tempo/api/search", &params);
    assert_eq!(trace_ids(&body, "traceID"), summary.traces("/checkout"));
}
