//! Loki push: `POST /loki/api/v1/push` with a snappy-compressed protobuf
//! `logproto.PushRequest` (Promtail, Grafana Alloy's `loki.write`) or a JSON body
//! (`{"streams": [{"stream": {...}, "values": [["<ns>", "<line>", {metadata}]]}]}`,
//! optionally gzip-compressed).
//!
//! Streams become OTLP log records so every signal shares one path into storage:
//! stream labels are the resource attributes, with `service.name` taken from the
//! `service_name`, `service` or `job` label (in that order); structured metadata
//! are the record's attributes, except `trace_id` and `span_id`, which become the
//! record's trace context; a `level` (or `severity`, `detected_level`, `lvl`)
//! label or metadata entry sets the severity.
//!
//! Answers as Loki does: 204 once stored; 400 for a malformed body or invalid
//! streams (the valid streams of the request are stored, the message counts the
//! rest); 415 for another content type; 413 over the size limit; 429 with
//! `Retry-After` when the server is over its memory bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value as Json;
use vispyr_model::severity_number_of;
use vispyr_proto::loki::PushRequest;

use crate::otlp::DecodeError;
use crate::prometheus::read_snappy_body;
use crate::{IngestHandler, OtlpExport, OtlpRequest, with_retry_after};

/// Receiver name in self-telemetry.
pub const RECEIVER: &str = "loki_push";
/// Labels that name the service, in order of preference.
const SERVICE_LABELS: [&str; 3] = ["service_name", "service", "job"];
/// Labels or metadata that carry the severity, in order of preference.
const LEVEL_LABELS: [&str; 4] = ["level", "severity", "detected_level", "lvl"];

struct AppState {
    handler: Arc<dyn IngestHandler>,
    max_body: usize,
}

/// `POST /loki/api/v1/push`. `max_body` bounds the body before and after
/// decompression.
pub fn router(handler: Arc<dyn IngestHandler>, max_body: usize) -> Router {
    let state = Arc::new(AppState { handler, max_body });
    Router::new()
        .route("/loki/api/v1/push", post(push))
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

/// One stream of a push, whatever the wire format.
#[derive(Debug, Default, PartialEq)]
struct PushStream {
    labels: Vec<(String, String)>,
    entries: Vec<PushEntry>,
}

#[derive(Debug, Default, PartialEq)]
struct PushEntry {
    timestamp_ns: i64,
    line: String,
    metadata: Vec<(String, String)>,
}

/// Streams decoded from a request, and the first reason a stream was rejected.
#[derive(Debug, Default)]
struct Decoded {
    streams: Vec<PushStream>,
    rejected_streams: usize,
    rejected_entries: usize,
    first_error: Option<String>,
}

impl Decoded {
    fn reject(&mut self, entries: usize, message: String) {
        self.rejected_streams += 1;
        self.rejected_entries += entries;
        self.first_error.get_or_insert(message);
    }
}

async fn push(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let decoded = match media.as_str() {
        "application/json" => match crate::read_body(&headers, body, state.max_body).await {
            Ok(body) => decode_json(&body),
            Err(decode_error) => {
                return error(decode_error.http_status(), &decode_error.to_string());
            }
        },
        "application/x-protobuf" | "application/octet-stream" => {
            match read_snappy_body(&headers, body, state.max_body).await {
                Ok(body) => decode_protobuf(body),
                Err(decode_error) => {
                    return error(decode_error.http_status(), &decode_error.to_string());
                }
            }
        }
        _ => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!(
                    "unsupported Content-Type {content_type:?}: Loki push takes application/x-protobuf (snappy) or application/json"
                ),
            );
        }
    };
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(decode_error) => return error(decode_error.http_status(), &decode_error.to_string()),
    };
    let request = to_otlp(&decoded.streams);
    let mut stored_rejected = 0u64;
    let mut stored_error = None;
    if !request.resource_logs.is_empty() {
        let export = OtlpExport {
            request: OtlpRequest::Logs(request),
            protobuf: None,
            receiver: RECEIVER,
        };
        match state.handler.export(export).await {
            Ok(outcome) => {
                stored_rejected = outcome.rejected;
                stored_error = outcome.error_message;
            }
            Err(ingest_error) => {
                let (status, retry_after) = ingest_error.http_status();
                return with_retry_after(error(status, &ingest_error.to_string()), retry_after);
            }
        }
    }
    if decoded.rejected_streams > 0 {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "{} streams ({} entries) rejected, the rest stored; first error: {}",
                decoded.rejected_streams,
                decoded.rejected_entries,
                decoded.first_error.unwrap_or_default()
            ),
        );
    }
    if stored_rejected > 0 {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "{stored_rejected} entries rejected, the rest stored; first error: {}",
                stored_error.unwrap_or_default()
            ),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Parses and checks a stream's label set; Loki requires at least one label.
