//! Query preparation (parse, plan, fetch) and evaluation.
//!
//! ```text
//! query ──parse──▶ Expr
//!   log query:    one Storage::select([start, end), pushed-down line filters, maybe limit)
//!                 └─ rest of the pipeline per entry until `limit` entries pass → streams
//!   metric query: one Storage::select per range aggregation, widest window
//!                 [first_step - offset - range + 1ns, last_step - offset + 1ns)
//!                 ├─ pipeline + sample extraction per entry → series of (t, v)
//!                 └─ per step t: windows (t - offset - range, t - offset] → vectors
//! ```

use std::collections::HashMap;

use vispyr_promql::{Labels, Matcher};

use crate::ast::{
    BinOp, Grouping, LogRange, LogSelector, MetricExpr, RangeOp, Stage, VectorMatching, VectorOp,
};
use crate::error::Error;
use crate::filter::LineFilter;
use crate::parser::{Node, parse_query};
use crate::pipeline::{ERROR_LABEL, matcher_labels, run_stages, unwrap_value};
use crate::types::{
    Direction, LogEntry, Point, QueryResult, Sample, SelectRequest, Series, Storage, Stream,
};

/// Loki's default cap on series of a metric query result.
const DEFAULT_MAX_SERIES: usize = 10_000;
/// Loki's default `max_entries_limit_per_query`.
const DEFAULT_MAX_ENTRIES_LIMIT: usize = 5_000;
/// Maximum number of steps of a range query.
const DEFAULT_MAX_POINTS: i64 = 11_000;

/// Loki's message for log queries sent to the instant query endpoint.
pub(crate) const ERR_INSTANT_LOG_QUERY: &str = "log queries are not supported as an instant query type, please change your query to a range query type";

/// Evaluates LogQL queries against a [`Storage`] with Loki 3 semantics.
///
/// Evaluation is synchronous CPU work that runs once the storage futures
/// resolve; callers serving heavy queries from a Tokio runtime may want to
/// drive the returned future from `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Engine {
    max_series: usize,
    max_entries_limit: usize,
    max_points: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            max_series: DEFAULT_MAX_SERIES,
            max_entries_limit: DEFAULT_MAX_ENTRIES_LIMIT,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

