//! Metrics against the real Prometheus: Prometheus 2.42 (Debian) scrapes the real
//! node_exporter and a synthetic exporter every second and remote-writes
//! everything to `vispyr serve`; then a corpus of PromQL queries runs against both
//! HTTP APIs at the same evaluation times and the answers must match.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{Guard, Server, free_port, repo_root, wait_http_ok};

/// GET `base + path` with query parameters; status and JSON body.
fn get(base: &str, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .query(params)
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {base}{path} → {status}, not JSON ({e}): {text}"));
    (status, body)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn number(value: &Value) -> f64 {
    match value.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("bad number {text:?}")),
        None => panic!("value {value} is not a string"),
    }
}

/// Equal within 1e-9 relative, or 1e-12 absolute: Prometheus's head block hands
/// series to aggregations in creation order, Vispyr in label order, so sums can
/// differ in the last bits, and cancellation (the stddev of equal values) leaves
/// noise around 1e-16 that differs with the order.
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= 1e-12
        || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// `[time, "value"]` pairs as (time, value).
fn points(pairs: &Value) -> Vec<(f64, f64)> {
    pairs
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_f64().unwrap(), number(&pair[1])))
        .collect()
}

fn same_points(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.0 - y.0).abs() < 1e-6 && close(x.1, y.1))
}

/// Compares two Prometheus API answers; `None` when they agree.
fn compare(query: &str, expected: &(u16, Value), actual: &(u16, Value)) -> Option<String> {
    let (want, got) = (&expected.1, &actual.1);
    if want["status"] != got["status"] {
        return Some(format!(
            "status: prometheus {} {}, vispyr {} {}",
            expected.0, want, actual.0, got
        ));
    }
    if want["status"] == "error" {
        return (want["errorType"] != got["errorType"] || expected.0 != actual.0).then(|| {
            format!(
                "error: prometheus {} {want}, vispyr {} {got}",
                expected.0, actual.0
            )
        });
    }
    let (want, got) = (&want["data"], &got["data"]);
    if want["resultType"] != got["resultType"] {
        return Some(format!(
            "resultType: prometheus {}, vispyr {}",
            want["resultType"], got["resultType"]
        ));
    }
    match want["resultType"].as_str().unwrap() {
        "scalar" | "string" => {
            let (w, g) = (&want["result"], &got["result"]);
            let same = (w[0].as_f64().unwrap() - g[0].as_f64().unwrap()).abs() < 1e-6
                && if want["resultType"] == "string" {
                    w[1] == g[1]
                } else {
                    close(number(&w[1]), number(&g[1]))
                };
            (!same).then(|| format!("prometheus {w}, vispyr {g}"))
        }
        kind => {
            let key = if kind == "vector" { "value" } else { "values" };
            let series = |data: &Value| -> Vec<(String, Vec<(f64, f64)>)> {
                data["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|one| {
                        let values = if kind == "vector" {
                            points(&Value::Array(vec![one[key].clone()]))
                        } else {
                            points(&one[key])
                        };
                        (one["metric"].to_string(), values)
                    })
                    .collect()
            };
            let (mut w, mut g) = (series(want), series(got));
            // Only sort() and sort_desc() define the order of an instant vector.
            let ordered =
                kind == "vector" && (query.starts_with("sort(") || query.starts_with("sort_desc("));
            if !ordered {
                w.sort_by(|a, b| a.0.cmp(&b.0));
                g.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let w_keys: Vec<&String> = w.iter().map(|s| &s.0).collect();
            let g_keys: Vec<&String> = g.iter().map(|s| &s.0).collect();
            if w_keys != g_keys {
                return Some(format!(
                    "series: prometheus {w_keys:?}\n      vispyr {g_keys:?}"
                ));
            }
            let differing: Vec<String> = w
                .iter()
                .zip(&g)
                .filter(|(a, b)| !same_points(&a.1, &b.1))
                .map(|(a, b)| format!("{}: prometheus {:?}, vispyr {:?}", a.0, a.1, b.1))
                .collect();
            (!differing.is_empty()).then(|| differing.join("\n      "))
        }
    }
}

