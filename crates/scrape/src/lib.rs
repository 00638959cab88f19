//! Prometheus-compatible scraping.
//!
//! This crate owns everything between a `scrape_configs` entry and a batch of
//! samples: the config ([`ScrapeConfig`]), target labelling and relabelling
//! ([`relabel`]), fetching over HTTP, exposition parsing ([`parse()`]), the
//! per-target scrape loop with Prometheus's staleness markers and report
//! series, and the [`ScrapeManager`] that runs the loops.
//!
//! It does not own storage: every scrape ends in one [`ScrapeBatch`] handed
//! to an [`Appender`], which the server implements. Service discovery other
//! than `static_configs`, TLS, authentication and native histograms are not
//! implemented.
//!
//! ```text
//!  ScrapeConfig --targets()--> Target --(one task each)--> scrape loop
//!                                                           |  every interval, offset per target
//!                                                           v
//!         HTTP GET (Accept like Prometheus 2.42, gzip, timeout, size limit)
//!                                                           |
//!                              parse() -> target labels, honor_labels, metric_relabel_configs
//!                                                           |
//!                       + report series (up, scrape_*) + stale markers for vanished series
//!                                                           v
//!                                                Appender::append(ScrapeBatch)
//! ```

mod config;
mod duration;
mod manager;
pub mod parse;
pub mod relabel;
mod scrape;
mod target;

pub use config::{Scheme, ScrapeConfig, StaticConfig, validate_all};
pub use duration::{ByteSize, PromDuration};
pub use manager::{ScrapeManager, TargetHealth, TargetStatus};
pub use parse::{ParseError, Parsed, parse, parse_labels};
pub use relabel::{RelabelAction, RelabelConfig};
pub use target::Target;

/// Bit pattern of the NaN Prometheus writes as a staleness marker
/// (`value.StaleNaN`); any other NaN is an ordinary value.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is a staleness marker (compares bits, not the value).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels sorted by name; includes `__name__`.
    pub labels: Vec<(String, String)>,
    /// Timestamp in milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; a staleness marker has the bits [`STALE_NAN_BITS`].
    pub v: f64,
}

/// `# HELP`/`# TYPE`/`# UNIT` of one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    /// The family name as written in the metadata lines.
    pub metric: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown` (the text
    /// format's `untyped`), or an OpenMetrics type such as `info`.
    pub kind: String,
    /// Unescaped help text; empty when absent.
    pub help: String,
    /// OpenMetrics unit; empty when absent.
    pub unit: String,
}

/// Everything one scrape of one target produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeBatch {
    /// The target's `job` label.
    pub job: String,
    /// The target's `instance` label.
    pub instance: String,
    /// Scraped samples, report series and staleness markers.
    pub samples: Vec<Sample>,
    /// Metadata from the exposition (empty for failed scrapes).
    pub metadata: Vec<MetricMetadata>,
}

/// Receives scrape results; the server implements it on top of storage.
pub trait Appender: Send + Sync + 'static {
    /// Stores one batch. An error is logged by the scrape loop and the
    /// batch is not retried.
    fn append(&self, batch: ScrapeBatch) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// Why a scrape failed; the message becomes the target's `last_error`.
///
/// Parsing has its own [`ParseError`] because `parse` is public API on its
/// own; it is wrapped here when it fails a scrape.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// Sending the request or reading the response failed.
    #[error("http request failed: {0}")]
    Request(String),
    /// The scrape did not finish within `scrape_timeout`.
    #[error("context deadline exceeded: scrape timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The target answered with a status other than 200.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The (decompressed) body exceeded the limit.
    #[error("body size limit of {limit} bytes exceeded")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The gzip body could not be decompressed.
    #[error("gzip decoding failed: {0}")]
    Decompress(String),
    /// The exposition was malformed.
    #[error("parsing the exposition failed: {0}")]
    Parse(#[from] ParseError),
}
