//! The Pyroscope query API under `/pyroscope`, as Grafana's Pyroscope data source
//! calls it: `querier.v1.QuerierService/<Method>` over Connect (unary POST;
//! `application/proto` from Grafana's backend, `application/json` from the Explore
//! Profiles app), errors as Connect JSON. Flamegraphs apply the stored view rules.

use std::io::{Read, Write};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vispyr_common::profile::ProfileType;
use vispyr_flamegraph::{GroupBy, Tree};
use vispyr_proto::pyroscope::LabelPair;
use vispyr_proto::querier::*;
use vispyr_query::profiles::{MatchOp, Selection, Selector};

use crate::{ApiError, ApiState};

/// Nodes of a flamegraph when the request does not say (Pyroscope's default).
const DEFAULT_MAX_NODES: usize = 8192;
/// Biggest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub fn routes() -> Router<Arc<ApiState>> {
    const PREFIX: &str = "/pyroscope/querier.v1.QuerierService/";
    Router::new()
        .route(&format!("{PREFIX}ProfileTypes"), post(profile_types))
        .route(&format!("{PREFIX}LabelNames"), post(label_names))
        .route(&format!("{PREFIX}LabelValues"), post(label_values))
        .route(&format!("{PREFIX}Series"), post(series))
        .route(
            &format!("{PREFIX}SelectMergeStacktraces"),
            post(select_merge_stacktraces),
        )
        .route(
            &format!("{PREFIX}SelectMergeSpanProfile"),
            post(select_merge_span_profile),
        )
        .route(
            &format!("{PREFIX}SelectMergeProfile"),
            post(select_merge_profile),
        )
        .route(&format!("{PREFIX}SelectSeries"), post(select_series))
        .route(&format!("{PREFIX}GetProfileStats"), post(get_profile_stats))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    Proto,
    Json,
}

/// A Connect error: HTTP status and `{"code", "message"}`.
struct ConnectError(ApiError);

impl From<ApiError> for ConnectError {
    fn from(error: ApiError) -> Self {
        ConnectError(error)
    }
}

impl From<vispyr_query::QueryError> for ConnectError {
    fn from(error: vispyr_query::QueryError) -> Self {
        ConnectError(error.into())
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "already_exists"),
            ApiError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "code": code, "message": self.0.to_string() }).to_string(),
        )
            .into_response()
    }
}

fn bad(message: impl Into<String>) -> ConnectError {
    ConnectError(ApiError::BadRequest(message.into()))
}

/// Decodes a unary Connect request body.
fn decode<T: prost::Message + DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(T, Codec), ConnectError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let codec = match content_type.split(';').next().unwrap_or("").trim() {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => Codec::Proto,
        "application/json" | "" => Codec::Json,
        other => {
            return Err(bad(format!(
                "unsupported Content-Type {other:?}: use application/proto or application/json"
            )));
        }
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let mut inflated = Vec::new();
    let bytes: &[u8] = if gzip {
        flate2::read::GzDecoder::new(&body[..])
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| bad(format!("invalid gzip body: {e}")))?;
        if inflated.len() > MAX_BODY {
            return Err(bad("request body over 4 MiB"));
        }
        &inflated
    } else {
        body
    };
    let request = match codec {
        Codec::Proto => T::decode(bytes).map_err(|e| bad(format!("invalid request: {e}")))?,
        Codec::Json if bytes.iter().all(u8::is_ascii_whitespace) => T::default(),
        Codec::Json => {
            serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid request: {e}")))?
        }
    };
    Ok((request, codec))
}