fn stream_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let labels = vispyr_scrape::parse_labels(text)
        .map_err(|e| format!("invalid stream labels {text:?}: {}", e.message))?;
    check_labels(labels)
}

fn check_labels(mut labels: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    if labels.is_empty() {
        return Err("a stream needs at least one label".to_string());
    }
    labels.sort();
    if let Some(pair) = labels.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(format!("duplicate label {:?} in a stream", pair[0].0));
    }
    Ok(labels)
}

fn decode_protobuf(body: Bytes) -> Result<Decoded, DecodeError> {
    let request = PushRequest::decode(body).map_err(|e| {
        DecodeError::Malformed(format!(
            "failed to decode protobuf logproto.PushRequest: {e}"
        ))
    })?;
    let mut decoded = Decoded::default();
    for stream in request.streams {
        let labels = match stream_labels(&stream.labels) {
            Ok(labels) => labels,
            Err(message) => {
                decoded.reject(stream.entries.len(), message);
                continue;
            }
        };
        let entries = stream
            .entries
            .into_iter()
            .map(|entry| {
                let timestamp_ns = entry
                    .timestamp
                    .map(|t| {
                        t.seconds
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i64::from(t.nanos))
                    })
                    .unwrap_or(0);
                PushEntry {
                    timestamp_ns,
                    line: entry.line,
                    metadata: entry
                        .structured_metadata
                        .into_iter()
                        .map(|pair| (pair.name, pair.value))
                        .collect(),
                }
            })
            .collect();
        decoded.streams.push(PushStream { labels, entries });
    }
    Ok(decoded)
}

fn decode_json(body: &[u8]) -> Result<Decoded, DecodeError> {
    let root: Json = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("failed to parse Loki push JSON: {e}")))?;
    let Some(streams) = root.get("streams").and_then(Json::as_array) else {
        return Err(DecodeError::Malformed(
            "Loki push JSON needs a \"streams\" array".to_string(),
        ));
    };
    let mut decoded = Decoded::default();
    for (index, stream) in streams.iter().enumerate() {
        let values = stream.get("values").and_then(Json::as_array);
        let count = values.map_or(0, Vec::len);
        match json_stream(stream) {
            Ok(stream) => decoded.streams.push(stream),
            Err(message) => decoded.reject(count, format!("stream {index}: {message}")),
        }
    }
    Ok(decoded)
}

fn json_string_map(value: &Json, what: &str) -> Result<Vec<(String, String)>, String> {
    let Some(object) = value.as_object() else {
        return Err(format!("{what} must be an object of strings"));
    };
    object
        .iter()
        .map(|(name, value)| match value {
            Json::String(text) => Ok((name.clone(), text.clone())),
            other => Err(format!("{what} {name:?} must be a string, got {other}")),
        })
        .collect()
}

fn json_stream(stream: &Json) -> Result<PushStream, String> {
    let labels = json_string_map(
        stream.get("stream").unwrap_or(&Json::Null),
        "\"stream\" label",
    )?;
    let labels = check_labels(labels)?;
    let Some(values) = stream.get("values").and_then(Json::as_array) else {
        return Err("\"values\" must be an array of [timestamp, line] pairs".to_string());
    };
    let mut entries = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let entry = json_entry(value).map_err(|message| format!("value {index}: {message}"))?;
        entries.push(entry);
    }
    Ok(PushStream { labels, entries })
}

fn json_entry(value: &Json) -> Result<PushEntry, String> {
    let Some(parts) = value.as_array().filter(|p| (2..=3).contains(&p.len())) else {
        return Err(
            "an entry is [\"<unix nanoseconds>\", \"<line>\"] or [\"<ns>\", \"<line>\", {metadata}]"
                .to_string(),
        );
    };
    let timestamp_ns = match &parts[0] {
        Json::String(text) => text.parse::<i64>().ok(),
        Json::Number(number) => number.as_i64(),
        _ => None,
    }
    .ok_or_else(|| format!("timestamp {} is not a Unix time in nanoseconds", parts[0]))?;
    let Json::String(line) = &parts[1] else {
        return Err(format!("line must be a string, got {}", parts[1]));
    };
    let metadata = match parts.get(2) {
        Some(value) => json_string_map(value, "structured metadata")?,
        None => Vec::new(),
    };
    Ok(PushEntry {
        timestamp_ns,
        line: line.clone(),
        metadata,
    })
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        key_strindex: 0,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    })
}

/// Parses a hex id of `bytes` bytes; anything else is kept as an attribute.
fn hex_id(text: &str, bytes: usize) -> Option<Vec<u8>> {
    (text.len() == bytes * 2)
        .then(|| hex::decode(text).ok())
        .flatten()
}

