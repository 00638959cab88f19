//! Delta → cumulative for OTLP metrics, as the OpenTelemetry Prometheus
//! compatibility specification asks: a delta sum or histogram becomes a running
//! total per series, from the first delta the server saw, so PromQL's `rate()` and
//! `increase()` work on it like on any counter.
//!
//! The request is rewritten before it is logged, so the WAL and the stored points
//! hold cumulative values. Running totals live in memory: after a restart a series
//! starts again from zero with a new start time, which PromQL reads as a counter
//! reset. Exponential histograms are stored as sent (a changing scale would need
//! bucket re-mapping).
//!
//! A series is identified by its resource attributes, scope name, metric name and
//! point attributes. Series idle for an hour are forgotten. When the
//! rewritten request cannot be stored (the client will retry it), the caller
//! takes its deltas back out with [`DeltaToCumulative::undo`], so a retry is not
//! counted twice.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, metric::Data, number_data_point,
};
use prost::Message;

/// Series not updated for this long are dropped from the running totals.
const IDLE_EVICTION_NANOS: u64 = 3_600 * 1_000_000_000;
/// How long, in nanoseconds, between sweeps of idle series.
const SWEEP_EVERY_NANOS: u64 = 60 * 1_000_000_000;

const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

#[derive(Debug, Clone)]
enum Total {
    Sum(f64),
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        count: u64,
        sum: f64,
    },
}

#[derive(Debug)]
struct Running {
    start: u64,
    last_seen: u64,
    total: Total,
}

/// What one [`DeltaToCumulative::apply`] added, to take back with `undo`.
#[derive(Debug, Default)]
pub struct Applied {
    deltas: Vec<(u64, Delta)>,
}

#[derive(Debug)]
enum Delta {
    Sum(f64),
    Histogram {
        counts: Vec<u64>,
        count: u64,
        sum: f64,
    },
}

/// Running totals of delta series.
#[derive(Debug, Default)]
pub struct DeltaToCumulative {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    series: HashMap<u64, Running>,
    last_sweep: u64,
}

fn hash_attributes(hasher: &mut twox_hash::XxHash3_64, attributes: &[KeyValue]) {
    let mut encoded: Vec<Vec<u8>> = attributes.iter().map(Message::encode_to_vec).collect();
    encoded.sort();
    for one in encoded {
        hasher.write(&one);
        hasher.write_u8(0xff);
    }
}

