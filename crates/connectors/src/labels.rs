//! Label building with the rules of Tempo's metrics-generator registry, and the
//! small OTLP helpers both connectors share (attribute lookup, span validity,
//! enum names).
//!
//! Tempo's label builder (`modules/generator/registry/builder.go`) sorts the
//! labels by name, keeps the *last* value added for a name, drops labels whose
//! value is empty (an empty value deletes any earlier value of that name) and
//! truncates names to 1024 and values to 2048 bytes. [`LabelSetBuilder`] does
//! the same, so a missing dimension is omitted rather than emitted as `""`.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

/// A label set without `__name__`, sorted by name, names unique, values non-empty.
pub(crate) type LabelSet = Vec<(String, String)>;

/// Longest label name kept (Tempo's `max_label_name_length` default).
const MAX_LABEL_NAME_LENGTH: usize = 1024;
/// Longest label value kept (Tempo's `max_label_value_length` default).
const MAX_LABEL_VALUE_LENGTH: usize = 2048;

/// Collects labels in any order and closes them into a [`LabelSet`].
#[derive(Debug, Default)]
pub(crate) struct LabelSetBuilder {
    labels: Vec<(String, String)>,
}

impl LabelSetBuilder {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            labels: Vec::with_capacity(capacity),
        }
    }

    /// Adds a label; a later label of the same name replaces it, and an empty
    /// value removes it.
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        let name = truncate_at_char_boundary(name, MAX_LABEL_NAME_LENGTH);
        let value = truncate_at_char_boundary(value, MAX_LABEL_VALUE_LENGTH);
        self.labels.push((name.to_string(), value.to_string()));
    }

    /// Sorts (stable, so insertion order decides between equal names), keeps
    /// the last label of each name and drops empty values.
    pub(crate) fn build(mut self) -> LabelSet {
        self.labels.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: LabelSet = Vec::with_capacity(self.labels.len());
        for (name, value) in self.labels {
            let same_name_as_previous = out.last().is_some_and(|last| last.0 == name);
            if same_name_as_previous {
                out.pop();
            }
            out.push((name, value));
        }
        out.retain(|(_, value)| !value.is_empty());
        out
    }
}

fn truncate_at_char_boundary(text: &str, max_len: usize) -> &str {
    if text.len() <= max_len {
        return text;
    }
    let mut end = max_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Prometheus' `strutil.SanitizeLabelName`: every character outside
/// `[a-zA-Z0-9_]` becomes `_` (`http.method` → `http_method`).
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Tempo's `SanitizeLabelNameWithCollisions`: a dimension whose sanitized name
/// equals a reserved (intrinsic) label gets a `__` prefix instead of
/// overwriting it.
pub(crate) fn sanitize_label_name_avoiding(name: &str, reserved: &[&str]) -> String {
    let sanitized = sanitize_label_name(name);
    if reserved.contains(&sanitized.as_str()) {
        return format!("__{sanitized}");
    }
    sanitized
}

/// Tempo's `StringifyAnyValue`: scalars as Go formats them, arrays as
/// `[abc]`, maps as `{k:v}`, bytes and empty values as "".
pub(crate) fn stringify_any_value(value: Option<&AnyValue>) -> String {
    let Some(inner) = value.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match inner {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::BoolValue(flag) => flag.to_string(),
        any_value::Value::IntValue(number) => number.to_string(),
        any_value::Value::DoubleValue(number) => format_go_float(*number),
        any_value::Value::ArrayValue(array) => {
            let mut text = String::from("[");
            for item in &array.values {
                text.push_str(&stringify_any_value(Some(item)));
            }
            text.push(']');
            text
        }
        any_value::Value::KvlistValue(list) => {
            let mut text = String::from("{");
            for kv in &list.values {
                text.push_str(&kv.key);
                text.push(':');
                text.push_str(&stringify_any_value(kv.value.as_ref()));
            }
            text.push('}');
            text
        }
        // Bytes have no text form in Tempo; string-table references only
        // occur in profiles.
        any_value::Value::BytesValue(_) | any_value::Value::StringValueStrindex(_) => String::new(),
    }
}

/// Formats like Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest
/// decimal that round-trips, never in exponent form, `+Inf`/`-Inf`/`NaN`.
/// Prometheus formats `le` bucket bounds the same way ("0.05", "10", "+Inf").
pub(crate) fn format_go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `Display` for f64 is already the shortest round-trip form and
    // never uses an exponent.
    format!("{value}")
}

/// Tempo's `FindAttributeValue`: the first list that has `key` wins, so the
/// order of `lists` is the precedence (Tempo passes resource, then span).
pub(crate) fn find_attribute(key: &str, lists: &[&[KeyValue]]) -> Option<String> {
    for list in lists {
        for kv in list.iter() {
            if kv.key == key {
                return Some(stringify_any_value(kv.value.as_ref()));
            }
        }
    }
    None
}

