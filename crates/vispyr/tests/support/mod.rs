//! Test harness: starts the real `vispyr` binary on free ports with a temp data dir
//! and talks to it over HTTP, as a user would.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::{Value, json};

pub mod postgres;

/// Config with short connector intervals so tests do not wait 15 s. `wait`
/// must cover the gap between two services' exports of one trace (the system
/// test's services flush at the end, within milliseconds of each other) — and
/// is how long virtual-node edges take to appear.
pub const FAST_CONNECTORS: &str = r#"connectors:
  span_metrics:
    flush_interval: 1s
  service_graph:
    flush_interval: 1s
    wait: 3s
"#;

/// A trace export of `spans` from a resource whose `service.name` is `service`.
pub fn trace_request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.to_string())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports: all are bound at once before any is released, so the
/// OS cannot hand the same port out twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("bound").port())
}

/// A running `vispyr serve`.
pub struct Server {
    pub data_dir: PathBuf,
    pub http: String,
    pub otlp_http: String,
    pub otlp_grpc: String,
    config: Option<PathBuf>,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Server {
    /// Starts a server with `config_yaml` (may be empty) in `data_dir`.
    pub fn start_in(data_dir: &Path, config_yaml: &str) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        let config = if config_yaml.is_empty() {
            None
        } else {
            let path = data_dir.with_extension("yaml");
            std::fs::write(&path, config_yaml).unwrap();
            Some(path)
        };
        let mut server = Server {
            data_dir: data_dir.to_path_buf(),
            http: String::new(),
            otlp_http: String::new(),
            otlp_grpc: String::new(),
            config,
            child: None,
            log_path: data_dir.with_extension("log"),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        // Another process can still take a port between our check and the bind:
        // try fresh ports a few times when that happens.
        for attempt in 1..=3 {
            match self.try_launch() {
                Ok(()) => return,
                Err(log) if attempt < 3 && log.contains("Address already in use") => continue,
                Err(log) => panic!("vispyr exited during start-up; log:\n{log}"),
            }
        }
    }

    fn try_launch(&mut self) -> Result<(), String> {
        let [http, otlp_http, otlp_grpc] = free_ports::<3>();
        let http = format!("127.0.0.1:{http}");
        let otlp_http = format!("127.0.0.1:{otlp_http}");
        let otlp_grpc = format!("127.0.0.1:{otlp_grpc}");
        let log_start = self.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vispyr"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--http-addr", &http, "--otlp-http-addr", &otlp_http])
            .args(["--otlp-grpc-addr", &otlp_grpc])
            .env("RUST_LOG", "info")
            .env_remove("VISPYR_CONFIG")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        self.child = Some(command.spawn().expect("spawn vispyr"));
        self.http = format!("http://{http}");
        self.otlp_http = format!("http://{otlp_http}");
        self.otlp_grpc = format!("http://{otlp_grpc}");
        self.wait_ready(log_start)
    }

    /// Waits for `/ready`; the error is this launch's log (from `log_start`).
    fn wait_ready(&mut self, log_start: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = self.log();
                return Err(format!(
                    "({status})\n{}",
                    log.get(log_start..).unwrap_or(&log)
                ));
            }
            let ready = client
                .get(format!("{}/ready", self.http))
                .timeout(Duration::from_secs(1))
                .send()
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vispyr did not become ready; log:\n{}", self.log());
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "graceful stop failed ({status}); log:\n{}",
                self.log()
            );
        }
    }

    /// SIGKILL: the crash path.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on new ports with the same data dir and config.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.launch();
    }

    /// Runs SQL through `/api/v1/sql` and returns the JSON response (panics on error).
    pub fn sql(&self, query: &str) -> Value {
        let (status, body) = self.sql_raw(query);
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    /// Runs SQL and returns the status and body.
    pub fn sql_raw(&self, query: &str) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/sql", self.http))
            .json(&json!({ "sql": query }))
            .send()
            .expect("sql request");
        let status = response.status().as_u16();
        (status, response.json().expect("json body"))
    }

    /// The rows of a query; fails if the server truncated the result.
    pub fn rows(&self, query: &str) -> Vec<Vec<Value>> {
        let body = self.sql(query);
        assert_eq!(
            body["truncated"], false,
            "{query}: result truncated by the row limit"
        );
        serde_json::from_value(body["rows"].clone()).unwrap()
    }

    /// One value: the first column of the first row.
    pub fn scalar(&self, query: &str) -> Value {
        self.rows(query)
            .first()
            .and_then(|row| row.first().cloned())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a client script printed: the ids it generated.
#[derive(Debug, serde::Deserialize)]
pub struct ClientSummary {
    pub trace_id: String,
    pub spans: std::collections::HashMap<String, String>,
    pub service_name: String,
}

/// Runs a client script and parses the one line of JSON it prints.
pub fn run_client<T: serde::de::DeserializeOwned>(mut command: Command) -> T {
    let output = command.output().expect("run client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad summary {stdout:?}: {e}"))
}

pub fn require(path: &Path) {
    assert!(
        path.exists(),
        "{} is missing: run `bash tests/e2e/install.sh` first (the README's test command does)",
        path.display()
    );
}

/// `node tests/e2e/node/<script>`, once the packages are installed.
pub fn node_command(script: &str) -> Command {
    let dir = repo_root().join("tests/e2e/node");
    require(&dir.join("node_modules"));
    let mut command = Command::new("node");
    command.arg(dir.join(script));
    command
}

/// `tests/e2e/python/.venv/bin/python tests/e2e/python/<script>`.
pub fn python_command(script: &str) -> Command {
    let dir = repo_root().join("tests/e2e/python");
    let python = dir.join(".venv/bin/python");
    require(&python);
    let mut command = Command::new(python);
    command.arg(dir.join(script));
    command
}

/// Runs the Node.js OpenTelemetry SDK client with `protocol` (`http/json` or `http/protobuf`).
pub fn run_node(endpoint: &str, protocol: &str, service: &str) -> ClientSummary {
    let mut command = node_command("send.mjs");
    command
        .env("OTLP_ENDPOINT", endpoint)
        .env("OTLP_PROTOCOL", protocol)
        .env("SERVICE_NAME", service);
    run_client(command)
}

/// Runs the Python OpenTelemetry SDK client with `protocol` (`grpc` or `http/protobuf`).
pub fn run_python(endpoint: &str, protocol: &str, service: &str) -> ClientSummary {
    let mut command = python_command("send.py");
    command
        .env("OTLP_ENDPOINT", endpoint)
        .env("OTLP_PROTOCOL", protocol)
        .env("SERVICE_NAME", service);
    run_client(command)
}

/// A child process killed when dropped (exporters, Prometheus).
pub struct Guard {
    pub name: &'static str,
    child: Child,
}

impl Guard {
    /// Spawns `command`, failing the test with a message when it cannot run.
    pub fn spawn(name: &'static str, mut command: Command) -> Guard {
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {name}: {error}"));
        Guard { name, child }
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }

    /// Kills the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (a `kill` name such as `INT`), waits up to `timeout` for
    /// the process to exit, then kills it: for servers that shut down cleanly
    /// on a signal (PostgreSQL's fast shutdown is SIGINT).
    pub fn terminate(&mut self, signal: &str, timeout: Duration) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `url` answers 200, failing after `timeout`.
pub fn wait_http_ok(url: &str, timeout: Duration) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let ok = client
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|response| response.status().is_success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not answer 200 within {timeout:?}");
}
