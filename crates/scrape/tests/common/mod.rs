//! Helpers shared by the integration tests: free ports, child processes that
//! die with the test, and an `Appender` that keeps every batch.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use vispyr_scrape::{Appender, STALE_NAN_BITS, Sample, ScrapeBatch};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// A child process killed when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fails the test (never skips) when a required binary is missing.
pub fn require_binary(path: &str) -> PathBuf {
    let binary = PathBuf::from(path);
    assert!(
        binary.exists(),
        "required binary {path} is missing; install it (Debian package) to run this test"
    );
    binary
}

/// Finds `name` on `PATH`; fails the test when it is not there.
pub fn find_on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("required program {name} is not on PATH"))
}

/// Spawns `program args`, silencing its output.
pub fn spawn(program: &Path, args: &[String]) -> ChildGuard {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("spawning {} failed: {err}", program.display()));
    ChildGuard(child)
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {within:?}");
}

/// Starts the synthetic exporter from testdata on a free port.
pub fn start_synthetic_exporter(flap_period_secs: f64, format: &str) -> (ChildGuard, u16) {
    let python = find_on_path("python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/synthetic_exporter.py");
    let port = free_port();
    let args = vec![
        script.display().to_string(),
        "--port".to_string(),
        port.to_string(),
        "--flap-period".to_string(),
        flap_period_secs.to_string(),
        "--format".to_string(),
        format.to_string(),
    ];
    let guard = spawn(&python, &args);
    wait_for_port(port, Duration::from_secs(10));
    (guard, port)
}

/// An `Appender` that keeps every batch in memory.
#[derive(Default)]
pub struct Collector {
    batches: Mutex<Vec<ScrapeBatch>>,
}

impl Collector {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn batches(&self) -> Vec<ScrapeBatch> {
        self.batches.lock().unwrap().clone()
    }

    /// Polls until `pred` holds for the collected batches.
    pub async fn wait_until(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&[ScrapeBatch]) -> bool,
    ) {
        let deadline = Instant::now() + within;
        loop {
            if pred(&self.batches()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; batches: {}",
                self.batches().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Appender for Collector {
    fn append(&self, batch: ScrapeBatch) -> BoxFuture<'_, Result<(), String>> {
        self.batches.lock().unwrap().push(batch);
        Box::pin(async { Ok(()) })
    }
}

pub fn name_of(sample: &Sample) -> &str {
    label(sample, "__name__").unwrap_or("")
}

pub fn label<'a>(sample: &'a Sample, name: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub fn is_stale(sample: &Sample) -> bool {
    sample.v.to_bits() == STALE_NAN_BITS
}

/// The value of `up` in a batch, if it has one that is not a stale marker.
pub fn up_value(batch: &ScrapeBatch) -> Option<f64> {
    batch
        .samples
        .iter()
        .find(|s| name_of(s) == "up" && !is_stale(s))
        .map(|s| s.v)
}

pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];