/// A value during metric evaluation at one step.
#[derive(Debug, Clone)]
enum Val {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

/// The samples of one range aggregation, per series.
#[derive(Debug, Default)]
struct RangeData {
    /// Series sorted by labels; points sorted by time.
    series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Engine {
    /// An engine with Loki's default limits.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Sets the maximum number of series of a metric query result.
    pub fn with_max_series(mut self, max_series: usize) -> Engine {
        self.max_series = max_series;
        self
    }

    /// Sets the largest `limit` a log query may ask for.
    pub fn with_max_entries_limit(mut self, max_entries_limit: usize) -> Engine {
        self.max_entries_limit = max_entries_limit;
        self
    }

    /// Sets the maximum number of steps of a range query.
    pub fn with_max_points(mut self, max_points: i64) -> Engine {
        self.max_points = max_points.max(1);
        self
    }

    /// Evaluates `query` over `[start_ns, end_ns]`.
    ///
    /// Log queries return the entries in `[start_ns, end_ns)`, at most
    /// `limit` of them in total (the newest for [`Direction::Backward`], the
    /// oldest for [`Direction::Forward`]). Metric queries are evaluated at
    /// every step `start_ns + k * step_ns <= end_ns` and return a matrix.
    #[allow(clippy::too_many_arguments)]
    pub async fn query_range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<QueryResult, Error> {
        let node = parse_query(query)?;
        if end_ns < start_ns {
            return Err(Error::BadQuery(
                "end timestamp must not be before or equal to start time".into(),
            ));
        }
        match node {
            Node::Log(selector) => {
                self.check_limit(limit)?;
                let streams =
                    eval_log(storage, &selector, start_ns, end_ns, limit, direction).await?;
                Ok(QueryResult::Streams(streams))
            }
            Node::Metric(expr) => {
                if step_ns <= 0 {
                    return Err(Error::BadQuery(
                        "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                    ));
                }
                if (end_ns - start_ns) / step_ns > self.max_points {
                    return Err(Error::BadQuery(format!(
                        "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                        thousands(self.max_points)
                    )));
                }
                let steps: Vec<i64> = (0..)
                    .map(|k: i64| start_ns + k * step_ns)
                    .take_while(|t| *t <= end_ns)
                    .collect();
                let series = self.eval_metric_range(storage, &expr, &steps).await?;
                Ok(QueryResult::Matrix(series))
            }
        }
    }

    /// Evaluates a metric query at `time_ns`. Log queries are rejected, as
    /// Loki does; `limit` and `direction` are accepted for symmetry.
    pub async fn query_instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<QueryResult, Error> {
        let _ = (limit, direction);
        let node = parse_query(query)?;
        let expr = match node {
            Node::Log(_) => return Err(Error::BadQuery(ERR_INSTANT_LOG_QUERY.into())),
            Node::Metric(expr) => expr,
        };
        let steps = [time_ns];
        let evaluator = self.prepare(storage, &expr, &steps).await?;
        match evaluator.eval(&expr, time_ns)? {
            Val::Scalar(v) => Ok(QueryResult::Scalar { t_ns: time_ns, v }),
            Val::Vector(mut elems) => {
                if elems.len() > self.max_series {
                    return Err(series_limit_error(self.max_series));
                }
                if !keeps_order(&expr) {
                    elems.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Ok(QueryResult::Vector(
                    elems
                        .into_iter()
                        .map(|(labels, v)| Sample {
                            labels,
                            t_ns: time_ns,
                            v,
                        })
                        .collect(),
                ))
            }
        }
    }

    fn check_limit(&self, limit: usize) -> Result<(), Error> {
        if limit == 0 {
            return Err(Error::BadQuery("limit must be a positive value".into()));
        }
        if limit > self.max_entries_limit {
            return Err(Error::BadQuery(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
                self.max_entries_limit
            )));
        }
        Ok(())
    }

    async fn eval_metric_range(
        &self,
        storage: &dyn Storage,
        expr: &MetricExpr,
        steps: &[i64],
    ) -> Result<Vec<Series>, Error> {
        let evaluator = self.prepare(storage, expr, steps).await?;
        let mut by_labels: HashMap<Labels, Vec<Point>> = HashMap::new();
        for &t in steps {
            match evaluator.eval(expr, t)? {
                Val::Scalar(v) => by_labels
                    .entry(Labels::new())
                    .or_default()
                    .push(Point { t_ns: t, v }),
                Val::Vector(elems) => {
                    if elems.len() > self.max_series {
                        return Err(series_limit_error(self.max_series));
                    }
                    for (labels, v) in elems {
                        by_labels
                            .entry(labels)
                            .or_default()
                            .push(Point { t_ns: t, v });
                    }
                    if by_labels.len() > self.max_series {
                        return Err(series_limit_error(self.max_series));
                    }
                }
            }
        }
        let mut series: Vec<Series> = by_labels
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }

    /// Fetches and extracts the samples of every range aggregation once.
    async fn prepare(
        &self,
        storage: &dyn Storage,
        expr: &MetricExpr,
        steps: &[i64],
    ) -> Result<Evaluator, Error> {
        let mut ranges: Vec<&LogRange> = Vec::new();
        collect_ranges(expr, &mut ranges);
        let first = steps.first().copied().unwrap_or(0);
        let last = steps.last().copied().unwrap_or(0);
        let mut data = HashMap::new();
        for range in ranges {
            let key = range as *const LogRange as usize;
            let start_ns = first
                .saturating_sub(range.offset_ns)
                .saturating_sub(range.range_ns)
                .saturating_add(1);
            let end_ns = last.saturating_sub(range.offset_ns).saturating_add(1);
            let range_data = load_range(storage, range, start_ns, end_ns, expr).await?;
            data.insert(key, range_data);
        }
        Ok(Evaluator { data })
    }
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn series_limit_error(max: usize) -> Error {
    Error::BadQuery(format!(
        "maximum of series ({max}) reached for a single query"
    ))
}

/// Whether an instant result keeps the order of its outermost aggregation
/// (topk, bottomk, sort, sort_desc) instead of being sorted by labels.
fn keeps_order(expr: &MetricExpr) -> bool {
    matches!(
        expr,
        MetricExpr::Vector {
            op: VectorOp::Topk | VectorOp::Bottomk | VectorOp::Sort | VectorOp::SortDesc,
            ..
        }
    )
}

fn collect_ranges<'e>(expr: &'e MetricExpr, out: &mut Vec<&'e LogRange>) {
    match expr {
        MetricExpr::Range { range, .. } => out.push(range),
        MetricExpr::Vector { expr, .. } => collect_ranges(expr, out),
        MetricExpr::Binary { lhs, rhs, .. } => {
            collect_ranges(lhs, out);
            collect_ranges(rhs, out);
        }
        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
    }
}

/// Line filters storage can apply: those before the first stage that may
/// change the line. Returns them and the stages left for the engine.
pub(crate) fn split_pushdown(stages: &[Stage]) -> (Vec<LineFilter>, Vec<Stage>) {
    let mut pushed = Vec::new();
    let mut rest = Vec::new();
    let mut line_changed = false;
    for stage in stages {
        match stage {
            Stage::LineFilter(filter) if !line_changed => pushed.push(filter.clone()),
            other => {
                line_changed |= other.changes_line();
                rest.push(other.clone());
            }
        }
    }
    (pushed, rest)
}

fn sort_entries(entries: &mut [LogEntry], direction: Direction) {
    entries.sort_by(|a, b| {
        let by_time = a.timestamp_ns.cmp(&b.timestamp_ns);
        let by_time = match direction {
            Direction::Forward => by_time,
            Direction::Backward => by_time.reverse(),
        };
        by_time
            .then_with(|| a.stream.cmp(&b.stream))
            .then_with(|| a.line.cmp(&b.line))
    });
}

fn retain_requested(entries: &mut Vec<LogEntry>, matchers: &[Matcher], start: i64, end: i64) {
    entries.retain(|e| {
        e.timestamp_ns >= start
            && e.timestamp_ns < end
            && matchers.iter().all(|m| m.matches_labels(&e.stream))
    });
}

async fn eval_log(
    storage: &dyn Storage,
    selector: &LogSelector,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    direction: Direction,
) -> Result<Vec<Stream>, Error> {
    let (line_filters, rest) = split_pushdown(&selector.stages);
    let nothing_drops = rest.iter().all(|s| !s.may_drop());
    let request = SelectRequest {
        matchers: selector.matchers.clone(),
        line_filters,
        start_ns,
        end_ns,
        direction,
        limit: nothing_drops.then_some(limit),
        needs_line: true,
    };
    let mut entries = storage.select(&request).await?;
    retain_requested(&mut entries, &request.matchers, start_ns, end_ns);
    sort_entries(&mut entries, direction);
    let mut streams: HashMap<Labels, Vec<(i64, String)>> = HashMap::new();
    let mut taken = 0usize;
    for entry in &entries {
        if taken >= limit {
            break;
        }
        let Some((builder, line)) = run_stages(
            &rest,
            entry.timestamp_ns,
            &entry.line,
            &entry.stream,
            &entry.metadata,
        ) else {
            continue;
        };
        streams
            .entry(builder.into_labels())
            .or_default()
            .push((entry.timestamp_ns, line));
        taken += 1;
    }
    let mut out: Vec<Stream> = streams
        .into_iter()
        .map(|(labels, entries)| Stream { labels, entries })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// The labels a range aggregation's series carries: with `| unwrap`, the
/// unwrapped label is dropped (or only the `by` labels kept), as Loki does.
fn range_labels(labels: Labels, range: &LogRange, grouping: Option<&Grouping>) -> Labels {
    let Some(unwrap) = &range.unwrap else {
        return labels;
    };
    match grouping {
        Some(Grouping {
            without: false,
            labels: by,
        }) => labels.into_iter().filter(|(n, _)| by.contains(n)).collect(),
        Some(Grouping {
            without: true,
            labels: without,
        }) => labels
            .into_iter()
            .filter(|(n, _)| *n != unwrap.label && !without.contains(n))
            .collect(),
        None => labels
            .into_iter()
            .filter(|(n, _)| *n != unwrap.label)
            .collect(),
    }
}

/// The grouping of a `sum` directly above `range`'s aggregation when that
/// aggregation is additive (`count_over_time`, `rate`, `bytes_over_time`,
/// `bytes_rate`, `sum_over_time`): summing the per-series window values equals
/// the window value of the grouped entries, so entries can be grouped as they
/// are read. This is Loki's sum push-down; without it, high-cardinality
/// metadata (trace ids) makes one series per line. `sum` without a grouping
/// groups by nothing.
fn sum_grouping(expr: &MetricExpr, range: &LogRange) -> Option<Grouping> {
    match expr {
        MetricExpr::Vector {
            op: VectorOp::Sum,
            expr: inner,
            grouping,
            ..
        } => {
            if let MetricExpr::Range { op, range: r, .. } = inner.as_ref()
                && std::ptr::eq(r.as_ref(), range)
            {
                let additive = matches!(
                    op,
                    RangeOp::CountOverTime
                        | RangeOp::Rate
                        | RangeOp::BytesOverTime
                        | RangeOp::BytesRate
                        | RangeOp::SumOverTime
                );
                return additive.then(|| {
                    grouping.clone().unwrap_or(Grouping {
                        without: false,
                        labels: Vec::new(),
                    })
                });
            }
            sum_grouping(inner, range)
        }
        MetricExpr::Vector { expr, .. } => sum_grouping(expr, range),
        MetricExpr::Binary { lhs, rhs, .. } => {
            sum_grouping(lhs, range).or_else(|| sum_grouping(rhs, range))
        }
        MetricExpr::Range { .. } | MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => None,
    }
}

/// `labels` reduced to what an outer `sum` keeps; error labels stay, so a
/// pipeline error still fails the query.
fn pushed_down_labels(labels: Labels, outer: &Grouping) -> Labels {
    labels
        .into_iter()
        .filter(|(name, _)| {
            name.starts_with("__error") || (outer.labels.contains(name) != outer.without)
        })
        .collect()
}

/// Finds the range aggregation node that owns `range`, for its op and grouping.
fn find_owner<'e>(expr: &'e MetricExpr, range: &LogRange) -> Option<&'e MetricExpr> {
    match expr {
        MetricExpr::Range { range: r, .. } => std::ptr::eq(r.as_ref(), range).then_some(expr),
        MetricExpr::Vector { expr, .. } => find_owner(expr, range),
        MetricExpr::Binary { lhs, rhs, .. } => {
            find_owner(lhs, range).or_else(|| find_owner(rhs, range))
        }
        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => None,
    }
}

async fn load_range(
    storage: &dyn Storage,
    range: &LogRange,
    start_ns: i64,
    end_ns: i64,
    root: &MetricExpr,
) -> Result<RangeData, Error> {
    let (op, grouping) = match find_owner(root, range) {
        Some(MetricExpr::Range { op, grouping, .. }) => (*op, grouping.as_ref()),
        _ => (RangeOp::CountOverTime, None),
    };
    let early = sum_grouping(root, range);
    let (line_filters, rest) = split_pushdown(&range.selector.stages);
    let needs_line = !rest.is_empty()
        || range.unwrap.is_some()
        || matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let request = SelectRequest {
        matchers: range.selector.matchers.clone(),
        line_filters,
        start_ns,
        end_ns,
        direction: Direction::Forward,
        limit: None,
        needs_line,
    };
    let mut entries = storage.select(&request).await?;
    retain_requested(&mut entries, &request.matchers, start_ns, end_ns);
    sort_entries(&mut entries, Direction::Forward);
    let mut by_labels: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    for entry in &entries {
        let Some((mut builder, line)) = run_stages(
            &rest,
            entry.timestamp_ns,
            &entry.line,
            &entry.stream,
            &entry.metadata,
        ) else {
            continue;
        };
        let value = match (&range.unwrap, op) {
            (Some(unwrap), _) => match unwrap_value(unwrap, &mut builder) {
                Some(v) => v,
                None => continue,
            },
            (None, RangeOp::BytesOverTime | RangeOp::BytesRate) => line.len() as f64,
            (None, _) => 1.0,
        };
        let mut labels = range_labels(builder.into_labels(), range, grouping);
        if let Some(outer) = &early {
            labels = pushed_down_labels(labels, outer);
        }
        by_labels
            .entry(labels)
            .or_default()
            .push((entry.timestamp_ns, value));
    }
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = by_labels.into_iter().collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(RangeData { series })
}

/// Range aggregation samples keyed by the address of their `LogRange` in
/// the expression being evaluated.
struct Evaluator {
    data: HashMap<usize, RangeData>,
}

impl Evaluator {
    fn eval(&self, expr: &MetricExpr, t: i64) -> Result<Val, Error> {
        match expr {
            MetricExpr::Literal(v) => Ok(Val::Scalar(*v)),
            MetricExpr::VectorLiteral(v) => Ok(Val::Vector(vec![(Labels::new(), *v)])),
            MetricExpr::Range {
                op, param, range, ..
            } => self.eval_range(*op, *param, range, t),
            MetricExpr::Vector {
                op,
                param,
                expr,
                grouping,
            } => {
                let Val::Vector(input) = self.eval(expr, t)? else {
                    return Err(Error::BadQuery(format!(
                        "unexpected literal for vector aggregation {}",
                        op.name()
                    )));
                };
                Ok(Val::Vector(aggregate(
                    *op,
                    *param,
                    grouping.as_ref(),
                    input,
                )))
            }
            MetricExpr::Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            } => {
                let left = self.eval(lhs, t)?;
                let right = self.eval(rhs, t)?;
                binary(*op, left, right, *return_bool, matching)
            }
        }
    }

    fn eval_range(
        &self,
        op: RangeOp,
        param: Option<f64>,
        range: &LogRange,
        t: i64,
    ) -> Result<Val, Error> {
        let key = range as *const LogRange as usize;
        let Some(data) = self.data.get(&key) else {
            return Ok(Val::Vector(Vec::new()));
        };
        let window_end = t - range.offset_ns;
        let window_start = window_end - range.range_ns;
        let range_seconds = range.range_ns as f64 / 1e9;
        let mut out = Vec::new();
        for (labels, points) in &data.series {
            // Window (window_start, window_end].
            let from = points.partition_point(|(ts, _)| *ts <= window_start);
            let to = points.partition_point(|(ts, _)| *ts <= window_end);
            if from >= to {
                continue;
            }
            let window = &points[from..to];
            let value = range_value(op, param, window, range_seconds, range.range_ns);
            out.push((labels.clone(), value));
        }
        if op == RangeOp::AbsentOverTime {
            if out.is_empty() {
                return Ok(Val::Vector(vec![(
                    matcher_labels(&range.selector.matchers),
                    1.0,
                )]));
            }
            return Ok(Val::Vector(Vec::new()));
        }
        if let Some((labels, _)) = out
            .iter()
            .find(|(labels, _)| labels.iter().any(|(n, _)| n == ERROR_LABEL))
        {
            return Err(pipeline_error(labels));
        }
        Ok(Val::Vector(out))
    }
}

fn pipeline_error(labels: &Labels) -> Error {
    let err = vispyr_promql::label_value(labels, ERROR_LABEL);
    let rendered: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    Error::BadQuery(format!(
        "pipeline error: '{err}' for series: '{{{}}}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n",
        rendered.join(", ")
    ))
}

fn range_value(
    op: RangeOp,
    param: Option<f64>,
    window: &[(i64, f64)],
    range_seconds: f64,
    range_ns: i64,
) -> f64 {
    let values = || window.iter().map(|(_, v)| *v);
    let count = window.len() as f64;
    let sum = || values().sum::<f64>();
    match op {
        RangeOp::CountOverTime => count,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_seconds,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => {
            let mut mean = 0.0;
            let mut n = 0.0;
            for v in values() {
                n += 1.0;
                mean += v / n - mean / n;
            }
            mean
        }
        RangeOp::MaxOverTime => {
            values().fold(
                f64::NAN,
                |acc, v| {
                    if v > acc || acc.is_nan() { v } else { acc }
                },
            )
        }
        RangeOp::MinOverTime => {
            values().fold(
                f64::NAN,
                |acc, v| {
                    if v < acc || acc.is_nan() { v } else { acc }
                },
            )
        }
        RangeOp::StddevOverTime | RangeOp::StdvarOverTime => {
            let (mut n, mut mean, mut aux) = (0.0, 0.0, 0.0);
            for v in values() {
                n += 1.0;
                let delta = v - mean;
                mean += delta / n;
                aux += delta * (v - mean);
            }
            let variance = aux / n;
            if op == RangeOp::StddevOverTime {
                variance.sqrt()
            } else {
                variance
            }
        }
        RangeOp::QuantileOverTime => {
            let mut sorted: Vec<f64> = values().collect();
            quantile(param.unwrap_or(0.0), &mut sorted)
        }
        RangeOp::FirstOverTime => window[0].1,
        RangeOp::LastOverTime => window[window.len() - 1].1,
        RangeOp::AbsentOverTime => 1.0,
        RangeOp::RateCounter => extrapolated_rate(window, range_ns),
    }
}

/// Prometheus's quantile with linear interpolation.
fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `rate_counter`: Prometheus's extrapolated counter rate over the window.
fn extrapolated_rate(samples: &[(i64, f64)], range_ns: i64) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let ms = |ns: i64| ns / 1_000_000;
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let range_start = ms(first.0) - ms(range_ns);
    let range_end = ms(last.0);
    let mut result = last.1 - first.1;
    let mut previous = 0.0;
    for (_, v) in samples {
        if *v < previous {
            result += previous;
        }
        previous = *v;
    }
    let mut duration_to_start = (ms(first.0) - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - ms(last.0)) as f64 / 1000.0;
    let sampled = (ms(last.0) - ms(first.0)) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < duration_to_start {
            duration_to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if duration_to_start < threshold {
        duration_to_start
    } else {
        average / 2.0
    };
    interval += if duration_to_end < threshold {
        duration_to_end
    } else {
        average / 2.0
    };
    if sampled == 0.0 {
        return 0.0;
    }
    result * (interval / sampled) / (range_ns as f64 / 1e9)
}

/// The grouping key of `labels`.
fn group_labels(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    match grouping {
        None => Labels::new(),
        Some(Grouping {
            without: false,
            labels: by,
        }) => labels
            .iter()
            .filter(|(n, _)| by.contains(n))
            .cloned()
            .collect(),
        Some(Grouping {
            without: true,
            labels: without,
        }) => labels
            .iter()
            .filter(|(n, _)| !without.contains(n))
            .cloned()
            .collect(),
    }
}

fn aggregate(
    op: VectorOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    input: Vec<(Labels, f64)>,
) -> Vec<(Labels, f64)> {
    match op {
        VectorOp::Sort => {
            let mut out = input;
            out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            return out;
        }
        VectorOp::SortDesc => {
            let mut out = input;
            out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            return out;
        }
        VectorOp::Topk | VectorOp::Bottomk => {
            let k = param.unwrap_or(0.0);
            if k < 1.0 {
                return Vec::new();
            }
            let k = k as usize;
            let mut groups: HashMap<Labels, Vec<(Labels, f64)>> = HashMap::new();
            for (labels, v) in input {
                groups
                    .entry(group_labels(&labels, grouping))
                    .or_default()
                    .push((labels, v));
            }
            let top = op == VectorOp::Topk;
            let order = |a: &(Labels, f64), b: &(Labels, f64)| {
                // NaN sorts last either way.
                let by_value = match (a.1.is_nan(), b.1.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => b.1.total_cmp(&a.1),
                    _ => a.1.total_cmp(&b.1),
                };
                by_value.then_with(|| a.0.cmp(&b.0))
            };
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(order);
                members.truncate(k);
                out.extend(members);
            }
            out.sort_by(order);
            return out;
        }
        _ => {}
    }
    // Accumulators per group: (count, sum, mean, m2, min, max).
    struct Acc {
        count: f64,
        sum: f64,
        mean: f64,
        m2: f64,
        min: f64,
        max: f64,
    }
    let mut groups: HashMap<Labels, Acc> = HashMap::new();
    for (labels, v) in input {
        let acc = groups
            .entry(group_labels(&labels, grouping))
            .or_insert(Acc {
                count: 0.0,
                sum: 0.0,
                mean: 0.0,
                m2: 0.0,
                min: f64::NAN,
                max: f64::NAN,
            });
        acc.count += 1.0;
        acc.sum += v;
        let delta = v - acc.mean;
        acc.mean += delta / acc.count;
        acc.m2 += delta * (v - acc.mean);
        if v < acc.min || acc.min.is_nan() {
            acc.min = v;
        }
        if v > acc.max || acc.max.is_nan() {
            acc.max = v;
        }
    }
    groups
        .into_iter()
        .map(|(labels, acc)| {
            let value = match op {
                VectorOp::Sum => acc.sum,
                VectorOp::Avg => acc.mean,
                VectorOp::Count => acc.count,
                VectorOp::Min => acc.min,
                VectorOp::Max => acc.max,
                VectorOp::Stdvar => acc.m2 / acc.count,
                VectorOp::Stddev => (acc.m2 / acc.count).sqrt(),
                _ => f64::NAN,
            };
            (labels, value)
        })
        .collect()
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Cmp(cmp) => f64::from(u8::from(cmp.test(a, b))),
        BinOp::Or | BinOp::And | BinOp::Unless => f64::NAN,
    }
}

