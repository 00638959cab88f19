//! Vispyr's own telemetry, exposed at `/metrics` in the Prometheus text format.
//!
//! One process-wide registry: components record into typed families here instead
//! of logging ad-hoc numbers, and the API renders it.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the ingest counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestLabels {
    pub signal: &'static str,
    pub receiver: &'static str,
}

/// Labels of per-signal storage gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabels {
    pub signal: &'static str,
}

/// Every metric Vispyr exports about itself.
pub struct Metrics {
    /// Items (spans, log records, metric points) accepted, by signal and receiver.
    pub ingest_accepted_items: Family<IngestLabels, Counter>,
    /// Items rejected as invalid, by signal and receiver.
    pub ingest_rejected_items: Family<IngestLabels, Counter>,
    /// Requests refused because the memory bound was reached.
    pub ingest_throttled_requests: Family<IngestLabels, Counter>,
    /// Bytes appended to the write-ahead log.
    pub wal_bytes: Counter,
    /// Duration of one WAL group commit (write + fsync).
    pub wal_fsync_seconds: Histogram,
    /// Records per WAL group commit.
    pub wal_group_size: Histogram,
    /// Bytes held in memtables (active and flushing).
    pub memtable_bytes: Gauge,
    /// Live segments per signal.
    pub segments: Family<SignalLabels, Gauge>,
    /// Bytes of live segments per signal.
    pub segment_bytes: Family<SignalLabels, Gauge>,
    /// Duration of memtable flushes.
    pub flush_seconds: Histogram,
    /// Duration of compactions.
    pub compaction_seconds: Histogram,
    /// Segments deleted by retention.
    pub retention_deleted_segments: Family<SignalLabels, Counter>,
    /// Row groups of log segments a text search had to read.
    pub text_index_row_groups_read: Counter,
    /// Row groups of log segments a text search skipped thanks to the text index.
    pub text_index_row_groups_skipped: Counter,
}

fn duration_buckets() -> impl Iterator<Item = f64> {
    [
        0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        10.0, 30.0,
    ]
    .into_iter()
}

struct Telemetry {
    registry: Registry,
    metrics: &'static Metrics,
}

fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics {
            ingest_accepted_items: Family::default(),
            ingest_rejected_items: Family::default(),
            ingest_throttled_requests: Family::default(),
            wal_bytes: Counter::default(),
            wal_fsync_seconds: Histogram::new(duration_buckets()),
            wal_group_size: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
            memtable_bytes: Gauge::default(),
            segments: Family::default(),
            segment_bytes: Family::default(),
            flush_seconds: Histogram::new(duration_buckets()),
            compaction_seconds: Histogram::new(duration_buckets()),
            retention_deleted_segments: Family::default(),
            text_index_row_groups_read: Counter::default(),
            text_index_row_groups_skipped: Counter::default(),
        }));
        let mut registry = Registry::with_prefix("vispyr");
        registry.register(
            "ingest_accepted_items",
            "Items accepted, by signal and receiver",
            metrics.ingest_accepted_items.clone(),
        );
        registry.register(
            "ingest_rejected_items",
            "Items rejected as invalid, by signal and receiver",
            metrics.ingest_rejected_items.clone(),
        );
        registry.register(
            "ingest_throttled_requests",
            "Requests refused because the memory bound was reached",
            metrics.ingest_throttled_requests.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes appended to the write-ahead log",
            metrics.wal_bytes.clone(),
        );
        registry.register(
            "wal_fsync_duration_seconds",
            "Duration of one WAL group commit (write and fsync)",
            metrics.wal_fsync_seconds.clone(),
        );
        registry.register(
            "wal_group_commit_records",
            "Records written per WAL group commit",
            metrics.wal_group_size.clone(),
        );
        registry.register(
            "memtable_bytes",
            "Bytes held in memtables",
            metrics.memtable_bytes.clone(),
        );
        registry.register("segments", "Live segments", metrics.segments.clone());
        registry.register(
            "segment_bytes",
            "Bytes of live segments",
            metrics.segment_bytes.clone(),
        );
        registry.register(
            "flush_duration_seconds",
            "Duration of memtable flushes",
            metrics.flush_seconds.clone(),
        );
        registry.register(
            "compaction_duration_seconds",
            "Duration of segment compactions",
            metrics.compaction_seconds.clone(),
        );
        registry.register(
            "retention_deleted_segments",
            "Segments deleted by retention",
            metrics.retention_deleted_segments.clone(),
        );
        registry.register(
            "text_index_row_groups_read",
            "Row groups of log segments a text search had to read",
            metrics.text_index_row_groups_read.clone(),
        );
        registry.register(
            "text_index_row_groups_skipped",
            "Row groups of log segments a text search skipped thanks to the text index",
            metrics.text_index_row_groups_skipped.clone(),
        );
        Telemetry { registry, metrics }
    })
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    telemetry().metrics
}

/// Renders every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &telemetry().registry).is_err() {
        out.clear();
    }
    out
}
