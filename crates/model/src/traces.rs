//! OTLP traces → rows of the `spans` table.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, ListArray, StringBuilder, StructArray, TimestampNanosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};

use crate::attributes::{AttributeColumns, PreparedAttributes};
use crate::schema::{self, TIMEZONE};
use crate::{Converted, Rejections, service_name_of};

/// The `span_kind` column value of an OTLP span kind.
pub fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// The `status_code` column value of an OTLP status code.
pub fn status_code_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "ok",
        Ok(StatusCode::Error) => "error",
        _ => "unset",
    }
}

/// Checks a trace id: 16 bytes, not all zero.
pub(crate) fn valid_trace_id(id: &[u8]) -> bool {
    id.len() == 16 && id.iter().any(|byte| *byte != 0)
}

/// Checks a span id: 8 bytes, not all zero.
pub(crate) fn valid_span_id(id: &[u8]) -> bool {
    id.len() == 8 && id.iter().any(|byte| *byte != 0)
}

fn nanos(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn validate(span: &Span) -> Result<(), String> {
    if !valid_trace_id(&span.trace_id) {
        return Err(format!(
            "span {:?}: trace_id must be 16 bytes and not all zero, got {} bytes",
            span.name,
            span.trace_id.len()
        ));
    }
    if !valid_span_id(&span.span_id) {
        return Err(format!(
            "span {:?}: span_id must be 8 bytes and not all zero, got {} bytes",
            span.name,
            span.span_id.len()
        ));
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err(format!(
            "span {:?}: parent_span_id must be empty or 8 bytes, got {} bytes",
            span.name,
            span.parent_span_id.len()
        ));
    }
    if span.start_time_unix_nano == 0 {
        return Err(format!(
            "span {:?}: start_time_unix_nano is missing",
            span.name
        ));
    }
    for link in &span.links {
        if !valid_trace_id(&link.trace_id) || !valid_span_id(&link.span_id) {
            return Err(format!(
                "span {:?}: a link has an invalid trace_id or span_id",
                span.name
            ));
        }
    }
    Ok(())
}

fn append_optional(builder: &mut StringBuilder, text: &str) {
    if text.is_empty() {
        builder.append_null();
    } else {
        builder.append_value(text);
    }
}

/// Converts a trace export request into `spans` rows; invalid spans are rejected.
pub fn convert_traces(request: &ExportTraceServiceRequest) -> Converted {
    let capacity: usize = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len())
        .sum();
    let mut rejections = Rejections::default();

    let mut timestamp = TimestampNanosecondBuilder::with_capacity(capacity).with_timezone(TIMEZONE);
    let mut end_timestamp =
        TimestampNanosecondBuilder::with_capacity(capacity).with_timezone(TIMEZONE);
    let mut duration = Int64Builder::with_capacity(capacity);
    let mut trace_id = StringBuilder::with_capacity(capacity, capacity * 32);
    let mut span_id = StringBuilder::with_capacity(capacity, capacity * 16);
    let mut parent_span_id = StringBuilder::with_capacity(capacity, capacity * 16);
    let mut trace_state = StringBuilder::new();
    let mut service_name = StringBuilder::with_capacity(capacity, capacity * 16);
    let mut span_name = StringBuilder::with_capacity(capacity, capacity * 16);
    let mut span_kind = StringBuilder::with_capacity(capacity, capacity * 6);
    let mut status_code = StringBuilder::with_capacity(capacity, capacity * 5);
    let mut status_message = StringBuilder::new();
    let mut scope_name = StringBuilder::new();
    let mut scope_version = StringBuilder::new();
    let mut span_attributes = AttributeColumns::with_capacity(capacity);
    let mut resource_attributes = AttributeColumns::with_capacity(capacity);

    let mut event_offsets: Vec<i32> = Vec::with_capacity(capacity + 1);
    event_offsets.push(0);
    let mut event_time = TimestampNanosecondBuilder::new().with_timezone(TIMEZONE);
    let mut event_name = StringBuilder::new();
    let mut event_attributes = AttributeColumns::with_capacity(0);

    let mut link_offsets: Vec<i32> = Vec::with_capacity(capacity + 1);
    link_offsets.push(0);
    let mut link_trace_id = StringBuilder::new();
    let mut link_span_id = StringBuilder::new();
    let mut link_trace_state = StringBuilder::new();
    let mut link_attributes = AttributeColumns::with_capacity(0);

    let mut accepted: u64 = 0;
    let mut hex = String::with_capacity(32);
    for resource_spans in &request.resource_spans {
        let service = service_name_of(resource_spans.resource.as_ref());
        let empty = Vec::new();
        let resource_attrs = resource_spans
            .resource
            .as_ref()
            .map(|resource| &resource.attributes)
            .unwrap_or(&empty);
        let resource_prepared = PreparedAttributes::new(resource_attrs);
        for scope_spans in &resource_spans.scope_spans {
            let (scope, version) = scope_spans
                .scope
                .as_ref()
                .map(|scope| (scope.name.as_str(), scope.version.as_str()))
                .unwrap_or(("", ""));
            for span in &scope_spans.spans {
                if let Err(message) = validate(span) {
                    rejections.reject(|| message);
                    continue;
                }
                accepted += 1;
                let start = nanos(span.start_time_unix_nano);
                let end = nanos(span.end_time_unix_nano).max(start);
                timestamp.append_value(start);
                end_timestamp.append_value(end);
                duration.append_value(end - start);
                hex_into(&span.trace_id, &mut hex);
                trace_id.append_value(&hex);
                hex_into(&span.span_id, &mut hex);
                span_id.append_value(&hex);
                if span.parent_span_id.iter().all(|byte| *byte == 0) {
                    parent_span_id.append_null();
                } else {
                    hex_into(&span.parent_span_id, &mut hex);
                    parent_span_id.append_value(&hex);
                }
                append_optional(&mut trace_state, &span.trace_state);
                service_name.append_value(&service);
                span_name.append_value(&span.name);
                span_kind.append_value(span_kind_name(span.kind));
                let (code, message) = span
                    .status
                    .as_ref()
                    .map(|status| (status.code, status.message.as_str()))
                    .unwrap_or((0, ""));
                status_code.append_value(status_code_name(code));
                append_optional(&mut status_message, message);
                append_optional(&mut scope_name, scope);
                append_optional(&mut scope_version, version);
                span_attributes.append(&span.attributes);
                resource_attributes.append_prepared(&resource_prepared);

                for event in &span.events {
                    event_time.append_value(nanos(event.time_unix_nano));
                    event_name.append_value(&event.name);
                    event_attributes.append(&event.attributes);
                }
                event_offsets.push(offset_after(&event_offsets, span.events.len()));

                for link in &span.links {
                    hex_into(&link.trace_id, &mut hex);
                    link_trace_id.append_value(&hex);
                    hex_into(&link.span_id, &mut hex);
                    link_span_id.append_value(&hex);
                    append_optional(&mut link_trace_state, &link.trace_state);
                    link_attributes.append(&link.attributes);
                }
                link_offsets.push(offset_after(&link_offsets, span.links.len()));
            }
        }
    }

    let (event_attr_map, event_attr_types) = event_attributes.finish();
    let events = StructArray::new(
        schema::event_fields(),
        vec![
            Arc::new(event_time.finish()) as ArrayRef,
            Arc::new(event_name.finish()),
            event_attr_map,
            event_attr_types,
        ],
        None,
    );
    let events = ListArray::new(
        schema::event_item_field(),
        OffsetBuffer::new(event_offsets.into()),
        Arc::new(events),
        None,
    );
    let (link_attr_map, link_attr_types) = link_attributes.finish();
    let links = StructArray::new(
        schema::link_fields(),
        vec![
            Arc::new(link_trace_id.finish()) as ArrayRef,
            Arc::new(link_span_id.finish()),
            Arc::new(link_trace_state.finish()),
            link_attr_map,
            link_attr_types,
        ],
        None,
    );
    let links = ListArray::new(
        schema::link_item_field(),
        OffsetBuffer::new(link_offsets.into()),
        Arc::new(links),
        None,
    );
    let (span_attr_map, span_attr_types) = span_attributes.finish();
    let (resource_attr_map, resource_attr_types) = resource_attributes.finish();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(timestamp.finish()),
        Arc::new(end_timestamp.finish()),
        Arc::new(duration.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent_span_id.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(service_name.finish()),
        Arc::new(span_name.finish()),
        Arc::new(span_kind.finish()),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        Arc::new(scope_name.finish()),
        Arc::new(scope_version.finish()),
        span_attr_map,
        span_attr_types,
        resource_attr_map,
        resource_attr_types,
        Arc::new(events),
        Arc::new(links),
    ];
    let batch = RecordBatch::try_new(schema::spans_schema(), columns)
        .expect("span columns match the spans schema");
    Converted {
        batch,
        accepted,
        rejected: rejections.count,
        first_error: rejections.first,
    }
}

/// The next list offset after appending `added` children.
pub(crate) fn offset_after(offsets: &[i32], added: usize) -> i32 {
    let last = offsets.last().copied().unwrap_or(0);
    last + i32::try_from(added).unwrap_or(i32::MAX)
}

/// Writes the lowercase hex of `bytes` into `out` (cleared first).
pub(crate) fn hex_into(bytes: &[u8], out: &mut String) {
    out.clear();
    vispyr_common::write_hex(bytes, out);
}
