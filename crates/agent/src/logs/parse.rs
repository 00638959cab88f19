//! One log record's text → the fields of an OTLP `LogRecord`: JSON lines,
//! logfmt and plain text, with the keys most loggers use for the message,
//! level, time and trace context (pino, bunyan, winston, zap, zerolog,
//! logrus, slog, structlog, logback's JSON encoders).
//!
//! Parsing never fails: a line that is not what the format expects is kept
//! as plain text, so nothing read from a file is dropped for its shape.

use std::str::FromStr;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use serde_json::Value;

/// How the lines of a file are parsed (`--logs-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON if the line is a JSON object, logfmt if it is all `key=value`
    /// pairs, plain text otherwise; decided per line because one file often
    /// mixes a logger's structured lines with a runtime's plain ones.
    #[default]
    Auto,
    Json,
    Logfmt,
    Plain,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "auto" => Ok(Format::Auto),
            "json" => Ok(Format::Json),
            "logfmt" => Ok(Format::Logfmt),
            "plain" => Ok(Format::Plain),
            other => Err(format!(
                "unknown log format {other:?}: use auto, json, logfmt or plain"
            )),
        }
    }
}

/// The parts of a log record that come from its text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub body: String,
    /// Unix nanoseconds; 0 when the text has no time (the server then uses
    /// the observed time).
    pub time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: String,
    /// 16 bytes, or empty.
    pub trace_id: Vec<u8>,
    /// 8 bytes, or empty.
    pub span_id: Vec<u8>,
    pub attributes: Vec<KeyValue>,
}

const BODY_KEYS: [&str; 3] = ["msg", "message", "body"];
const LEVEL_KEYS: [&str; 3] = ["level", "severity", "lvl"];
const TIME_KEYS: [&str; 3] = ["time", "timestamp", "ts"];
const TRACE_ID_KEYS: [&str; 2] = ["trace_id", "traceId"];
const SPAN_ID_KEYS: [&str; 2] = ["span_id", "spanId"];

/// Parses a record whose first line is `first` and whose further lines (a
/// stack trace, joined with `\n`) are `continuation`; those are appended to
/// the body, the structure comes from the first line alone.
pub fn parse(format: Format, first: &str, continuation: &str) -> Parsed {
    let fields = match format {
        Format::Auto => json_fields(first).or_else(|| strict_logfmt_fields(first)),
        Format::Json => json_fields(first),
        Format::Logfmt => logfmt_fields(first),
        Format::Plain => None,
    };
    let mut parsed = match fields {
        Some(fields) => from_fields(fields, first),
        None => plain(first),
    };
    if !continuation.is_empty() {
        parsed.body.push('\n');
        parsed.body.push_str(continuation);
    }
    parsed
}

/// The members of a JSON object line, in their order; `None` if the line is
/// not one.
fn json_fields(line: &str) -> Option<Vec<(String, Value)>> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => Some(map.into_iter().collect()),
        _ => None,
    }
}

/// logfmt pairs for `--logs-format auto`: only a line made entirely of
/// `key=value` pairs (at least two) counts, so prose with one `=` in it stays
/// plain text.
fn strict_logfmt_fields(line: &str) -> Option<Vec<(String, Value)>> {
    let pairs = logfmt_pairs(line)?;
    let all_have_values = pairs.iter().all(|(_, value)| value.is_some());
    if pairs.len() < 2 || !all_have_values {
        return None;
    }
    Some(into_values(pairs))
}

/// logfmt pairs for `--logs-format logfmt`: bare keys are allowed (value "").
fn logfmt_fields(line: &str) -> Option<Vec<(String, Value)>> {
    let pairs = logfmt_pairs(line)?;
    if pairs.is_empty() {
        return None;
    }
    Some(into_values(pairs))
}

fn into_values(pairs: Vec<(String, Option<String>)>) -> Vec<(String, Value)> {
    pairs
        .into_iter()
        .map(|(key, value)| (key, Value::String(value.unwrap_or_default())))
        .collect()
}

