//! Trace queries over the `spans` table: services and their operations, a trace by
//! id in tree order, and trace search — by structured filters or by TraceQL.
//!
//! Search picks candidate traces with one SQL scan (the structured filters, or the
//! span conditions TraceQL says every match must contain), newest first, then
//! fetches the candidates' spans and evaluates the TraceQL query per trace.

use std::collections::{BTreeSet, HashMap};

use arrow::array::{Array, AsArray, MapArray, StringArray, StructArray};
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use vispyr_traceql::{AttributeScope, CompareOp, Condition, Field, Intrinsic, Kind, Status};

use crate::sqltext::{literal, time_literal};
use crate::{QueryEngine, QueryError};

/// Candidate traces one search evaluates at most.
pub const MAX_CANDIDATES: usize = 2_000;
/// How far outside the search range a candidate's spans are still fetched.
const TRACE_MARGIN_NANOS: i64 = 3_600 * 1_000_000_000;

/// Trace queries.
#[derive(Clone)]
pub struct TraceQueries {
    engine: QueryEngine,
}

/// One span with everything the trace view shows; attribute values keep their type.
#[derive(Debug, Clone, Serialize)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub service_name: String,
    pub kind: String,
    pub status: String,
    pub status_message: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub duration_ns: i64,
    /// Depth in the tree (roots are 0).
    pub depth: usize,
    pub attributes: Map<String, Json>,
    pub resource: Map<String, Json>,
    pub scope_name: String,
    pub scope_version: String,
    pub events: Vec<Json>,
    pub links: Vec<Json>,
    /// Log records with this span's id (filled in by callers that ask for it).
    pub log_count: u64,
}

/// What a search answers per trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub root_service: String,
    pub root_name: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub span_count: usize,
    pub error_count: usize,
    pub services: Vec<String>,
    /// Spans the query selected (all spans for structured searches).
    pub matched: usize,
    /// The first few selected spans (by start time), for Tempo's span sets.
    pub matched_spans: Vec<MatchedSpan>,
}

/// A span a search selected.
#[derive(Debug, Clone, Serialize)]
pub struct MatchedSpan {
    pub span_id: String,
    pub name: String,
    pub service_name: String,
    pub start_ns: i64,
    pub duration_ns: i64,
}

/// Selected spans a summary lists at most (Tempo's default `spss`).
pub const MATCHED_SPANS_LISTED: usize = 3;

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeSource {
    Span,
    Resource,
}

impl AttributeSource {
    fn column(self) -> &'static str {
        match self {
            AttributeSource::Span => "span_attributes",
            AttributeSource::Resource => "resource_attributes",
        }
    }
}

/// A trace search.
#[derive(Debug, Clone, Default)]
pub struct TraceSearch {
    pub from: i64,
    pub until: i64,
    pub service: Option<String>,
    pub span_name: Option<String>,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    /// `ok`, `error` or `unset`.
    pub status: Option<String>,
    /// Span or resource attributes that must equal the value.
    pub attributes: Vec<(String, String)>,
    pub traceql: Option<vispyr_traceql::Query>,
    pub limit: usize,
}

fn traceql_kind(kind: &str) -> Kind {
    match kind {
        "server" => Kind::Server,
        "client" => Kind::Client,
        "producer" => Kind::Producer,
        "consumer" => Kind::Consumer,
        "internal" => Kind::Internal,
        _ => Kind::Unspecified,
    }
}

fn traceql_status(status: &str) -> Status {
    match status {
        "ok" => Status::Ok,
        "error" => Status::Error,
        _ => Status::Unset,
    }
}

