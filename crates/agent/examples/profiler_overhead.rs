//! The CPU profiler's own cost while it profiles busy processes: CPU time of
//! this process (the profiler thread and the async side that hands profiles
//! over) and its peak RSS.
//!
//! ```text
//! cargo run --release -p vispyr-agent --example profiler_overhead -- [SECONDS] [PROCESSES]
//! ```
//!
//! Starts PROCESSES (default 10) busy processes — half `node --perf-basic-prof`
//! spinning in a JS function, half a C program spinning in a native one —
//! profiles them at 97 Hz for SECONDS (default 30) with 10 s uploads into a
//! sink that only counts, and prints the numbers. Needs root, gcc and node.
//! With `VISPYR_SERVER=http://host:4040` the profiles go to that server.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vispyr_agent::outgoing::{DirectSender, Outgoing, SendFuture, ServerUrls, Sink};
use vispyr_agent::profiler::{ProfilerConfig, Targets};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts what would be sent, and forwards it when a server is given.
struct Counting {
    requests: AtomicU64,
    bytes: AtomicU64,
    forward: Option<DirectSender>,
}

impl Sink for Counting {
    fn send(&self, request: Outgoing) -> SendFuture<'_> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(request.body.len() as u64, Ordering::Relaxed);
        Box::pin(async move {
            match &self.forward {
                Some(sender) => sender.post(&request).await,
                None => Ok(()),
            }
        })
    }
}

/// (user + system CPU seconds of this process, of the `vispyr-profiler` thread).
fn cpu_seconds() -> (f64, f64) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let stat_ticks = |path: &str| -> f64 {
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        let Some(close) = stat.rfind(')') else {
            return 0.0;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15, the 12th and 13th after the name.
        let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        (utime + stime) / ticks
    };
    let mut thread = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "vispyr-profiler" {
            thread += stat_ticks(&task.path().join("stat").to_string_lossy());
        }
    }
    (stat_ticks("/proc/self/stat"), thread)
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).map_or(Ok(30), |s| s.parse())?;
    let processes: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;

    let dir = tempfile::tempdir()?;
    let source = dir.path().join("spin.c");
    std::fs::write(
        &source,
        "__attribute__((noinline)) unsigned long vispyr_native_spin(unsigned long x) { for (;;) { x = x * 6364136223846793005UL + 1; if (x == 42) return x; } }\nint main(void) { return (int)vispyr_native_spin(7); }\n",
    )?;
    let binary = dir.path().join("vispyr_native_spin");
    let compiled = Command::new("gcc")
        .args(["-O1", "-fno-omit-frame-pointer", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()?;
    anyhow::ensure!(compiled.success(), "gcc failed");
    let mut children = Vec::new();
    for index in 0..processes {
        let child = if index % 2 == 0 {
            Command::new("node")
                .args([
                    "--perf-basic-prof",
                    "-e",
                    "function vispyrJsSpin() { let x = 0; for (;;) { x += Math.sqrt(x + 1); if (x > 1e12) x = 0; } } vispyrJsSpin();",
                ])
                .env("OTEL_SERVICE_NAME", format!("overhead-node-{index}"))
                .spawn()?
        } else {
            Command::new(&binary)
                .env("OTEL_SERVICE_NAME", format!("overhead-native-{index}"))
                .spawn()?
        };
        children.push(Running(child));
    }
    let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();

    let forward = match std::env::var("VISPYR_SERVER") {
        Ok(server) => Some(DirectSender::new(ServerUrls::new(&server, None)?)?),
        Err(_) => None,
    };
    let sink = Arc::new(Counting {
        requests: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        forward,
    });
    let config = ProfilerConfig {
        targets: Targets::Selected {
            pids,
            patterns: Vec::new(),
        },
        frequency_hz: 97,
        interval: Duration::from_secs(10),
        proc_root: "/proc".into(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rss_before = status_kib("VmRSS:");
    let (cpu_before, _) = cpu_seconds();
    let started = Instant::now();
    let sink_dyn: Arc<dyn Sink> = sink.clone();
    let mut thread_cpu = 0.0;
    runtime.block_on(async {
        let profiling = vispyr_agent::profiler::run(
            config,
            sink_dyn,
            tokio::time::sleep(Duration::from_secs(seconds)),
        );
        tokio::pin!(profiling);
        // Samples the profiler thread's CPU time while it still exists.
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                result = &mut profiling => return result,
                _ = ticker.tick() => thread_cpu = f64::max(thread_cpu, cpu_seconds().1),
            }
        }
    })?;
    let wall = started.elapsed().as_secs_f64();
    let (cpu_after, _) = cpu_seconds();
    let cpu = cpu_after - cpu_before;
    drop(children);

    println!("profiled {processes} busy processes for {wall:.1} s at 97 Hz");
    println!(
        "CPU: process {cpu:.2} s = {:.2} % of one core; profiler thread {thread_cpu:.2} s = {:.2} %",
        100.0 * cpu / wall,
        100.0 * thread_cpu / wall
    );
    println!(
        "memory: RSS before {} KiB, after {} KiB, peak (VmHWM) {} KiB",
        rss_before,
        status_kib("VmRSS:"),
        status_kib("VmHWM:")
    );
    println!(
        "profiles sent: {} ({} bytes gzipped pprof)",
        sink.requests.load(Ordering::Relaxed),
        sink.bytes.load(Ordering::Relaxed)
    );
    Ok(())
}
