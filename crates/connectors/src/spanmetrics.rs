//! Span metrics (RED): Tempo's `spanmetrics` processor.
//!
//! Per span, in the label set `service`, `span_name`, `span_kind`,
//! `status_code` (each toggled by `intrinsic_dimensions`) plus the configured
//! dimensions:
//!
//! - `traces_spanmetrics_calls_total` += 1 (× span multiplier),
//! - `traces_spanmetrics_latency_{bucket,sum,count}` observes the duration in
//!   seconds (a negative duration counts as 0),
//! - `traces_spanmetrics_size_total` += the protobuf-encoded length of the
//!   span (Tempo's `span.Size()`; not multiplied).
//!
//! With `enable_target_info`, `traces_target_info` carries each resource's
//! attributes and span metrics get `job`/`instance` labels, as in Tempo.

use std::collections::HashSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::labels::{
    LabelSet, LabelSetBuilder, find_attribute, sanitize_label_name_avoiding, span_duration_seconds,
    span_is_valid, span_kind_name, span_multiplier, status_code_name, stringify_any_value,
};
use crate::registry::{ExemplarRef, Layout, Registry, ScalarKind};
use crate::{Collected, SpanMetricsConfig};

const METRIC_CALLS_TOTAL: &str = "traces_spanmetrics_calls_total";
const METRIC_LATENCY: &str = "traces_spanmetrics_latency";
const METRIC_SIZE_TOTAL: &str = "traces_spanmetrics_size_total";
const METRIC_TARGET_INFO: &str = "traces_target_info";

const SLOT_CALLS: usize = 0;
const SLOT_SIZE: usize = 1;
const SLOT_LATENCY: usize = 0;

const DIM_SERVICE: &str = "service";
const DIM_SPAN_NAME: &str = "span_name";
const DIM_SPAN_KIND: &str = "span_kind";
const DIM_STATUS_CODE: &str = "status_code";
const DIM_STATUS_MESSAGE: &str = "status_message";
const DIM_JOB: &str = "job";
const DIM_INSTANCE: &str = "instance";

/// Label names a configured dimension may not take over; a colliding
/// dimension is prefixed with `__` (Tempo's `SupportedIntrinsicDimensionsSet`).
const INTRINSIC_LABELS: &[&str] = &[
    DIM_SERVICE,
    DIM_SPAN_NAME,
    DIM_SPAN_KIND,
    DIM_STATUS_CODE,
    DIM_STATUS_MESSAGE,
];
/// The same for `traces_target_info`, which also reserves `job`/`instance`.
const TARGET_INFO_RESERVED_LABELS: &[&str] = &[
    DIM_SERVICE,
    DIM_SPAN_NAME,
    DIM_SPAN_KIND,
    DIM_STATUS_CODE,
    DIM_STATUS_MESSAGE,
    DIM_JOB,
    DIM_INSTANCE,
];

/// Span metrics connector state. Single-threaded: the pipeline serialises
/// `consume` and `collect`.
#[derive(Debug)]
pub struct SpanMetrics {
    config: SpanMetricsConfig,
    /// Label name of each configured dimension, in config order.
    dimension_labels: Vec<String>,
    series: Registry,
    target_info: Registry,
    target_info_excluded: HashSet<String>,
    skipped_spans_total: u64,
}

