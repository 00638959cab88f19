//! Durable forwarding: everything the agent sends — host metrics, and what
//! apps on the host send to its local OTLP and Pyroscope listeners — goes
//! through an on-disk queue ([`queue`]) to the server, so a server that is
//! down for minutes loses nothing.
//!
//! * [`Forwarder`] is the [`Sink`] producers send to: `send` returns once the
//!   request is on disk, `Full` when the queue reached its bound.
//! * [`Delivery`] is the task that empties the queue, oldest first, one POST
//!   at a time through [`DirectSender::post`]: a success acknowledges the
//!   record; a rejection (a 4xx other than 408 and 429: the request can never
//!   succeed) drops it with a warning; anything else (network errors, 5xx, 429)
//!   is retried with capped exponential backoff, holding every later record
//!   back so the order is kept. Consecutive uncompressed OTLP protobuf
//!   exports of one signal go as one request (see `mergeable`), so that a
//!   backlog drains quickly.
//! * [`listen`] serves the apps: OTLP/HTTP, OTLP/gRPC and Pyroscope ingest.
//!
//! Delivery is at least once: a record is acknowledged after the server
//! answered, so an agent killed between the two sends it again on restart
//! (as does a power cut that loses the unsynced read position). Without
//! crashes, every record is delivered exactly once.

pub mod grpc;
pub mod listen;
pub mod queue;
pub mod record;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use queue::{QueueConfig, QueueStats};

use crate::outgoing::{DirectSender, Endpoint, Outgoing, SendError, SendFuture, Sink};

/// How long a POST in flight when the agent stops may still take.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The producers' side of the queue.
pub struct Forwarder {
    queue: queue::Queue,
    counters: Arc<DeliveryCounters>,
}

/// Delivery counters since start.
#[derive(Debug, Default)]
struct DeliveryCounters {
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed_attempts: AtomicU64,
    lag_ms: AtomicU64,
}

/// Everything the forwarder counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub queue: QueueStats,
    /// Records the server accepted.
    pub delivered: u64,
    /// Records the server rejected (4xx), dropped.
    pub dropped: u64,
    /// POSTs that failed and were retried.
    pub failed_attempts: u64,
    /// Age of the record being delivered when it was read (ms).
    pub lag_ms: u64,
}

impl Forwarder {
    /// Opens the queue in `dir` (normally `<data-dir>/queue`). The returned
    /// [`Delivery`] must be run for anything to reach the server.
    pub fn open(
        dir: &Path,
        config: QueueConfig,
        delivery: DeliveryConfig,
    ) -> anyhow::Result<(Arc<Forwarder>, Delivery)> {
        let (queue, reader) = queue::Queue::open(dir, config)?;
        let counters = Arc::new(DeliveryCounters::default());
        let forwarder = Arc::new(Forwarder {
            queue,
            counters: Arc::clone(&counters),
        });
        Ok((
            forwarder,
            Delivery {
                reader,
                config: delivery,
                counters,
            },
        ))
    }

    pub fn stats(&self) -> ForwardStats {
        forward_stats(self.queue.stats(), &self.counters)
    }

    /// Stops taking requests (they answer an error); what is queued stays on
    /// disk for the next start.
    pub fn close(&self) {
        self.queue.close();
    }
}

fn forward_stats(queue: QueueStats, counters: &DeliveryCounters) -> ForwardStats {
    ForwardStats {
        queue,
        delivered: counters.delivered.load(Ordering::Relaxed),
        dropped: counters.dropped.load(Ordering::Relaxed),
        failed_attempts: counters.failed_attempts.load(Ordering::Relaxed),
        lag_ms: counters.lag_ms.load(Ordering::Relaxed),
    }
}

impl Sink for Forwarder {
    fn send(&self, request: Outgoing) -> SendFuture<'_> {
        Box::pin(async move { self.queue.append(&request).await })
    }
}

