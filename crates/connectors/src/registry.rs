//! A small metrics registry with the collection semantics of Tempo's
//! metrics-generator registry (`modules/generator/registry`).
//!
//! One [`Registry`] holds the series of a fixed *layout* — some counters or
//! gauges and some classic histograms that share a label set — keyed by label
//! set. Each label set is an [`Entry`]; the series of an entry only come into
//! existence when they are first updated (so `..._failed_total` stays absent
//! until a failure, as in Tempo).
//!
//! ```text
//!  consume ──► entry(labels) ──► add / set / observe      (marks the entry touched)
//!                 │ over max_series? → the {metric_overflow="true"} entry
//!  collect(now) ──► touched entries: last_updated = now
//!               ──► drop entries idle longer than the stale time
//!               ──► every series: its value at `now` (+ a 0 just before the
//!                   current minute when the series is new), exemplars once
//! ```
//!
//! Counters are cumulative from the registry's start. A new counter or
//! histogram series first gets a 0 at the end of the previous minute, as
//! Tempo's registry appends, so `increase()` sees the first increments.

use std::collections::BTreeMap;

use crate::labels::{LabelSet, format_go_float, hex_lower};
use crate::{Collected, Exemplar, Point};

/// Label set every series beyond `max_series` is counted into (Tempo's
/// `registry.OverflowEntity`).
pub(crate) const OVERFLOW_LABEL: (&str, &str) = ("metric_overflow", "true");

/// How a scalar slot behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    /// Monotonic, starts with an extra 0 point.
    Counter,
    /// Set to a value, no initial 0 point.
    Gauge,
}

/// The metric families one registry holds, all sharing label sets.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) scalars: Vec<(&'static str, ScalarKind)>,
    pub(crate) histograms: Vec<&'static str>,
    /// Histogram upper bounds in seconds (without `+Inf`).
    pub(crate) buckets: Vec<f64>,
}

/// Trace and span of an observation, kept raw and hex-encoded at collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExemplarRef {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
}

#[derive(Debug, Clone, Copy)]
struct StoredExemplar {
    ids: ExemplarRef,
    value: f64,
}

#[derive(Debug)]
struct Scalar {
    value: f64,
    is_new: bool,
    exemplar: Option<StoredExemplar>,
}

#[derive(Debug)]
struct HistogramSeries {
    count: f64,
    sum: f64,
    /// Per-bucket (not cumulative) counts; the last bucket is `+Inf`.
    bucket_counts: Vec<f64>,
    exemplars: Vec<Option<StoredExemplar>>,
    is_new: bool,
}

/// The series of one label set.
#[derive(Debug)]
pub(crate) struct Entry {
    scalars: Vec<Option<Scalar>>,
    histograms: Vec<Option<HistogramSeries>>,
    touched_since_collect: bool,
    last_updated_ms: i64,
}

/// Mutable access to one entry with the bucket bounds it needs.
pub(crate) struct EntryMut<'a> {
    entry: &'a mut Entry,
    bounds: &'a [f64],
}

impl EntryMut<'_> {
    /// Adds `delta` (≥ 0) to scalar `slot`, remembering `exemplar` as its latest.
    pub(crate) fn add(&mut self, slot: usize, delta: f64, exemplar: Option<(ExemplarRef, f64)>) {
        debug_assert!(delta >= 0.0, "counters only increase");
        self.entry.touched_since_collect = true;
        let scalar = self.entry.scalars[slot].get_or_insert(Scalar {
            value: 0.0,
            is_new: true,
            exemplar: None,
        });
        scalar.value += delta;
        if let Some((ids, value)) = exemplar {
            scalar.exemplar = Some(StoredExemplar { ids, value });
        }
    }

    /// Sets gauge `slot` to `value`.
    pub(crate) fn set(&mut self, slot: usize, value: f64) {
        self.entry.touched_since_collect = true;
        let scalar = self.entry.scalars[slot].get_or_insert(Scalar {
            value: 0.0,
            is_new: true,
            exemplar: None,
        });
        scalar.value = value;
    }

    /// Records `value` with weight `weight` in histogram `slot`; the exemplar
    /// replaces the previous one of the bucket the value falls in (Tempo keeps
    /// one exemplar per bucket).
    pub(crate) fn observe(
        &mut self,
        slot: usize,
        value: f64,
        weight: f64,
        exemplar: Option<ExemplarRef>,
    ) {
        self.entry.touched_since_collect = true;
        let bucket_count = self.bounds.len();
        let histogram = self.entry.histograms[slot].get_or_insert_with(|| HistogramSeries {
            count: 0.0,
            sum: 0.0,
            bucket_counts: vec![0.0; bucket_count],
            exemplars: vec![None; bucket_count],
            is_new: true,
        });
        histogram.count += weight;
        histogram.sum += value * weight;
        // `le` is inclusive: the first bound ≥ value. NaN lands in +Inf.
        let bucket = self
            .bounds
            .partition_point(|bound| *bound < value)
            .min(bucket_count - 1);
        histogram.bucket_counts[bucket] += weight;
        if let Some(ids) = exemplar {
            histogram.exemplars[bucket] = Some(StoredExemplar { ids, value });
        }
    }
}

