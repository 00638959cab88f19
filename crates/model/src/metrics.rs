//! OTLP metrics → rows of the `metric_points` table, named and labelled as Prometheus
//! would name them (see [`crate::prometheus`]).
//!
//! One OTLP data point can become several rows:
//!
//! | OTLP                   | rows (`metric_type`)                                              |
//! |------------------------|-------------------------------------------------------------------|
//! | gauge                  | `name` (`gauge`)                                                  |
//! | monotonic sum          | `name_total` (`counter`)                                          |
//! | non-monotonic sum      | `name` (`gauge`)                                                  |
//! | histogram              | `name_bucket{le}` per bound and `+Inf`, `name_sum`, `name_count` (`histogram`) |
//! | exponential histogram  | converted to cumulative `name_bucket{le}` rows at the exact bucket boundaries (`base^(index+1)`, the zero bucket at its threshold), plus `name_sum`, `name_count` (`histogram`) |
//! | summary                | `name{quantile}` per quantile, `name_sum`, `name_count` (`summary`) |
//!
//! Resource attributes become labels of a `target_info` row per resource (value 1);
//! data points carry `job` (`service.namespace/service.name`) and `instance`
//! (`service.instance.id`). A point flagged "no recorded value" is stored as the
//! Prometheus staleness marker NaN. Delta temporality arrives here already turned
//! into running totals by the pipeline (`vispyr-pipeline`'s `delta` module).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, MapBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::attributes::write_any_value;
use crate::prometheus::{NameKind, format_float, label_name, metric_name};
use crate::schema::{self, TIMEZONE};
use crate::{Converted, Rejections, service_name_of};

/// The bit pattern Prometheus uses to mark a series stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// OTLP `DataPointFlags.NO_RECORDED_VALUE`.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// Builds `metric_points` rows.
struct PointRows {
    timestamp: TimestampNanosecondBuilder,
    metric_name: StringBuilder,
    labels: MapBuilder<StringBuilder, StringBuilder>,
    value: Float64Builder,
    metric_type: StringBuilder,
    unit: StringBuilder,
    service_name: StringBuilder,
    start_timestamp: TimestampNanosecondBuilder,
    description: StringBuilder,
}

/// What every row of one OTLP metric shares.
struct MetricContext<'a> {
    service: &'a str,
    metric_type: &'static str,
    unit: &'a str,
    description: &'a str,
}

impl PointRows {
    fn new() -> PointRows {
        PointRows {
            timestamp: TimestampNanosecondBuilder::new().with_timezone(TIMEZONE),
            metric_name: StringBuilder::new(),
            labels: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            value: Float64Builder::new(),
            metric_type: StringBuilder::new(),
            unit: StringBuilder::new(),
            service_name: StringBuilder::new(),
            start_timestamp: TimestampNanosecondBuilder::new().with_timezone(TIMEZONE),
            description: StringBuilder::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        context: &MetricContext<'_>,
        name: &str,
        labels: &[(String, String)],
        extra_label: Option<(&str, &str)>,
        time: i64,
        start: Option<i64>,
        value: f64,
    ) {
        self.timestamp.append_value(time);
        self.metric_name.append_value(name);
        for (key, label_value) in labels {
            self.labels.keys().append_value(key);
            self.labels.values().append_value(label_value);
        }
        if let Some((key, label_value)) = extra_label {
            self.labels.keys().append_value(key);
            self.labels.values().append_value(label_value);
        }
        // Keys and values were appended in pairs, so this cannot fail.
        let _ = self.labels.append(true);
        self.value.append_value(value);
        self.metric_type.append_value(context.metric_type);
        optional(&mut self.unit, context.unit);
        self.service_name.append_value(context.service);
        self.start_timestamp.append_option(start);
        optional(&mut self.description, context.description);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.start_timestamp.finish()),
            Arc::new(self.description.finish()),
        ];
        RecordBatch::try_new(schema::metric_points_schema(), columns)
            .expect("metric columns match the metric_points schema")
    }
}

fn optional(builder: &mut StringBuilder, text: &str) {
    if text.is_empty() {
        builder.append_null();
    } else {
        builder.append_value(text);
    }
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(text)) if !text.is_empty() => Some(text.as_str()),
            _ => None,
        }
    })
}