/// How [`Delivery`] retries and reports.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The first retry's delay; doubled on every failure in a row…
    pub min_backoff: Duration,
    /// …up to this.
    pub max_backoff: Duration,
    /// How often the counters are logged (when something changed).
    pub stats_interval: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            stats_interval: Duration::from_secs(60),
        }
    }
}

/// Empties the queue into the server.
pub struct Delivery {
    reader: queue::Reader,
    config: DeliveryConfig,
    counters: Arc<DeliveryCounters>,
}

/// What became of one POST.
enum Outcome {
    Delivered,
    Rejected(String),
    Stopped,
}

/// Consecutive OTLP protobuf exports of one signal are sent as one request of
/// at most this many bytes…
const MERGE_MAX_BYTES: usize = 4 << 20;
/// …and records.
const MERGE_MAX_RECORDS: usize = 512;

/// Whether `request` is an uncompressed OTLP protobuf export whose signal's
/// `Export*ServiceRequest` is a single repeated field, so that requests can be
/// concatenated into one (protobuf appends repeated fields when messages are
/// concatenated). Profiles are not: their request has a shared dictionary.
fn mergeable(request: &Outgoing) -> bool {
    request.endpoint == Endpoint::OtlpHttp
        && request.content_encoding.is_none()
        && matches!(
            request.path_and_query.as_str(),
            "/v1/traces" | "/v1/metrics" | "/v1/logs"
        )
        && matches!(
            request.content_type.split(';').next().unwrap_or("").trim(),
            "application/x-protobuf" | "application/protobuf"
        )
}

