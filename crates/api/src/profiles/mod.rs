//! Native profile API under `/api/v1/profiles/`: profile types, labels, flamegraph,
//! function table, timeline, diff, exports, span profiles, and the view rules.

pub mod rules_store;

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vispyr_flamegraph::{CompiledRules, GroupBy, Rule, Tree, diff, list_presets};
use vispyr_query::profiles::{MergedStacks, Selection, Selector};

use crate::params::{parse_duration, time_range};
use crate::{ApiError, ApiState};

/// Nodes a flamegraph keeps unless the client asks otherwise.
pub const DEFAULT_MAX_NODES: usize = 2048;
/// The most nodes a client may ask for.
pub const MAX_MAX_NODES: usize = 65_536;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/profiles/types", get(types))
        .route("/api/v1/profiles/labels", get(labels))
        .route("/api/v1/profiles/label_values", get(label_values))
        .route("/api/v1/profiles/flamegraph", get(flamegraph))
        .route("/api/v1/profiles/table", get(table))
        .route("/api/v1/profiles/timeline", get(timeline))
        .route("/api/v1/profiles/diff", get(diff_handler))
        .route("/api/v1/profiles/export", get(export))
        .route("/api/v1/profiles/presets", get(presets))
        .route("/api/v1/profiles/rules", get(list_rules).post(create_rule))
        .route("/api/v1/profiles/rules/presets", put(set_presets))
        .route(
            "/api/v1/profiles/rules/{id}",
            put(replace_rule).delete(delete_rule),
        )
}

/// Parameters shared by the selection endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct SelectionParams {
    /// `type{matchers}`.
    pub query: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub max_nodes: Option<usize>,
    /// `default`, `none`, or `preset:<language>` items, comma separated.
    pub rules: Option<String>,
    /// `tag` merges frames by tag.
    pub group_by: Option<String>,
    /// Samples of one span.
    pub span_id: Option<String>,
    /// Samples of one trace's spans (or, if it has none, of its services and time).
    pub trace_id: Option<String>,
    pub format: Option<String>,
    pub step: Option<String>,
    pub name: Option<String>,
}

fn selector(query: Option<&str>) -> Result<Selector, ApiError> {
    Selector::parse(query.unwrap_or("")).map_err(ApiError::BadRequest)
}

/// The selection a request names, and whether it is approximate (a trace whose
/// spans carry no profile labels falls back to its services during its time).
async fn selection(
    state: &ApiState,
    params: &SelectionParams,
    require_type: bool,
) -> Result<(Selection, Option<String>), ApiError> {
    let selector = selector(params.query.as_deref())?;
    if require_type && selector.profile_type.is_none() {
        return Err(ApiError::BadRequest(
            "query must start with a profile type, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"api\"}".into(),
        ));
    }
    let (from, until) = time_range(params.from.as_deref(), params.until.as_deref())?;
    let mut selection = Selection {
        selector,
        from,
        until,
        ..Selection::default()
    };
    if let Some(span_id) = params.span_id.as_deref().filter(|s| !s.is_empty()) {
        selection.span_ids.push(span_id.to_ascii_lowercase());
        return Ok((selection, None));
    }
    let Some(trace_id) = params.trace_id.as_deref().filter(|s| !s.is_empty()) else {
        return Ok((selection, None));
    };
    let window = state
        .profiles
        .trace_window(trace_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("trace {trace_id} not found")))?;
    // Profiles are taken over seconds; give the trace's window a little slack.
    let slack = 1_000_000_000;
    let mut by_span = selection.clone();
    by_span.span_ids = window.span_ids.clone();
    by_span.from = window.start - slack;
    by_span.until = window.end + slack;
    if state.profiles.has_span_samples(&by_span).await? {
        return Ok((by_span, None));
    }
    let mut approximate = selection;
    approximate.from = window.start;
    approximate.until = window.end.max(window.start + 1);
    approximate.overlap = true;
    let services: Vec<String> = window.services.into_iter().collect();
    approximate
        .selector
        .matchers
        .retain(|m| m.name != "service_name");
    approximate
        .selector
        .matchers
        .push(vispyr_query::profiles::Matcher {
            name: "service_name".into(),
            op: vispyr_query::profiles::MatchOp::Regex,
            value: services
                .iter()
                .map(|s| regex_escape(s))
                .collect::<Vec<_>>()
                .join("|"),
        });
    Ok((
        approximate,
        Some(format!(
            "approximate: no samples carry this trace's span ids, so this is every profile of {} taken while the trace ran ({} ms)",
            services.join(", "),
            (window.end - window.start) / 1_000_000
        )),
    ))
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn group_by(params: &SelectionParams) -> Result<GroupBy, ApiError> {
    match params.group_by.as_deref() {
        None | Some("") | Some("none") => Ok(GroupBy::None),
        Some("tag") => Ok(GroupBy::Tag),
        Some(other) => Err(ApiError::BadRequest(format!(
            "invalid group_by={other:?}: use tag or none"
        ))),
    }
}

