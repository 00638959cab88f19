//! Crash safety: whatever was acknowledged survives SIGKILL exactly once, and a WAL
//! with a torn tail recovers everything before the tear.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use support::Server;

/// A request of `spans` spans, all in one trace whose id encodes `(sender, sequence)`.
fn request(sender: u8, sequence: u32, spans: usize) -> (String, Vec<u8>) {
    let mut trace_id = vec![0u8; 16];
    trace_id[0] = 0xa0 | sender;
    trace_id[12..16].copy_from_slice(&sequence.to_be_bytes());
    // Recent times: data older than the 30-day retention would be deleted on flush.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..spans)
        .map(|index| {
            let mut span_id = vec![0u8; 8];
            span_id[0] = 1;
            span_id[7] = index as u8;
            Span {
                trace_id: trace_id.clone(),
                span_id,
                name: format!("op-{index}"),
                kind: 2,
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1_000,
                attributes: vec![KeyValue {
                    key: "padding".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".repeat(200))),
                    }),
                    ..KeyValue::default()
                }],
                ..Span::default()
            }
        })
        .collect();
    let body = support::trace_request(&format!("sender-{sender}"), spans).encode_to_vec();
    (hex(&trace_id), body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Counts of stored spans per trace id.
fn stored(server: &Server) -> HashMap<String, u64> {
    server
        .rows("select trace_id, count(*) from spans group by trace_id")
        .into_iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_string(),
                row[1].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn acknowledged_spans_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Small, frequent flushes and compactions, so kills land in every phase.
    let mut server = Server::start_in(
        &dir.path().join("data"),
        "storage:\n  flush_max_bytes: 256KiB\n  flush_max_age: 1s\n  compaction_interval: 1s\n  compaction_min_segments: 2\nquery:\n  sql_row_limit: 1000000\n",
    );
    // trace id -> (spans in the request, acknowledged)
    let sent: Arc<Mutex<HashMap<String, (u64, bool)>>> = Arc::default();
    let mut sequence_base = 0u32;

    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for sender in 0..4u8 {
            let url = format!("{}/v1/traces", server.otlp_http);
            let sent = Arc::clone(&sent);
            let stop = Arc::clone(&stop);
            senders.push(std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut sequence = sequence_base;
                while !stop.load(Ordering::Relaxed) {
                    sequence += 1;
                    let spans = 1 + (sequence as usize % 17);
                    let (trace_id, body) = request(sender, sequence, spans);
                    sent.lock()
                        .unwrap()
                        .insert(trace_id.clone(), (spans as u64, false));
                    let response = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send();
                    match response {
                        Ok(response) if response.status().is_success() => {
                            sent.lock().unwrap().insert(trace_id, (spans as u64, true));
                        }
                        Ok(_) => {}
                        Err(_) => break, // the server is gone
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(1500 + round * 300));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.join().unwrap();
        }
        sequence_base += 1_000_000;
        server.restart();

        let counts = stored(&server);
        let sent = sent.lock().unwrap();
        let acked = sent.values().filter(|(_, acked)| *acked).count();
        assert!(
            acked > 50,
            "round {round}: only {acked} requests acknowledged"
        );
        for (trace_id, (spans, acknowledged)) in sent.iter() {
            let found = counts.get(trace_id).copied().unwrap_or(0);
            if *acknowledged {
                assert_eq!(
                    found, *spans,
                    "round {round}: acknowledged trace {trace_id} has {found} of {spans} spans"
                );
            } else {
                assert!(
                    found == 0 || found == *spans,
                    "round {round}: unacknowledged trace {trace_id} is partial ({found} of {spans})"
                );
            }
        }
        assert!(counts.keys().all(|trace_id| sent.contains_key(trace_id)));
    }
    // The kills must have hit a server that was flushing and compacting, not only
    // one holding everything in its WAL.
    let log = server.log();
    assert!(
        log.contains("flushed memtable"),
        "no flush happened:\n{log}"
    );
    assert!(
        log.contains("compacted segments"),
        "no compaction happened:\n{log}"
    );
}

#[test]
fn a_torn_wal_tail_keeps_everything_before_the_tear() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(&dir.path().join("data"), "storage:\n  flush_max_age: 1h\n");
    let client = reqwest::blocking::Client::new();
    let mut trace_ids = Vec::new();
    for sequence in 1..=5 {
        let (trace_id, body) = request(1, sequence, 3);
        let response = client
            .post(format!("{}/v1/traces", server.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        trace_ids.push(trace_id);
    }
    server.kill();

    // Cut the last record short, as a crash in the middle of its write would.
    let wal_dir = server.data_dir.join("wal");
    let largest = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .max_by_key(|path| std::fs::metadata(path).unwrap().len())
        .unwrap();
    let length = std::fs::metadata(&largest).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&largest)
        .unwrap();
    file.set_len(length - 7).unwrap();
    drop(file);

    server.restart();
    let counts = stored(&server);
    for trace_id in &trace_ids[..4] {
        assert_eq!(counts.get(trace_id), Some(&3), "{trace_id} lost");
    }
    assert_eq!(
        counts.get(&trace_ids[4]),
        None,
        "the torn record must not be replayed"
    );
    assert!(
        server.log().contains("dropped torn wal tail"),
        "{}",
        server.log()
    );
}
