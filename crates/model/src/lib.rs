//! The data model: Arrow schemas of the SQL tables (`spans`, `logs`, `metric_points`)
//! and the conversion of OTLP export requests into rows of those tables.
//!
//! ```text
//!  ExportTraceServiceRequest   ──convert_traces──▶  RecordBatch (spans schema)
//!  ExportLogsServiceRequest    ──convert_logs────▶  RecordBatch (logs schema)
//!  ExportMetricsServiceRequest ──convert_metrics─▶  RecordBatch (metric_points schema)
//! ```
//!
//! Conversion validates each item: an invalid item (a span with a malformed id, a
//! metric point without a value) is counted as rejected and named in
//! [`Converted::first_error`]; the rest of the request is kept, which is what OTLP
//! partial success means. This crate does no I/O.

mod attributes;
pub mod ipc;
mod logs;
mod metrics;
mod otlp_profiles;
pub mod profiles;
pub mod prometheus;
pub mod schema;
mod traces;

pub use attributes::{AttributeType, any_value_to_json, any_value_to_string, json_to_any_value};
pub use logs::{convert_logs, severity_name, severity_number_of};
pub use metrics::{
    ExemplarStore, FamilyMetadata, MetadataStore, PrometheusRows, StoredExemplar, convert_metrics,
    family_candidates, is_label_name, is_metric_name,
};
pub use otlp_profiles::{ConvertedProfiles, convert_otlp_profiles};
pub use schema::schema_for;
pub use traces::convert_traces;

use arrow::record_batch::RecordBatch;

/// Rows produced from one export request, with the partial-success accounting.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Accepted items as rows of the signal's table.
    pub batch: RecordBatch,
    /// Items accepted (spans, log records or data points).
    pub accepted: u64,
    /// Items rejected as invalid.
    pub rejected: u64,
    /// What was wrong with the first rejected item.
    pub first_error: Option<String>,
}

/// Rejection bookkeeping shared by the converters.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    pub count: u64,
    pub first: Option<String>,
}

impl Rejections {
    pub fn reject(&mut self, message: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(message());
        }
    }
}

/// Name used when a resource has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The `service.name` of a resource, or [`UNKNOWN_SERVICE`].
pub fn service_name_of(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let Some(resource) = resource else {
        return UNKNOWN_SERVICE.to_string();
    };
    for attribute in &resource.attributes {
        if attribute.key != "service.name" {
            continue;
        }
        if let Some(Value::StringValue(name)) =
            attribute.value.as_ref().and_then(|v| v.value.as_ref())
            && !name.is_empty()
        {
            return name.clone();
        }
    }
    UNKNOWN_SERVICE.to_string()
}
