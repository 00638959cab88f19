//! `POST /ingest`, the Pyroscope SDK protocol.
//!
//! Query parameters: `name` (`app.cpu{k=v}`), `from`/`until` (Unix seconds; ms and ns
//! are recognised by magnitude), `sampleRate` (Hz), `spyName`, `units`,
//! `aggregationType`, `format` (`pprof`, `jfr`, `folded`, `lines`). Without `format`,
//! a multipart body is pprof and anything else folded text.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use vispyr_common::now_unix_nanos;
use vispyr_common::profile::ProfileType;
use vispyr_model::profiles::{NormalizedProfile, NormalizedSample, StackTableBuilder};

use super::name::{AppName, parse_app_name};
use super::{AppState, RECEIVER_INGEST, folded, pprof, text_error, with_retry_after};
use crate::ProfileIngest;
use crate::otlp::DecodeError;

#[derive(Debug, Default, Deserialize)]
pub(super) struct IngestQuery {
    name: Option<String>,
    from: Option<String>,
    until: Option<String>,
    #[serde(rename = "sampleRate")]
    sample_rate: Option<String>,
    #[serde(rename = "spyName")]
    spy_name: Option<String>,
    units: Option<String>,
    #[serde(rename = "aggregationType")]
    aggregation_type: Option<String>,
    format: Option<String>,
}

/// The resolved parameters of one upload.
#[derive(Debug, Clone)]
pub(super) struct IngestParams {
    pub app: AppName,
    pub from: i64,
    pub until: i64,
    pub sample_rate: Option<u32>,
    pub units: Option<String>,
}

/// Unix time in seconds, milliseconds or nanoseconds → nanoseconds.
fn parse_time(value: Option<&str>, name: &str, default: i64) -> Result<i64, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let number: i64 = value
        .parse()
        .map_err(|_| format!("invalid {name}={value:?}: expected a Unix time in seconds"))?;
    Ok(match number.unsigned_abs() {
        n if n >= 100_000_000_000_000_000 => number,
        n if n >= 100_000_000_000_000 => number.saturating_mul(1_000),
        n if n >= 100_000_000_000 => number.saturating_mul(1_000_000),
        _ => number.saturating_mul(1_000_000_000),
    })
}

fn params(query: &IngestQuery) -> Result<IngestParams, String> {
    let Some(name) = query.name.as_deref() else {
        return Err("missing name parameter: pass name=<app>.<profile>{labels}".into());
    };
    let app = parse_app_name(name)?;
    let now = now_unix_nanos();
    let until = parse_time(query.until.as_deref(), "until", now)?;
    let from = parse_time(query.from.as_deref(), "from", until.min(now))?;
    let sample_rate = match query.sample_rate.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(rate) => Some(
            rate.parse::<u32>()
                .map_err(|_| format!("invalid sampleRate={rate:?}: expected a positive integer"))?,
        ),
    };
    Ok(IngestParams {
        app,
        from,
        until,
        sample_rate,
        units: query.units.clone(),
    })
}

pub(super) async fn ingest(
    State(state): State<Arc<AppState>>,
    Query(query): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // `spyName` and `aggregationType` are accepted; the profile type decides both
    // naming and aggregation.
    let _ = (&query.spy_name, &query.aggregation_type);
    let params = match params(&query) {
        Ok(params) => params,
        Err(message) => return text_error(StatusCode::BAD_REQUEST, &message),
    };
    let body = match crate::read_body(&headers, body, state.max_body).await {
        Ok(body) => body,
        Err(error) => return decode_error(&error),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let format = query
        .format
        .clone()
        .unwrap_or_else(|| default_format(&content_type).to_owned());
    let profiles = match decode(&format, &content_type, body, &params, state.max_body).await {
        Ok(profiles) => profiles,
        Err(error) => return decode_error(&error),
    };
    let ingest = ProfileIngest {
        profiles,
        receiver: RECEIVER_INGEST,
    };
    match state.handler.ingest_profiles(ingest).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => {
            let (status, retry) = error.http_status();
            with_retry_after(text_error(status, &error.to_string()), retry)
        }
    }
}

