//! Log queries over the `logs` table: search (newest first, with a cursor), a
//! volume histogram by severity, the logs of a trace and per-span log counts.
//!
//! Every query is one SQL statement built from a [`LogFilter`]; the same filter
//! also runs over freshly written batches for live tails ([`LiveFilter`]),
//! so a search and a tail can never disagree on what matches.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, TimestampNanosecondType};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use vispyr_model::severity_name;
use vispyr_promql::MatchOp;

use crate::sqltext::{literal, match_condition, time_literal};
use crate::traces::{json_map, typed_attributes};
use crate::{QueryEngine, QueryError};

/// How a text filter compares the body.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMatch {
    /// Every word is a whole word of the body, ignoring case (uses the text index).
    Words(String),
    /// The body contains the text.
    Contains(String),
    /// The body contains the text, ignoring case.
    ContainsIgnoreCase(String),
    /// The body matches the regular expression (unanchored; RE2 syntax).
    Regex(String),
}

/// A condition on a log or resource attribute (log attributes win on a name clash).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeFilter {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// What to select; every condition must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    /// Inclusive start, Unix nanoseconds.
    pub start_ns: i64,
    /// Exclusive end, Unix nanoseconds.
    pub end_ns: i64,
    /// Any of these services (all when empty).
    pub services: Vec<String>,
    /// Minimum OTLP severity number (1–24).
    pub min_severity: Option<i32>,
    pub text: Option<TextMatch>,
    pub attributes: Vec<AttributeFilter>,
    /// Lowercase hex.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// Where a page of results resumes: before `timestamp`, after skipping `skip`
/// rows at exactly `timestamp` already returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp_ns: i64,
    pub skip: usize,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.timestamp_ns, self.skip)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(text: &str) -> Result<Cursor, QueryError> {
        let invalid = || QueryError::Invalid(format!("invalid cursor {text:?}"));
        let (time, skip) = text.rsplit_once('-').ok_or_else(invalid)?;
        Ok(Cursor {
            timestamp_ns: time.parse().map_err(|_| invalid())?,
            skip: skip.parse().map_err(|_| invalid())?,
        })
    }
}

/// One log record as the API shows it; attribute values keep their type.
#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    pub timestamp_ns: i64,
    pub observed_timestamp_ns: i64,
    pub service_name: String,
    pub severity_number: i32,
    pub severity_text: String,
    /// `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `unknown`.
    pub level: &'static str,
    pub body: String,
    pub trace_id: String,
    pub span_id: String,
    pub attributes: Map<String, Json>,
    pub resource: Map<String, Json>,
    pub scope_name: String,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    pub logs: Vec<LogRecord>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Counts per interval by level.
#[derive(Debug, Clone, Serialize)]
pub struct LogVolume {
    pub interval_ms: i64,
    /// Start of every interval in the range, Unix milliseconds.
    pub times: Vec<i64>,
    /// Counts per level, aligned with `times`; only levels that occur.
    pub levels: BTreeMap<&'static str, Vec<u64>>,
}

/// Columns a record is read from, in this order.
const LOG_COLUMNS: &str = "timestamp, observed_timestamp, service_name, severity_number, \
coalesce(severity_text, '') AS severity_text, coalesce(body, '') AS body, \
coalesce(trace_id, '') AS trace_id, coalesce(span_id, '') AS span_id, log_attributes, \
log_attribute_types, resource_attributes, resource_attribute_types, \
coalesce(scope_name, '') AS scope_name";

/// Most intervals a volume query returns.
pub const MAX_VOLUME_INTERVALS: i64 = 11_000;

fn hex_id(text: &str, what: &str, len: usize) -> Result<String, QueryError> {
    let lower = text.trim().to_ascii_lowercase();
    if lower.len() != len || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(QueryError::Invalid(format!(
            "{what} must be {len} hex digits, got {text:?}"
        )));
    }
    Ok(lower)
}

/// A `LIKE` pattern matching `text` anywhere, with `\` escaping.
pub(crate) fn like_anywhere(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    literal(&pattern)
}

