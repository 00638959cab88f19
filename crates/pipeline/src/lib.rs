//! The ingest pipeline between receivers and storage: converts decoded OTLP requests
//! into rows, counts what was accepted and rejected, and writes through the storage
//! engine's WAL (acknowledging only once durable).
//!
//! Stored traces feed the connectors (span metrics, service graph; see
//! [`connectors`]), whose series come back through [`OtlpPipeline::flush_connectors`].

pub mod connectors;
mod delta;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use vispyr_common::telemetry::{IngestLabels, metrics};
use vispyr_common::{Signal, now_unix_nanos};
use vispyr_model::profiles::{StackKey, profile_rows};
use vispyr_model::{Converted, ExemplarStore, MetadataStore};
use vispyr_receivers::{
    ExportOutcome, IngestError, IngestHandler, MetricIngest, OtlpExport, OtlpRequest, ProfileIngest,
};
use vispyr_storage::{Storage, StorageError, WriteRequest};

/// Converts and stores OTLP exports.
pub struct OtlpPipeline {
    storage: Storage,
    /// Stacks known to be stored, per hour partition; see [`StackKey`].
    stored_stacks: Mutex<HashSet<StackKey>>,
    connectors: Option<connectors::Connectors>,
    delta: delta::DeltaToCumulative,
    metadata: Arc<MetadataStore>,
    exemplars: Arc<ExemplarStore>,
}

/// Receiver name of connector series in self-telemetry.
const RECEIVER_CONNECTORS: &str = "connectors";

/// Hour partitions whose stored-stack set is kept: profiles are rarely later than
/// this, and a later one only stores a stack once more.
const STACK_HOURS_KEPT: i64 = 3;

impl OtlpPipeline {
    pub fn new(storage: Storage) -> OtlpPipeline {
        OtlpPipeline {
            storage,
            stored_stacks: Mutex::new(HashSet::new()),
            connectors: None,
            delta: delta::DeltaToCumulative::default(),
            metadata: Arc::new(MetadataStore::default()),
            exemplars: Arc::new(ExemplarStore::default()),
        }
    }

    /// Runs `connectors` on stored traces; their series are typed through
    /// `metadata` and their exemplars kept in `exemplars`.
    pub fn with_connectors(
        mut self,
        connectors: Option<connectors::Connectors>,
        metadata: Arc<MetadataStore>,
        exemplars: Arc<ExemplarStore>,
    ) -> OtlpPipeline {
        if connectors.is_some() {
            connectors::register_metadata(&metadata);
        }
        self.connectors = connectors;
        self.metadata = metadata;
        self.exemplars = exemplars;
        self
    }

    /// How often [`Self::flush_connectors`] should run, when connectors run.
    pub fn connector_flush_interval(&self) -> Option<std::time::Duration> {
        self.connectors
            .as_ref()
            .map(connectors::Connectors::flush_interval)
    }

    /// Writes the connectors' current series (every active one at `now_ms`).
    pub async fn flush_connectors(&self, now_ms: i64) -> Result<(), IngestError> {
        let Some(connectors) = &self.connectors else {
            return Ok(());
        };
        let converted = connectors.collect(now_ms, &self.metadata, &self.exemplars);
        if converted.rejected > 0 {
            tracing::warn!(
                rejected = converted.rejected,
                error = converted.first_error.as_deref().unwrap_or(""),
                "connector series rejected"
            );
        }
        if converted.batch.num_rows() == 0 {
            return Ok(());
        }
        self.ingest_metrics(MetricIngest {
            batch: converted.batch,
            samples: converted.accepted,
            receiver: RECEIVER_CONNECTORS,
        })
        .await
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

impl OtlpPipeline {
    /// Stores an export whose delta metrics are already cumulative.
    async fn export_converted(&self, export: OtlpExport) -> Result<ExportOutcome, IngestError> {
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
        if let (Some(connectors), OtlpRequest::Traces(request)) =
            (&self.connectors, &export.request)
        {
            connectors.consume(request, received_at.div_euclid(1_000_000));
        }
        Ok(outcome)
    }
}

#[async_trait]
impl IngestHandler for OtlpPipeline {
    async fn export(&self, mut export: OtlpExport) -> Result<ExportOutcome, IngestError> {
        let mut applied = None;
        if let OtlpRequest::Metrics(request) = &mut export.request {
            let now = u64::try_from(now_unix_nanos()).unwrap_or(0);
            applied = self.delta.apply(request, now);
            if applied.is_some() {
                // The WAL must hold what is stored: re-encode the rewritten request.
                export.protobuf = None;
            }
        }
        let result = self.export_converted(export).await;
        if let (Err(_), Some(applied)) = (&result, applied) {
            self.delta.undo(applied);
        }
        result
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
