//! Pieces of SQL text the signal queries build: literals and label conditions.

use vispyr_promql::MatchOp;

/// A SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A timestamp literal DataFusion folds into a constant the catalog can prune by.
pub(crate) fn time_literal(nanos: i64) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(nanos);
    format!(
        "'{}'",
        time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
}

/// The condition `column op value`; regular expressions are anchored at both ends,
/// as Prometheus matchers are.
pub(crate) fn match_condition(column: &str, op: MatchOp, value: &str) -> String {
    let anchored = || literal(&format!("^(?:{value})$"));
    match op {
        MatchOp::Equal => format!("{column} = {}", literal(value)),
        MatchOp::NotEqual => format!("{column} <> {}", literal(value)),
        MatchOp::Regex => format!("{column} ~ {}", anchored()),
        MatchOp::NotRegex => format!("{column} !~ {}", anchored()),
    }
}

/// The SQL expression for a label in a `labels` map: a missing label reads as the
/// empty string, as in Prometheus.
pub(crate) fn map_label(name: &str) -> String {
    format!("coalesce(labels[{}], '')", literal(name))
}