/// Series of one layout, keyed by label set, with a series limit.
#[derive(Debug)]
pub(crate) struct Registry {
    layout: Layout,
    /// Bucket bounds with `+Inf` appended.
    bounds: Vec<f64>,
    bound_labels: Vec<String>,
    entries: BTreeMap<LabelSet, Entry>,
    /// Limit on Prometheus series held by non-overflow entries; 0 = none.
    max_series: usize,
    stale_ms: i64,
    /// Series reserved by admitted (non-overflow) entries.
    reserved_series: usize,
    /// Series that were refused by the limit, counted per refused update (as
    /// Tempo's `tempo_metrics_generator_registry_series_limited_total`).
    limited_series_total: u64,
}

impl Registry {
    pub(crate) fn new(layout: Layout, max_series: usize, stale_ms: i64) -> Self {
        let mut bounds: Vec<f64> = layout
            .buckets
            .iter()
            .copied()
            .filter(|bound| bound.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        bounds.push(f64::INFINITY);
        let bound_labels = bounds.iter().map(|bound| format_go_float(*bound)).collect();
        Self {
            layout,
            bounds,
            bound_labels,
            entries: BTreeMap::new(),
            max_series,
            stale_ms,
            reserved_series: 0,
            limited_series_total: 0,
        }
    }

    /// Most series one entry can hold: each scalar plus, per histogram, the
    /// buckets (with `+Inf`), `_sum` and `_count`.
    fn series_per_entry(&self) -> usize {
        self.layout.scalars.len() + self.layout.histograms.len() * (self.bounds.len() + 2)
    }

    /// The entry for `labels`, created if needed. When creating it would take
    /// the registry past `max_series`, the overflow entry is returned instead.
    pub(crate) fn entry(&mut self, labels: LabelSet) -> EntryMut<'_> {
        let key = if self.entries.contains_key(&labels) {
            labels
        } else {
            self.admit(labels)
        };
        let scalar_count = self.layout.scalars.len();
        let histogram_count = self.layout.histograms.len();
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            scalars: (0..scalar_count).map(|_| None).collect(),
            histograms: (0..histogram_count).map(|_| None).collect(),
            touched_since_collect: true,
            last_updated_ms: i64::MIN,
        });
        EntryMut {
            entry,
            bounds: &self.bounds,
        }
    }

    /// Decides the key of a label set not yet held.
    fn admit(&mut self, labels: LabelSet) -> LabelSet {
        let overflow = overflow_labels();
        if labels == overflow {
            return labels;
        }
        let needed = self.series_per_entry();
        let over_limit = self.max_series != 0 && self.reserved_series + needed > self.max_series;
        if over_limit {
            self.limited_series_total += needed as u64;
            return overflow;
        }
        self.reserved_series += needed;
        labels
    }

    /// Series currently held (what one collect emits at `now`).
    pub(crate) fn active_series(&self) -> usize {
        let mut total = 0;
        for entry in self.entries.values() {
            total += entry.scalars.iter().flatten().count();
            total += entry.histograms.iter().flatten().count() * (self.bounds.len() + 2);
        }
        total
    }

    pub(crate) fn limited_series_total(&self) -> u64 {
        self.limited_series_total
    }

    /// Stamps touched entries, drops stale ones and appends every series'
    /// current value at `now_ms` (exemplars are emitted once, then cleared).
    pub(crate) fn collect(&mut self, now_ms: i64, out: &mut Collected) {
        self.expire_stale(now_ms);
        let initial_zero_ms = end_of_previous_minute_ms(now_ms);
        for (labels, entry) in &mut self.entries {
            for (slot, scalar) in entry.scalars.iter_mut().enumerate() {
                let Some(scalar) = scalar else { continue };
                let (name, kind) = self.layout.scalars[slot];
                let series = series_labels(labels, name, None);
                if scalar.is_new && kind == ScalarKind::Counter {
                    out.points.push(point(&series, initial_zero_ms, 0.0));
                }
                scalar.is_new = false;
                if let Some(exemplar) = scalar.exemplar.take() {
                    out.exemplars.push(to_exemplar(&series, exemplar, now_ms));
                }
                out.points.push(point(&series, now_ms, scalar.value));
            }
            for (slot, histogram) in entry.histograms.iter_mut().enumerate() {
                let Some(histogram) = histogram else { continue };
                let name = self.layout.histograms[slot];
                let sum_labels = series_labels(labels, &format!("{name}_sum"), None);
                out.points.push(point(&sum_labels, now_ms, histogram.sum));
                let count_labels = series_labels(labels, &format!("{name}_count"), None);
                if histogram.is_new {
                    out.points.push(point(&count_labels, initial_zero_ms, 0.0));
                }
                out.points
                    .push(point(&count_labels, now_ms, histogram.count));
                let bucket_name = format!("{name}_bucket");
                let mut cumulative = 0.0;
                for (index, le) in self.bound_labels.iter().enumerate() {
                    cumulative += histogram.bucket_counts[index];
                    let bucket_labels = series_labels(labels, &bucket_name, Some(le));
                    if histogram.is_new {
                        out.points.push(point(&bucket_labels, initial_zero_ms, 0.0));
                    }
                    if let Some(exemplar) = histogram.exemplars[index].take() {
                        out.exemplars
                            .push(to_exemplar(&bucket_labels, exemplar, now_ms));
                    }
                    out.points.push(point(&bucket_labels, now_ms, cumulative));
                }
                histogram.is_new = false;
            }
        }
    }

    fn expire_stale(&mut self, now_ms: i64) {
        let stale_before_ms = now_ms.saturating_sub(self.stale_ms);
        let per_entry = self.series_per_entry();
        let overflow = overflow_labels();
        let mut released = 0;
        self.entries.retain(|labels, entry| {
            if entry.touched_since_collect {
                entry.touched_since_collect = false;
                entry.last_updated_ms = now_ms;
            }
            let keep = entry.last_updated_ms >= stale_before_ms;
            if !keep && *labels != overflow {
                released += per_entry;
            }
            keep
        });
        self.reserved_series -= released;
    }
}

