//! `POST /push.v1.PusherService/Push` over the Connect protocol (unary; protobuf as
//! `application/proto`, JSON as `application/json`), as Grafana Alloy's
//! `pyroscope.write` and the newer SDKs send. Each series carries its labels
//! (`__name__` is the profile name, `service_name` the service) and pprof profiles.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prost::Message;
use serde::Deserialize;
use vispyr_common::now_unix_nanos;
use vispyr_model::profiles::NormalizedProfile;
use vispyr_proto::pyroscope::{PushRequest, PushResponse};

use super::{AppState, RECEIVER_PUSH, pprof, with_retry_after};
use crate::{IngestError, ProfileIngest};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    Proto,
    Json,
}

/// A Connect error: `{"code": "invalid_argument", "message": "..."}`.
fn connect_error(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_argument",
        StatusCode::TOO_MANY_REQUESTS => "resource_exhausted",
        StatusCode::PAYLOAD_TOO_LARGE => "resource_exhausted",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unimplemented",
        _ => "internal",
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "code": code, "message": message }).to_string(),
    )
        .into_response()
}

pub(super) async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let codec = match content_type.split(';').next().unwrap_or("").trim() {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => Codec::Proto,
        "application/json" => Codec::Json,
        other => {
            return connect_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!(
                    "unsupported Content-Type {other:?}: use application/proto or application/json"
                ),
            );
        }
    };
    let body = match crate::read_body(&headers, body, state.max_body).await {
        Ok(body) => body,
        Err(error) => {
            let status = error.http_status();
            return connect_error(status, &error.to_string());
        }
    };
    let request = match codec {
        Codec::Proto => PushRequest::decode(body)
            .map_err(|error| format!("invalid push.v1.PushRequest: {error}")),
        Codec::Json => json_request(&body),
    };
    let profiles = match request.and_then(|request| convert(&request, state.max_body)) {
        Ok(profiles) => profiles,
        Err(message) => return connect_error(StatusCode::BAD_REQUEST, &message),
    };
    let ingest = ProfileIngest {
        profiles,
        receiver: RECEIVER_PUSH,
    };
    match state.handler.ingest_profiles(ingest).await {
        Ok(_) => match codec {
            Codec::Proto => (
                [(header::CONTENT_TYPE, "application/proto")],
                PushResponse {}.encode_to_vec(),
            )
                .into_response(),
            Codec::Json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        },
        Err(error) => {
            let (status, retry) = error.http_status();
            let message = match &error {
                IngestError::Throttled { message, .. } => message.clone(),
                other => other.to_string(),
            };
            with_retry_after(connect_error(status, &message), retry)
        }
    }
}

#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<JsonLabel>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonLabel {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct JsonSample {
    #[serde(rename = "rawProfile", alias = "raw_profile")]
    raw_profile: String,
    #[serde(rename = "ID", alias = "id", default)]
    id: String,
}

fn json_request(body: &[u8]) -> Result<PushRequest, String> {
    let request: JsonRequest = serde_json::from_slice(body)
        .map_err(|e| format!("invalid push.v1.PushRequest JSON: {e}"))?;
    let mut out = PushRequest::default();
    for series in request.series {
        let mut samples = Vec::with_capacity(series.samples.len());
        for sample in series.samples {
            let raw_profile = base64::engine::general_purpose::STANDARD
                .decode(sample.raw_profile.as_bytes())
                .map_err(|e| format!("invalid rawProfile: not base64: {e}"))?;
            samples.push(vispyr_proto::pyroscope::RawSample {
                raw_profile,
                id: sample.id,
            });
        }
        out.series.push(vispyr_proto::pyroscope::RawProfileSeries {
            labels: series
                .labels
                .into_iter()
                .map(|l| vispyr_proto::pyroscope::LabelPair {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
            samples,
        });
    }
    Ok(out)
}

/// Labels that describe the upload rather than the series.
const META_LABELS: [&str; 3] = ["__name__", "__delta__", "service_name"];

fn convert(request: &PushRequest, limit: usize) -> Result<Vec<NormalizedProfile>, String> {
    let mut out = Vec::new();
    for (index, series) in request.series.iter().enumerate() {
        let label = |name: &str| {
            series
                .labels
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.value.as_str())
        };
        let service_name = label("service_name")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("series {index} has no service_name label"))?
            .to_owned();
        let labels: Vec<(String, String)> = series
            .labels
            .iter()
            .filter(|l| !META_LABELS.contains(&l.name.as_str()) && !l.name.starts_with("__"))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let now = now_unix_nanos();
        for (sample_index, sample) in series.samples.iter().enumerate() {
            let profile = pprof::decode(&sample.raw_profile, limit)
                .map_err(|e| format!("series {index} sample {sample_index}: {e}"))?;
            let context = pprof::PprofContext {
                service_name: service_name.clone(),
                labels: labels.clone(),
                name_hint: label("__name__").map(str::to_owned),
                from: now,
                until: now,
                cumulative: Vec::new(),
                only: None,
            };
            let profiles = pprof::normalize(&profile, None, &context)
                .map_err(|e| format!("series {index} sample {sample_index}: {e}"))?;
            out.extend(profiles);
        }
    }
    Ok(out)
}
