//! Issue 8, the zero-code CPU profiler end to end: a real Node.js process
//! started with `--perf-basic-prof` spinning in a named JS function and a
//! small native program with known symbols are profiled by the agent's
//! profiler (perf_event_open, symbolization, pprof) for ~12 s, pushed to a
//! real `vispyr serve`, and both functions must carry most of their service's
//! samples in the flamegraph API.
//!
//! Needs root (perf_event_open on every CPU), gcc, node and a built server:
//! `VISPYR_BIN` (default the `vispyr` cargo built next to the test).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vispyr_agent::outgoing::{DirectSender, ServerUrls, Sink};
use vispyr_agent::profiler::{ProfilerConfig, Targets};

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server(data_dir: &Path) -> (Running, String) {
    let binary = support::vispyr_bin();
    let port = free_port();
    let child = Command::new(&binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--otlp-grpc-addr")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--otlp-http-addr")
        .arg(format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot start {} (set VISPYR_BIN): {error}",
                binary.display()
            )
        });
    let server = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("{url}/ready"))
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (server, url)
}

const NATIVE: &str = r#"
#include <stdint.h>
__attribute__((noinline)) uint64_t vispyr_native_spin(uint64_t x) {
    for (;;) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (x == 42) return x;
    }
}
int main(void) { return (int)vispyr_native_spin(7); }
"#;

const NODE: &str = "function vispyrJsSpin() { let x = 0; for (;;) { x += Math.sqrt(x + 1); if (x > 1e12) x = 0; } } vispyrJsSpin();";

fn compile_native(dir: &Path) -> PathBuf {
    let source = dir.join("spin.c");
    std::fs::write(&source, NATIVE).unwrap();
    let binary = dir.join("vispyr_native_spin");
    let status = Command::new("gcc")
        .args(["-O0", "-fno-omit-frame-pointer", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("gcc");
    assert!(status.success());
    binary
}

/// The largest share of the total held by one function whose name contains
/// `needle` (the table API is flat: a deep JIT stack cannot hit a JSON parser's
/// nesting limit as the flamegraph tree can).
fn share_of(table: &Value, needle: &str) -> Option<f64> {
    let total = table["total"].as_f64()?;
    table["rows"]
        .as_array()?
        .iter()
        .filter(|row| {
            row["name"]
                .as_str()
                .is_some_and(|name| name.contains(needle))
        })
        .map(|row| row["total"].as_f64().unwrap_or(0.0) / total)
        .reduce(f64::max)
}

async fn function_table(client: &reqwest::Client, server: &str, service: &str) -> Value {
    let query =
        format!("process_cpu:cpu:nanoseconds:cpu:nanoseconds{{service_name=\"{service}\"}}");
    let response = client
        .get(format!("{server}/api/v1/profiles/table"))
        .query(&[
            ("query", query.as_str()),
            ("from", "now-5m"),
            ("until", "now"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "table: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_node_and_native_functions_appear_in_the_flamegraph() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, server_url) = start_server(&dir.path().join("data")).await;
    let suffix = std::process::id();
    let native_service = format!("prof-native-{suffix}");
    let node_service = format!("prof-node-{suffix}");

    let native = Running(
        Command::new(compile_native(dir.path()))
            .env("OTEL_SERVICE_NAME", &native_service)
            .spawn()
            .unwrap(),
    );
    let node = Running(
        Command::new("node")
            .args(["--perf-basic-prof", "-e", NODE])
            .env("OTEL_SERVICE_NAME", &node_service)
            .current_dir(dir.path())
            .spawn()
            .expect("node"),
    );

    let urls = ServerUrls::new(&server_url, None).unwrap();
    let sink: Arc<dyn Sink> = Arc::new(DirectSender::new(urls).unwrap());
    let config = ProfilerConfig {
        targets: Targets::Selected {
            pids: vec![native.0.id(), node.0.id()],
            patterns: Vec::new(),
        },
        frequency_hz: 97,
        interval: Duration::from_secs(4),
        proc_root: "/proc".into(),
    };
    vispyr_agent::profiler::run(config, sink, tokio::time::sleep(Duration::from_secs(12)))
        .await
        .expect("profiling (needs root for perf_event_open)");
    // The perf map the node process wrote is where its JS names came from.
    let perf_map = PathBuf::from(format!("/tmp/perf-{}.map", node.0.id()));
    assert!(perf_map.exists());
    drop((native, node));

    let client = reqwest::Client::new();
    for (service, function) in [
        (native_service.as_str(), "vispyr_native_spin"),
        (node_service.as_str(), "vispyrJsSpin"),
    ] {
        let table = function_table(&client, &server_url, service).await;
        let total = table["total"].as_i64().unwrap_or(0);
        // Each process spins for 12 s; on a busy 2-core machine it gets at
        // least a quarter of a core.
        assert!(
            total > 3_000_000_000,
            "{service}: only {total} ns of CPU profiled: {table}"
        );
        let share = share_of(&table, function)
            .unwrap_or_else(|| panic!("{function} is not in the profile of {service}: {table}"));
        assert!(
            share > 0.5,
            "{function} holds only {:.0} % of {service}'s CPU",
            share * 100.0
        );
    }
    // node leaves its perf map in /tmp.
    let _ = std::fs::remove_file(perf_map);
}
