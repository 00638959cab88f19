//! Aggregation operators (`sum`, `topk`, `count_values`, ...) with `by`/`without`.

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::engine::{Elem, Evaluator, Val};
use crate::functions::{kahan_sum_inc, quantile};
use crate::json::format_float;
use crate::types::{Error, Labels, METRIC_NAME};

/// Running state of one group.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
    elems: Vec<Elem>,
}

pub(crate) fn eval_aggregate(ev: &Evaluator, agg: &AggregateExpr, t: i64) -> Result<Val, Error> {
    let op = agg.op.to_string();
    let mut input = ev.eval_vector(&agg.expr, t)?;
    let (without, mut grouping) = match &agg.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };

    let mut k = 0usize;
    let mut q = 0.0;
    match op.as_str() {
        "topk" | "bottomk" => {
            let param = agg
                .param
                .as_ref()
                .ok_or_else(|| Error::BadData(format!("{op} needs a parameter")))?;
            let f = ev.eval_scalar(param, t)?;
            // Go's convertibleToInt64: NaN and out-of-range values are rejected.
            if !(-9.223_372_036_854_776e18..=9.223_372_036_854_776e18).contains(&f) {
                return Err(Error::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_float(f)
                )));
            }
            if f < 1.0 {
                return Ok(Val::Vector(Vec::new()));
            }
            k = f as usize;
        }
        "quantile" => {
            let param = agg
                .param
                .as_ref()
                .ok_or_else(|| Error::BadData("quantile needs a parameter".into()))?;
            q = ev.eval_scalar(param, t)?;
        }
        "count_values" => {
            let param = agg
                .param
                .as_ref()
                .ok_or_else(|| Error::BadData("count_values needs a parameter".into()))?;
            let label = ev.eval_string(param, t)?;
            if !is_valid_label_name(&label) {
                return Err(Error::Execution(format!("invalid label name {label:?}")));
            }
            for e in &mut input {
                e.labels.retain(|(n, _)| *n != label);
                e.labels.push((label.clone(), format_float(e.v)));
                e.labels.sort();
            }
            if !without {
                grouping.push(label);
            }
        }
        _ => {}
    }

    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in input {
        let key = group_labels(&e.labels, &grouping, without);
        let idx = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    labels: key,
                    value: 0.0,
                    mean: 0.0,
                    count: 0.0,
                    elems: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[idx];
        let first = group.count == 0.0;
        group.count += 1.0;
        let v = e.v;
        match op.as_str() {
            "sum" => {
                if first {
                    group.value = v;
                } else {
                    group.value += v;
                }
            }
            "avg" => {
                if first {
                    group.mean = v;
                } else {
                    group.mean = incremental_mean(group.mean, v, group.count);
                }
            }
            "min" if first || group.value > v || group.value.is_nan() => group.value = v,
            "max" if first || group.value < v || group.value.is_nan() => group.value = v,
            "stddev" | "stdvar" => {
                if first {
                    group.mean = v;
                    group.value = 0.0;
                } else {
                    let delta = v - group.mean;
                    group.mean += delta / group.count;
                    group.value += delta * (v - group.mean);
                }
            }
            "topk" | "bottomk" | "quantile" => group.elems.push(e),
            _ => {}
        }
    }

    let mut out = Vec::new();
    for group in groups {
        let value = match op.as_str() {
            "sum" | "min" | "max" => group.value,
            "avg" => group.mean,
            "count" | "count_values" => group.count,
            "group" => 1.0,
            "stdvar" => group.value / group.count,
            "stddev" => (group.value / group.count).sqrt(),
            "quantile" => {
                let values: Vec<f64> = group.elems.iter().map(|e| e.v).collect();
                quantile(q, values)
            }
            "topk" | "bottomk" => {
                let mut elems = group.elems;
                if op == "topk" {
                    elems.sort_by(|a, b| cmp_desc_nan_last(a.v, b.v));
                } else {
                    elems.sort_by(|a, b| cmp_asc_nan_last(a.v, b.v));
                }
                elems.truncate(k);
                out.extend(elems);
                continue;
            }
            other => return Err(Error::BadData(format!("unsupported aggregation {other:?}"))),
        };
        out.push(Elem {
            labels: group.labels,
            v: value,
        });
    }
    Ok(Val::Vector(out))
}

/// Prometheus 2.42's incremental mean, which keeps infinities intact.
pub(crate) fn incremental_mean(mean: f64, v: f64, count: f64) -> f64 {
    if mean.is_infinite() {
        if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
            return mean;
        }
        if !v.is_infinite() && !v.is_nan() {
            return mean;
        }
    }
    mean + (v / count - mean / count)
}

/// Incremental mean with Kahan compensation, as `avg_over_time` does.
pub(crate) fn kahan_mean(values: impl Iterator<Item = f64>) -> f64 {
    let mut mean: f64 = 0.0;
    let mut c = 0.0;
    let mut count = 0.0;
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

fn cmp_desc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Sorts elements ascending with NaN last (`sort`).
pub(crate) fn sort_elems(elems: &mut [Elem], descending: bool) {
    if descending {
        elems.sort_by(|a, b| cmp_desc_nan_last(a.v, b.v));
    } else {
        elems.sort_by(|a, b| cmp_asc_nan_last(a.v, b.v));
    }
}

/// The labels of the group an element belongs to.
fn group_labels(labels: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        labels
            .iter()
            .filter(|(n, _)| n != METRIC_NAME && !grouping.contains(n))
            .cloned()
            .collect()
    } else {
        labels
            .iter()
            .filter(|(n, _)| grouping.contains(n))
            .cloned()
            .collect()
    }
}

/// Prometheus's label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
