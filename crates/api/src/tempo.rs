//! The Tempo HTTP API under `/tempo`, as Grafana's Tempo data source calls it:
//! echo, trace by id (OTLP JSON, or protobuf when asked), search by TraceQL or
//! tags, and the tag name and value lookups of its query editor.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, TracesData, span, status,
};
use prost::Message;
use serde_json::{Value, json};
use vispyr_query::traces::{AttributeSource, SpanRecord, TraceSearch, TraceSummary};

use crate::params::{QueryPairs, parse_duration};
use crate::{ApiError, ApiState};

/// Traces a search returns unless `limit` says otherwise (Tempo's default).
const DEFAULT_LIMIT: usize = 20;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Tag lookups without `start`/`end` look at the last hour, as Tempo's recent data.
const TAG_WINDOW_NANOS: i64 = 3_600 * NANOS_PER_SECOND;
/// TraceQL intrinsics the query editor offers.
const INTRINSICS: [&str; 8] = [
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/tempo/api/echo", get(|| async { "echo" }))
        .route("/tempo/api/traces/{trace_id}", get(trace_v1))
        .route("/tempo/api/v2/traces/{trace_id}", get(trace_v2))
        .route("/tempo/api/search", get(search))
        .route("/tempo/api/search/tags", get(tags_v1))
        .route("/tempo/api/v2/search/tags", get(tags_v2))
        .route("/tempo/api/search/tag/{tag}/values", get(tag_values_v1))
        .route("/tempo/api/v2/search/tag/{tag}/values", get(tag_values_v2))
}

/// `start`/`end` in Unix seconds; defaults to the last `window` nanoseconds.
fn range(pairs: &QueryPairs, window: i64) -> Result<(i64, i64), ApiError> {
    let seconds = |name: &str| -> Result<Option<i64>, ApiError> {
        pairs
            .get(name)
            .map(|text| {
                text.parse::<i64>()
                    .map(|s| s.saturating_mul(NANOS_PER_SECOND))
                    .map_err(|_| {
                        ApiError::BadRequest(format!("invalid {name}={text:?}: use Unix seconds"))
                    })
            })
            .transpose()
    };
    let end = match seconds("end")? {
        // Tempo's end is inclusive of its whole second.
        Some(end) => end.saturating_add(NANOS_PER_SECOND),
        None => vispyr_common::now_unix_nanos(),
    };
    let start = seconds("start")?.unwrap_or(end.saturating_sub(window));
    if start >= end {
        return Err(ApiError::BadRequest(format!(
            "invalid range: start ({start}) must be before end ({end})"
        )));
    }
    Ok((start, end))
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/protobuf"))
}

fn hex_bytes(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_default()
}

fn attributes(map: &serde_json::Map<String, Value>) -> Vec<KeyValue> {
    map.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(vispyr_model::json_to_any_value(value)),
            ..KeyValue::default()
        })
        .collect()
}

fn kind_of(kind: &str) -> span::SpanKind {
    match kind {
        "internal" => span::SpanKind::Internal,
        "server" => span::SpanKind::Server,
        "client" => span::SpanKind::Client,
        "producer" => span::SpanKind::Producer,
        "consumer" => span::SpanKind::Consumer,
        _ => span::SpanKind::Unspecified,
    }
}

fn nested_attributes(item: &Value) -> Vec<KeyValue> {
    item["attributes"]
        .as_object()
        .map(attributes)
        .unwrap_or_default()
}

fn otlp_span(record: &SpanRecord) -> Span {
    let code = match record.status.as_str() {
        "ok" => status::StatusCode::Ok,
        "error" => status::StatusCode::Error,
        _ => status::StatusCode::Unset,
    };
    Span {
        trace_id: hex_bytes(&record.trace_id),
        span_id: hex_bytes(&record.span_id),
        parent_span_id: hex_bytes(&record.parent_span_id),
        name: record.name.clone(),
        kind: kind_of(&record.kind) as i32,
        start_time_unix_nano: record.start_ns as u64,
        end_time_unix_nano: record.end_ns as u64,
        attributes: attributes(&record.attributes),
        events: record
            .events
            .iter()
            .map(|event| span::Event {
                time_unix_nano: event["time_ns"].as_u64().unwrap_or(0),
                name: event["name"].as_str().unwrap_or("").to_string(),
                attributes: nested_attributes(event),
                ..span::Event::default()
            })
            .collect(),
        links: record
            .links
            .iter()
            .map(|link| span::Link {
                trace_id: hex_bytes(link["trace_id"].as_str().unwrap_or("")),
                span_id: hex_bytes(link["span_id"].as_str().unwrap_or("")),
                trace_state: link["trace_state"].as_str().unwrap_or("").to_string(),
                attributes: nested_attributes(link),
                ..span::Link::default()
            })
            .collect(),
        status: Some(Status {
            message: record.status_message.clone(),
            code: code as i32,
        }),
        ..Span::default()
    }
}

