//! Durable forwarding: the on-disk queue on its own (restarts, crashes, torn
//! and corrupt records, the size bound), then the agent end to end against the
//! real server binary (`VISPYR_BIN`, default
//! the `vispyr` cargo built next to the test): OTLP over HTTP and gRPC and
//! Pyroscope ingest through the agent's listeners while the server is stopped
//! or killed in the middle, the agent restarted with records queued, the
//! listeners' answers, and the real OpenTelemetry and Pyroscope SDKs pointed
//! at the agent. SQL on the server must then return every record exactly once.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{Value, json};
use vispyr_agent::forward::listen::ListenConfig;
use vispyr_agent::forward::queue::{Queue, QueueConfig, Reader};
use vispyr_agent::forward::record;
use vispyr_agent::outgoing::{Endpoint, Outgoing, SendError};

// ---------------------------------------------------------------------------
// The queue on its own.

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn numbered(n: u32) -> Outgoing {
    Outgoing {
        endpoint: if n.is_multiple_of(2) {
            Endpoint::Http
        } else {
            Endpoint::OtlpHttp
        },
        path_and_query: format!("/ingest?name=app.cpu&n={n}"),
        content_type: "multipart/form-data; boundary=----b".to_string(),
        content_encoding: n.is_multiple_of(3).then(|| "gzip".to_string()),
        body: format!("record number {n}").into_bytes(),
    }
}

fn number_of(request: &Outgoing) -> u32 {
    request
        .path_and_query
        .rsplit('=')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn small_segments() -> QueueConfig {
    QueueConfig {
        max_bytes: 1 << 30,
        segment_bytes: 300,
    }
}

async fn append_all(queue: &Queue, numbers: impl IntoIterator<Item = u32>) {
    for n in numbers {
        queue.append(&numbered(n)).await.unwrap();
    }
}

/// Reads (and acknowledges) `count` records; their numbers.
async fn take(reader: &mut Reader, count: usize) -> Vec<u32> {
    let mut numbers = Vec::new();
    for _ in 0..count {
        let record = tokio::time::timeout(Duration::from_secs(5), reader.next())
            .await
            .expect("a record within 5 s")
            .expect("the queue is open");
        numbers.push(number_of(&record.outgoing));
        reader.ack().unwrap();
    }
    numbers
}

/// Whether the reader has nothing more (within 200 ms).
async fn is_drained(reader: &mut Reader) -> bool {
    tokio::time::timeout(Duration::from_millis(200), reader.next())
        .await
        .is_err()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_restart_keeps_undelivered_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        append_all(&queue, 0..10).await;
        assert_eq!(take(&mut reader, 4).await, vec![0, 1, 2, 3]);
        // Handed out but not acknowledged: comes back after the restart.
        let unacked = reader.next().await.unwrap();
        assert_eq!(number_of(&unacked.outgoing), 4);
        drop((queue, reader));

        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        assert_eq!(queue.stats().records, 6);
        append_all(&queue, 10..12).await;
        assert_eq!(take(&mut reader, 8).await, (4..12).collect::<Vec<_>>());
        assert!(is_drained(&mut reader).await);
        assert_eq!(queue.stats().records, 0);
        assert_eq!(queue.stats().bytes, 0);
    });
}

#[test]
fn the_read_position_survives_a_restart_and_delivered_segments_go() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        append_all(&queue, 0..40).await;
        assert!(
            segment_files(dir.path()).len() > 5,
            "300-byte segments roll"
        );
        assert_eq!(take(&mut reader, 40).await, (0..40).collect::<Vec<_>>());
        assert!(is_drained(&mut reader).await);
        assert!(
            segment_files(dir.path()).len() <= 1,
            "delivered segments are deleted: {:?}",
            segment_files(dir.path())
        );
        drop((queue, reader));

        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        assert_eq!(queue.stats().records, 0);
        assert!(is_drained(&mut reader).await, "nothing is delivered twice");
        append_all(&queue, 40..43).await;
        assert_eq!(take(&mut reader, 3).await, vec![40, 41, 42]);
        drop((queue, reader));
        let (_queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        assert!(is_drained(&mut reader).await);
    });
}

