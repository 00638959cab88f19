//! OTLP export responses, shared by the gRPC and HTTP receivers.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::profiles::v1development::{
    ExportProfilesPartialSuccess, ExportProfilesServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use vispyr_common::Signal;

use crate::ExportOutcome;

/// The response to one export, with partial success filled in when items were
/// rejected (and left out otherwise, as the OTLP spec asks).
pub(crate) enum ExportResponse {
    Traces(ExportTraceServiceResponse),
    Metrics(ExportMetricsServiceResponse),
    Logs(ExportLogsServiceResponse),
    Profiles(ExportProfilesServiceResponse),
}

impl ExportResponse {
    pub fn new(signal: Signal, outcome: &ExportOutcome) -> ExportResponse {
        let rejected = i64::try_from(outcome.rejected).unwrap_or(i64::MAX);
        let message = outcome.error_message.clone().unwrap_or_default();
        let partial = outcome.rejected > 0 || !message.is_empty();
        match signal {
            Signal::Traces => ExportResponse::Traces(ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            }),
            Signal::Metrics => ExportResponse::Metrics(ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            }),
            Signal::Logs => ExportResponse::Logs(ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            }),
            Signal::Profiles | Signal::ProfileStacks => {
                ExportResponse::Profiles(ExportProfilesServiceResponse {
                    partial_success: partial.then_some(ExportProfilesPartialSuccess {
                        rejected_profiles: rejected,
                        error_message: message,
                    }),
                })
            }
        }
    }

    pub fn to_protobuf(&self) -> Vec<u8> {
        match self {
            ExportResponse::Traces(response) => response.encode_to_vec(),
            ExportResponse::Metrics(response) => response.encode_to_vec(),
            ExportResponse::Logs(response) => response.encode_to_vec(),
            ExportResponse::Profiles(response) => response.encode_to_vec(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let encoded = match self {
            ExportResponse::Traces(response) => serde_json::to_vec(response),
            ExportResponse::Metrics(response) => serde_json::to_vec(response),
            ExportResponse::Logs(response) => serde_json::to_vec(response),
            ExportResponse::Profiles(response) => serde_json::to_vec(response),
        };
        encoded.unwrap_or_else(|_| b"{}".to_vec())
    }
}
