//! The closed-loop OTLP/HTTP load of the `spans` and `logs` subcommands: N
//! connections, each with one request in flight, sending bodies from a
//! [`Workload`] (a pool of pre-encoded span batches or log-line batches).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tokio::sync::watch;
use tokio::time::sleep_until;

use crate::pool::mix;

/// Back-off after a throttled response without a usable `Retry-After`.
pub(crate) const DEFAULT_THROTTLE_BACKOFF: Duration = Duration::from_millis(100);
/// Back-off after a transport error (e.g. connection refused).
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How many error messages are printed before going quiet.
pub(crate) const MAX_PRINTED_ERRORS: u64 = 5;

/// The OTLP signal a load run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    /// The OTLP/HTTP path of the signal.
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    /// What one item is called in messages and summary keys (`spans_sent`,
    /// `lines_sent`).
    fn noun(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "lines",
        }
    }

    /// Items an OTLP protobuf response reports as rejected
    /// (`partial_success`); 0 for an empty or undecodable body.
    fn rejected(self, body: &[u8]) -> u64 {
        if body.is_empty() {
            return 0;
        }
        let rejected = match self {
            Signal::Traces => ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_spans),
            Signal::Logs => ExportLogsServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_log_records),
        };
        rejected.map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }
}

/// One request's body and what it carries.
pub struct Outgoing {
    pub body: Bytes,
    /// Spans or log lines in the body.
    pub items: u64,
    /// Log lines carrying the planted rare term.
    pub rare: u64,
}

/// Where the bodies of a load run come from.
pub trait Workload: Send + Sync + 'static {
    fn signal(&self) -> Signal;
    /// Items in every request (the pacer's unit).
    fn batch(&self) -> usize;
    /// Pooled bodies and their total size on the wire, for the start-up line.
    fn pool_size(&self) -> (usize, usize);
    /// The body of request number `seq`, patched with `nonce` (distinct per
    /// request) and its send time `now_ns`.
    fn request(&self, seq: u64, nonce: u64, now_ns: u64) -> Result<Outgoing>;
}

/// Settings of one load run, whatever it sends.
pub struct LoadConfig {
    pub endpoint: String,
    pub connections: usize,
    pub duration: Duration,
    /// The bodies are gzipped (sets `Content-Encoding: gzip`).
    pub gzip: bool,
    /// Target items per second over all connections; 0 = unlimited.
    pub rate: u64,
    /// Mixed into every request's nonce.
    pub seed: u64,
    pub timeout: Duration,
}

#[derive(Default)]
struct Counters {
    items_sent: AtomicU64,
    items_acked: AtomicU64,
    items_rejected: AtomicU64,
    rare_sent: AtomicU64,
    rare_acked: AtomicU64,
    requests: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    bytes_sent: AtomicU64,
}

/// Spreads requests evenly in time when a rate limit is set: every request
/// reserves the next free slot of `interval` and sleeps until it. A slot in
/// the past is moved to now, so a stall does not turn into a burst.
struct Pacer {
    start: Instant,
    interval_ns: u64,
    next_ns: AtomicU64,
}

impl Pacer {
    fn reserve(&self) -> Instant {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut cur = self.next_ns.load(Relaxed);
        loop {
            let slot = cur.max(now);
            match self.next_ns.compare_exchange_weak(
                cur,
                slot.saturating_add(self.interval_ns),
                Relaxed,
                Relaxed,
            ) {
                Ok(_) => return self.start + Duration::from_nanos(slot),
                Err(actual) => cur = actual,
            }
        }
    }
}

struct Shared {
    url: String,
    gzip: bool,
    timeout: Duration,
    workload: Box<dyn Workload>,
    counters: Counters,
    request_seq: AtomicU64,
    seed: u64,
    deadline: tokio::time::Instant,
    pacer: Option<Pacer>,
    stopping: AtomicBool,
}

