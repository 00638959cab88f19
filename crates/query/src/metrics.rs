//! Prometheus series over the `metric_points` table: the storage PromQL evaluates
//! against, and the series, label and metadata lookups of the Prometheus HTTP API.
//!
//! Matchers become SQL conditions (`__name__` on the `metric_name` column, other
//! labels in the `labels` map; DataFusion's regular expressions are the `regex`
//! crate's, like the engine's), so only matching rows leave the scan. Rows are
//! grouped into series by a hash of their name and labels.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hasher;

use arrow::array::{Array, AsArray, MapArray, StringArray};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use futures::future::BoxFuture;
use vispyr_promql::{Matcher, Sample, Series};

use crate::sqltext::{map_label, match_condition, time_literal};
use crate::{QueryEngine, QueryError};

const NANOS_PER_MILLI: i64 = 1_000_000;

/// Series, label and metadata queries over `metric_points`.
#[derive(Clone)]
pub struct MetricQueries {
    engine: QueryEngine,
}

/// Sorted label pairs of a series, `__name__` included.
pub type LabelSet = Vec<(String, String)>;

fn label_column(name: &str) -> String {
    if name == "__name__" {
        "metric_name".to_string()
    } else {
        map_label(name)
    }
}

fn matcher_sql(matcher: &Matcher) -> String {
    match_condition(&label_column(&matcher.name), matcher.op, &matcher.value)
}

/// `timestamp` within `[start_ms, end_ms]` and every matcher of one set.
fn where_clause(matchers: &[Matcher], start_ms: i64, end_ms: i64) -> String {
    let mut conditions = vec![
        format!(
            "timestamp >= {}",
            time_literal(start_ms.saturating_mul(NANOS_PER_MILLI))
        ),
        format!(
            "timestamp <= {}",
            time_literal(end_ms.saturating_mul(NANOS_PER_MILLI))
        ),
    ];
    conditions.extend(matchers.iter().map(matcher_sql));
    conditions.join(" AND ")
}

/// Any of several matcher sets (the `match[]` parameters); none selects everything.
fn where_any(matcher_sets: &[Vec<Matcher>], start_ms: i64, end_ms: i64) -> String {
    if matcher_sets.is_empty() {
        return where_clause(&[], start_ms, end_ms);
    }
    let alternatives: Vec<String> = matcher_sets
        .iter()
        .map(|set| format!("({})", where_clause(set, start_ms, end_ms)))
        .collect();
    alternatives.join(" OR ")
}

/// Labels of row `row`: its name and map entries, sorted.
fn row_labels(names: &StringArray, maps: &MapArray, row: usize) -> LabelSet {
    let entries = maps.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    let mut labels = Vec::with_capacity(entries.len() + 1);
    labels.push(("__name__".to_string(), names.value(row).to_string()));
    for i in 0..entries.len() {
        labels.push((keys.value(i).to_string(), values.value(i).to_string()));
    }
    labels.sort();
    labels
}