/// Encodes a response in the request's codec, gzipped when the client accepts it.
fn encode<T: prost::Message + Serialize>(
    headers: &HeaderMap,
    codec: Codec,
    message: &T,
) -> Response {
    let (content_type, body) = match codec {
        Codec::Proto => ("application/proto", message.encode_to_vec()),
        Codec::Json => (
            "application/json",
            serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
        ),
    };
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if gzip && body.len() > 1024 {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(&body).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            return (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                compressed,
            )
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `start`/`end` in Unix ms → a nanosecond range; missing means the last hour.
fn range(start: i64, end: i64) -> (i64, i64) {
    let now = vispyr_common::now_unix_nanos();
    let end = if end > 0 {
        end.saturating_mul(1_000_000)
    } else {
        now
    };
    let start = if start > 0 {
        start.saturating_mul(1_000_000)
    } else {
        end - 3_600_000_000_000
    };
    (start, end.max(start + 1))
}

/// A selection from Pyroscope's pieces: a profile type id, a `{...}` selector
/// (which may carry `__profile_type__`), and a time range in ms.
fn selection(
    profile_type_id: &str,
    label_selector: &str,
    start: i64,
    end: i64,
) -> Result<Selection, ConnectError> {
    let mut selector = Selector::parse(label_selector).map_err(bad)?;
    if let Some(at) = selector
        .matchers
        .iter()
        .position(|m| m.name == "__profile_type__" && m.op == MatchOp::Equal)
    {
        let matcher = selector.matchers.remove(at);
        selector.profile_type = Some(
            ProfileType::parse(&matcher.value)
                .ok_or_else(|| bad(format!("invalid profile type {:?}", matcher.value)))?,
        );
    }
    if !profile_type_id.is_empty() {
        selector.profile_type = Some(
            ProfileType::parse(profile_type_id)
                .ok_or_else(|| bad(format!("invalid profileTypeID {profile_type_id:?}")))?,
        );
    }
    let (from, until) = range(start, end);
    Ok(Selection {
        selector,
        from,
        until,
        ..Selection::default()
    })
}

fn first_matcher(matchers: &[String]) -> &str {
    matchers.first().map(String::as_str).unwrap_or("{}")
}

async fn profile_types(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (ProfileTypesRequest, _) = decode(&headers, &body)?;
    let (from, until) = range(request.start, request.end);
    let types = state.profiles.profile_types(from, until).await?;
    let profile_types = types
        .iter()
        .filter_map(|id| ProfileType::parse(id))
        .map(|t| vispyr_proto::querier::ProfileType {
            id: t.id(),
            name: t.name,
            sample_type: t.sample_type,
            sample_unit: t.sample_unit,
            period_type: t.period_type,
            period_unit: t.period_unit,
        })
        .collect();
    Ok(encode(
        &headers,
        codec,
        &ProfileTypesResponse { profile_types },
    ))
}

async fn label_names(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (LabelNamesRequest, _) = decode(&headers, &body)?;
    let selection = selection(
        "",
        first_matcher(&request.matchers),
        request.start,
        request.end,
    )?;
    let mut names = state.profiles.label_names(&selection).await?;
    names.push("__profile_type__".into());
    names.sort();
    names.dedup();
    Ok(encode(&headers, codec, &NamesResponse { names }))
}

async fn label_values(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (LabelValuesRequest, _) = decode(&headers, &body)?;
    if request.name.is_empty() {
        return Err(bad("missing name"));
    }
    let selection = selection(
        "",
        first_matcher(&request.matchers),
        request.start,
        request.end,
    )?;
    let names = state
        .profiles
        .label_values(&request.name, &selection)
        .await?;
    Ok(encode(&headers, codec, &NamesResponse { names }))
}

async fn series(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (SeriesRequest, _) = decode(&headers, &body)?;
    let selection = selection(
        "",
        first_matcher(&request.matchers),
        request.start,
        request.end,
    )?;
    let series = state
        .profiles
        .series(&selection, &request.label_names)
        .await?;
    let labels_set = series
        .into_iter()
        .map(|pairs| Labels {
            labels: pairs
                .into_iter()
                .map(|(name, value)| LabelPair { name, value })
                .collect(),
        })
        .collect();
    Ok(encode(&headers, codec, &SeriesResponse { labels_set }))
}

/// The merged flamegraph of a selection, through the stored view rules.
async fn merged_tree(
    state: &ApiState,
    selection: &Selection,
    max_nodes: Option<i64>,
) -> Result<Tree, ConnectError> {
    let rules = state.rules.compile(None, GroupBy::None)?;
    let merged = state.profiles.merge(selection).await?;
    let max_nodes = max_nodes
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_NODES);
    Ok(Tree::build(
        merged.stacks.iter().map(|(s, v)| (s.as_slice(), *v)),
        &rules,
    )
    .prune(max_nodes))
}

/// `SelectMergeStacktracesResponse { FlameGraph flamegraph = 1; }`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct FlameGraphResponse {
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    flamegraph: Option<FlameGraphJson>,
}

/// A [`vispyr_flamegraph::FlameGraph`] with protojson int64 strings.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
#[serde(rename_all = "camelCase")]
struct FlameGraphJson {
    #[prost(string, repeated, tag = "1")]
    names: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    levels: Vec<LevelJson>,
    #[prost(int64, tag = "3")]
    #[serde(serialize_with = "as_string")]
    total: i64,
    #[prost(int64, tag = "4")]
    #[serde(serialize_with = "as_string")]
    max_self: i64,
}

#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct LevelJson {
    #[prost(int64, repeated, tag = "1")]
    #[serde(serialize_with = "all_as_strings")]
    values: Vec<i64>,
}

fn as_string<S: serde::Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}

fn all_as_strings<S: serde::Serializer>(values: &[i64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(i64::to_string))
}