fn rules(state: &ApiState, params: &SelectionParams) -> Result<CompiledRules, ApiError> {
    state
        .rules
        .compile(params.rules.as_deref(), group_by(params)?)
}

fn max_nodes(params: &SelectionParams) -> Result<usize, ApiError> {
    match params.max_nodes {
        None => Ok(DEFAULT_MAX_NODES),
        Some(0) => Err(ApiError::BadRequest("max_nodes must be at least 1".into())),
        Some(n) if n > MAX_MAX_NODES => Err(ApiError::BadRequest(format!(
            "max_nodes={n} is over the limit of {MAX_MAX_NODES}"
        ))),
        Some(n) => Ok(n),
    }
}

/// Merged stacks of a request, with the note saying if they are approximate.
async fn merged(
    state: &ApiState,
    params: &SelectionParams,
) -> Result<(Selection, MergedStacks, Option<String>), ApiError> {
    let (selection, note) = selection(state, params, true).await?;
    let merged = state.profiles.merge(&selection).await?;
    Ok((selection, merged, note))
}

fn build_tree(merged: &MergedStacks, rules: &CompiledRules) -> Tree {
    Tree::build(merged.stacks.iter().map(|(s, v)| (s.as_slice(), *v)), rules)
}

fn envelope(selection: &Selection, merged: &MergedStacks, note: Option<String>) -> Value {
    json!({
        "profile_type": selection.selector.profile_type.as_ref().map(|t| t.id()),
        "from": selection.from,
        "until": selection.until,
        "approximate": note.is_some(),
        "note": note,
        "missing_stacks": merged.missing_stacks,
    })
}

async fn types(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let (from, until) = time_range(params.from.as_deref(), params.until.as_deref())?;
    let types = state.profiles.profile_types(from, until).await?;
    Ok(Json(json!({ "types": types })))
}

async fn labels(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let (selection, _) = selection(&state, &params, false).await?;
    let names = state.profiles.label_names(&selection).await?;
    Ok(Json(json!({ "names": names })))
}

async fn label_values(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let name = params
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing name parameter".into()))?;
    let (selection, _) = selection(&state, &params, false).await?;
    let values = state.profiles.label_values(&name, &selection).await?;
    Ok(Json(json!({ "name": name, "values": values })))
}

async fn flamegraph(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let rules = rules(&state, &params)?;
    let max_nodes = max_nodes(&params)?;
    let (selection, merged, note) = merged(&state, &params).await?;
    let tree = build_tree(&merged, &rules).prune(max_nodes);
    let mut body = envelope(&selection, &merged, note);
    match params.format.as_deref().unwrap_or("tree") {
        "tree" => body["flamegraph"] = serde_json::to_value(&tree).map_err(internal)?,
        "flamebearer" => {
            body["flamebearer"] = serde_json::to_value(tree.flame_graph()).map_err(internal)?;
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid format={other:?}: use tree or flamebearer"
            )));
        }
    }
    Ok(Json(body))
}

async fn table(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let rules = rules(&state, &params)?;
    let (selection, merged, note) = merged(&state, &params).await?;
    let tree = build_tree(&merged, &rules);
    let mut body = envelope(&selection, &merged, note);
    body["total"] = json!(tree.total());
    body["rows"] = serde_json::to_value(tree.table()).map_err(internal)?;
    Ok(Json(body))
}