/// The SQL for a TraceQL condition, when one can be written that every span
/// satisfying the condition also satisfies (a superset is fine: it only prunes).
fn condition_sql(condition: &Condition) -> Option<String> {
    use vispyr_traceql::Value;
    let op = match condition.op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Regex => "~",
        CompareOp::NotRegex => "!~",
    };
    let text = |column: &str, value: &str| {
        if matches!(condition.op, CompareOp::Regex | CompareOp::NotRegex) {
            Some(format!(
                "{column} {op} {}",
                literal(&format!("^(?s:{value})$"))
            ))
        } else {
            Some(format!("{column} {op} {}", literal(value)))
        }
    };
    let equality = matches!(
        condition.op,
        CompareOp::Eq | CompareOp::Ne | CompareOp::Regex | CompareOp::NotRegex
    );
    match (&condition.field, &condition.value) {
        (Field::Intrinsic(Intrinsic::Name), Value::Str(name)) => text("span_name", name),
        (Field::Intrinsic(Intrinsic::StatusMessage), Value::Str(message)) => {
            text("coalesce(status_message, '')", message)
        }
        (Field::Intrinsic(Intrinsic::Status), Value::Status(status)) if equality => {
            text("status_code", status.as_str())
        }
        (Field::Intrinsic(Intrinsic::Kind), Value::Kind(kind)) if equality => {
            text("span_kind", kind.as_str())
        }
        (Field::Intrinsic(Intrinsic::Duration), Value::Duration(nanos))
            if !matches!(condition.op, CompareOp::Regex | CompareOp::NotRegex) =>
        {
            Some(format!("duration_ns {op} {nanos}"))
        }
        // Attributes: only string equality and regexes on string values are pushed
        // down (the map holds every type as text, so other comparisons could lose
        // matches); `!=` and `!~` also hold for a missing key in SQL, which is a
        // superset of TraceQL's "present and different".
        (Field::Attribute { scope, name }, Value::Str(value))
            if equality && !matches!(condition.op, CompareOp::Ne | CompareOp::NotRegex) =>
        {
            let span = format!("span_attributes[{}]", literal(name));
            let resource = format!("resource_attributes[{}]", literal(name));
            let service = (name == "service.name").then_some("service_name");
            let columns: Vec<String> = match scope {
                AttributeScope::Span => vec![span],
                AttributeScope::Resource => vec![resource]
                    .into_iter()
                    .chain(service.map(str::to_owned))
                    .collect(),
                AttributeScope::Any => vec![span, resource]
                    .into_iter()
                    .chain(service.map(str::to_owned))
                    .collect(),
            };
            let alternatives: Vec<String> = columns
                .iter()
                .filter_map(|column| text(column, value))
                .collect();
            Some(format!("({})", alternatives.join(" OR ")))
        }
        _ => None,
    }
}

/// Attribute values with their types, from a map row and its types column.
pub(crate) fn typed_attributes(
    entries: &StructArray,
    types: Option<&str>,
) -> Vec<(String, TypedValue)> {
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    let types: HashMap<String, String> = types
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    (0..entries.len())
        .map(|i| {
            let key = keys.value(i).to_string();
            let text = values.value(i);
            let value = match types.get(&key).map(String::as_str) {
                Some("int") => text
                    .parse()
                    .map(TypedValue::Int)
                    .unwrap_or(TypedValue::Str(text.into())),
                Some("double") => text
                    .parse()
                    .map(TypedValue::Float)
                    .unwrap_or(TypedValue::Str(text.into())),
                Some("bool") => TypedValue::Bool(text == "true"),
                Some("array" | "kvlist") => serde_json::from_str(text)
                    .map(TypedValue::Json)
                    .unwrap_or(TypedValue::Str(text.into())),
                _ => TypedValue::Str(text.to_string()),
            };
            (key, value)
        })
        .collect()
}

/// An attribute value with its OTLP type.
#[derive(Debug, Clone)]
pub(crate) enum TypedValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Json(Json),
}

impl TypedValue {
    fn json(&self) -> Json {
        match self {
            TypedValue::Str(text) => Json::String(text.clone()),
            TypedValue::Int(number) => Json::from(*number),
            TypedValue::Float(number) => {
                serde_json::Number::from_f64(*number).map_or(Json::Null, Json::Number)
            }
            TypedValue::Bool(flag) => Json::Bool(*flag),
            TypedValue::Json(value) => value.clone(),
        }
    }