/// Spans regrouped by resource and scope, as OTLP carries them.
fn resource_spans(spans: &[SpanRecord]) -> Vec<ResourceSpans> {
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut resources: Vec<String> = Vec::new();
    for record in spans {
        let resource_key = Value::Object(record.resource.clone()).to_string();
        let index = match resources.iter().position(|key| *key == resource_key) {
            Some(index) => index,
            None => {
                resources.push(resource_key);
                out.push(ResourceSpans {
                    resource: Some(Resource {
                        attributes: attributes(&record.resource),
                        ..Resource::default()
                    }),
                    ..ResourceSpans::default()
                });
                out.len() - 1
            }
        };
        let scopes = &mut out[index].scope_spans;
        let scope = match scopes.iter().position(|scope| {
            scope
                .scope
                .as_ref()
                .is_some_and(|s| s.name == record.scope_name && s.version == record.scope_version)
        }) {
            Some(position) => position,
            None => {
                scopes.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: record.scope_name.clone(),
                        version: record.scope_version.clone(),
                        ..InstrumentationScope::default()
                    }),
                    ..ScopeSpans::default()
                });
                scopes.len() - 1
            }
        };
        scopes[scope].spans.push(otlp_span(record));
    }
    out
}

/// `tempopb.TraceByIDResponse`: the trace in field 1.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

/// `/api/traces/{id}`: `tempopb.Trace` — `{"batches": [ResourceSpans]}` in JSON,
/// or the protobuf (field 1 = resource spans, as `TracesData`).
async fn trace_v1(
    State(state): State<Arc<ApiState>>,
    Path(trace_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    trace_response(&state, &trace_id, &headers, false).await
}

/// `/api/v2/traces/{id}`: `{"trace": {"resourceSpans": [...]}}`, or the protobuf
/// `TraceByIDResponse`.
async fn trace_v2(
    State(state): State<Arc<ApiState>>,
    Path(trace_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    trace_response(&state, &trace_id, &headers, true).await
}

async fn trace_response(
    state: &ApiState,
    trace_id: &str,
    headers: &HeaderMap,
    v2: bool,
) -> Result<Response, ApiError> {
    let spans = state.traces.trace(trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("trace not found: {trace_id}")));
    }
    let data = TracesData {
        resource_spans: resource_spans(&spans),
    };
    if wants_protobuf(headers) {
        let body = if v2 {
            TraceByIdResponse { trace: Some(data) }.encode_to_vec()
        } else {
            data.encode_to_vec()
        };
        return Ok(([(header::CONTENT_TYPE, "application/protobuf")], body).into_response());
    }
    let body = if v2 {
        json!({ "trace": { "resourceSpans": data.resource_spans } })
    } else {
        json!({ "batches": data.resource_spans })
    };
    Ok(axum::Json(body).into_response())
}

/// Tempo's search result for one trace.
fn tempo_trace(summary: &TraceSummary) -> Value {
    let spans: Vec<Value> = summary
        .matched_spans
        .iter()
        .map(|span| {
            json!({
                "spanID": span.span_id,
                "name": span.name,
                "startTimeUnixNano": span.start_ns.to_string(),
                "durationNanos": span.duration_ns.to_string(),
                "attributes": [{"key": "service.name", "value": {"stringValue": span.service_name}}],
            })
        })
        .collect();
    let span_set = json!({ "spans": spans, "matched": summary.matched });
    json!({
        "traceID": summary.trace_id,
        "rootServiceName": summary.root_service,
        "rootTraceName": summary.root_name,
        "startTimeUnixNano": summary.start_ns.to_string(),
        "durationMs": summary.duration_ns / 1_000_000,
        "spanSet": span_set,
        "spanSets": [span_set],
    })
}

/// `/api/search`: `q` (TraceQL) or `tags` (logfmt `key=value` pairs), with
/// `minDuration`, `maxDuration`, `limit`, `start`, `end`.
async fn search(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let (from, until) = range(&pairs, TAG_WINDOW_NANOS)?;
    let traceql = pairs
        .get("q")
        .map(|q| {
            vispyr_traceql::parse(q)
                .map_err(|error| ApiError::BadRequest(format!("invalid TraceQL query: {error}")))
        })
        .transpose()?;
    let mut search = TraceSearch {
        from,
        until,
        traceql,
        limit: DEFAULT_LIMIT,
        ..TraceSearch::default()
    };
    if let Some(tags) = pairs.get("tags") {
        for pair in logfmt_pairs(tags)? {
            match pair.0.as_str() {
                "service.name" => search.service = Some(pair.1),
                "name" => search.span_name = Some(pair.1),
                "status" => search.status = Some(pair.1),
                _ => search.attributes.push(pair),
            }
        }
    }
    let duration = |name: &str| {
        pairs
            .get(name)
            .map(|text| parse_duration(text, name))
            .transpose()
    };
    search.min_duration_ns = duration("minDuration")?;
    search.max_duration_ns = duration("maxDuration")?;
    if let Some(limit) = pairs.get("limit") {
        search.limit = limit
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=10_000).contains(limit))
            .ok_or_else(|| ApiError::BadRequest(format!("invalid limit={limit:?}")))?;
    }
    let traces = state.traces.search(&search).await?;
    let traces: Vec<Value> = traces.iter().map(tempo_trace).collect();
    Ok(axum::Json(json!({
        "traces": traces,
        "metrics": { "completedJobs": 1, "totalJobs": 1 },
    }))
    .into_response())
}