fn corpus() -> Vec<String> {
    let text = std::fs::read_to_string(
        repo_root().join("crates/vispyr/tests/data/promql_live_corpus.promql"),
    )
    .unwrap();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn prometheus_remote_write_and_promql_match_prometheus() {
    let corpus = corpus();
    assert!(corpus.len() >= 150, "corpus has {} queries", corpus.len());
    let temp = tempfile::tempdir().unwrap();
    let vispyr = Server::start_in(&temp.path().join("data"), "");

    let [node_port, synthetic_port, prometheus_port] = support::free_ports::<3>();
    let mut node = Guard::spawn("prometheus-node-exporter", {
        let mut command = Command::new("prometheus-node-exporter");
        command
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stderr(std::process::Stdio::null());
        command
    });
    let mut synthetic = Guard::spawn("synthetic exporter", {
        let mut command = Command::new("python3");
        command
            .arg(repo_root().join("crates/scrape/testdata/synthetic_exporter.py"))
            .args(["--port", &synthetic_port.to_string(), "--flap-period", "10"]);
        command
    });
    wait_http_ok(
        &format!("http://127.0.0.1:{node_port}/metrics"),
        Duration::from_secs(20),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{synthetic_port}/metrics"),
        Duration::from_secs(20),
    );

    let config = temp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["127.0.0.1:{node_port}"]}}]
  - job_name: synthetic
    static_configs: [{{targets: ["127.0.0.1:{synthetic_port}"], labels: {{env: "test"}}}}]
remote_write:
  - url: {}/prometheus/api/v1/write
    queue_config: {{batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 1s}}
    metadata_config: {{send_interval: 2s}}