const IDENTIFYING_RESOURCE_KEYS: [&str; 3] =
    ["service.name", "service.namespace", "service.instance.id"];

/// `job` and `instance` labels of a resource.
fn resource_labels(resource: Option<&Resource>) -> Vec<(String, String)> {
    let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
    let mut labels = Vec::new();
    if let Some(name) = string_attribute(attributes, "service.name") {
        let job = match string_attribute(attributes, "service.namespace") {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_string(),
        };
        labels.push(("job".to_string(), job));
    }
    if let Some(instance) = string_attribute(attributes, "service.instance.id") {
        labels.push(("instance".to_string(), instance.to_string()));
    }
    labels
}

/// Sanitized, sorted labels of a data point; keys that collide after sanitizing are
/// joined with `;` in the order they were sent, as the compatibility spec says.
fn point_labels(attributes: &[KeyValue], base: &[(String, String)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::with_capacity(attributes.len() + base.len());
    let mut text = String::new();
    for attribute in attributes {
        text.clear();
        write_any_value(attribute.value.as_ref(), &mut text);
        let name = label_name(&attribute.key);
        match labels.iter_mut().find(|(key, _)| *key == name) {
            Some((_, existing)) => {
                existing.push(';');
                existing.push_str(&text);
            }
            None => labels.push((name, text.clone())),
        }
    }
    for (key, value) in base {
        if !labels.iter().any(|(existing, _)| existing == key) {
            labels.push((key.clone(), value.clone()));
        }
    }
    labels.sort();
    labels
}

fn timestamp_or(nanos: u64, fallback: i64) -> i64 {
    if nanos == 0 {
        return fallback;
    }
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

fn start_of(nanos: u64) -> Option<i64> {
    if nanos == 0 {
        return None;
    }
    i64::try_from(nanos).ok()
}

/// Time, start time and labels of one data point.
struct PointKey {
    time: i64,
    start: Option<i64>,
    labels: Vec<(String, String)>,
}

/// The fields every kind of OTLP data point has.
trait DataPoint {
    fn times(&self) -> (u64, u64);
    fn attributes(&self) -> &[KeyValue];
}

macro_rules! data_point {
    ($($kind:ty),*) => {$(
        impl DataPoint for $kind {
            fn times(&self) -> (u64, u64) {
                (self.time_unix_nano, self.start_time_unix_nano)
            }
            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
        }
    )*};
}

data_point!(
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint
);

/// Resolves a data point's times (the receive time standing in for a missing one)
/// and labels, and advances the resource's latest time.
fn point_key(
    point: &impl DataPoint,
    base_labels: &[(String, String)],
    received_at: i64,
    latest_time: &mut Option<i64>,
) -> PointKey {
    let (time_unix_nano, start_time_unix_nano) = point.times();
    let time = timestamp_or(time_unix_nano, received_at);
    *latest_time = (*latest_time).max(Some(time));
    PointKey {
        time,
        start: start_of(start_time_unix_nano),
        labels: point_labels(point.attributes(), base_labels),
    }
}

fn stale_or(flags: u32, value: f64) -> f64 {
    if flags & FLAG_NO_RECORDED_VALUE != 0 {
        return f64::from_bits(STALE_NAN_BITS);
    }
    value
}

fn number_value(point: &NumberDataPoint) -> Option<f64> {
    match point.value? {
        number_data_point::Value::AsDouble(value) => Some(value),
        number_data_point::Value::AsInt(value) => Some(value as f64),
    }
}

/// Converts a metrics export request into `metric_points` rows; invalid data points
/// are rejected. `received_at` stands in for a missing point time.
pub fn convert_metrics(request: &ExportMetricsServiceRequest, received_at: i64) -> Converted {
    let mut rows = PointRows::new();
    let mut rejections = Rejections::default();
    let mut accepted = 0u64;

    for resource_metrics in &request.resource_metrics {
        let resource = resource_metrics.resource.as_ref();
        let service = service_name_of(resource);
        let base_labels = resource_labels(resource);
        let mut latest_time: Option<i64> = None;

        for scope_metrics in &resource_metrics.scope_metrics {
            for metric in &scope_metrics.metrics {
                let Some(data) = &metric.data else {
                    rejections.reject(|| format!("metric {:?} has no data", metric.name));
                    continue;
                };
                let emit_context = |metric_type: &'static str| MetricContext {
                    service: &service,
                    metric_type,
                    unit: &metric.unit,
                    description: &metric.description,
                };
                match data {
                    Data::Gauge(gauge) => {
                        let context = emit_context("gauge");
                        let name = metric_name(&metric.name, &metric.unit, NameKind::Gauge);
                        accepted += push_number_points(
                            &mut rows,
                            &mut rejections,
                            &NumberSeries {
                                context: &context,
                                name: &name,
                                what: "gauge",
                                metric_name: &metric.name,
                            },
                            &gauge.data_points,
                            &base_labels,
                            received_at,
                            &mut latest_time,
                        );
                    }
                    Data::Sum(sum) => {
                        let (kind, metric_type) = if sum.is_monotonic {
                            (NameKind::Counter, "counter")
                        } else {
                            (NameKind::Other, "gauge")
                        };
                        let context = emit_context(metric_type);
                        let name = metric_name(&metric.name, &metric.unit, kind);
                        accepted += push_number_points(
                            &mut rows,
                            &mut rejections,
                            &NumberSeries {
                                context: &context,
                                name: &name,
                                what: "sum",
                                metric_name: &metric.name,
                            },
                            &sum.data_points,
                            &base_labels,
                            received_at,
                            &mut latest_time,
                        );
                    }
                    Data::Histogram(histogram) => {
                        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
                        let context = emit_context("histogram");
                        for point in &histogram.data_points {
                            if let Err(message) = validate_histogram(point) {
                                rejections
                                    .reject(|| format!("histogram {:?}: {message}", metric.name));
                                continue;
                            }
                            let PointKey {
                                time,
                                start,
                                labels,
                            } = point_key(point, &base_labels, received_at, &mut latest_time);
                            let mut buckets = Vec::with_capacity(point.bucket_counts.len());
                            let mut cumulative = 0u64;
                            for (index, count) in point.bucket_counts.iter().enumerate() {
                                cumulative = cumulative.saturating_add(*count);
                                let bound = point
                                    .explicit_bounds
                                    .get(index)
                                    .copied()
                                    .unwrap_or(f64::INFINITY);
                                buckets.push((bound, cumulative));
                            }
                            push_histogram(
                                &mut rows,
                                &context,
                                &name,
                                &labels,
                                time,
                                start,
                                point.flags,
                                &buckets,
                                point.sum,
                                point.count,
                            );
                            accepted += 1;
                        }
                    }
                    Data::ExponentialHistogram(histogram) => {
                        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
                        let context = emit_context("histogram");
                        for point in &histogram.data_points {
                            if !(-10..=20).contains(&point.scale) {
                                rejections.reject(|| {
                                    format!(
                                        "exponential histogram {:?}: scale {} is outside -10..=20",
                                        metric.name, point.scale
                                    )
                                });
                                continue;
                            }
                            let PointKey {
                                time,
                                start,
                                labels,
                            } = point_key(point, &base_labels, received_at, &mut latest_time);
                            let buckets = exponential_buckets(point);
                            push_histogram(
                                &mut rows,
                                &context,
                                &name,
                                &labels,
                                time,
                                start,
                                point.flags,
                                &buckets,
                                point.sum,
                                point.count,
                            );
                            accepted += 1;
                        }
                    }
                    Data::Summary(summary) => {
                        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
                        let context = emit_context("summary");
                        for point in &summary.data_points {
                            let PointKey {
                                time,
                                start,
                                labels,
                            } = point_key(point, &base_labels, received_at, &mut latest_time);
                            for quantile in &point.quantile_values {
                                let q = format_float(quantile.quantile);
                                rows.push(
                                    &context,
                                    &name,
                                    &labels,
                                    Some(("quantile", &q)),
                                    time,
                                    start,
                                    stale_or(point.flags, quantile.value),
                                );
                            }
                            rows.push(
                                &context,
                                &format!("{name}_sum"),
                                &labels,
                                None,
                                time,
                                start,
                                stale_or(point.flags, point.sum),
                            );
                            rows.push(
                                &context,
                                &format!("{name}_count"),
                                &labels,
                                None,
                                time,
                                start,
                                stale_or(point.flags, point.count as f64),
                            );
                            accepted += 1;
                        }
                    }
                }
            }
        }

        push_target_info(
            &mut rows,
            resource,
            &service,
            &base_labels,
            latest_time.unwrap_or(received_at),
        );
    }

    Converted {
        batch: rows.finish(),
        accepted,
        rejected: rejections.count,
        first_error: rejections.first,
    }
}

/// What the rows of one gauge or sum share.
struct NumberSeries<'a> {
    context: &'a MetricContext<'a>,
    name: &'a str,
    /// `gauge` or `sum`, for error messages.
    what: &'static str,
    metric_name: &'a str,
}

