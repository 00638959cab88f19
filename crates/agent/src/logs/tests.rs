//! The tailer against real files in a temp dir: rotation, truncation,
//! checkpoints across restarts, bad input, and the send loop against an
//! in-memory sink.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

use super::*;
use crate::outgoing::{Outgoing, SendFuture};

/// One record as the server would see it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    host: String,
    body: String,
    severity_number: i32,
    attributes: BTreeMap<String, String>,
}

fn decode(outgoing: &Outgoing) -> Vec<Got> {
    assert_eq!(outgoing.path_and_query, "/v1/logs");
    assert_eq!(outgoing.content_encoding.as_deref(), Some("gzip"));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&outgoing.body[..])
        .read_to_end(&mut bytes)
        .unwrap();
    let request = ExportLogsServiceRequest::decode(&bytes[..]).unwrap();
    let text = |value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match value
        .as_ref()
        .and_then(|v| v.value.as_ref())
    {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        other => format!("{other:?}"),
    };
    let mut got = Vec::new();
    for resource in request.resource_logs {
        let resource_attributes: BTreeMap<String, String> = resource
            .resource
            .unwrap()
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), text(&kv.value)))
            .collect();
        for scope in resource.scope_logs {
            for record in scope.log_records {
                got.push(Got {
                    service: resource_attributes["service.name"].clone(),
                    host: resource_attributes["host.name"].clone(),
                    body: text(&record.body),
                    severity_number: record.severity_number,
                    attributes: record
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(&kv.value)))
                        .collect(),
                });
            }
        }
    }
    got
}

fn bodies(got: &[Got]) -> Vec<String> {
    got.iter().map(|g| g.body.clone()).collect()
}

fn config(pattern: &Path) -> LogsConfig {
    LogsConfig {
        sources: vec![LogSource {
            service: None,
            pattern: pattern.to_string_lossy().into_owned(),
        }],
        ..LogsConfig::default()
    }
}

/// Drives a tailer with a clock that moves past the idle flush and the
/// batch interval at every step, committing every batch.
struct Driver {
    tailer: Tailer,
    now: Instant,
    tick: Duration,
}

impl Driver {
    fn new(config: LogsConfig, data_dir: &Path) -> Driver {
        let tick = config.flush_idle.max(config.batch_interval) + Duration::from_secs(1);
        Driver {
            tailer: Tailer::new(config, data_dir, "host-1").unwrap(),
            now: Instant::now(),
            tick,
        }
    }

    /// Steps until nothing more is sent; returns what was.
    fn drain(&mut self) -> Vec<Got> {
        let mut got = Vec::new();
        let mut quiet_steps = 0;
        while quiet_steps < 3 {
            self.now += self.tick;
            match self.tailer.step(self.now) {
                Some(sealed) => {
                    got.extend(decode(&sealed.request));
                    self.tailer.commit(&sealed);
                    self.tailer.save_if_dirty();
                    quiet_steps = 0;
                }
                None => quiet_steps += 1,
            }
        }
        got
    }

    /// One step at the current time, sealing nothing that is not due.
    fn step_without_sending(&mut self) -> Option<Sealed> {
        self.now += Duration::from_millis(1);
        self.tailer.step(self.now)
    }
}

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn lines(prefix: &str, range: std::ops::Range<usize>) -> (String, Vec<String>) {
    let expected: Vec<String> = range.map(|i| format!("{prefix} line {i}")).collect();
    let text = expected.iter().map(|l| format!("{l}\n")).collect();
    (text, expected)
}

