//! LogQL over the `logs` table: the [`vispyr_logql::Storage`] the engine reads
//! from, and the stream label sets behind Loki's label and series APIs.
//!
//! How a row looks to LogQL (as Loki 3 maps OTLP logs):
//! - stream labels: `service_name` and every resource attribute (for a Loki
//!   push, the stream's own labels), names with characters outside
//!   `[A-Za-z0-9_]` replaced by `_` (`deployment.environment` →
//!   `deployment_environment`);
//! - structured metadata: the log attributes (names sanitised the same way),
//!   `trace_id` and `span_id` when set, and `detected_level` from the severity
//!   when the stream has no `level` label;
//! - the line: the body.
//!
//! SQL narrows rows by time, `service_name` matchers, a value test for other
//! equality matchers and the pushed-down line filters (LIKE and regex, which the
//! text index can use); matchers and filters are then applied exactly per row.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, MapArray, RecordBatch};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};
use futures::StreamExt;
use futures::future::BoxFuture;
use vispyr_logql::{Direction, Labels, LineFilterOp, LogEntry, MatchOp, Matcher, SelectRequest};
use vispyr_model::severity_name;

use crate::QueryError;
use crate::logs::{LogQueries, like_anywhere};
use crate::sqltext::{literal, match_condition, time_literal};

/// The stream label of the service column.
pub const SERVICE_LABEL: &str = "service_name";

/// A label name LogQL can write: characters outside `[A-Za-z0-9_]` become `_`,
/// and a leading digit gets a `_` prefix.
pub fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// Sanitised `name=value` pairs of a map row, sorted, first name wins on a clash.
fn map_labels(
    maps: &MapArray,
    row: usize,
    skip: Option<&str>,
    into: &mut BTreeMap<String, String>,
) {
    let entries = maps.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    for i in 0..entries.len() {
        let key = keys.value(i);
        if skip == Some(key) {
            continue;
        }
        into.entry(label_name(key))
            .or_insert_with(|| values.value(i).to_string());
    }
}

fn stream_labels(service: &str, resources: &MapArray, row: usize) -> Labels {
    let mut labels = BTreeMap::new();
    labels.insert(SERVICE_LABEL.to_string(), service.to_string());
    map_labels(resources, row, Some("service.name"), &mut labels);
    labels.into_iter().collect()
}

/// SQL conditions that every row a request selects satisfies (a superset), and
/// whether they are exact (then SQL may apply the limit).
fn narrowing(request: &SelectRequest) -> (Vec<String>, bool) {
    let mut parts = vec![
        format!("timestamp >= {}", time_literal(request.start_ns)),
        format!("timestamp < {}", time_literal(request.end_ns)),
    ];
    let mut exact = true;
    for matcher in &request.matchers {
        if matcher.name == SERVICE_LABEL {
            parts.push(match_condition("service_name", matcher.op, &matcher.value));
            continue;
        }
        exact = false;
        if matcher.op == MatchOp::Equal && !matcher.value.is_empty() {
            parts.push(format!(
                "array_has(map_values(resource_attributes), {})",
                literal(&matcher.value)
            ));
        }
    }
    for filter in &request.line_filters {
        let values = filter.values();
        match filter.op() {
            LineFilterOp::Contains if !values.is_empty() => {
                let alternatives: Vec<String> = values
                    .iter()
                    .map(|v| format!("body LIKE {} ESCAPE '\\'", like_anywhere(v)))
                    .collect();
                parts.push(format!("({})", alternatives.join(" OR ")));
            }
            LineFilterOp::Regex if values.len() == 1 => {
                parts.push(format!("body ~ {}", literal(&values[0])));
            }
            _ => exact = false,
        }
    }
    (parts, exact)
}