/// A hash of a row's name and labels, the key rows are grouped into series by.
fn row_hash(names: &StringArray, maps: &MapArray, row: usize) -> u64 {
    let mut hasher = twox_hash::XxHash3_64::default();
    hasher.write(names.value(row).as_bytes());
    hasher.write_u8(0xff);
    let offsets = maps.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let entries = maps.entries();
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    // Map entries are written sorted by key, so the order is canonical.
    for i in start..end {
        hasher.write(keys.value(i).as_bytes());
        hasher.write_u8(0xfe);
        hasher.write(values.value(i).as_bytes());
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

impl MetricQueries {
    pub fn new(engine: QueryEngine) -> MetricQueries {
        MetricQueries { engine }
    }

    async fn run(&self, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>, QueryError> {
        self.engine.batches(sql).await
    }

    /// Samples in `[start_ms, end_ms]` of every series matching all `matchers`,
    /// sorted by time; of two samples at one time the later written wins.
    pub async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let sql = format!(
            "SELECT metric_name, labels, timestamp, value FROM metric_points WHERE {}",
            where_clause(matchers, start_ms, end_ms)
        );
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut series: Vec<Series> = Vec::new();
        for batch in self.run(&sql).await? {
            let names = batch.column(0).as_string::<i32>();
            let maps = batch.column(1).as_map();
            let times = batch.column(2).as_primitive::<TimestampNanosecondType>();
            let values = batch.column(3).as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                let hash = row_hash(names, maps, row);
                let slot = *index.entry(hash).or_insert_with(|| {
                    series.push(Series {
                        labels: row_labels(names, maps, row),
                        samples: Vec::new(),
                    });
                    series.len() - 1
                });
                series[slot].samples.push(Sample {
                    t: times.value(row).div_euclid(NANOS_PER_MILLI),
                    v: values.value(row),
                });
            }
        }
        for one in &mut series {
            // Stable: of equal times the later row (written later) stays last.
            one.samples.sort_by_key(|sample| sample.t);
            let mut deduped: Vec<Sample> = Vec::with_capacity(one.samples.len());
            for sample in one.samples.drain(..) {
                match deduped.last_mut() {
                    Some(last) if last.t == sample.t => *last = sample,
                    _ => deduped.push(sample),
                }
            }
            one.samples = deduped;
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }

    /// Distinct label sets of series matching any of `matcher_sets` in the range.
    pub async fn series(
        &self,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<LabelSet>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT metric_name, labels FROM metric_points WHERE {}",
            where_any(matcher_sets, start_ms, end_ms)
        );
        let mut out = BTreeSet::new();
        for batch in self.run(&sql).await? {
            let names = batch.column(0).as_string::<i32>();
            let maps = batch.column(1).as_map();
            for row in 0..batch.num_rows() {
                out.insert(row_labels(names, maps, row));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Label names of matching series, sorted (`__name__` included when any).
    pub async fn label_names(
        &self,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT k FROM (SELECT unnest(map_keys(labels)) AS k FROM metric_points WHERE {})",
            where_any(matcher_sets, start_ms, end_ms)
        );
        let mut out: BTreeSet<String> = self
            .engine
            .distinct_strings(&sql)
            .await?
            .into_iter()
            .collect();
        let any = self
            .run(&format!(
                "SELECT 1 FROM metric_points WHERE {} LIMIT 1",
                where_any(matcher_sets, start_ms, end_ms)
            ))
            .await?;
        if any.iter().any(|batch| batch.num_rows() > 0) {
            out.insert("__name__".to_string());
        }
        Ok(out.into_iter().collect())
    }

    /// Values of label `name` among matching series, sorted, empty values left out.
    pub async fn label_values(
        &self,
        name: &str,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT {} AS v FROM metric_points WHERE {}",
            label_column(name),
            where_any(matcher_sets, start_ms, end_ms)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Type, unit and help of metric names seen in the range, as the OTLP receiver
    /// stored them with the points (names without a known type are left out).
    pub async fn stored_metadata(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(String, vispyr_model::FamilyMetadata)>, QueryError> {
        let sql = format!(
            "SELECT metric_name, max(metric_type), max(coalesce(unit, '')), max(coalesce(description, '')) \
             FROM metric_points WHERE {} AND metric_type <> 'unknown' GROUP BY metric_name ORDER BY metric_name",
            where_clause(&[], start_ms, end_ms)
        );
        let mut out = Vec::new();
        for batch in self.run(&sql).await? {
            let names = batch.column(0).as_string::<i32>();
            let kinds = batch.column(1).as_string::<i32>();
            let units = batch.column(2).as_string::<i32>();
            let helps = batch.column(3).as_string::<i32>();
            for row in 0..batch.num_rows() {
                out.push((
                    names.value(row).to_string(),
                    vispyr_model::FamilyMetadata {
                        kind: kinds.value(row).to_string(),
                        help: helps.value(row).to_string(),
                        unit: units.value(row).to_string(),
                    },
                ));
            }
        }
        Ok(out)
    }
}

impl vispyr_promql::Storage for MetricQueries {
    fn select<'a>(
        &'a self,
        matchers: &'a [Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<Series>, vispyr_promql::Error>> {
        Box::pin(async move {
            MetricQueries::select(self, matchers, start_ms, end_ms)
                .await
                .map_err(|error| vispyr_promql::Error::Storage(error.to_string()))
        })
    }
}