/// Splits `key=value key2="quoted \"value\"" bare` into pairs (go-logfmt's
/// grammar); `None` if the line does not follow it (a key with a quote or a
/// control character in it, an unterminated quote).
fn logfmt_pairs(line: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut pairs = Vec::new();
    let mut chars = line.trim().chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !matches!(c, ' ' | '\t' | '=')) {
            if c == '"' || c.is_control() {
                return None;
            }
            key.push(c);
        }
        if key.is_empty() {
            return None;
        }
        if chars.next_if_eq(&'=').is_none() {
            pairs.push((key, None));
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            if chars.peek().is_some_and(|c| *c != ' ' && *c != '\t') {
                return None;
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ' ' && *c != '\t') {
                value.push(c);
            }
        }
        pairs.push((key, Some(value)));
    }
}

/// Maps the well-known keys of a JSON or logfmt line to the record's fields;
/// every other key (and a well-known one whose value cannot be used, such as
/// a malformed trace id) becomes an attribute.
fn from_fields(fields: Vec<(String, Value)>, line: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut body = None;
    let mut have_level = false;
    for (key, value) in fields {
        let key_str = key.as_str();
        if body.is_none() && BODY_KEYS.contains(&key_str) {
            body = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            continue;
        }
        if !have_level
            && LEVEL_KEYS.contains(&key_str)
            && let Some((number, text)) = severity_of_value(&value)
        {
            parsed.severity_number = number;
            parsed.severity_text = text;
            have_level = true;
            continue;
        }
        if parsed.time_unix_nano == 0
            && TIME_KEYS.contains(&key_str)
            && let Some(nanos) = time_of_value(&value)
        {
            parsed.time_unix_nano = nanos;
            continue;
        }
        if parsed.trace_id.is_empty()
            && TRACE_ID_KEYS.contains(&key_str)
            && let Some(id) = value.as_str().and_then(|hex| hex_id(hex, 16))
        {
            parsed.trace_id = id;
            continue;
        }
        if parsed.span_id.is_empty()
            && SPAN_ID_KEYS.contains(&key_str)
            && let Some(id) = value.as_str().and_then(|hex| hex_id(hex, 8))
        {
            parsed.span_id = id;
            continue;
        }
        if let Some(any) = any_value(value) {
            parsed.attributes.push(KeyValue {
                key,
                value: Some(any),
                ..Default::default()
            });
        }
    }
    // A structured line without a message key keeps its whole text as the
    // body, so a search for any part of it still finds it.
    parsed.body = body.unwrap_or_else(|| line.trim().to_string());
    parsed
}

/// A plain line: the body is the line; a leading level word and a leading
/// RFC 3339 time are picked up when present.
fn plain(line: &str) -> Parsed {
    let mut parsed = Parsed {
        body: line.to_string(),
        ..Parsed::default()
    };
    if let Some((number, text)) = sniff_level(line) {
        parsed.severity_number = number;
        parsed.severity_text = text;
    }
    if let Some(first) = line.split_whitespace().next()
        && let Some(nanos) = rfc3339_nanos(first.trim_start_matches('['))
    {
        parsed.time_unix_nano = nanos;
    }
    parsed
}

/// Finds a level word among the first five words of a plain line, not
/// counting the numbers of a leading time stamp: `ERROR:root:failed`,
/// `2024-05-01 12:00:00,123 WARN [main] …`, `[info] …`. Past the first word
/// only upper-case words count, so prose such as `could not read: error 5`
/// is not taken for a level.
fn sniff_level(line: &str) -> Option<(i32, String)> {
    let head = match line.char_indices().nth(120) {
        Some((cut, _)) => &line[..cut],
        None => line,
    };
    let words = head
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic()))
        .take(5);
    for (index, word) in words.enumerate() {
        let upper = word.bytes().all(|b| !b.is_ascii_lowercase());
        if (index == 0 || upper)
            && let Some(number) = severity_of_word(word)
        {
            return Some((number, word.to_string()));
        }
    }
    None
}

/// OTel severity number of a level name (case-insensitive), `None` if it is
/// not one.
fn severity_of_word(word: &str) -> Option<i32> {
    let number = match word.to_ascii_lowercase().as_str() {
        "trace" | "trc" => 1,
        "debug" | "dbg" => 5,
        "info" | "inf" | "information" | "informational" => 9,
        "notice" => 10,
        "warn" | "wrn" | "warning" => 13,
        "error" | "err" | "eror" => 17,
        "fatal" | "ftl" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => 21,
        _ => return None,
    };
    Some(number)
}

