//! Prometheus remote write 1.0: `POST /prometheus/api/v1/write` with a
//! snappy-compressed `prometheus.WriteRequest`, as Prometheus, Grafana Alloy and
//! the OpenTelemetry Collector's `prometheusremotewrite` exporter send it.
//!
//! Answers as the remote write specification says: 204 once every sample is
//! durable; 400 for a request that must not be retried (malformed, or series with
//! invalid labels — the valid series of the request are stored); 415 for another
//! protocol; 413 over the size limit; 429 with `Retry-After` when the server is over
//! its memory bound, which senders retry.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use prost::Message;
use vispyr_model::{FamilyMetadata, MetadataStore, PrometheusRows};
use vispyr_proto::prometheus::{MetricType, WriteRequest};

use crate::otlp::DecodeError;
use crate::{IngestError, IngestHandler, MetricIngest};

/// Receiver name in self-telemetry.
pub const RECEIVER_REMOTE_WRITE: &str = "prometheus_remote_write";

struct AppState {
    handler: Arc<dyn IngestHandler>,
    metadata: Arc<MetadataStore>,
    max_body: usize,
}

/// `POST /prometheus/api/v1/write` (and `/api/v1/push`, the path Mimir and Cortex
/// senders are often configured with). `max_body` bounds the body before and after
/// decompression; family metadata sent with the samples goes to `metadata`.
pub fn router(
    handler: Arc<dyn IngestHandler>,
    metadata: Arc<MetadataStore>,
    max_body: usize,
) -> Router {
    let state = Arc::new(AppState {
        handler,
        metadata,
        max_body,
    });
    Router::new()
        .route("/prometheus/api/v1/write", post(write))
        .route("/api/v1/push", post(write))
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn write(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    if let Err(message) = check_content_type(content_type) {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
    }
    let body = match read_snappy_body(&headers, body, state.max_body).await {
        Ok(body) => body,
        Err(decode_error) => {
            let status = decode_error.http_status();
            return error(status, &decode_error.to_string());
        }
    };
    let request = match WriteRequest::decode(body) {
        Ok(request) => request,
        Err(decode_error) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("failed to decode protobuf prometheus.WriteRequest: {decode_error}"),
            );
        }
    };
    for metadata in &request.metadata {
        if metadata.metric_family_name.is_empty() {
            continue;
        }
        let kind = MetricType::try_from(metadata.r#type).unwrap_or(MetricType::Unknown);
        state.metadata.update(
            &metadata.metric_family_name,
            FamilyMetadata {
                kind: kind.prometheus_name().to_string(),
                help: metadata.help.clone(),
                unit: metadata.unit.clone(),
            },
        );
    }
    let mut rows = PrometheusRows::new();
    for series in &request.timeseries {
        rows.push_series_typed(
            series
                .labels
                .iter()
                .map(|label| (label.name.as_str(), label.value.as_str())),
            series.samples.iter().map(|s| (s.timestamp, s.value)),
            &state.metadata,
        );
    }
    let converted = rows.finish();
    if converted.batch.num_rows() > 0 {
        let ingest = MetricIngest {
            batch: converted.batch,
            samples: converted.accepted,
            receiver: RECEIVER_REMOTE_WRITE,
        };
        if let Err(ingest_error) = state.handler.ingest_metrics(ingest).await {
            return ingest_error_response(&ingest_error);
        }
    }
    if converted.rejected > 0 {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "{} samples rejected, {} stored; first error: {}",
                converted.rejected,
                converted.accepted,
                converted.first_error.unwrap_or_default()
            ),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Remote write 1.0 is `application/x-protobuf`, optionally with
/// `proto=prometheus.WriteRequest`; 2.0 (`io.prometheus.write.v2.Request`) is not
/// spoken yet, and a sender that offers both falls back to 1.0 on a 415.
fn check_content_type(content_type: &str) -> Result<(), String> {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if media != "application/x-protobuf" {
        return Err(format!(
            "unsupported Content-Type {content_type:?}: remote write sends application/x-protobuf"
        ));
    }
    for parameter in parts {
        if let Some(proto) = parameter.strip_prefix("proto=")
            && proto != "prometheus.WriteRequest"
        {
            return Err(format!(
                "unsupported remote write message {proto:?}: this server accepts remote write 1.0 (prometheus.WriteRequest)"
            ));
        }
    }
    Ok(())
}

/// Reads a body of at most `limit` bytes and undoes its snappy block compression
/// (`Content-Encoding: snappy`, which remote write requires; an uncompressed body
/// is accepted too), refusing more than `limit` bytes decompressed.
pub(crate) async fn read_snappy_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, DecodeError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("snappy")
        .trim()
        .to_ascii_lowercase();
    if encoding != "snappy" {
        // gzip, zstd and identity: the shared reader handles them.
        return crate::read_body(headers, body, limit).await;
    }
    let mut plain = HeaderMap::new();
    plain.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let compressed = crate::read_body(&plain, body, limit).await?;
    unsnappy_limited(&compressed, limit)
}

