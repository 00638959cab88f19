//! Loki-compatible query API at Loki's own paths, so Grafana's Loki data source
//! pointed at `http://host:4040` works: `/loki/api/v1/{query, query_range, labels,
//! label/<name>/values, series, tail}`.
//!
//! Errors are answered as Loki does: the status code and the message as plain
//! text (400 for a bad query or parameter, 500 for a failure).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use vispyr_common::{Signal, now_unix_nanos};
use vispyr_logql::{Direction, LogEntry, LogSelector, Matcher};
use vispyr_query::logql::entries_of;

use crate::params::{QueryPairs, parse_duration, parse_time};
use crate::{ApiError, ApiState};

const DEFAULT_LIMIT: usize = 100;
/// How far back label and series queries look by default (Loki's default).
const DEFAULT_LABEL_RANGE_NS: i64 = 6 * 3_600 * 1_000_000_000;
const HOUR_NS: i64 = 3_600 * 1_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/loki/api/v1/query", get(query).post(query))
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels))
        .route("/loki/api/v1/label/{name}/values", get(label_values))
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/tail", get(tail))
}

/// A Loki API error: status and plain-text message.
struct LokiError(StatusCode, String);

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        if self.0.is_server_error() {
            tracing::error!(error = %self.1, "loki api request failed");
        }
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response()
    }
}