/// Pushes one row per number data point; returns how many were accepted.
fn push_number_points(
    rows: &mut PointRows,
    rejections: &mut Rejections,
    series: &NumberSeries<'_>,
    points: &[NumberDataPoint],
    base_labels: &[(String, String)],
    received_at: i64,
    latest_time: &mut Option<i64>,
) -> u64 {
    let mut accepted = 0;
    for point in points {
        let Some(value) = number_value(point) else {
            rejections.reject(|| {
                format!(
                    "{} {:?}: data point has no value",
                    series.what, series.metric_name
                )
            });
            continue;
        };
        let PointKey {
            time,
            start,
            labels,
        } = point_key(point, base_labels, received_at, latest_time);
        rows.push(
            series.context,
            series.name,
            &labels,
            None,
            time,
            start,
            stale_or(point.flags, value),
        );
        accepted += 1;
    }
    accepted
}

fn validate_histogram(point: &HistogramDataPoint) -> Result<(), String> {
    if !point.bucket_counts.is_empty()
        && point.bucket_counts.len() != point.explicit_bounds.len() + 1
    {
        return Err(format!(
            "{} bucket counts for {} explicit bounds (expected bounds + 1)",
            point.bucket_counts.len(),
            point.explicit_bounds.len()
        ));
    }
    if point.explicit_bounds.iter().any(|bound| bound.is_nan()) {
        return Err("explicit bounds contain NaN".to_string());
    }
    if point
        .explicit_bounds
        .windows(2)
        .any(|pair| pair[0] >= pair[1])
    {
        return Err("explicit bounds are not strictly increasing".to_string());
    }
    Ok(())
}