/// Decompresses a snappy block of at most `limit` decompressed bytes.
pub fn unsnappy_limited(compressed: &[u8], limit: usize) -> Result<Bytes, DecodeError> {
    let length = snap::raw::decompress_len(compressed)
        .map_err(|e| DecodeError::Malformed(format!("failed to decompress snappy body: {e}")))?;
    if length > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    let plain = snap::raw::Decoder::new()
        .decompress_vec(compressed)
        .map_err(|e| DecodeError::Malformed(format!("failed to decompress snappy body: {e}")))?;
    Ok(Bytes::from(plain))
}

fn ingest_error_response(ingest_error: &IngestError) -> Response {
    let (status, retry_after) = ingest_error.http_status();
    crate::with_retry_after(error(status, &ingest_error.to_string()), retry_after)
}

/// Receiver name of scraped samples in self-telemetry.
pub const RECEIVER_SCRAPE: &str = "prometheus_scrape";

/// Where scrapes land: their metadata goes to the metadata store and their samples
/// (report series and staleness markers included) through the ingest handler.
pub struct ScrapeAppender {
    handler: Arc<dyn IngestHandler>,
    metadata: Arc<MetadataStore>,
}

impl ScrapeAppender {
    pub fn new(handler: Arc<dyn IngestHandler>, metadata: Arc<MetadataStore>) -> ScrapeAppender {
        ScrapeAppender { handler, metadata }
    }
}

impl vispyr_scrape::Appender for ScrapeAppender {
    fn append(
        &self,
        batch: vispyr_scrape::ScrapeBatch,
    ) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for family in batch.metadata {
                self.metadata.update(
                    &family.metric,
                    FamilyMetadata {
                        kind: family.kind,
                        help: family.help,
                        unit: family.unit,
                    },
                );
            }
            let mut rows = PrometheusRows::new();
            for sample in &batch.samples {
                rows.push_series_typed(
                    sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    std::iter::once((sample.t, sample.v)),
                    &self.metadata,
                );
            }
            let converted = rows.finish();
            if converted.rejected > 0 {
                tracing::warn!(
                    job = batch.job,
                    instance = batch.instance,
                    rejected = converted.rejected,
                    error = converted.first_error.as_deref().unwrap_or(""),
                    "scraped samples rejected"
                );
            }
            if converted.batch.num_rows() == 0 {
                return Ok(());
            }
            self.handler
                .ingest_metrics(MetricIngest {
                    batch: converted.batch,
                    samples: converted.accepted,
                    receiver: RECEIVER_SCRAPE,
                })
                .await
                .map_err(|error| error.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(check_content_type("application/x-protobuf").is_ok());
        assert!(check_content_type("application/x-protobuf;proto=prometheus.WriteRequest").is_ok());
        let v2 = check_content_type("application/x-protobuf;proto=io.prometheus.write.v2.Request")
            .unwrap_err();
        assert!(v2.contains("remote write 1.0"), "{v2}");
        assert!(check_content_type("application/json").is_err());
    }

    #[test]
    fn snappy_limits() {
        let body = snap::raw::Encoder::new()
            .compress_vec(&[7u8; 1000])
            .unwrap();
        assert_eq!(unsnappy_limited(&body, 1000).unwrap().len(), 1000);
        assert!(matches!(
            unsnappy_limited(&body, 999),
            Err(DecodeError::TooLarge { limit: 999 })
        ));
        assert!(matches!(
            unsnappy_limited(b"\xff\xff\xff\xff\x0fgarbage", 1 << 20),
            Err(DecodeError::Malformed(_)) | Err(DecodeError::TooLarge { .. })
        ));
    }
}