/// `key=value key2="quoted value"` pairs.
fn logfmt_pairs(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or_else(|| {
            ApiError::BadRequest(format!("invalid tags={text:?}: use key=value pairs"))
        })?;
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| {
                ApiError::BadRequest(format!("invalid tags={text:?}: unclosed quote"))
            })?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(' ').unwrap_or((after, ""))
        };
        pairs.push((key.trim().to_string(), value.to_string()));
        rest = after.trim_start();
    }
    Ok(pairs)
}

async fn tags_v1(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (from, until) = range(&QueryPairs::from_query(raw.as_deref()), TAG_WINDOW_NANOS)?;
    let mut names = state
        .traces
        .attribute_names(AttributeSource::Span, from, until)
        .await?;
    names.extend(
        state
            .traces
            .attribute_names(AttributeSource::Resource, from, until)
            .await?,
    );
    names.sort();
    names.dedup();
    Ok(axum::Json(json!({ "tagNames": names })).into_response())
}

async fn tags_v2(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let (from, until) = range(&pairs, TAG_WINDOW_NANOS)?;
    let mut scopes = Vec::new();
    let wanted = pairs.get("scope").unwrap_or("all");
    for (name, source) in [
        ("resource", AttributeSource::Resource),
        ("span", AttributeSource::Span),
    ] {
        if wanted == "all" || wanted == name {
            let tags = state.traces.attribute_names(source, from, until).await?;
            scopes.push(json!({ "name": name, "tags": tags }));
        }
    }
    if wanted == "all" || wanted == "intrinsic" {
        scopes.push(json!({ "name": "intrinsic", "tags": INTRINSICS }));
    }
    Ok(axum::Json(json!({ "scopes": scopes })).into_response())
}

/// Values of a tag: `resource.x`, `span.x`, `.x`, or an intrinsic.
async fn tag_values(
    state: &ApiState,
    tag: &str,
    from: i64,
    until: i64,
) -> Result<Vec<String>, ApiError> {
    let column = match tag {
        "name" => Some("span_name"),
        "status" => Some("status_code"),
        "kind" => Some("span_kind"),
        "rootServiceName" | "resource.service.name" | "service.name" => Some("service_name"),
        _ => None,
    };
    if let Some(column) = column {
        return Ok(state.traces.column_values(column, from, until).await?);
    }
    let (sources, name): (&[AttributeSource], &str) =
        if let Some(name) = tag.strip_prefix("resource.") {
            (&[AttributeSource::Resource], name)
        } else if let Some(name) = tag.strip_prefix("span.") {
            (&[AttributeSource::Span], name)
        } else {
            (
                &[AttributeSource::Span, AttributeSource::Resource],
                tag.strip_prefix('.').unwrap_or(tag),
            )
        };
    let mut values = Vec::new();
    for source in sources {
        values.extend(
            state
                .traces
                .attribute_values(*source, name, from, until)
                .await?,
        );
    }
    values.sort();
    values.dedup();
    Ok(values)
}

async fn tag_values_v1(
    State(state): State<Arc<ApiState>>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (from, until) = range(&QueryPairs::from_query(raw.as_deref()), TAG_WINDOW_NANOS)?;
    let values = tag_values(&state, &tag, from, until).await?;
    Ok(axum::Json(json!({ "tagValues": values })).into_response())
}

async fn tag_values_v2(
    State(state): State<Arc<ApiState>>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (from, until) = range(&QueryPairs::from_query(raw.as_deref()), TAG_WINDOW_NANOS)?;
    let keyword = matches!(tag.as_str(), "status" | "kind");
    let values: Vec<Value> = tag_values(&state, &tag, from, until)
        .await?
        .into_iter()
        .map(|value| {
            let kind = if keyword { "keyword" } else { "string" };
            json!({ "type": kind, "value": value })
        })
        .collect();
    Ok(axum::Json(json!({ "tagValues": values })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_tags() {
        let pairs = logfmt_pairs(r#"service.name=api http.route="/a b" x=1"#).unwrap();
        assert_eq!(
            pairs,
            [
                ("service.name".to_string(), "api".to_string()),
                ("http.route".to_string(), "/a b".to_string()),
                ("x".to_string(), "1".to_string()),
            ]
        );
        assert!(logfmt_pairs("novalue").is_err());
        assert!(logfmt_pairs(r#"a="open"#).is_err());
    }
}
