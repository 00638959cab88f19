//! Protocol receivers: they decode and validate requests and hand them to an
//! [`IngestHandler`]; they never touch storage.
//!
//! ```text
//!  OTLP/gRPC :4317 ─┐
//!                   ├─ decode (protobuf | JSON, gzip | zstd, size limits) ─▶ IngestHandler::export
//!  OTLP/HTTP :4318 ─┘                                                        │
//!                     ◀─ OTLP response (partial success) / error status ─────┘
//! ```
//!
//! Errors follow the OTLP specification: malformed input is 400 / INVALID_ARGUMENT
//! with a message that says what was wrong, an unsupported media type 415, a body
//! over the limit 413, and a full server 429 / RESOURCE_EXHAUSTED with a retry hint.

pub mod loki;
pub mod otlp;
pub mod prometheus;
pub mod pyroscope;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use vispyr_common::Signal;
use vispyr_model::profiles::NormalizedProfile;

/// A decoded OTLP export request of one signal.
#[derive(Debug, Clone)]
pub enum OtlpRequest {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    Profiles(ExportProfilesServiceRequest),
}

impl OtlpRequest {
    pub fn signal(&self) -> Signal {
        match self {
            OtlpRequest::Traces(_) => Signal::Traces,
            OtlpRequest::Metrics(_) => Signal::Metrics,
            OtlpRequest::Logs(_) => Signal::Logs,
            OtlpRequest::Profiles(_) => Signal::Profiles,
        }
    }
}

/// One export handed to the handler.
#[derive(Debug, Clone)]
pub struct OtlpExport {
    pub request: OtlpRequest,
    /// The request as protobuf bytes when it arrived that way (saves re-encoding).
    pub protobuf: Option<Bytes>,
    /// Which receiver got it, for self-telemetry (`otlp_grpc`, `otlp_http`).
    pub receiver: &'static str,
}

/// What the handler did with an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Items rejected as invalid; the rest were stored.
    pub rejected: u64,
    /// Why, when some were rejected.
    pub error_message: Option<String>,
}

/// Why the handler could not take an export. Invalid items are not errors: they are
/// reported through [`ExportOutcome`] (OTLP partial success).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Over a memory or rate bound; the client should retry after `retry_after`.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
    /// The server cannot take writes right now (shutting down, storage failing).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure.
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    /// The HTTP status for this error and, when the client should retry, after how
    /// many seconds (`Retry-After`).
    pub fn http_status(&self) -> (http::StatusCode, Option<u64>) {
        match self {
            IngestError::Throttled { retry_after, .. } => (
                http::StatusCode::TOO_MANY_REQUESTS,
                Some(retry_after.as_secs().max(1)),
            ),
            IngestError::Unavailable(_) => (http::StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            IngestError::Internal(_) => (http::StatusCode::INTERNAL_SERVER_ERROR, None),
        }
    }
}

/// Receives decoded exports; implemented by the pipeline, and by dummies in tests.
#[async_trait]
pub trait IngestHandler: Send + Sync + 'static {
    async fn export(&self, export: OtlpExport) -> Result<ExportOutcome, IngestError>;

    /// Stores profiles, already normalised by the receiver (Pyroscope, OTLP).
    async fn ingest_profiles(&self, ingest: ProfileIngest) -> Result<ExportOutcome, IngestError>;

    /// Stores metric points built by a non-OTLP receiver (remote write, scraping).
    async fn ingest_metrics(&self, ingest: MetricIngest) -> Result<(), IngestError>;
}

/// Metric points handed to the handler as rows of the `metric_points` table.
#[derive(Debug, Clone)]
pub struct MetricIngest {
    pub batch: arrow::record_batch::RecordBatch,
    /// Samples in `batch`, for self-telemetry.
    pub samples: u64,
    /// Which receiver got them, for self-telemetry.
    pub receiver: &'static str,
}

/// Profiles handed to the handler, from any profile receiver.
#[derive(Debug, Clone)]
pub struct ProfileIngest {
    pub profiles: Vec<NormalizedProfile>,
    /// Which receiver got them, for self-telemetry.
    pub receiver: &'static str,
}

/// Reads a request body of at most `limit` bytes and undoes its
/// `Content-Encoding` (gzip, zstd), again refusing more than `limit` bytes.
pub(crate) async fn read_body(
    headers: &http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, otlp::DecodeError> {
    use http_body_util::{BodyExt, Limited};
    use otlp::DecodeError;
    let collected = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                DecodeError::TooLarge { limit }
            } else {
                DecodeError::Malformed(format!("failed to read request body: {error}"))
            }
        })?
        .to_bytes();
    let encoding = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(collected),
        "gzip" | "x-gzip" => otlp::gunzip_limited(&collected, limit),
        "zstd" => otlp::unzstd_limited(&collected, limit),
        other => Err(DecodeError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding {other:?}: use gzip, zstd or none"
        ))),
    }
}

/// Sets `Retry-After` on `response` when `seconds` is given.
pub(crate) fn with_retry_after(
    mut response: axum::response::Response,
    seconds: Option<u64>,
) -> axum::response::Response {
    if let Some(seconds) = seconds
        && let Ok(value) = http::HeaderValue::from_str(&seconds.to_string())
    {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}
