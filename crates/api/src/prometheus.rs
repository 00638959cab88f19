//! The Prometheus HTTP API under `/prometheus`, as Grafana's Prometheus data source
//! calls it: instant and range queries, series, label names and values, metadata,
//! exemplars and build info. Parameters come from the query string or a form body
//! (GET and POST); answers are `{"status": "success", "data": ...}` or
//! `{"status": "error", "errorType": ..., "error": ...}` with Prometheus's status
//! codes (400 `bad_data`, 422 `execution`, 503 `timeout`, 500 `internal`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vispyr_promql::Matcher;

use crate::ApiState;
use crate::params::{QueryPairs, parse_duration, parse_time};

/// A query runs at most this long unless `timeout` says less (Prometheus's
/// `--query.timeout` default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Points a range query may return per series (Prometheus's limit).
const MAX_POINTS_PER_SERIES: i64 = 11_000;
/// The version Grafana is told, which decides the features it uses.
const COMPATIBLE_VERSION: &str = "2.42.0";
const NANOS_PER_MILLI: i64 = 1_000_000;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/prometheus/api/v1/query", get(query).post(query))
        .route(
            "/prometheus/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/prometheus/api/v1/series", get(series).post(series))
        .route("/prometheus/api/v1/labels", get(labels).post(labels))
        .route("/prometheus/api/v1/label/{name}/values", get(label_values))
        .route("/prometheus/api/v1/metadata", get(metadata))
        .route(
            "/prometheus/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
}

/// A Prometheus API error.
#[derive(Debug)]
enum PromError {
    BadData(String),
    Execution(String),
    Timeout(String),
    Internal(String),
}

impl PromError {
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
            PromError::BadData(m) => (StatusCode::BAD_REQUEST, "bad_data", m),
            PromError::Execution(m) => (StatusCode::UNPROCESSABLE_ENTITY, "execution", m),
            PromError::Timeout(m) => (StatusCode::SERVICE_UNAVAILABLE, "timeout", m),
            PromError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let (status, error_type, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = message, "prometheus api request failed");
        }
        let body = json!({"status": "error", "errorType": error_type, "error": message});
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<crate::ApiError> for PromError {
    fn from(error: crate::ApiError) -> PromError {
        match error {
            crate::ApiError::BadRequest(m) => PromError::BadData(m),
            crate::ApiError::Timeout(m) => PromError::Timeout(m),
            other => PromError::Internal(other.to_string()),
        }
    }
}

impl From<vispyr_query::QueryError> for PromError {
    fn from(error: vispyr_query::QueryError) -> PromError {
        PromError::from(crate::ApiError::from(error))
    }
}

impl From<vispyr_promql::Error> for PromError {
    fn from(error: vispyr_promql::Error) -> PromError {
        match error.error_type() {
            "bad_data" => PromError::BadData(error.to_string()),
            "execution" => PromError::Execution(error.to_string()),
            "timeout" => PromError::Timeout(error.to_string()),
            _ => PromError::Internal(error.to_string()),
        }
    }
}

fn success(data: Value) -> Response {
    let body = json!({"status": "success", "data": data});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Parameters from the query string and, for a form POST, the body; repeated names
/// (`match[]`) keep every value.
struct Params(QueryPairs);

impl Params {
    fn new(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Params {
        Params(QueryPairs::from_request(query.as_deref(), headers, body))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0.all(name)
    }

    fn required(&self, name: &str) -> Result<&str, PromError> {
        self.get(name)
            .ok_or_else(|| PromError::BadData(format!("invalid parameter \"{name}\": missing")))
    }

    /// A required time in milliseconds.
    fn required_time_ms(&self, name: &str) -> Result<i64, PromError> {
        Ok(parse_time(self.required(name)?, name)?.div_euclid(NANOS_PER_MILLI))
    }

    /// A time in milliseconds, `default` when absent.
    fn time_ms(&self, name: &str, default: i64) -> Result<i64, PromError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => Ok(parse_time(value, name)?.div_euclid(NANOS_PER_MILLI)),
        }
    }

    /// The `match[]` selectors.
    fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, PromError> {
        self.all("match[]")
            .map(|selector| {
                vispyr_promql::parse_selector(selector).map_err(|error| {
                    PromError::BadData(format!("invalid parameter \"match[]\": {error}"))
                })
            })
            .collect()
    }

    fn timeout(&self) -> Result<Duration, PromError> {
        match self.get("timeout") {
            None => Ok(DEFAULT_TIMEOUT),
            Some(value) => {
                let nanos = parse_duration(value, "timeout")?;
                Ok(Duration::from_nanos(nanos as u64).min(DEFAULT_TIMEOUT))
            }
        }
    }
}

fn now_ms() -> i64 {
    vispyr_common::now_unix_nanos().div_euclid(NANOS_PER_MILLI)
}

/// The widest range Prometheus accepts for `start`/`end` on metadata endpoints.
const MIN_TIME_MS: i64 = -9_223_372_036_854_775 / 2;
const MAX_TIME_MS: i64 = 9_223_372_036_854_775 / 2;

async fn with_timeout<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, PromError>>,
) -> Result<T, PromError> {
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        PromError::Timeout(format!(
            "query timed out in expression evaluation after {}s",
            timeout.as_secs_f64()
        ))
    })?
}

async fn query(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &body);
    let expr = params.required("query")?;
    let time = params.time_ms("time", now_ms())?;
    let timeout = params.timeout()?;
    let value = with_timeout(timeout, async {
        Ok(state.promql.instant(&state.metrics, expr, time).await?)
    })
    .await?;
    Ok(success(vispyr_promql::result_json(&value)))
}