impl DeltaToCumulative {
    /// Rewrites delta sums and histograms in `request` to cumulative; `Some` when
    /// anything changed (the request must then be re-encoded), with what was added.
    pub fn apply(&self, request: &mut ExportMetricsServiceRequest, now: u64) -> Option<Applied> {
        let has_delta = request.resource_metrics.iter().any(|rm| {
            rm.scope_metrics.iter().any(|sm| {
                sm.metrics.iter().any(|m| match &m.data {
                    Some(Data::Sum(sum)) => sum.aggregation_temporality == DELTA,
                    Some(Data::Histogram(h)) => h.aggregation_temporality == DELTA,
                    _ => false,
                })
            })
        });
        if !has_delta {
            return None;
        }
        let mut applied = Applied::default();
        let mut state = self.state.lock().expect("delta state lock");
        for resource_metrics in &mut request.resource_metrics {
            let resource = resource_metrics
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let mut base = twox_hash::XxHash3_64::default();
            hash_attributes(&mut base, resource);
            for scope_metrics in &mut resource_metrics.scope_metrics {
                let scope = scope_metrics
                    .scope
                    .as_ref()
                    .map(|s| s.name.as_str())
                    .unwrap_or("");
                for metric in &mut scope_metrics.metrics {
                    let key_of = |attributes: &[KeyValue]| {
                        let mut hasher = base.clone();
                        hasher.write(scope.as_bytes());
                        hasher.write_u8(0xfe);
                        hasher.write(metric.name.as_bytes());
                        hasher.write_u8(0xfe);
                        hash_attributes(&mut hasher, attributes);
                        hasher.finish()
                    };
                    match &mut metric.data {
                        Some(Data::Sum(sum)) if sum.aggregation_temporality == DELTA => {
                            let keys: Vec<u64> = sum
                                .data_points
                                .iter()
                                .map(|p| key_of(&p.attributes))
                                .collect();
                            for (point, key) in sum.data_points.iter_mut().zip(keys) {
                                let delta = match point.value {
                                    Some(number_data_point::Value::AsDouble(v)) => v,
                                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                                    None => continue,
                                };
                                let running =
                                    state.running(key, point.start_time_unix_nano, now, || {
                                        Total::Sum(0.0)
                                    });
                                if !matches!(running.total, Total::Sum(_)) {
                                    running.total = Total::Sum(0.0);
                                }
                                if let Total::Sum(total) = &mut running.total {
                                    *total += delta;
                                    applied.deltas.push((key, Delta::Sum(delta)));
                                    point.value = Some(number_data_point::Value::AsDouble(*total));
                                }
                                point.start_time_unix_nano = running.start;
                            }
                            sum.aggregation_temporality = CUMULATIVE;
                        }
                        Some(Data::Histogram(histogram))
                            if histogram.aggregation_temporality == DELTA =>
                        {
                            let keys: Vec<u64> = histogram
                                .data_points
                                .iter()
                                .map(|p| key_of(&p.attributes))
                                .collect();
                            for (point, key) in histogram.data_points.iter_mut().zip(keys) {
                                let empty = || Total::Histogram {
                                    bounds: point.explicit_bounds.clone(),
                                    counts: vec![0; point.bucket_counts.len()],
                                    count: 0,
                                    sum: 0.0,
                                };
                                let fresh = empty();
                                let running =
                                    state.running(key, point.start_time_unix_nano, now, || {
                                        fresh.clone()
                                    });
                                let compatible = matches!(
                                    &running.total,
                                    Total::Histogram { bounds, counts, .. }
                                        if *bounds == point.explicit_bounds && counts.len() == point.bucket_counts.len()
                                );
                                if !compatible {
                                    // New bucket layout: a reset.
                                    running.total = fresh;
                                    running.start = point.start_time_unix_nano;
                                }
                                if let Total::Histogram {
                                    counts, count, sum, ..
                                } = &mut running.total
                                {
                                    for (total, delta) in
                                        counts.iter_mut().zip(&point.bucket_counts)
                                    {
                                        *total += delta;
                                    }
                                    *count += point.count;
                                    *sum += point.sum.unwrap_or(0.0);
                                    applied.deltas.push((
                                        key,
                                        Delta::Histogram {
                                            counts: point.bucket_counts.clone(),
                                            count: point.count,
                                            sum: point.sum.unwrap_or(0.0),
                                        },
                                    ));
                                    point.bucket_counts.clone_from(counts);
                                    point.count = *count;
                                    if point.sum.is_some() {
                                        point.sum = Some(*sum);
                                    }
                                    // Min and max of a delta are not those of the total.
                                    point.min = None;
                                    point.max = None;
                                }
                                point.start_time_unix_nano = running.start;
                            }
                            histogram.aggregation_temporality = CUMULATIVE;
                        }
                        _ => {}
                    }
                }
            }
        }
        state.sweep(now);
        Some(applied)
    }

    /// Takes back what `applied` added (its request was not stored).
    pub fn undo(&self, applied: Applied) {
        let mut state = self.state.lock().expect("delta state lock");
        for (key, delta) in applied.deltas {
            let Some(running) = state.series.get_mut(&key) else {
                continue;
            };
            match (&mut running.total, delta) {
                (Total::Sum(total), Delta::Sum(value)) => *total -= value,
                (
                    Total::Histogram {
                        counts, count, sum, ..
                    },
                    Delta::Histogram {
                        counts: added,
                        count: added_count,
                        sum: added_sum,
                    },
                ) if counts.len() == added.len() => {
                    for (total, value) in counts.iter_mut().zip(added) {
                        *total = total.saturating_sub(value);
                    }
                    *count = count.saturating_sub(added_count);
                    *sum -= added_sum;
                }
                _ => {}
            }
        }
    }

    /// Series with running totals.
    #[cfg(test)]
    fn series(&self) -> usize {
        self.state.lock().expect("delta state lock").series.len()
    }
}

impl State {
    fn running(
        &mut self,
        key: u64,
        start: u64,
        now: u64,
        total: impl FnOnce() -> Total,
    ) -> &mut Running {
        let running = self.series.entry(key).or_insert_with(|| Running {
            start,
            last_seen: now,
            total: total(),
        });
        running.last_seen = now;
        running
    }

