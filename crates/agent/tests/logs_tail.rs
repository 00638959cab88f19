//! The log tailer against the real server: JSON with a trace id, logfmt,
//! plain lines and stack traces are written to a file that is rotated by
//! rename mid-way while the tailer is restarted once; SQL on the server then
//! must show every record exactly once, with severity, body, attributes,
//! trace context and the joined stack traces.
//!
//! The server binary is `$VISPYR_BIN`, by default
//! the `vispyr` cargo built next to the test.

mod support;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vispyr_agent::logs::{self, LogsConfig, LogsError};
use vispyr_agent::outgoing::{DirectSender, ServerUrls, Sink};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

struct Server {
    child: Child,
    http: String,
    otlp_http: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server() -> Server {
    let binary = support::vispyr_bin();
    let data = tempfile::tempdir().unwrap();
    let (http, grpc, otlp_http) = (free_port(), free_port(), free_port());
    let child = Command::new(&binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http}"))
        .arg("--otlp-grpc-addr")
        .arg(format!("127.0.0.1:{grpc}"))
        .arg("--otlp-http-addr")
        .arg(format!("127.0.0.1:{otlp_http}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot start {} (set VISPYR_BIN): {error}",
                binary.display()
            )
        });
    let server = Server {
        child,
        http: format!("http://127.0.0.1:{http}"),
        otlp_http: format!("http://127.0.0.1:{otlp_http}"),
        _data: data,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = reqwest::get(format!("{}/ready", server.http)).await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sql(server: &Server, query: &str) -> Vec<Vec<Value>> {
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/sql", server.http))
        .json(&serde_json::json!({ "sql": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(response["rows"].clone())
        .unwrap_or_else(|_| panic!("no rows in {response}"))
}

async fn count(server: &Server) -> u64 {
    let rows = sql(
        server,
        "SELECT count(*) FROM logs WHERE service_name = 'checkout'",
    )
    .await;
    rows[0][0].as_u64().unwrap()
}

/// Waits until the server has at least `expected` records of the test.
async fn wait_for_records(server: &Server, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have = count(server).await;
        if have >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server has {have} records, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Tailer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), LogsError>>,
}

fn start_tailer(config: &LogsConfig, data_dir: &Path, sink: &Arc<dyn Sink>) -> Tailer {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = config.clone();
    let data_dir = data_dir.to_path_buf();
    let sink = Arc::clone(sink);
    let task = tokio::spawn(async move {
        logs::run(config, &data_dir, "test-host", sink, async {
            let _ = stopped.await;
        })
        .await
    });
    Tailer { stop, task }
}

async fn stop_tailer(tailer: Tailer) {
    tailer.stop.send(()).unwrap();
    tailer.task.await.unwrap().unwrap();
}

fn write_lines(file: &mut File, lines: &[&str]) {
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailed_lines_arrive_exactly_once_through_rotation_and_restart() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    std::fs::create_dir(&log_dir).unwrap();
    let path = log_dir.join("app.log");
    let agent_data = dir.path().join("agent");

    // There before the agent's first run: not sent (tailing starts at the end).
    let mut writer = open_append(&path);
    write_lines(&mut writer, &["INFO written before the agent's first run"]);

    let mut config = LogsConfig::from_flags(
        vec![
            format!("checkout={}", log_dir.join("*.log").display())
                .parse()
                .unwrap(),
        ],
        logs::Format::Auto,
        None,
    )
    .unwrap();
    config.poll_interval = Duration::from_millis(50);
    config.flush_idle = Duration::from_millis(300);
    config.rotate_wait = Duration::from_millis(500);
    config.batch_interval = Duration::from_millis(100);
    let urls = ServerUrls::new(&server.http, Some(&server.otlp_http)).unwrap();
    let sink: Arc<dyn Sink> = Arc::new(DirectSender::new(urls).unwrap());

    let tailer = start_tailer(&config, &agent_data, &sink);
    let checkpoints = agent_data.join("logs/checkpoints.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !checkpoints.exists() {
        assert!(Instant::now() < deadline, "no first checkpoint");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    write_lines(
        &mut writer,
        &[
            &format!(
                r#"{{"time":"2024-05-01T12:00:00.250Z","level":"info","msg":"order placed","trace_id":"{TRACE_ID}","span_id":"{SPAN_ID}","order_id":42,"user":"ann"}}"#
            ),
            r#"level=warn msg="payment slow" duration_ms=812 provider=stripe"#,
            "ERROR inventory service unreachable",
            "java.lang.IllegalStateException: out of stock",
            "\tat com.shop.Inventory.reserve(Inventory.java:42)",
            "\tat com.shop.Checkout.run(Checkout.java:17)",
            "Caused by: java.sql.SQLException: timeout",
            "\t... 2 more",
            "INFO checkout finished",
        ],
    );
    wait_for_records(&server, 5).await;

    // Rotation by rename: the app writes one more line to the old file, then
    // opens a new one. The tailer is stopped right away, so the old file's
    // last line may well be read only after the restart.
    std::fs::rename(&path, log_dir.join("app.log.1")).unwrap();
    write_lines(&mut writer, &["INFO last line before the rotation"]);
    let mut writer = open_append(&path);
    write_lines(
        &mut writer,
        &[
            "ERROR:root:refund failed",
            "Traceback (most recent call last):",
            "  File \"refund.py\", line 8, in refund",
            "    charge(-amount)",
            "ValueError: amount must be positive",
            r#"{"level":30,"msg":"after the rotation"}"#,
        ],
    );
    stop_tailer(tailer).await;

    // Written while the agent is stopped.
    write_lines(
        &mut writer,
        &[
            "WARN written while the agent was stopped",
            "TypeError: handler is not a function",
            "    at Layer.handle (/srv/node_modules/express/lib/router/layer.js:95:5)",
            "    at /srv/app.js:10:5",
        ],
    );
    let tailer = start_tailer(&config, &agent_data, &sink);
    write_lines(&mut writer, &["INFO after the restart"]);
    wait_for_records(&server, 11).await;
    // Time for duplicates to show up, if there were any.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tailer(tailer).await;

    let rows = sql(
        &server,
        "SELECT body, severity_number, severity_text, trace_id, span_id, \
         log_attributes['log.file.name'], log_attributes['log.file.path'], \
         log_attributes['user'], log_attributes['order_id'], log_attributes['provider'], \
         resource_attributes['host.name'], CAST(timestamp AS VARCHAR) \
         FROM logs WHERE service_name = 'checkout'",
    )
    .await;
    let by_body: BTreeMap<String, Vec<Value>> = rows
        .iter()
        .map(|row| (row[0].as_str().unwrap().to_string(), row.clone()))
        .collect();
    let expected_bodies = [
        "order placed",
        "payment slow",
        "ERROR inventory service unreachable",
        "java.lang.IllegalStateException: out of stock\n\
\tat com.shop.Inventory.reserve(Inventory.java:42)\n\
\tat com.shop.Checkout.run(Checkout.java:17)\n\
Caused by: java.sql.SQLException: timeout\n\
\t... 2 more",
        "INFO checkout finished",
        "INFO last line before the rotation",
        "ERROR:root:refund failed\n\
Traceback (most recent call last):\n  File \"refund.py\", line 8, in refund\n    charge(-amount)\n\
ValueError: amount must be positive",
        "after the rotation",
        "WARN written while the agent was stopped",
        "TypeError: handler is not a function\n    at Layer.handle (/srv/node_modules/express/lib/router/layer.js:95:5)\n    at /srv/app.js:10:5",
        "INFO after the restart",
    ];
    assert_eq!(
        rows.len(),
        expected_bodies.len(),
        "every record exactly once: {:#?}",
        by_body.keys().collect::<Vec<_>>()
    );
    for body in expected_bodies {
        assert!(by_body.contains_key(body), "missing {body:?}");
    }

    let json = &by_body["order placed"];
    assert_eq!(json[1], 9);
    assert_eq!(json[2], "info");
    assert_eq!(json[3], TRACE_ID);
    assert_eq!(json[4], SPAN_ID);
    assert_eq!(json[7], "ann");
    assert_eq!(json[8], "42");
    assert!(
        json[11]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01T12:00:00.250"),
        "{}",
        json[11]
    );
    let logfmt = &by_body["payment slow"];
    assert_eq!(
        (logfmt[1].clone(), logfmt[2].clone()),
        (13.into(), "warn".into())
    );
    assert_eq!(logfmt[9], "stripe");
    assert_eq!(by_body["ERROR inventory service unreachable"][1], 17);
    assert_eq!(by_body["after the rotation"][1], 9, "pino level 30");
    assert_eq!(by_body["WARN written while the agent was stopped"][1], 13);
    for row in &rows {
        assert_eq!(row[5], "app.log", "{row:?}");
        assert_eq!(row[6], path.to_string_lossy().as_ref());
        assert_eq!(row[10], "test-host");
    }
    let plain = &by_body["INFO after the restart"];
    assert!(plain[3].is_null(), "no trace context on a plain line");
}
