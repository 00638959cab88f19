//! Log file tailing: follows the files matched by `--logs` globs through
//! rotation, joins stack traces, parses JSON, logfmt and plain lines, and
//! sends the records as OTLP logs through the agent's [`Sink`].
//!
//! ```text
//!  every poll_interval (blocking thread)              async loop
//!  ┌──────────────────────────────────────┐   Sealed   ┌──────────────────┐
//!  │ Tailer::step: glob → read → join →   │ ─────────► │ sink.send        │
//!  │ parse → batch (1000 records / 1 MiB  │            │ ok: commit +     │
//!  │ / 1 s)                               │ ◄───────── │ save checkpoints │
//!  └──────────────────────────────────────┘   commit   │ err: retry later │
//!                                                      └──────────────────┘
//! ```
//!
//! Delivery: a file's checkpoint moves past a record only after the sink
//! accepted the batch holding it, and no new batch is read while one is
//! being retried, so nothing is lost and, across a clean stop, nothing is
//! sent twice. A crash between the sink accepting a batch and the
//! checkpoint being saved sends that batch again (at-least-once).
//!
//! Not owned here: delivery itself (the sink; the durable forwarder keeps
//! requests on disk), and the server-side decoding of OTLP logs.

mod checkpoint;
mod multiline;
mod parse;
mod tailer;

pub mod otlp;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use multiline::StartRule;
pub use parse::Format;
pub use tailer::{Sealed, Tailer};

use crate::outgoing::{SendError, Sink};