    fn traceql(&self) -> vispyr_traceql::Value {
        use vispyr_traceql::Value;
        match self {
            TypedValue::Str(text) => Value::Str(text.clone()),
            TypedValue::Int(number) => Value::Int(*number),
            TypedValue::Float(number) => Value::Float(*number),
            TypedValue::Bool(flag) => Value::Bool(*flag),
            TypedValue::Json(value) => Value::Str(value.to_string()),
        }
    }
}

pub(crate) fn json_map(values: &[(String, TypedValue)]) -> Map<String, Json> {
    values.iter().map(|(k, v)| (k.clone(), v.json())).collect()
}

fn map_row(maps: &MapArray, row: usize) -> StructArray {
    maps.value(row)
}

fn optional_string(column: &StringArray, row: usize) -> Option<&str> {
    (!column.is_null(row)).then(|| column.value(row))
}

/// Columns a span is read from, in this order.
const SPAN_COLUMNS: &str = "trace_id, span_id, coalesce(parent_span_id, '') AS parent_span_id, span_name, \
service_name, span_kind, status_code, coalesce(status_message, '') AS status_message, timestamp, \
end_timestamp, duration_ns, span_attributes, span_attribute_types, resource_attributes, \
resource_attribute_types, coalesce(scope_name, '') AS scope_name, \
coalesce(scope_version, '') AS scope_version, events, links";

/// Events or links of a row as JSON objects (`attributes` typed).
fn nested_json(list: &arrow::array::ListArray, row: usize) -> Vec<Json> {
    let items = list.value(row);
    let items = items.as_struct();
    let names = items.column_names();
    let attributes_index = names.iter().position(|n| *n == "attributes");
    let types_index = names.iter().position(|n| *n == "attribute_types");
    (0..items.len())
        .map(|i| {
            let mut object = Map::new();
            for (c, name) in names.iter().enumerate() {
                if Some(c) == attributes_index || Some(c) == types_index {
                    continue;
                }
                let column = items.column(c);
                let value =
                    if let Some(times) = column.as_primitive_opt::<TimestampNanosecondType>() {
                        Json::from(times.value(i))
                    } else if let Some(text) = column.as_string_opt::<i32>() {
                        optional_string(text, i).map_or(Json::Null, |t| Json::String(t.to_string()))
                    } else {
                        Json::Null
                    };
                let key = if *name == "timestamp" {
                    "time_ns"
                } else {
                    name
                };
                object.insert(key.to_string(), value);
            }
            if let Some(a) = attributes_index {
                let maps = items.column(a).as_map();
                let types = types_index
                    .and_then(|t| optional_string(items.column(t).as_string::<i32>(), i));
                let attributes = typed_attributes(&map_row(maps, i), types);
                object.insert("attributes".into(), Json::Object(json_map(&attributes)));
            }
            Json::Object(object)
        })
        .collect()
}

/// A span with its span and resource attributes, typed (for TraceQL).
struct SpanRow {
    record: SpanRecord,
    attributes: Vec<(String, TypedValue)>,
    resource: Vec<(String, TypedValue)>,
}

