//! The HTTP API on `:4040`: health, self-telemetry, and the native query API.
//!
//! Errors of every crate are mapped to HTTP status codes here, once ([`ApiError`]).
//! Later this router also carries the compatible APIs (Prometheus, Tempo, Loki,
//! Pyroscope) and the UI.

mod error;
mod logs;
mod loki;
pub mod params;
pub mod profiles;
mod prometheus;
mod pyroscope;
mod tempo;
mod traces;
pub mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use vispyr_model::{ExemplarStore, MetadataStore};
use vispyr_query::logs::LogQueries;
use vispyr_query::profiles::ProfileQueries;
use vispyr_query::traces::TraceQueries;
use vispyr_query::{MetricQueries, QueryEngine};

use crate::profiles::rules_store::RulesStore;

pub use error::ApiError;

/// Shared state of the API.
pub struct ApiState {
    pub query: QueryEngine,
    pub profiles: ProfileQueries,
    pub rules: RulesStore,
    pub metrics: MetricQueries,
    pub traces: TraceQueries,
    pub logs: LogQueries,
    pub logql: vispyr_logql::Engine,
    pub promql: vispyr_promql::Engine,
    /// Metric family metadata seen on ingest.
    pub metadata: Arc<MetadataStore>,
    /// Exemplars of the connector series.
    pub exemplars: Arc<ExemplarStore>,
    /// False until start-up has finished (WAL replayed, listeners bound).
    pub ready: AtomicBool,
}

impl ApiState {
    pub fn new(
        query: QueryEngine,
        rules: RulesStore,
        metadata: Arc<MetadataStore>,
        exemplars: Arc<ExemplarStore>,
    ) -> Arc<ApiState> {
        Arc::new(ApiState {
            profiles: ProfileQueries::new(query.clone()),
            metrics: MetricQueries::new(query.clone()),
            traces: TraceQueries::new(query.clone()),
            logs: LogQueries::new(query.clone()),
            logql: vispyr_logql::Engine::default(),
            promql: vispyr_promql::Engine::default(),
            metadata,
            exemplars,
            query,
            rules,
            ready: AtomicBool::new(false),
        })
    }
}

/// The router of the `:4040` HTTP server.
pub fn app(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/health", get(health))
        .route("/metrics", get(self_metrics))
        .route("/api/v1/sql", post(sql))
        .merge(profiles::routes())
        .merge(pyroscope::routes())
        .merge(prometheus::routes())
        .merge(traces::routes())
        .merge(tempo::routes())
        .merge(logs::routes())
        .merge(loki::routes())
        .with_state(state)
}

async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn self_metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        vispyr_common::telemetry::render(),
    )
        .into_response()
}

/// Body of `POST /api/v1/sql`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// The statement; only queries are allowed.
    pub sql: String,
}

/// The body is read as JSON whatever its `Content-Type`, so `curl -d '{"sql": ...}'`
/// works without a header.
async fn sql(
    State(state): State<Arc<ApiState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::BadRequest(format!(
            "the body must be JSON like {{\"sql\": \"select 1\"}}: {error}"
        ))
    })?;
    let result = state.query.sql(&request.sql).await?;
    Ok(Json(result).into_response())
}