fn overflow_labels() -> LabelSet {
    vec![(OVERFLOW_LABEL.0.to_string(), OVERFLOW_LABEL.1.to_string())]
}

/// Tempo writes a new series' initial 0 at the end of the previous minute
/// (`getEndOfLastMinuteMs`) so it falls in another aggregation interval.
fn end_of_previous_minute_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000) * 60_000 - 1_000
}

/// `labels` plus `__name__` (and `le`), sorted by name.
fn series_labels(labels: &LabelSet, name: &str, le: Option<&str>) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(labels.len() + 2);
    all.extend(labels.iter().cloned());
    all.push(("__name__".to_string(), name.to_string()));
    if let Some(bound) = le {
        all.push(("le".to_string(), bound.to_string()));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn point(labels: &[(String, String)], t: i64, v: f64) -> Point {
    Point {
        labels: labels.to_vec(),
        t,
        v,
    }
}

fn to_exemplar(labels: &[(String, String)], stored: StoredExemplar, now_ms: i64) -> Exemplar {
    Exemplar {
        series_labels: labels.to_vec(),
        trace_id: hex_lower(&stored.ids.trace_id),
        span_id: hex_lower(&stored.ids.span_id),
        value: stored.value,
        t: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            scalars: vec![("c_total", ScalarKind::Counter)],
            histograms: vec!["h_seconds"],
            buckets: vec![0.1, 1.0],
        }
    }

    fn labels(value: &str) -> LabelSet {
        vec![("k".to_string(), value.to_string())]
    }

    fn value_at(collected: &Collected, name: &str, extra: &[(&str, &str)], t: i64) -> Option<f64> {
        collected
            .points
            .iter()
            .find(|p| {
                p.t == t
                    && p.labels.iter().any(|(n, v)| n == "__name__" && v == name)
                    && extra
                        .iter()
                        .all(|(n, v)| p.labels.iter().any(|(ln, lv)| ln == n && lv == v))
            })
            .map(|p| p.v)
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_inf() {
        let mut registry = Registry::new(layout(), 0, 60_000);
        for value in [0.05, 0.1, 0.5, 3.0] {
            registry.entry(labels("a")).observe(0, value, 1.0, None);
        }
        let mut out = Collected::default();
        registry.collect(120_000, &mut out);
        assert_eq!(
            value_at(&out, "h_seconds_bucket", &[("le", "0.1")], 120_000),
            Some(2.0)
        );
        assert_eq!(
            value_at(&out, "h_seconds_bucket", &[("le", "1")], 120_000),
            Some(3.0)
        );
        assert_eq!(
            value_at(&out, "h_seconds_bucket", &[("le", "+Inf")], 120_000),
            Some(4.0)
        );
        assert_eq!(value_at(&out, "h_seconds_count", &[], 120_000), Some(4.0));
        assert_eq!(value_at(&out, "h_seconds_sum", &[], 120_000), Some(3.65));
        // initial zero just before the current minute, only the first time
        assert_eq!(value_at(&out, "h_seconds_count", &[], 119_000), Some(0.0));
        let mut again = Collected::default();
        registry.collect(135_000, &mut again);
        assert_eq!(value_at(&again, "h_seconds_count", &[], 119_000), None);
        assert_eq!(value_at(&again, "h_seconds_count", &[], 135_000), Some(4.0));
    }

    #[test]
    fn labels_are_sorted_with_name() {
        let mut registry = Registry::new(layout(), 0, 60_000);
        registry
            .entry(vec![
                ("Zed".to_string(), "1".to_string()),
                ("a".to_string(), "2".to_string()),
            ])
            .add(0, 1.0, None);
        let mut out = Collected::default();
        registry.collect(60_000, &mut out);
        let names: Vec<&str> = out.points[0]
            .labels
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, vec!["Zed", "__name__", "a"]);
    }

    #[test]
    fn limit_redirects_to_overflow_and_stale_entries_free_room() {
        // one entry = 1 counter + (3 buckets + sum + count) = 6 series
        let mut registry = Registry::new(layout(), 12, 60_000);
        registry.entry(labels("a")).add(0, 1.0, None);
        registry.entry(labels("b")).add(0, 1.0, None);
        registry.entry(labels("c")).add(0, 1.0, None);
        registry.entry(labels("d")).add(0, 1.0, None);
        assert_eq!(registry.limited_series_total(), 12);
        let mut out = Collected::default();
        registry.collect(0, &mut out);
        assert_eq!(
            value_at(&out, "c_total", &[("metric_overflow", "true")], 0),
            Some(2.0)
        );
        // only "a" stays active; "b" and the overflow go stale
        registry.entry(labels("a")).add(0, 1.0, None);
        let mut later = Collected::default();
        registry.collect(61_000, &mut later);
        assert_eq!(
            value_at(&later, "c_total", &[("k", "a")], 61_000),
            Some(2.0)
        );
        assert_eq!(value_at(&later, "c_total", &[("k", "b")], 61_000), None);
        registry.entry(labels("e")).add(0, 1.0, None);
        assert_eq!(registry.limited_series_total(), 12, "room freed by stale b");
    }

    #[test]
    fn exemplars_emitted_once_per_bucket() {
        let mut registry = Registry::new(layout(), 0, 60_000);
        let ids = ExemplarRef {
            trace_id: [1; 16],
            span_id: [2; 8],
        };
        registry.entry(labels("a")).observe(0, 0.5, 1.0, Some(ids));
        let mut out = Collected::default();
        registry.collect(0, &mut out);
        assert_eq!(out.exemplars.len(), 1);
        assert_eq!(out.exemplars[0].trace_id, "01".repeat(16));
        assert!(
            out.exemplars[0]
                .series_labels
                .contains(&("le".to_string(), "1".to_string()))
        );
        let mut again = Collected::default();
        registry.collect(15_000, &mut again);
        assert!(again.exemplars.is_empty());
    }
}
