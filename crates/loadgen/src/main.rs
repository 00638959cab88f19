//! `vispyr-loadgen`: the load generator for Vispyr's ingest benchmarks.
//!
//! # What it measures
//!
//! `spans` drives an OTLP/HTTP traces endpoint (`POST ${endpoint}/v1/traces`,
//! `Content-Type: application/x-protobuf`, optionally `Content-Encoding: gzip`)
//! in a closed loop: each of `--connections` tasks owns one keep-alive
//! connection and sends one `ExportTraceServiceRequest` of `--batch` spans at a
//! time, for `--duration`, optionally paced to a total of `--rate` spans/s.
//! It counts spans acknowledged (2xx, minus any OTLP `partial_success`
//! rejections), requests throttled (429/503, after which it sleeps for
//! `Retry-After` seconds, or 100 ms without one) and errors (other statuses,
//! transport failures), prints the current rate to stderr every second and
//! finishes with one JSON line on stdout:
//!
//! ```text
//! {"spans_sent":..,"spans_acked":..,"requests":..,"throttled":..,"errors":..,"seconds":..,
//!  "spans_per_sec":..,"avg_request_bytes":..,"p50_ms":..,"p99_ms":..,"spans_rejected":..}
//! ```
//!
//! `spans_per_sec` is acknowledged spans over wall time (until the last
//! in-flight request returns); `p50_ms`/`p99_ms` are latencies of
//! acknowledged requests (`null` if there were none); `avg_request_bytes` is
//! the body size on the wire (compressed when `--gzip`).
//!
//! The spans look like a 50-service microservice estate (see
//! [`generator`]): traces of 1–8 spans with real parent/child links, about
//! ten attributes per span, 2 % errors with `exception` events. Bodies are
//! generated and encoded before the clock starts (`--pool` distinct batches),
//! so generation never limits throughput. Without `--gzip` every request
//! still gets fresh trace ids (the pooled bytes are copied and their trace ids
//! patched in place); with `--gzip` the pre-compressed bodies are reused as-is
//! and trace ids repeat every `--pool` requests (see [`pool`]).
//!
//! `logs` drives an OTLP/HTTP logs endpoint (`POST ${endpoint}/v1/logs`,
//! `ExportLogsServiceRequest`s of `--batch` lines, default 1000) with the
//! same closed loop, pacing (`--rate` in lines/s), throttling and error
//! handling, and ends with the same JSON line with `lines_*` keys plus the
//! rare-term counts:
//!
//! ```text
//! {"lines_sent":..,"lines_acked":..,"requests":..,"throttled":..,"errors":..,"seconds":..,
//!  "lines_per_sec":..,"avg_request_bytes":..,"p50_ms":..,"p99_ms":..,"lines_rejected":..,
//!  "rare_lines_sent":..,"rare_lines_acked":..}
//! ```
//!
//! The lines come from `--services` services (default 20; see
//! [`log_generator`]): access-log lines, `key=value` app messages, JSON
//! lines and errors with exception text, 70/15/10/5 % INFO/DEBUG/WARN/ERROR,
//! half of them with a trace and span id, 2–4 attributes each, about 200
//! bytes of body on average (201 measured over 200,000 lines, p10 115,
//! p50 204, p90 281, max ≈ 360). Without `--gzip` every request gets
//! timestamps of its send time and fresh trace and request ids; with
//! `--gzip` bodies are reused as pooled (timestamps of pool generation time,
//! ids repeating every `--pool` requests). `--rare-term WORD --rare-every N`
//! plants WORD as a whole word into line `k` of the run exactly when
//! `k % N == N - 1`, so `rare_lines_sent` = ⌊`lines_sent` / N⌋;
//! `rare_lines_acked` counts those in requests acknowledged without any
//! partial rejection (see [`logs`]).
//!
//! `profiles` drives Pyroscope's `POST ${endpoint}/ingest` with gzipped
//! Node.js CPU pprofs (5,000 samples each by default, see
//! [`profile_generator`]) the same closed-loop way and reports profiles/s,
//! samples/s and latencies; `profiles-backfill` uploads an hour (or
//! `--hours`) of history for a set of services, for query benchmarks (see
//! [`profiles`]).
//!
//! `spans-file` writes the same kind of spans to a file as length-prefixed
//! (`u32` little-endian) `ExportTraceServiceRequest` messages and reports the
//! protobuf bytes per span, the baseline for on-disk size comparisons.
//!
//! `logs-file` writes the bodies of generated log lines to a text file, one
//! per line as an app would write them, and measures (and with
//! `--protobuf-out` writes) the same lines as length-prefixed
//! `ExportLogsServiceRequest`s; it reports `raw_bytes_per_line` and
//! `protobuf_bytes_per_line` (with `--gzip-size`, also both gzipped), the
//! baselines for storage-ratio targets. The raw text holds only the bodies:
//! record timestamps, severities, attributes, resources and trace ids are
//! extra in every other form.
//!
//! # Running it
//!
//! ```text
//! cargo build --release -p vispyr-loadgen
//! target/release/vispyr-loadgen spans --endpoint http://127.0.0.1:4318 \
//!     --connections 32 --duration 30s --batch 500 [--gzip] [--rate 200000] [--seed 1]
//! target/release/vispyr-loadgen spans-file --out /tmp/spans.bin --spans 1000000 [--gzip-size]
//! target/release/vispyr-loadgen logs --endpoint http://127.0.0.1:4318 \
//!     --connections 32 --duration 30s --batch 1000 [--gzip] [--rate 200000] [--seed 1] \
//!     [--services 20] [--rare-term vispyrneedle --rare-every 1000000]
//! target/release/vispyr-loadgen logs-file --out /tmp/logs.txt --lines 1000000 \
//!     [--protobuf-out /tmp/logs.bin] [--batch 1000] [--gzip-size]
//! target/release/vispyr-loadgen profiles --endpoint http://127.0.0.1:4040 \
//!     --connections 8 --duration 30s --samples 5000 --services 20 [--stats-out pool.json]
//! target/release/vispyr-loadgen profiles-backfill --endpoint http://127.0.0.1:4040 \
//!     --services 20 --hours 1 --interval 10s [--stats-out sent.json]
//! ```
//!
//! On a small machine shared with the server, `--threads 1` keeps the load
//! generator to one core.

