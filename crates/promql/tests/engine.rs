//! Unit tests of the engine on small hand-made data with hand-computed results.

mod common;

use common::MemStorage;
use serde_json::json;
use vispyr_promql::{
    Engine, Error, InstantSample, MatchOp, Matcher, STALE_NAN_BITS, Series, Value, result_json,
};

const S: i64 = 1000;
const M: i64 = 60 * S;

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

fn instant(storage: &MemStorage, query: &str, t: i64) -> Result<Value, Error> {
    futures::executor::block_on(Engine::default().instant(storage, query, t))
}

fn range(
    storage: &MemStorage,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Value, Error> {
    futures::executor::block_on(Engine::default().range(storage, query, start, end, step))
}

/// The vector result as (labels rendered `k=v,...`, value), sorted by labels.
fn vector(storage: &MemStorage, query: &str, t: i64) -> Vec<(String, f64)> {
    match instant(storage, query, t) {
        Ok(Value::Vector(samples)) => {
            let mut out: Vec<(String, f64)> =
                samples.into_iter().map(|s| (render(&s), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{query}: expected a vector, got {other:?}"),
    }
}

/// The vector result in the engine's order.
fn ordered(storage: &MemStorage, query: &str, t: i64) -> Vec<(String, f64)> {
    match instant(storage, query, t) {
        Ok(Value::Vector(samples)) => samples.into_iter().map(|s| (render(&s), s.v)).collect(),
        other => panic!("{query}: expected a vector, got {other:?}"),
    }
}

fn scalar(storage: &MemStorage, query: &str, t: i64) -> f64 {
    match instant(storage, query, t) {
        Ok(Value::Scalar { v, .. }) => v,
        other => panic!("{query}: expected a scalar, got {other:?}"),
    }
}

fn render(s: &InstantSample) -> String {
    let parts: Vec<String> = s.labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
    parts.join(",")
}

fn one(storage: &MemStorage, query: &str, t: i64) -> f64 {
    let result = vector(storage, query, t);
    assert_eq!(result.len(), 1, "{query}: {result:?}");
    result[0].1
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

/// A counter every 10 s from 0 to 40 s: 0, 10, 20, 30, 40.
fn counter() -> MemStorage {
    let mut storage = MemStorage::default();
    let samples: Vec<(i64, f64)> = (0..5).map(|i| (i * 10 * S, (i * 10) as f64)).collect();
    storage.add(&[("__name__", "c_total"), ("job", "a")], &samples);
    storage
}

fn gauges() -> MemStorage {
    let mut storage = MemStorage::default();
    storage.add(
        &[("__name__", "g"), ("job", "a"), ("instance", "1")],
        &[(0, 1.0), (60 * S, 3.0)],
    );
    storage.add(
        &[("__name__", "g"), ("job", "a"), ("instance", "2")],
        &[(0, 2.0), (60 * S, 5.0)],
    );
    storage.add(
        &[("__name__", "g"), ("job", "b"), ("instance", "1")],
        &[(0, 10.0), (60 * S, 7.0)],
    );
    storage.add(
        &[("__name__", "info"), ("job", "a"), ("version", "v1")],
        &[(0, 1.0), (60 * S, 1.0)],
    );
    storage.add(
        &[("__name__", "info"), ("job", "b"), ("version", "v2")],
        &[(0, 1.0), (60 * S, 1.0)],
    );
    storage
}

#[test]
fn instant_selector_uses_closed_lookback_window() {
    let mut storage = MemStorage::default();
    storage.add(&[("__name__", "m")], &[(0, 1.0)]);
    assert_eq!(
        vector(&storage, "m", 5 * M),
        vec![("__name__=m".to_string(), 1.0)]
    );
    assert!(vector(&storage, "m", 5 * M + 1).is_empty());
    assert!(vector(&storage, "m", -1).is_empty());
}

#[test]
fn staleness_marker_ends_a_series() {
    let mut storage = MemStorage::default();
    storage.add(
        &[("__name__", "m")],
        &[(0, 1.0), (30 * S, stale()), (90 * S, 2.0)],
    );
    assert_eq!(one(&storage, "m", 20 * S), 1.0);
    assert!(vector(&storage, "m", 40 * S).is_empty());
    assert_eq!(one(&storage, "m", 90 * S), 2.0);
    // Range selectors skip the marker: two real samples in [0, 90 s].
    assert_eq!(one(&storage, "count_over_time(m[90s])", 90 * S), 2.0);
}

#[test]
fn range_selector_window_is_closed() {
    let storage = counter();
    match instant(&storage, "c_total[20s]", 30 * S) {
        Ok(Value::Matrix(series)) => {
            let ts: Vec<i64> = series[0].samples.iter().map(|p| p.t).collect();
            assert_eq!(ts, vec![10 * S, 20 * S, 30 * S]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn rate_and_increase_without_extrapolation() {
    let storage = counter();
    assert_close(one(&storage, "rate(c_total[40s])", 40 * S), 1.0);
    assert_close(one(&storage, "increase(c_total[40s])", 40 * S), 40.0);
    // Metric name is dropped.
    assert_eq!(vector(&storage, "rate(c_total[40s])", 40 * S)[0].0, "job=a");
}

#[test]
fn rate_extrapolates_and_clamps_at_zero() {
    let storage = counter();
    // Window [-5 s, 45 s]; the start is clamped at the zero point (first value 0),
    // the end is extrapolated by 5 s: 40 * 45 / 40 = 45 over 50 s.
    assert_close(one(&storage, "rate(c_total[50s])", 45 * S), 0.9);
    // Too far from the window end (25 s > 1.1 * 10 s): extrapolate half an interval.
    // Window [15 s, 65 s]: samples 20, 30, 40 → 20 over 20 s, start 5 s away, end +5 s: 20 * 30 / 20.
    assert_close(one(&storage, "increase(c_total[50s])", 65 * S), 30.0);
}

#[test]
fn counter_resets_are_compensated() {
    let mut storage = MemStorage::default();
    let values = [0.0, 10.0, 20.0, 5.0, 15.0];
    let samples: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 * 10 * S, *v))
        .collect();
    storage.add(&[("__name__", "c_total")], &samples);
    assert_close(one(&storage, "increase(c_total[40s])", 40 * S), 35.0);
    assert_eq!(one(&storage, "resets(c_total[40s])", 40 * S), 1.0);
    assert_eq!(one(&storage, "changes(c_total[40s])", 40 * S), 4.0);
    // irate after a reset uses the last value: 15 / 10 s.
    assert_close(one(&storage, "irate(c_total[40s])", 40 * S), 1.0);
    assert_close(one(&storage, "idelta(c_total[40s])", 40 * S), 10.0);
    // delta does not treat resets specially: 15 - 0.
    assert_close(one(&storage, "delta(c_total[40s])", 40 * S), 15.0);
}

#[test]
fn rate_needs_two_samples() {
    let storage = counter();
    assert!(vector(&storage, "rate(c_total[5s])", 40 * S).is_empty());
}

#[test]
fn over_time_functions() {
    let storage = counter();
    let t = 40 * S;
    assert_eq!(one(&storage, "sum_over_time(c_total[40s])", t), 100.0);
    assert_eq!(one(&storage, "avg_over_time(c_total[40s])", t), 20.0);
    assert_eq!(one(&storage, "min_over_time(c_total[40s])", t), 0.0);
    assert_eq!(one(&storage, "max_over_time(c_total[40s])", t), 40.0);
    assert_eq!(one(&storage, "count_over_time(c_total[40s])", t), 5.0);
    assert_close(one(&storage, "stdvar_over_time(c_total[40s])", t), 200.0);
    assert_close(
        one(&storage, "stddev_over_time(c_total[40s])", t),
        200f64.sqrt(),
    );
    assert_eq!(
        one(&storage, "quantile_over_time(0.25, c_total[40s])", t),
        10.0
    );
    assert_eq!(one(&storage, "present_over_time(c_total[40s])", t), 1.0);
    assert_close(one(&storage, "deriv(c_total[40s])", t), 1.0);
    // Slope 1/s, value 40 at t: in 60 s it is 100.
    assert_close(one(&storage, "predict_linear(c_total[40s], 60)", t), 100.0);
    // last_over_time keeps the metric name.
    assert_eq!(
        vector(&storage, "last_over_time(c_total[40s])", t),
        vec![("__name__=c_total,job=a".to_string(), 40.0)]
    );
    assert_eq!(
        vector(&storage, "max_over_time(c_total[40s])", t)[0].0,
        "job=a"
    );
}

#[test]
fn holt_winters_smooths_a_line() {
    let storage = counter();
    // A straight line is predicted exactly.
    assert_close(
        one(&storage, "holt_winters(c_total[40s], 0.5, 0.5)", 40 * S),
        40.0,
    );
    let err = instant(&storage, "holt_winters(c_total[40s], 1, 0.5)", 40 * S).unwrap_err();
    assert_eq!(err.error_type(), "execution");
}

#[test]
fn absent_functions() {
    let storage = counter();
    assert_eq!(
        vector(&storage, r#"absent(nope{job="x",env=~"p.*"})"#, 0),
        vec![("job=x".to_string(), 1.0)]
    );
    assert!(vector(&storage, "absent(c_total)", 0).is_empty());
    assert_eq!(
        vector(&storage, r#"absent_over_time(nope{a="b"}[1m])"#, 0),
        vec![("a=b".to_string(), 1.0)]
    );
    assert!(vector(&storage, "absent_over_time(c_total[1m])", 40 * S).is_empty());
}

#[test]
fn offset_and_at_modifiers() {
    let storage = counter();
    assert_eq!(one(&storage, "c_total offset 20s", 40 * S), 20.0);
    assert_eq!(one(&storage, "c_total @ 10", 40 * S), 10.0);
    assert_eq!(one(&storage, "c_total @ 30 offset 10s", 0), 20.0);
    // In a range query, @ start() pins every step at the start.
    match range(&storage, "c_total @ start()", 10 * S, 30 * S, 10 * S) {
        Ok(Value::Matrix(series)) => {
            let values: Vec<f64> = series[0].samples.iter().map(|p| p.v).collect();
            assert_eq!(values, vec![10.0, 10.0, 10.0]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn subquery_steps_are_aligned_to_absolute_multiples() {
    let storage = counter();
    // Window [15 s, 45 s] with a 10 s step: inner evaluations at 20, 30 and 40 s.
    match instant(&storage, "c_total[30s:10s]", 45 * S) {
        Ok(Value::Matrix(series)) => {
            let points: Vec<(i64, f64)> = series[0].samples.iter().map(|p| (p.t, p.v)).collect();
            assert_eq!(points, vec![(20 * S, 20.0), (30 * S, 30.0), (40 * S, 40.0)]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
    assert_eq!(
        one(&storage, "max_over_time(c_total[30s:10s])", 45 * S),
        40.0
    );
}

#[test]
fn timestamp_returns_the_sample_time() {
    let storage = counter();
    assert_eq!(one(&storage, "timestamp(c_total)", 45 * S), 40.0);
    assert_eq!(one(&storage, "timestamp(c_total + 1)", 45 * S), 45.0);
    assert_eq!(scalar(&storage, "time()", 45 * S), 45.0);
}

#[test]
fn aggregations() {
    let storage = gauges();
    let t = 60 * S;
    assert_eq!(one(&storage, "sum(g)", t), 15.0);
    assert_eq!(
        vector(&storage, "sum by (job) (g)", t),
        vec![("job=a".to_string(), 8.0), ("job=b".to_string(), 7.0)]
    );
    assert_eq!(
        vector(&storage, "max without (job) (g)", t),
        vec![
            ("instance=1".to_string(), 7.0),
            ("instance=2".to_string(), 5.0)
        ]
    );
    assert_eq!(one(&storage, "avg(g)", t), 5.0);
    assert_eq!(one(&storage, "min(g)", t), 3.0);
    assert_eq!(one(&storage, "count(g)", t), 3.0);
    assert_eq!(one(&storage, "group(g)", t), 1.0);
    // Values 3, 5, 7: mean 5, variance 8/3.
    assert_close(one(&storage, "stdvar(g)", t), 8.0 / 3.0);
    assert_close(one(&storage, "stddev(g)", t), (8.0f64 / 3.0).sqrt());
    assert_eq!(one(&storage, "quantile(0.5, g)", t), 5.0);
    assert_eq!(one(&storage, "quantile(0.75, g)", t), 6.0);
    assert_eq!(
        ordered(&storage, "topk(2, g)", t),
        vec![
            ("__name__=g,instance=1,job=b".to_string(), 7.0),
            ("__name__=g,instance=2,job=a".to_string(), 5.0)
        ]
    );
    assert_eq!(
        ordered(&storage, "bottomk(1, g)", t),
        vec![("__name__=g,instance=1,job=a".to_string(), 3.0)]
    );
    assert_eq!(
        vector(&storage, r#"count_values("val", g)"#, t),
        vec![
            ("val=3".to_string(), 1.0),
            ("val=5".to_string(), 1.0),
            ("val=7".to_string(), 1.0)
        ]
    );
    let err = instant(&storage, r#"count_values("1x", g)"#, t).unwrap_err();
    assert_eq!(err, Error::Execution("invalid label name \"1x\"".into()));
}

#[test]
fn sort_orders_values_with_nan_last() {
    let mut storage = gauges();
    storage.add(
        &[("__name__", "g"), ("job", "c"), ("instance", "9")],
        &[(60 * S, f64::NAN)],
    );
    let asc: Vec<f64> = ordered(&storage, "sort(g)", 60 * S)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(&asc[..3], &[3.0, 5.0, 7.0]);
    assert!(asc[3].is_nan());
    let desc: Vec<f64> = ordered(&storage, "sort_desc(g)", 60 * S)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(&desc[..3], &[7.0, 5.0, 3.0]);
    assert!(desc[3].is_nan());
}

#[test]
fn math_functions() {
    let storage = gauges();
    let t = 60 * S;
    assert_eq!(one(&storage, r#"sqrt(g{job="b"})"#, t), 7f64.sqrt());
    assert_eq!(one(&storage, r#"round(g{job="b"} / 2)"#, t), 4.0);
    assert_eq!(one(&storage, r#"round(g{job="b"}, 5)"#, t), 5.0);
    assert_eq!(one(&storage, r#"clamp(g{job="b"}, 1, 4)"#, t), 4.0);
    assert!(vector(&storage, r#"clamp(g{job="b"}, 4, 1)"#, t).is_empty());
    assert_eq!(one(&storage, r#"clamp_min(g{job="b"}, 9)"#, t), 9.0);
    assert_eq!(one(&storage, r#"clamp_max(g{job="b"}, 2)"#, t), 2.0);
    assert_eq!(one(&storage, r#"sgn(-g{job="b"})"#, t), -1.0);
    assert_eq!(one(&storage, r#"abs(-g{job="b"})"#, t), 7.0);
    assert_eq!(one(&storage, r#"ceil(g{job="b"} / 2)"#, t), 4.0);
    assert_eq!(one(&storage, r#"floor(g{job="b"} / 2)"#, t), 3.0);
    assert_eq!(one(&storage, r#"log2(g{job="b"} + 1)"#, t), 3.0);
    assert_eq!(scalar(&storage, "scalar(sum(g))", t), 15.0);
    assert!(scalar(&storage, "scalar(g)", t).is_nan());
    assert_eq!(vector(&storage, "vector(2)", t), vec![(String::new(), 2.0)]);
}

#[test]
fn date_functions() {
    let storage = MemStorage::default();
    // 2024-02-29 13:45:00 UTC, a Thursday.
    let t = 1_709_214_300 * S;
    assert_eq!(one(&storage, "year()", t), 2024.0);
    assert_eq!(one(&storage, "month()", t), 2.0);
    assert_eq!(one(&storage, "day_of_month()", t), 29.0);
    assert_eq!(one(&storage, "day_of_week()", t), 4.0);
    assert_eq!(one(&storage, "day_of_year()", t), 60.0);
    assert_eq!(one(&storage, "days_in_month()", t), 29.0);
    assert_eq!(one(&storage, "hour()", t), 13.0);
    assert_eq!(one(&storage, "minute()", t), 45.0);
}

#[test]
fn label_functions() {
    let storage = gauges();
    let t = 60 * S;
    assert_eq!(
        vector(
            &storage,
            r#"label_replace(g{job="b"}, "dst", "x-$1", "job", "(.*)")"#,
            t
        ),
        vec![("__name__=g,dst=x-b,instance=1,job=b".to_string(), 7.0)]
    );
    // No match: unchanged.
    assert_eq!(
        vector(
            &storage,
            r#"label_replace(g{job="b"}, "dst", "x", "job", "z")"#,
            t
        ),
        vec![("__name__=g,instance=1,job=b".to_string(), 7.0)]
    );
    assert_eq!(
        vector(
            &storage,
            r#"label_join(g{job="b"}, "dst", "-", "job", "instance")"#,
            t
        ),
        vec![("__name__=g,dst=b-1,instance=1,job=b".to_string(), 7.0)]
    );
    let err = instant(
        &storage,
        r#"label_replace(g, "instance", "x", "job", ".*")"#,
        t,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Execution("vector cannot contain metrics with the same labelset".into())
    );
}

#[test]
fn binary_operators() {
    let storage = gauges();
    let t = 60 * S;
    assert_eq!(scalar(&storage, "2 ^ 3 ^ 2", t), 512.0);
    assert_eq!(scalar(&storage, "-2 ^ 2", t), -4.0);
    assert_eq!(scalar(&storage, "7 % 4 + 1 * 2", t), 5.0);
    assert_eq!(scalar(&storage, "1 < bool 2", t), 1.0);
    // Arithmetic drops the name, comparison keeps it.
    assert_eq!(
        vector(&storage, r#"g{job="b"} * 2"#, t),
        vec![("instance=1,job=b".to_string(), 14.0)]
    );
    assert_eq!(vector(&storage, "g > 4", t).len(), 2);
    assert_eq!(
        vector(&storage, r#"g{job="b"} > 4"#, t)[0].0,
        "__name__=g,instance=1,job=b"
    );
    // Scalar on the left of a comparison: the vector's value is kept.
    assert_eq!(
        vector(&storage, "4 < g", t)
            .iter()
            .map(|e| e.1)
            .sum::<f64>(),
        12.0
    );
    assert_eq!(
        vector(&storage, r#"g{job="b"} > bool 9"#, t),
        vec![("instance=1,job=b".to_string(), 0.0)]
    );
    // One-to-one matching on the full label set, without the name.
    assert_eq!(vector(&storage, "g - g", t).len(), 3);
    // Many-to-one with the included label from the "one" side.
    assert_eq!(
        vector(&storage, "g * on(job) group_left(version) info", t),
        vec![
            ("instance=1,job=a,version=v1".to_string(), 3.0),
            ("instance=1,job=b,version=v2".to_string(), 7.0),
            ("instance=2,job=a,version=v1".to_string(), 5.0),
        ]
    );
    // on() keeps only the matching labels for one-to-one.
    assert_eq!(
        vector(&storage, r#"g{job="b"} + on(job) info"#, t),
        vec![("job=b".to_string(), 8.0)]
    );
    let err = instant(&storage, "info * on(job) g", t).unwrap_err();
    assert_eq!(err.error_type(), "execution");
    assert!(
        err.to_string().starts_with(
            "found duplicate series for the match group {job=\"a\"} on the right hand-side"
        ),
        "{err}"
    );
    let err = instant(&storage, "g + ignoring(instance) g", t).unwrap_err();
    assert!(
        err.to_string()
            .contains("many-to-many matching not allowed"),
        "{err}"
    );
}

#[test]
fn set_operators() {
    let storage = gauges();
    let t = 60 * S;
    assert_eq!(
        vector(&storage, r#"g and on(job) info{version="v2"}"#, t).len(),
        1
    );
    assert_eq!(
        vector(&storage, r#"g unless on(job) info{version="v2"}"#, t).len(),
        2
    );
    assert_eq!(vector(&storage, r#"g{job="a"} or g"#, t).len(), 3);
    assert_eq!(vector(&storage, "g or info", t).len(), 5);
}

#[test]
fn histogram_quantile_interpolates_and_fixes_monotonicity() {
    let mut storage = MemStorage::default();
    for (le, count) in [("0.1", 10.0), ("0.5", 30.0), ("1", 25.0), ("+Inf", 40.0)] {
        storage.add(&[("__name__", "h_bucket"), ("le", le)], &[(0, count)]);
    }
    // "1" is forced up to 30; rank 20 lies in (0.1, 0.5]: 0.1 + 0.4 * 10 / 20.
    assert_close(one(&storage, "histogram_quantile(0.5, h_bucket)", 0), 0.3);
    // rank 36 is beyond the last finite bucket: its upper bound.
    assert_close(one(&storage, "histogram_quantile(0.9, h_bucket)", 0), 1.0);
    assert_eq!(
        vector(&storage, "histogram_quantile(0.5, h_bucket)", 0)[0].0,
        ""
    );
    assert_eq!(
        one(&storage, "histogram_quantile(2, h_bucket)", 0),
        f64::INFINITY
    );
}

#[test]
fn range_query_returns_a_sorted_matrix() {
    let storage = gauges();
    match range(&storage, "sum by (job) (g)", 0, 60 * S, 30 * S) {
        Ok(Value::Matrix(series)) => {
            assert_eq!(series.len(), 2);
            assert_eq!(series[0].labels, vec![("job".to_string(), "a".to_string())]);
            let points: Vec<(i64, f64)> = series[0].samples.iter().map(|p| (p.t, p.v)).collect();
            assert_eq!(points, vec![(0, 3.0), (30 * S, 3.0), (60 * S, 8.0)]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
    match range(&storage, "1 + 1", 0, 20 * S, 10 * S) {
        Ok(Value::Matrix(series)) => assert_eq!(
            series,
            vec![Series {
                labels: vec![],
                samples: vec![
                    vispyr_promql::Sample { t: 0, v: 2.0 },
                    vispyr_promql::Sample { t: 10 * S, v: 2.0 },
                    vispyr_promql::Sample { t: 20 * S, v: 2.0 },
                ],
            }]
        ),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn errors_carry_prometheus_error_types() {
    let storage = gauges();
    assert_eq!(
        instant(&storage, "sum(", 0).unwrap_err().error_type(),
        "bad_data"
    );
    assert_eq!(
        instant(&storage, "xyz(g)", 0).unwrap_err().error_type(),
        "bad_data"
    );
    assert_eq!(
        range(&storage, "g[5m]", 0, 10, 1).unwrap_err().error_type(),
        "bad_data"
    );
    assert_eq!(
        range(&storage, "g", 10, 0, 1).unwrap_err().error_type(),
        "bad_data"
    );
    assert_eq!(
        range(&storage, "g", 0, 10, 0).unwrap_err().error_type(),
        "bad_data"
    );
    let mut clash = gauges();
    clash.add(
        &[("__name__", "g2"), ("job", "b"), ("instance", "1")],
        &[(60 * S, 1.0)],
    );
    let err = instant(&clash, r#"-{__name__=~"g|g2",job="b"}"#, 60 * S).unwrap_err();
    assert_eq!(
        err,
        Error::Execution("vector cannot contain metrics with the same labelset".into())
    );
    let limited = Engine::default().with_max_samples(3);
    let err = futures::executor::block_on(limited.instant(&storage, "g[5m]", 60 * S)).unwrap_err();
    assert_eq!(err, Error::TooManySamples);
}

#[test]
fn json_matches_the_prometheus_api() {
    let storage = gauges();
    let value = instant(&storage, r#"g{job="b"} / 2"#, 60_500).unwrap();
    assert_eq!(
        result_json(&value),
        json!({"resultType": "vector", "result": [{"metric": {"instance": "1", "job": "b"}, "value": [60.5, "3.5"]}]})
    );
    assert_eq!(
        result_json(&Value::Scalar {
            t: 1000,
            v: f64::NEG_INFINITY
        }),
        json!({"resultType": "scalar", "result": [1, "-Inf"]})
    );
    assert_eq!(
        result_json(&Value::String {
            t: 2000,
            v: "x".into()
        }),
        json!({"resultType": "string", "result": [2, "x"]})
    );
    let matrix = range(&storage, r#"g{job="b"}"#, 0, 60 * S, 60 * S).unwrap();
    assert_eq!(
        result_json(&matrix),
        json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "g", "instance": "1", "job": "b"}, "values": [[0, "10"], [60, "7"]]}
        ]})
    );
}

#[test]
fn matchers_follow_prometheus_rules() {
    let re = Matcher::new("job", MatchOp::Regex, "a|b").unwrap();
    assert!(re.matches("a"));
    assert!(!re.matches("ab"));
    let not_re = Matcher::new("job", MatchOp::NotRegex, "a.*").unwrap();
    assert!(not_re.matches(""));
    assert!(
        Matcher::new("job", MatchOp::NotEqual, "x")
            .unwrap()
            .matches("")
    );
    assert!(Matcher::new("job", MatchOp::Regex, "(").is_err());
}

#[test]
fn query_selectors_lists_every_selector() {
    let selectors = vispyr_promql::query_selectors(r#"sum(rate(a{x="1"}[5m])) / b"#).unwrap();
    assert_eq!(selectors.len(), 2);
    assert_eq!(selectors[0][0].name, "__name__");
    assert_eq!(selectors[0][0].value, "a");
    assert_eq!(selectors[0][1].name, "x");
}

#[test]
fn query_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let storage = counter();
    let engine = Engine::default();
    let instant_query = engine.instant(&storage, "c_total", 0);
    assert_send(&instant_query);
    let range_query = engine.range(&storage, "c_total", 0, 10, 1);
    assert_send(&range_query);
}

#[test]
fn nested_subqueries_reuse_inner_steps() {
    let storage = counter();
    // Inner rate over 20 s windows at 10 s steps is 1/s wherever defined.
    assert_close(
        one(
            &storage,
            "max_over_time(rate(c_total[20s])[30s:10s])",
            40 * S,
        ),
        1.0,
    );
    match range(
        &storage,
        "sum_over_time(c_total[20s:10s])",
        20 * S,
        40 * S,
        10 * S,
    ) {
        Ok(Value::Matrix(series)) => {
            let values: Vec<f64> = series[0].samples.iter().map(|p| p.v).collect();
            // Windows [0,20], [10,30], [20,40]: 0+10+20, 10+20+30, 20+30+40.
            assert_eq!(values, vec![30.0, 60.0, 90.0]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
}