/// Severity from a `level` value: a name (`"warn"`), an OTel severity text,
/// or one of pino's and bunyan's numbers (10 trace … 60 fatal), also as a
/// string in logfmt. An unknown name keeps its text with number 0.
fn severity_of_value(value: &Value) -> Option<(i32, String)> {
    let text = match value {
        Value::String(text) => text.as_str(),
        Value::Number(number) => return number.as_i64().and_then(pino_level),
        _ => return None,
    };
    if let Ok(number) = text.parse::<i64>() {
        return pino_level(number);
    }
    if text.is_empty() {
        return None;
    }
    Some((severity_of_word(text).unwrap_or(0), text.to_string()))
}

fn pino_level(level: i64) -> Option<(i32, String)> {
    let (number, name) = match level {
        10..20 => (1, "trace"),
        20..30 => (5, "debug"),
        30..40 => (9, "info"),
        40..50 => (13, "warn"),
        50..60 => (17, "error"),
        60..=100 => (21, "fatal"),
        _ => return None,
    };
    Some((number, name.to_string()))
}

/// Unix nanoseconds from RFC 3339 text or an epoch number in seconds,
/// milliseconds, microseconds or nanoseconds (told apart by magnitude, as
/// the server's query API does); `None` for anything else or a time before
/// 1970.
fn time_of_value(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => {
            rfc3339_nanos(text).or_else(|| text.parse::<f64>().ok().and_then(epoch_nanos))
        }
        Value::Number(number) => match number.as_u64() {
            Some(integer) => Some(epoch_integer_nanos(integer)),
            None => number.as_f64().and_then(epoch_nanos),
        },
        _ => None,
    }
}

fn epoch_integer_nanos(value: u64) -> u64 {
    match value {
        n if n >= 100_000_000_000_000_000 => n,
        n if n >= 100_000_000_000_000 => n.saturating_mul(1_000),
        n if n >= 100_000_000_000 => n.saturating_mul(1_000_000),
        n => n.saturating_mul(1_000_000_000),
    }
}

fn epoch_nanos(value: f64) -> Option<u64> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let scale = match value {
        v if v >= 1e17 => 1.0,
        v if v >= 1e14 => 1e3,
        v if v >= 1e11 => 1e6,
        _ => 1e9,
    };
    // Whole and fractional part apart: `1714564800.25 * 1e9` in one f64
    // is off by a hundred nanoseconds. `as` saturates for the absurd.
    let whole = (value.trunc() as u64).saturating_mul(scale as u64);
    let fraction = (value.fract() * scale).round() as u64;
    Some(whole.saturating_add(fraction))
}

fn rfc3339_nanos(text: &str) -> Option<u64> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_nanos_opt()?).ok()
}

/// Decodes a hex id of `bytes` bytes; an all-zero id means "none" in OTLP
/// and is treated as invalid so it stays visible as an attribute.
fn hex_id(hex: &str, bytes: usize) -> Option<Vec<u8>> {
    if hex.len() != bytes * 2 {
        return None;
    }
    let mut id = Vec::with_capacity(bytes);
    for pair in hex.as_bytes().chunks(2) {
        let text = std::str::from_utf8(pair).ok()?;
        id.push(u8::from_str_radix(text, 16).ok()?);
    }
    id.iter().any(|b| *b != 0).then_some(id)
}