/// Spans of `batches` (selected with [`SPAN_COLUMNS`]) with typed attributes.
fn span_rows(batches: &[RecordBatch]) -> Vec<SpanRow> {
    let mut out = Vec::new();
    for batch in batches {
        let text = |i: usize| batch.column(i).as_string::<i32>();
        let (trace_ids, span_ids, parents, names, services) =
            (text(0), text(1), text(2), text(3), text(4));
        let (kinds, statuses, messages) = (text(5), text(6), text(7));
        let starts = batch.column(8).as_primitive::<TimestampNanosecondType>();
        let ends = batch.column(9).as_primitive::<TimestampNanosecondType>();
        let durations = batch.column(10).as_primitive::<Int64Type>();
        let span_maps = batch.column(11).as_map();
        let span_types = text(12);
        let resource_maps = batch.column(13).as_map();
        let resource_types = text(14);
        let (scope_names, scope_versions) = (text(15), text(16));
        let events = batch.column(17).as_list::<i32>();
        let links = batch.column(18).as_list::<i32>();
        for row in 0..batch.num_rows() {
            let attributes =
                typed_attributes(&map_row(span_maps, row), optional_string(span_types, row));
            let resource = typed_attributes(
                &map_row(resource_maps, row),
                optional_string(resource_types, row),
            );
            let record = SpanRecord {
                trace_id: trace_ids.value(row).to_string(),
                span_id: span_ids.value(row).to_string(),
                parent_span_id: parents.value(row).to_string(),
                name: names.value(row).to_string(),
                service_name: services.value(row).to_string(),
                kind: kinds.value(row).to_string(),
                status: statuses.value(row).to_string(),
                status_message: messages.value(row).to_string(),
                start_ns: starts.value(row),
                end_ns: ends.value(row),
                duration_ns: durations.value(row),
                depth: 0,
                attributes: json_map(&attributes),
                resource: json_map(&resource),
                scope_name: scope_names.value(row).to_string(),
                scope_version: scope_versions.value(row).to_string(),
                events: nested_json(events, row),
                links: nested_json(links, row),
                log_count: 0,
            };
            out.push(SpanRow {
                record,
                attributes,
                resource,
            });
        }
    }
    out
}

/// Orders spans as the tree is drawn: each root (a span without a known parent)
/// by start time, then its children depth first by start time; sets `depth`.
fn tree_order(mut spans: Vec<SpanRecord>) -> Vec<SpanRecord> {
    spans.sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
    // Duplicate span ids (a retried export) keep the first.
    let mut seen = BTreeSet::new();
    spans.retain(|span| seen.insert(span.span_id.clone()));
    let index: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, span)| (span.span_id.as_str(), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match index.get(span.parent_span_id.as_str()) {
            Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        order.push((i, depth));
        if let Some(kids) = children.get(&i) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    // Spans on a parent cycle have no root: append them flat.
    order.extend((0..spans.len()).filter(|&i| !visited[i]).map(|i| (i, 0)));
    let mut slots: Vec<Option<SpanRecord>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, depth)| {
            slots[i].take().map(|mut span| {
                span.depth = depth;
                span
            })
        })
        .collect()
}