impl LogFilter {
    /// The filter's conditions as a SQL boolean expression over `logs`' columns.
    pub fn condition(&self) -> Result<String, QueryError> {
        if self.end_ns <= self.start_ns {
            return Err(QueryError::Invalid(
                "the end of the time range must be after its start".into(),
            ));
        }
        let mut parts = vec![
            format!("timestamp >= {}", time_literal(self.start_ns)),
            format!("timestamp < {}", time_literal(self.end_ns)),
        ];
        if !self.services.is_empty() {
            let list: Vec<String> = self.services.iter().map(|s| literal(s)).collect();
            parts.push(format!("service_name IN ({})", list.join(", ")));
        }
        if let Some(min) = self.min_severity {
            parts.push(format!("severity_number >= {min}"));
        }
        match &self.text {
            None => {}
            Some(TextMatch::Words(words)) => {
                parts.push(format!("has_token(body, {})", literal(words)));
            }
            Some(TextMatch::Contains(text)) => {
                parts.push(format!("body LIKE {} ESCAPE '\\'", like_anywhere(text)));
            }
            Some(TextMatch::ContainsIgnoreCase(text)) => {
                parts.push(format!("body ILIKE {} ESCAPE '\\'", like_anywhere(text)));
            }
            Some(TextMatch::Regex(pattern)) => {
                regex::Regex::new(pattern).map_err(|e| {
                    QueryError::Invalid(format!("invalid regular expression {pattern:?}: {e}"))
                })?;
                parts.push(format!("body ~ {}", literal(pattern)));
            }
        }
        for attribute in &self.attributes {
            if let MatchOp::Regex | MatchOp::NotRegex = attribute.op {
                regex::Regex::new(&attribute.value).map_err(|e| {
                    QueryError::Invalid(format!(
                        "invalid regular expression {:?}: {e}",
                        attribute.value
                    ))
                })?;
            }
            let name = literal(&attribute.name);
            let column =
                format!("coalesce(log_attributes[{name}], resource_attributes[{name}], '')");
            parts.push(match_condition(&column, attribute.op, &attribute.value));
        }
        if let Some(trace_id) = &self.trace_id {
            parts.push(format!(
                "trace_id = {}",
                literal(&hex_id(trace_id, "trace id", 32)?)
            ));
        }
        if let Some(span_id) = &self.span_id {
            parts.push(format!(
                "span_id = {}",
                literal(&hex_id(span_id, "span id", 16)?)
            ));
        }
        Ok(parts.join(" AND "))
    }
}

/// Log queries.
#[derive(Clone)]
pub struct LogQueries {
    engine: QueryEngine,
}

impl LogQueries {
    pub fn new(engine: QueryEngine) -> LogQueries {
        LogQueries { engine }
    }

    pub(crate) fn engine(&self) -> &QueryEngine {
        &self.engine
    }

    /// Up to `limit` records matching `filter`, newest first, from `cursor` on.
    pub async fn search(
        &self,
        filter: &LogFilter,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<LogPage, QueryError> {
        let mut condition = filter.condition()?;
        let skip = cursor.map_or(0, |c| c.skip);
        if let Some(cursor) = cursor {
            condition.push_str(&format!(
                " AND timestamp <= {}",
                time_literal(cursor.timestamp_ns)
            ));
        }
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM logs WHERE {condition} \
             ORDER BY timestamp DESC, observed_timestamp DESC, service_name, body LIMIT {}",
            limit + skip + 1
        );
        let batches = self.engine.batches(&sql).await?;
        let mut records = records_of(&batches);
        // Rows at the cursor's timestamp that earlier pages returned.
        if let Some(cursor) = cursor {
            let mut dropped = 0;
            records.retain(|record| {
                if record.timestamp_ns == cursor.timestamp_ns && dropped < cursor.skip {
                    dropped += 1;
                    false
                } else {
                    true
                }
            });
        }
        let more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = match (more, records.last()) {
            (true, Some(last)) => {
                let at_last = records
                    .iter()
                    .filter(|r| r.timestamp_ns == last.timestamp_ns)
                    .count();
                let carried = match cursor {
                    Some(c) if c.timestamp_ns == last.timestamp_ns => c.skip,
                    _ => 0,
                };
                Some(
                    Cursor {
                        timestamp_ns: last.timestamp_ns,
                        skip: at_last + carried,
                    }
                    .encode(),
                )
            }
            _ => None,
        };
        Ok(LogPage {
            logs: records,
            next_cursor,
        })
    }

    /// Counts of records matching `filter` per `interval_ns`, by level.
    pub async fn volume(
        &self,
        filter: &LogFilter,
        interval_ns: i64,
    ) -> Result<LogVolume, QueryError> {
        let condition = filter.condition()?;
        if interval_ns <= 0 {
            return Err(QueryError::Invalid("the interval must be positive".into()));
        }
        let first = filter.start_ns.div_euclid(interval_ns) * interval_ns;
        let intervals = (filter.end_ns - 1 - first).div_euclid(interval_ns) + 1;
        if intervals > MAX_VOLUME_INTERVALS {
            return Err(QueryError::Invalid(format!(
                "{intervals} intervals exceed the maximum of {MAX_VOLUME_INTERVALS}; use a longer interval"
            )));
        }
        let sql = format!(
            "SELECT CAST(timestamp AS BIGINT) / {interval_ns} AS bucket, severity_number, \
             count(*) AS n FROM logs WHERE {condition} GROUP BY 1, 2"
        );
        let mut levels: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
        for batch in self.engine.batches(&sql).await? {
            let buckets = batch.column(0).as_primitive::<Int64Type>();
            let severities = batch.column(1).as_primitive::<Int32Type>();
            let counts = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let index = buckets.value(row) - first / interval_ns;
                if !(0..intervals).contains(&index) {
                    continue;
                }
                let series = levels
                    .entry(severity_name(severities.value(row)))
                    .or_insert_with(|| vec![0; intervals as usize]);
                series[index as usize] += counts.value(row) as u64;
            }
        }
        let times = (0..intervals)
            .map(|i| (first + i * interval_ns) / 1_000_000)
            .collect();
        Ok(LogVolume {
            interval_ms: interval_ns / 1_000_000,
            times,
            levels,
        })
    }

    /// Log records per span id of a trace (records without a span id are not counted).
    pub async fn counts_by_span(&self, trace_id: &str) -> Result<HashMap<String, u64>, QueryError> {
        let trace_id = hex_id(trace_id, "trace id", 32)?;
        let sql = format!(
            "SELECT span_id, count(*) FROM logs WHERE trace_id = {} AND span_id IS NOT NULL \
             GROUP BY span_id",
            literal(&trace_id)
        );
        let mut counts = HashMap::new();
        for batch in self.engine.batches(&sql).await? {
            let spans = batch.column(0).as_string::<i32>();
            let n = batch.column(1).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                counts.insert(spans.value(row).to_string(), n.value(row) as u64);
            }
        }
        Ok(counts)
    }
}

