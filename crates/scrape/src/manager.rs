//! Runs one scrape loop per target and reports their health.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ScrapeConfig;
use crate::scrape::{SeriesState, fetch_and_parse};
use crate::target::Target;
use crate::{Appender, ScrapeBatch};

/// Health of a target as `/api/v1/targets` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
    /// Not scraped yet.
    Unknown,
}

impl TargetHealth {
    /// `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }
}

/// A target's state for the targets API.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// The scrape config's job name (Prometheus's `scrapePool`).
    pub job: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// Target labels after relabelling (no `__` labels).
    pub labels: Vec<(String, String)>,
    /// Labels before relabelling.
    pub discovered_labels: Vec<(String, String)>,
    /// Health after the last scrape.
    pub health: TargetHealth,
    /// Error of the last scrape; empty when it succeeded.
    pub last_error: String,
    /// When the last scrape started; `None` before the first.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
    /// The target's scrape interval.
    pub scrape_interval: Duration,
    /// The target's scrape timeout.
    pub scrape_timeout: Duration,
}

/// Owns the scrape loops of a set of scrape configs.
///
/// `start` returns at once; `stop` cancels every loop (an in-flight scrape is
/// abandoned), writes staleness markers for every target's series and waits
/// for the loops to finish. Dropping the manager without `stop` cancels the
/// loops too, but nobody waits for their last batches.
pub struct ScrapeManager {
    running: Vec<RunningTarget>,
    cancel: CancellationToken,
    /// `None` when the HTTP client could not be built (logged once).
    client: Option<reqwest::Client>,
    appender: Arc<dyn Appender>,
}

/// One target's loop and the handles to observe and stop it.
struct RunningTarget {
    target: Arc<Target>,
    status: Arc<Mutex<TargetStatus>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl ScrapeManager {
    /// Resolves the targets of `configs` and spawns one loop per target on
    /// the current tokio runtime. Invalid configs or targets are logged and
    /// skipped; run [`crate::validate_all`] first to reject them instead.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(configs: Vec<ScrapeConfig>, appender: Arc<dyn Appender>) -> ScrapeManager {
        let client = match reqwest::Client::builder().no_proxy().build() {
            Ok(client) => Some(client),
            Err(err) => {
                tracing::error!(error = %err, "cannot build the scrape http client, no targets will be scraped");
                None
            }
        };
        let mut manager = ScrapeManager {
            running: Vec::new(),
            cancel: CancellationToken::new(),
            client,
            appender,
        };
        for target in resolve_targets(&configs) {
            manager.spawn(target);
        }
        manager
    }

    /// Applies new configs: targets that are unchanged keep their loop and
    /// state; removed (or changed) targets are stopped, which writes stale
    /// markers for their series; new targets start.
    pub async fn reload(&mut self, configs: Vec<ScrapeConfig>) {
        let wanted = resolve_targets(&configs);
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for running in self.running.drain(..) {
            if wanted.iter().any(|target| *target == *running.target) {
                kept.push(running);
            } else {
                removed.push(running);
            }
        }
        for running in &removed {
            running.cancel.cancel();
        }
        for running in removed {
            await_loop(running.task).await;
        }
        self.running = kept;
        for target in wanted {
            let already_running = self.running.iter().any(|running| *running.target == target);
            if !already_running {
                self.spawn(target);
            }
        }
    }

    fn spawn(&mut self, target: Target) {
        let Some(client) = &self.client else {
            return;
        };
        let target = Arc::new(target);
        let status = Arc::new(Mutex::new(initial_status(&target)));
        let cancel = self.cancel.child_token();
        let scrape_loop = ScrapeLoop {
            target: Arc::clone(&target),
            client: client.clone(),
            appender: Arc::clone(&self.appender),
            status: Arc::clone(&status),
            cancel: cancel.clone(),
        };
        let task = tokio::spawn(scrape_loop.run());
        self.running.push(RunningTarget {
            target,
            status,
            cancel,
            task,
        });
    }