/// Builds the workload with `build` (before the clock starts), runs the load
/// test and prints the JSON summary to stdout.
pub async fn run<W: Workload>(cfg: LoadConfig, build: impl FnOnce() -> Result<W>) -> Result<()> {
    anyhow::ensure!(cfg.connections > 0, "--connections must be at least 1");

    let gen_started = Instant::now();
    let workload = build()?;
    let signal = workload.signal();
    let noun = signal.noun();
    let url = signal_url(&cfg.endpoint, signal);
    let (bodies, pool_bytes) = workload.pool_size();
    eprintln!(
        "vispyr-loadgen: {bodies} pre-encoded bodies of {} {noun} ({} avg bytes{}) in {:.2}s; \
         {} connections -> {url} for {:.1}s{}",
        workload.batch(),
        pool_bytes / bodies.max(1),
        if cfg.gzip { ", gzip" } else { "" },
        gen_started.elapsed().as_secs_f64(),
        cfg.connections,
        cfg.duration.as_secs_f64(),
        match cfg.rate {
            0 => String::new(),
            r => format!(", target {r} {noun}/s"),
        }
    );

    let start = Instant::now();
    let pacer = (cfg.rate > 0).then(|| Pacer {
        start,
        interval_ns: (workload.batch() as u128 * 1_000_000_000 / u128::from(cfg.rate))
            .try_into()
            .unwrap_or(u64::MAX),
        next_ns: AtomicU64::new(0),
    });
    let shared = Arc::new(Shared {
        url,
        gzip: cfg.gzip,
        timeout: cfg.timeout,
        workload: Box::new(workload),
        counters: Counters::default(),
        request_seq: AtomicU64::new(0),
        seed: cfg.seed,
        deadline: tokio::time::Instant::from_std(start + cfg.duration),
        pacer,
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

    println!(
        "{}",
        summary_json(signal, &shared.counters, seconds, latencies_us)
    );
    Ok(())
}

/// `${endpoint}/v1/traces` (or `/v1/logs`), unless the endpoint already
/// names that path.
fn signal_url(endpoint: &str, signal: Signal) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(signal.path()) {
        base.to_string()
    } else {
        format!("{base}{}", signal.path())
    }
}

pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One keep-alive connection sending one request at a time until the
/// deadline. Returns the latencies (µs) of acknowledged requests.
async fn connection(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Result<Vec<u64>> {
    // A client per task, holding at most one idle connection: N tasks = N
    // TCP connections, each reused for all of that task's requests.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(shared.timeout)
        .build()
        .context("building HTTP client")?;
    let c = &shared.counters;
    let mut latencies = Vec::new();

    while !shared.stopping.load(Relaxed) && tokio::time::Instant::now() < shared.deadline {
        if let Some(pacer) = &shared.pacer {
            let slot = tokio::time::Instant::from_std(pacer.reserve());
            if slot >= shared.deadline {
                break;
            }
            pause_until(slot, &mut stop).await;
            if shared.stopping.load(Relaxed) {
                break;
            }
        }

        let seq = shared.request_seq.fetch_add(1, Relaxed);
        let nonce = mix(seq ^ shared.seed.rotate_left(32));
        let Outgoing { body, items, rare } =
            shared.workload.request(seq, nonce, now_unix_nanos())?;
        c.requests.fetch_add(1, Relaxed);
        c.items_sent.fetch_add(items, Relaxed);
        c.rare_sent.fetch_add(rare, Relaxed);
        c.bytes_sent.fetch_add(body.len() as u64, Relaxed);

        let mut request = client
            .post(&shared.url)
            .header(CONTENT_TYPE, "application/x-protobuf");
        if shared.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let sent_at = Instant::now();
        let response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                record_error(&c.errors, &format!("request failed: {}", error_chain(&e)));
                pause_until(backoff_deadline(ERROR_BACKOFF, &shared), &mut stop).await;
                continue;
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // Always drain the body so the connection can be reused.
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                record_error(
                    &c.errors,
                    &format!("reading response failed: {}", error_chain(&e)),
                );
                continue;
            }
        };
        let elapsed = sent_at.elapsed();

        if status.is_success() {
            let rejected = shared.workload.signal().rejected(&body).min(items);
            c.items_acked.fetch_add(items - rejected, Relaxed);
            c.items_rejected.fetch_add(rejected, Relaxed);
            // Which lines a partial rejection hit is unknown: count the rare
            // ones only when the whole request was accepted.
            if rejected == 0 {
                c.rare_acked.fetch_add(rare, Relaxed);
            }
            latencies.push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
        {
            c.throttled.fetch_add(1, Relaxed);
            let wait = retry_after.unwrap_or(DEFAULT_THROTTLE_BACKOFF);
            pause_until(backoff_deadline(wait, &shared), &mut stop).await;
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            record_error(&c.errors, &format!("HTTP {status}: {text}"));
        }
    }
    Ok(latencies)
}

/// `now + wait`, capped at the run's deadline.
fn backoff_deadline(wait: Duration, shared: &Shared) -> tokio::time::Instant {
    (tokio::time::Instant::now() + wait).min(shared.deadline)
}

/// Sleeps until `at`, or until Ctrl-C.
pub(crate) async fn pause_until(at: tokio::time::Instant, stop: &mut watch::Receiver<bool>) {
    if *stop.borrow() {
        return;
    }
    tokio::select! {
        () = sleep_until(at) => {}
        _ = stop.changed() => {}
    }
}

/// `Retry-After` in its delay-seconds form (the HTTP-date form is ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

/// `e: cause: cause…`, since reqwest's own message omits the cause.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Counts an error and prints the first few.
pub(crate) fn record_error(errors: &AtomicU64, message: &str) {
    let n = errors.fetch_add(1, Relaxed) + 1;
    if n <= MAX_PRINTED_ERRORS {
        eprintln!("vispyr-loadgen: error: {message}");
        if n == MAX_PRINTED_ERRORS {
            eprintln!("vispyr-loadgen: (further errors are only counted)");
        }
    }
}

async fn report_every_second(shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await; // the first tick fires at once
    let c = &shared.counters;
    let noun = shared.workload.signal().noun();
    let (mut last_acked, mut last_requests, mut last_at) = (0u64, 0u64, start);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let acked = c.items_acked.load(Relaxed);
        let requests = c.requests.load(Relaxed);
        let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
        eprintln!(
            "[{:>5.1}s] {:>10.0} {noun}/s acked  {:>7.0} req/s  total acked {}  throttled {}  errors {}",
            now.duration_since(start).as_secs_f64(),
            (acked - last_acked) as f64 / dt,
            (requests - last_requests) as f64 / dt,
            acked,
            c.throttled.load(Relaxed),
            c.errors.load(Relaxed),
        );
        (last_acked, last_requests, last_at) = (acked, requests, now);
    }
}

