//! Differential test against the real Prometheus 2.42 (`/usr/bin/prometheus`).
//!
//! Synthetic data is written as OpenMetrics, turned into TSDB blocks with
//! `promtool tsdb create-blocks-from openmetrics`, served by a Prometheus on a
//! free port, and loaded into an in-memory storage. Every query of
//! `tests/corpus.promql` runs through both at the same times; all mismatches
//! are reported before the test fails.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::MemStorage;
use serde_json::Value as Json;
use vispyr_promql::{Engine, STALE_NAN_BITS, result_json};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
/// Start of the data, a whole hour (seconds).
const T0: i64 = 1_699_999_200;
/// Length of the data (seconds).
const SPAN: i64 = 2 * 3600;

/// Deterministic pseudo-random numbers (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

type RawSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Timestamps in ms every `interval_s` from `from_s` to `to_s` (relative to T0), shifted by `jitter_ms`.
fn times(from_s: i64, to_s: i64, interval_s: i64, jitter_ms: i64) -> Vec<i64> {
    (from_s..to_s)
        .step_by(interval_s as usize)
        .map(|s| (T0 + s) * 1000 + jitter_ms)
        .collect()
}

fn generate() -> Vec<RawSeries> {
    let mut rng = Lcg(42);
    let mut out: Vec<RawSeries> = Vec::new();
    let mut index = 0;
    // Counters with resets and jittered scrapes.
    for job in ["api", "web"] {
        for instance in ["a:80", "b:80"] {
            for method in ["GET", "POST"] {
                for code in ["200", "500"] {
                    index += 1;
                    let jitter = (index * 137) % 2000;
                    let mut value = (index * 10) as f64;
                    let mut samples = Vec::new();
                    for (i, t) in times(0, SPAN, 15, jitter).into_iter().enumerate() {
                        let rate = if code == "200" { 5.0 } else { 0.5 };
                        value += (rng.next_f64() * rate * 15.0).floor();
                        // A counter reset in a few series.
                        if index % 5 == 0 && i == 200 {
                            value = (rng.next_f64() * 3.0).floor();
                        }
                        samples.push((t, value));
                    }
                    let l = labels(&[
                        ("__name__", "http_requests_total"),
                        ("code", code),
                        ("instance", instance),
                        ("job", job),
                        ("method", method),
                    ]);
                    out.push((l, samples));
                }
            }
        }
    }
    // Gauges, one with a gap longer than the lookback and one that ends early.
    for (n, (instance, location)) in [("s1", "kitchen"), ("s2", "garage"), ("s3", "attic")]
        .into_iter()
        .enumerate()
    {
        let mut samples = Vec::new();
        for t in times(0, SPAN, 30, (n as i64) * 500) {
            let rel = (t / 1000 - T0) as f64;
            if instance == "s3" && (1800.0..3300.0).contains(&rel) {
                continue;
            }
            if instance == "s2" && rel > 5400.0 {
                continue;
            }
            let v = 20.0
                + 5.0 * (rel / 900.0 + n as f64).sin()
                + (rng.next_f64() * 10.0).round() / 10.0;
            samples.push((t, v));
        }
        let l = labels(&[
            ("__name__", "temperature_celsius"),
            ("instance", instance),
            ("job", "sensors"),
            ("location", location),
        ]);
        out.push((l, samples));
    }
    // Classic histograms.
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for instance in ["a:80", "b:80"] {
        let mut counts = [0.0f64; 7];
        let mut sum = 0.0;
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 7];
        let mut sums = Vec::new();
        let mut totals = Vec::new();
        for t in times(0, SPAN, 15, 250) {
            let observations = (rng.next_f64() * 20.0).floor() as usize;
            for _ in 0..observations {
                let x = rng.next_f64() * rng.next_f64() * 3.0;
                sum += x;
                for (i, b) in bounds.iter().enumerate() {
                    let upper: f64 = if *b == "+Inf" {
                        f64::INFINITY
                    } else {
                        b.parse().unwrap_or(0.0)
                    };
                    if x <= upper {
                        counts[i] += 1.0;
                    }
                }
            }
            for i in 0..7 {
                per_bucket[i].push((t, counts[i]));
            }
            sums.push((t, (sum * 1000.0).round() / 1000.0));
            totals.push((t, counts[6]));
        }
        for (i, b) in bounds.iter().enumerate() {
            let l = labels(&[
                ("__name__", "request_duration_seconds_bucket"),
                ("instance", instance),
                ("job", "api"),
                ("le", b),
            ]);
            out.push((l, per_bucket[i].clone()));
        }
        out.push((
            labels(&[
                ("__name__", "request_duration_seconds_sum"),
                ("instance", instance),
                ("job", "api"),
            ]),
            sums,
        ));
        out.push((
            labels(&[
                ("__name__", "request_duration_seconds_count"),
                ("instance", instance),
                ("job", "api"),
            ]),
            totals,
        ));
    }
    // up, and a gauge with special values.
    for (job, instance) in [
        ("api", "a:80"),
        ("api", "b:80"),
        ("web", "a:80"),
        ("web", "b:80"),
        ("sensors", "s1"),
    ] {
        let samples = times(0, SPAN, 15, 0)
            .into_iter()
            .map(|t| {
                let down = instance == "b:80" && job == "web" && (t / 1000 - T0) > 4000;
                (t, if down { 0.0 } else { 1.0 })
            })
            .collect();
        out.push((
            labels(&[("__name__", "up"), ("instance", instance), ("job", job)]),
            samples,
        ));
    }
    let mut special = Vec::new();
    for (i, t) in times(0, SPAN, 60, 0).into_iter().enumerate() {
        let v = match i % 10 {
            3 => f64::NAN,
            6 => f64::INFINITY,
            8 => -1.5,
            _ => i as f64 / 4.0,
        };
        special.push((t, v));
    }
    out.push((
        labels(&[("__name__", "special_values"), ("kind", "mixed")]),
        special,
    ));
    for (instance, depth) in [("a:80", 3.0), ("b:80", 7.0)] {
        let samples = times(0, SPAN, 20, 0)
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, depth + (i % 7) as f64 - (rng.next_f64() * 2.0).floor()))
            .collect();
        out.push((
            labels(&[
                ("__name__", "queue_length"),
                ("instance", instance),
                ("job", "api"),
            ]),
            samples,
        ));
    }
    // Two series that differ only by name and never overlap in time.
    for (name, from, to) in [
        ("disk_reads_total", 0, 1800),
        ("disk_writes_total", 3600, SPAN),
    ] {
        let samples = times(from, to, 30, 0)
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, (i * 3) as f64))
            .collect();
        out.push((
            labels(&[("__name__", name), ("device", "sda"), ("instance", "a:80")]),
            samples,
        ));
    }
    out
}