/// Span kind as the proto enum name (`SPAN_KIND_SERVER`); unknown numbers as
/// the number, like Go's generated `String()`.
pub(crate) fn span_kind_name(kind: i32) -> String {
    match SpanKind::try_from(kind) {
        Ok(known) => known.as_str_name().to_string(),
        Err(_) => kind.to_string(),
    }
}

/// Status code as the proto enum name (`STATUS_CODE_ERROR`).
pub(crate) fn status_code_name(span: &Span) -> String {
    let code = span.status.as_ref().map_or(0, |status| status.code);
    match StatusCode::try_from(code) {
        Ok(known) => known.as_str_name().to_string(),
        Err(_) => code.to_string(),
    }
}

pub(crate) fn span_failed(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|status| status.code == StatusCode::Error as i32)
}

/// Whether a span can be turned into metrics: 16-byte non-zero trace id,
/// 8-byte non-zero span id, non-zero start and end. Tempo counts such spans
/// anyway; Vispyr skips them (and counts them) because they cannot be linked
/// to a trace and usually mean a broken exporter.
pub(crate) fn span_is_valid(span: &Span) -> bool {
    let trace_id_ok = span.trace_id.len() == 16 && span.trace_id.iter().any(|b| *b != 0);
    let span_id_ok = span.span_id.len() == 8 && span.span_id.iter().any(|b| *b != 0);
    let times_ok = span.start_time_unix_nano != 0 && span.end_time_unix_nano != 0;
    trace_id_ok && span_id_ok && times_ok
}

/// Span duration in seconds; a span that ends before it starts counts as 0
/// (Tempo: "Spans with negative latency are treated as zero").
pub(crate) fn span_duration_seconds(span: &Span) -> f64 {
    nanos_between_seconds(span.start_time_unix_nano, span.end_time_unix_nano)
}

pub(crate) fn nanos_between_seconds(start: u64, end: u64) -> f64 {
    if end <= start {
        return 0.0;
    }
    (end - start) as f64 / 1e9
}

/// Lowercase hex, as trace ids are written everywhere else in Vispyr.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// Tempo's span multiplier: `1 / value` of the first positive double
/// attribute named `key`, span attributes before resource attributes; 1
/// otherwise. Lets head-sampled traffic be scaled back up.
pub(crate) fn span_multiplier(key: &str, span: &Span, resource: &[KeyValue]) -> f64 {
    if key.is_empty() {
        return 1.0;
    }
    for list in [span.attributes.as_slice(), resource] {
        for kv in list {
            if kv.key != key {
                continue;
            }
            if let Some(any_value::Value::DoubleValue(ratio)) =
                kv.value.as_ref().and_then(|v| v.value.as_ref())
                && *ratio > 0.0
            {
                return 1.0 / ratio;
            }
        }
    }
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sorts_dedupes_last_wins_and_drops_empty() {
        let mut builder = LabelSetBuilder::default();
        builder.add("service", "a");
        builder.add("http_method", "GET");
        builder.add("http_route", "");
        builder.add("service", "b");
        builder.add("status_code", "x");
        builder.add("status_code", "");
        let labels = builder.build();
        assert_eq!(
            labels,
            vec![
                ("http_method".to_string(), "GET".to_string()),
                ("service".to_string(), "b".to_string()),
            ]
        );
    }

    #[test]
    fn builder_truncates_on_char_boundary() {
        let mut builder = LabelSetBuilder::default();
        let long_value = "é".repeat(MAX_LABEL_VALUE_LENGTH); // 2 bytes each
        builder.add("k", &long_value);
        let labels = builder.build();
        assert_eq!(labels[0].1.len(), MAX_LABEL_VALUE_LENGTH);
    }

    #[test]
    fn sanitizes_like_prometheus() {
        assert_eq!(sanitize_label_name("http.method"), "http_method");
        assert_eq!(sanitize_label_name("k8s-pod/name"), "k8s_pod_name");
        assert_eq!(
            sanitize_label_name_avoiding("span.name", &["span_name"]),
            "__span_name"
        );
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_go_float(0.05), "0.05");
        assert_eq!(format_go_float(10.0), "10");
        assert_eq!(format_go_float(0.002), "0.002");
        assert_eq!(format_go_float(16.384), "16.384");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
        assert_eq!(format_go_float(1e-7), "0.0000001");
    }

    #[test]
    fn stringifies_any_values() {
        let array = AnyValue {
            value: Some(any_value::Value::ArrayValue(
                opentelemetry_proto::tonic::common::v1::ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(any_value::Value::IntValue(1)),
                        },
                        AnyValue {
                            value: Some(any_value::Value::BoolValue(true)),
                        },
                    ],
                },
            )),
        };
        assert_eq!(stringify_any_value(Some(&array)), "[1true]");
        assert_eq!(stringify_any_value(None), "");
        let double = AnyValue {
            value: Some(any_value::Value::DoubleValue(2.5)),
        };
        assert_eq!(stringify_any_value(Some(&double)), "2.5");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex_lower(&[0x0a, 0xff, 0x10]), "0aff10");
    }
}