"#,
            vispyr.http
        ),
    )
    .unwrap();
    let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
    let mut prometheus = Guard::spawn("prometheus", {
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                temp.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .arg("--log.level=warn")
            .stderr(std::fs::File::create(temp.path().join("prometheus.log")).unwrap());
        command
    });
    wait_http_ok(
        &format!("{prometheus_url}/-/ready"),
        Duration::from_secs(30),
    );
    let started = now_secs();

    // Collect ~45 s of data, long enough for 30 s windows and a flapping series.
    while now_secs() < started + 45.0 {
        std::thread::sleep(Duration::from_millis(500));
        for guard in [&mut node, &mut synthetic, &mut prometheus] {
            guard.assert_running();
        }
    }
    // Evaluate up to a few seconds ago, once Vispyr has samples past that time.
    let end = (now_secs() - 6.0).floor();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let newest = vispyr.scalar(
            "select cast(max(timestamp) as bigint) from metric_points where metric_name = 'up'",
        );
        if newest.as_i64().unwrap_or(0) as f64 / 1e9 >= end + 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "remote write did not reach vispyr (newest up sample {newest}); prometheus log:\n{}\nvispyr log:\n{}",
            std::fs::read_to_string(temp.path().join("prometheus.log")).unwrap_or_default(),
            vispyr.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every series Prometheus has reached Vispyr with the same labels.
    let series_params = [
        ("match[]", "{__name__=~\".+\"}".to_string()),
        ("start", (end - 30.0).to_string()),
        ("end", end.to_string()),
    ];
    let want = get(&prometheus_url, "/api/v1/series", &series_params);
    let got = get(&vispyr.http, "/prometheus/api/v1/series", &series_params);
    let labelsets = |body: &Value| -> Vec<String> {
        let mut all: Vec<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        all.sort();
        all
    };
    assert!(
        labelsets(&want.1).len() > 200,
        "prometheus has few series: {}",
        want.1
    );
    assert_eq!(labelsets(&want.1), labelsets(&got.1), "series differ");

    let mut mismatches = Vec::new();
    let mut compared = 0;
    for query in &corpus {
        let mut evaluations: Vec<(&str, Vec<(&str, String)>)> = [end - 17.5, end]
            .iter()
            .map(|time| ("query", vec![("time", time.to_string())]))
            .collect();
        evaluations.push((
            "query_range",
            vec![
                ("start", (end - 30.0).to_string()),
                ("end", end.to_string()),
                ("step", "3".to_string()),
            ],
        ));
        for (endpoint, mut params) in evaluations {
            params.push(("query", query.clone()));
            let expected = get(&prometheus_url, &format!("/api/v1/{endpoint}"), &params);
            let actual = get(
                &vispyr.http,
                &format!("/prometheus/api/v1/{endpoint}"),
                &params,
            );
            compared += 1;
            if let Some(difference) = compare(query, &expected, &actual) {
                let at: BTreeMap<&str, &String> = params
                    .iter()
                    .filter(|(k, _)| *k != "query")
                    .map(|(k, v)| (*k, v))
                    .collect();
                mismatches.push(format!("{endpoint} {query} {at:?}\n      {difference}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} evaluations differ from Prometheus:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
    }
}

fn remote_write(server: &Server, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{}/prometheus/api/v1/write", server.http))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

const RW_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

fn snappy(request: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

use prost::Message;
use vispyr_proto::prometheus::{
    Label, MetricMetadata, MetricType, Sample, TimeSeries, WriteRequest,
};

#[test]
fn remote_write_errors_and_the_query_api() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let t0 = 1_700_000_000_000i64;

    // A valid request with metadata: 204 and queryable.
    let request = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "jobs_total"), ("job", "batch"), ("queue", "a")],
                &[(t0, 1.0), (t0 + 15_000, 4.0), (t0 + 30_000, 10.0)],
            ),
            series(
                &[("__name__", "jobs_total"), ("job", "batch"), ("queue", "b")],
                &[(t0, 2.0), (t0 + 15_000, 2.0), (t0 + 30_000, 5.0)],
            ),
        ],
        metadata: vec![MetricMetadata {
            r#type: MetricType::Counter as i32,
            metric_family_name: "jobs_total".into(),
            help: "Jobs run.".into(),
            unit: String::new(),
        }],
    };
    assert_eq!(
        remote_write(&server, snappy(&request), &RW_HEADERS),
        (204, String::new())
    );

    let at = |seconds: i64| ((t0 / 1000) + seconds).to_string();
    let (status, body) = get(
        &server.http,
        "/prometheus/api/v1/query",
        &[("query", "sum(jobs_total)".into()), ("time", at(30))],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(body["data"]["result"][0]["value"][1], "15");
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "jobs_total{queue=\"a\"}".into()),
            ("start", at(0)),
            ("end", at(30)),
            ("step", "15s".into()),
        ],
    );
    assert_eq!(body["data"]["resultType"], "matrix");
    let values: Vec<&str> = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_str().unwrap())
        .collect();
    assert_eq!(values, ["1", "4", "10"]);
    assert_eq!(
        body["data"]["result"][0]["metric"]["__name__"],
        "jobs_total"
    );

    // POST form, as Grafana sends it.
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/prometheus/api/v1/query", server.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("query=count%28jobs_total%29&time={}", at(30)))
        .send()
        .unwrap();
    let body: Value = response.json().unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "2", "{body}");

    // Series, labels, label values, metadata, build info.
    let range = [("start", at(-60)), ("end", at(60))];
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/series",
        &[
            &range[..],
            &[("match[]", "jobs_total{queue=~\"a|b\"}".to_string())],
        ]
        .concat(),
    );
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["data"][0]["queue"], "a");
    let (_, body) = get(&server.http, "/prometheus/api/v1/labels", &range);
    assert_eq!(
        body["data"],
        serde_json::json!(["__name__", "job", "queue"])
    );
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/label/queue/values",
        &range,
    );
    assert_eq!(body["data"], serde_json::json!(["a", "b"]));
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/label/__name__/values",
        &range,
    );
    assert_eq!(body["data"], serde_json::json!(["jobs_total"]));
    let (_, body) = get(&server.http, "/prometheus/api/v1/metadata", &[]);
    assert_eq!(body["data"]["jobs_total"][0]["type"], "counter", "{body}");
    assert_eq!(body["data"]["jobs_total"][0]["help"], "Jobs run.");
    let (status, body) = get(&server.http, "/prometheus/api/v1/status/buildinfo", &[]);
    assert_eq!(status, 200);
    assert!(body["data"]["version"].as_str().unwrap().starts_with("2."));

    // Query errors, worded as Prometheus words them.
    let (status, body) = get(
        &server.http,
        "/prometheus/api/v1/query",
        &[("query", "sum(".into())],
    );
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );
    let (status, body) = get(&server.http, "/prometheus/api/v1/query", &[]);
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("query"), "{body}");
    let (status, body) = get(
        &server.http,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "up".into()),
            ("start", at(0)),
            ("end", at(30)),
            ("step", "0".into()),
        ],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("step"), "{body}");

    // Bad remote writes: each answered with the right status and a message.
    let (status, text) = remote_write(&server, b"not snappy at all".to_vec(), &RW_HEADERS);
    assert_eq!(status, 400);
    assert!(text.contains("snappy"), "{text}");
    let garbage = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff garbage")
        .unwrap();
    let (status, text) = remote_write(&server, garbage, &RW_HEADERS);
    assert_eq!(status, 400);
    assert!(text.contains("WriteRequest"), "{text}");
    let (status, text) = remote_write(
        &server,
        snappy(&request),
        &[
            (
                "content-type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("content-encoding", "snappy"),
        ],
    );
    assert_eq!(status, 415);
    assert!(text.contains("1.0"), "{text}");
    let (status, _) = remote_write(
        &server,
        snappy(&request),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "snappy"),
        ],
    );
    assert_eq!(status, 415);
    // A request mixing valid and invalid series: 400 naming the problem, the valid
    // series stored.
    let mixed = WriteRequest {
        timeseries: vec![
            series(&[("job", "nameless")], &[(t0, 1.0)]),
            series(&[("__name__", "mixed_ok"), ("job", "x")], &[(t0, 3.0)]),
            series(
                &[("__name__", "mixed_bad"), ("bad-label", "x")],
                &[(t0, 1.0)],
            ),
        ],
        metadata: Vec::new(),
    };
    let (status, text) = remote_write(&server, snappy(&mixed), &RW_HEADERS);
    assert_eq!(status, 400);
    assert!(
        text.contains("2 samples rejected") && text.contains("__name__"),
        "{text}"
    );
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/query",
        &[("query", "mixed_ok".into()), ("time", at(0))],
    );
    assert_eq!(body["data"]["result"][0]["value"][1], "3", "{body}");
    // Over the body limit (16 MiB decompressed by default): 413.
    let huge = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "huge"), ("blob", &"x".repeat(17 << 20))],
            &[(t0, 1.0)],
        )],
        metadata: Vec::new(),
    };
    let (status, _) = remote_write(&server, snappy(&huge), &RW_HEADERS);
    assert_eq!(status, 413);
    // Still serving.
    assert_eq!(remote_write(&server, snappy(&request), &RW_HEADERS).0, 204);
}