fn flamegraph_response(tree: &Tree) -> FlameGraphResponse {
    let graph = tree.flame_graph();
    FlameGraphResponse {
        flamegraph: (graph.total > 0).then(|| FlameGraphJson {
            names: graph.names,
            levels: graph
                .levels
                .into_iter()
                .map(|level| LevelJson {
                    values: level.values,
                })
                .collect(),
            total: graph.total,
            max_self: graph.max_self,
        }),
    }
}

/// The flamegraph of a selection, optionally only of some spans.
async fn flamegraph_of(
    state: &ApiState,
    request: (&str, &str, i64, i64),
    span_selector: &[String],
    max_nodes: Option<i64>,
) -> Result<FlameGraphResponse, ConnectError> {
    let (profile_type_id, label_selector, start, end) = request;
    let mut selection = selection(profile_type_id, label_selector, start, end)?;
    selection.span_ids = span_selector
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let tree = merged_tree(state, &selection, max_nodes).await?;
    Ok(flamegraph_response(&tree))
}

async fn select_merge_stacktraces(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (r, codec): (SelectMergeStacktracesRequest, _) = decode(&headers, &body)?;
    let request = (
        r.profile_type_id.as_str(),
        r.label_selector.as_str(),
        r.start,
        r.end,
    );
    let response = flamegraph_of(&state, request, &r.span_selector, r.max_nodes).await?;
    Ok(encode(&headers, codec, &response))
}

async fn select_merge_span_profile(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (r, codec): (SelectMergeSpanProfileRequest, _) = decode(&headers, &body)?;
    if r.span_selector.is_empty() {
        return Err(bad("spanSelector is empty"));
    }
    let request = (
        r.profile_type_id.as_str(),
        r.label_selector.as_str(),
        r.start,
        r.end,
    );
    let response = flamegraph_of(&state, request, &r.span_selector, r.max_nodes).await?;
    Ok(encode(&headers, codec, &response))
}

async fn select_merge_profile(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (SelectMergeStacktracesRequest, _) = decode(&headers, &body)?;
    let selection = selection(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    let Some(profile_type) = selection.selector.profile_type.clone() else {
        return Err(bad("profileTypeID is required"));
    };
    let rules = state.rules.compile(None, GroupBy::None)?;
    let merged = state.profiles.merge(&selection).await?;
    let profile = vispyr_flamegraph::to_pprof(
        merged
            .stacks
            .iter()
            .map(|(stack, value)| (rules.apply(stack), *value)),
        &profile_type,
        selection.from,
        selection.until - selection.from,
    );
    if codec == Codec::Json {
        return Err(bad(
            "SelectMergeProfile answers pprof: use application/proto",
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "application/proto")],
        prost::Message::encode_to_vec(&profile),
    )
        .into_response())
}

async fn select_series(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (request, codec): (SelectSeriesRequest, _) = decode(&headers, &body)?;
    if request.step.is_nan() || request.step < 0.001 {
        return Err(bad("step must be at least 0.001 seconds"));
    }
    let selection = selection(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    let step = (request.step * 1e9) as i64;
    if (selection.until - selection.from) / step > 11_000 {
        return Err(bad("step too small for the range: at most 11,000 points"));
    }
    // AVERAGE (1) averages profiles per step; SUM (the default) sums them.
    let average = request.aggregation == Some(1);
    let timeline = state
        .profiles
        .timeline_with(&selection, step, &request.group_by, average)
        .await?;
    let step_ms = step / 1_000_000;
    let mut series: Vec<Series> = timeline
        .into_iter()
        .map(|s| Series {
            labels: s
                .labels
                .into_iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| LabelPair { name, value })
                .collect(),
            // Pyroscope stamps a point with the end of its step.
            points: s
                .points
                .into_iter()
                .map(|(ms, value)| Point {
                    value: value as f64,
                    timestamp: ms + step_ms,
                })
                .collect(),
        })
        .collect();
    if let Some(limit) = request
        .limit
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
    {
        series.sort_by(|a, b| {
            let total = |s: &Series| s.points.iter().map(|p| p.value).sum::<f64>();
            total(b).total_cmp(&total(a))
        });
        series.truncate(limit);
    }
    Ok(encode(&headers, codec, &SelectSeriesResponse { series }))
}

async fn get_profile_stats(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let (_, codec): (GetProfileStatsRequest, _) = decode(&headers, &body)?;
    let response = match state.profiles.time_bounds().await? {
        Some((oldest, newest)) => GetProfileStatsResponse {
            data_ingested: true,
            oldest_profile_time: oldest / 1_000_000,
            newest_profile_time: newest / 1_000_000,
        },
        None => GetProfileStatsResponse::default(),
    };
    Ok(encode(&headers, codec, &response))
}