/// A JSON value as an OTLP value of the same type (objects and arrays
/// nested); `null` has none.
fn any_value(value: Value) -> Option<AnyValue> {
    let inner = match value {
        Value::Null => return None,
        Value::Bool(flag) => any_value::Value::BoolValue(flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => any_value::Value::IntValue(integer),
            None => any_value::Value::DoubleValue(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => any_value::Value::StringValue(text),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().filter_map(any_value).collect(),
        }),
        Value::Object(map) => any_value::Value::KvlistValue(KeyValueList {
            values: map
                .into_iter()
                .filter_map(|(key, value)| {
                    any_value(value).map(|any| KeyValue {
                        key,
                        value: Some(any),
                        ..Default::default()
                    })
                })
                .collect(),
        }),
    };
    Some(AnyValue { value: Some(inner) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute<'a>(parsed: &'a Parsed, key: &str) -> Option<&'a any_value::Value> {
        parsed
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|value| value.value.as_ref())
    }

    fn string(text: &str) -> any_value::Value {
        any_value::Value::StringValue(text.to_string())
    }

    #[test]
    fn json_line_maps_the_well_known_keys() {
        let line = r#"{"level":"warn","time":"2024-05-01T12:00:00.5Z","msg":"disk almost full","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","disk":"/dev/sda1","used":0.93,"retries":3,"ok":false,"ctx":{"user":"ann"},"tags":["a","b"],"gone":null}"#;
        let parsed = parse(Format::Auto, line, "");
        assert_eq!(parsed.body, "disk almost full");
        assert_eq!(parsed.severity_text, "warn");
        assert_eq!(parsed.severity_number, 13);
        assert_eq!(parsed.time_unix_nano, 1_714_564_800_500_000_000);
        assert_eq!(
            common_hex(&parsed.trace_id),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(common_hex(&parsed.span_id), "b7ad6b7169203331");
        assert_eq!(attribute(&parsed, "disk"), Some(&string("/dev/sda1")));
        assert_eq!(
            attribute(&parsed, "used"),
            Some(&any_value::Value::DoubleValue(0.93))
        );
        assert_eq!(
            attribute(&parsed, "retries"),
            Some(&any_value::Value::IntValue(3))
        );
        assert_eq!(
            attribute(&parsed, "ok"),
            Some(&any_value::Value::BoolValue(false))
        );
        assert!(matches!(
            attribute(&parsed, "ctx"),
            Some(any_value::Value::KvlistValue(list)) if list.values.len() == 1
        ));
        assert!(matches!(
            attribute(&parsed, "tags"),
            Some(any_value::Value::ArrayValue(list)) if list.values.len() == 2
        ));
        assert_eq!(attribute(&parsed, "gone"), None);
        for consumed in ["msg", "level", "time", "trace_id", "span_id"] {
            assert_eq!(attribute(&parsed, consumed), None, "{consumed}");
        }
    }

    fn common_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn pino_numeric_levels_and_epoch_millis() {
        for (level, number, text) in [
            (10, 1, "trace"),
            (20, 5, "debug"),
            (30, 9, "info"),
            (40, 13, "warn"),
            (50, 17, "error"),
            (60, 21, "fatal"),
        ] {
            let line = format!(
                r#"{{"level":{level},"time":1714564800123,"pid":7,"hostname":"h","msg":"m","traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}}"#
            );
            let parsed = parse(Format::Json, &line, "");
            assert_eq!(parsed.severity_number, number, "level {level}");
            assert_eq!(parsed.severity_text, text);
            assert_eq!(parsed.time_unix_nano, 1_714_564_800_123_000_000);
            assert_eq!(parsed.trace_id.len(), 16);
            assert_eq!(parsed.span_id.len(), 8);
        }
    }

    #[test]
    fn epoch_seconds_and_nanos_and_bad_times() {
        let time = |value: &str| {
            parse(Format::Json, &format!(r#"{{"ts":{value},"msg":"x"}}"#), "").time_unix_nano
        };
        assert_eq!(time("1714564800"), 1_714_564_800_000_000_000);
        assert_eq!(time("1714564800.25"), 1_714_564_800_250_000_000);
        assert_eq!(time("1714564800123456789"), 1_714_564_800_123_456_789);
        assert_eq!(time("\"1714564800\""), 1_714_564_800_000_000_000);
        assert_eq!(
            time("\"2024-05-01T14:00:00+02:00\""),
            1_714_564_800_000_000_000
        );
        // An unusable time stays an attribute instead of being dropped.
        let parsed = parse(Format::Json, r#"{"ts":"yesterday","msg":"x"}"#, "");
        assert_eq!(parsed.time_unix_nano, 0);
        assert_eq!(attribute(&parsed, "ts"), Some(&string("yesterday")));
        assert_eq!(time("-5"), 0);
    }

    #[test]
    fn malformed_ids_stay_attributes() {
        let parsed = parse(
            Format::Json,
            r#"{"msg":"x","trace_id":"xyz","span_id":"0000000000000000"}"#,
            "",
        );
        assert!(parsed.trace_id.is_empty() && parsed.span_id.is_empty());
        assert_eq!(attribute(&parsed, "trace_id"), Some(&string("xyz")));
        assert_eq!(
            attribute(&parsed, "span_id"),
            Some(&string("0000000000000000"))
        );
    }

    #[test]
    fn json_without_a_message_keeps_the_line_as_body() {
        let line = r#"{"event":"login","user":"ann"}"#;
        let parsed = parse(Format::Auto, line, "");
        assert_eq!(parsed.body, line);
        assert_eq!(attribute(&parsed, "user"), Some(&string("ann")));
    }

    #[test]
    fn logfmt_line() {
        let line = r#"time=2024-05-01T12:00:00Z level=error msg="payment failed: \"card declined\"" trace_id=0af7651916cd43dd8448eb211c80319c amount=12.50 user=ann"#;
        let parsed = parse(Format::Auto, line, "");
        assert_eq!(parsed.body, r#"payment failed: "card declined""#);
        assert_eq!(parsed.severity_number, 17);
        assert_eq!(parsed.severity_text, "error");
        assert_eq!(parsed.time_unix_nano, 1_714_564_800_000_000_000);
        assert_eq!(parsed.trace_id.len(), 16);
        assert_eq!(attribute(&parsed, "amount"), Some(&string("12.50")));
        assert_eq!(attribute(&parsed, "user"), Some(&string("ann")));
        assert_eq!(parsed.attributes.len(), 2);
    }

    #[test]
    fn logfmt_detection_is_strict_in_auto_mode() {
        // Prose with a single `=` or bare words stays plain.
        for line in [
            "retrying with backoff=5s",
            "GET /health status=200 took=3ms",
            "a=\"unterminated",
        ] {
            let parsed = parse(Format::Auto, line, "");
            assert_eq!(parsed.body, line);
            assert!(parsed.attributes.is_empty(), "{line}");
        }
        // With an explicit format bare keys are fine.
        let parsed = parse(Format::Logfmt, "level=info msg=ready cached", "");
        assert_eq!(parsed.body, "ready");
        assert_eq!(parsed.severity_number, 9);
        assert_eq!(attribute(&parsed, "cached"), Some(&string("")));
        // pino-style numbers also work in logfmt.
        assert_eq!(
            parse(Format::Logfmt, "level=50 msg=x", "").severity_number,
            17
        );
    }

    #[test]
    fn plain_lines_sniff_a_leading_level() {
        let cases = [
            ("ERROR:root:failed to connect", 17, "ERROR"),
            (
                "2024-05-01 12:00:00,123 WARN [main] c.e.App - slow",
                13,
                "WARN",
            ),
            ("[info] server listening on :3000", 9, "info"),
            ("Warning: deprecated option", 13, "Warning"),
            ("I/O timeout, could not read: error 5", 0, ""),
            ("just a line", 0, ""),
        ];
        for (line, number, text) in cases {
            let parsed = parse(Format::Auto, line, "");
            assert_eq!(parsed.body, line);
            assert_eq!(parsed.severity_number, number, "{line}");
            assert_eq!(parsed.severity_text, text, "{line}");
        }
        let parsed = parse(Format::Plain, "2024-05-01T12:00:00Z INFO started", "");
        assert_eq!(parsed.time_unix_nano, 1_714_564_800_000_000_000);
        assert_eq!(parsed.severity_number, 9);
    }

    #[test]
    fn explicit_formats_fall_back_to_plain() {
        let parsed = parse(Format::Json, "WARN not json", "");
        assert_eq!(parsed.body, "WARN not json");
        assert_eq!(parsed.severity_number, 13);
        let parsed = parse(Format::Plain, r#"{"msg":"x"}"#, "");
        assert_eq!(parsed.body, r#"{"msg":"x"}"#);
    }

    #[test]
    fn continuation_lines_extend_the_body() {
        let parsed = parse(
            Format::Auto,
            r#"{"level":"error","msg":"request failed"}"#,
            "Error: boom\n    at f (/app/a.js:1:1)",
        );
        assert_eq!(
            parsed.body,
            "request failed\nError: boom\n    at f (/app/a.js:1:1)"
        );
        assert_eq!(parsed.severity_number, 17);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "",
            "{",
            "{\"msg\":",
            "=",
            "==",
            "a==b",
            "\u{0}\u{1}\u{fffd}",
            "key=\"\\",
            "{\"level\":1e400}",
            "{\"time\":18446744073709551615,\"msg\":1}",
            "{\"time\":-1e300}",
        ];
        for input in inputs {
            for format in [Format::Auto, Format::Json, Format::Logfmt, Format::Plain] {
                let _ = parse(format, input, "");
            }
        }
        let long = "é".repeat(100_000);
        assert_eq!(parse(Format::Auto, &long, "").body, long);
    }
}
