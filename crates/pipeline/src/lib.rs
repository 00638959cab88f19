//! The ingest pipeline between receivers and storage: converts decoded OTLP requests
//! into rows, counts what was accepted and rejected, and writes through the storage
//! engine's WAL (acknowledging only once durable).
//!
//! Connectors (span metrics, service graph) will hang off this seam.

use async_trait::async_trait;
use prost::Message;
use vispyr_common::now_unix_nanos;
use vispyr_common::telemetry::{IngestLabels, metrics};
use vispyr_model::Converted;
use vispyr_receivers::{ExportOutcome, IngestError, IngestHandler, OtlpExport, OtlpRequest};
use vispyr_storage::{Storage, StorageError, WriteRequest};

/// Converts and stores OTLP exports.
pub struct OtlpPipeline {
    storage: Storage,
}

impl OtlpPipeline {
    pub fn new(storage: Storage) -> OtlpPipeline {
        OtlpPipeline { storage }
    }
}

fn convert(request: &OtlpRequest, received_at: i64) -> Converted {
    match request {
        OtlpRequest::Traces(request) => vispyr_model::convert_traces(request),
        OtlpRequest::Metrics(request) => vispyr_model::convert_metrics(request, received_at),
        OtlpRequest::Logs(request) => vispyr_model::convert_logs(request, received_at),
    }
}

fn protobuf_of(request: &OtlpRequest) -> Vec<u8> {
    match request {
        OtlpRequest::Traces(request) => request.encode_to_vec(),
        OtlpRequest::Metrics(request) => request.encode_to_vec(),
        OtlpRequest::Logs(request) => request.encode_to_vec(),
    }
}

#[async_trait]
impl IngestHandler for OtlpPipeline {
    async fn export(&self, export: OtlpExport) -> Result<ExportOutcome, IngestError> {
        let signal = export.request.signal();
        let labels = IngestLabels {
            signal: signal.as_str(),
            receiver: export.receiver,
        };
        let received_at = now_unix_nanos();
        let converted = convert(&export.request, received_at);
        metrics()
            .ingest_rejected_items
            .get_or_create(&labels)
            .inc_by(converted.rejected);
        let outcome = ExportOutcome {
            rejected: converted.rejected,
            error_message: converted.first_error.clone(),
        };
        if converted.batch.num_rows() == 0 {
            return Ok(outcome);
        }
        let payload = match export.protobuf {
            Some(bytes) => bytes,
            None => protobuf_of(&export.request).into(),
        };
        let write = WriteRequest {
            signal,
            received_at,
            payload,
            batch: converted.batch,
        };
        match self.storage.write(write).await {
            Ok(()) => {
                metrics()
                    .ingest_accepted_items
                    .get_or_create(&labels)
                    .inc_by(converted.accepted);
                Ok(outcome)
            }
            Err(StorageError::MemoryLimit {
                used,
                limit,
                retry_after,
            }) => {
                metrics()
                    .ingest_throttled_requests
                    .get_or_create(&labels)
                    .inc();
                Err(IngestError::Throttled {
                    message: format!(
                        "server is over its memory bound ({used} of {limit} bytes buffered); retry later"
                    ),
                    retry_after,
                })
            }
            Err(StorageError::Closed) => Err(IngestError::Unavailable(
                "server is shutting down".to_string(),
            )),
            Err(error) => {
                tracing::error!(%error, signal = signal.as_str(), "write failed");
                Err(IngestError::Unavailable(format!("storage failed: {error}")))
            }
        }
    }
}
