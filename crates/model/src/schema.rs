//! Arrow schemas of the SQL tables. Column names are a contract (see the design doc).
//!
//! Ids are lowercase hex strings; times are `Timestamp(ns, UTC)`. Attribute maps are
//! `Map<Utf8, Utf8>` holding each value's string form, so SQL can write
//! `span_attributes['http.route']`; the OTLP type of every non-string value is kept in
//! the sibling `*_attribute_types` column (a JSON object `{"key": "int", ...}`, null
//! when every value is a string), so the trace and log APIs can return typed values.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, MapBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use vispyr_common::Signal;

/// Timezone of every timestamp column.
pub const TIMEZONE: &str = "UTC";

/// `Timestamp(ns, UTC)`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(TIMEZONE.into()))
}

/// `Map<Utf8, Utf8>` exactly as [`MapBuilder`] with string builders produces it.
pub fn attributes_type() -> DataType {
    static TYPE: OnceLock<DataType> = OnceLock::new();
    TYPE.get_or_init(|| {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        builder.finish().data_type().clone()
    })
    .clone()
}

/// The fields of one span event.
pub fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("timestamp", timestamp_type(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", attributes_type(), false),
        Field::new("attribute_types", DataType::Utf8, true),
    ])
}

/// The fields of one span link.
pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, false),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("attributes", attributes_type(), false),
        Field::new("attribute_types", DataType::Utf8, true),
    ])
}

/// Item field of the `events` list.
pub fn event_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(event_fields()), false))
}

/// Item field of the `links` list.
pub fn link_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(link_fields()), false))
}

/// Schema of the `spans` table.
pub fn spans_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("timestamp", timestamp_type(), false),
                Field::new("end_timestamp", timestamp_type(), false),
                Field::new("duration_ns", DataType::Int64, false),
                Field::new("trace_id", DataType::Utf8, false),
                Field::new("span_id", DataType::Utf8, false),
                Field::new("parent_span_id", DataType::Utf8, true),
                Field::new("trace_state", DataType::Utf8, true),
                Field::new("service_name", DataType::Utf8, false),
                Field::new("span_name", DataType::Utf8, false),
                Field::new("span_kind", DataType::Utf8, false),
                Field::new("status_code", DataType::Utf8, false),
                Field::new("status_message", DataType::Utf8, true),
                Field::new("scope_name", DataType::Utf8, true),
                Field::new("scope_version", DataType::Utf8, true),
                Field::new("span_attributes", attributes_type(), false),
                Field::new("span_attribute_types", DataType::Utf8, true),
                Field::new("resource_attributes", attributes_type(), false),
                Field::new("resource_attribute_types", DataType::Utf8, true),
                Field::new("events", DataType::List(event_item_field()), false),
                Field::new("links", DataType::List(link_item_field()), false),
            ]))
        })
        .clone()
}

/// Schema of the `logs` table.
pub fn logs_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("timestamp", timestamp_type(), false),
                Field::new("observed_timestamp", timestamp_type(), false),
                Field::new("trace_id", DataType::Utf8, true),
                Field::new("span_id", DataType::Utf8, true),
                Field::new("severity_number", DataType::Int32, false),
                Field::new("severity_text", DataType::Utf8, true),
                Field::new("body", DataType::Utf8, true),
                Field::new("service_name", DataType::Utf8, false),
                Field::new("log_attributes", attributes_type(), false),
                Field::new("log_attribute_types", DataType::Utf8, true),
                Field::new("resource_attributes", attributes_type(), false),
                Field::new("resource_attribute_types", DataType::Utf8, true),
                Field::new("scope_name", DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Schema of the `metric_points` table.
pub fn metric_points_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("timestamp", timestamp_type(), false),
                Field::new("metric_name", DataType::Utf8, false),
                Field::new("labels", attributes_type(), false),
                Field::new("value", DataType::Float64, false),
                Field::new("metric_type", DataType::Utf8, false),
                Field::new("unit", DataType::Utf8, true),
                Field::new("service_name", DataType::Utf8, false),
                Field::new("start_timestamp", timestamp_type(), true),
                Field::new("description", DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Schema of the table that holds `signal`.
pub fn schema_for(signal: Signal) -> SchemaRef {
    match signal {
        Signal::Traces => spans_schema(),
        Signal::Metrics => metric_points_schema(),
        Signal::Logs => logs_schema(),
        Signal::Profiles => crate::profiles::profile_samples_schema(),
        Signal::ProfileStacks => crate::profiles::profile_stacks_schema(),
    }
}

/// Name of the column that holds the service of a row, in every table.
pub const SERVICE_COLUMN: &str = "service_name";
/// Name of the column that holds the time of a row, in every table.
pub const TIME_COLUMN: &str = "timestamp";
