//! The `profiles` and `profiles-backfill` subcommands: Pyroscope `/ingest`
//! uploads of realistic Node.js CPU pprofs (see [`crate::profile_generator`]).
//!
//! `profiles` is closed-loop load like `spans`: `--pool` gzipped pprofs are
//! generated before the clock starts (round robin over `--services`), then
//! `--connections` tasks post them for `--duration`. Pooled profiles carry no
//! `time_nanos`, so the server stamps each with the request's `from` (now −
//! 10 s), and the samples spread over the run like live data.
//!
//! `profiles-backfill` uploads `--hours` of history for `--services` services
//! at one profile per `--interval` each, every profile freshly generated and
//! stamped with its own window, so the data lands in the right hour
//! partitions (20 services × 1 h at 10 s = 7,200 profiles). Throttled
//! uploads are retried, so the history is complete when it reports no errors.
//!
//! Both print a one-line JSON summary on stdout; `--stats-out` also writes the
//! profiles' size statistics (average gzipped and raw pprof bytes, distinct
//! stacks), the baseline of the storage benchmark.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::{Mutex, mpsc, watch};

use crate::load::{
    DEFAULT_THROTTLE_BACKOFF, ERROR_BACKOFF, error_chain, now_unix_nanos, pause_until,
    percentile_ms, record_error, retry_after,
};
use crate::profile_generator::{GeneratedProfile, ProfileGenerator, service_name};

/// Length of one profile: the Pyroscope SDKs upload every 10 s.
const PROFILE_SECONDS: i64 = 10;
/// Uploads of one backfilled profile before it counts as an error.
const BACKFILL_ATTEMPTS: u32 = 5;
/// Regions given to services as a static label, round robin.
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

/// Settings of one `profiles` run.
pub struct ProfilesConfig {
    pub endpoint: String,
    pub connections: usize,
    pub duration: Duration,
    pub samples: usize,
    pub services: usize,
    pub pool: usize,
    pub seed: u64,
    pub timeout: Duration,
    pub stats_out: Option<PathBuf>,
}

/// Settings of one `profiles-backfill` run.
pub struct BackfillConfig {
    pub endpoint: String,
    pub connections: usize,
    pub services: usize,
    pub hours: f64,
    pub interval: Duration,
    pub samples: usize,
    pub seed: u64,
    pub timeout: Duration,
    pub stats_out: Option<PathBuf>,
}

/// Sizes of a set of generated profiles.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct SizeStats {
    pub profiles: u64,
    pub samples: u64,
    pub gzip_bytes: u64,
    pub pprof_bytes: u64,
    pub distinct_stacks: u64,
    pub locations: u64,
    /// Gzipped bytes had the samples of each stack been summed into one.
    pub aggregated_gzip_bytes: u64,
}

impl SizeStats {
    fn add(&mut self, profile: &GeneratedProfile) {
        self.profiles += 1;
        self.samples += profile.samples as u64;
        self.gzip_bytes += profile.gzipped.len() as u64;
        self.pprof_bytes += profile.pprof_bytes as u64;
        self.distinct_stacks += profile.distinct_stacks as u64;
        self.locations += profile.locations as u64;
        self.aggregated_gzip_bytes += profile.aggregated_gzip_bytes.unwrap_or(0) as u64;
    }

    fn avg(&self, total: u64) -> f64 {
        total as f64 / self.profiles.max(1) as f64
    }

    /// One-line JSON.
    pub fn json(&self) -> String {
        format!(
            "{{\"profiles\":{},\"samples\":{},\"gzip_bytes\":{},\"pprof_bytes\":{},\
             \"avg_gzip_bytes\":{:.1},\"avg_pprof_bytes\":{:.1},\"avg_samples\":{:.1},\
             \"avg_distinct_stacks\":{:.1},\"avg_locations\":{:.1},\
             \"avg_aggregated_gzip_bytes\":{:.1}}}",
            self.profiles,
            self.samples,
            self.gzip_bytes,
            self.pprof_bytes,
            self.avg(self.gzip_bytes),
            self.avg(self.pprof_bytes),
            self.avg(self.samples),
            self.avg(self.distinct_stacks),
            self.avg(self.locations),
            self.avg(self.aggregated_gzip_bytes),
        )
    }