/// The files of an open queue are what a `kill -9` leaves behind: every
/// acknowledged append is in them, and the read position too.
#[test]
fn a_crash_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        append_all(&queue, 0..20).await;
        assert_eq!(take(&mut reader, 5).await, (0..5).collect::<Vec<_>>());
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
        let (_copied, mut reader) = Queue::open(copy.path(), small_segments()).unwrap();
        assert_eq!(take(&mut reader, 15).await, (5..20).collect::<Vec<_>>());
        assert!(is_drained(&mut reader).await);
        drop(queue);
    });
}

/// Several records handed out at once (to be sent as one request) are
/// acknowledged in part or in whole.
#[test]
fn records_handed_out_together_are_acknowledged_in_part() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        append_all(&queue, 0..6).await;
        assert_eq!(number_of(&reader.next().await.unwrap().outgoing), 0);
        let second = reader.next_if(|_| true).unwrap();
        assert_eq!(number_of(&second.outgoing), 1);
        assert!(reader.next_if(|r| number_of(&r.outgoing) != 2).is_none());
        reader.ack_first(1).unwrap();
        // Record 1 was handed out but not acknowledged: it comes again.
        assert_eq!(number_of(&reader.next().await.unwrap().outgoing), 1);
        assert_eq!(number_of(&reader.next_if(|_| true).unwrap().outgoing), 2);
        assert_eq!(number_of(&reader.next_if(|_| true).unwrap().outgoing), 3);
        reader.ack().unwrap();
        assert_eq!(queue.stats().records, 2);
        drop((queue, reader));
        let (_queue, mut reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        assert_eq!(take(&mut reader, 2).await, vec![4, 5]);
        assert!(reader.next_if(|_| true).is_none());
    });
}

#[test]
fn a_second_agent_cannot_open_the_same_queue() {
    let dir = tempfile::tempdir().unwrap();
    let _open = Queue::open(dir.path(), QueueConfig::default()).unwrap();
    let Err(error) = Queue::open(dir.path(), QueueConfig::default()) else {
        panic!("opened twice");
    };
    assert!(error.to_string().contains("in use"), "{error}");
}

#[test]
fn a_torn_tail_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        append_all(&queue, 0..5).await;
        drop((queue, reader));
        // A crash in the middle of the next append: half a frame at the end.
        let segment = segment_files(dir.path()).pop().unwrap();
        let frame = record::encode_frame(&numbered(99), 0).unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        let valid_len = bytes.len();
        bytes.extend_from_slice(&frame[..frame.len() / 2]);
        std::fs::write(&segment, &bytes).unwrap();

        let (queue, mut reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        assert_eq!(
            std::fs::metadata(&segment).unwrap().len() as usize,
            valid_len
        );
        assert_eq!(queue.stats().records, 5);
        append_all(&queue, 5..7).await;
        assert_eq!(take(&mut reader, 7).await, (0..7).collect::<Vec<_>>());
        assert!(is_drained(&mut reader).await);
    });
}

#[test]
fn a_corrupt_record_is_skipped_with_the_rest_of_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        append_all(&queue, 0..5).await;
        drop((queue, reader));
        // A flipped bit in record 3's body: its CRC no longer matches.
        let segment = segment_files(dir.path()).pop().unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        let at = bytes
            .windows(15)
            .position(|w| w == b"record number 3")
            .unwrap();
        bytes[at + 3] ^= 0x10;
        std::fs::write(&segment, &bytes).unwrap();
        // Zeros where a frame should be (a block a crash never wrote) in a
        // second segment are not records either.
        let zeros = dir.path().join(format!("{:020}.seg", 1_000));
        let mut zeroed = record::segment_header().to_vec();
        zeroed.extend_from_slice(&[0; 64]);
        std::fs::write(&zeros, &zeroed).unwrap();
        // And a file that is not a segment at all is set aside.
        let junk = dir.path().join(format!("{:020}.seg", 1_001));
        std::fs::write(&junk, b"not a segment").unwrap();

        let (queue, mut reader) = Queue::open(dir.path(), QueueConfig::default()).unwrap();
        assert_eq!(queue.stats().records, 3);
        append_all(&queue, 5..7).await;
        assert_eq!(take(&mut reader, 5).await, vec![0, 1, 2, 5, 6]);
        assert!(is_drained(&mut reader).await);
        assert!(dir.path().join(format!("{:020}.seg.bad", 1_001)).exists());
    });
}

