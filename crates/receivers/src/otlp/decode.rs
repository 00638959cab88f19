//! Body decoding shared by the OTLP receivers.

use std::io::Read;

use bytes::Bytes;
use prost::Message;
use vispyr_common::Signal;

use crate::OtlpRequest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{0}")]
    Malformed(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
}

impl DecodeError {
    /// The HTTP status every receiver answers this error with.
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            DecodeError::Malformed(_) => http::StatusCode::BAD_REQUEST,
            DecodeError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            DecodeError::UnsupportedMediaType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

fn request_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "ExportTraceServiceRequest",
        Signal::Metrics => "ExportMetricsServiceRequest",
        Signal::Logs => "ExportLogsServiceRequest",
        Signal::Profiles | Signal::ProfileStacks => "ExportProfilesServiceRequest",
    }
}

/// Decodes a protobuf export request of `signal`.
pub fn decode_protobuf(signal: Signal, body: &Bytes) -> Result<OtlpRequest, DecodeError> {
    let malformed = |error: prost::DecodeError| {
        DecodeError::Malformed(format!(
            "failed to decode protobuf {}: {error}",
            request_name(signal)
        ))
    };
    Ok(match signal {
        Signal::Traces => {
            OtlpRequest::Traces(ExportTraceServiceRequest::decode(body.clone()).map_err(malformed)?)
        }
        Signal::Metrics => OtlpRequest::Metrics(
            ExportMetricsServiceRequest::decode(body.clone()).map_err(malformed)?,
        ),
        Signal::Logs => {
            OtlpRequest::Logs(ExportLogsServiceRequest::decode(body.clone()).map_err(malformed)?)
        }
        Signal::Profiles | Signal::ProfileStacks => OtlpRequest::Profiles(
            ExportProfilesServiceRequest::decode(body.clone()).map_err(malformed)?,
        ),
    })
}

/// Decodes an OTLP/JSON export request of `signal`.
pub fn decode_json(signal: Signal, body: &[u8]) -> Result<OtlpRequest, DecodeError> {
    let malformed = |error: serde_json::Error| {
        DecodeError::Malformed(format!(
            "failed to decode JSON {}: {error}",
            request_name(signal)
        ))
    };
    Ok(match signal {
        Signal::Traces => OtlpRequest::Traces(serde_json::from_slice(body).map_err(malformed)?),
        Signal::Metrics => OtlpRequest::Metrics(serde_json::from_slice(body).map_err(malformed)?),
        Signal::Logs => OtlpRequest::Logs(serde_json::from_slice(body).map_err(malformed)?),
        Signal::Profiles | Signal::ProfileStacks => {
            OtlpRequest::Profiles(serde_json::from_slice(body).map_err(malformed)?)
        }
    })
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes (a gzip bomb
/// stops at the limit instead of filling memory).
pub fn gunzip_limited(body: &[u8], limit: usize) -> Result<Bytes, DecodeError> {
    inflate_limited(
        flate2::read::MultiGzDecoder::new(body),
        body.len(),
        limit,
        "gzip",
    )
}

/// Inflates a zstd body with the same limit.
pub fn unzstd_limited(body: &[u8], limit: usize) -> Result<Bytes, DecodeError> {
    let decoder = zstd::stream::read::Decoder::new(body)
        .map_err(|error| DecodeError::Malformed(format!("invalid zstd body: {error}")))?;
    inflate_limited(decoder, body.len(), limit, "zstd")
}

fn inflate_limited(
    decoder: impl Read,
    compressed_len: usize,
    limit: usize,
    name: &str,
) -> Result<Bytes, DecodeError> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(limit));
    let read = decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| DecodeError::Malformed(format!("invalid {name} body: {error}")))?;
    if read > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            gunzip_limited(&bomb, 1024 * 1024),
            Err(DecodeError::TooLarge { limit: 1024 * 1024 })
        );
        assert_eq!(
            gunzip_limited(&bomb, 10 * 1024 * 1024).unwrap().len(),
            10 * 1024 * 1024
        );
    }

    #[test]
    fn truncated_gzip_is_malformed() {
        let body = gzip(b"hello world hello world");
        let error = gunzip_limited(&body[..body.len() / 2], 1024).unwrap_err();
        assert!(matches!(error, DecodeError::Malformed(message) if message.contains("gzip")));
    }

    #[test]
    fn garbage_protobuf_names_the_message() {
        let error =
            decode_protobuf(Signal::Traces, &Bytes::from_static(b"\xff\xff\xff")).unwrap_err();
        assert!(
            error.to_string().contains("ExportTraceServiceRequest"),
            "{error}"
        );
    }

    #[test]
    fn json_ids_are_hex_and_ints_may_be_strings() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"x","kind":2,"startTimeUnixNano":"1544712660000000000",
            "endTimeUnixNano":"1544712661000000000",
            "attributes":[{"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;
        let OtlpRequest::Traces(request) = decode_json(Signal::Traces, body).unwrap() else {
            panic!("wrong signal")
        };
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.kind, 2);
    }
}
