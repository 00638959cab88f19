//! Property tests: OTLP → Arrow conversion never panics, accounts for every item,
//! and keeps ids, attribute values and their types.

use arrow::array::{Array, AsArray, MapArray, StringArray};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};
use proptest::prelude::*;
use vispyr_model::{convert_logs, convert_metrics, convert_traces};

fn any_value() -> impl Strategy<Value = Option<AnyValue>> {
    let leaf = prop_oneof![
        ".{0,12}".prop_map(Value::StringValue),
        any::<i64>().prop_map(Value::IntValue),
        any::<f64>().prop_map(Value::DoubleValue),
        any::<bool>().prop_map(Value::BoolValue),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::BytesValue),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(|values| {
            Value::ArrayValue(ArrayValue {
                values: values
                    .into_iter()
                    .map(|v| AnyValue { value: Some(v) })
                    .collect(),
            })
        })
    });
    proptest::option::weighted(
        0.95,
        value.prop_map(|value| AnyValue { value: Some(value) }),
    )
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        ("[a-z.]{1,6}", any_value()).prop_map(|(key, value)| KeyValue {
            key,
            value,
            ..KeyValue::default()
        }),
        0..6,
    )
}

fn id(len_valid: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(1u8..=255, len_valid),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ]
}

fn span() -> impl Strategy<Value = Span> {
    (
        id(16),
        id(8),
        ".{0,10}",
        0u64..u64::MAX / 2,
        0u64..1_000_000,
        attributes(),
        attributes(),
        0i32..7,
    )
        .prop_map(
            |(trace_id, span_id, name, start, length, attributes, event_attributes, kind)| Span {
                trace_id,
                span_id,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: start + length,
                attributes,
                events: vec![Event {
                    time_unix_nano: start,
                    name: "event".into(),
                    attributes: event_attributes,
                    ..Event::default()
                }],
                ..Span::default()
            },
        )
}

fn unique_keys(attributes: &[KeyValue]) -> usize {
    let mut keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

fn valid_span(span: &Span) -> bool {
    span.trace_id.len() == 16
        && span.trace_id.iter().any(|b| *b != 0)
        && span.span_id.len() == 8
        && span.span_id.iter().any(|b| *b != 0)
        && span.start_time_unix_nano != 0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn spans_are_accounted_for_and_keep_their_ids(spans in proptest::collection::vec(span(), 0..20), resource in attributes()) {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: resource, ..Resource::default() }),
                scope_spans: vec![ScopeSpans { spans: spans.clone(), ..ScopeSpans::default() }],
                ..ResourceSpans::default()
            }],
        };
        let converted = convert_traces(&request);
        prop_assert_eq!(converted.accepted + converted.rejected, spans.len() as u64);
        prop_assert_eq!(converted.batch.num_rows() as u64, converted.accepted);
        prop_assert_eq!(converted.first_error.is_some(), converted.rejected > 0);

        let valid: Vec<&Span> = spans.iter().filter(|span| valid_span(span)).collect();
        prop_assert_eq!(valid.len() as u64, converted.accepted);
        let trace_ids = converted.batch.column_by_name("trace_id").unwrap().as_string::<i32>();
        let span_attributes = converted.batch.column_by_name("span_attributes").unwrap();
        let span_attributes = span_attributes.as_any().downcast_ref::<MapArray>().unwrap();
        let types = converted.batch.column_by_name("span_attribute_types").unwrap();
        let types = types.as_any().downcast_ref::<StringArray>().unwrap();
        for (row, span) in valid.iter().enumerate() {
            let hex: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(trace_ids.value(row), hex.as_str());
            prop_assert_eq!(span_attributes.value(row).len(), unique_keys(&span.attributes));
            let non_strings = span.attributes.iter().enumerate().filter(|(index, kv)| {
                let last = !span.attributes[index + 1..].iter().any(|later| later.key == kv.key);
                last && !matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(_)))
            }).count();
            if non_strings == 0 {
                prop_assert!(types.is_null(row));
            } else {
                let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(types.value(row)).unwrap();
                prop_assert_eq!(parsed.len(), non_strings);
            }
        }
    }

    #[test]
    fn logs_are_accounted_for(records in proptest::collection::vec(
        (proptest::collection::vec(any::<u8>(), 0..18), any_value(), -2i32..30, attributes(), any::<u64>()), 0..20)) {
        let log_records: Vec<LogRecord> = records.into_iter().map(|(trace_id, body, severity, attributes, time)| LogRecord {
            trace_id,
            body,
            severity_number: severity,
            attributes,
            time_unix_nano: time,
            ..LogRecord::default()
        }).collect();
        let total = log_records.len() as u64;
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs { log_records, ..ScopeLogs::default() }],
                ..ResourceLogs::default()
            }],
        };
        let converted = convert_logs(&request, 42);
        prop_assert_eq!(converted.accepted + converted.rejected, total);
        prop_assert_eq!(converted.batch.num_rows() as u64, converted.accepted);
    }

    #[test]
    fn histograms_and_numbers_never_panic(
        bounds in proptest::collection::vec(prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY)], 0..6),
        counts in proptest::collection::vec(0u64..1000, 0..8),
        value in any::<f64>(),
        name in ".{0,12}",
        unit in ".{0,6}",
        monotonic in any::<bool>(),
    ) {
        let histogram = HistogramDataPoint {
            explicit_bounds: bounds.clone(),
            bucket_counts: counts.clone(),
            count: counts.iter().sum(),
            sum: Some(value),
            time_unix_nano: 1,
            ..HistogramDataPoint::default()
        };
        let number = NumberDataPoint {
            value: Some(number_data_point::Value::AsDouble(value)),
            time_unix_nano: 1,
            ..NumberDataPoint::default()
        };
        let metrics = vec![
            Metric { name: name.clone(), unit: unit.clone(), data: Some(Data::Histogram(Histogram { data_points: vec![histogram], aggregation_temporality: 2 })), ..Metric::default() },
            Metric { name: name.clone(), unit: unit.clone(), data: Some(Data::Gauge(Gauge { data_points: vec![number.clone()] })), ..Metric::default() },
            Metric { name, unit, data: Some(Data::Sum(Sum { data_points: vec![number], is_monotonic: monotonic, aggregation_temporality: 2 })), ..Metric::default() },
        ];
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics, ..ScopeMetrics::default() }],
                ..ResourceMetrics::default()
            }],
        };
        let converted = convert_metrics(&request, 7);
        prop_assert_eq!(converted.accepted + converted.rejected, 3);
        let histogram_valid = (counts.is_empty() || counts.len() == bounds.len() + 1)
            && bounds.iter().all(|bound| !bound.is_nan())
            && bounds.windows(2).all(|pair| pair[0] < pair[1]);
        prop_assert_eq!(converted.rejected, u64::from(!histogram_valid));
        let finite_bounds = if counts.is_empty() { 0 } else { bounds.iter().filter(|b| b.is_finite()).count() };
        let histogram_rows = if histogram_valid { finite_bounds + 1 + 2 } else { 0 };
        prop_assert_eq!(converted.batch.num_rows(), histogram_rows + 2);
    }
}