/// Cumulative `(upper bound, count)` pairs of an exponential histogram, lowest first.
fn exponential_buckets(point: &ExponentialHistogramDataPoint) -> Vec<(f64, u64)> {
    let base = 2f64.powf(2f64.powi(-point.scale));
    let mut buckets = Vec::new();
    let mut cumulative = 0u64;
    if let Some(negative) = &point.negative {
        // Negative bucket `index` holds values in [-base^(index+1), -base^index); walk
        // from the most negative (highest index) to the least.
        for (position, count) in negative.bucket_counts.iter().enumerate().rev() {
            cumulative = cumulative.saturating_add(*count);
            let index = i64::from(negative.offset) + position as i64;
            buckets.push((-base.powf(index as f64), cumulative));
        }
    }
    cumulative = cumulative.saturating_add(point.zero_count);
    buckets.push((point.zero_threshold.max(0.0), cumulative));
    if let Some(positive) = &point.positive {
        for (position, count) in positive.bucket_counts.iter().enumerate() {
            cumulative = cumulative.saturating_add(*count);
            let index = i64::from(positive.offset) + position as i64;
            buckets.push((base.powf((index + 1) as f64), cumulative));
        }
    }
    buckets
}

#[allow(clippy::too_many_arguments)]
fn push_histogram(
    rows: &mut PointRows,
    context: &MetricContext<'_>,
    name: &str,
    labels: &[(String, String)],
    time: i64,
    start: Option<i64>,
    flags: u32,
    buckets: &[(f64, u64)],
    sum: Option<f64>,
    count: u64,
) {
    let bucket_name = format!("{name}_bucket");
    for (bound, cumulative) in buckets {
        if bound.is_infinite() {
            continue;
        }
        let le = format_float(*bound);
        rows.push(
            context,
            &bucket_name,
            labels,
            Some(("le", &le)),
            time,
            start,
            stale_or(flags, *cumulative as f64),
        );
    }
    rows.push(
        context,
        &bucket_name,
        labels,
        Some(("le", "+Inf")),
        time,
        start,
        stale_or(flags, count as f64),
    );
    if let Some(sum) = sum {
        rows.push(
            context,
            &format!("{name}_sum"),
            labels,
            None,
            time,
            start,
            stale_or(flags, sum),
        );
    }
    rows.push(
        context,
        &format!("{name}_count"),
        labels,
        None,
        time,
        start,
        stale_or(flags, count as f64),
    );
}