    fn sweep(&mut self, now: u64) {
        if now.saturating_sub(self.last_sweep) < SWEEP_EVERY_NANOS {
            return;
        }
        self.last_sweep = now;
        self.series
            .retain(|_, running| now.saturating_sub(running.last_seen) < IDLE_EVICTION_NANOS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }

    fn delta_sum(value: i64, start: u64, attribute: &str) -> Metric {
        Metric {
            name: "requests".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes: vec![KeyValue {
                        key: "route".into(),
                        value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                            value: Some(
                                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                    attribute.into(),
                                ),
                            ),
                        }),
                        ..KeyValue::default()
                    }],
                    start_time_unix_nano: start,
                    time_unix_nano: start + 10,
                    value: Some(number_data_point::Value::AsInt(value)),
                    ..NumberDataPoint::default()
                }],
                aggregation_temporality: DELTA,
                is_monotonic: true,
            })),
            ..Metric::default()
        }
    }

    fn sum_point(request: &ExportMetricsServiceRequest) -> (f64, u64, i32) {
        let Some(Data::Sum(sum)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("not a sum")
        };
        let point = &sum.data_points[0];
        let Some(number_data_point::Value::AsDouble(v)) = point.value else {
            panic!("not a double")
        };
        (v, point.start_time_unix_nano, sum.aggregation_temporality)
    }

    #[test]
    fn delta_sums_become_running_totals_per_series() {
        let converter = DeltaToCumulative::default();
        let mut first = request(vec![delta_sum(5, 100, "/a")]);
        assert!(converter.apply(&mut first, 1).is_some());
        assert_eq!(sum_point(&first), (5.0, 100, CUMULATIVE));
        let mut second = request(vec![delta_sum(3, 110, "/a")]);
        converter.apply(&mut second, 2);
        assert_eq!(sum_point(&second), (8.0, 100, CUMULATIVE), "start kept");
        let mut other = request(vec![delta_sum(4, 110, "/b")]);
        converter.apply(&mut other, 3);
        assert_eq!(sum_point(&other).0, 4.0, "another series");
        assert_eq!(converter.series(), 2);
    }

    #[test]
    fn cumulative_requests_are_untouched() {
        let converter = DeltaToCumulative::default();
        let mut metric = delta_sum(5, 100, "/a");
        if let Some(Data::Sum(sum)) = &mut metric.data {
            sum.aggregation_temporality = CUMULATIVE;
        }
        let mut cumulative = request(vec![metric]);
        let before = cumulative.clone();
        assert!(converter.apply(&mut cumulative, 1).is_none());
        assert_eq!(cumulative, before);
    }

    #[test]
    fn delta_histograms_accumulate_and_reset_on_new_buckets() {
        let converter = DeltaToCumulative::default();
        let histogram = |bounds: Vec<f64>, counts: Vec<u64>, sum: f64| {
            request(vec![Metric {
                name: "latency".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        start_time_unix_nano: 100,
                        time_unix_nano: 110,
                        count: counts.iter().sum(),
                        sum: Some(sum),
                        bucket_counts: counts,
                        explicit_bounds: bounds,
                        min: Some(0.1),
                        ..HistogramDataPoint::default()
                    }],
                    aggregation_temporality: DELTA,
                })),
                ..Metric::default()
            }])
        };
        let point = |request: &ExportMetricsServiceRequest| {
            let Some(Data::Histogram(h)) =
                &request.resource_metrics[0].scope_metrics[0].metrics[0].data
            else {
                panic!()
            };
            h.data_points[0].clone()
        };
        let mut first = histogram(vec![1.0], vec![2, 1], 3.5);
        converter.apply(&mut first, 1);
        let mut second = histogram(vec![1.0], vec![1, 4], 9.0);
        converter.apply(&mut second, 2);
        let p = point(&second);
        assert_eq!(
            (p.bucket_counts.clone(), p.count, p.sum),
            (vec![3, 5], 8, Some(12.5))
        );
        assert_eq!(p.min, None);
        let mut rebucketed = histogram(vec![1.0, 2.0], vec![1, 1, 1], 4.0);
        converter.apply(&mut rebucketed, 3);
        let p = point(&rebucketed);
        assert_eq!((p.bucket_counts, p.count), (vec![1, 1, 1], 3));
    }

    #[test]
    fn undo_takes_a_failed_request_back() {
        let converter = DeltaToCumulative::default();
        converter.apply(&mut request(vec![delta_sum(5, 100, "/a")]), 1);
        let mut failed = request(vec![delta_sum(3, 110, "/a")]);
        let applied = converter.apply(&mut failed, 2).unwrap();
        assert_eq!(sum_point(&failed).0, 8.0);
        converter.undo(applied);
        let mut retried = request(vec![delta_sum(3, 110, "/a")]);
        converter.apply(&mut retried, 3);
        assert_eq!(sum_point(&retried).0, 8.0, "the retry counts once");
    }

    #[test]
    fn idle_series_are_evicted() {
        let converter = DeltaToCumulative::default();
        converter.apply(&mut request(vec![delta_sum(1, 100, "/a")]), 1);
        let later = 1 + IDLE_EVICTION_NANOS + SWEEP_EVERY_NANOS;
        converter.apply(&mut request(vec![delta_sum(1, 100, "/b")]), later);
        assert_eq!(converter.series(), 1);
        let mut again = request(vec![delta_sum(2, 100, "/a")]);
        converter.apply(&mut again, later + 1);
        assert_eq!(sum_point(&again).0, 2.0, "restarted from zero");
    }
}
