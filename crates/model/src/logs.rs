//! OTLP logs → rows of the `logs` table.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use crate::attributes::{AttributeColumns, PreparedAttributes, write_any_value};
use crate::schema::{self, TIMEZONE};
use crate::traces::{hex_into, valid_span_id, valid_trace_id};
use crate::{Converted, Rejections, service_name_of};

fn validate(record: &LogRecord) -> Result<(), String> {
    let has_trace = !record.trace_id.is_empty() && record.trace_id.iter().any(|b| *b != 0);
    if has_trace && !valid_trace_id(&record.trace_id) {
        return Err(format!(
            "log record: trace_id must be empty or 16 bytes, got {} bytes",
            record.trace_id.len()
        ));
    }
    let has_span = !record.span_id.is_empty() && record.span_id.iter().any(|b| *b != 0);
    if has_span && !valid_span_id(&record.span_id) {
        return Err(format!(
            "log record: span_id must be empty or 8 bytes, got {} bytes",
            record.span_id.len()
        ));
    }
    if !(0..=24).contains(&record.severity_number) {
        return Err(format!(
            "log record: severity_number must be between 0 and 24, got {}",
            record.severity_number
        ));
    }
    Ok(())
}

/// Converts a logs export request into `logs` rows; invalid records are rejected.
///
/// `received_at` (Unix nanoseconds) stands in for a missing observed time, and the
/// observed time for a missing event time, as the OTLP spec recommends.
pub fn convert_logs(request: &ExportLogsServiceRequest, received_at: i64) -> Converted {
    let capacity: usize = request
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
    let mut rejections = Rejections::default();
    let mut timestamp = TimestampNanosecondBuilder::with_capacity(capacity).with_timezone(TIMEZONE);
    let mut observed = TimestampNanosecondBuilder::with_capacity(capacity).with_timezone(TIMEZONE);
    let mut trace_id = StringBuilder::new();
    let mut span_id = StringBuilder::new();
    let mut severity_number = Int32Builder::with_capacity(capacity);
    let mut severity_text = StringBuilder::new();
    let mut body = StringBuilder::new();
    let mut service_name = StringBuilder::new();
    let mut log_attributes = AttributeColumns::with_capacity(capacity);
    let mut resource_attributes = AttributeColumns::with_capacity(capacity);
    let mut scope_name = StringBuilder::new();

    let mut accepted = 0u64;
    let mut hex = String::with_capacity(32);
    let mut text = String::new();
    for resource_logs in &request.resource_logs {
        let service = service_name_of(resource_logs.resource.as_ref());
        let empty = Vec::new();
        let resource_attrs = resource_logs
            .resource
            .as_ref()
            .map(|resource| &resource.attributes)
            .unwrap_or(&empty);
        let resource_prepared = PreparedAttributes::new(resource_attrs);
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_logs
                .scope
                .as_ref()
                .map(|scope| scope.name.as_str())
                .unwrap_or("");
            for record in &scope_logs.log_records {
                if let Err(message) = validate(record) {
                    rejections.reject(|| message);
                    continue;
                }
                accepted += 1;
                let observed_at = match record.observed_time_unix_nano {
                    0 => received_at,
                    nanos => i64::try_from(nanos).unwrap_or(i64::MAX),
                };
                let event_at = match record.time_unix_nano {
                    0 => observed_at,
                    nanos => i64::try_from(nanos).unwrap_or(i64::MAX),
                };
                timestamp.append_value(event_at);
                observed.append_value(observed_at);
                if record.trace_id.iter().any(|b| *b != 0) {
                    hex_into(&record.trace_id, &mut hex);
                    trace_id.append_value(&hex);
                } else {
                    trace_id.append_null();
                }
                if record.span_id.iter().any(|b| *b != 0) {
                    hex_into(&record.span_id, &mut hex);
                    span_id.append_value(&hex);
                } else {
                    span_id.append_null();
                }
                severity_number.append_value(record.severity_number);
                if record.severity_text.is_empty() {
                    severity_text.append_null();
                } else {
                    severity_text.append_value(&record.severity_text);
                }
                match &record.body {
                    Some(value) if value.value.is_some() => {
                        text.clear();
                        write_any_value(Some(value), &mut text);
                        body.append_value(&text);
                    }
                    _ => body.append_null(),
                }
                service_name.append_value(&service);
                log_attributes.append(&record.attributes);
                resource_attributes.append_prepared(&resource_prepared);
                if scope.is_empty() {
                    scope_name.append_null();
                } else {
                    scope_name.append_value(scope);
                }
            }
        }
    }

    let (log_attr_map, log_attr_types) = log_attributes.finish();
    let (resource_attr_map, resource_attr_types) = resource_attributes.finish();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(timestamp.finish()),
        Arc::new(observed.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(severity_number.finish()),
        Arc::new(severity_text.finish()),
        Arc::new(body.finish()),
        Arc::new(service_name.finish()),
        log_attr_map,
        log_attr_types,
        resource_attr_map,
        resource_attr_types,
        Arc::new(scope_name.finish()),
    ];
    let batch = RecordBatch::try_new(schema::logs_schema(), columns)
        .expect("log columns match the logs schema");
    Converted {
        batch,
        accepted,
        rejected: rejections.count,
        first_error: rejections.first,
    }
}

/// The OTLP severity number of a level name as loggers and Loki labels spell it
/// (`info`, `WARN`, `warning`, `err`, `critical`, …): the first number of the
/// matching range (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21).
pub fn severity_number_of(level: &str) -> Option<i32> {
    let level = level.trim().to_ascii_lowercase();
    let number = match level.as_str() {
        "trace" | "trc" => 1,
        "debug" | "dbg" => 5,
        "info" | "inf" | "information" | "notice" => 9,
        "warn" | "wrn" | "warning" => 13,
        "error" | "err" | "eror" => 17,
        "fatal" | "critical" | "crit" | "emerg" | "alert" | "panic" => 21,
        _ => return None,
    };
    Some(number)
}

/// The severity name Loki and Grafana use for an OTLP severity number
/// (`trace`, `debug`, `info`, `warn`, `error`, `fatal`; `unknown` for 0).
pub fn severity_name(number: i32) -> &'static str {
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unknown",
    }
}