fn checkpoint_offsets(data_dir: &Path) -> BTreeMap<PathBuf, u64> {
    let text = std::fs::read_to_string(data_dir.join("logs/checkpoints.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                PathBuf::from(f["path"].as_str().unwrap()),
                f["offset"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn first_run_starts_at_the_end_of_existing_files_and_at_the_start_of_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let data = dir.path().join("data");
    append(&logs.join("old.log"), "written before the agent ever ran\n");
    let mut driver = Driver::new(config(&logs.join("*.log")), &data);
    assert!(driver.drain().is_empty());
    assert!(data.join("logs/checkpoints.json").exists(), "saved at once");

    append(&logs.join("old.log"), "appended later\n");
    append(&logs.join("new.log"), "new file line 1\nnew file line 2\n");
    let got = driver.drain();
    let of_file = |name: &str| -> Vec<String> {
        got.iter()
            .filter(|g| g.attributes["log.file.name"] == name)
            .map(|g| g.body.clone())
            .collect()
    };
    assert_eq!(of_file("old.log"), ["appended later"]);
    assert_eq!(of_file("new.log"), ["new file line 1", "new file line 2"]);
    assert_eq!(got.len(), 3);
    let new = got.iter().find(|g| g.body == "new file line 1").unwrap();
    assert_eq!(new.service, "new");
    assert_eq!(new.host, "host-1");
    assert_eq!(new.attributes["log.file.name"], "new.log");
    assert_eq!(
        new.attributes["log.file.path"],
        logs.join("new.log").to_string_lossy()
    );

    // A file that appears while the agent is down is read from its start.
    drop(driver);
    append(&logs.join("later.log"), "while down\n");
    let mut driver = Driver::new(config(&logs.join("*.log")), &data);
    assert_eq!(bodies(&driver.drain()), ["while down"]);
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_then_the_new_one_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();

    let (first, mut expected) = lines("before", 0..3);
    append(&path, &first);
    let mut got = driver.drain();

    // The writer still has the old file open after the rename and writes
    // two more lines to it before reopening.
    let mut writer = OpenOptions::new().append(true).open(&path).unwrap();
    let rotated = dir.path().join("app.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    let (late, late_expected) = lines("late", 0..2);
    writer.write_all(late.as_bytes()).unwrap();
    let (fresh, fresh_expected) = lines("after", 0..3);
    append(&path, &fresh);
    expected.extend(late_expected);
    expected.extend(fresh_expected);
    got.extend(driver.drain());
    assert_eq!(bodies(&got), expected);
    for record in &got {
        // The old file's lines keep the path they were written under.
        assert_eq!(record.attributes["log.file.name"], "app.log");
        assert_eq!(record.service, "app");
    }
    // The rotated file was forgotten once drained; only the new one is left.
    let offsets = checkpoint_offsets(&data);
    assert_eq!(offsets.len(), 1, "{offsets:?}");
    assert_eq!(offsets[&path], fresh.len() as u64);
}

#[test]
fn a_file_rotated_while_the_agent_was_stopped_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    append(&path, "sent\n");
    assert_eq!(bodies(&driver.drain()), ["sent"]);
    drop(driver);

    append(&path, "written before the rename\n");
    std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "in the new file\n");
    let mut driver = Driver::new(config(&path), &data);
    let got = driver.drain();
    assert_eq!(
        bodies(&got),
        ["written before the rename", "in the new file"]
    );
    assert_eq!(got[0].attributes["log.file.name"], "app.log");
    assert_eq!(got[0].service, "app");
    assert_eq!(checkpoint_offsets(&data).len(), 1, "the old file is done");
}

#[test]
fn copytruncate_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    let (text, expected) = lines("first", 0..5);
    append(&path, &text);
    assert_eq!(bodies(&driver.drain()), expected);

    // logrotate's copytruncate: copy, then truncate in place; the app goes
    // on writing at the start.
    std::fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let (text, expected) = lines("second", 0..2);
    append(&path, &text);
    assert_eq!(bodies(&driver.drain()), expected);
    assert_eq!(checkpoint_offsets(&data)[&path], text.len() as u64);

    // Truncated and refilled past the old offset between two polls: the
    // changed first bytes give it away.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let (text, expected) = lines("third, longer than before", 0..4);
    append(&path, &text);
    assert_eq!(bodies(&driver.drain()), expected);
}

#[test]
fn restart_neither_loses_nor_repeats_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    // The stack trace below must stay pending, not be flushed as idle.
    let patient = LogsConfig {
        flush_idle: Duration::from_secs(60),
        ..config(&path)
    };
    let mut driver = Driver::new(patient, &data);
    driver.drain();
    let (text, mut all_expected) = lines("sent", 0..3);
    append(&path, &text);
    let mut got = driver.drain();

    // Read but never accepted by the sink (the agent stops first), and a
    // stack trace whose last frame is still being written.
    let (text, expected) = lines("unsent", 0..2);
    all_expected.extend(expected);
    append(&path, &text);
    append(
        &path,
        "Error: boom\n    at a (/app/a.js:1:1)\n    at b (/app",
    );
    let sealed = driver.step_without_sending();
    assert!(sealed.is_none(), "not due yet");
    driver.now += Duration::from_secs(2);
    let sealed = driver.tailer.step(driver.now).expect("due");
    assert_eq!(
        decode(&sealed.request).len(),
        2,
        "the trace is not complete"
    );
    drop(sealed);
    drop(driver);

    append(&path, "/b.js:2:2)\nnext line\n");
    all_expected
        .push("Error: boom\n    at a (/app/a.js:1:1)\n    at b (/app/b.js:2:2)".to_string());
    all_expected.push("next line".to_string());
    let mut driver = Driver::new(config(&path), &data);
    got.extend(driver.drain());
    assert_eq!(bodies(&got), all_expected);
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(checkpoint_offsets(&data)[&path], size);

    // And a third start sends nothing again.
    drop(driver);
    let mut driver = Driver::new(config(&path), &data);
    assert!(driver.drain().is_empty());
}

