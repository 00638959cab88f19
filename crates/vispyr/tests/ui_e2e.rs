//! The web UI end to end (issue 7): the real `vispyr serve` serving the built
//! UI (ui/dist), filled by real clients — the instrumented Node.js system
//! (Express frontend → inventory → PostgreSQL, an uninstrumented legacy
//! service; OTel Node SDK), pino logs with trace context, the Pyroscope
//! Node.js SDK profiling "frontend", and Debian's node_exporter scraped for
//! host metrics — then every page driven in headless Chromium by
//! ui/e2e/pages.e2e.mjs (playwright-core). The script checks what a user
//! sees (real trace ids, service names, log lines, flamegraph frames) and
//! saves a screenshot of each page under ui/screenshots/ (git-ignored).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Guard, Server, free_port, node_command, repo_root, require, wait_http_ok};

const SCRAPE: &str = r#"scrape_configs:
  - job_name: node
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:NODE_PORT"]
"#;

/// Checks the script must report as passed; a check it skipped fails the test.
const CHECKS: &[&str] = &[
    "overview",
    "overview-zoom",
    "services",
    "service-map",
    "traces-search",
    "trace-waterfall",
    "trace-to-logs",
    "log-to-trace",
    "trace-to-profile",
    "logs",
    "metrics",
    "metrics-system",
    "profiles",
    "profiles-hide-node-internal",
    "profiles-rule-survives-reload",
    "sql",
    "spa-deep-link",
];

fn wait_until(what: &str, server: &Server, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; server log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn prom_count(server: &Server, expr: &str) -> usize {
    let url = format!("{}/prometheus/api/v1/query", server.http);
    reqwest::blocking::Client::new()
        .get(url)
        .query(&[("query", expr)])
        .send()
        .and_then(|r| r.json::<Value>())
        .map(|body| body["data"]["result"].as_array().map_or(0, Vec::len))
        .unwrap_or(0)
}

fn sql_count(server: &Server, query: &str) -> i64 {
    server.scalar(query).as_i64().unwrap_or(0)
}

#[test]
fn every_page_renders_real_data_in_chromium() {
    let root = repo_root();
    let dist = root.join("ui/dist/index.html");
    assert!(
        dist.exists(),
        "{} is missing: build the UI with `bash scripts/build-ui.sh` (the README's test command does)",
        dist.display()
    );
    require(std::path::Path::new("/usr/bin/chromium"));
    require(&root.join("ui/node_modules/playwright-core"));

    let temp = tempfile::tempdir().unwrap();
    let postgres = support::postgres::start_postgres(&temp.path().join("pg"));
    let node_port = free_port();
    let _node_exporter = Guard::spawn("prometheus-node-exporter", {
        let mut command = Command::new("prometheus-node-exporter");
        command
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stderr(Stdio::null());
        command
    });
    wait_http_ok(
        &format!("http://127.0.0.1:{node_port}/metrics"),
        Duration::from_secs(20),
    );
    let server = Server::start_in(
        &temp.path().join("data"),
        &format!(
            "{}{}",
            support::FAST_CONNECTORS,
            SCRAPE.replace("NODE_PORT", &node_port.to_string())
        ),
    );

    // Profiles of "frontend" while the system runs, so the frontend's traces
    // and its profiles overlap in time (trace → profile falls back to the
    // trace's services and time when spans carry no profile ids).
    let profiler = {
        let mut command = node_command("profile.mjs");
        command
            .env("VISPYR_PYROSCOPE_URL", &server.http)
            .env("APP_NAME", "frontend")
            .env("COLLECT_CPU_TIME", "1")
            .env("DURATION_MS", "10000");
        std::thread::spawn(move || support::run_client::<Value>(command))
    };
    let _first_run: Value = support::run_client({
        let mut command = node_command("system.mjs");
        command
            .env("OTLP_ENDPOINT", &server.otlp_http)
            .env("PG_PORT", postgres.port.to_string());
        command
    });
    // A second run, seconds later: rates need a counter to grow between two
    // connector flushes, which one short run cannot promise for every route.
    let system: Value = support::run_client({
        let mut command = node_command("system.mjs");
        command
            .env("OTLP_ENDPOINT", &server.otlp_http)
            .env("PG_PORT", postgres.port.to_string());
        command
    });
    let logs: Value = support::run_client({
        let mut command = node_command("logs.mjs");
        command
            .env("OTLP_ENDPOINT", &server.otlp_http)
            .env("SERVICE_NAME", "frontend");
        command
    });
    profiler.join().expect("profile.mjs thread");

    // Everything the pages show has arrived: connector series (service graph
    // edges take `wait` to pair), host metrics, profiles and logs.
    wait_until(
        "service graph edges",
        &server,
        Duration::from_secs(30),
        || prom_count(&server, "traces_service_graph_request_total") >= 3,
    );
    // The overview's RED panels are rates: each series needs two flushed
    // points inside the window before the page asks (it does not refresh).
    wait_until(
        "span metric rates",
        &server,
        Duration::from_secs(30),
        || {
            prom_count(
                &server,
                r#"rate(traces_spanmetrics_calls_total{service="frontend", status_code="STATUS_CODE_ERROR"}[1m])"#,
            ) > 0
                && prom_count(
                    &server,
                    r#"rate(traces_spanmetrics_latency_bucket{service="frontend"}[1m])"#,
                ) > 0
        },
    );
    wait_until("host metrics", &server, Duration::from_secs(30), || {
        prom_count(&server, "node_cpu_seconds_total") > 0
            && prom_count(&server, "node_memory_MemAvailable_bytes") > 0
    });
    wait_until("profiles", &server, Duration::from_secs(30), || {
        sql_count(&server, "select count(*) from profile_samples") > 0
    });
    wait_until("logs", &server, Duration::from_secs(30), || {
        sql_count(&server, "select count(*) from logs") >= 3
    });

    let checkout_trace = system["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_str().unwrap().starts_with("/checkout/"))
        .map(|r| r["trace_id"].as_str().unwrap().to_string())
        .unwrap();
    let expect = json!({
        "services": ["frontend", "inventory"],
        "virtual_nodes": ["localhost", "127.0.0.1"],
        "checkout_trace": checkout_trace,
        "log_trace": logs["trace_id"],
        "log_lines": logs["logs"],
        "profile_service": "frontend",
        "hot_function": "burnCpuHot",
    });

    let screenshots = root.join("ui/screenshots");
    let output = Command::new("node")
        .arg(root.join("ui/e2e/pages.e2e.mjs"))
        .current_dir(root.join("ui"))
        .env("VISPYR_URL", &server.http)
        .env("E2E_EXPECT", expect.to_string())
        .env("SCREENSHOT_DIR", &screenshots)
        .output()
        .expect("run node ui/e2e/pages.e2e.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "UI end-to-end script failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        output.status,
        server.log()
    );
    // The script prints one JSON line per passed check: none may be missing.
    let passed: Vec<String> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["ok"] == true)
        .filter_map(|line| line["check"].as_str().map(str::to_string))
        .collect();
    for check in CHECKS {
        assert!(
            passed.iter().any(|p| p == check),
            "check {check:?} did not pass; passed: {passed:?}\nstderr:\n{stderr}"
        );
    }
    for page in [
        "overview", "services", "traces", "trace", "logs", "metrics", "profiles", "sql",
    ] {
        let shot = screenshots.join(format!("{page}.png"));
        assert!(shot.exists(), "no screenshot {}", shot.display());
    }
}
