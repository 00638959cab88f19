//! The ingest pipeline between receivers and storage: converts decoded OTLP requests
//! into rows, counts what was accepted and rejected, and writes through the storage
//! engine's WAL (acknowledging only once durable).
//!
//! Connectors (span metrics, service graph) will hang off this seam.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use prost::Message;
use vispyr_common::telemetry::{IngestLabels, metrics};
use vispyr_common::{Signal, now_unix_nanos};
use vispyr_model::Converted;
use vispyr_model::profiles::{StackKey, profile_rows};
use vispyr_receivers::{
    ExportOutcome, IngestError, IngestHandler, MetricIngest, OtlpExport, OtlpRequest, ProfileIngest,
};
use vispyr_storage::{Storage, StorageError, WriteRequest};

/// Converts and stores OTLP exports.
pub struct OtlpPipeline {
    storage: Storage,
    /// Stacks known to be stored, per hour partition; see [`StackKey`].
    stored_stacks: Mutex<HashSet<StackKey>>,
}

/// Hour partitions whose stored-stack set is kept: profiles are rarely later than
/// this, and a later one only stores a stack once more.
const STACK_HOURS_KEPT: i64 = 3;

impl OtlpPipeline {
    pub fn new(storage: Storage) -> OtlpPipeline {
        OtlpPipeline {
            storage,
            stored_stacks: Mutex::new(HashSet::new()),
        }
    }

    fn remember_stacks(&self, keys: &[StackKey]) {
        if keys.is_empty() {
            return;
        }
        let mut stored = self.stored_stacks.lock().expect("stack set lock");
        stored.extend(keys.iter().copied());
        let newest = keys.iter().map(|(hour, _, _)| *hour).max().unwrap_or(0);
        if stored
            .iter()
            .any(|(hour, _, _)| *hour <= newest - STACK_HOURS_KEPT)
        {
            stored.retain(|(hour, _, _)| *hour > newest - STACK_HOURS_KEPT);
        }
    }
}

fn convert(request: &OtlpRequest, received_at: i64) -> Converted {
    match request {
        OtlpRequest::Traces(request) => vispyr_model::convert_traces(request),
        OtlpRequest::Metrics(request) => vispyr_model::convert_metrics(request, received_at),
        OtlpRequest::Logs(request) => vispyr_model::convert_logs(request, received_at),
        OtlpRequest::Profiles(_) => unreachable!("profiles take the profile path"),
    }
}

fn protobuf_of(request: &OtlpRequest) -> Vec<u8> {
    match request {
        OtlpRequest::Traces(request) => request.encode_to_vec(),
        OtlpRequest::Metrics(request) => request.encode_to_vec(),
        OtlpRequest::Logs(request) => request.encode_to_vec(),
        OtlpRequest::Profiles(request) => request.encode_to_vec(),
    }
}

#[async_trait]
impl IngestHandler for OtlpPipeline {
    async fn export(&self, export: OtlpExport) -> Result<ExportOutcome, IngestError> {
        if let OtlpRequest::Profiles(request) = &export.request {
            let converted = vispyr_model::convert_otlp_profiles(request);
            let ingest = ProfileIngest {
                profiles: converted.profiles,
                receiver: export.receiver,
            };
            self.ingest_profiles(ingest).await?;
            return Ok(ExportOutcome {
                rejected: converted.rejected,
                error_message: converted.first_error,
            });
        }
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
        store(&self.storage, write, &labels).await?;
        metrics()
            .ingest_accepted_items
            .get_or_create(&labels)
            .inc_by(converted.accepted);
        Ok(outcome)
    }

    async fn ingest_profiles(&self, ingest: ProfileIngest) -> Result<ExportOutcome, IngestError> {
        let labels = IngestLabels {
            signal: Signal::Profiles.as_str(),
            receiver: ingest.receiver,
        };
        let rows = {
            let stored = self.stored_stacks.lock().expect("stack set lock");
            profile_rows(&ingest.profiles, |key| stored.contains(&key))
        };
        let samples = rows.samples.num_rows() as u64;
        // Stacks first: a sample row must never be durable without its stack.
        for (signal, batch) in [
            (Signal::ProfileStacks, rows.stacks),
            (Signal::Profiles, rows.samples),
        ] {
            if batch.num_rows() == 0 {
                continue;
            }
            self.store_rows(signal, batch, &labels).await?;
        }
        self.remember_stacks(&rows.new_stacks);
        metrics()
            .ingest_accepted_items
            .get_or_create(&labels)
            .inc_by(samples);
        Ok(ExportOutcome::default())
    }

    async fn ingest_metrics(&self, ingest: MetricIngest) -> Result<(), IngestError> {
        let labels = IngestLabels {
            signal: Signal::Metrics.as_str(),
            receiver: ingest.receiver,
        };
        self.store_rows(Signal::Metrics, ingest.batch, &labels)
            .await?;
        metrics()
            .ingest_accepted_items
            .get_or_create(&labels)
            .inc_by(ingest.samples);
        Ok(())
    }
}

impl OtlpPipeline {
    /// Logs `batch` as Arrow IPC and writes it.
    async fn store_rows(
        &self,
        signal: Signal,
        batch: arrow::record_batch::RecordBatch,
        labels: &IngestLabels,
    ) -> Result<(), IngestError> {
        let write = WriteRequest {
            signal,
            received_at: now_unix_nanos(),
            payload: vispyr_model::ipc::encode(&batch).into(),
            batch,
        };
        store(&self.storage, write, labels).await
    }
}

/// Writes through the storage engine, mapping its errors to what receivers answer.
async fn store(
    storage: &Storage,
    write: WriteRequest,
    labels: &IngestLabels,
) -> Result<(), IngestError> {
    let signal = write.signal;
    match storage.write(write).await {
        Ok(()) => Ok(()),
        Err(StorageError::MemoryLimit {
            used,
            limit,
            retry_after,
        }) => {
            metrics()
                .ingest_throttled_requests
                .get_or_create(labels)
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