fn to_otlp(streams: &[PushStream]) -> ExportLogsServiceRequest {
    let resource_logs = streams
        .iter()
        .map(|stream| {
            let mut attributes: Vec<KeyValue> = stream
                .labels
                .iter()
                .map(|(name, value)| string_attribute(name, value))
                .collect();
            if let Some(service) = lookup(&stream.labels, &SERVICE_LABELS) {
                attributes.push(string_attribute("service.name", service));
            }
            let stream_level = lookup(&stream.labels, &LEVEL_LABELS);
            let log_records = stream
                .entries
                .iter()
                .map(|entry| to_record(entry, stream_level))
                .collect();
            ResourceLogs {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..Default::default()
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

fn to_record(entry: &PushEntry, stream_level: Option<&str>) -> LogRecord {
    let mut record = LogRecord {
        time_unix_nano: u64::try_from(entry.timestamp_ns).unwrap_or(0),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(entry.line.clone())),
        }),
        ..Default::default()
    };
    let mut named: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in &entry.metadata {
        let id = match name.as_str() {
            "trace_id" | "traceID" | "traceid" => hex_id(value, 16).map(|id| (true, id)),
            "span_id" | "spanID" | "spanid" => hex_id(value, 8).map(|id| (false, id)),
            _ => None,
        };
        match id {
            Some((true, id)) => record.trace_id = id,
            Some((false, id)) => record.span_id = id,
            None => {
                named.insert(name, value);
                record.attributes.push(string_attribute(name, value));
            }
        }
    }
    let level = LEVEL_LABELS
        .iter()
        .find_map(|name| named.get(name).copied())
        .or(stream_level);
    if let Some(level) = level {
        record.severity_text = level.to_string();
        record.severity_number = severity_number_of(level).unwrap_or(0);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_streams_entries_and_metadata() {
        let body = br#"{"streams":[{"stream":{"job":"api","env":"prod"},"values":[
            ["1700000000000000001","hello",{"trace_id":"0102030405060708090a0b0c0d0e0f10","user":"ann"}],
            ["1700000000000000002","world"]]}]}"#;
        let decoded = decode_json(body).unwrap();
        assert_eq!(decoded.rejected_streams, 0);
        let stream = &decoded.streams[0];
        assert_eq!(
            stream.labels,
            vec![("env".into(), "prod".into()), ("job".into(), "api".into())]
        );
        assert_eq!(stream.entries[0].timestamp_ns, 1_700_000_000_000_000_001);
        let request = to_otlp(&decoded.streams);
        let resource = request.resource_logs[0].resource.as_ref().unwrap();
        assert!(
            resource
                .attributes
                .iter()
                .any(|kv| kv.key == "service.name")
        );
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.attributes.len(), 1, "trace_id left the attributes");
    }

    #[test]
    fn bad_streams_are_rejected_with_a_reason() {
        let body = br#"{"streams":[{"stream":{},"values":[["1","x"]]},
            {"stream":{"a":"b"},"values":[["soon","x"]]},
            {"stream":{"a":"b"},"values":[["1","ok"]]}]}"#;
        let decoded = decode_json(body).unwrap();
        assert_eq!(decoded.rejected_streams, 2);
        assert_eq!(decoded.streams.len(), 1);
        assert!(decoded.first_error.unwrap().contains("at least one label"));
        assert!(decode_json(b"{\"streams\": 3}").is_err());
        assert!(decode_json(b"not json").is_err());
    }

    #[test]
    fn protobuf_labels_are_parsed() {
        let request = PushRequest {
            streams: vec![vispyr_proto::loki::Stream {
                labels: r#"{service="shop", level="warn"}"#.to_string(),
                entries: vec![vispyr_proto::loki::Entry {
                    timestamp: Some(vispyr_proto::loki::Timestamp {
                        seconds: 2,
                        nanos: 5,
                    }),
                    line: "x".to_string(),
                    structured_metadata: vec![],
                }],
                hash: 0,
            }],
        };
        let decoded = decode_protobuf(Bytes::from(request.encode_to_vec())).unwrap();
        assert_eq!(decoded.streams[0].entries[0].timestamp_ns, 2_000_000_005);
        let otlp = to_otlp(&decoded.streams);
        let record = &otlp.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.severity_text, "warn");
        assert_eq!(record.severity_number, 13);
        let bad = PushRequest {
            streams: vec![vispyr_proto::loki::Stream {
                labels: "{service=shop}".to_string(),
                entries: vec![],
                hash: 0,
            }],
        };
        let decoded = decode_protobuf(Bytes::from(bad.encode_to_vec())).unwrap();
        assert_eq!(decoded.rejected_streams, 1);
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_json(&bytes);
            let _ = decode_protobuf(Bytes::from(bytes));
        }
    }
}