    /// A snapshot of every target's status, in config order (targets added
    /// by a reload come last).
    pub fn targets(&self) -> Vec<TargetStatus> {
        self.running
            .iter()
            .map(|running| lock(&running.status).clone())
            .collect()
    }

    /// Stops every loop, writing end-of-run staleness markers, and waits.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        for running in self.running.drain(..) {
            await_loop(running.task).await;
        }
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn await_loop(task: JoinHandle<()>) {
    if let Err(err) = task.await {
        tracing::warn!(error = %err, "scrape loop ended abnormally");
    }
}

/// Targets of every valid config, in config order; problems are logged.
fn resolve_targets(configs: &[ScrapeConfig]) -> Vec<Target> {
    let mut resolved = Vec::new();
    for config in configs {
        if let Err(err) = config.validate() {
            tracing::warn!(job = %config.job_name, error = %err, "skipping invalid scrape config");
            continue;
        }
        let (targets, errors) = Target::from_config(config);
        for err in errors {
            tracing::warn!(job = %config.job_name, error = %err, "skipping unusable target");
        }
        resolved.extend(targets);
    }
    resolved
}

fn initial_status(target: &Target) -> TargetStatus {
    TargetStatus {
        job: target.job().to_string(),
        scrape_url: target.url().to_string(),
        labels: target.labels().to_vec(),
        discovered_labels: target.discovered_labels().to_vec(),
        health: TargetHealth::Unknown,
        last_error: String::new(),
        last_scrape: None,
        last_scrape_duration: Duration::ZERO,
        scrape_interval: target.interval(),
        scrape_timeout: target.timeout(),
    }
}

/// Locks a status, recovering from a poisoned lock (a status is plain data).
fn lock(status: &Mutex<TargetStatus>) -> std::sync::MutexGuard<'_, TargetStatus> {
    status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_ms(time: SystemTime) -> i64 {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

struct ScrapeLoop {
    target: Arc<Target>,
    client: reqwest::Client,
    appender: Arc<dyn Appender>,
    status: Arc<Mutex<TargetStatus>>,
    cancel: CancellationToken,
}

impl ScrapeLoop {
    async fn run(self) {
        let mut state = SeriesState::new(Arc::clone(&self.target));
        let delay = self.target.first_scrape_delay(SystemTime::now());
        let first = tokio::time::Instant::now() + delay;
        let mut ticker = tokio::time::interval_at(first, self.target.interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let started_wall = SystemTime::now();
            let started = Instant::now();
            let t = unix_ms(started_wall);
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => break,
                outcome = fetch_and_parse(&self.client, &self.target, t) => outcome,
            };
            let duration = started.elapsed();
            let batch = match outcome {
                Ok(parsed) => {
                    self.record(started_wall, duration, Ok(()));
                    state.on_success(parsed, t, duration)
                }
                Err(err) => {
                    tracing::debug!(url = %self.target.url(), error = %err, "scrape failed");
                    self.record(started_wall, duration, Err(err.to_string()));
                    state.on_failure(t, duration)
                }
            };
            self.append(batch).await;
        }
        if let Some(batch) = state.end_of_run(unix_ms(SystemTime::now())) {
            self.append(batch).await;
        }
    }

    fn record(&self, started: SystemTime, duration: Duration, outcome: Result<(), String>) {
        let mut status = lock(&self.status);
        status.last_scrape = Some(started);
        status.last_scrape_duration = duration;
        match outcome {
            Ok(()) => {
                status.health = TargetHealth::Up;
                status.last_error.clear();
            }
            Err(err) => {
                status.health = TargetHealth::Down;
                status.last_error = err;
            }
        }
    }

    async fn append(&self, batch: ScrapeBatch) {
        if let Err(err) = self.appender.append(batch).await {
            tracing::warn!(url = %self.target.url(), error = %err, "appending scraped samples failed");
        }
    }
}