impl From<ApiError> for LokiError {
    fn from(error: ApiError) -> LokiError {
        let status = match &error {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        LokiError(status, error.to_string())
    }
}

impl From<vispyr_query::QueryError> for LokiError {
    fn from(error: vispyr_query::QueryError) -> LokiError {
        LokiError::from(ApiError::from(error))
    }
}

impl From<vispyr_logql::Error> for LokiError {
    fn from(error: vispyr_logql::Error) -> LokiError {
        match error {
            vispyr_logql::Error::Storage(message) => {
                LokiError(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
            other => LokiError(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

fn bad(message: String) -> LokiError {
    LokiError(StatusCode::BAD_REQUEST, message)
}

fn success(data: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"status": "success", "data": data}).to_string(),
    )
        .into_response()
}

fn limit_of(pairs: &QueryPairs) -> Result<usize, LokiError> {
    match pairs.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text.parse::<usize>().map_err(|_| {
            bad(format!(
                "invalid limit {text:?}: must be a positive integer"
            ))
        }),
    }
}

fn direction_of(pairs: &QueryPairs) -> Result<Direction, LokiError> {
    match pairs
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(bad(format!(
            "invalid direction {other:?}: use forward or backward"
        ))),
    }
}

fn time_or(pairs: &QueryPairs, name: &str, default: i64) -> Result<i64, LokiError> {
    match pairs.get(name) {
        Some(value) => Ok(parse_time(value, name)?),
        None => Ok(default),
    }
}

fn required_query(pairs: &QueryPairs) -> Result<&str, LokiError> {
    pairs
        .get("query")
        .ok_or_else(|| bad("query parameter \"query\" is required".into()))
}

async fn query(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_request(raw.as_deref(), &headers, &body);
    let query = required_query(&pairs)?;
    let time = time_or(&pairs, "time", now_unix_nanos())?;
    let result = state
        .logql
        .query_instant(
            &state.logs,
            query,
            time,
            limit_of(&pairs)?,
            direction_of(&pairs)?,
        )
        .await?;
    Ok(success(vispyr_logql::result_json(&result)))
}

/// Loki's default step: the range over 250 points, at least a second.
fn default_step(start: i64, end: i64) -> i64 {
    ((end - start) / 250 / SECOND_NS).max(1) * SECOND_NS
}

async fn query_range(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_request(raw.as_deref(), &headers, &body);
    let query = required_query(&pairs)?;
    let end = time_or(&pairs, "end", now_unix_nanos())?;
    let start = time_or(&pairs, "start", end - HOUR_NS)?;
    if end < start {
        return Err(bad(
            "the end timestamp must not be before the start time".into()
        ));
    }
    let step = match pairs.get("step") {
        Some(text) => parse_duration(text, "step")?,
        None => default_step(start, end),
    };
    let result = state
        .logql
        .query_range(
            &state.logs,
            query,
            start,
            end,
            step,
            limit_of(&pairs)?,
            direction_of(&pairs)?,
        )
        .await?;
    Ok(success(vispyr_logql::result_json(&result)))
}

/// `start`/`end` of a label or series request: the last six hours by default.
fn label_range(pairs: &QueryPairs) -> Result<(i64, i64), LokiError> {
    let end = time_or(pairs, "end", now_unix_nanos())?;
    let start = time_or(pairs, "start", end - DEFAULT_LABEL_RANGE_NS)?;
    Ok((start, end.saturating_add(1)))
}

fn selectors(texts: impl Iterator<Item = impl AsRef<str>>) -> Result<Vec<Vec<Matcher>>, LokiError> {
    texts
        .map(|text| vispyr_logql::parse_selector(text.as_ref()).map_err(|e| bad(e.to_string())))
        .collect()
}

async fn labels(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_request(raw.as_deref(), &headers, &body);
    let (start, end) = label_range(&pairs)?;
    let selected = selectors(pairs.get("query").into_iter())?;
    let streams = state.logs.streams(start, end, &selected).await?;
    let names: std::collections::BTreeSet<&str> = streams
        .iter()
        .flat_map(|labels| labels.iter().map(|(name, _)| name.as_str()))
        .collect();
    Ok(success(json!(names)))
}

async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let (start, end) = label_range(&pairs)?;
    let selected = selectors(pairs.get("query").into_iter())?;
    let streams = state.logs.streams(start, end, &selected).await?;
    let values: std::collections::BTreeSet<&str> = streams
        .iter()
        .filter_map(|labels| {
            labels
                .iter()
                .find(|(label, _)| *label == name)
                .map(|(_, value)| value.as_str())
        })
        .collect();
    Ok(success(json!(values)))
}

async fn series(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_request(raw.as_deref(), &headers, &body);
    let (start, end) = label_range(&pairs)?;
    let texts: Vec<&str> = pairs.all("match[]").chain(pairs.all("match")).collect();
    if texts.is_empty() {
        return Err(bad("at least one match[] selector is required".into()));
    }
    let selected = selectors(texts.iter())?;
    let streams = state.logs.streams(start, end, &selected).await?;
    let data: Vec<Value> = streams.iter().map(labels_json).collect();
    Ok(success(Value::Array(data)))
}

/// `GET /loki/api/v1/tail` (WebSocket): with `start`, first up to `limit`
/// entries from then on, then every new entry the query's pipeline keeps, as
/// `{"streams": [{"stream": {...}, "values": [["<ns>", "<line>"]]}]}` messages.
async fn tail(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let expr = vispyr_logql::parse(required_query(&pairs)?).map_err(|e| bad(e.to_string()))?;
    let selector = expr
        .log_selector()
        .ok_or_else(|| bad("tail takes a log query, not a metric query".into()))?;
    let limit = limit_of(&pairs)?;
    let start = pairs
        .get("start")
        .map(|value| parse_time(value, "start"))
        .transpose()?;
    let mut history = Vec::new();
    if let Some(start) = start {
        let result = state
            .logql
            .query_range(
                &state.logs,
                &expr.to_string(),
                start,
                now_unix_nanos(),
                SECOND_NS,
                limit,
                Direction::Forward,
            )
            .await?;
        if let vispyr_logql::QueryResult::Streams(streams) = result {
            history = streams
                .into_iter()
                .map(|stream| {
                    json!({
                        "stream": labels_json(&stream.labels),
                        "values": stream.entries.iter()
                            .map(|(t, line)| json!([t.to_string(), line]))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
        }
    }
    let live = state.query.storage().subscribe();
    Ok(upgrade.on_upgrade(move |socket| run_tail(socket, selector, history, live)))
}

fn labels_json(labels: &vispyr_logql::Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

async fn run_tail(
    mut socket: WebSocket,
    selector: LogSelector,
    history: Vec<Value>,
    mut live: tokio::sync::broadcast::Receiver<(Signal, arrow::record_batch::RecordBatch)>,
) {
    let send = |streams: Vec<Value>| {
        Message::Text(
            json!({"streams": streams, "dropped_entries": null})
                .to_string()
                .into(),
        )
    };
    if !history.is_empty() && socket.send(send(history)).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    loop {
        let batch = tokio::select! {
            received = live.recv() => match received {
                Ok((Signal::Logs, batch)) => batch,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
                continue;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        let mut entries: Vec<LogEntry> = Vec::new();
        let matchers = selector.matchers();
        if let Err(error) = entries_of(
            &batch,
            |_| true,
            |labels| matchers.iter().all(|m| m.matches_labels(labels)),
            &mut entries,
            usize::MAX,
        ) {
            tracing::warn!(%error, "loki tail cannot read a batch");
            continue;
        }
        entries.sort_by_key(|entry| entry.timestamp_ns);
        let streams: Vec<Value> = entries
            .iter()
            .filter_map(|entry| selector.process(entry).map(|out| (entry.timestamp_ns, out)))
            .map(|(time, (labels, line))| {
                json!({"stream": labels_json(&labels), "values": [[time.to_string(), line]]})
            })
            .collect();
        if !streams.is_empty() && socket.send(send(streams)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_step_is_range_over_250_at_least_a_second() {
        assert_eq!(default_step(0, HOUR_NS), 14 * SECOND_NS);
        assert_eq!(default_step(0, 10 * SECOND_NS), SECOND_NS);
    }
}