fn decode_error(error: &DecodeError) -> Response {
    let status = error.http_status();
    text_error(status, &error.to_string())
}

fn default_format(content_type: &str) -> &'static str {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "multipart/form-data" => "pprof",
        "binary/octet-stream+trie" => "trie",
        "binary/octet-stream+tree" => "tree",
        "binary/octet-stream+lines" => "lines",
        _ => "folded",
    }
}

async fn decode(
    format: &str,
    content_type: &str,
    body: Bytes,
    params: &IngestParams,
    limit: usize,
) -> Result<Vec<NormalizedProfile>, DecodeError> {
    let malformed = DecodeError::Malformed;
    match format {
        "folded" | "lines" => {
            let stacks = folded::parse(&body, format == "folded").map_err(malformed)?;
            Ok(vec![folded_profile(stacks, params)])
        }
        "pprof" => {
            let parts = if content_type.starts_with("multipart/") {
                multipart(content_type, body).await?
            } else {
                vec![("profile".to_owned(), body)]
            };
            pprof_upload(&parts, params, limit).map_err(malformed)
        }
        "jfr" => {
            let parts = if content_type.starts_with("multipart/") {
                multipart(content_type, body).await?
            } else {
                vec![("jfr".to_owned(), body)]
            };
            super::jfr::convert(&parts, params, limit).map_err(malformed)
        }
        "trie" | "tree" => Err(DecodeError::Malformed(format!(
            "format={format} (the pre-1.0 Pyroscope binary formats) is not supported: send pprof or folded stacks"
        ))),
        other => Err(DecodeError::Malformed(format!(
            "unknown format={other:?}: use pprof, jfr, folded or lines"
        ))),
    }
}

/// The parts of a multipart body, by field name.
pub(super) async fn multipart(
    content_type: &str,
    body: Bytes,
) -> Result<Vec<(String, Bytes)>, DecodeError> {
    let boundary = multer::parse_boundary(content_type).map_err(|error| {
        DecodeError::Malformed(format!("invalid multipart Content-Type: {error}"))
    })?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return Err(DecodeError::Malformed(format!(
                    "invalid multipart body: {error}"
                )));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|error| DecodeError::Malformed(format!("invalid multipart body: {error}")))?;
        parts.push((name, bytes));
    }
    Ok(parts)
}

fn part<'a>(parts: &'a [(String, Bytes)], name: &str) -> Option<&'a Bytes> {
    parts.iter().find(|(n, _)| n == name).map(|(_, b)| b)
}

/// `sample_type_config` as the Go SDK sends it: per sample type, whether it is
/// cumulative (`{"alloc_space": {"units": "bytes", "cumulative": true}}`).
#[derive(Debug, Deserialize)]
struct SampleTypeConfig {
    #[serde(default)]
    cumulative: bool,
}

/// Sample types that are cumulative when the client sends a previous profile but
/// no `sample_type_config` (Go's heap allocations, mutex and block profiles).
const DEFAULT_CUMULATIVE: [&str; 4] = ["alloc_objects", "alloc_space", "contentions", "delay"];

fn pprof_upload(
    parts: &[(String, Bytes)],
    params: &IngestParams,
    limit: usize,
) -> Result<Vec<NormalizedProfile>, String> {
    let Some(profile) = part(parts, "profile") else {
        return Err("multipart pprof upload has no \"profile\" part".into());
    };
    let profile = pprof::decode(profile, limit)?;
    let previous = match part(parts, "prev_profile") {
        Some(bytes) if !bytes.is_empty() => {
            Some(pprof::decode(bytes, limit).map_err(|e| format!("prev_profile: {e}"))?)
        }
        _ => None,
    };
    let (cumulative, only) = match part(parts, "sample_type_config") {
        Some(config) if !config.is_empty() => {
            let config: std::collections::BTreeMap<String, SampleTypeConfig> =
                serde_json::from_slice(config)
                    .map_err(|e| format!("invalid sample_type_config: {e}"))?;
            let cumulative = config
                .iter()
                .filter(|(_, c)| c.cumulative)
                .map(|(name, _)| name.clone())
                .collect();
            (cumulative, Some(config.into_keys().collect()))
        }
        _ => (DEFAULT_CUMULATIVE.map(String::from).to_vec(), None),
    };
    let context = pprof::PprofContext {
        service_name: params.app.service_name.clone(),
        labels: params.app.labels.clone(),
        name_hint: params.app.profile.clone(),
        from: params.from,
        until: params.until,
        cumulative,
        only,
    };
    pprof::normalize(&profile, previous.as_ref(), &context)
}

