//! Logs against the real binary: Loki push (JSON and snappy protobuf), the native
//! log API (search, paging, filters, volume, live tail), the text index, trace↔log
//! correlation, and bad input.

mod support;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::{Value, json};
use support::Server;
use vispyr_proto::loki::{Entry, LabelPair, PushRequest, Stream, Timestamp};

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn push_json(server: &Server, body: &Value) -> (u16, String) {
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn push_protobuf(server: &Server, request: &PushRequest) -> (u16, String) {
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap();
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(compressed)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn get(server: &Server, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", server.http))
        .query(query)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn search(server: &Server, query: &[(&str, &str)]) -> Vec<Value> {
    let (status, body) = get(server, "/api/v1/logs/search", query);
    assert_eq!(status, 200, "{body}");
    body["logs"].as_array().unwrap().clone()
}

fn bodies(logs: &[Value]) -> Vec<&str> {
    logs.iter().map(|l| l["body"].as_str().unwrap()).collect()
}

/// The value of a counter of the server's own `/metrics`.
fn self_metric(server: &Server, name: &str) -> f64 {
    let text = client()
        .get(format!("{}/metrics", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn loki_push_json_and_protobuf_reach_the_log_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let t = now_ns() - 60_000_000_000;
    let trace = "0102030405060708090a0b0c0d0e0f10";
    let (status, text) = push_json(
        &server,
        &json!({"streams": [{
        "stream": {"job": "checkout", "env": "prod", "level": "info"},
        "values": [
            [(t + 1).to_string(), "order 17 placed"],
            [(t + 2).to_string(), "order 18 placed", {"trace_id": trace, "user": "ann"}],
        ]}]}),
    );
    assert_eq!(status, 204, "{text}");
    let (status, text) = push_protobuf(
        &server,
        &PushRequest {
            streams: vec![Stream {
                labels: r#"{service_name="payments", region="eu"}"#.into(),
                entries: vec![Entry {
                    timestamp: Some(Timestamp {
                        seconds: (t + 3) / 1_000_000_000,
                        nanos: ((t + 3) % 1_000_000_000) as i32,
                    }),
                    line: "card declined for order 18".into(),
                    structured_metadata: vec![LabelPair {
                        name: "level".into(),
                        value: "error".into(),
                    }],
                }],
                hash: 0,
            }],
        },
    );
    assert_eq!(status, 204, "{text}");

    let logs = search(&server, &[]);
    assert_eq!(
        bodies(&logs),
        vec![
            "card declined for order 18",
            "order 18 placed",
            "order 17 placed"
        ],
        "newest first"
    );
    let declined = &logs[0];
    assert_eq!(declined["service_name"], "payments");
    assert_eq!(declined["level"], "error");
    assert_eq!(declined["severity_number"], 17);
    assert_eq!(declined["resource"]["region"], "eu");
    let placed = &logs[1];
    assert_eq!(
        placed["service_name"], "checkout",
        "service from the job label"
    );
    assert_eq!(placed["trace_id"], trace);
    assert_eq!(placed["attributes"]["user"], "ann");
    assert_eq!(placed["level"], "info");

    // Filters: service, level, text (every mode), attributes, trace id.
    let only = |query: &[(&str, &str)]| bodies(&search(&server, query)).len();
    assert_eq!(only(&[("service", "checkout")]), 2);
    assert_eq!(only(&[("service", "checkout"), ("service", "payments")]), 3);
    assert_eq!(only(&[("level", "warn")]), 1);
    assert_eq!(only(&[("q", "ORDER 18")]), 2, "icontains by default");
    assert_eq!(only(&[("q", "ORDER 18"), ("match", "contains")]), 0);
    assert_eq!(only(&[("q", "declined order"), ("match", "words")]), 1);
    assert_eq!(
        only(&[("q", "declin"), ("match", "words")]),
        0,
        "whole words"
    );
    assert_eq!(only(&[("q", "order 1[78] placed"), ("match", "regex")]), 2);
    assert_eq!(only(&[("attr", "env=prod")]), 2, "resource attribute");
    assert_eq!(only(&[("attr", "user=~a.*")]), 1, "log attribute");
    assert_eq!(only(&[("attr", "env!=prod")]), 1);
    assert_eq!(only(&[("trace_id", trace)]), 1);
    assert_eq!(only(&[("q", "50%_")]), 0, "LIKE wildcards are literal");
}

#[test]
fn paging_volume_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let t = now_ns() - 600_000_000_000;
    // 25 lines: five share one timestamp so the cursor must split a tie.
    let values: Vec<Value> = (0..25)
        .map(|i| {
            let time = t + (i.min(20) as i64) * 1_000_000_000;
            json!([time.to_string(), format!("line {i}"), {"level": if i % 5 == 0 { "error" } else { "info" }}])
        })
        .collect();
    let (status, text) = push_json(
        &server,
        &json!({"streams": [{"stream": {"job": "pager"}, "values": values}]}),
    );
    assert_eq!(status, 204, "{text}");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "4")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let (status, page) = get(&server, "/api/v1/logs/search", &query);
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for log in page["logs"].as_array().unwrap() {
            seen.push(log["body"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(pages, 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "every line exactly once: {seen:?}");
    assert_eq!(seen.len(), 25);

    let base = t / 1_000_000_000 / 10 * 10;
    let (start, end) = (base.to_string(), (base + 60).to_string());
    let (status, volume) = get(
        &server,
        "/api/v1/logs/volume",
        &[("start", &start), ("end", &end), ("interval", "10s")],
    );
    assert_eq!(status, 200, "{volume}");
    assert_eq!(volume["interval_ms"], 10_000);
    let total = |level: &str| -> u64 {
        volume["levels"][level]
            .as_array()
            .map(|v| v.iter().map(|n| n.as_u64().unwrap()).sum())
            .unwrap_or(0)
    };
    assert_eq!(total("error"), 5);
    assert_eq!(total("info"), 20);
    assert_eq!(volume["times"].as_array().unwrap().len(), 6);

    // Bad input: clear 4xx answers, and the server keeps serving.
    let bad = |status: u16, body: &str| assert!(status == 400, "{status}: {body}");
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(vec![0xff, 0xff, 0xff, 0x01, 0x02])
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    bad(status, &text);
    assert!(text.contains("snappy"), "{text}");
    let (status, text) = push_json(&server, &json!({"streams": "nope"}));
    bad(status, &text);
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().unwrap().contains("JSON"));
    let response = client()
        .post(format!("{}/loki/api/v1/push", server.http))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    // A push with one bad stream stores the good one and says what was wrong.
    let (status, text) = push_json(
        &server,
        &json!({"streams": [
            {"stream": {}, "values": [["1", "no labels"]]},
            {"stream": {"job": "pager"}, "values": [[(t + 30_000_000_000i64).to_string(), "kept line"]]}]}),
    );
    assert_eq!(status, 400);
    assert!(text.contains("at least one label"), "{text}");
    assert_eq!(search(&server, &[("q", "kept line")]).len(), 1);

    for (query, needle) in [
        (vec![("q", "("), ("match", "regex")], "regular expression"),
        (vec![("match", "fuzzy"), ("q", "x")], "match"),
        (vec![("attr", "nope")], "attr"),
        (vec![("level", "loud")], "level"),
        (vec![("cursor", "zzz")], "cursor"),
        (vec![("trace_id", "xyz")], "hex"),
        (vec![("limit", "0")], "limit"),
    ] {
        let (status, body) = get(&server, "/api/v1/logs/search", &query);
        assert_eq!(status, 400, "{query:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{query:?}: {body}"
        );
    }
}

#[test]
fn live_tail_delivers_new_matching_lines_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let url = format!("{}/api/v1/logs/tail?service=tailed&level=warn", server.http);
    let (sender, receiver) = mpsc::channel::<(Instant, Value)>();
    std::thread::spawn(move || {
        let response = reqwest::blocking::Client::new().get(url).send().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        for line in BufReader::new(response).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:") {
                let value: Value = serde_json::from_str(data.trim()).unwrap();
                if sender.send((Instant::now(), value)).is_err() {
                    return;
                }
            }
        }
    });
    // Give the subscription a moment to be registered, then write.
    std::thread::sleep(Duration::from_millis(500));
    let t = now_ns();
    let sent_at = Instant::now();
    let (status, text) = push_json(
        &server,
        &json!({"streams": [
            {"stream": {"job": "tailed"}, "values": [
                [t.to_string(), "quiet info line", {"level": "info"}],
                [(t + 1).to_string(), "disk almost full", {"level": "warn"}]]},
            {"stream": {"job": "other"}, "values": [[t.to_string(), "other service", {"level": "error"}]]}]}),
    );
    assert_eq!(status, 204, "{text}");
    let (arrived, record) = receiver
        .recv_timeout(Duration::from_secs(5))
        .expect("tail delivered nothing");
    assert_eq!(record["body"], "disk almost full");
    assert_eq!(record["service_name"], "tailed");
    assert!(
        arrived.duration_since(sent_at) < Duration::from_secs(1),
        "tail took {:?}",
        arrived.duration_since(sent_at)
    );
    assert!(
        receiver.recv_timeout(Duration::from_millis(700)).is_err(),
        "only the matching line is tailed"
    );
}

#[test]
fn text_index_skips_segments_without_the_term() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(
        &dir.path().join("data"),
        "storage:\n  flush_max_age: 1h\n  compaction_interval: 1h\n",
    );
    let t = now_ns() - 120_000_000_000;
    // Three segments (a restart flushes the memtable); the rare id is in one.
    for segment in 0..3i64 {
        let values: Vec<Value> = (0..200)
            .map(|i| {
                let line = if segment == 1 && i == 57 {
                    "payment failed for request a7f3c9e1d2".to_string()
                } else {
                    format!("GET /api/items/{i} 200 segment {segment}")
                };
                json!([(t + segment * 1_000_000 + i).to_string(), line])
            })
            .collect();
        let (status, text) = push_json(
            &server,
            &json!({"streams": [{"stream": {"job": "indexed"}, "values": values}]}),
        );
        assert_eq!(status, 204, "{text}");
        server.stop();
        server.restart();
    }
    assert_eq!(
        self_metric(&server, "vispyr_segments{signal=\"logs\"}"),
        3.0
    );
    let skipped_before = self_metric(&server, "vispyr_text_index_row_groups_skipped_total");
    let read_before = self_metric(&server, "vispyr_text_index_row_groups_read_total");
    let hits = search(&server, &[("q", "A7F3C9E1D2"), ("match", "words")]);
    assert_eq!(bodies(&hits), vec!["payment failed for request a7f3c9e1d2"]);
    let skipped =
        self_metric(&server, "vispyr_text_index_row_groups_skipped_total") - skipped_before;
    let read = self_metric(&server, "vispyr_text_index_row_groups_read_total") - read_before;
    assert_eq!(read, 1.0, "only the segment with the term is read");
    assert_eq!(skipped, 2.0);
    // SQL gets the same pruning: `has_token`, and LIKE through the words of its
    // needle that are whole words ("request" here; the id may continue).
    let rows = server.rows("SELECT body FROM logs WHERE body LIKE '%for request a7f3c9e1d2%'");
    assert_eq!(rows.len(), 1);
    let skipped =
        self_metric(&server, "vispyr_text_index_row_groups_skipped_total") - skipped_before;
    assert_eq!(skipped, 4.0);
    let rows = server.rows("SELECT count(*) FROM logs WHERE has_token(body, 'segment')");
    assert_eq!(rows[0][0], 599, "every line but the rare one");
    // A needle with no whole word cannot prune, and still finds the line.
    let hits = search(&server, &[("q", "7f3c9e1")]);
    assert_eq!(hits.len(), 1);
}