/// Applies a vector/scalar operator to one pair; `None` when a comparison
/// without `bool` filters the element out.
fn apply(op: BinOp, a: f64, b: f64, return_bool: bool, keep: f64) -> Option<f64> {
    match op {
        BinOp::Cmp(cmp) => {
            let passed = cmp.test(a, b);
            if return_bool {
                Some(f64::from(u8::from(passed)))
            } else {
                passed.then_some(keep)
            }
        }
        _ => Some(arith(op, a, b)),
    }
}

fn signature(labels: &Labels, matching: &VectorMatching) -> Labels {
    match matching.on {
        Some(true) => labels
            .iter()
            .filter(|(n, _)| matching.labels.contains(n))
            .cloned()
            .collect(),
        Some(false) => labels
            .iter()
            .filter(|(n, _)| !matching.labels.contains(n))
            .cloned()
            .collect(),
        None => labels.clone(),
    }
}

fn binary(
    op: BinOp,
    left: Val,
    right: Val,
    return_bool: bool,
    matching: &VectorMatching,
) -> Result<Val, Error> {
    match (left, right) {
        (Val::Scalar(a), Val::Scalar(b)) => Ok(Val::Scalar(arith(op, a, b))),
        (Val::Vector(elems), Val::Scalar(b)) => Ok(Val::Vector(
            elems
                .into_iter()
                .filter_map(|(l, a)| apply(op, a, b, return_bool, a).map(|v| (l, v)))
                .collect(),
        )),
        (Val::Scalar(a), Val::Vector(elems)) => Ok(Val::Vector(
            elems
                .into_iter()
                .filter_map(|(l, b)| apply(op, a, b, return_bool, b).map(|v| (l, v)))
                .collect(),
        )),
        (Val::Vector(lhs), Val::Vector(rhs)) => vector_binary(op, lhs, rhs, return_bool, matching),
    }
}