fn summary(trace_id: &str, spans: &[SpanRecord], selected: &BTreeSet<String>) -> TraceSummary {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let root = spans.first();
    TraceSummary {
        trace_id: trace_id.to_string(),
        root_service: root.map(|s| s.service_name.clone()).unwrap_or_default(),
        root_name: root.map(|s| s.name.clone()).unwrap_or_default(),
        start_ns: start,
        duration_ns: end - start,
        span_count: spans.len(),
        error_count: spans.iter().filter(|s| s.status == "error").count(),
        services: spans
            .iter()
            .map(|s| s.service_name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        matched: selected.len(),
        matched_spans: spans
            .iter()
            .filter(|span| selected.contains(&span.span_id))
            .take(MATCHED_SPANS_LISTED)
            .map(|span| MatchedSpan {
                span_id: span.span_id.clone(),
                name: span.name.clone(),
                service_name: span.service_name.clone(),
                start_ns: span.start_ns,
                duration_ns: span.duration_ns,
            })
            .collect(),
    }
}

/// A span as TraceQL evaluates it.
fn traceql_span(row: &SpanRow) -> vispyr_traceql::SpanData {
    let typed = |values: &[(String, TypedValue)]| {
        values
            .iter()
            .map(|(k, v)| (k.clone(), v.traceql()))
            .collect()
    };
    let span = &row.record;
    vispyr_traceql::SpanData {
        span_id: span.span_id.clone(),
        parent_span_id: span.parent_span_id.clone(),
        name: span.name.clone(),
        service_name: span.service_name.clone(),
        kind: traceql_kind(&span.kind),
        status: traceql_status(&span.status),
        status_message: span.status_message.clone(),
        start_ns: span.start_ns,
        duration_ns: span.duration_ns,
        span_attributes: typed(&row.attributes),
        resource_attributes: typed(&row.resource),
    }
}

impl TraceQueries {
    pub fn new(engine: QueryEngine) -> TraceQueries {
        TraceQueries { engine }
    }

    fn range(from: i64, until: i64) -> String {
        format!(
            "timestamp >= {} AND timestamp < {}",
            time_literal(from),
            time_literal(until)
        )
    }

    /// Services with spans in the range, sorted.
    pub async fn services(&self, from: i64, until: i64) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT service_name FROM spans WHERE {}",
            Self::range(from, until)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Span names of `service` in the range, sorted.
    pub async fn operations(
        &self,
        service: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT span_name FROM spans WHERE service_name = {} AND {}",
            literal(service),
            Self::range(from, until)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Attribute keys of spans in the range, sorted.
    pub async fn attribute_names(
        &self,
        source: AttributeSource,
        from: i64,
        until: i64,
    ) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT k FROM (SELECT unnest(map_keys({})) AS k FROM spans WHERE {})",
            source.column(),
            Self::range(from, until)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Values of one attribute (as text) in the range, sorted.
    pub async fn attribute_values(
        &self,
        source: AttributeSource,
        name: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<String>, QueryError> {
        let sql = format!(
            "SELECT DISTINCT {}[{}] FROM spans WHERE {}",
            source.column(),
            literal(name),
            Self::range(from, until)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Distinct values of a `spans` column (`span_name`, `status_code`, `span_kind`,
    /// `service_name`) in the range, sorted.
    pub async fn column_values(
        &self,
        column: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<String>, QueryError> {
        if !["span_name", "status_code", "span_kind", "service_name"].contains(&column) {
            return Err(QueryError::Invalid(format!(
                "no such span column {column:?}"
            )));
        }
        let sql = format!(
            "SELECT DISTINCT {column} FROM spans WHERE {}",
            Self::range(from, until)
        );
        self.engine.distinct_strings(&sql).await
    }

    /// Every span of a trace in tree order; empty when the trace is unknown.
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<SpanRecord>, QueryError> {
        let id = trace_id.to_ascii_lowercase();
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(QueryError::Invalid(format!(
                "invalid trace id {trace_id:?}: expected 32 hex digits"
            )));
        }
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = {}",
            literal(&id)
        );
        let batches = self.engine.batches(&sql).await?;
        Ok(tree_order(
            span_rows(&batches)
                .into_iter()
                .map(|row| row.record)
                .collect(),
        ))
    }

    /// Traces matching `search`, newest first.
    pub async fn search(&self, search: &TraceSearch) -> Result<Vec<TraceSummary>, QueryError> {
        let mut conditions = vec![Self::range(search.from, search.until)];
        if let Some(service) = &search.service {
            conditions.push(format!("service_name = {}", literal(service)));
        }
        if let Some(name) = &search.span_name {
            conditions.push(format!("span_name = {}", literal(name)));
        }
        if let Some(min) = search.min_duration_ns {
            conditions.push(format!("duration_ns >= {min}"));
        }
        if let Some(max) = search.max_duration_ns {
            conditions.push(format!("duration_ns <= {max}"));
        }
        if let Some(status) = &search.status {
            conditions.push(format!("status_code = {}", literal(status)));
        }
        for (key, value) in &search.attributes {
            conditions.push(format!(
                "(span_attributes[{k}] = {v} OR resource_attributes[{k}] = {v})",
                k = literal(key),
                v = literal(value)
            ));
        }
        if let Some(query) = &search.traceql
            && let Some(first) = query.required_span_filters().first()
        {
            conditions.extend(first.iter().filter_map(condition_sql));
        }
        let structured = search.traceql.is_none();
        let limit = search.limit.max(1);
        let candidates = if structured { limit } else { MAX_CANDIDATES };
        let sql = format!(
            "SELECT trace_id, max(timestamp) AS newest FROM spans WHERE {} GROUP BY trace_id ORDER BY newest DESC LIMIT {candidates}",
            conditions.join(" AND ")
        );
        let mut ids: Vec<String> = Vec::new();
        for batch in self.engine.batches(&sql).await? {
            let column = batch.column(0).as_string::<i32>();
            ids.extend(column.iter().flatten().map(str::to_owned));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let id_list: Vec<String> = ids.iter().map(|id| literal(id)).collect();
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id IN ({}) AND {}",
            id_list.join(", "),
            Self::range(
                search.from.saturating_sub(TRACE_MARGIN_NANOS),
                search.until.saturating_add(TRACE_MARGIN_NANOS)
            )
        );
        let batches = self.engine.batches(&sql).await?;
        let mut by_trace: HashMap<String, Vec<_>> = HashMap::new();
        for row in span_rows(&batches) {
            by_trace
                .entry(row.record.trace_id.clone())
                .or_default()
                .push(row);
        }
        let mut out = Vec::new();
        for id in ids {
            let Some(rows) = by_trace.remove(&id) else {
                continue;
            };
            let selected: BTreeSet<String> = match &search.traceql {
                None => rows.iter().map(|row| row.record.span_id.clone()).collect(),
                Some(query) => {
                    let trace = vispyr_traceql::Trace {
                        trace_id: id.clone(),
                        spans: rows.iter().map(traceql_span).collect(),
                    };
                    let sets = query.evaluate(&trace);
                    if sets.is_empty() {
                        continue;
                    }
                    sets.iter()
                        .flat_map(|set| set.spans.iter())
                        .map(|&i| trace.spans[i].span_id.clone())
                        .collect()
                }
            };
            let spans = tree_order(rows.into_iter().map(|row| row.record).collect());
            out.push(summary(&id, &spans, &selected));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, start: i64) -> SpanRecord {
        SpanRecord {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: id.into(),
            service_name: "s".into(),
            kind: "server".into(),
            status: "unset".into(),
            status_message: String::new(),
            start_ns: start,
            end_ns: start + 10,
            duration_ns: 10,
            depth: 0,
            attributes: Map::new(),
            resource: Map::new(),
            scope_name: String::new(),
            scope_version: String::new(),
            events: Vec::new(),
            links: Vec::new(),
            log_count: 0,
        }
    }

    #[test]
    fn tree_order_is_depth_first_by_start() {
        let spans = vec![
            span("c2", "root", 5),
            span("g", "c1", 3),
            span("root", "", 0),
            span("c1", "root", 2),
            span("orphan", "missing", 1),
            span("c1", "root", 2),
        ];
        let ordered: Vec<(String, usize)> = tree_order(spans)
            .into_iter()
            .map(|s| (s.span_id, s.depth))
            .collect();
        assert_eq!(
            ordered,
            [
                ("root".to_string(), 0),
                ("c1".to_string(), 1),
                ("g".to_string(), 2),
                ("c2".to_string(), 1),
                ("orphan".to_string(), 0),
            ]
        );
    }

    #[test]
    fn conditions_become_sql_only_when_sound() {
        let query = vispyr_traceql::parse(
            r#"{ resource.service.name = "api" && span.http.status_code = 500 && duration > 100ms && name =~ "GET.*" }"#,
        )
        .unwrap();
        let filters = query.required_span_filters();
        let sql: Vec<String> = filters[0].iter().filter_map(condition_sql).collect();
        assert!(
            sql.iter().any(|s| s.contains("service_name = 'api'")),
            "{sql:?}"
        );
        assert!(
            sql.iter().any(|s| s == "duration_ns > 100000000"),
            "{sql:?}"
        );
        assert!(
            sql.iter().any(|s| s == "span_name ~ '^(?s:GET.*)$'"),
            "{sql:?}"
        );
        // An integer attribute compared as text could miss matches: not pushed down.
        assert!(
            !sql.iter().any(|s| s.contains("http.status_code")),
            "{sql:?}"
        );
    }
}