/// Log entries of a batch with (at least) the `logs` columns `timestamp`,
/// `body`, `service_name`, `resource_attributes`, `log_attributes`, `trace_id`,
/// `span_id` and `severity_number`; `keep` sees the line first, so rejected rows
/// cost no label building.
pub fn entries_of(
    batch: &RecordBatch,
    mut keep_line: impl FnMut(&str) -> bool,
    mut keep_stream: impl FnMut(&Labels) -> bool,
    out: &mut Vec<LogEntry>,
    max: usize,
) -> Result<(), QueryError> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| QueryError::Internal(format!("log batch has no {name} column")))
    };
    let times = column("timestamp")?.as_primitive::<TimestampNanosecondType>();
    let bodies = column("body")?.as_string::<i32>();
    let services = column("service_name")?.as_string::<i32>();
    let resources = column("resource_attributes")?.as_map();
    let attributes = column("log_attributes")?.as_map();
    let trace_ids = column("trace_id")?.as_string::<i32>();
    let span_ids = column("span_id")?.as_string::<i32>();
    let severities = column("severity_number")?.as_primitive::<Int32Type>();
    let text = |column: &arrow::array::StringArray, row: usize| -> String {
        if column.is_null(row) {
            String::new()
        } else {
            column.value(row).to_string()
        }
    };
    for row in 0..batch.num_rows() {
        if out.len() >= max {
            return Ok(());
        }
        let line = if bodies.is_null(row) {
            ""
        } else {
            bodies.value(row)
        };
        if !keep_line(line) {
            continue;
        }
        let stream = stream_labels(services.value(row), resources, row);
        if !keep_stream(&stream) {
            continue;
        }
        let mut metadata = BTreeMap::new();
        map_labels(attributes, row, None, &mut metadata);
        for (name, value) in [
            ("trace_id", text(trace_ids, row)),
            ("span_id", text(span_ids, row)),
        ] {
            if !value.is_empty() {
                metadata.insert(name.to_string(), value);
            }
        }
        let severity = severities.value(row);
        if severity > 0 && !stream.iter().any(|(name, _)| name == "level") {
            metadata
                .entry("detected_level".to_string())
                .or_insert_with(|| severity_name(severity).to_string());
        }
        out.push(LogEntry {
            timestamp_ns: times.value(row),
            line: line.to_string(),
            stream,
            metadata: metadata.into_iter().collect(),
        });
    }
    Ok(())
}

impl LogQueries {
    /// Entries for the LogQL engine, as [`SelectRequest`] describes.
    pub async fn select_entries(
        &self,
        request: &SelectRequest,
    ) -> Result<Vec<LogEntry>, QueryError> {
        let (conditions, exact) = narrowing(request);
        let order = match request.direction {
            Direction::Forward => "ASC",
            Direction::Backward => "DESC",
        };
        let limit = match (exact, request.limit) {
            (true, Some(limit)) => format!(" LIMIT {limit}"),
            _ => String::new(),
        };
        // The body is the widest column: leave it unread when nobody looks at it.
        let body = if request.needs_line || !request.line_filters.is_empty() {
            "body"
        } else {
            "'' AS body"
        };
        let sql = format!(
            "SELECT timestamp, {body}, service_name, resource_attributes, log_attributes, \
             trace_id, span_id, severity_number FROM logs WHERE {} ORDER BY timestamp {order}{limit}",
            conditions.join(" AND ")
        );
        let wanted = request.limit.unwrap_or(usize::MAX);
        let mut entries = Vec::new();
        let mut stream = self.engine().stream(&sql).await?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from)?;
            entries_of(
                &batch,
                |line| request.line_filters.iter().all(|f| f.matches(line)),
                |labels| request.matchers.iter().all(|m| m.matches_labels(labels)),
                &mut entries,
                wanted,
            )?;
            if entries.len() >= wanted {
                break;
            }
        }
        Ok(entries)
    }

    /// The distinct stream label sets with rows in `[start_ns, end_ns)` matching
    /// any of `selectors` (each a conjunction; all streams when empty).
    pub async fn streams(
        &self,
        start_ns: i64,
        end_ns: i64,
        selectors: &[Vec<Matcher>],
    ) -> Result<Vec<Labels>, QueryError> {
        let sql = format!(
            "SELECT service_name, resource_attributes FROM logs \
             WHERE timestamp >= {} AND timestamp < {} GROUP BY 1, 2",
            time_literal(start_ns),
            time_literal(end_ns)
        );
        let mut out = std::collections::BTreeSet::new();
        for batch in self.engine().batches(&sql).await? {
            let services = batch.column(0).as_string::<i32>();
            let resources = batch.column(1).as_map();
            for row in 0..batch.num_rows() {
                let labels = stream_labels(services.value(row), resources, row);
                let selected = selectors.is_empty()
                    || selectors
                        .iter()
                        .any(|matchers| matchers.iter().all(|m| m.matches_labels(&labels)));
                if selected {
                    out.insert(labels);
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

impl vispyr_logql::Storage for LogQueries {
    fn select<'a>(
        &'a self,
        request: &'a SelectRequest,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, vispyr_logql::Error>> {
        Box::pin(async move {
            self.select_entries(request)
                .await
                .map_err(|error| match error {
                    QueryError::Invalid(message) => vispyr_logql::Error::BadQuery(message),
                    other => vispyr_logql::Error::Storage(other.to_string()),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(
            label_name("deployment.environment"),
            "deployment_environment"
        );
        assert_eq!(label_name("k8s.pod-name"), "k8s_pod_name");
        assert_eq!(label_name("1st"), "_1st");
        assert_eq!(label_name("job"), "job");
    }
}