/// Why log tailing could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("invalid --logs {value:?}: {reason}")]
    ParseSource { value: String, reason: String },
    #[error("invalid --logs-multiline-start {pattern:?}: {source}")]
    ParseMultilineStart {
        pattern: String,
        source: regex::Error,
    },
    #[error("cannot read the log checkpoints {path}: {source}")]
    ReadCheckpoints {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("log tailing failed: {0}")]
    Panicked(String),
    #[error("cannot write the log checkpoints {path}: {source}")]
    WriteCheckpoints {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One `--logs [service=]glob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// `service.name` of the files' records; `None`: taken from each file's
    /// name up to its first dot (`api.log` → `api`).
    pub service: Option<String>,
    pub pattern: String,
}

impl FromStr for LogSource {
    type Err = LogsError;

    /// `api=/var/log/api/*.log` or `/var/log/*.log`. The part before `=` is
    /// a service name only if it has no `/` and no glob characters, so a
    /// path with `=` in it still works.
    fn from_str(value: &str) -> Result<LogSource, LogsError> {
        let bad = |reason: String| LogsError::ParseSource {
            value: value.to_string(),
            reason,
        };
        let (service, pattern) = match value.split_once('=') {
            Some((name, pattern))
                if !name.is_empty() && !name.contains(['/', '*', '?', '[', '{']) =>
            {
                (Some(name.to_string()), pattern)
            }
            _ => (None, value),
        };
        if pattern.is_empty() {
            return Err(bad("the glob is empty".to_string()));
        }
        glob::Pattern::new(pattern).map_err(|error| bad(error.to_string()))?;
        Ok(LogSource {
            service,
            pattern: pattern.to_string(),
        })
    }
}

/// What to tail and how (`--logs*` flags). No sources: tailing is off.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub sources: Vec<LogSource>,
    pub format: Format,
    pub multiline_start: StartRule,
    /// How often files are globbed and read. Polling rather than inotify:
    /// it behaves the same on every file system (NFS, overlayfs, bind
    /// mounts) and through any rotation scheme.
    pub poll_interval: Duration,
    /// A record still waiting for continuation lines is sent after this
    /// long without one, so a file's last record is not held forever.
    pub flush_idle: Duration,
    /// A file rotated away or deleted is read for this long after its last
    /// growth (a writer may still hold it open) before it is dropped.
    pub rotate_wait: Duration,
    /// A batch is sent at the latest this long after its first record.
    pub batch_interval: Duration,
}

impl Default for LogsConfig {
    fn default() -> LogsConfig {
        LogsConfig {
            sources: Vec::new(),
            format: Format::Auto,
            multiline_start: StartRule::StackTraces,
            poll_interval: Duration::from_millis(250),
            flush_idle: Duration::from_secs(1),
            rotate_wait: Duration::from_secs(5),
            batch_interval: Duration::from_secs(1),
        }
    }
}

impl LogsConfig {
    /// The config of the `--logs`, `--logs-format` and
    /// `--logs-multiline-start` flags, with the default timings.
    pub fn from_flags(
        sources: Vec<LogSource>,
        format: Format,
        multiline_start: Option<&str>,
    ) -> Result<LogsConfig, LogsError> {
        let multiline_start = match multiline_start {
            None => StartRule::StackTraces,
            Some(pattern) => StartRule::Regex(regex::Regex::new(pattern).map_err(|source| {
                LogsError::ParseMultilineStart {
                    pattern: pattern.to_string(),
                    source,
                }
            })?),
        };
        Ok(LogsConfig {
            sources,
            format,
            multiline_start,
            ..LogsConfig::default()
        })
    }

    pub fn is_enabled(&self) -> bool {
        !self.sources.is_empty()
    }
}

/// The longest wait between two tries of a batch the sink refused.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Tails the configured files until `stop` resolves, keeping checkpoints in
/// `<data_dir>/logs/`. `host_name` becomes the `host.name` resource
/// attribute. A send in progress when `stop` resolves is finished first,
/// so a clean stop sends nothing twice.
pub async fn run(
    config: LogsConfig,
    data_dir: &Path,
    host_name: &str,
    sink: Arc<dyn Sink>,
    stop: impl Future<Output = ()>,
) -> Result<(), LogsError> {
    let poll_interval = config.poll_interval;
    let patterns: Vec<&str> = config.sources.iter().map(|s| s.pattern.as_str()).collect();
    tracing::info!(?patterns, "agent started: log tailing");
    let mut tailer = Tailer::new(config.clone(), data_dir, host_name)?;
    tokio::pin!(stop);
    let mut sealed: Option<Sealed> = None;
    let mut backoff = poll_interval;
    loop {
        if sealed.is_none() {
            let (next, batch) = on_blocking_thread(tailer, |t| t.step(Instant::now())).await?;
            tailer = next;
            sealed = batch;
        }
        let mut wait = poll_interval;
        if let Some(batch) = sealed.take() {
            let accepted = match sink.send(batch.request.clone()).await {
                Ok(()) => true,
                // The server will never take it; retrying would hold up all
                // tailing behind it.
                Err(SendError::Rejected(reason)) => {
                    tracing::error!(%reason, records = batch.records, "log batch rejected: dropped");
                    true
                }
                Err(error) => {
                    tracing::warn!(%error, records = batch.records, retry_in = ?backoff,
                        "sending log batch failed");
                    false
                }
            };
            if accepted {
                backoff = poll_interval;
                if batch.full {
                    // Reading stopped at the batch limit: go on at once.
                    wait = Duration::ZERO;
                }
                let (next, ()) = on_blocking_thread(tailer, move |t| {
                    t.commit(&batch);
                    t.save_if_dirty();
                })
                .await?;
                tailer = next;
            } else {
                sealed = Some(batch);
                wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    Ok(())
}

/// Runs `work` on the tailer on a blocking thread: reading files, encoding
/// and fsyncing checkpoints must not stall the runtime.
async fn on_blocking_thread<T: Send + 'static>(
    mut tailer: Tailer,
    work: impl FnOnce(&mut Tailer) -> T + Send + 'static,
) -> Result<(Tailer, T), LogsError> {
    tokio::task::spawn_blocking(move || {
        let output = work(&mut tailer);
        (tailer, output)
    })
    .await
    .map_err(|error| LogsError::Panicked(error.to_string()))
}

#[cfg(test)]
mod tests;