fn push_target_info(
    rows: &mut PointRows,
    resource: Option<&Resource>,
    service: &str,
    base_labels: &[(String, String)],
    time: i64,
) {
    let Some(resource) = resource else {
        return;
    };
    let descriptive: Vec<KeyValue> = resource
        .attributes
        .iter()
        .filter(|kv| !IDENTIFYING_RESOURCE_KEYS.contains(&kv.key.as_str()))
        .cloned()
        .collect();
    if descriptive.is_empty() {
        return;
    }
    let labels = point_labels(&descriptive, base_labels);
    let context = MetricContext {
        service,
        metric_type: "gauge",
        unit: "",
        description: "Target metadata",
    };
    rows.push(&context, "target_info", &labels, None, time, None, 1.0);
}

/// Type, unit and help of a metric family, as Prometheus metadata gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FamilyMetadata {
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Builds `metric_points` rows from Prometheus series (remote write, scraping):
/// labels including `__name__`, samples in milliseconds.
pub struct PrometheusRows {
    rows: PointRows,
    accepted: u64,
    rejections: Rejections,
}

impl Default for PrometheusRows {
    fn default() -> PrometheusRows {
        PrometheusRows::new()
    }
}

impl PrometheusRows {
    pub fn new() -> PrometheusRows {
        PrometheusRows {
            rows: PointRows::new(),
            accepted: 0,
            rejections: Rejections::default(),
        }
    }

    /// Adds one series' samples. A series without a valid `__name__`, with an
    /// invalid or repeated label name is rejected whole (its samples count as
    /// rejected). `metadata` gives the family's type, unit and help when known.
    pub fn push_series<'a>(
        &mut self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        samples: impl ExactSizeIterator<Item = (i64, f64)>,
        metadata: Option<&FamilyMetadata>,
    ) {
        let mut name = None;
        let mut rest: Vec<(String, String)> = Vec::new();
        for (key, value) in labels {
            if key == "__name__" {
                name = Some(value);
                continue;
            }
            if value.is_empty() {
                // Prometheus treats an empty label value as an absent label.
                continue;
            }
            rest.push((key.to_string(), value.to_string()));
        }
        let sample_count = samples.len() as u64;
        let problem = match name {
            None => Some("series has no __name__ label".to_string()),
            Some(name) if !is_metric_name(name) => Some(format!("invalid metric name {name:?}")),
            Some(_) => rest
                .iter()
                .find(|(key, _)| !is_label_name(key))
                .map(|(key, _)| format!("invalid label name {key:?}")),
        };
        let problem = problem.or_else(|| {
            rest.sort();
            rest.windows(2)
                .find(|pair| pair[0].0 == pair[1].0)
                .map(|pair| format!("duplicate label name {:?}", pair[0].0))
        });
        if let Some(problem) = problem {
            for _ in 0..sample_count.max(1) {
                self.rejections.reject(|| problem.clone());
            }
            return;
        }
        let name = name.unwrap_or_default();
        let service = ["service_name", "service", "job"]
            .iter()
            .find_map(|key| rest.iter().find(|(k, _)| k == key))
            .map_or(crate::UNKNOWN_SERVICE, |(_, value)| value.as_str());
        let context = MetricContext {
            service,
            metric_type: metadata.map_or("unknown", |m| static_kind(&m.kind)),
            unit: metadata.map_or("", |m| m.unit.as_str()),
            description: metadata.map_or("", |m| m.help.as_str()),
        };
        for (time_ms, value) in samples {
            let time = time_ms.saturating_mul(1_000_000);
            self.rows
                .push(&context, name, &rest, None, time, None, value);
        }
        self.accepted += sample_count;
    }

    /// [`Self::push_series`] typed with what `store` knows of the series' family.
    pub fn push_series_typed<'a, L>(
        &mut self,
        labels: L,
        samples: impl ExactSizeIterator<Item = (i64, f64)>,
        store: &MetadataStore,
    ) where
        L: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let metadata = labels
            .clone()
            .into_iter()
            .find(|(key, _)| *key == "__name__")
            .and_then(|(_, name)| store.lookup(name));
        self.push_series(labels, samples, metadata.as_ref());
    }

    /// The rows built so far, with accepted and rejected sample counts.
    pub fn finish(self) -> Converted {
        Converted {
            batch: self.rows.finish(),
            accepted: self.accepted,
            rejected: self.rejections.count,
            first_error: self.rejections.first,
        }
    }
}