impl SpanMetrics {
    /// Builds the connector. Buckets are sorted and deduplicated defensively;
    /// call [`SpanMetricsConfig::validate`] first to report bad ones.
    pub fn new(config: SpanMetricsConfig) -> Self {
        let dimension_labels = config
            .dimensions
            .iter()
            .map(|dimension| sanitize_label_name_avoiding(dimension, INTRINSIC_LABELS))
            .collect();
        let stale_ms = duration_ms(config.stale_duration);
        let layout = Layout {
            scalars: vec![
                (METRIC_CALLS_TOTAL, ScalarKind::Counter),
                (METRIC_SIZE_TOTAL, ScalarKind::Counter),
            ],
            histograms: vec![METRIC_LATENCY],
            buckets: config.histogram_buckets.clone(),
        };
        let target_info_layout = Layout {
            scalars: vec![(METRIC_TARGET_INFO, ScalarKind::Gauge)],
            histograms: Vec::new(),
            buckets: Vec::new(),
        };
        Self {
            series: Registry::new(layout, config.max_series, stale_ms),
            target_info: Registry::new(target_info_layout, config.max_series, stale_ms),
            target_info_excluded: config
                .target_info_excluded_dimensions
                .iter()
                .cloned()
                .collect(),
            dimension_labels,
            skipped_spans_total: 0,
            config,
        }
    }

    /// The configuration this connector was built with.
    pub fn config(&self) -> &SpanMetricsConfig {
        &self.config
    }