async fn timeline(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Json<Value>, ApiError> {
    let (selection, note) = selection(&state, &params, true).await?;
    let step = match params.step.as_deref() {
        Some(step) => parse_duration(step, "step")?,
        // About 100 points over the range, at least 10 s (a typical upload interval).
        None => ((selection.until - selection.from) / 100).max(10_000_000_000),
    };
    if (selection.until - selection.from) / step.max(1) > 11_000 {
        return Err(ApiError::BadRequest(
            "step too small for the range: at most 11,000 points per series".into(),
        ));
    }
    let group_by: Vec<String> = params
        .group_by
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let series = state.profiles.timeline(&selection, step, &group_by).await?;
    Ok(Json(json!({
        "profile_type": selection.selector.profile_type.as_ref().map(|t| t.id()),
        "step_ms": step / 1_000_000,
        "approximate": note.is_some(),
        "note": note,
        "series": series,
    })))
}

/// Parameters of `/diff`: two selections, each with its own query and range.
#[derive(Debug, Deserialize)]
struct DiffParams {
    baseline: Option<String>,
    comparison: Option<String>,
    from: Option<String>,
    until: Option<String>,
    baseline_from: Option<String>,
    baseline_until: Option<String>,
    comparison_from: Option<String>,
    comparison_until: Option<String>,
    max_nodes: Option<usize>,
    rules: Option<String>,
    group_by: Option<String>,
}

async fn diff_handler(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<DiffParams>,
) -> Result<Json<Value>, ApiError> {
    let side =
        |query: &Option<String>, from: &Option<String>, until: &Option<String>| SelectionParams {
            query: query.clone(),
            from: from.clone().or_else(|| params.from.clone()),
            until: until.clone().or_else(|| params.until.clone()),
            rules: params.rules.clone(),
            group_by: params.group_by.clone(),
            max_nodes: params.max_nodes,
            ..SelectionParams::default()
        };
    let baseline = side(
        &params.baseline,
        &params.baseline_from,
        &params.baseline_until,
    );
    let comparison = side(
        &params.comparison,
        &params.comparison_from,
        &params.comparison_until,
    );
    if baseline.query.is_none() || comparison.query.is_none() {
        return Err(ApiError::BadRequest(
            "diff needs baseline and comparison queries".into(),
        ));
    }
    let rules = rules(&state, &baseline)?;
    let max_nodes = max_nodes(&baseline)?;
    let (_, left, _) = merged(&state, &baseline).await?;
    let (_, right, _) = merged(&state, &comparison).await?;
    let tree = diff(&build_tree(&left, &rules), &build_tree(&right, &rules)).prune(max_nodes);
    Ok(Json(json!({ "diff": tree })))
}

async fn export(
    State(state): State<Arc<ApiState>>,
    Query(params): Query<SelectionParams>,
) -> Result<Response, ApiError> {
    let rules = rules(&state, &params)?;
    let (selection, merged, _) = merged(&state, &params).await?;
    match params.format.as_deref().unwrap_or("pprof") {
        "folded" => {
            let tree = build_tree(&merged, &rules);
            Ok((
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                tree.folded(),
            )
                .into_response())
        }
        "pprof" => {
            let profile_type = selection
                .selector
                .profile_type
                .as_ref()
                .expect("selection requires a type");
            let profile = vispyr_flamegraph::to_pprof(
                merged
                    .stacks
                    .iter()
                    .map(|(stack, value)| (rules.apply(stack), *value)),
                profile_type,
                selection.from,
                selection.until - selection.from,
            );
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(&prost::Message::encode_to_vec(&profile))
                .map_err(internal)?;
            let body = encoder.finish().map_err(internal)?;
            Ok((
                [
                    (header::CONTENT_TYPE, "application/vnd.google.protobuf+gzip"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"profile.pb.gz\"",
                    ),
                ],
                body,
            )
                .into_response())
        }
        other => Err(ApiError::BadRequest(format!(
            "invalid format={other:?}: use pprof or folded"
        ))),
    }
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

async fn presets() -> Result<Json<Value>, ApiError> {
    let mut out = serde_json::Map::new();
    for name in list_presets() {
        let set = vispyr_flamegraph::RuleSet::preset(name).map_err(internal)?;
        out.insert(
            (*name).to_owned(),
            serde_json::to_value(set).map_err(internal)?,
        );
    }
    Ok(Json(json!({ "presets": out })))
}

async fn list_rules(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let (presets, rules) = state.rules.list();
    Json(json!({ "presets": presets, "rules": rules }))
}

/// A JSON body, with JSON errors turned into 400s that say what was wrong.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

async fn create_rule(
    State(state): State<Arc<ApiState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let rule: Rule = parse_body(&body)?;
    let rule = state.rules.create(rule)?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

async fn replace_rule(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Rule>, ApiError> {
    let rule: Rule = parse_body(&body)?;
    Ok(Json(state.rules.replace(&id, rule)?))
}

async fn delete_rule(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.rules.delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetsBody {
    presets: Vec<String>,
}

async fn set_presets(
    State(state): State<Arc<ApiState>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: PresetsBody = parse_body(&body)?;
    state.rules.set_presets(body.presets)?;
    let (presets, _) = state.rules.list();
    Ok(Json(json!({ "presets": presets })))
}
