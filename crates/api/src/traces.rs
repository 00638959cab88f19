//! Native trace API: services and operations, trace by id, and trace search by
//! structured filters or TraceQL.
//!
//! | route | |
//! |---|---|
//! | `GET /api/v1/services` | services with spans in `from`..`until` |
//! | `GET /api/v1/services/{service}/operations` | its span names |
//! | `GET /api/v1/traces/{trace_id}` | every span in tree order, typed attributes, events, links, resource, scope |
//! | `GET /api/v1/traces` | search: `service`, `span_name`, `min_duration`, `max_duration`, `status`, `attr=key=value` (repeatable), `q` (TraceQL), `from`, `until`, `limit` |

use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vispyr_query::traces::TraceSearch;

use crate::params::{QueryPairs, parse_duration, time_range};
use crate::{ApiError, ApiState};

/// Traces a search returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;
/// The most traces a search may return.
const MAX_LIMIT: usize = 1_000;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{service}/operations", get(operations))
        .route("/api/v1/traces", get(search))
        .route("/api/v1/traces/{trace_id}", get(trace))
}

#[derive(Debug, Default, Deserialize)]
struct RangeParams {
    from: Option<String>,
    until: Option<String>,
}

async fn services(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    let (from, until) = time_range(params.from.as_deref(), params.until.as_deref())?;
    let services = state.traces.services(from, until).await?;
    Ok(Json(json!({ "services": services })))
}

async fn operations(
    State(state): State<Arc<ApiState>>,
    Path(service): Path<String>,
    Query(params): Query<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    let (from, until) = time_range(params.from.as_deref(), params.until.as_deref())?;
    let operations = state.traces.operations(&service, from, until).await?;
    Ok(Json(
        json!({ "service": service, "operations": operations }),
    ))
}

async fn trace(
    State(state): State<Arc<ApiState>>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut spans = state.traces.trace(&trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("trace {trace_id} not found")));
    }
    let log_counts = state.logs.counts_by_span(&trace_id).await?;
    for span in &mut spans {
        span.log_count = log_counts.get(&span.span_id).copied().unwrap_or(0);
    }
    Ok(Json(
        json!({ "trace_id": trace_id.to_ascii_lowercase(), "spans": spans }),
    ))
}

async fn search(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let get = |name: &str| pairs.get(name);
    let (from, until) = time_range(get("from"), get("until"))?;
    let duration = |name: &str| get(name).map(|v| parse_duration(v, name)).transpose();
    let status = get("status")
        .map(|status| match status.to_ascii_lowercase().as_str() {
            s @ ("ok" | "error" | "unset") => Ok(s.to_string()),
            other => Err(ApiError::BadRequest(format!(
                "invalid status={other:?}: use ok, error or unset"
            ))),
        })
        .transpose()?;
    let attributes = pairs
        .all("attr")
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("invalid attr={pair:?}: use attr=key=value"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let traceql = get("q")
        .map(|q| {
            vispyr_traceql::parse(q)
                .map_err(|error| ApiError::BadRequest(format!("invalid TraceQL query: {error}")))
        })
        .transpose()?;
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("invalid limit={text:?}: use 1 to {MAX_LIMIT}"))
            })?,
    };
    let request = TraceSearch {
        from,
        until,
        service: get("service").map(str::to_owned),
        span_name: get("span_name").map(str::to_owned),
        min_duration_ns: duration("min_duration")?,
        max_duration_ns: duration("max_duration")?,
        status,
        attributes,
        traceql,
        limit,
    };
    let traces = state.traces.search(&request).await?;
    Ok(Json(json!({ "traces": traces })))
}