fn vector_binary(
    op: BinOp,
    lhs: Vec<(Labels, f64)>,
    rhs: Vec<(Labels, f64)>,
    return_bool: bool,
    matching: &VectorMatching,
) -> Result<Val, Error> {
    match op {
        BinOp::And | BinOp::Unless => {
            let right: Vec<Labels> = rhs.iter().map(|(l, _)| signature(l, matching)).collect();
            let keep_if_present = op == BinOp::And;
            return Ok(Val::Vector(
                lhs.into_iter()
                    .filter(|(l, _)| right.contains(&signature(l, matching)) == keep_if_present)
                    .collect(),
            ));
        }
        BinOp::Or => {
            let left: Vec<Labels> = lhs.iter().map(|(l, _)| signature(l, matching)).collect();
            let mut out = lhs;
            for (l, v) in rhs {
                if !left.contains(&signature(&l, matching)) {
                    out.push((l, v));
                }
            }
            return Ok(Val::Vector(out));
        }
        _ => {}
    }
    // group_right swaps the roles: the "many" side is always `many`.
    let group_right = matching.group_left == Some(false);
    let (many, one) = if group_right { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (labels, v) in one {
        let sig = signature(&labels, matching);
        if one_by_sig.insert(sig.clone(), (labels, v)).is_some() {
            let side = if group_right { "left" } else { "right" };
            return Err(Error::BadQuery(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                render_labels(&sig)
            )));
        }
    }
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    let mut out = Vec::new();
    for (labels, v) in many {
        let sig = signature(&labels, matching);
        let Some((one_labels, one_v)) = one_by_sig.get(&sig) else {
            continue;
        };
        if matching.group_left.is_none() && seen.insert(sig.clone(), ()).is_some() {
            return Err(Error::BadQuery(format!(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right): {}",
                render_labels(&sig)
            )));
        }
        let (a, b) = if group_right {
            (*one_v, v)
        } else {
            (v, *one_v)
        };
        let Some(value) = apply(op, a, b, return_bool, a) else {
            continue;
        };
        let mut result = if matching.group_left.is_none() {
            match matching.on {
                Some(true) => sig.clone(),
                Some(false) => signature(&labels, matching),
                None => labels.clone(),
            }
        } else {
            labels.clone()
        };
        for name in &matching.include {
            result.retain(|(n, _)| n != name);
            if let Some((_, value)) = one_labels.iter().find(|(n, _)| n == name) {
                result.push((name.clone(), value.clone()));
            }
        }
        result.sort();
        out.push((result, value));
    }
    Ok(Val::Vector(out))
}

fn render_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}