/// `scrape_configs` in vispyr.yaml: the real node_exporter scraped, its series
/// queryable with PromQL, `up` and the report series written, metadata typed.
#[test]
fn scrapes_node_exporter_from_config() {
    let temp = tempfile::tempdir().unwrap();
    let node_port = free_port();
    let _node = Guard::spawn("prometheus-node-exporter", {
        let mut command = Command::new("prometheus-node-exporter");
        command
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stderr(std::process::Stdio::null());
        command
    });
    wait_http_ok(
        &format!("http://127.0.0.1:{node_port}/metrics"),
        Duration::from_secs(20),
    );
    let config = format!(
        r#"scrape_configs:
  - job_name: node
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:{node_port}"]
        labels: {{team: infra}}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
"#
    );
    let server = Server::start_in(&temp.path().join("data"), &config);
    let query = |expr: &str| {
        get(
            &server.http,
            "/prometheus/api/v1/query",
            &[("query", expr.to_string())],
        )
        .1
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = query("count_over_time(up{job=\"node\"}[1m])");
        let scrapes = body["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0.0, |v| v.parse::<f64>().unwrap());
        if scrapes >= 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scrapes: {body}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let up = query("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let metric = &up["data"]["result"][0]["metric"];
    assert_eq!(metric["job"], "node");
    assert_eq!(metric["instance"], format!("127.0.0.1:{node_port}"));
    assert_eq!(metric["team"], "infra");
    let cpus = query("count(count by (cpu) (node_cpu_seconds_total))");
    let cpu_count: f64 = cpus["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        cpu_count >= 1.0 && cpu_count <= expected.max(cpu_count),
        "{cpus}"
    );
    let dropped = query("count({__name__=~\"go_.*\"})");
    assert_eq!(
        dropped["data"]["result"],
        serde_json::json!([]),
        "metric relabelling"
    );
    for report in ["scrape_duration_seconds", "scrape_samples_scraped"] {
        let body = query(report);
        assert_eq!(
            body["data"]["result"].as_array().unwrap().len(),
            1,
            "{report}: {body}"
        );
    }
    let (_, metadata) = get(
        &server.http,
        "/prometheus/api/v1/metadata",
        &[("metric", "node_cpu_seconds_total".into())],
    );
    assert_eq!(
        metadata["data"]["node_cpu_seconds_total"][0]["type"], "counter",
        "{metadata}"
    );
}

/// OTLP delta sums arrive as Prometheus counters: running totals per series.
#[test]
fn otlp_delta_sums_are_stored_as_cumulative_counters() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
        metric, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let start = (now_secs() as u64 - 30) * 1_000_000_000;
    let export = |delta: i64, offset_s: u64| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("billing".into())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "invoices".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            start_time_unix_nano: start + (offset_s - 10) * 1_000_000_000,
                            time_unix_nano: start + offset_s * 1_000_000_000,
                            value: Some(number_data_point::Value::AsInt(delta)),
                            ..NumberDataPoint::default()
                        }],
                        aggregation_temporality: AggregationTemporality::Delta as i32,
                        is_monotonic: true,
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    };
    for (delta, offset) in [(5, 10), (3, 20), (4, 30)] {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/v1/metrics", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(export(delta, offset).encode_to_vec())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "invoices_total{job=\"billing\"}".into()),
            ("start", ((start / 1_000_000_000) + 10).to_string()),
            ("end", ((start / 1_000_000_000) + 30).to_string()),
            ("step", "10".into()),
        ],
    );
    let values: Vec<&str> = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|pair| pair[1].as_str().unwrap())
        .collect();
    assert_eq!(values, ["5", "8", "12"], "{body}");
    let (_, body) = get(
        &server.http,
        "/prometheus/api/v1/query",
        &[
            ("query", "increase(invoices_total[25s])".into()),
            ("time", ((start / 1_000_000_000) + 30).to_string()),
        ],
    );
    assert!(
        body["data"]["result"][0]["value"][1].as_str().is_some(),
        "{body}"
    );
}
