//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, `/v1development/profiles`
//! with protobuf or JSON
//! bodies, optionally gzip-compressed.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use vispyr_common::Signal;

use super::decode::{DecodeError, decode_json, decode_protobuf};
use super::response::ExportResponse;
use crate::read_body;
use crate::{ExportOutcome, IngestError, IngestHandler, OtlpExport};

/// Receiver name in self-telemetry.
pub const RECEIVER: &str = "otlp_http";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

struct AppState {
    handler: Arc<dyn IngestHandler>,
    max_body: usize,
}

/// The OTLP/HTTP router. `max_body` bounds the body before and after decompression.
pub fn router(handler: Arc<dyn IngestHandler>, max_body: usize) -> Router {
    let state = Arc::new(AppState { handler, max_body });
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .route("/v1development/profiles", post(profiles))
        .with_state(state)
}

async fn traces(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Signal::Traces, &headers, body).await
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Signal::Metrics, &headers, body).await
}

async fn logs(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Signal::Logs, &headers, body).await
}

async fn profiles(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&state, Signal::Profiles, &headers, body).await
}

fn format_of(headers: &HeaderMap) -> Result<Format, String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("missing Content-Type: use application/x-protobuf or application/json".into());
    };
    let text = value.to_str().unwrap_or("");
    let media_type = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Format::Protobuf),
        "application/json" => Ok(Format::Json),
        _ => Err(format!(
            "unsupported Content-Type {text:?}: use application/x-protobuf or application/json"
        )),
    }
}

async fn handle(state: &AppState, signal: Signal, headers: &HeaderMap, body: Body) -> Response {
    let format = match format_of(headers) {
        Ok(format) => format,
        Err(message) => {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Format::Protobuf,
                &message,
            );
        }
    };
    let bytes = match read_body(headers, body, state.max_body).await {
        Ok(bytes) => bytes,
        Err(error) => return decode_error_response(&error, format),
    };
    let decoded = match format {
        Format::Protobuf => decode_protobuf(signal, &bytes),
        Format::Json => decode_json(signal, &bytes),
    };
    let request = match decoded {
        Ok(request) => request,
        Err(error) => return decode_error_response(&error, format),
    };
    let export = OtlpExport {
        request,
        protobuf: (format == Format::Protobuf).then_some(bytes),
        receiver: RECEIVER,
    };
    match state.handler.export(export).await {
        Ok(outcome) => success_response(signal, format, &outcome),
        Err(IngestError::Throttled {
            message,
            retry_after,
        }) => {
            let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, format, &message);
            insert_retry_after(&mut response, retry_after.as_secs().max(1));
            response
        }
        Err(IngestError::Unavailable(message)) => {
            let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, format, &message);
            insert_retry_after(&mut response, 1);
            response
        }
        Err(IngestError::Internal(message)) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, format, &message)
        }
    }
}

fn insert_retry_after(response: &mut Response, seconds: u64) {
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

fn decode_error_response(error: &DecodeError, format: Format) -> Response {
    let status = error.http_status();
    error_response(status, format, &error.to_string())
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

fn grpc_code_for(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST => 3,          // INVALID_ARGUMENT
        StatusCode::TOO_MANY_REQUESTS => 8,    // RESOURCE_EXHAUSTED
        StatusCode::PAYLOAD_TOO_LARGE => 8,    // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
        _ => 13, // INTERNAL
    }
}

fn error_response(status: StatusCode, format: Format, message: &str) -> Response {
    let body = RpcStatus {
        code: grpc_code_for(status),
        message: message.to_string(),
    };
    let bytes = match format {
        Format::Protobuf => body.encode_to_vec(),
        Format::Json => serde_json::to_vec(&body).unwrap_or_default(),
    };
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        bytes,
    )
        .into_response()
}

fn success_response(signal: Signal, format: Format, outcome: &ExportOutcome) -> Response {
    let response = ExportResponse::new(signal, outcome);
    let bytes = match format {
        Format::Protobuf => response.to_protobuf(),
        Format::Json => response.to_json(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        bytes,
    )
        .into_response()
}