    fn write_to(&self, path: Option<&PathBuf>) -> Result<()> {
        if let Some(path) = path {
            std::fs::write(path, self.json() + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// `${endpoint}/ingest?…` for one upload of `service` covering `[from, until)`
/// (Unix seconds).
fn ingest_url(endpoint: &str, service: usize, from: i64, until: i64) -> String {
    let name = format!(
        "{}.cpu{{env=prod,region={}}}",
        service_name(service),
        REGIONS[service % REGIONS.len()]
    );
    format!(
        "{}/ingest?name={}&from={from}&until={until}&format=pprof&spyName=nodespy&sampleRate=100",
        endpoint.trim_end_matches('/'),
        query_escape(&name)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(timeout)
        .build()
        .context("building HTTP client")
}

/// What became of one upload.
enum Upload {
    Accepted(Duration),
    Throttled(Duration),
    Failed(String),
}

async fn upload(client: &reqwest::Client, url: &str, body: Bytes) -> Upload {
    let sent_at = Instant::now();
    let response = match client
        .post(url)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return Upload::Failed(format!("request failed: {}", error_chain(&e))),
    };
    let status = response.status();
    let wait = retry_after(response.headers()).unwrap_or(DEFAULT_THROTTLE_BACKOFF);
    // Always drain the body so the connection can be reused.
    let text = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Upload::Failed(format!("reading response failed: {}", error_chain(&e))),
    };
    if status.is_success() {
        Upload::Accepted(sent_at.elapsed())
    } else if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        Upload::Throttled(wait)
    } else {
        let text = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
        Upload::Failed(format!("HTTP {status}: {text}"))
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

fn unix_seconds_now() -> i64 {
    i64::try_from(now_unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    samples_acked: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    bytes_sent: AtomicU64,
}

struct Shared {
    endpoint: String,
    pool: Vec<GeneratedProfile>,
    counters: Counters,
    seq: AtomicU64,
    deadline: tokio::time::Instant,
    timeout: Duration,
    stopping: AtomicBool,
}

/// Runs `profiles` and prints the JSON summary to stdout.
pub async fn run(cfg: ProfilesConfig) -> Result<()> {
    anyhow::ensure!(cfg.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(cfg.services > 0, "--services must be at least 1");
    anyhow::ensure!(cfg.pool > 0, "--pool must be at least 1");

    let gen_started = Instant::now();
    let (samples, services, pool_size, seed) = (cfg.samples, cfg.services, cfg.pool, cfg.seed);
    let pool = tokio::task::spawn_blocking(move || -> Result<Vec<GeneratedProfile>> {
        let mut generator = ProfileGenerator::new(seed, services);
        (0..pool_size)
            .map(|i| {
                generator.encoded(
                    i % services,
                    samples,
                    0,
                    PROFILE_SECONDS * 1_000_000_000,
                    true,
                )
            })
            .collect()
    })
    .await
    .context("generator panicked")??;
    let mut stats = SizeStats::default();
    pool.iter().for_each(|p| stats.add(p));
    eprintln!(
        "vispyr-loadgen: {} pprofs of {} samples for {} services in {:.1}s: {}; \
         {} connections -> {}/ingest for {:.1}s",
        cfg.pool,
        cfg.samples,
        cfg.services,
        gen_started.elapsed().as_secs_f64(),
        stats.json(),
        cfg.connections,
        cfg.endpoint.trim_end_matches('/'),
        cfg.duration.as_secs_f64(),
    );
    stats.write_to(cfg.stats_out.as_ref())?;

    let start = Instant::now();
    let shared = Arc::new(Shared {
        endpoint: cfg.endpoint,
        pool,
        counters: Counters::default(),
        seq: AtomicU64::new(0),
        deadline: tokio::time::Instant::from_std(start + cfg.duration),
        timeout: cfg.timeout,
        stopping: AtomicBool::new(false),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctrl_c = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("vispyr-loadgen: interrupted, finishing in-flight requests");
                shared.stopping.store(true, Relaxed);
                let _ = stop_tx.send(true);
            }
        })
    };
    let reporter = tokio::spawn(report_every_second(Arc::clone(&shared), start));
    let workers: Vec<_> = (0..cfg.connections)
        .map(|_| tokio::spawn(connection(Arc::clone(&shared), stop_rx.clone())))
        .collect();
    let mut latencies_us = Vec::new();
    for worker in workers {
        latencies_us.extend(worker.await.context("connection task panicked")??);
    }
    let seconds = start.elapsed().as_secs_f64();
    reporter.abort();
    ctrl_c.abort();
    println!("{}", summary_json(&shared.counters, seconds, latencies_us));
    Ok(())
}

/// One keep-alive connection posting pooled profiles until the deadline.
/// Returns the latencies (µs) of accepted uploads.
async fn connection(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Result<Vec<u64>> {
    let client = http_client(shared.timeout)?;
    let c = &shared.counters;
    let mut latencies = Vec::new();
    while !shared.stopping.load(Relaxed) && tokio::time::Instant::now() < shared.deadline {
        let seq = shared.seq.fetch_add(1, Relaxed);
        let profile = &shared.pool[(seq % shared.pool.len() as u64) as usize];
        let until = unix_seconds_now();
        let url = ingest_url(
            &shared.endpoint,
            profile.service,
            until - PROFILE_SECONDS,
            until,
        );
        c.sent.fetch_add(1, Relaxed);
        c.bytes_sent
            .fetch_add(profile.gzipped.len() as u64, Relaxed);
        let body = profile.gzipped.clone();
        match upload(&client, &url, body).await {
            Upload::Accepted(elapsed) => {
                c.acked.fetch_add(1, Relaxed);
                c.samples_acked.fetch_add(profile.samples as u64, Relaxed);
                latencies.push(micros(elapsed));
            }
            Upload::Throttled(wait) => {
                c.throttled.fetch_add(1, Relaxed);
                let at = (tokio::time::Instant::now() + wait).min(shared.deadline);
                pause_until(at, &mut stop).await;
            }
            Upload::Failed(message) => {
                record_error(&c.errors, &message);
                let at = (tokio::time::Instant::now() + ERROR_BACKOFF).min(shared.deadline);
                pause_until(at, &mut stop).await;
            }
        }
    }
    Ok(latencies)
}

async fn report_every_second(shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await; // the first tick fires at once
    let c = &shared.counters;
    let (mut last_acked, mut last_at) = (0u64, start);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let acked = c.acked.load(Relaxed);
        let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
        eprintln!(
            "[{:>5.1}s] {:>8.0} profiles/s acked  total acked {}  throttled {}  errors {}",
            now.duration_since(start).as_secs_f64(),
            (acked - last_acked) as f64 / dt,
            acked,
            c.throttled.load(Relaxed),
            c.errors.load(Relaxed),
        );
        (last_acked, last_at) = (acked, now);
    }
}

fn latency_fields(latencies_us: &mut [u64]) -> String {
    latencies_us.sort_unstable();
    let ms = |p| percentile_ms(latencies_us, p).map_or("null".to_string(), |v| format!("{v:.3}"));
    format!(
        "\"p50_ms\":{},\"p90_ms\":{},\"p99_ms\":{}",
        ms(50.0),
        ms(90.0),
        ms(99.0)
    )
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn summary_json(c: &Counters, seconds: f64, mut latencies_us: Vec<u64>) -> String {
    let sent = c.sent.load(Relaxed);
    let acked = c.acked.load(Relaxed);
    let samples = c.samples_acked.load(Relaxed);
    format!(
        "{{\"profiles_sent\":{sent},\"profiles_acked\":{acked},\"throttled\":{},\"errors\":{},\
         \"seconds\":{seconds:.3},\"profiles_per_sec\":{:.1},\"samples_per_sec\":{:.1},\
         \"avg_profile_bytes\":{},{}}}",
        c.throttled.load(Relaxed),
        c.errors.load(Relaxed),
        per_second(acked, seconds),
        per_second(samples, seconds),
        c.bytes_sent.load(Relaxed).checked_div(sent).unwrap_or(0),
        latency_fields(&mut latencies_us),
    )
}

/// One profile to backfill, with its window in Unix seconds.
struct Job {
    profile: GeneratedProfile,
    from: i64,
}

/// Runs `profiles-backfill` and prints the JSON summary to stdout.
pub async fn backfill(cfg: BackfillConfig) -> Result<()> {
    anyhow::ensure!(cfg.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(cfg.services > 0, "--services must be at least 1");
    let interval = i64::try_from(cfg.interval.as_secs()).unwrap_or(0);
    anyhow::ensure!(interval > 0, "--interval must be at least 1s");
    let windows = (cfg.hours * 3600.0 / interval as f64).round() as i64;
    anyhow::ensure!(windows > 0, "--hours is shorter than one --interval");
    // Whole intervals, the last one ending at or before now.
    let end = unix_seconds_now().div_euclid(interval) * interval;
    let start = end - windows * interval;
    eprintln!(
        "vispyr-loadgen: backfilling {} profiles ({} services × {windows} windows of {interval}s, \
         {start}..{end}) of {} samples -> {}/ingest over {} connections",
        windows * cfg.services as i64,
        cfg.services,
        cfg.samples,
        cfg.endpoint.trim_end_matches('/'),
        cfg.connections,
    );

    // One thread generates, in time order; the connections upload.
    let (tx, rx) = mpsc::channel::<Job>(cfg.connections * 4);
    let (samples, services, seed) = (cfg.samples, cfg.services, cfg.seed);
    let generator = std::thread::spawn(move || -> Result<SizeStats> {
        let mut generator = ProfileGenerator::new(seed, services);
        let mut stats = SizeStats::default();
        for window in 0..windows {
            let from = start + window * interval;
            for service in 0..services {
                let profile = generator.encoded(
                    service,
                    samples,
                    from * 1_000_000_000,
                    interval * 1_000_000_000,
                    true,
                )?;
                stats.add(&profile);
                if tx.blocking_send(Job { profile, from }).is_err() {
                    return Ok(stats); // the uploaders are gone
                }
            }
        }
        Ok(stats)
    });

    let started = Instant::now();
    let rx = Arc::new(Mutex::new(rx));
    let counters = Arc::new(Counters::default());
    let uploaders: Vec<_> = (0..cfg.connections)
        .map(|_| {
            let (rx, counters) = (Arc::clone(&rx), Arc::clone(&counters));
            let endpoint = cfg.endpoint.clone();
            let timeout = cfg.timeout;
            tokio::spawn(async move {
                backfill_connection(&endpoint, timeout, interval, &rx, &counters).await
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for uploader in uploaders {
        latencies_us.extend(uploader.await.context("upload task panicked")??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
    stats.write_to(cfg.stats_out.as_ref())?;
    eprintln!("vispyr-loadgen: sent {}", stats.json());
    let c = &counters;
    println!(
        "{{\"profiles\":{},\"profiles_acked\":{},\"throttled\":{},\"errors\":{},\"seconds\":{seconds:.3},\
         \"profiles_per_sec\":{:.1},\"from\":{start},\"until\":{end},\"avg_gzip_bytes\":{:.1},{}}}",
        stats.profiles,
        c.acked.load(Relaxed),
        c.throttled.load(Relaxed),
        c.errors.load(Relaxed),
        per_second(c.acked.load(Relaxed), seconds),
        stats.avg(stats.gzip_bytes),
        latency_fields(&mut latencies_us),
    );
    Ok(())
}

/// Uploads jobs until the channel closes, retrying throttled and failed
/// uploads up to [`BACKFILL_ATTEMPTS`] times.
async fn backfill_connection(
    endpoint: &str,
    timeout: Duration,
    interval: i64,
    jobs: &Mutex<mpsc::Receiver<Job>>,
    c: &Counters,
) -> Result<Vec<u64>> {
    let client = http_client(timeout)?;
    let mut latencies = Vec::new();
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            return Ok(latencies);
        };
        let url = ingest_url(endpoint, job.profile.service, job.from, job.from + interval);
        let body = job.profile.gzipped;
        c.sent.fetch_add(1, Relaxed);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match upload(&client, &url, body.clone()).await {
                Upload::Accepted(elapsed) => {
                    c.acked.fetch_add(1, Relaxed);
                    latencies.push(micros(elapsed));
                    break;
                }
                Upload::Throttled(wait) => {
                    c.throttled.fetch_add(1, Relaxed);
                    tokio::time::sleep(wait).await;
                }
                Upload::Failed(message) if attempt >= BACKFILL_ATTEMPTS => {
                    record_error(&c.errors, &message);
                    break;
                }
                Upload::Failed(_) => tokio::time::sleep(ERROR_BACKOFF).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_urls_are_escaped() {
        assert_eq!(
            ingest_url("http://h:4040/", 0, 10, 20),
            "http://h:4040/ingest?name=svc-1.cpu%7Benv%3Dprod%2Cregion%3Deu-west-1%7D\
             &from=10&until=20&format=pprof&spyName=nodespy&sampleRate=100"
        );
    }

    #[test]
    fn stats_are_valid_json() {
        let mut generator = ProfileGenerator::new(1, 1);
        let mut stats = SizeStats::default();
        stats.add(&generator.encoded(0, 100, 0, 0, true).unwrap());
        let value: serde_json::Value = serde_json::from_str(&stats.json()).unwrap();
        assert_eq!(value["profiles"], 1);
        assert_eq!(value["avg_samples"], 100.0);
        assert!(value["avg_gzip_bytes"].as_f64().unwrap() > 0.0);

        let c = Counters::default();
        c.sent.store(2, Relaxed);
        c.acked.store(2, Relaxed);
        c.samples_acked.store(10_000, Relaxed);
        let line = summary_json(&c, 2.0, vec![2000, 1000]);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["profiles_per_sec"], 1.0);
        assert_eq!(value["samples_per_sec"], 5000.0);
        assert_eq!(value["p50_ms"], 1.0);
    }
}