#[test]
fn a_full_queue_refuses_until_delivery_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let frame_len = |n| record::encode_frame(&numbered(n), 0).unwrap().len() as u64;
    let config = QueueConfig {
        // Room for 10, 11 and 12 (12 is 4 bytes longer: `gzip`).
        max_bytes: frame_len(10) + frame_len(11) + frame_len(12),
        segment_bytes: 1 << 20,
    };
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), config.clone()).unwrap();
        append_all(&queue, 10..13).await;
        match queue.append(&numbered(13)).await {
            Err(SendError::Full(message)) => assert!(message.contains("full"), "{message}"),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(queue.stats().refused_full, 1);
        assert_eq!(take(&mut reader, 1).await, vec![10]);
        queue.append(&numbered(13)).await.unwrap();
        assert!(matches!(
            queue.append(&numbered(14)).await,
            Err(SendError::Full(_))
        ));
        // A request larger than the whole queue can never fit.
        assert_eq!(take(&mut reader, 3).await, vec![11, 12, 13]);
        let mut huge = numbered(15);
        huge.body = vec![0; 4 * frame_len(15) as usize];
        assert!(matches!(
            queue.append(&huge).await,
            Err(SendError::Rejected(_))
        ));
        drop((queue, reader));
        // The bound holds across a restart too.
        let (queue, _reader) = Queue::open(dir.path(), config).unwrap();
        append_all(&queue, 20..23).await;
        assert!(matches!(
            queue.append(&numbered(23)).await,
            Err(SendError::Full(_))
        ));
    });
}

#[test]
fn concurrent_appends_share_syncs_and_keep_every_record() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (queue, mut reader) = Queue::open(dir.path(), small_segments()).unwrap();
        let queue = Arc::new(queue);
        let tasks: Vec<_> = (0..8u32)
            .map(|task| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move {
                    for i in 0..50 {
                        queue.append(&numbered(task * 1000 + i)).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut numbers = take(&mut reader, 400).await;
        assert!(is_drained(&mut reader).await);
        // Each task's records stay in its order.
        for task in 0..8 {
            let own: Vec<u32> = numbers
                .iter()
                .copied()
                .filter(|n| n / 1000 == task)
                .collect();
            assert_eq!(own, (0..50).map(|i| task * 1000 + i).collect::<Vec<_>>());
        }
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 400);
    });
}

// ---------------------------------------------------------------------------
// End to end with the real server.

use support::vispyr_bin;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// `vispyr serve` on fixed ports, so it comes back where the agent expects it.
struct Server {
    data_dir: PathBuf,
    http: String,
    otlp_http: String,
    otlp_grpc: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    /// Ports and a data dir; not started.
    fn new(data_dir: &Path) -> Server {
        let [http, otlp_http, otlp_grpc] = free_ports::<3>();
        Server {
            data_dir: data_dir.to_path_buf(),
            http: format!("127.0.0.1:{http}"),
            otlp_http: format!("127.0.0.1:{otlp_http}"),
            otlp_grpc: format!("127.0.0.1:{otlp_grpc}"),
            child: None,
            log: data_dir.with_extension("log"),
        }
    }

