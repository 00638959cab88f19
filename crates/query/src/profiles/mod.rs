//! Profile queries over `profile_samples` and `profile_stacks`: profile types, label
//! names and values, merged stacks for flamegraphs and tables, and timelines.
//!
//! A merge runs in two steps: samples matching the selector are summed per stack id
//! by DataFusion (catalog pruning on time and service, Parquet pushdown on the rest),
//! then the stacks of those ids are read from the same hour partitions and returned
//! with their values. Trees, rules and output formats are `vispyr-flamegraph`'s job.

mod selector;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampNanosecondType, UInt64Type};
use vispyr_common::NANOS_PER_HOUR;
use vispyr_common::profile::Frame;
use vispyr_model::profiles::frames_at;

pub use selector::{MatchOp, Matcher, Selector};

use crate::sqltext::{literal, map_label, match_condition, time_literal};
use crate::{QueryEngine, QueryError};

/// What to merge: a selector over a time range, optionally narrowed to spans.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub selector: Selector,
    /// Unix nanoseconds, inclusive.
    pub from: i64,
    /// Unix nanoseconds, exclusive.
    pub until: i64,
    /// Only samples taken in these spans (lowercase hex), when not empty.
    pub span_ids: Vec<String>,
    /// Samples whose profiling interval (`timestamp` + `duration_ns`)
    /// overlaps the range, not only those stamped inside it: a 300 ms trace
    /// lies inside one 10 s profile that started before it.
    pub overlap: bool,
}

/// How far before a range an overlapping profile may start: longer than
/// every SDK's upload interval (Pyroscope's Node.js SDK: 60 s).
const MAX_PROFILE_DURATION: i64 = 10 * 60 * 1_000_000_000;

impl Selection {
    /// The earliest sample timestamp the selection can include.
    fn earliest_timestamp(&self) -> i64 {
        if self.overlap {
            self.from.saturating_sub(MAX_PROFILE_DURATION)
        } else {
            self.from
        }
    }
}

/// Stacks (root first) with their summed values.
#[derive(Debug, Default)]
pub struct MergedStacks {
    pub stacks: Vec<(Vec<Frame>, i64)>,
    /// Sum of all values, including any whose stack was not found.
    pub total: i64,
    /// Stack ids referenced by samples but missing from `profile_stacks`.
    pub missing_stacks: usize,
}

/// One series of a timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineSeries {
    pub labels: BTreeMap<String, String>,
    /// `(step start in Unix ms, value)`.
    pub points: Vec<(i64, i64)>,
}

/// Profile queries on top of the SQL engine.
#[derive(Clone)]
pub struct ProfileQueries {
    engine: QueryEngine,
}

/// The SQL expression for a label: `service_name` is a column, the rest live in the
/// `labels` map (a missing label reads as the empty string, as in Prometheus).
fn label_expr(name: &str) -> String {
    match name {
        "service_name" => "service_name".into(),
        "__profile_type__" => "profile_type".into(),
        "__name__" => "split_part(profile_type, ':', 1)".into(),
        _ => map_label(name),
    }
}

fn matcher_sql(matcher: &Matcher) -> String {
    match_condition(&label_expr(&matcher.name), matcher.op, &matcher.value)
}

impl ProfileQueries {
    pub fn new(engine: QueryEngine) -> ProfileQueries {
        ProfileQueries { engine }
    }

    fn where_clause(&self, selection: &Selection) -> String {
        let mut conditions = vec![
            format!(
                "timestamp >= {}",
                time_literal(selection.earliest_timestamp())
            ),
            format!("timestamp < {}", time_literal(selection.until)),
        ];
        if selection.overlap {
            conditions.push(format!(
                "CAST(timestamp AS BIGINT) + duration_ns > {}",
                selection.from
            ));
        }
        if let Some(profile_type) = &selection.selector.profile_type {
            conditions.push(format!("profile_type = {}", literal(&profile_type.id())));
        }
        conditions.extend(selection.selector.matchers.iter().map(matcher_sql));
        if !selection.span_ids.is_empty() {
            let ids: Vec<String> = selection.span_ids.iter().map(|id| literal(id)).collect();
            conditions.push(format!("span_id IN ({})", ids.join(", ")));
        }
        conditions.join(" AND ")
    }

