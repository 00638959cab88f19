//! Query preparation (parse, check, fetch) and step-wise evaluation.
//!
//! ```text
//! query ──parse──▶ AST ──plan──▶ one Storage::select per selector (widest range)
//!                                   │
//!              per step t: eval(AST, t) over the in-memory series
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use promql_parser::parser::{
    self, AtModifier, Call, Expr, Function, MatrixSelector, Offset, SubqueryExpr, VectorSelector,
};

use promql_parser::parser::value::ValueType;

use crate::types::{
    Error, InstantSample, Labels, METRIC_NAME, MatchOp, Matcher, Sample, Series, Storage, Value,
    is_stale_nan,
};
use crate::{aggregate, binary, functions};

/// Prometheus's default lookback delta.
const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Prometheus's default limit of samples in memory.
const DEFAULT_MAX_SAMPLES: usize = 50_000_000;
/// Step of subqueries without an explicit step: Prometheus's default global
/// evaluation interval.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;
/// Maximum number of steps of a range query (checked by Prometheus's API).
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates PromQL queries against a [`Storage`] with Prometheus 2.42 semantics.
///
/// Evaluation itself is synchronous CPU work that runs once the storage
/// futures resolve; callers serving heavy queries from a Tokio runtime may
/// want to drive the returned future from `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Engine {
    lookback_delta_ms: i64,
    max_samples: usize,
    default_subquery_step_ms: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(DEFAULT_LOOKBACK_MS)
    }
}

/// A value during evaluation at one step.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<Elem>),
    Matrix(Vec<Series>),
}

/// One element of an instant vector during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Elem {
    pub(crate) labels: Labels,
    pub(crate) v: f64,
}

impl Engine {
    /// An engine with the given lookback delta and default limits.
    pub fn new(lookback_delta_ms: i64) -> Engine {
        Engine {
            lookback_delta_ms,
            max_samples: DEFAULT_MAX_SAMPLES,
            default_subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
        }
    }

    /// Sets the maximum number of samples a query may load from storage.
    pub fn with_max_samples(mut self, max_samples: usize) -> Engine {
        self.max_samples = max_samples;
        self
    }

    /// Sets the step of subqueries written without one (Prometheus's global
    /// evaluation interval, 1 minute by default).
    pub fn with_default_subquery_step(mut self, step_ms: i64) -> Engine {
        self.default_subquery_step_ms = step_ms.max(1);
        self
    }

