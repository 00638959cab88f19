//! PromQL functions, with Prometheus 2.42 semantics.

use std::collections::HashMap;
use std::f64::consts::PI;

use promql_parser::parser::{Call, Expr};
use regex::Regex;

use crate::aggregate::{is_valid_label_name, kahan_mean, sort_elems};
use crate::engine::{
    Elem, Evaluator, Val, Window, check_unique_labels, drop_metric_name, selector_matchers,
};
use crate::types::{Error, Labels, METRIC_NAME, MatchOp, Sample, label_value};

fn unwrap_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// Go's `math.Max`: NaN wins, unlike Rust's `f64::max`.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins, unlike Rust's `f64::min`.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

pub(crate) fn eval_call(ev: &Evaluator, call: &Call, t: i64) -> Result<Val, Error> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| unwrap_parens(a)).collect();
    let result = match name {
        "time" => return Ok(Val::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(Val::Scalar(PI)),
        "scalar" => {
            let v = ev.eval_vector(args[0], t)?;
            let value = if v.len() == 1 { v[0].v } else { f64::NAN };
            return Ok(Val::Scalar(value));
        }
        "vector" => vec![Elem {
            labels: Labels::new(),
            v: ev.eval_scalar(args[0], t)?,
        }],
        "timestamp" => timestamp(ev, args[0], t)?,
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "deg"
        | "rad" | "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh"
        | "sin" | "sinh" | "tan" | "tanh" => {
            let f = math_function(name);
            map_values(ev.eval_vector(args[0], t)?, f)
        }
        "round" => {
            let to_nearest = match args.get(1) {
                Some(arg) => ev.eval_scalar(arg, t)?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map_values(ev.eval_vector(args[0], t)?, |v| {
                (v * inverse + 0.5).floor() / inverse
            })
        }
        "clamp" => {
            let vector = ev.eval_vector(args[0], t)?;
            let min = ev.eval_scalar(args[1], t)?;
            let max = ev.eval_scalar(args[2], t)?;
            if max < min {
                Vec::new()
            } else {
                map_values(vector, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_max" => {
            let vector = ev.eval_vector(args[0], t)?;
            let max = ev.eval_scalar(args[1], t)?;
            map_values(vector, |v| go_min(max, v))
        }
        "clamp_min" => {
            let vector = ev.eval_vector(args[0], t)?;
            let min = ev.eval_scalar(args[1], t)?;
            map_values(vector, |v| go_max(min, v))
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let f = date_function(name);
            match args.first() {
                Some(arg) => map_values(ev.eval_vector(arg, t)?, f),
                None => vec![Elem {
                    labels: Labels::new(),
                    v: f(t as f64 / 1000.0),
                }],
            }
        }
        "sort" | "sort_desc" => {
            let mut vector = ev.eval_vector(args[0], t)?;
            sort_elems(&mut vector, name == "sort_desc");
            vector
        }
        "label_replace" => label_replace(ev, &args, t)?,
        "label_join" => label_join(ev, &args, t)?,
        "absent" => {
            let vector = ev.eval_vector(args[0], t)?;
            if vector.is_empty() {
                vec![Elem {
                    labels: absent_labels(args[0]),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], t)?;
            histogram_quantile(q, ev.eval_vector(args[1], t)?)
        }
        // These only act on native histograms, which this engine does not store.
        "histogram_count" | "histogram_sum" => {
            ev.eval_vector(args[0], t)?;
            Vec::new()
        }
        "histogram_fraction" => {
            ev.eval_vector(args[2], t)?;
            Vec::new()
        }
        _ => range_function(ev, call, &args, t)?,
    };
    check_unique_labels(&result)?;
    Ok(Val::Vector(result))
}

/// Applies `f` to every value and drops the metric name.
fn map_values(vector: Vec<Elem>, f: impl Fn(f64) -> f64) -> Vec<Elem> {
    vector
        .into_iter()
        .map(|e| Elem {
            labels: drop_metric_name(e.labels),
            v: f(e.v),
        })
        .collect()
}

fn math_function(name: &str) -> fn(f64) -> f64 {
    match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        "deg" => |v| v * 180.0 / PI,
        "rad" => |v| v * PI / 180.0,
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        _ => f64::tanh,
    }
}

/// `timestamp()`: the sample's own timestamp for a plain selector, the
/// evaluation time otherwise.
fn timestamp(ev: &Evaluator, arg: &Expr, t: i64) -> Result<Vec<Elem>, Error> {
    if let Expr::VectorSelector(vs) = arg {
        let out = ev
            .select_instant(vs, t)
            .into_iter()
            .map(|(e, sample_t)| Elem {
                labels: drop_metric_name(e.labels),
                v: sample_t as f64 / 1000.0,
            })
            .collect();
        return Ok(out);
    }
    let eval_seconds = t as f64 / 1000.0;
    Ok(map_values(ev.eval_vector(arg, t)?, |_| eval_seconds))
}

/// Civil date (year, month 1-12, day 1-31) of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn date_function(name: &str) -> fn(f64) -> f64 {
    fn parts(v: f64) -> (i64, i64, i64, i64, i64) {
        // Go's int64(v) truncates toward zero.
        let secs = v as i64;
        let days = secs.div_euclid(86_400);
        let secs_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        (days, secs_of_day, year, month, day)
    }
    match name {
        "minute" => |v| (parts(v).1 % 3600 / 60) as f64,
        "hour" => |v| (parts(v).1 / 3600) as f64,
        "day_of_month" => |v| parts(v).4 as f64,
        "day_of_week" => |v| (parts(v).0 + 4).rem_euclid(7) as f64,
        "day_of_year" => |v| {
            let (_, _, year, month, day) = parts(v);
            let before: i64 = (1..month).map(|m| days_in_month(year, m)).sum();
            (before + day) as f64
        },
        "days_in_month" => |v| {
            let (_, _, year, month, _) = parts(v);
            days_in_month(year, month) as f64
        },
        "month" => |v| parts(v).3 as f64,
        _ => |v| parts(v).2 as f64,
    }
}

fn compile_anchored(regex: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{regex})$")).ok()
}

fn label_replace(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Vec<Elem>, Error> {
    let vector = ev.eval_vector(args[0], t)?;
    let dst = ev.eval_string(args[1], t)?;
    let replacement = ev.eval_string(args[2], t)?;
    let src = ev.eval_string(args[3], t)?;
    let regex_src = ev.eval_string(args[4], t)?;
    let Some(regex) = compile_anchored(&regex_src) else {
        return Err(Error::Execution(format!(
            "invalid regular expression in label_replace(): {regex_src}"
        )));
    };
    if !is_valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(vector.len());
    for e in vector {
        let src_value = label_value(&e.labels, &src).to_string();
        let Some(captures) = regex.captures(&src_value) else {
            out.push(e);
            continue;
        };
        let mut value = String::new();
        captures.expand(&replacement, &mut value);
        let labels = set_label(e.labels, &dst, value);
        out.push(Elem { labels, v: e.v });
    }
    Ok(out)
}

fn label_join(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Vec<Elem>, Error> {
    let vector = ev.eval_vector(args[0], t)?;
    let dst = ev.eval_string(args[1], t)?;
    let separator = ev.eval_string(args[2], t)?;
    let mut sources = Vec::new();
    for arg in &args[3..] {
        let src = ev.eval_string(arg, t)?;
        if !is_valid_label_name(&src) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        sources.push(src);
    }
    if !is_valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(vector.len());
    for e in vector {
        let values: Vec<&str> = sources.iter().map(|s| label_value(&e.labels, s)).collect();
        let joined = values.join(&separator);
        let labels = set_label(e.labels.clone(), &dst, joined);
        out.push(Elem { labels, v: e.v });
    }
    Ok(out)
}

/// Sets a label (an empty value removes it) and keeps the labels sorted.
fn set_label(mut labels: Labels, name: &str, value: String) -> Labels {
    labels.retain(|(n, _)| n != name);
    if !value.is_empty() {
        labels.push((name.to_string(), value));
        labels.sort();
    }
    labels
}

/// The labels of `absent()`'s output: the equality matchers of a plain selector.
fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut conflicting: Vec<String> = Vec::new();
    for m in selector_matchers(vs) {
        if m.name == METRIC_NAME {
            continue;
        }
        let already = labels.iter().any(|(n, _)| *n == m.name);
        if m.op == MatchOp::Equal && !already {
            if !m.value.is_empty() {
                labels.push((m.name.clone(), m.value.clone()));
            }
        } else {
            conflicting.push(m.name.clone());
        }
    }
    labels.retain(|(n, _)| !conflicting.contains(n));
    labels.sort();
    labels
}

/// Prometheus's `quantile` over plain values (NaN sorts first).
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Classic buckets of one histogram: `(upper_bound, cumulative_count)`.
type Buckets = Vec<(f64, f64)>;

fn histogram_quantile(q: f64, vector: Vec<Elem>) -> Vec<Elem> {
    // (output labels, buckets), indexed by the labels without `le`
    let mut groups: Vec<(Labels, Buckets)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in vector {
        let Ok(upper_bound) = label_value(&e.labels, "le").parse::<f64>() else {
            continue;
        };
        let key: Labels = e
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        match index.get(&key) {
            Some(&i) => groups[i].1.push((upper_bound, e.v)),
            None => {
                let labels = drop_metric_name(key.clone());
                index.insert(key, groups.len());
                groups.push((labels, vec![(upper_bound, e.v)]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Elem {
            labels,
            v: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Quantile of classic buckets `(upper_bound, cumulative_count)`.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Buckets) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some((upper, _)) if *upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same upper bound.
    let mut coalesced: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (upper, count) in buckets {
        match coalesced.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => coalesced.push((upper, count)),
        }
    }
    // Force monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for bucket in &mut coalesced {
        if bucket.1 > max {
            max = bucket.1;
        } else if bucket.1 < max {
            bucket.1 = max;
        }
    }
    if coalesced.len() < 2 {
        return f64::NAN;
    }
    let observations = coalesced[coalesced.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let last = coalesced.len() - 1;
    let b = coalesced[..last].partition_point(|bucket| bucket.1 < rank);
    if b == last {
        return coalesced[last - 1].0;
    }
    if b == 0 && coalesced[0].0 <= 0.0 {
        return coalesced[0].0;
    }
    let mut bucket_start = 0.0;
    let bucket_end = coalesced[b].0;
    let mut count = coalesced[b].1;
    if b > 0 {
        bucket_start = coalesced[b - 1].0;
        count -= coalesced[b - 1].1;
        rank -= coalesced[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Functions over a range vector argument.
fn range_function(ev: &Evaluator, call: &Call, args: &[&Expr], t: i64) -> Result<Vec<Elem>, Error> {
    let name = call.func.name;
    let matrix_index = usize::from(name == "quantile_over_time");
    let Some(matrix_arg) = args.get(matrix_index) else {
        return Err(Error::BadData(format!(
            "unknown function with name {name:?}"
        )));
    };
    let (series, window) = ev.range_arg(matrix_arg, t)?;
    if name == "absent_over_time" {
        if series.is_empty() {
            return Ok(vec![Elem {
                labels: absent_labels(matrix_arg),
                v: 1.0,
            }]);
        }
        return Ok(Vec::new());
    }
    let scalar_arg = |i: usize| -> Result<f64, Error> { ev.eval_scalar(args[i], t) };
    let q = if name == "quantile_over_time" {
        scalar_arg(0)?
    } else {
        0.0
    };
    let predict_duration = if name == "predict_linear" {
        scalar_arg(1)?
    } else {
        0.0
    };
    let (sf, tf) = if name == "holt_winters" {
        (scalar_arg(1)?, scalar_arg(2)?)
    } else {
        (0.0, 0.0)
    };
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let points = &s.samples;
        let value = match name {
            "rate" => extrapolated_rate(points, &window, true, true),
            "increase" => extrapolated_rate(points, &window, true, false),
            "delta" => extrapolated_rate(points, &window, false, false),
            "irate" => instant_value(points, true),
            "idelta" => instant_value(points, false),
            "deriv" => (points.len() >= 2).then(|| linear_regression(points, points[0].t).0),
            "predict_linear" => (points.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(points, t);
                slope * predict_duration + intercept
            }),
            "resets" => Some(count_pairs(points, |prev, cur| cur < prev)),
            "changes" => Some(count_pairs(points, |prev, cur| {
                cur != prev && !(cur.is_nan() && prev.is_nan())
            })),
            "avg_over_time" => Some(kahan_mean(points.iter().map(|p| p.v))),
            // Prometheus 2.42 sums without compensation (an Inf stays Inf).
            "sum_over_time" => Some(points.iter().map(|p| p.v).sum()),
            "count_over_time" => Some(points.len() as f64),
            "min_over_time" => Some(points.iter().skip(1).fold(points[0].v, |acc, p| {
                if p.v < acc || acc.is_nan() { p.v } else { acc }
            })),
            "max_over_time" => Some(points.iter().skip(1).fold(points[0].v, |acc, p| {
                if p.v > acc || acc.is_nan() { p.v } else { acc }
            })),
            "stddev_over_time" => Some(variance(points).sqrt()),
            "stdvar_over_time" => Some(variance(points)),
            "last_over_time" => points.last().map(|p| p.v),
            "present_over_time" => Some(1.0),
            "quantile_over_time" => Some(quantile(q, points.iter().map(|p| p.v).collect())),
            "holt_winters" => holt_winters(points, sf, tf)?,
            other => {
                return Err(Error::BadData(format!(
                    "unknown function with name {other:?}"
                )));
            }
        };
        let Some(v) = value else {
            continue;
        };
        // last_over_time acts like an offset and keeps the metric name.
        if name == "last_over_time" {
            out.push(Elem {
                labels: s.labels,
                v,
            });
            continue;
        }
        let labels = drop_metric_name(s.labels.clone());
        ev.record_range_output(call, &labels, s.labels)?;
        out.push(Elem { labels, v });
    }
    Ok(out)
}

/// Prometheus's `extrapolatedRate` for rate, increase and delta.
fn extrapolated_rate(
    points: &[Sample],
    window: &Window,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        let mut previous = 0.0;
        for p in points {
            if p.v < previous {
                result += previous;
            }
            previous = p.v;
        }
    }
    let mut duration_to_start = (first.t - window.start) as f64 / 1000.0;
    let duration_to_end = (window.end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // Counters cannot be negative: do not extrapolate before the zero point.
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_interval * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_interval / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_interval / 2.0
    };
    result *= extrapolate_to / sampled_interval;
    if is_rate {
        result /= window.range as f64 / 1000.0;
    }
    Some(result)
}

/// `irate` and `idelta`: the last two samples.
fn instant_value(points: &[Sample], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let last = points[points.len() - 1];
    let previous = points[points.len() - 2];
    let mut result = if is_rate && last.v < previous.v {
        last.v
    } else {
        last.v - previous.v
    };
    let interval = last.t - previous.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

fn count_pairs(points: &[Sample], counts: impl Fn(f64, f64) -> bool) -> f64 {
    points.windows(2).filter(|w| counts(w[0].v, w[1].v)).count() as f64
}

/// Kahan-Neumaier summation step: returns the new sum and compensation.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn variance(points: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares fit of the points, x in seconds relative to `intercept_time`.
fn linear_regression(points: &[Sample], intercept_time: i64) -> (f64, f64) {
    let n = points.len() as f64;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = points[0].v;
    let mut const_y = true;
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn holt_winters(points: &[Sample], sf: f64, tf: f64) -> Result<Option<f64>, Error> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(Error::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(Error::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if points.len() < 2 {
        return Ok(None);
    }
    let mut s0 = 0.0;
    let mut s1 = points[0].v;
    let mut b = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn bucket_quantile_interpolates() {
        let buckets = vec![(0.1, 10.0), (0.5, 30.0), (f64::INFINITY, 40.0)];
        // rank 20 lies in (0.1, 0.5]: 0.1 + 0.4 * (10 / 20)
        assert!((bucket_quantile(0.5, buckets.clone()) - 0.3).abs() < 1e-12);
        // rank above the last finite bucket: its upper bound
        assert_eq!(bucket_quantile(0.9, buckets), 0.5);
    }

    #[test]
    fn quantile_of_values() {
        assert_eq!(quantile(0.5, vec![1.0, 3.0, 2.0]), 2.0);
        assert_eq!(quantile(0.25, vec![0.0, 4.0]), 1.0);
        assert!(quantile(0.5, vec![]).is_nan());
    }
}