    async fn run(&self, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>, QueryError> {
        self.engine.batches(sql).await
    }

    /// Profile type ids with data in the range, sorted.
    pub async fn profile_types(&self, from: i64, until: i64) -> Result<Vec<String>, QueryError> {
        let selection = Selection {
            from,
            until,
            ..Selection::default()
        };
        let sql = format!(
            "SELECT DISTINCT profile_type FROM profile_samples WHERE {}",
            self.where_clause(&selection)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Label names of matching samples (`service_name` and `__name__` included).
    pub async fn label_names(&self, selection: &Selection) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT k FROM (SELECT unnest(map_keys(labels)) AS k FROM profile_samples WHERE {})",
            self.where_clause(selection)
        );
        let mut out: BTreeSet<String> = ["__name__", "service_name"]
            .into_iter()
            .map(String::from)
            .collect();
        out.extend(self.engine.distinct_strings(&sql).await?);
        Ok(out.into_iter().collect())
    }

    /// Values of one label among matching samples.
    pub async fn label_values(
        &self,
        name: &str,
        selection: &Selection,
    ) -> Result<Vec<String>, QueryError> {
        let expr = label_expr(name);
        let sql = format!(
            "SELECT DISTINCT {expr} AS v FROM profile_samples WHERE {}",
            self.where_clause(selection)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Distinct series (profile type, service and labels) of matching samples, each
    /// as sorted label pairs including `__profile_type__`, `__name__` and
    /// `service_name`; only `label_names` when that is not empty.
    pub async fn series(
        &self,
        selection: &Selection,
        label_names: &[String],
    ) -> Result<Vec<Vec<(String, String)>>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT profile_type, service_name, labels FROM profile_samples WHERE {}",
            self.where_clause(selection)
        );
        let mut out = BTreeSet::new();
        for batch in self.run(&sql).await? {
            let types = batch.column(0).as_string::<i32>();
            let services = batch.column(1).as_string::<i32>();
            let labels = batch.column(2).as_map();
            for row in 0..batch.num_rows() {
                let profile_type = types.value(row);
                let mut pairs = vec![
                    ("__profile_type__".to_owned(), profile_type.to_owned()),
                    (
                        "__name__".to_owned(),
                        profile_type.split(':').next().unwrap_or("").to_owned(),
                    ),
                    ("service_name".to_owned(), services.value(row).to_owned()),
                ];
                let entries = labels.value(row);
                let keys = entries.column(0).as_string::<i32>();
                let values = entries.column(1).as_string::<i32>();
                for i in 0..entries.len() {
                    pairs.push((keys.value(i).to_owned(), values.value(i).to_owned()));
                }
                if !label_names.is_empty() {
                    pairs.retain(|(name, _)| label_names.contains(name));
                }
                pairs.sort();
                out.insert(pairs);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Oldest and newest profile time (Unix ns), if any profile is stored.
    pub async fn time_bounds(&self) -> Result<Option<(i64, i64)>, QueryError> {
        let batches = self
            .run("SELECT min(timestamp), max(timestamp) FROM profile_samples")
            .await?;
        let Some(batch) = batches.first().filter(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let min = batch.column(0).as_primitive::<TimestampNanosecondType>();
        let max = batch.column(1).as_primitive::<TimestampNanosecondType>();
        if min.is_null(0) {
            return Ok(None);
        }
        Ok(Some((min.value(0), max.value(0))))
    }

    /// Services with samples in the range, for "which services" pickers.
    pub async fn services(&self, selection: &Selection) -> Result<Vec<String>, QueryError> {
        self.label_values("service_name", selection).await
    }

    /// All samples matching `selection`, merged per stack.
    pub async fn merge(&self, selection: &Selection) -> Result<MergedStacks, QueryError> {
        let sql = format!(
            "SELECT service_name, stack_id, sum(value) AS v FROM profile_samples WHERE {} GROUP BY service_name, stack_id",
            self.where_clause(selection)
        );
        let mut values: HashMap<u64, i64> = HashMap::new();
        let mut services = BTreeSet::new();
        let mut total = 0i64;
        for batch in self.run(&sql).await? {
            let service = batch.column(0).as_string::<i32>();
            let ids = batch.column(1).as_primitive::<UInt64Type>();
            let sums = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                services.insert(service.value(row).to_owned());
                let value = sums.value(row);
                total = total.saturating_add(value);
                *values.entry(ids.value(row)).or_insert(0) += value;
            }
        }
        if values.is_empty() {
            return Ok(MergedStacks::default());
        }
        // Stacks live in the hour partitions of their samples.
        let hour_start = selection.earliest_timestamp().div_euclid(NANOS_PER_HOUR) * NANOS_PER_HOUR;
        let services: Vec<String> = services.iter().map(|s| literal(s)).collect();
        let sql = format!(
            "SELECT stack_id, frames FROM profile_stacks WHERE timestamp >= {} AND timestamp < {} AND service_name IN ({})",
            time_literal(hour_start),
            time_literal(selection.until),
            services.join(", ")
        );
        let mut stacks = Vec::with_capacity(values.len());
        for batch in self.run(&sql).await? {
            let ids = batch.column(0).as_primitive::<UInt64Type>();
            let frames = batch.column(1).as_list::<i32>();
            for row in 0..batch.num_rows() {
                // `remove` takes each stack once, whatever the duplicates across hours.
                if let Some(value) = values.remove(&ids.value(row)) {
                    stacks.push((frames_at(frames, row), value));
                }
            }
        }
        Ok(MergedStacks {
            stacks,
            total,
            missing_stacks: values.len(),
        })
    }

    /// Values per `step` of matching samples, one series per distinct value of the
    /// `group_by` labels. Gauge types (heap in use) average per step; others sum.
    pub async fn timeline(
        &self,
        selection: &Selection,
        step: i64,
        group_by: &[String],
    ) -> Result<Vec<TimelineSeries>, QueryError> {
        let gauge = selection
            .selector
            .profile_type
            .as_ref()
            .is_some_and(|t| t.is_gauge());
        self.timeline_with(selection, step, group_by, gauge).await
    }

    /// [`ProfileQueries::timeline`] with the aggregation chosen by the caller:
    /// `average` averages the profiles of a step, otherwise they are summed.
    pub async fn timeline_with(
        &self,
        selection: &Selection,
        step: i64,
        group_by: &[String],
        average: bool,
    ) -> Result<Vec<TimelineSeries>, QueryError> {
        let step = step.max(1_000_000);
        let groups: Vec<String> = group_by.iter().map(|name| label_expr(name)).collect();
        let group_columns = groups
            .iter()
            .enumerate()
            .map(|(i, expr)| format!(", {expr} AS g{i}"))
            .collect::<String>();
        let group_names = (0..groups.len())
            .map(|i| format!(", g{i}"))
            .collect::<String>();
        // Per profile (timestamp) first, so gauges average over profiles, not stacks.
        let sql = format!(
            "SELECT bucket{group_names}, {agg}(v) AS v FROM (\
               SELECT date_bin(INTERVAL '{step} nanoseconds', timestamp, {origin}) AS bucket, timestamp{group_columns}, sum(value) AS v \
               FROM profile_samples WHERE {where_clause} GROUP BY bucket, timestamp{group_names}\
             ) GROUP BY bucket{group_names} ORDER BY bucket",
            agg = if average { "avg" } else { "sum" },
            origin = time_literal(0),
            where_clause = self.where_clause(selection),
        );
        let mut series: BTreeMap<Vec<String>, Vec<(i64, i64)>> = BTreeMap::new();
        for batch in self.run(&sql).await? {
            let buckets = batch.column(0).as_primitive::<TimestampNanosecondType>();
            let values = batch.column(groups.len() + 1);
            for row in 0..batch.num_rows() {
                let key: Vec<String> = (0..groups.len())
                    .map(|i| batch.column(i + 1).as_string::<i32>().value(row).to_owned())
                    .collect();
                let value = match values.data_type() {
                    arrow::datatypes::DataType::Float64 => values
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .value(row)
                        .round() as i64,
                    _ => values.as_primitive::<Int64Type>().value(row),
                };
                series
                    .entry(key)
                    .or_default()
                    .push((buckets.value(row) / 1_000_000, value));
            }
        }
        Ok(series
            .into_iter()
            .map(|(key, points)| TimelineSeries {
                labels: group_by.iter().cloned().zip(key).collect(),
                points,
            })
            .collect())
    }

    /// Span ids, services and time window of a trace, from the `spans` table.
    pub async fn trace_window(&self, trace_id: &str) -> Result<Option<TraceWindow>, QueryError> {
        let sql = format!(
            "SELECT span_id, service_name, timestamp, end_timestamp FROM spans WHERE trace_id = {}",
            literal(&trace_id.to_ascii_lowercase())
        );
        let mut window: Option<TraceWindow> = None;
        for batch in self.run(&sql).await? {
            let span = batch.column(0).as_string::<i32>();
            let service = batch.column(1).as_string::<i32>();
            let start = batch.column(2).as_primitive::<TimestampNanosecondType>();
            let end = batch.column(3).as_primitive::<TimestampNanosecondType>();
            for row in 0..batch.num_rows() {
                let w = window.get_or_insert_with(|| TraceWindow {
                    span_ids: Vec::new(),
                    services: BTreeSet::new(),
                    start: i64::MAX,
                    end: i64::MIN,
                });
                w.span_ids.push(span.value(row).to_owned());
                w.services.insert(service.value(row).to_owned());
                w.start = w.start.min(start.value(row));
                w.end = w.end.max(end.value(row));
            }
        }
        Ok(window)
    }

    /// Whether any sample in the range carries one of `span_ids`.
    pub async fn has_span_samples(&self, selection: &Selection) -> Result<bool, QueryError> {
        let sql = format!(
            "SELECT count(*) FROM profile_samples WHERE {}",
            self.where_clause(selection)
        );
        let batches = self.run(&sql).await?;
        Ok(batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .is_some_and(|b| b.column(0).as_primitive::<Int64Type>().value(0) > 0))
    }
}

/// Where and when a trace ran.
#[derive(Debug, Clone)]
pub struct TraceWindow {
    pub span_ids: Vec<String>,
    pub services: BTreeSet<String>,
    pub start: i64,
    pub end: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_become_sql() {
        let selector =
            Selector::parse(r#"{service_name="a'b", route=~"/x.*", env!="dev"}"#).unwrap();
        let sql: Vec<String> = selector.matchers.iter().map(matcher_sql).collect();
        assert_eq!(sql[0], "service_name = 'a''b'");
        assert_eq!(sql[1], "coalesce(labels['route'], '') ~ '^(?:/x.*)$'");
        assert_eq!(sql[2], "coalesce(labels['env'], '') <> 'dev'");
        assert_eq!(
            time_literal(1_500_000_000),
            "'1970-01-01T00:00:01.500000000Z'"
        );
    }
}