    /// Evaluates `query` at `time_ms`.
    pub async fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ms: i64,
    ) -> Result<Value, Error> {
        let expr = parse(query)?;
        let evaluator = self.prepare(storage, &expr, time_ms, time_ms).await?;
        let value = match evaluator.eval(&expr, time_ms)? {
            Val::Scalar(v) => Value::Scalar { t: time_ms, v },
            Val::Str(v) => Value::String { t: time_ms, v },
            Val::Vector(elems) => Value::Vector(
                elems
                    .into_iter()
                    .map(|e| InstantSample {
                        labels: e.labels,
                        t: time_ms,
                        v: e.v,
                    })
                    .collect(),
            ),
            Val::Matrix(series) => Value::Matrix(series),
        };
        Ok(value)
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms`; always a matrix.
    pub async fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, Error> {
        if end_ms < start_ms {
            return Err(Error::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        if step_ms <= 0 {
            return Err(Error::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(Error::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let expr = parse(query)?;
        let value_type = expr.value_type();
        if value_type != ValueType::Vector && value_type != ValueType::Scalar {
            return Err(Error::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(value_type)
            )));
        }
        let evaluator = self.prepare(storage, &expr, start_ms, end_ms).await?;
        let mut by_labels: HashMap<Labels, Vec<Sample>> = HashMap::new();
        let mut t = start_ms;
        while t <= end_ms {
            match evaluator.eval(&expr, t)? {
                Val::Scalar(v) => by_labels
                    .entry(Labels::new())
                    .or_default()
                    .push(Sample { t, v }),
                Val::Vector(elems) => {
                    for e in elems {
                        by_labels
                            .entry(e.labels)
                            .or_default()
                            .push(Sample { t, v: e.v });
                    }
                }
                Val::Str(_) | Val::Matrix(_) => {
                    return Err(Error::Execution(
                        "unexpected result type in range query".into(),
                    ));
                }
            }
            t += step_ms;
        }
        let mut series: Vec<Series> = by_labels
            .into_iter()
            .map(|(labels, samples)| Series { labels, samples })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(series))
    }

    /// Fetches every selector once with the widest range it needs.
    async fn prepare(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Evaluator, Error> {
        let mut evaluator = Evaluator {
            data: HashMap::new(),
            lookback: self.lookback_delta_ms,
            query_start: start_ms,
            query_end: end_ms,
            default_step: self.default_subquery_step_ms,
            subquery_cache: RefCell::new(HashMap::new()),
            range_outputs: RefCell::new(HashMap::new()),
        };
        let mut plans: Vec<(usize, &VectorSelector, i64, i64)> = Vec::new();
        evaluator.plan(expr, start_ms, end_ms, &mut plans)?;
        let mut loaded = 0usize;
        for (key, vs, fetch_start, fetch_end) in plans {
            let matchers = selector_matchers(vs);
            let mut series = storage.select(&matchers, fetch_start, fetch_end).await?;
            series.retain(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)));
            for s in &mut series {
                s.samples.retain(|p| p.t >= fetch_start && p.t <= fetch_end);
                loaded += s.samples.len();
            }
            if loaded > self.max_samples {
                return Err(Error::TooManySamples);
            }
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            evaluator.data.insert(key, series);
        }
        Ok(evaluator)
    }
}

/// Functions that Prometheus 2.42 knows; the parser knows more (newer ones).
const PROMETHEUS_2_42_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

static REGISTER_EXTRA_FUNCTIONS: Once = Once::new();

/// Parses a query and rejects what Prometheus 2.42 does not accept.
pub(crate) fn parse(query: &str) -> Result<Expr, Error> {
    REGISTER_EXTRA_FUNCTIONS.call_once(|| {
        // `holt_winters` was renamed in Prometheus 3; the parser only knows the new name.
        let holt_winters = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Registration only fails on a name clash, which would mean the
        // parser learnt `holt_winters` itself: then it parses anyway.
        let _ = parser::register_extra_functions(vec![holt_winters]);
    });
    let expr = parser::parse(query).map_err(|msg| Error::BadData(format!("parse error: {msg}")))?;
    check_supported(&expr)?;
    Ok(expr)
}

/// Rejects syntax that the parser accepts but Prometheus 2.42 does not.
fn check_supported(expr: &Expr) -> Result<(), Error> {
    match expr {
        Expr::Aggregate(agg) => {
            let op = agg.op.to_string();
            if op == "limitk" || op == "limit_ratio" {
                return Err(Error::BadData(format!(
                    "parse error: unknown aggregation {op:?}"
                )));
            }
            check_supported(&agg.expr)?;
            if let Some(param) = &agg.param {
                check_supported(param)?;
            }
            Ok(())
        }
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Binary(b) => {
            if let Some(modifier) = &b.modifier
                && (modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some())
            {
                return Err(Error::BadData(
                    "parse error: fill modifiers are not supported".into(),
                ));
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Subquery(s) => check_supported(&s.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Call(call) => {
            if !PROMETHEUS_2_42_FUNCTIONS.contains(&call.func.name) {
                return Err(Error::BadData(format!(
                    "parse error: unknown function with name {:?}",
                    call.func.name
                )));
            }
            for arg in &call.args.args {
                check_supported(arg)?;
            }
            Ok(())
        }
        Expr::Extension(_) => Err(Error::BadData("parse error: unsupported expression".into())),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<(), Error> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadData(
            "parse error: 'or' in label matchers is not supported".into(),
        ));
    }
    Ok(())
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// The matchers of a selector, with the metric name as a `__name__` matcher.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        // An equality matcher never fails to build.
        if let Ok(m) = Matcher::new(METRIC_NAME, MatchOp::Equal, name.clone()) {
            matchers.push(m);
        }
    }
    matchers.extend(vs.matchers.matchers.iter().map(Matcher::from_parser));
    matchers
}

/// Every selector of a query, with its matchers, for label APIs.
pub fn query_selectors(query: &str) -> Result<Vec<Vec<Matcher>>, Error> {
    let expr = parse(query)?;
    let mut out = Vec::new();
    collect_selectors(&expr, &mut out);
    Ok(out)
}

/// The matchers of a series selector such as `up{job="api"}` — the `match[]`
/// parameter of the series and label APIs; anything else is `bad_data`.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, Error> {
    match parse(selector)? {
        Expr::VectorSelector(vs) => Ok(selector_matchers(&vs)),
        _ => Err(Error::BadData(format!(
            "{selector:?} is not a series selector such as up{{job=\"api\"}}"
        ))),
    }
}

fn collect_selectors(expr: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match expr {
        Expr::Aggregate(agg) => {
            collect_selectors(&agg.expr, out);
            if let Some(param) = &agg.param {
                collect_selectors(param, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::VectorSelector(vs) => out.push(selector_matchers(vs)),
        Expr::MatrixSelector(ms) => out.push(selector_matchers(&ms.vs)),
        Expr::Call(call) => {
            for arg in &call.args.args {
                collect_selectors(arg, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(time: &SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(before) => -duration_ms(&before.duration()),
    }
}

/// Identity of a selector node: its address, stable while the AST is borrowed.
fn selector_key(vs: &VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

/// The window of a range-vector argument at one step.
pub(crate) struct Window {
    /// Inclusive start of the window (ms).
    pub(crate) start: i64,
    /// Inclusive end of the window: the selector's effective evaluation time (ms).
    pub(crate) end: i64,
    /// Length of the range in ms.
    pub(crate) range: i64,
}

/// Inner results of subqueries keyed by (subquery node address, inner step).
type SubqueryCache = HashMap<(usize, i64), Arc<Vec<Elem>>>;

/// Holds the fetched series and evaluates expressions at single steps.
pub(crate) struct Evaluator {
    data: HashMap<usize, Vec<Series>>,
    lookback: i64,
    query_start: i64,
    query_end: i64,
    default_step: i64,
    /// Inner results of subqueries by (subquery node, inner step).
    subquery_cache: RefCell<SubqueryCache>,
    /// Output labels of range-vector function calls, with the input series
    /// that produced them, by call node address.
    range_outputs: RefCell<HashMap<usize, HashMap<Labels, Labels>>>,
}

impl Evaluator {
    /// The time a selector or subquery is evaluated at for outer step `t`.
    fn effective_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(time)) => system_time_ms(time),
        };
        base - offset_ms(offset)
    }

    /// Records the range every selector needs when `expr` is evaluated at
    /// steps within `[start, end]`.
    fn plan<'e>(
        &self,
        expr: &'e Expr,
        start: i64,
        end: i64,
        plans: &mut Vec<(usize, &'e VectorSelector, i64, i64)>,
    ) -> Result<(), Error> {
        match expr {
            Expr::Aggregate(agg) => {
                self.plan(&agg.expr, start, end, plans)?;
                if let Some(param) = &agg.param {
                    self.plan(param, start, end, plans)?;
                }
            }
            Expr::Unary(u) => self.plan(&u.expr, start, end, plans)?,
            Expr::Binary(b) => {
                self.plan(&b.lhs, start, end, plans)?;
                self.plan(&b.rhs, start, end, plans)?;
            }
            Expr::Paren(p) => self.plan(&p.expr, start, end, plans)?,
            Expr::Subquery(sq) => {
                let first = self.effective_time(&sq.at, &sq.offset, start);
                let last = self.effective_time(&sq.at, &sq.offset, end);
                let range = duration_ms(&sq.range);
                self.plan(&sq.expr, first - range, last, plans)?;
            }
            Expr::VectorSelector(vs) => {
                let first = self.effective_time(&vs.at, &vs.offset, start);
                let last = self.effective_time(&vs.at, &vs.offset, end);
                plans.push((selector_key(vs), vs, first - self.lookback, last));
            }
            Expr::MatrixSelector(ms) => {
                let first = self.effective_time(&ms.vs.at, &ms.vs.offset, start);
                let last = self.effective_time(&ms.vs.at, &ms.vs.offset, end);
                let range = duration_ms(&ms.range);
                plans.push((selector_key(&ms.vs), &ms.vs, first - range, last));
            }
            Expr::Call(call) => {
                for arg in &call.args.args {
                    self.plan(arg, start, end, plans)?;
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::Extension(_) => {
                return Err(Error::BadData("unsupported expression".into()));
            }
        }
        Ok(())
    }

    fn series_of(&self, vs: &VectorSelector) -> &[Series] {
        self.data
            .get(&selector_key(vs))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Evaluates `expr` at step `t`.
    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Val, Error> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(elems) => {
                    let negated: Vec<Elem> = elems
                        .into_iter()
                        .map(|e| Elem {
                            labels: drop_metric_name(e.labels),
                            v: -e.v,
                        })
                        .collect();
                    check_unique_labels(&negated)?;
                    Ok(Val::Vector(negated))
                }
                _ => Err(Error::Execution("unary minus on unsupported type".into())),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(
                self.select_instant(vs, t)
                    .into_iter()
                    .map(|(e, _)| e)
                    .collect(),
            )),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.select_range(ms, t).0)),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.subquery(sq, t)?.0)),
            Expr::Call(call) => functions::eval_call(self, call, t),
            Expr::Aggregate(agg) => aggregate::eval_aggregate(self, agg, t),
            Expr::Binary(b) => binary::eval_binary(self, b, t),
            Expr::Extension(_) => Err(Error::BadData("unsupported expression".into())),
        }
    }

    /// Evaluates an expression that must yield a vector.
    pub(crate) fn eval_vector(&self, expr: &Expr, t: i64) -> Result<Vec<Elem>, Error> {
        match self.eval(expr, t)? {
            Val::Vector(v) => Ok(v),
            _ => Err(Error::Execution("expected instant vector".into())),
        }
    }

    /// Evaluates an expression that must yield a scalar.
    pub(crate) fn eval_scalar(&self, expr: &Expr, t: i64) -> Result<f64, Error> {
        match self.eval(expr, t)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(Error::Execution("expected scalar".into())),
        }
    }

    /// Evaluates an expression that must yield a string.
    pub(crate) fn eval_string(&self, expr: &Expr, t: i64) -> Result<String, Error> {
        match self.eval(expr, t)? {
            Val::Str(s) => Ok(s),
            _ => Err(Error::Execution("expected string".into())),
        }
    }

    /// The instant vector of a selector at step `t`, each element with the
    /// timestamp of the sample it came from.
    pub(crate) fn select_instant(&self, vs: &VectorSelector, t: i64) -> Vec<(Elem, i64)> {
        let ref_time = self.effective_time(&vs.at, &vs.offset, t);
        let mut out = Vec::new();
        for series in self.series_of(vs) {
            let idx = series.samples.partition_point(|s| s.t <= ref_time);
            if idx == 0 {
                continue;
            }
            let sample = series.samples[idx - 1];
            if sample.t < ref_time - self.lookback || is_stale_nan(sample.v) {
                continue;
            }
            out.push((
                Elem {
                    labels: series.labels.clone(),
                    v: sample.v,
                },
                sample.t,
            ));
        }
        out
    }

    /// The samples of a range selector in its window at step `t`; series
    /// without samples in the window are left out.
    pub(crate) fn select_range(&self, ms: &MatrixSelector, t: i64) -> (Vec<Series>, Window) {
        let end = self.effective_time(&ms.vs.at, &ms.vs.offset, t);
        let range = duration_ms(&ms.range);
        let window = Window {
            start: end - range,
            end,
            range,
        };
        let mut out = Vec::new();
        for series in self.series_of(&ms.vs) {
            let from = series.samples.partition_point(|s| s.t < window.start);
            let to = series.samples.partition_point(|s| s.t <= window.end);
            let samples: Vec<Sample> = series.samples[from..to]
                .iter()
                .filter(|s| !is_stale_nan(s.v))
                .copied()
                .collect();
            if !samples.is_empty() {
                out.push(Series {
                    labels: series.labels.clone(),
                    samples,
                });
            }
        }
        (out, window)
    }

    /// Evaluates a subquery for outer step `t`: the inner expression at every
    /// multiple of the step inside the window.
    pub(crate) fn subquery(
        &self,
        sq: &SubqueryExpr,
        t: i64,
    ) -> Result<(Vec<Series>, Window), Error> {
        let end = self.effective_time(&sq.at, &sq.offset, t);
        let range = duration_ms(&sq.range);
        let step = match &sq.step {
            Some(d) if duration_ms(d) > 0 => duration_ms(d),
            _ => self.default_step,
        };
        let window = Window {
            start: end - range,
            end,
            range,
        };
        let mut first = window.start.div_euclid(step) * step;
        if first < window.start {
            first += step;
        }
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<Series> = Vec::new();
        let mut ts = first;
        while ts <= end {
            for e in self.subquery_step(sq, ts)?.iter() {
                let sample = Sample { t: ts, v: e.v };
                match index.get(&e.labels) {
                    Some(&i) => out[i].samples.push(sample),
                    None => {
                        index.insert(e.labels.clone(), out.len());
                        out.push(Series {
                            labels: e.labels.clone(),
                            samples: vec![sample],
                        });
                    }
                }
            }
            ts += step;
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok((out, window))
    }

    /// The inner vector of a subquery at inner step `ts`, computed once per
    /// query: consecutive outer steps share most of their inner steps.
    fn subquery_step(&self, sq: &SubqueryExpr, ts: i64) -> Result<Arc<Vec<Elem>>, Error> {
        let key = (std::ptr::from_ref(sq) as usize, ts);
        if let Some(cached) = self.subquery_cache.borrow().get(&key) {
            return Ok(Arc::clone(cached));
        }
        let result = Arc::new(self.eval_vector(&sq.expr, ts)?);
        self.subquery_cache
            .borrow_mut()
            .insert(key, Arc::clone(&result));
        Ok(result)
    }

    /// Prometheus evaluates a range-vector function over the whole query range
    /// at once and rejects two input series that map to the same output
    /// labels, even when they never overlap in time. This records every
    /// output of `call` during the query to apply the same rule.
    pub(crate) fn record_range_output(
        &self,
        call: &Call,
        output: &Labels,
        input: Labels,
    ) -> Result<(), Error> {
        let mut outputs = self.range_outputs.borrow_mut();
        let per_call = outputs
            .entry(std::ptr::from_ref(call) as usize)
            .or_default();
        match per_call.get(output) {
            Some(existing) if *existing != input => Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            )),
            Some(_) => Ok(()),
            None => {
                per_call.insert(output.clone(), input);
                Ok(())
            }
        }
    }

    /// The series and window of a range-vector argument (selector or subquery,
    /// possibly in parentheses).
    pub(crate) fn range_arg(&self, expr: &Expr, t: i64) -> Result<(Vec<Series>, Window), Error> {
        match expr {
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            Expr::MatrixSelector(ms) => Ok(self.select_range(ms, t)),
            Expr::Subquery(sq) => self.subquery(sq, t),
            _ => Err(Error::Execution("expected range vector".into())),
        }
    }
}

/// Removes `__name__` from sorted labels.
pub(crate) fn drop_metric_name(mut labels: Labels) -> Labels {
    labels.retain(|(name, _)| name != METRIC_NAME);
    labels
}

/// Prometheus's check that no two elements of a step's result share labels.
pub(crate) fn check_unique_labels(elems: &[Elem]) -> Result<(), Error> {
    if elems.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(elems.len());
    for e in elems {
        if !seen.insert(&e.labels) {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}