/// The metric family a series name belongs to, for metadata lookups: the name
/// itself when known, else the name without a histogram, summary or counter suffix.
pub fn family_candidates(name: &str) -> impl Iterator<Item = &str> {
    const SUFFIXES: [&str; 6] = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];
    std::iter::once(name).chain(
        SUFFIXES
            .iter()
            .filter_map(move |suffix| name.strip_suffix(suffix)),
    )
}

fn static_kind(kind: &str) -> &'static str {
    match kind {
        "counter" => "counter",
        "gauge" => "gauge",
        "histogram" => "histogram",
        "gaugehistogram" => "gaugehistogram",
        "summary" => "summary",
        "info" => "info",
        "stateset" => "stateset",
        _ => "unknown",
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Metric family metadata seen on ingest (remote write metadata, scrapes, OTLP),
/// kept in memory for the metadata API and to type series that arrive without it.
#[derive(Debug, Default)]
pub struct MetadataStore {
    families: std::sync::RwLock<std::collections::HashMap<String, FamilyMetadata>>,
}

impl MetadataStore {
    /// Records a family's metadata; empty fields keep what was known.
    pub fn update(&self, family: &str, metadata: FamilyMetadata) {
        let mut families = self.families.write().expect("metadata lock");
        match families.get_mut(family) {
            Some(known) if *known == metadata => {}
            Some(known) => {
                if !metadata.kind.is_empty() && metadata.kind != "unknown" {
                    known.kind = metadata.kind;
                }
                if !metadata.help.is_empty() {
                    known.help = metadata.help;
                }
                if !metadata.unit.is_empty() {
                    known.unit = metadata.unit;
                }
            }
            None => {
                families.insert(family.to_string(), metadata);
            }
        }
    }

    /// Metadata of the family a series name belongs to.
    pub fn lookup(&self, series_name: &str) -> Option<FamilyMetadata> {
        let families = self.families.read().expect("metadata lock");
        family_candidates(series_name).find_map(|family| families.get(family).cloned())
    }

    /// Every family, sorted by name.
    pub fn all(&self) -> Vec<(String, FamilyMetadata)> {
        let families = self.families.read().expect("metadata lock");
        let mut all: Vec<_> = families
            .iter()
            .map(|(name, metadata)| (name.clone(), metadata.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// An exemplar: one trace that contributed to a series, for the exemplar API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    /// Labels of the series, `__name__` included, sorted.
    pub series_labels: Vec<(String, String)>,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
}

/// The newest exemplars, kept in memory (a bounded ring; not persisted).
#[derive(Debug)]
pub struct ExemplarStore {
    entries: std::sync::Mutex<std::collections::VecDeque<StoredExemplar>>,
    capacity: usize,
}

impl Default for ExemplarStore {
    fn default() -> ExemplarStore {
        ExemplarStore::with_capacity(100_000)
    }
}

impl ExemplarStore {
    pub fn with_capacity(capacity: usize) -> ExemplarStore {
        ExemplarStore {
            entries: std::sync::Mutex::new(std::collections::VecDeque::new()),
            capacity,
        }
    }

    /// Adds exemplars, dropping the oldest past the capacity.
    pub fn extend(&self, exemplars: impl IntoIterator<Item = StoredExemplar>) {
        let mut entries = self.entries.lock().expect("exemplar lock");
        entries.extend(exemplars);
        while entries.len() > self.capacity {
            entries.pop_front();
        }
    }

    /// Exemplars with a time in `[start_ms, end_ms]`, oldest first.
    pub fn in_range(&self, start_ms: i64, end_ms: i64) -> Vec<StoredExemplar> {
        let entries = self.entries.lock().expect("exemplar lock");
        entries
            .iter()
            .filter(|exemplar| (start_ms..=end_ms).contains(&exemplar.t))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod prometheus_rows_tests {
    use super::*;
    use arrow::array::{AsArray, Float64Array};

    #[test]
    fn series_become_rows_with_type_and_service() {
        let mut rows = PrometheusRows::new();
        let metadata = FamilyMetadata {
            kind: "counter".into(),
            help: "Requests.".into(),
            unit: String::new(),
        };
        rows.push_series(
            [
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
                ("empty", ""),
            ],
            [(1_000, 1.0), (2_000, 3.5)].into_iter(),
            Some(&metadata),
        );
        let converted = rows.finish();
        assert_eq!((converted.accepted, converted.rejected), (2, 0));
        let batch = converted.batch;
        assert_eq!(batch.num_rows(), 2);
        let names = batch
            .column_by_name("metric_name")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(names.value(0), "http_requests_total");
        let kinds = batch
            .column_by_name("metric_type")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(kinds.value(1), "counter");
        let services = batch
            .column_by_name("service_name")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(services.value(0), "api");
        let values = batch
            .column_by_name("value")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(values.value(1), 3.5);
        let times = batch
            .column_by_name("timestamp")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        assert_eq!(times.value(1), 2_000_000_000);
        let labels = batch.column_by_name("labels").unwrap().as_map();
        let keys = labels.keys().as_string::<i32>();
        let first: Vec<&str> = (0..labels.value_length(0) as usize)
            .map(|i| keys.value(i))
            .collect();
        assert_eq!(
            first,
            ["code", "job"],
            "sorted, __name__ and empty labels out"
        );
    }

    #[test]
    fn invalid_series_are_rejected_whole() {
        let mut rows = PrometheusRows::new();
        rows.push_series([("job", "x")], [(1, 1.0)].into_iter(), None);
        rows.push_series([("__name__", "1bad")], [(1, 1.0)].into_iter(), None);
        rows.push_series(
            [("__name__", "ok"), ("a-b", "x")],
            [(1, 1.0), (2, 2.0)].into_iter(),
            None,
        );
        rows.push_series(
            [("__name__", "ok"), ("a", "x"), ("a", "y")],
            [(1, 1.0)].into_iter(),
            None,
        );
        rows.push_series([("__name__", "good:name")], [(1, 1.0)].into_iter(), None);
        let converted = rows.finish();
        assert_eq!(converted.accepted, 1);
        assert_eq!(converted.rejected, 5);
        assert_eq!(
            converted.first_error.as_deref(),
            Some("series has no __name__ label")
        );
    }

    #[test]
    fn metadata_is_found_through_suffixes() {
        let store = MetadataStore::default();
        store.update(
            "request_duration_seconds",
            FamilyMetadata {
                kind: "histogram".into(),
                help: "Latency.".into(),
                unit: "seconds".into(),
            },
        );
        let found = store.lookup("request_duration_seconds_bucket").unwrap();
        assert_eq!(found.kind, "histogram");
        assert!(store.lookup("other_total").is_none());
        store.update(
            "request_duration_seconds",
            FamilyMetadata {
                kind: "unknown".into(),
                help: String::new(),
                unit: String::new(),
            },
        );
        assert_eq!(
            store.lookup("request_duration_seconds_sum").unwrap().kind,
            "histogram"
        );
    }
}