impl Delivery {
    /// Delivers records until `stop` resolves (or the queue is closed and
    /// empty). A POST in flight when `stop` resolves gets a few seconds to
    /// finish; whatever is not delivered stays queued for the next start.
    pub async fn run(mut self, sender: DirectSender, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(self.config.stats_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut logged = self.stats();
        let mut failing_since = None;
        loop {
            let record = tokio::select! {
                record = self.reader.next() => record,
                () = &mut stop => break,
                _ = ticker.tick() => {
                    self.log_stats(&mut logged);
                    continue;
                }
            };
            let Some(record) = record else { break };
            self.counters
                .lag_ms
                .store(queue_age(record.enqueued_unix_ms), Ordering::Relaxed);
            let mut batch = vec![record.outgoing];
            if mergeable(&batch[0]) {
                let mut bytes = batch[0].body.len();
                while batch.len() < MERGE_MAX_RECORDS {
                    let first = &batch[0];
                    let next = self.reader.next_if(|next| {
                        let next = &next.outgoing;
                        next.path_and_query == first.path_and_query
                            && next.content_type == first.content_type
                            && next.content_encoding.is_none()
                            && bytes + next.body.len() <= MERGE_MAX_BYTES
                    });
                    let Some(next) = next else { break };
                    bytes += next.outgoing.body.len();
                    batch.push(next.outgoing);
                }
            }
            let stopped = if batch.len() == 1 {
                self.deliver_one(&sender, &batch[0], &mut stop, &mut failing_since)
                    .await
            } else {
                self.deliver_merged(&sender, &batch, &mut stop, &mut failing_since)
                    .await
            };
            if stopped {
                break;
            }
        }
        self.log_stats(&mut logged);
    }

    /// Delivers (or drops) one record, then acknowledges it; `true` when the
    /// agent is stopping.
    async fn deliver_one(
        &mut self,
        sender: &DirectSender,
        request: &Outgoing,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        failing_since: &mut Option<Instant>,
    ) -> bool {
        let (outcome, stopping) = self.post(sender, request, stop, failing_since).await;
        match outcome {
            Outcome::Delivered => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Rejected(error) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %request.path_and_query, bytes = request.body.len(),
                    %error, "forwarding: the server rejected a queued request; dropped");
            }
            Outcome::Stopped => return true,
        }
        self.ack_first(1);
        stopping
    }

    /// Delivers several OTLP exports as one; when the server rejects the
    /// whole, each is sent on its own so that one bad export does not take
    /// the others down with it.
    async fn deliver_merged(
        &mut self,
        sender: &DirectSender,
        batch: &[Outgoing],
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        failing_since: &mut Option<Instant>,
    ) -> bool {
        let mut merged = Outgoing {
            body: Vec::with_capacity(batch.iter().map(|r| r.body.len()).sum()),
            ..batch[0].clone()
        };
        for request in batch {
            merged.body.extend_from_slice(&request.body);
        }
        let (outcome, stopping) = self.post(sender, &merged, stop, failing_since).await;
        match outcome {
            Outcome::Delivered => {
                self.counters
                    .delivered
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.ack_first(batch.len());
                stopping
            }
            Outcome::Stopped => true,
            Outcome::Rejected(error) => {
                tracing::debug!(%error, records = batch.len(),
                    "forwarding: merged exports rejected; sending them one by one");
                if stopping {
                    return true;
                }
                for request in batch {
                    if self.deliver_one(sender, request, stop, failing_since).await {
                        return true;
                    }
                }
                false
            }
        }
    }

    /// POSTs `request` until the server accepts or rejects it, retrying
    /// everything else with backoff. Also whether `stop` resolved meanwhile.
    async fn post(
        &mut self,
        sender: &DirectSender,
        request: &Outgoing,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        failing_since: &mut Option<Instant>,
    ) -> (Outcome, bool) {
        let mut backoff = self.config.min_backoff;
        let mut last_warning = Instant::now();
        loop {
            let mut stopping = false;
            let result = {
                let post = sender.post(request);
                tokio::pin!(post);
                tokio::select! {
                    result = &mut post => result,
                    () = stop.as_mut() => {
                        stopping = true;
                        match tokio::time::timeout(STOP_GRACE, post).await {
                            Ok(result) => result,
                            Err(_) => return (Outcome::Stopped, true),
                        }
                    }
                }
            };
            let error = match result {
                Ok(()) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(after = ?since.elapsed(), queued = self.reader.stats().records,
                            "forwarding: the server takes requests again");
                    }
                    return (Outcome::Delivered, stopping);
                }
                Err(SendError::Rejected(error)) => return (Outcome::Rejected(error), stopping),
                Err(SendError::Full(error)) => error,
                Err(SendError::Other(error)) => error.to_string(),
            };
            self.counters
                .failed_attempts
                .fetch_add(1, Ordering::Relaxed);
            if stopping {
                return (Outcome::Stopped, true);
            }
            match *failing_since {
                None => {
                    *failing_since = Some(Instant::now());
                    last_warning = Instant::now();
                    tracing::warn!(%error, queued = self.reader.stats().records,
                        "forwarding: the server does not take requests; queueing and retrying");
                }
                Some(since) if last_warning.elapsed() >= self.config.stats_interval => {
                    last_warning = Instant::now();
                    let stats = self.reader.stats();
                    tracing::warn!(%error, down_for = ?since.elapsed(), queued = stats.records,
                        queued_bytes = stats.bytes, "forwarding: the server still does not take requests");
                }
                Some(_) => tracing::debug!(%error, ?backoff, "forwarding: retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.as_mut() => return (Outcome::Stopped, true),
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    fn ack_first(&mut self, count: usize) {
        if let Err(error) = self.reader.ack_first(count) {
            tracing::warn!(%error, "forwarding: cannot save the queue's read position");
        }
    }

    fn stats(&self) -> ForwardStats {
        forward_stats(self.reader.stats(), &self.counters)
    }

    fn log_stats(&self, logged: &mut ForwardStats) {
        let stats = self.stats();
        if stats == *logged {
            return;
        }
        tracing::info!(
            queued_records = stats.queue.records,
            queued_bytes = stats.queue.bytes,
            accepted = stats.queue.appended,
            refused_full = stats.queue.refused_full,
            delivered = stats.delivered,
            dropped = stats.dropped,
            failed_attempts = stats.failed_attempts,
            lag_ms = stats.lag_ms,
            "forwarding"
        );
        *logged = stats;
    }
}

fn queue_age(enqueued_unix_ms: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    now.saturating_sub(enqueued_unix_ms)
}