/// Collapsed stacks as one profile, typed from the SDK's `units` and profile name
/// the way Pyroscope types them: CPU samples become nanoseconds of CPU at the
/// sample rate.
pub(super) fn folded_profile(
    stacks: folded::FoldedStacks,
    params: &IngestParams,
) -> NormalizedProfile {
    let period = 1_000_000_000 / i64::from(params.sample_rate.filter(|r| *r > 0).unwrap_or(100));
    let hint = params.app.profile.as_deref();
    let alloc = hint.is_some_and(|h| h.starts_with("alloc"));
    let (profile_type, multiplier) = match params.units.as_deref().unwrap_or("samples") {
        "objects" if alloc => (memory("alloc_objects", "count"), 1),
        "objects" => (memory("inuse_objects", "count"), 1),
        "bytes" if alloc => (memory("alloc_space", "bytes"), 1),
        "bytes" => (memory("inuse_space", "bytes"), 1),
        "goroutines" => (
            ProfileType::new("goroutine", "goroutine", "count", "goroutine", "count"),
            1,
        ),
        "lock_nanoseconds" => (
            ProfileType::new("mutex", "delay", "nanoseconds", "contentions", "count"),
            1,
        ),
        "lock_samples" => (
            ProfileType::new("mutex", "contentions", "count", "contentions", "count"),
            1,
        ),
        _ if hint == Some("wall") => (
            ProfileType::new("wall", "wall", "nanoseconds", "wall", "nanoseconds"),
            period,
        ),
        _ => (
            ProfileType::new("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"),
            period,
        ),
    };
    let mut profile = NormalizedProfile {
        service_name: params.app.service_name.clone(),
        profile_type,
        labels: params.app.labels.clone(),
        timestamp: params.from,
        duration_ns: (params.until - params.from).max(0),
        stacks: Default::default(),
        samples: Vec::with_capacity(stacks.len()),
    };
    let mut table = StackTableBuilder::default();
    for (frames, value) in stacks {
        // The parser already merged equal stacks.
        let frames = frames.into_iter().map(|f| table.frame(f)).collect();
        profile.samples.push(NormalizedSample {
            stack: table.push_stack(frames),
            value: value.saturating_mul(multiplier),
            labels: Vec::new(),
        });
    }
    profile.stacks = table.finish();
    profile
}

fn memory(sample_type: &str, unit: &str) -> ProfileType {
    ProfileType::new("memory", sample_type, unit, "space", "bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_any_unit() {
        let s = 1_700_000_000i64;
        assert_eq!(
            parse_time(Some("1700000000"), "from", 0).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_time(Some("1700000000000"), "from", 0).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_time(Some("1700000000000000000"), "from", 0).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(parse_time(None, "from", 7).unwrap(), 7);
        assert!(
            parse_time(Some("yesterday"), "from", 0)
                .unwrap_err()
                .contains("from")
        );
    }

    #[test]
    fn folded_cpu_samples_become_nanoseconds() {
        let query = IngestQuery {
            name: Some("app.cpu{env=prod}".into()),
            from: Some("1700000000".into()),
            until: Some("1700000010".into()),
            sample_rate: Some("100".into()),
            ..IngestQuery::default()
        };
        let params = params(&query).unwrap();
        let stacks = folded::parse(b"main;hot 3\n", true).unwrap();
        let profile = folded_profile(stacks, &params);
        assert_eq!(
            profile.profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(profile.samples[0].value, 30_000_000);
        assert_eq!(profile.duration_ns, 10_000_000_000);
        assert_eq!(profile.service_name, "app");
    }
}