/// A filter applied to batches as they are written, for live tails: the same
/// SQL condition as [`LogQueries::search`], over one batch at a time, with one
/// session per tail.
pub struct LiveFilter {
    context: SessionContext,
    sql: String,
}

impl LiveFilter {
    /// A live filter for `filter` (its time range is part of the condition).
    pub fn new(filter: &LogFilter) -> Result<LiveFilter, QueryError> {
        let context = SessionContext::new();
        context.register_udf(crate::textsearch::has_token_udf());
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM logs WHERE {} ORDER BY timestamp",
            filter.condition()?
        );
        Ok(LiveFilter { context, sql })
    }

    /// The records of `batch` (rows of the `logs` schema) that match, oldest first.
    pub async fn matching(&self, batch: RecordBatch) -> Result<Vec<LogRecord>, QueryError> {
        self.context.deregister_table("logs")?;
        self.context.register_batch("logs", batch)?;
        let batches = self.context.sql(&self.sql).await?.collect().await?;
        Ok(records_of(&batches))
    }
}

fn optional(column: &arrow::array::StringArray, row: usize) -> Option<&str> {
    (!column.is_null(row)).then(|| column.value(row))
}

fn records_of(batches: &[RecordBatch]) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for batch in batches {
        let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
        let observed = batch.column(1).as_primitive::<TimestampNanosecondType>();
        let services = batch.column(2).as_string::<i32>();
        let severities = batch.column(3).as_primitive::<Int32Type>();
        let severity_texts = batch.column(4).as_string::<i32>();
        let bodies = batch.column(5).as_string::<i32>();
        let trace_ids = batch.column(6).as_string::<i32>();
        let span_ids = batch.column(7).as_string::<i32>();
        let attributes = batch.column(8).as_map();
        let attribute_types = batch.column(9).as_string::<i32>();
        let resources = batch.column(10).as_map();
        let resource_types = batch.column(11).as_string::<i32>();
        let scopes = batch.column(12).as_string::<i32>();
        for row in 0..batch.num_rows() {
            let severity = severities.value(row);
            out.push(LogRecord {
                timestamp_ns: times.value(row),
                observed_timestamp_ns: observed.value(row),
                service_name: services.value(row).to_string(),
                severity_number: severity,
                severity_text: severity_texts.value(row).to_string(),
                level: severity_name(severity),
                body: bodies.value(row).to_string(),
                trace_id: trace_ids.value(row).to_string(),
                span_id: span_ids.value(row).to_string(),
                attributes: json_map(&typed_attributes(
                    &attributes.value(row),
                    optional(attribute_types, row),
                )),
                resource: json_map(&typed_attributes(
                    &resources.value(row),
                    optional(resource_types, row),
                )),
                scope_name: scopes.value(row).to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            timestamp_ns: 1_700_000_000_000_000_123,
            skip: 3,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("nope").is_err());
        assert!(Cursor::decode("12-x").is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_anywhere("50%_a\\b"), "'%50\\%\\_a\\\\b%'");
        assert_eq!(like_anywhere("it's"), "'%it''s%'");
    }

    #[test]
    fn conditions_validate_ids_regexes_and_ranges() {
        let base = LogFilter {
            start_ns: 0,
            end_ns: 10,
            ..Default::default()
        };
        let bad_regex = LogFilter {
            text: Some(TextMatch::Regex("(".into())),
            ..base.clone()
        };
        assert!(
            bad_regex
                .condition()
                .unwrap_err()
                .to_string()
                .contains("regular expression")
        );
        let bad_trace = LogFilter {
            trace_id: Some("xyz".into()),
            ..base.clone()
        };
        assert!(
            bad_trace
                .condition()
                .unwrap_err()
                .to_string()
                .contains("32 hex")
        );
        let empty_range = LogFilter {
            end_ns: 0,
            ..base.clone()
        };
        assert!(empty_range.condition().is_err());
        let words = LogFilter {
            text: Some(TextMatch::Words("refused".into())),
            min_severity: Some(17),
            ..base
        };
        let sql = words.condition().unwrap();
        assert!(
            sql.contains("has_token(body, 'refused')") && sql.contains("severity_number >= 17")
        );
    }
}