mod file;
mod generator;
mod load;
mod log_generator;
mod logs;
mod pool;
mod profile_generator;
mod profiles;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vispyr-loadgen",
    version,
    about = "OTLP and Pyroscope load generator for Vispyr ingest benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send OTLP/HTTP protobuf trace exports to an endpoint and report throughput.
    Spans(SpansArgs),
    /// Write spans as length-prefixed OTLP protobuf messages and report their size.
    SpansFile(SpansFileArgs),
    /// Send OTLP/HTTP protobuf log exports to an endpoint and report throughput.
    Logs(LogsArgs),
    /// Write log lines as raw text (and OTLP protobuf) and report bytes per line.
    LogsFile(LogsFileArgs),
    /// Post gzipped Node.js CPU pprofs to Pyroscope `/ingest` and report throughput.
    Profiles(ProfilesArgs),
    /// Upload hours of Node.js CPU profiles for a set of services, one per interval.
    ProfilesBackfill(BackfillArgs),
}

#[derive(Args)]
struct ProfilesArgs {
    /// Base URL of the HTTP port; uploads go to `${endpoint}/ingest`.
    #[arg(long, default_value = "http://127.0.0.1:4040")]
    endpoint: String,
    /// Concurrent keep-alive connections, each with one upload in flight.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// How long to send, e.g. `30s`, `2m`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Samples per profile.
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// Services (`svc-1` … `svc-N`), each with its own stable set of stacks.
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// Distinct pre-generated profiles to cycle through (round robin over services).
    #[arg(long, default_value_t = 200)]
    pool: usize,
    /// Seed of the profile generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Write the pool's size statistics (average gzipped and raw bytes) here as JSON.
    #[arg(long)]
    stats_out: Option<PathBuf>,
    /// Tokio worker threads; 0 = one per CPU.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Args)]
struct BackfillArgs {
    /// Base URL of the HTTP port; uploads go to `${endpoint}/ingest`.
    #[arg(long, default_value = "http://127.0.0.1:4040")]
    endpoint: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Services (`svc-1` … `svc-N`).
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// Hours of history, ending now.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
    /// One profile per service per interval, e.g. `10s`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    interval: Duration,
    /// Samples per profile.
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// Seed of the profile generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Write the sent profiles' size statistics here as JSON.
    #[arg(long)]
    stats_out: Option<PathBuf>,
}

#[derive(Args)]
struct SpansArgs {
    /// OTLP/HTTP base URL; requests go to `${endpoint}/v1/traces`.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to send, e.g. `30s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Spans per request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Send gzip-compressed bodies (`Content-Encoding: gzip`).
    #[arg(long)]
    gzip: bool,
    /// Target spans per second over all connections; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seed of the span generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Distinct pre-encoded request bodies to cycle through.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Tokio worker threads; 0 = one per CPU.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct SpansFileArgs {
    /// File to write.
    #[arg(long)]
    out: PathBuf,
    /// Total spans to write.
    #[arg(long)]
    spans: u64,
    /// Spans per message.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Seed of the span generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also report the size of each message gzipped (default level).
    #[arg(long)]
    gzip_size: bool,
}

#[derive(Args)]
struct LogsArgs {
    /// OTLP/HTTP base URL; requests go to `${endpoint}/v1/logs`.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to send, e.g. `30s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Log lines per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Send gzip-compressed bodies (`Content-Encoding: gzip`).
    #[arg(long)]
    gzip: bool,
    /// Target lines per second over all connections; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seed of the log generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Distinct pre-encoded request bodies to cycle through.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Services (`service.name` values) logging.
    #[arg(long, default_value_t = log_generator::DEFAULT_SERVICES)]
    services: usize,
    /// Plant this word (ASCII letters and digits, with a letter after `f`)
    /// into one line out of every `--rare-every` lines sent.
    #[arg(long, requires = "rare_every")]
    rare_term: Option<String>,
    /// Line `k` of the run (from 0) carries `--rare-term` when `k % N == N - 1`.
    #[arg(long, value_name = "N", requires = "rare_term")]
    rare_every: Option<u64>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Tokio worker threads; 0 = one per CPU.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct LogsFileArgs {
    /// Raw text file to write: the line bodies, one per line.
    #[arg(long)]
    out: PathBuf,
    /// Also write the length-prefixed protobuf messages here (their size is
    /// reported either way).
    #[arg(long)]
    protobuf_out: Option<PathBuf>,
    /// Total log lines to write.
    #[arg(long)]
    lines: u64,
    /// Lines per message.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Services (`service.name` values) logging.
    #[arg(long, default_value_t = log_generator::DEFAULT_SERVICES)]
    services: usize,
    /// Seed of the log generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also report the raw text and each message gzipped (default level).
    #[arg(long)]
    gzip_size: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Spans(args) => {
            let cfg = load::LoadConfig {
                endpoint: args.endpoint,
                connections: args.connections,
                duration: args.duration,
                gzip: args.gzip,
                rate: args.rate,
                seed: args.seed,
                timeout: args.timeout,
            };
            let build = || {
                pool::SpanPool::build(
                    args.pool,
                    args.batch,
                    args.seed,
                    load::now_unix_nanos(),
                    args.gzip,
                )
            };
            runtime(args.threads)?.block_on(load::run(cfg, build))
        }
        Command::Logs(args) => {
            let rare = match (args.rare_term, args.rare_every) {
                (Some(term), Some(every)) => Some(logs::RareTerm::new(term, every)?),
                _ => None,
            };
            let cfg = load::LoadConfig {
                endpoint: args.endpoint,
                connections: args.connections,
                duration: args.duration,
                gzip: args.gzip,
                rate: args.rate,
                seed: args.seed,
                timeout: args.timeout,
            };
            let build = || {
                logs::LogPool::build(
                    args.pool,
                    args.batch,
                    args.services,
                    args.seed,
                    load::now_unix_nanos(),
                    args.gzip,
                    rare,
                )
            };
            runtime(args.threads)?.block_on(load::run(cfg, build))
        }
        Command::Profiles(args) => {
            runtime(args.threads)?.block_on(profiles::run(profiles::ProfilesConfig {
                endpoint: args.endpoint,
                connections: args.connections,
                duration: args.duration,
                samples: args.samples,
                services: args.services,
                pool: args.pool,
                seed: args.seed,
                timeout: args.timeout,
                stats_out: args.stats_out,
            }))
        }
        Command::ProfilesBackfill(args) => {
            runtime(1)?.block_on(profiles::backfill(profiles::BackfillConfig {
                endpoint: args.endpoint,
                connections: args.connections,
                services: args.services,
                hours: args.hours,
                interval: args.interval,
                samples: args.samples,
                seed: args.seed,
                timeout: args.timeout,
                stats_out: args.stats_out,
            }))
        }
        Command::SpansFile(args) => {
            let stats = file::write_spans_file(
                &args.out,
                args.spans,
                args.batch,
                args.seed,
                load::now_unix_nanos(),
                args.gzip_size,
            )?;
            eprintln!(
                "vispyr-loadgen: wrote {} spans in {} messages to {}: {} protobuf bytes, {:.1} bytes/span",
                stats.spans,
                stats.messages.messages,
                args.out.display(),
                stats.messages.protobuf_bytes,
                stats.messages.protobuf_bytes as f64 / stats.spans.max(1) as f64,
            );
            println!("{}", file::stats_json(&stats));
            Ok(())
        }
        Command::LogsFile(args) => {
            let stats = file::write_logs_file(&file::LogFileConfig {
                raw_out: &args.out,
                protobuf_out: args.protobuf_out.as_deref(),
                lines: args.lines,
                batch: args.batch,
                services: args.services,
                seed: args.seed,
                base_time_ns: load::now_unix_nanos(),
                with_gzip: args.gzip_size,
            })?;
            let lines = stats.lines.max(1) as f64;
            eprintln!(
                "vispyr-loadgen: wrote {} lines to {}: {:.1} raw bytes/line, {:.1} protobuf bytes/line",
                stats.lines,
                args.out.display(),
                stats.raw_bytes as f64 / lines,
                stats.messages.protobuf_bytes as f64 / lines,
            );
            println!("{}", file::log_stats_json(&stats));
            Ok(())
        }
    }
}

/// A multi-threaded tokio runtime with `threads` workers (0 = one per CPU).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if threads > 0 {
        runtime.worker_threads(threads);
    }
    runtime.build().context("starting tokio runtime")
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds (fractions allowed).
fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => bail!("unknown duration unit {other:?} in {s:?} (use ms, s, m or h)"),
    };
    Duration::try_from_secs_f64(value * scale).with_context(|| format!("invalid duration {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").ok(), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30").ok(), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_duration("1.5s").ok(),
            Some(Duration::from_millis(1500))
        );
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "spans",
            "--endpoint",
            "http://127.0.0.1:4318",
            "--connections",
            "32",
            "--duration",
            "30s",
            "--batch",
            "500",
            "--gzip",
            "--rate",
            "1000",
            "--seed",
            "1",
        ]);
        assert!(
            matches!(cli.map(|c| c.command), Ok(Command::Spans(a)) if a.gzip && a.rate == 1000)
        );
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "spans-file",
            "--out",
            "x",
            "--spans",
            "10",
        ]);
        assert!(matches!(cli.map(|c| c.command), Ok(Command::SpansFile(a)) if a.spans == 10));
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "logs",
            "--connections",
            "8",
            "--rare-term",
            "vispyrneedle",
            "--rare-every",
            "100000",
            "--gzip",
        ]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Logs(a)) if a.batch == 1000
                && a.services == 20
                && a.rare_every == Some(100_000)
                && a.rare_term.as_deref() == Some("vispyrneedle")
        ));
        let lonely = Cli::try_parse_from(["vispyr-loadgen", "logs", "--rare-term", "x9z"]);
        assert!(lonely.is_err(), "--rare-term needs --rare-every");
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "logs-file",
            "--out",
            "x.txt",
            "--lines",
            "10",
            "--protobuf-out",
            "x.bin",
        ]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::LogsFile(a)) if a.lines == 10 && a.protobuf_out.is_some()
        ));
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "profiles",
            "--endpoint",
            "http://127.0.0.1:4040",
            "--connections",
            "8",
            "--duration",
            "30s",
            "--samples",
            "5000",
            "--services",
            "20",
        ]);
        assert!(
            matches!(cli.map(|c| c.command), Ok(Command::Profiles(a)) if a.samples == 5000 && a.services == 20)
        );
        let cli = Cli::try_parse_from([
            "vispyr-loadgen",
            "profiles-backfill",
            "--services",
            "20",
            "--hours",
            "1",
            "--interval",
            "10s",
        ]);
        assert!(
            matches!(cli.map(|c| c.command), Ok(Command::ProfilesBackfill(a)) if a.interval == Duration::from_secs(10))
        );
    }
}
