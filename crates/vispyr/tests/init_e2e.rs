//! End-to-end for `vispyr init` (issue 8): the instrumentation it writes for
//! Node.js and Python, loaded into tiny apps that have no telemetry code of their
//! own, must deliver all four signals to a live server — and the Node.js file must
//! patch an ESM app too when loaded with `--import` (`init-app-esm.mjs`).
//!
//! ```text
//!   vispyr init node|python --write <tmp>      (the real binary)
//!        │ instrumentation.js / vispyr_instrumentation.py
//!        ▼
//!   tests/e2e/node/init-app.cjs (Express, pino)   tests/e2e/python/init_app.py (WSGI, logging)
//!        │ 5 × GET /work/n to itself, CPU burnt in each; then SIGTERM → flush, exit 0
//!        ▼ OTLP/HTTP :4318 (traces, metrics, logs), Pyroscope /ingest :4040 (profiles)
//!   vispyr serve ── SQL: spans, logs joined to their spans, metric_points, profile_samples
//! ```

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, python_command, repo_root, require};

/// Requests each app sends itself (the apps' default; the ESM app sends 2).
const REQUESTS: usize = 5;

/// What an app printed once it had served its requests.
#[derive(Debug, serde::Deserialize)]
struct AppSummary {
    requests: Vec<AppRequest>,
}

#[derive(Debug, serde::Deserialize)]
struct AppRequest {
    status: u16,
    trace_id: String,
}

impl AppSummary {
    fn trace_ids(&self) -> BTreeSet<String> {
        self.requests.iter().map(|r| r.trace_id.clone()).collect()
    }
}

/// Runs `vispyr init <language> --write <dir>` against `server`; returns its stdout.
fn vispyr_init(language: &str, service: &str, server: &Server, dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_vispyr"))
        .args(["init", language, "--service", service])
        .args(["--server", &server.http, "--otlp", &server.otlp_http])
        .arg("--write")
        .arg(dir)
        .env_remove("VISPYR_SERVER")
        .output()
        .expect("run vispyr init");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "vispyr init {language} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Clears the ambient OpenTelemetry and Pyroscope settings the generated code
/// would honour, so the test is not steered by the machine it runs on.
fn isolate(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("PYROSCOPE_") || key == "VISPYR_URL" {
            command.env_remove(key);
        }
    }
}

/// Starts an app, waits for its one-line summary, sends SIGTERM and requires a
/// clean exit (the instrumentation flushes on the way out).
fn run_app(name: &str, mut command: Command, log: &Path, requests: usize) -> AppSummary {
    isolate(&mut command);
    let stderr = std::fs::File::create(log).unwrap();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
    let stdout = child.stdout.take().unwrap();
    let (lines, line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = lines.send(first);
    });
    let app_log = || std::fs::read_to_string(log).unwrap_or_default();
    let Ok(summary) = line.recv_timeout(Duration::from_secs(90)) else {
        let _ = child.kill();
        panic!("{name} printed no summary in 90 s; its log:\n{}", app_log());
    };
    let summary: AppSummary = serde_json::from_str(summary.trim()).unwrap_or_else(|error| {
        let _ = child.kill();
        panic!(
            "{name}: bad summary {summary:?} ({error}); its log:\n{}",
            app_log()
        )
    });

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{name} did not exit within 30 s of SIGTERM; its log:\n{}",
                app_log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{name} exited with {status} after SIGTERM; its log:\n{}",
        app_log()
    );

    assert_eq!(summary.requests.len(), requests, "{summary:?}");
    for request in &summary.requests {
        assert_eq!(request.status, 200, "{summary:?}");
        assert!(
            request.trace_id.len() == 32 && request.trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{summary:?}"
        );
    }
    assert_eq!(
        summary.trace_ids().len(),
        requests,
        "one trace per request: {summary:?}"
    );
    summary
}

/// Waits until `query`'s single value is `want` (exports may still be landing),
/// then asserts it.
fn wait_for_value(server: &Server, query: &str, want: Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = server.scalar(query);
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got, want, "{query}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count(server: &Server, query: &str) -> u64 {
    server
        .scalar(query)
        .as_u64()
        .unwrap_or_else(|| panic!("{query}: not a count"))
}

fn trace_ids(server: &Server, query: &str) -> BTreeSet<String> {
    server
        .rows(query)
        .into_iter()
        .map(|row| row[0].as_str().expect("trace id").to_string())
        .collect()
}

/// The largest `total` (time with the function anywhere on the stack) of a
/// function whose name contains `function`, from the profile table.
fn function_total(server: &Server, query: &str, function: &str) -> i64 {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/profiles/table", server.http))
        .query(&[("query", query), ("from", "now-1h"), ("until", "now")])
        .send()
        .expect("table request");
    let status = response.status();
    let body: Value = response.json().expect("json body");
    assert!(status.is_success(), "{query}: {status} {body}");
    let rows = body["rows"].as_array().expect("rows");
    rows.iter()
        .filter(|row| {
            row["name"]
                .as_str()
                .is_some_and(|name| name.contains(function))
        })
        .filter_map(|row| row["total"].as_i64())
        .max()
        .unwrap_or_else(|| panic!("{function} is not in the profile of {query}: {body}"))
}