#[test]
fn a_reused_inode_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    append(&path, "one\ntwo\n");
    assert_eq!(driver.drain().len(), 2);
    drop(driver);
    // Same inode, other content (what a reused inode looks like).
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(b"uno\ndos\ntres\n", 0).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    assert_eq!(bodies(&driver.drain()), ["uno", "dos", "tres"]);
}

#[test]
fn deleted_files_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.log");
    let keep = dir.path().join("keep.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    File::create(&keep).unwrap();
    let mut driver = Driver::new(config(&dir.path().join("*.log")), &data);
    driver.drain();
    append(&path, "last words\n");
    std::fs::remove_file(&path).unwrap();
    // Still read through the open descriptor, then dropped.
    assert_eq!(bodies(&driver.drain()), ["last words"]);
    driver.drain();
    let offsets = checkpoint_offsets(&data);
    assert_eq!(offsets.keys().collect::<Vec<_>>(), [&keep]);
}

#[test]
fn services_come_from_the_flag_or_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = config(&dir.path().join("nginx-access.log"));
    config.sources.push(
        format!("api={}", dir.path().join("*.txt").display())
            .parse()
            .unwrap(),
    );
    let mut driver = Driver::new(config, &data);
    driver.drain();
    append(&dir.path().join("nginx-access.log"), "GET /\n");
    append(&dir.path().join("out.txt"), "hello\n");
    let got = driver.drain();
    let services: Vec<_> = got.iter().map(|g| g.service.as_str()).collect();
    assert_eq!(services, ["nginx-access", "api"]);
}

#[test]
fn formats_and_stack_traces_end_to_end_through_the_tailer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    append(
        &path,
        "{\"level\":\"error\",\"msg\":\"json line\",\"user\":\"ann\"}\n\
level=warn msg=\"logfmt line\" shard=3\n\
INFO plain line\r\n\
java.lang.IllegalStateException: boom\n\
\tat com.example.App.main(App.java:3)\n",
    );
    let got = driver.drain();
    assert_eq!(
        bodies(&got),
        [
            "json line",
            "logfmt line",
            "INFO plain line",
            "java.lang.IllegalStateException: boom\n\tat com.example.App.main(App.java:3)"
        ]
    );
    assert_eq!(got[0].severity_number, 17);
    assert_eq!(got[0].attributes["user"], "ann");
    assert_eq!(got[1].severity_number, 13);
    assert_eq!(got[1].attributes["shard"], "3");
    assert_eq!(got[2].severity_number, 9);
}

#[test]
fn bad_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    garbage.push(b'\n');
    garbage.extend_from_slice(b"\xff\xfe invalid utf-8 \xc3\n");
    garbage.extend(std::iter::repeat_n(b'x', 3 * tailer::MAX_LINE_BYTES));
    garbage.extend_from_slice(b"\nafter the huge line\n");
    append_bytes(&path, &garbage);
    let got = driver.drain();
    let last = got.last().unwrap();
    assert_eq!(last.body, "after the huge line");
    assert!(got.iter().any(|g| g.body.contains("invalid utf-8")));
    let huge = got
        .iter()
        .find(|g| g.body.starts_with("xxxx"))
        .expect("the huge line, cut");
    assert_eq!(huge.body.len(), tailer::MAX_LINE_BYTES);
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(checkpoint_offsets(&data)[&path], size);
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn large_backlogs_go_out_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let mut driver = Driver::new(config(&path), &data);
    driver.drain();
    let (text, expected) = lines("bulk", 0..2500);
    append(&path, &text);
    let mut batches = Vec::new();
    let mut full = 0;
    for _ in 0..10 {
        driver.now += driver.tick;
        if let Some(sealed) = driver.tailer.step(driver.now) {
            batches.push(decode(&sealed.request));
            full += usize::from(sealed.full);
            driver.tailer.commit(&sealed);
        }
    }
    assert_eq!(batches.len(), 3);
    assert_eq!(full, 2, "two full batches, then the rest");
    assert!(batches.iter().all(|b| b.len() <= 1000));
    let got: Vec<Got> = batches.into_iter().flatten().collect();
    assert_eq!(bodies(&got), expected);
}