    fn started(data_dir: &Path) -> Server {
        let mut server = Server::new(data_dir);
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    fn start(&mut self) {
        assert!(self.child.is_none());
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(vispyr_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--http-addr", &self.http])
            .args(["--otlp-http-addr", &self.otlp_http])
            .args(["--otlp-grpc-addr", &self.otlp_grpc])
            .env("RUST_LOG", "info")
            .env_remove("VISPYR_CONFIG")
            .current_dir(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the server");
        self.child = Some(child);
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                panic!("the server exited ({status}):\n{}", self.log_text());
            }
            let ready = client
                .get(format!("{}/ready", self.url()))
                .timeout(Duration::from_secs(1))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM: requests in flight are answered, then it exits.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "stop failed:\n{}", self.log_text());
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sql(&self, query: &str) -> Vec<Vec<Value>> {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/sql", self.url()))
            .json(&json!({ "sql": query }))
            .send()
            .unwrap();
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert!(status.is_success(), "{query}: {body}");
        serde_json::from_value(body["rows"].clone()).unwrap()
    }

    fn count(&self, query: &str) -> i64 {
        let rows = self.sql(query);
        let value = &rows[0][0];
        value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{query}: {value}"))
    }

    /// Waits until `query` counts `expected` (then checks it stays there).
    fn wait_for_count(&self, query: &str, expected: i64, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = -1;
        while Instant::now() < deadline {
            last = self.count(query);
            if last >= expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert_eq!(last, expected, "{query}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The agent, in process, on free ports.
struct Agent {
    data_dir: PathBuf,
    otlp_http: String,
    otlp_grpc: String,
    pyroscope: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

#[derive(Clone)]
struct AgentOptions {
    queue_max_bytes: u64,
    max_body: usize,
    interval: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            queue_max_bytes: 1 << 30,
            max_body: 16 << 20,
            interval: Duration::from_secs(1),
        }
    }
}

impl Agent {
    fn start(data_dir: &Path, server: &Server, options: &AgentOptions) -> Agent {
        // `RUST_LOG=info cargo test ... -- --nocapture` shows what the agent did.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let [grpc, http, pyroscope] = free_ports::<3>();
        let addr = |port: u16| Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        let config = vispyr_agent::AgentConfig {
            server: server.url(),
            data_dir: data_dir.to_path_buf(),
            interval: options.interval,
            instance: "forward-test".to_string(),
            proc_root: PathBuf::from("/proc"),
            otlp_http: Some(format!("http://{}", server.otlp_http)),
            listen: ListenConfig {
                otlp_grpc: addr(grpc),
                otlp_http: addr(http),
                pyroscope: addr(pyroscope),
                max_body: options.max_body,
            },
            queue: QueueConfig {
                max_bytes: options.queue_max_bytes,
                ..QueueConfig::default()
            },
            profiler: None,
            logs: vispyr_agent::logs::LogsConfig::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime().block_on(vispyr_agent::run(config, async move {
                let _ = stopped.await;
            }))
        });
        let agent = Agent {
            data_dir: data_dir.to_path_buf(),
            otlp_http: format!("http://127.0.0.1:{http}"),
            otlp_grpc: format!("http://127.0.0.1:{grpc}"),
            pyroscope: format!("http://127.0.0.1:{pyroscope}"),
            stop: Some(stop),
            thread: Some(thread),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", pyroscope)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the agent's listeners did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// A graceful stop; what is queued stays on disk.
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().expect("the agent failed");
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn string_value(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.to_string())),
    })
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: string_value(service),
            ..KeyValue::default()
        }],
        ..Resource::default()
    })
}