async fn query_range(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &body);
    let expr = params.required("query")?;
    let start = params.required_time_ms("start")?;
    let end = params.required_time_ms("end")?;
    if end < start {
        return Err(PromError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    let step_nanos = parse_duration(params.required("step")?, "step")?;
    let step = step_nanos.div_euclid(NANOS_PER_MILLI);
    if step <= 0 {
        return Err(PromError::BadData(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(PromError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let timeout = params.timeout()?;
    let value = with_timeout(timeout, async {
        Ok(state
            .promql
            .range(&state.metrics, expr, start, end, step)
            .await?)
    })
    .await?;
    Ok(success(vispyr_promql::result_json(&value)))
}

fn label_object(labels: &[(String, String)]) -> Value {
    let map: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Value::Object(map)
}

async fn series(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &body);
    let sets = params.matcher_sets()?;
    if sets.is_empty() {
        return Err(PromError::BadData("no match[] parameter provided".into()));
    }
    let start = params.time_ms("start", MIN_TIME_MS)?;
    let end = params.time_ms("end", MAX_TIME_MS)?;
    let found = state.metrics.series(&sets, start, end).await?;
    let limit = limit_of(&params)?;
    let data: Vec<Value> = found.iter().take(limit).map(|l| label_object(l)).collect();
    Ok(success(Value::Array(data)))
}

fn limit_of(params: &Params) -> Result<usize, PromError> {
    match params.get("limit") {
        None => Ok(usize::MAX),
        Some(value) => match value.parse::<usize>() {
            Ok(0) => Ok(usize::MAX),
            Ok(limit) => Ok(limit),
            Err(_) => Err(PromError::BadData(format!(
                "invalid parameter \"limit\": cannot parse {value:?} to a valid limit"
            ))),
        },
    }
}

async fn labels(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &body);
    let sets = params.matcher_sets()?;
    let start = params.time_ms("start", MIN_TIME_MS)?;
    let end = params.time_ms("end", MAX_TIME_MS)?;
    let names = state.metrics.label_names(&sets, start, end).await?;
    let limit = limit_of(&params)?;
    Ok(success(json!(
        names.into_iter().take(limit).collect::<Vec<_>>()
    )))
}

async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &Bytes::new());
    if !vispyr_model::is_label_name(&name) {
        return Err(PromError::BadData(format!("invalid label name: {name:?}")));
    }
    let sets = params.matcher_sets()?;
    let start = params.time_ms("start", MIN_TIME_MS)?;
    let end = params.time_ms("end", MAX_TIME_MS)?;
    let values = state.metrics.label_values(&name, &sets, start, end).await?;
    let limit = limit_of(&params)?;
    Ok(success(json!(
        values.into_iter().take(limit).collect::<Vec<_>>()
    )))
}

/// `/api/v1/metadata`: families from ingest metadata (remote write, scrapes) and
/// from the types the OTLP receiver stored with its points in the last day.
async fn metadata(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &Bytes::new());
    let limit = limit_of(&params)?;
    let wanted = params.get("metric");
    let now = now_ms();
    let mut families: std::collections::BTreeMap<String, vispyr_model::FamilyMetadata> = state
        .metrics
        .stored_metadata(now - 86_400_000, now)
        .await?
        .into_iter()
        .collect();
    families.extend(state.metadata.all());
    let data: serde_json::Map<String, Value> = families
        .into_iter()
        .filter(|(name, _)| wanted.is_none_or(|wanted| wanted == name))
        .take(limit)
        .map(|(name, family)| (name, json!([family])))
        .collect();
    Ok(success(Value::Object(data)))
}

/// `/api/v1/query_exemplars`: exemplars of the connector series (span metrics,
/// service graph) whose series match a selector of `query`, grouped by series.
/// Each carries `trace_id` and `span_id`, and `traceID` as Tempo's generator names it.
async fn query_exemplars(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    let params = Params::new(raw, &headers, &body);
    let expr = params.required("query")?;
    let selectors = vispyr_promql::query_selectors(expr)?;
    let start = params.time_ms("start", MIN_TIME_MS)?;
    let end = params.time_ms("end", MAX_TIME_MS)?;
    let mut by_series: std::collections::BTreeMap<Vec<(String, String)>, Vec<Value>> =
        std::collections::BTreeMap::new();
    for exemplar in state.exemplars.in_range(start, end) {
        let selected = selectors.iter().any(|matchers| {
            matchers
                .iter()
                .all(|matcher| matcher.matches_labels(&exemplar.series_labels))
        });
        if !selected {
            continue;
        }
        by_series
            .entry(exemplar.series_labels)
            .or_default()
            .push(json!({
                "labels": {
                    "trace_id": exemplar.trace_id,
                    "traceID": exemplar.trace_id,
                    "span_id": exemplar.span_id,
                },
                "value": vispyr_promql::format_float(exemplar.value),
                "timestamp": exemplar.t as f64 / 1000.0,
            }));
    }
    let data: Vec<Value> = by_series
        .into_iter()
        .map(|(labels, exemplars)| json!({"seriesLabels": label_object(&labels), "exemplars": exemplars}))
        .collect();
    Ok(success(Value::Array(data)))
}

async fn buildinfo() -> Response {
    success(json!({
        "version": COMPATIBLE_VERSION,
        "revision": env!("CARGO_PKG_VERSION"),
        "branch": "vispyr",
        "buildUser": "vispyr",
        "buildDate": "",
        "goVersion": "vispyr (rust)"
    }))
}