/// Records what it was sent; refuses everything while `failing` is set.
#[derive(Default)]
struct MemorySink {
    sent: Mutex<Vec<Outgoing>>,
    failing: AtomicBool,
    rejecting: AtomicBool,
    attempts: Mutex<usize>,
}

impl Sink for MemorySink {
    fn send(&self, request: Outgoing) -> SendFuture<'_> {
        Box::pin(async move {
            *self.attempts.lock().unwrap() += 1;
            if self.failing.load(Ordering::SeqCst) {
                return Err(SendError::Full("test: queue full".into()));
            }
            if self.rejecting.load(Ordering::SeqCst) {
                return Err(SendError::Rejected("test: bad request".into()));
            }
            self.sent.lock().unwrap().push(request);
            Ok(())
        })
    }
}

impl MemorySink {
    fn got(&self) -> Vec<Got> {
        self.sent.lock().unwrap().iter().flat_map(decode).collect()
    }
}

fn fast(pattern: &Path) -> LogsConfig {
    LogsConfig {
        poll_interval: Duration::from_millis(20),
        flush_idle: Duration::from_millis(100),
        rotate_wait: Duration::from_millis(200),
        batch_interval: Duration::from_millis(50),
        ..config(pattern)
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failed_sends_are_retried_and_hold_the_checkpoint_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let data = dir.path().join("data");
    File::create(&path).unwrap();
    let sink = Arc::new(MemorySink::default());
    sink.failing.store(true, Ordering::SeqCst);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let sink: Arc<dyn Sink> = sink.clone();
        let data = data.clone();
        let config = fast(&path);
        async move {
            run(config, &data, "host-1", sink, async {
                let _ = stop_rx.await;
            })
            .await
        }
    });
    wait_for("the first checkpoint", || {
        data.join("logs/checkpoints.json").exists()
    })
    .await;
    let (text, expected) = lines("retried", 0..5);
    append(&path, &text);
    wait_for("two failed attempts", || {
        *sink.attempts.lock().unwrap() >= 2
    })
    .await;
    assert!(sink.got().is_empty());
    assert_eq!(checkpoint_offsets(&data)[&path], 0, "not past unsent lines");

    sink.failing.store(false, Ordering::SeqCst);
    wait_for("the batch", || sink.got().len() == 5).await;
    wait_for("the checkpoint", || {
        checkpoint_offsets(&data)[&path] == text.len() as u64
    })
    .await;
    assert_eq!(bodies(&sink.got()), expected);

    // A rejected batch is dropped rather than blocking the file forever.
    sink.rejecting.store(true, Ordering::SeqCst);
    append(&path, "poison\n");
    let size = std::fs::metadata(&path).unwrap().len();
    wait_for("the checkpoint past the rejected batch", || {
        checkpoint_offsets(&data)[&path] == size
    })
    .await;
    sink.rejecting.store(false, Ordering::SeqCst);
    append(&path, "after the poison\n");
    wait_for("the next line", || sink.got().len() == 6).await;
    assert_eq!(sink.got()[5].body, "after the poison");

    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[test]
fn log_source_flags() {
    let source: LogSource = "api=/var/log/api/*.log".parse().unwrap();
    assert_eq!(source.service.as_deref(), Some("api"));
    assert_eq!(source.pattern, "/var/log/api/*.log");
    let source: LogSource = "/var/log/*.log".parse().unwrap();
    assert_eq!(source.service, None);
    let source: LogSource = "/data/a=b/*.log".parse().unwrap();
    assert_eq!(source.service, None, "a path with = in it");
    assert_eq!(source.pattern, "/data/a=b/*.log");
    assert!("api=".parse::<LogSource>().is_err());
    assert!("/var/log/[".parse::<LogSource>().is_err());
    assert!(LogsConfig::from_flags(Vec::new(), Format::Auto, Some("(")).is_err());
    let config = LogsConfig::from_flags(Vec::new(), Format::Json, Some(r"^\d")).unwrap();
    assert!(matches!(config.multiline_start, StartRule::Regex(_)));
    assert!(!config.is_enabled());
    assert_eq!("logfmt".parse::<Format>(), Ok(Format::Logfmt));
    assert!("xml".parse::<Format>().is_err());
}