/// The log lines each app writes in its request handler must arrive stamped
/// with the trace and span of the request: one per request, each joined to a
/// stored span of one of the app's traces.
fn assert_logs(server: &Server, service: &str, body_like: &str, summary: &AppSummary) {
    let requests = summary.requests.len();
    let in_service = format!("service_name = '{service}' and body like '{body_like}'");
    wait_for_value(
        server,
        &format!("select count(*) from logs where {in_service}"),
        Value::from(requests),
    );
    assert_eq!(
        trace_ids(
            server,
            &format!("select distinct trace_id from logs where {in_service}")
        ),
        summary.trace_ids()
    );
    let joined = count(
        server,
        &format!(
            "select count(*) from logs l join spans s \
             on l.trace_id = s.trace_id and l.span_id = s.span_id \
             where l.service_name = '{service}' and l.body like '{body_like}' \
             and s.service_name = '{service}'"
        ),
    );
    assert_eq!(
        joined, requests as u64,
        "every log line names a stored span"
    );
}

#[test]
fn vispyr_init_node_delivers_all_four_signals_issue_8() {
    let node_dir = repo_root().join("tests/e2e/node");
    require(&node_dir.join("node_modules/@opentelemetry/auto-instrumentations-node"));
    require(&node_dir.join("node_modules/@pyroscope/nodejs"));
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let out = temp.path().join("instrumentation");
    let service = "init-node";

    let printed = vispyr_init("node", service, &server, &out);
    let file = out.join("instrumentation.js");
    assert!(
        printed.starts_with(&format!("wrote {}\n", file.display())),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("node --require {}", file.display())),
        "{printed}"
    );
    assert!(
        printed.contains("@opentelemetry/auto-instrumentations-node@^0.81.2"),
        "{printed}"
    );

    // The app resolves its packages from tests/e2e/node/node_modules; the
    // instrumentation file, in a temp dir, finds the same copies through NODE_PATH.
    let mut app = Command::new("node");
    app.current_dir(&node_dir)
        .env("NODE_PATH", node_dir.join("node_modules"))
        .arg("--require")
        .arg(&file)
        .arg(node_dir.join("init-app.cjs"));
    let summary = run_app(
        "init-app.cjs",
        app,
        &temp.path().join("node-app.log"),
        REQUESTS,
    );

    // Traces: the http server span of each request, with Express's spans under
    // it, and the http client span that called it — in the app's five traces.
    let server_spans = format!(
        "from spans where service_name = '{service}' and span_kind = 'server' \
         and span_attributes['http.route'] = '/work/:n'"
    );
    wait_for_value(
        &server,
        &format!("select count(*) {server_spans}"),
        Value::from(REQUESTS),
    );
    assert_eq!(
        trace_ids(&server, &format!("select distinct trace_id {server_spans}")),
        summary.trace_ids()
    );
    let express_traces = count(
        &server,
        &format!(
            "select count(distinct trace_id) from spans where service_name = '{service}' \
             and scope_name = '@opentelemetry/instrumentation-express'"
        ),
    );
    assert_eq!(
        express_traces, REQUESTS as u64,
        "an Express span in every trace"
    );
    let client_spans = count(
        &server,
        &format!(
            "select count(*) from spans where service_name = '{service}' and span_kind = 'client' \
             and scope_name = '@opentelemetry/instrumentation-http'"
        ),
    );
    assert_eq!(client_spans, REQUESTS as u64);

    // Logs: pino's lines, bridged by the pino instrumentation.
    assert_logs(&server, service, "working", &summary);

    // Metrics: the http server duration histogram counted every request, and the
    // runtime instrumentation reported the event loop.
    wait_for_value(
        &server,
        &format!(
            "select max(value) from metric_points where service_name = '{service}' \
             and metric_name = 'http_server_request_duration_seconds_count' \
             and labels['http_route'] = '/work/:n'"
        ),
        Value::from(REQUESTS as f64),
    );
    let runtime_points = count(
        &server,
        &format!(
            "select count(*) from metric_points where service_name = '{service}' \
             and metric_name like 'nodejs_eventloop%'"
        ),
    );
    assert!(runtime_points > 0, "no nodejs_eventloop_* points");

    // Profiles: wall-clock samples, with the request handler's busy loop on them.
    let wall = "wall:wall:nanoseconds:wall:nanoseconds";
    let samples = count(
        &server,
        &format!(
            "select count(*) from profile_samples where service_name = '{service}' \
             and profile_type = '{wall}'"
        ),
    );
    assert!(samples > 0, "no wall profile samples for {service}");
    let query = format!("{wall}{{service_name=\"{service}\"}}");
    let burnt = function_total(&server, &query, "burnCpu");
    // 5 × 600 ms of busy loop; the wall profiler sees most of it.
    assert!(
        burnt >= 1_000_000_000,
        "burnCpu has {burnt} ns of wall time"
    );
}