    /// Counts every valid span of `request`. Spans with invalid ids or zero
    /// timestamps are skipped and counted in [`Self::skipped_spans_total`].
    pub fn consume(&mut self, request: &ExportTraceServiceRequest) {
        for resource_spans in &request.resource_spans {
            let resource_attributes: &[KeyValue] = resource_spans
                .resource
                .as_ref()
                .map_or(&[], |resource| resource.attributes.as_slice());
            let service = ServiceLabels::from_resource(resource_attributes);
            let mut target_info_done = false;
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    if !span_is_valid(span) {
                        self.skipped_spans_total += 1;
                        continue;
                    }
                    self.count_span(&service, resource_attributes, span);
                    if self.config.enable_target_info && !target_info_done {
                        self.set_target_info(&service, resource_attributes);
                        target_info_done = true;
                    }
                }
            }
        }
    }

    fn count_span(&mut self, service: &ServiceLabels, resource: &[KeyValue], span: &Span) {
        let labels = self.span_labels(service, resource, span);
        let multiplier = span_multiplier(&self.config.span_multiplier_key, span, resource);
        let latency_seconds = span_duration_seconds(span);
        let size_bytes = span.encoded_len() as f64;
        let exemplar = exemplar_ref(span);

        let mut entry = self.series.entry(labels);
        entry.add(
            SLOT_CALLS,
            multiplier,
            exemplar.map(|ids| (ids, latency_seconds)),
        );
        entry.observe(SLOT_LATENCY, latency_seconds, multiplier, exemplar);
        entry.add(SLOT_SIZE, size_bytes, None);
    }

    fn span_labels(&self, service: &ServiceLabels, resource: &[KeyValue], span: &Span) -> LabelSet {
        let intrinsics = &self.config.intrinsic_dimensions;
        let mut builder = LabelSetBuilder::with_capacity(8 + self.dimension_labels.len());
        if intrinsics.service {
            builder.add(DIM_SERVICE, &service.service);
        }
        if intrinsics.span_name {
            builder.add(DIM_SPAN_NAME, &span.name);
        }
        if intrinsics.span_kind {
            builder.add(DIM_SPAN_KIND, &span_kind_name(span.kind));
        }
        if intrinsics.status_code {
            builder.add(DIM_STATUS_CODE, &status_code_name(span));
        }
        if intrinsics.status_message {
            let message = span
                .status
                .as_ref()
                .map_or("", |status| status.message.as_str());
            builder.add(DIM_STATUS_MESSAGE, message);
        }
        let lists: [&[KeyValue]; 2] = [resource, &span.attributes];
        for (dimension, label) in self.config.dimensions.iter().zip(&self.dimension_labels) {
            // Missing → "" → the label is omitted (Tempo's builder drops
            // empty values); of two dimensions sanitizing to one label the
            // last configured wins.
            let value = find_attribute(dimension, &lists).unwrap_or_default();
            builder.add(label, &value);
        }
        if self.config.enable_target_info {
            builder.add(DIM_JOB, &service.job);
            if self.config.enable_instance_label {
                builder.add(DIM_INSTANCE, &service.instance);
            }
        }
        builder.build()
    }

    /// Tempo's `buildAndSetTargetInfoLabels`: the resource attributes except
    /// the `service.*` ones that became `job`/`instance`, registered only when
    /// there is an identifying label and at least one more.
    fn set_target_info(&mut self, service: &ServiceLabels, resource: &[KeyValue]) {
        let mut builder = LabelSetBuilder::with_capacity(resource.len() + 2);
        for kv in resource {
            let key = kv.key.as_str();
            let starts_with_digit = key.as_bytes().first().is_some_and(u8::is_ascii_digit);
            if key.is_empty() || starts_with_digit {
                continue;
            }
            if matches!(
                key,
                "service.name" | "service.namespace" | "service.instance.id"
            ) {
                continue;
            }
            if self.target_info_excluded.contains(key) {
                continue;
            }
            let label = sanitize_label_name_avoiding(key, TARGET_INFO_RESERVED_LABELS);
            builder.add(&label, &stringify_any_value(kv.value.as_ref()));
        }
        let mut identifying = 0;
        if !service.job.is_empty() {
            builder.add(DIM_JOB, &service.job);
            identifying += 1;
        }
        if !service.instance.is_empty() && self.config.enable_instance_label {
            builder.add(DIM_INSTANCE, &service.instance);
            identifying += 1;
        }
        let labels = builder.build();
        if identifying > 0 && labels.len() > identifying {
            self.target_info.entry(labels).set(0, 1.0);
        }
    }

    /// Current value of every active series at `now_ms` plus the exemplars
    /// recorded since the last collect; drops series idle past
    /// `stale_duration`.
    pub fn collect(&mut self, now_ms: i64) -> Collected {
        let mut collected = Collected::default();
        self.series.collect(now_ms, &mut collected);
        self.target_info.collect(now_ms, &mut collected);
        collected
    }

    /// Prometheus series currently held (each collect emits this many points
    /// at `now_ms`).
    pub fn active_series(&self) -> usize {
        self.series.active_series() + self.target_info.active_series()
    }

    /// Series refused by `max_series` and counted into the
    /// `metric_overflow="true"` series instead, in Prometheus series, counted
    /// per refused update like Tempo's
    /// `tempo_metrics_generator_registry_series_limited_total`.
    pub fn dropped_series_total(&self) -> u64 {
        self.series.limited_series_total() + self.target_info.limited_series_total()
    }

    /// Spans skipped because of invalid ids or zero timestamps.
    pub fn skipped_spans_total(&self) -> u64 {
        self.skipped_spans_total
    }
}

/// Tempo's `FindServiceLabels`: `service.name`, the job
/// (`<service.namespace>/<service.name>` or the name) and
/// `service.instance.id`; the first occurrence of each attribute wins.
#[derive(Debug, Default)]
struct ServiceLabels {
    service: String,
    job: String,
    instance: String,
}

impl ServiceLabels {
    fn from_resource(attributes: &[KeyValue]) -> Self {
        let service = find_attribute("service.name", &[attributes]).unwrap_or_default();
        let namespace = find_attribute("service.namespace", &[attributes]).unwrap_or_default();
        let instance = find_attribute("service.instance.id", &[attributes]).unwrap_or_default();
        let job = if service.is_empty() {
            String::new()
        } else if namespace.is_empty() {
            service.clone()
        } else {
            format!("{namespace}/{service}")
        };
        Self {
            service,
            job,
            instance,
        }
    }
}

pub(crate) fn exemplar_ref(span: &Span) -> Option<ExemplarRef> {
    let trace_id: [u8; 16] = span.trace_id.as_slice().try_into().ok()?;
    let span_id: [u8; 8] = span.span_id.as_slice().try_into().ok()?;
    Some(ExemplarRef { trace_id, span_id })
}

pub(crate) fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