fn logs_request(service: &str, bodies: &[String]) -> ExportLogsServiceRequest {
    let now = now_nanos();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: bodies
                    .iter()
                    .map(|body| LogRecord {
                        time_unix_nano: now,
                        observed_time_unix_nano: now,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: string_value(body),
                        ..LogRecord::default()
                    })
                    .collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// A trace export of `spans` spans in one trace whose id encodes `(tag, n)`.
fn trace_request(service: &str, tag: u8, n: u32, spans: u8) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let mut trace_id = vec![0u8; 16];
    trace_id[0] = 0xf0;
    trace_id[1] = tag;
    trace_id[12..].copy_from_slice(&n.to_be_bytes());
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: (1..=spans)
                    .map(|i| Span {
                        trace_id: trace_id.clone(),
                        span_id: vec![1, 2, 3, 4, 5, 6, 7, i],
                        name: format!("op-{i}"),
                        kind: 2,
                        start_time_unix_nano: now,
                        end_time_unix_nano: now + 1_000_000,
                        ..Span::default()
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn post_logs(client: &reqwest::blocking::Client, agent: &Agent, service: &str, bodies: &[String]) {
    let response = client
        .post(format!("{}/v1/logs", agent.otlp_http))
        .header("Content-Type", "application/x-protobuf")
        .body(logs_request(service, bodies).encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    assert!(
        response.bytes().unwrap().is_empty(),
        "an empty ExportLogsServiceResponse"
    );
}

/// Sends `exports` log exports (2 records each) over OTLP/HTTP and one trace
/// export (2 spans) over OTLP/gRPC for every third, 20 ms apart; calls
/// `at(i)` before export `i`.
fn send_load(agent: &Agent, service: &str, tag: u8, exports: u32, mut at: impl FnMut(u32)) {
    let client = reqwest::blocking::Client::new();
    let runtime = runtime();
    let mut grpc = runtime
        .block_on(TraceServiceClient::connect(agent.otlp_grpc.clone()))
        .unwrap();
    for i in 0..exports {
        at(i);
        let bodies = [format!("{service} {i} a"), format!("{service} {i} b")];
        post_logs(&client, agent, service, &bodies);
        if i % 3 == 0 {
            let response = runtime
                .block_on(grpc.export(trace_request(service, tag, i, 2)))
                .unwrap()
                .into_inner();
            assert_eq!(response.partial_success, None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn expected_spans(exports: u32) -> i64 {
    2 * i64::from(exports.div_ceil(3))
}

/// The server is stopped (SIGTERM) for a few seconds in the middle of a steady
/// stream through the agent: every log record and span arrives exactly once.
#[test]
fn nothing_is_lost_or_repeated_while_the_server_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::started(&dir.path().join("server"));
    let agent = Agent::start(&dir.path().join("agent"), &server, &AgentOptions::default());
    let (signal, signals) = mpsc::channel::<()>();
    let outage = std::thread::spawn(move || {
        let mut server = server;
        signals.recv().unwrap();
        server.stop();
        let stopped_at = Instant::now();
        signals.recv().unwrap();
        let down_for = stopped_at.elapsed();
        server.start();
        (server, down_for)
    });
    const EXPORTS: u32 = 300;
    send_load(&agent, "fwd-stop", 1, EXPORTS, |i| {
        if i == EXPORTS / 5 || i == 4 * EXPORTS / 5 {
            signal.send(()).unwrap();
        }
    });
    let (server, down_for) = outage.join().unwrap();
    assert!(down_for > Duration::from_secs(3), "{down_for:?}");

    let logs = "select count(*) from logs where service_name = 'fwd-stop'";
    let spans = "select count(*) from spans where service_name = 'fwd-stop'";
    server.wait_for_count(logs, 2 * i64::from(EXPORTS), Duration::from_secs(90));
    server.wait_for_count(spans, expected_spans(EXPORTS), Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.count(logs), 2 * i64::from(EXPORTS), "no duplicates");
    assert_eq!(
        server.count(spans),
        expected_spans(EXPORTS),
        "no duplicates"
    );
    assert_eq!(
        server.count("select count(distinct body) from logs where service_name = 'fwd-stop'"),
        2 * i64::from(EXPORTS)
    );
    // Host metrics went through the queue too.
    assert!(
        server.count(
            "select count(*) from metric_points where metric_name = 'node_load1' \
             and labels['instance'] = 'forward-test'"
        ) > 0
    );
    // Delivered segments are gone.
    assert!(segment_files(&agent.data_dir.join("queue")).len() <= 1);
}

/// The same with SIGKILL: nothing the agent acknowledged is lost; the one
/// request in flight at the kill may arrive twice (at least once).
#[test]
fn nothing_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::started(&dir.path().join("server"));
    let agent = Agent::start(&dir.path().join("agent"), &server, &AgentOptions::default());
    let (signal, signals) = mpsc::channel::<()>();
    let outage = std::thread::spawn(move || {
        let mut server = server;
        signals.recv().unwrap();
        server.kill();
        signals.recv().unwrap();
        server.start();
        server
    });
    const EXPORTS: u32 = 240;
    send_load(&agent, "fwd-kill", 2, EXPORTS, |i| {
        if i == EXPORTS / 4 || i == 3 * EXPORTS / 4 {
            signal.send(()).unwrap();
        }
    });
    let server = outage.join().unwrap();
    let distinct_logs = "select count(distinct body) from logs where service_name = 'fwd-kill'";
    let distinct_spans = "select count(distinct span_id || trace_id) from spans \
                          where service_name = 'fwd-kill'";
    server.wait_for_count(
        distinct_logs,
        2 * i64::from(EXPORTS),
        Duration::from_secs(90),
    );
    server.wait_for_count(
        distinct_spans,
        expected_spans(EXPORTS),
        Duration::from_secs(30),
    );
    let logs = server.count("select count(*) from logs where service_name = 'fwd-kill'");
    let spans = server.count("select count(*) from spans where service_name = 'fwd-kill'");
    // At most the one request in flight at the kill (2 records) twice.
    assert!(
        logs + spans <= 2 * i64::from(EXPORTS) + expected_spans(EXPORTS) + 2,
        "{logs} logs, {spans} spans"
    );
}

/// Records queued while the server is down survive a restart of the agent and
/// arrive once when the server comes up.
#[test]
fn queued_records_survive_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(&dir.path().join("server"));
    let agent_dir = dir.path().join("agent");
    let options = AgentOptions {
        interval: Duration::from_secs(3600),
        ..AgentOptions::default()
    };
    let mut agent = Agent::start(&agent_dir, &server, &options);
    send_load(&agent, "fwd-restart", 3, 30, |_| {});
    agent.stop();
    {
        let (queue, _reader) = Queue::open(&agent_dir.join("queue"), QueueConfig::default())
            .expect("the agent released its queue");
        // 30 log exports, 10 trace exports and one host metrics push.
        assert_eq!(queue.stats().records, 41);
    }
    server.start();
    let agent = Agent::start(&agent_dir, &server, &options);
    send_load(&agent, "fwd-restart", 4, 3, |_| {});
    let logs = "select count(*) from logs where service_name = 'fwd-restart'";
    server.wait_for_count(logs, 66, Duration::from_secs(60));
    let spans = "select count(*) from spans where service_name = 'fwd-restart'";
    server.wait_for_count(spans, 22, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.count(logs), 66);
    assert_eq!(server.count(spans), 22);
    // The first run's records come first: they were queued before.
    let rows = server.sql(
        "select body from logs where service_name = 'fwd-restart' \
         order by observed_timestamp, body limit 2",
    );
    assert_eq!(
        rows,
        vec![
            vec![json!("fwd-restart 0 a")],
            vec![json!("fwd-restart 0 b")]
        ]
    );
}

/// The listeners' answers: empty OTLP responses, 413, 415, 503 with
/// Retry-After (RESOURCE_EXHAUSTED over gRPC) when the queue is full; a request
/// the server rejects is dropped without holding back the ones after it.
#[test]
fn listeners_answer_as_the_protocols_say() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(&dir.path().join("server"));
    let options = AgentOptions {
        queue_max_bytes: 256 << 10,
        max_body: 64 << 10,
        interval: Duration::from_secs(3600),
    };
    let agent = Agent::start(&dir.path().join("agent"), &server, &options);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, content_type: &str, body: Vec<u8>| {
        client
            .post(format!("{}{path}", agent.otlp_http))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .unwrap()
    };

    // Bad protobuf: accepted here (only the size is checked), rejected by the
    // server later, and dropped there without blocking what follows.
    let response = post(
        "/v1/logs",
        "application/x-protobuf",
        b"\xff\xff\xff garbage".to_vec(),
    );
    assert_eq!(response.status(), 200);
    let response = post(
        "/v1/traces",
        "application/json; charset=utf-8",
        br#"{"resourceSpans":[]}"#.to_vec(),
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().unwrap(), "{}");
    let response = post("/v1/logs", "text/plain", b"hello".to_vec());
    assert_eq!(response.status(), 415);
    let response = client
        .post(format!("{}/v1/logs", agent.otlp_http))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "br")
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = post("/v1/metrics", "application/x-protobuf", vec![0; 65 << 10]);
    assert_eq!(response.status(), 413);
    let runtime = runtime();
    let mut grpc = runtime
        .block_on(TraceServiceClient::connect(agent.otlp_grpc.clone()))
        .unwrap();
    let mut oversize = trace_request("fwd-full", 5, 1, 1);
    oversize.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(65 << 10);
    let error = runtime.block_on(grpc.export(oversize)).unwrap_err();
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{error}");

    // Fill the queue: 503 + Retry-After on every listener (for requests
    // larger than the room left).
    let mut filled = false;
    for _ in 0..10 {
        let response = post(
            "/v1/metrics",
            "application/x-protobuf",
            vec![0x0a; 60 << 10],
        );
        if response.status() == 503 {
            assert_eq!(response.headers()["retry-after"], "5");
            let status = opentelemetry_proto_status(&response.bytes().unwrap());
            assert_eq!(status.0, 14, "UNAVAILABLE");
            assert!(status.1.contains("full"), "{}", status.1);
            filled = true;
            break;
        }
        assert_eq!(response.status(), 200);
    }
    assert!(filled, "the queue never filled");
    let response = client
        .post(format!(
            "{}/ingest?name=app.cpu&format=folded",
            agent.pyroscope
        ))
        .body(format!("main;work {}", "1".repeat(60 << 10)))
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let mut large = trace_request("fwd-full", 5, 0, 1);
    large.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(60 << 10);
    let error = runtime.block_on(grpc.export(large)).unwrap_err();
    assert_eq!(error.code(), tonic::Code::ResourceExhausted);
    assert!(!error.details().is_empty(), "RetryInfo");

    // The server comes: the queue drains (the zero-filled metrics bodies and
    // the garbage are rejected and dropped) and takes requests again.
    server.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = post(
            "/v1/logs",
            "application/x-protobuf",
            logs_request("fwd-full", &["after the outage".to_string()]).encode_to_vec(),
        );
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "the queue did not drain");
        std::thread::sleep(Duration::from_millis(500));
    }
    server.wait_for_count(
        "select count(*) from logs where service_name = 'fwd-full'",
        1,
        Duration::from_secs(60),
    );
}

/// `(code, message)` of a protobuf `google.rpc.Status`.
fn opentelemetry_proto_status(bytes: &[u8]) -> (i32, String) {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    let status = RpcStatus::decode(bytes).unwrap();
    (status.code, status.message)
}

/// Pyroscope ingest through the agent: a JFR upload (multipart, the boundary
/// in the Content-Type) and the Node.js Pyroscope SDK (its trailing slash
/// makes it post to `//ingest`) arrive as if sent to the server directly.
#[test]
fn pyroscope_ingest_is_forwarded_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::started(&dir.path().join("server"));
    let agent = Agent::start(&dir.path().join("agent"), &server, &AgentOptions::default());
    let jfr = std::fs::read(repo_root().join("crates/jfr/testdata/hot.jfr")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let upload = |base: &str, app: &str| {
        let form = reqwest::blocking::multipart::Form::new().part(
            "jfr",
            reqwest::blocking::multipart::Part::bytes(jfr.clone()).file_name("jfr"),
        );
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/ingest"))
            .query(&[
                ("name", format!("{app}.cpu{{env=test}}")),
                ("format", "jfr".to_string()),
                ("from", (now - 10).to_string()),
                ("until", now.to_string()),
                ("sampleRate", "100".to_string()),
                ("spyName", "javaspy".to_string()),
            ])
            .multipart(form)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().unwrap());
    };
    upload(&server.url(), "java-direct");
    upload(&agent.pyroscope, "java-forwarded");
    let summary = |service: &str| {
        format!(
            "select profile_type, count(*), sum(value) from profile_samples \
             where service_name = '{service}' group by profile_type order by profile_type"
        )
    };
    let direct = server.sql(&summary("java-direct"));
    assert!(!direct.is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.sql(&summary("java-forwarded")) != direct {
        assert!(
            Instant::now() < deadline,
            "{:?} vs {direct:?}",
            server.sql(&summary("java-forwarded"))
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let node_dir = repo_root().join("tests/e2e/node");
    let output = Command::new("node")
        .arg(node_dir.join("profile.mjs"))
        .env("VISPYR_PYROSCOPE_URL", format!("{}/", agent.pyroscope))
        .env("APP_NAME", "node-prof-forwarded")
        .env("DURATION_MS", "4000")
        .output()
        .expect("node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.wait_for_count(
        "select case when count(*) > 0 then 1 else 0 end from profile_samples where service_name = 'node-prof-forwarded' \
         and profile_type = 'wall:wall:nanoseconds:wall:nanoseconds'",
        1,
        Duration::from_secs(30),
    );
}

/// The real OpenTelemetry SDKs pointed at the agent: Node.js over OTLP/HTTP
/// (JSON and protobuf), Python over OTLP/gRPC.
#[test]
fn opentelemetry_sdks_send_through_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::started(&dir.path().join("server"));
    let agent = Agent::start(&dir.path().join("agent"), &server, &AgentOptions::default());
    let run = |mut command: Command, endpoint: &str, protocol: &str, service: &str| -> Value {
        let output = command
            .env("OTLP_ENDPOINT", endpoint)
            .env("OTLP_PROTOCOL", protocol)
            .env("SERVICE_NAME", service)
            .output()
            .expect("run the SDK client");
        assert!(
            output.status.success(),
            "{service}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let node = || {
        let mut command = Command::new("node");
        command.arg(repo_root().join("tests/e2e/node/send.mjs"));
        command
    };
    let python = || {
        let mut command = Command::new(repo_root().join("tests/e2e/python/.venv/bin/python"));
        command.arg(repo_root().join("tests/e2e/python/send.py"));
        command
    };
    let clients = [
        run(node(), &agent.otlp_http, "http/json", "fwd-node-json"),
        run(node(), &agent.otlp_http, "http/protobuf", "fwd-node-proto"),
        run(python(), &agent.otlp_grpc, "grpc", "fwd-python-grpc"),
    ];
    for sent in &clients {
        let service = sent["service_name"].as_str().unwrap();
        let trace = sent["trace_id"].as_str().unwrap();
        server.wait_for_count(
            &format!("select count(*) from spans where trace_id = '{trace}'"),
            3,
            Duration::from_secs(30),
        );
        server.wait_for_count(
            &format!("select count(*) from logs where service_name = '{service}'"),
            3,
            Duration::from_secs(30),
        );
        server.wait_for_count(
            &format!(
                "select case when count(*) > 0 then 1 else 0 end from metric_points \
                 where service_name = '{service}' and metric_name <> 'target_info'"
            ),
            1,
            Duration::from_secs(30),
        );
    }
}

/// `vispyr agent` (the binary, `VISPYR_BIN`) killed with SIGKILL under load
/// from several concurrent apps while the server is down: every request it
/// answered 200 reaches the server after it restarts on the same data dir.
#[test]
fn acknowledged_requests_survive_kill_9_of_the_agent() {
    let bin = vispyr_bin();
    let help = Command::new(&bin)
        .args(["agent", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--queue-max-bytes"),
        "{} predates the agent's forwarding: rebuild it (cargo build --release)",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    // Down while the agent runs the first time: everything it acknowledged is
    // only in its queue when it is killed.
    let mut server = Server::new(&dir.path().join("server"));
    let agent_dir = dir.path().join("agent");
    let [port] = free_ports::<1>();
    let log = dir.path().join("agent.log");
    let server_url = server.url();
    let server_otlp_http = format!("http://{}", server.otlp_http);
    let spawn_agent = || {
        Command::new(&bin)
            .arg("agent")
            .args(["--server", &server_url])
            .args(["--otlp-http", &server_otlp_http])
            .arg("--data-dir")
            .arg(&agent_dir)
            .args(["--otlp-http-addr", &format!("127.0.0.1:{port}")])
            .args(["--otlp-grpc-addr", "off", "--pyroscope-addr", "off"])
            .args(["--interval", "1h"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap()
    };
    let wait_listening = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{}",
                std::fs::read_to_string(&log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut agent = spawn_agent();
    wait_listening();
    let url = format!("http://127.0.0.1:{port}/v1/logs");
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let body = format!("kill9 {sender} {i}");
                    let request = logs_request("fwd-kill9", std::slice::from_ref(&body));
                    let sent = client
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .body(request.encode_to_vec())
                        .send();
                    match sent {
                        Ok(response) if response.status() == 200 => acknowledged.push(body),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    agent.kill().unwrap();
    agent.wait().unwrap();
    let acknowledged: Vec<String> = senders
        .into_iter()
        .flat_map(|sender| sender.join().unwrap())
        .collect();
    assert!(acknowledged.len() > 50, "{} requests", acknowledged.len());

    server.start();
    let mut agent = spawn_agent();
    wait_listening();
    let expected = acknowledged.len() as i64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut present = std::collections::HashSet::new();
    while Instant::now() < deadline {
        present = server
            .sql("select distinct body from logs where service_name = 'fwd-kill9'")
            .into_iter()
            .map(|row| row[0].as_str().unwrap().to_string())
            .collect();
        if acknowledged.iter().all(|body| present.contains(body)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|body| !present.contains(*body))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {expected} lost: {missing:?}",
        missing.len()
    );
    eprintln!(
        "{expected} requests acknowledged before the kill, {} distinct records arrived",
        present.len()
    );
    // Besides those, at most the requests in flight at the kill (one per app).
    assert!(present.len() as i64 <= expected + 4);
    let _ = agent.kill();
    let _ = agent.wait();
}