/// Series written through remote write after the block's range, with
/// staleness markers (which OpenMetrics cannot express).
fn generate_stale() -> Vec<RawSeries> {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let start = SPAN;
    let mut gauge = Vec::new();
    let mut counter = Vec::new();
    for (i, t) in times(start, start + 1800, 15, 0).into_iter().enumerate() {
        let rel = t / 1000 - T0 - start;
        if (615..1200).contains(&rel) {
            continue;
        }
        if rel == 600 {
            gauge.push((t, stale));
            counter.push((t, stale));
            continue;
        }
        gauge.push((t, (i % 9) as f64));
        counter.push((t, (i * 4) as f64));
    }
    vec![
        (
            labels(&[("__name__", "stale_gauge"), ("job", "stale")]),
            gauge,
        ),
        (
            labels(&[("__name__", "stale_requests_total"), ("job", "stale")]),
            counter,
        ),
    ]
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a length-delimited protobuf field.
fn put_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(buf, (field << 3) | 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A remote-write `WriteRequest` (prometheus/prompb), encoded by hand.
fn encode_write_request(data: &[RawSeries]) -> Vec<u8> {
    let mut request = Vec::new();
    for (labels, samples) in data {
        let mut series = Vec::new();
        for (name, value) in labels {
            let mut label = Vec::new();
            put_bytes(&mut label, 1, name.as_bytes());
            put_bytes(&mut label, 2, value.as_bytes());
            put_bytes(&mut series, 1, &label);
        }
        for (t, v) in samples {
            let mut sample = Vec::new();
            put_varint(&mut sample, 1 << 3 | 1);
            sample.extend_from_slice(&v.to_bits().to_le_bytes());
            put_varint(&mut sample, 2 << 3);
            put_varint(&mut sample, *t as u64);
            put_bytes(&mut series, 2, &sample);
        }
        put_bytes(&mut request, 1, &series);
    }
    request
}

fn remote_write(port: u16, data: &[RawSeries]) {
    let body = snap::raw::Encoder::new()
        .compress_vec(&encode_write_request(data))
        .expect("snappy compression");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to prometheus");
    let head = format!(
        "POST /api/v1/write HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .expect("send remote write");
    stream.write_all(&body).expect("send remote write");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read remote write response");
    assert!(
        response.starts_with("HTTP/1.0 204") || response.starts_with("HTTP/1.1 204"),
        "remote write failed: {response}"
    );
}

fn format_openmetrics_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn write_openmetrics(data: &[RawSeries]) -> String {
    let mut text = String::new();
    for (labels, samples) in data {
        let name = &labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .expect("every series has a name")
            .1;
        let rest: Vec<String> = labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        for (t, v) in samples {
            let seconds = format!("{}.{:03}", t / 1000, t % 1000);
            let _ = writeln!(
                text,
                "{name}{{{}}} {} {seconds}",
                rest.join(","),
                format_openmetrics_value(*v)
            );
        }
    }
    text.push_str("# EOF\n");
    text
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A GET over HTTP/1.0 (no chunked encoding); returns status and body.
fn http_get(port: u16, path_and_query: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn start_prometheus(dir: &Path) -> Prometheus {
    let data_file = dir.join("data.om");
    let blocks = dir.join("tsdb");
    std::fs::create_dir_all(&blocks).expect("create tsdb dir");
    let status = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data_file)
        .arg(&blocks)
        .stdout(Stdio::null())
        .status()
        .expect("run promtool");
    assert!(status.success(), "promtool failed to create blocks");
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  evaluation_interval: 1m\n").expect("write config");
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("create log");
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", blocks.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg("--web.enable-remote-write-receiver")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let prometheus = Prometheus { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = http_get(port, "/-/ready") {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    prometheus
}

fn parse_value(s: &Json) -> f64 {
    match s.as_str().unwrap_or("") {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

fn parse_ts(j: &Json) -> i64 {
    (j.as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64
}

fn values_close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a - b).abs() <= 1e-12
}

fn metric_key(j: &Json) -> String {
    let mut pairs: Vec<(String, String)> = j
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Queries whose result order Prometheus defines.
fn is_ordered(query: &str) -> bool {
    let q = query.trim_start();
    q.starts_with("sort") || q.starts_with("topk") || q.starts_with("bottomk")
}

/// Compares two `data` objects; returns a description of the first difference.
fn compare_data(query: &str, expected: &Json, actual: &Json) -> Option<String> {
    let expected_type = expected["resultType"].as_str().unwrap_or("");
    let actual_type = actual["resultType"].as_str().unwrap_or("");
    if expected_type != actual_type {
        return Some(format!("result type {actual_type} != {expected_type}"));
    }
    let er = &expected["result"];
    let ar = &actual["result"];
    match expected_type {
        "scalar" | "string" => {
            if parse_ts(&er[0]) != parse_ts(&ar[0]) {
                return Some(format!("timestamp {} != {}", ar[0], er[0]));
            }
            let same = if expected_type == "scalar" {
                values_close(parse_value(&er[1]), parse_value(&ar[1]))
            } else {
                er[1] == ar[1]
            };
            (!same).then(|| format!("value {} != {}", ar[1], er[1]))
        }
        "vector" => {
            let empty = Vec::new();
            let ev = er.as_array().unwrap_or(&empty);
            let av = ar.as_array().unwrap_or(&empty);
            if ev.len() != av.len() {
                return Some(format!(
                    "{} samples != {} expected: got {} want {}",
                    av.len(),
                    ev.len(),
                    ar,
                    er
                ));
            }
            let expected_map: HashMap<String, &Json> = ev
                .iter()
                .map(|s| (metric_key(&s["metric"]), &s["value"]))
                .collect();
            for s in av {
                let key = metric_key(&s["metric"]);
                let Some(want) = expected_map.get(&key) else {
                    return Some(format!("unexpected series {key}; want {er}"));
                };
                if parse_ts(&want[0]) != parse_ts(&s["value"][0]) {
                    return Some(format!("{key}: timestamp {} != {}", s["value"][0], want[0]));
                }
                if !values_close(parse_value(&want[1]), parse_value(&s["value"][1])) {
                    return Some(format!("{key}: value {} != {}", s["value"][1], want[1]));
                }
            }
            if is_ordered(query) {
                for (i, (e, a)) in ev.iter().zip(av).enumerate() {
                    if !values_close(parse_value(&e["value"][1]), parse_value(&a["value"][1])) {
                        return Some(format!("order differs at {i}: got {ar} want {er}"));
                    }
                }
            }
            None
        }
        "matrix" => {
            let empty = Vec::new();
            let em = er.as_array().unwrap_or(&empty);
            let am = ar.as_array().unwrap_or(&empty);
            let expected_map: HashMap<String, &Json> = em
                .iter()
                .map(|s| (metric_key(&s["metric"]), &s["values"]))
                .collect();
            let actual_map: HashMap<String, &Json> = am
                .iter()
                .map(|s| (metric_key(&s["metric"]), &s["values"]))
                .collect();
            for key in expected_map.keys() {
                if !actual_map.contains_key(key) {
                    return Some(format!("missing series {key}"));
                }
            }
            for (key, values) in &actual_map {
                let Some(want) = expected_map.get(key) else {
                    return Some(format!("unexpected series {key}"));
                };
                let got = values.as_array().unwrap_or(&empty);
                let want = want.as_array().unwrap_or(&empty);
                if got.len() != want.len() {
                    let got_ts: Vec<i64> = got.iter().map(|p| parse_ts(&p[0])).collect();
                    let want_ts: Vec<i64> = want.iter().map(|p| parse_ts(&p[0])).collect();
                    return Some(format!(
                        "{key}: {} points != {}: got {got_ts:?} want {want_ts:?}",
                        got.len(),
                        want.len()
                    ));
                }
                for (g, w) in got.iter().zip(want) {
                    if parse_ts(&g[0]) != parse_ts(&w[0])
                        || !values_close(parse_value(&g[1]), parse_value(&w[1]))
                    {
                        return Some(format!("{key}: point {g} != {w}"));
                    }
                }
            }
            None
        }
        other => Some(format!("unknown result type {other}")),
    }
}

fn load_corpus() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus.promql"))
        .expect("read corpus");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// One evaluation of a query: an instant time or a range.
#[derive(Debug, Clone, Copy)]
enum Eval {
    Instant(i64),
    Range(i64, i64, i64),
}

#[test]
fn differential_against_prometheus_2_42() {
    assert!(
        Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists(),
        "the differential test needs {PROMETHEUS} and {PROMTOOL} (Prometheus 2.42)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let data = generate();
    std::fs::write(dir.path().join("data.om"), write_openmetrics(&data))
        .expect("write openmetrics");
    let mut storage = MemStorage::default();
    for (l, samples) in &data {
        let pairs: Vec<(&str, &str)> = l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        storage.add(&pairs, samples);
    }
    let prometheus = start_prometheus(dir.path());
    let stale_data = generate_stale();
    remote_write(prometheus.port, &stale_data);
    for (l, samples) in &stale_data {
        let pairs: Vec<(&str, &str)> = l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        storage.add(&pairs, samples);
    }
    let engine = Engine::default();
    let evals = [
        Eval::Instant((T0 + 1800) * 1000),
        Eval::Instant((T0 + 2900) * 1000 + 500),
        Eval::Instant((T0 + SPAN) * 1000),
        Eval::Range((T0 + 600) * 1000, (T0 + SPAN + 300) * 1000, 90_000),
        Eval::Range((T0 + 1234) * 1000 + 321, (T0 + SPAN) * 1000, 37_000),
        // Just after the staleness markers of the remote-written series.
        Eval::Instant((T0 + SPAN + 630) * 1000),
        Eval::Range((T0 + SPAN) * 1000, (T0 + SPAN + 1800) * 1000, 20_000),
    ];
    let corpus = load_corpus();
    assert!(
        corpus.len() >= 150,
        "corpus has only {} queries",
        corpus.len()
    );
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut non_empty = 0;
    for query in &corpus {
        for eval in evals {
            let (path, ours) = match eval {
                Eval::Instant(t) => (
                    format!(
                        "/api/v1/query?query={}&time={}",
                        percent_encode(query),
                        t as f64 / 1000.0
                    ),
                    futures::executor::block_on(engine.instant(&storage, query, t)),
                ),
                Eval::Range(start, end, step) => (
                    format!(
                        "/api/v1/query_range?query={}&start={}&end={}&step={}",
                        percent_encode(query),
                        start as f64 / 1000.0,
                        end as f64 / 1000.0,
                        step as f64 / 1000.0
                    ),
                    futures::executor::block_on(engine.range(&storage, query, start, end, step)),
                ),
            };
            let (_, body) = http_get(prometheus.port, &path).expect("query prometheus");
            let theirs: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            compared += 1;
            if theirs["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                non_empty += 1;
            }
            let problem = match (&theirs["status"].as_str(), &ours) {
                (Some("success"), Ok(value)) => {
                    compare_data(query, &theirs["data"], &result_json(value))
                }
                (Some("error"), Err(err)) => {
                    let want = theirs["errorType"].as_str().unwrap_or("");
                    (want != err.error_type())
                        .then(|| format!("error type {} != {want} ({err})", err.error_type()))
                }
                (Some("success"), Err(err)) => Some(format!(
                    "we failed ({err}), prometheus returned {}",
                    theirs["data"]
                )),
                (Some("error"), Ok(_)) => Some(format!(
                    "we succeeded, prometheus failed: {}",
                    theirs["error"]
                )),
                _ => Some(format!("bad prometheus response: {body}")),
            };
            if let Some(problem) = problem {
                mismatches.push(format!("{query}  @ {eval:?}: {problem}"));
            }
        }
    }
    drop(prometheus);
    eprintln!("compared {compared} evaluations, {non_empty} with non-empty vector/matrix results");
    if !mismatches.is_empty() {
        panic!(
            "{} of {compared} evaluations differ from Prometheus:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}