/// Nearest-rank percentile in milliseconds of sorted microsecond samples.
pub(crate) fn percentile_ms(sorted_us: &[u64], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    Some(sorted_us[idx] as f64 / 1000.0)
}

/// One-line JSON, keys in a fixed order (`null` latencies when nothing was
/// acknowledged); item keys are named after the signal (`spans_sent`,
/// `lines_sent`) and logs runs add `rare_lines_sent`/`rare_lines_acked`.
fn summary_json(signal: Signal, c: &Counters, seconds: f64, mut latencies_us: Vec<u64>) -> String {
    latencies_us.sort_unstable();
    let noun = signal.noun();
    let requests = c.requests.load(Relaxed);
    let acked = c.items_acked.load(Relaxed);
    let ms = |p| percentile_ms(&latencies_us, p).map_or("null".to_string(), |v| format!("{v:.3}"));
    let avg_bytes = c
        .bytes_sent
        .load(Relaxed)
        .checked_div(requests)
        .unwrap_or(0);
    let mut line = format!(
        "{{\"{noun}_sent\":{},\"{noun}_acked\":{},\"requests\":{},\"throttled\":{},\"errors\":{},\
         \"seconds\":{:.3},\"{noun}_per_sec\":{:.1},\"avg_request_bytes\":{},\"p50_ms\":{},\
         \"p99_ms\":{},\"{noun}_rejected\":{}",
        c.items_sent.load(Relaxed),
        acked,
        requests,
        c.throttled.load(Relaxed),
        c.errors.load(Relaxed),
        seconds,
        if seconds > 0.0 {
            acked as f64 / seconds
        } else {
            0.0
        },
        avg_bytes,
        ms(50.0),
        ms(99.0),
        c.items_rejected.load(Relaxed),
    );
    if signal == Signal::Logs {
        line.push_str(&format!(
            ",\"rare_lines_sent\":{},\"rare_lines_acked\":{}",
            c.rare_sent.load(Relaxed),
            c.rare_acked.load(Relaxed),
        ));
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn url_building() {
        let traces = |e| signal_url(e, Signal::Traces);
        assert_eq!(traces("http://h:4318"), "http://h:4318/v1/traces");
        assert_eq!(traces("http://h:4318/"), "http://h:4318/v1/traces");
        assert_eq!(traces("http://h:4318/v1/traces"), "http://h:4318/v1/traces");
        let logs = |e| signal_url(e, Signal::Logs);
        assert_eq!(logs("http://h:4318/"), "http://h:4318/v1/logs");
        assert_eq!(logs("http://h:4318/v1/logs"), "http://h:4318/v1/logs");
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&v, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&[7000], 99.0), Some(7.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn retry_after_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "2".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn partial_success_is_read() {
        assert_eq!(Signal::Traces.rejected(&[]), 0);
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(Signal::Traces.rejected(&resp.encode_to_vec()), 3);
        assert_eq!(Signal::Traces.rejected(b"not protobuf {"), 0);
        let resp = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 5,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(Signal::Logs.rejected(&resp.encode_to_vec()), 5);
    }

    #[test]
    fn summary_is_valid_json() {
        let c = Counters::default();
        c.requests.store(4, Relaxed);
        c.items_acked.store(2000, Relaxed);
        c.bytes_sent.store(400, Relaxed);
        c.rare_sent.store(3, Relaxed);
        let line = summary_json(Signal::Traces, &c, 2.0, vec![3000, 1000, 2000]);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["spans_per_sec"], 1000.0);
        assert_eq!(v["avg_request_bytes"], 100);
        assert_eq!(v["p50_ms"], 2.0);
        assert!(v.get("rare_lines_sent").is_none());
        let empty = summary_json(Signal::Traces, &Counters::default(), 0.0, Vec::new());
        let v: serde_json::Value = serde_json::from_str(&empty).expect("valid json");
        assert!(v["p99_ms"].is_null());

        let line = summary_json(Signal::Logs, &c, 2.0, vec![3000]);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["lines_acked"], 2000);
        assert_eq!(v["lines_per_sec"], 1000.0);
        assert_eq!(v["rare_lines_sent"], 3);
        assert_eq!(v["rare_lines_acked"], 0);
        assert!(v.get("spans_sent").is_none());
    }

    #[test]
    fn pacer_spaces_slots() {
        let p = Pacer {
            start: Instant::now(),
            interval_ns: 1_000_000_000,
            next_ns: AtomicU64::new(0),
        };
        let a = p.reserve();
        let b = p.reserve();
        let gap = b.duration_since(a);
        assert!(gap >= Duration::from_millis(999) && gap <= Duration::from_millis(1001));
    }
}