#[test]
fn vispyr_init_node_instruments_esm_apps_under_import_issue_8() {
    let node_dir = repo_root().join("tests/e2e/node");
    require(&node_dir.join("node_modules/@opentelemetry/auto-instrumentations-node"));
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let out = temp.path().join("instrumentation");
    let service = "init-node-esm";
    vispyr_init("node", service, &server, &out);

    // `--import` loads the same CommonJS file, which then registers the ESM
    // loader hook so that `import express` is patched too.
    let mut app = Command::new("node");
    app.current_dir(&node_dir)
        .env("NODE_PATH", node_dir.join("node_modules"))
        .arg("--import")
        .arg(out.join("instrumentation.js"))
        .arg(node_dir.join("init-app-esm.mjs"));
    let requests = 2;
    let summary = run_app(
        "init-app-esm.mjs",
        app,
        &temp.path().join("esm-app.log"),
        requests,
    );

    let express = format!(
        "from spans where service_name = '{service}' \
         and scope_name = '@opentelemetry/instrumentation-express'"
    );
    wait_for_value(
        &server,
        &format!("select count(distinct trace_id) {express}"),
        Value::from(requests),
    );
    assert_eq!(
        trace_ids(&server, &format!("select distinct trace_id {express}")),
        summary.trace_ids()
    );
    assert_logs(&server, service, "esm working", &summary);
}

#[test]
fn vispyr_init_python_delivers_all_four_signals_and_links_profiles_issue_8() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let out = temp.path().join("instrumentation");
    let service = "init-python";

    let printed = vispyr_init("python", service, &server, &out);
    let file = out.join("vispyr_instrumentation.py");
    assert!(
        printed.starts_with(&format!("wrote {}\n", file.display())),
        "{printed}"
    );
    assert!(printed.contains("pyroscope-otel"), "{printed}");

    let mut app = python_command("init_app.py");
    app.env("PYTHONPATH", &out);
    let summary = run_app(
        "init_app.py",
        app,
        &temp.path().join("python-app.log"),
        REQUESTS,
    );

    // Traces: the WSGI server span of each request and the requests client span.
    let server_spans = format!(
        "from spans where service_name = '{service}' and span_kind = 'server' \
         and scope_name = 'opentelemetry.instrumentation.wsgi'"
    );
    wait_for_value(
        &server,
        &format!("select count(*) {server_spans}"),
        Value::from(REQUESTS),
    );
    assert_eq!(
        trace_ids(&server, &format!("select distinct trace_id {server_spans}")),
        summary.trace_ids()
    );
    let client_spans = count(
        &server,
        &format!(
            "select count(*) from spans where service_name = '{service}' and span_kind = 'client' \
             and scope_name = 'opentelemetry.instrumentation.requests'"
        ),
    );
    assert_eq!(
        client_spans, REQUESTS as u64,
        "the entry-point loader instrumented requests"
    );

    // Logs: `logging` records through the logging instrumentation's handler.
    assert_logs(&server, service, "working on %", &summary);

    // Metrics: the WSGI middleware's server duration histogram counted every request.
    wait_for_value(
        &server,
        &format!(
            "select max(value) from metric_points where service_name = '{service}' \
             and metric_name = 'http_server_duration_milliseconds_count'"
        ),
        Value::from(REQUESTS as f64),
    );

    // Profiles: CPU samples with the request handler's busy loop on them.
    let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let samples = count(
        &server,
        &format!(
            "select count(*) from profile_samples where service_name = '{service}' \
             and profile_type = '{cpu}'"
        ),
    );
    assert!(samples > 0, "no CPU profile samples for {service}");
    let query = format!("{cpu}{{service_name=\"{service}\"}}");
    let burnt = function_total(&server, &query, "burn_cpu");
    assert!(burnt >= 1_000_000_000, "burn_cpu has {burnt} ns of CPU");

    // Span-profile linking: every server span (a local root, its parent being
    // remote) is marked with pyroscope.profile.id, and the CPU it burnt is
    // stored under its span id.
    let marked = count(
        &server,
        &format!(
            "select count(*) {server_spans} and span_attributes['pyroscope.profile.id'] = span_id"
        ),
    );
    assert_eq!(
        marked, REQUESTS as u64,
        "pyroscope.profile.id on every server span"
    );
    let linked = count(
        &server,
        &format!(
            "select count(distinct span_id) from profile_samples where service_name = '{service}' \
             and span_id in (select span_id {server_spans})"
        ),
    );
    assert_eq!(
        linked, REQUESTS as u64,
        "CPU samples under every server span's id"
    );
}
