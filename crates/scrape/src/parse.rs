//! Exposition parsing: Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! The format is chosen from the response `Content-Type` the way Prometheus
//! 2.42's `textparse.New` does: `application/openmetrics-text` selects
//! OpenMetrics, anything else (including a missing header) the 0.0.4 text
//! format. Differences the parser honours:
//!
//! | | text 0.0.4 | OpenMetrics 1.0 |
//! |---|---|---|
//! | timestamp | integer milliseconds | float seconds |
//! | comments | `# HELP`, `# TYPE`, anything else ignored | only `# HELP/TYPE/UNIT/EOF` |
//! | end | end of input | `# EOF`, nothing after it |
//! | exemplars | none | `... # {labels} value [timestamp]` |
//! | blank lines | ignored | an error |
//!
//! `_created` series of OpenMetrics are returned as ordinary samples: that is
//! what Prometheus 2.42 stores (checked against the real server; ingesting
//! them as created timestamps only arrived in later releases).

use std::collections::HashMap;

use crate::{MetricMetadata, Sample};

/// Which exposition format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// Chooses the parser for a response's `Content-Type`.
    pub fn from_content_type(content_type: &str) -> Self {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Self::OpenMetrics
        } else {
            Self::PrometheusText
        }
    }
}

/// An OpenMetrics exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Exemplar labels in exposition order.
    pub labels: Vec<(String, String)>,
    /// Exemplar value.
    pub value: f64,
    /// Exemplar timestamp in milliseconds, when given.
    pub timestamp_ms: Option<i64>,
}

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// Labels sorted by name, `__name__` included; `t` is the exposed
    /// timestamp or the `default_ts_ms` given to [`parse`].
    pub sample: Sample,
    /// Whether the exposition carried a timestamp for this sample.
    pub explicit_timestamp: bool,
    /// The exemplar, OpenMetrics only.
    pub exemplar: Option<Exemplar>,
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The format the body was parsed as.
    pub format: Format,
    /// Samples in exposition order.
    pub samples: Vec<ParsedSample>,
    /// Metric families' metadata in order of first mention.
    pub metadata: Vec<MetricMetadata>,
}

/// A malformed exposition; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number of the offending line.
    pub line: usize,
    /// What was wrong, lowercase.
    pub message: String,
}

/// Parses `body` as the format named by `content_type`; samples without a
/// timestamp get `default_ts_ms`.
pub fn parse(body: &[u8], content_type: &str, default_ts_ms: i64) -> Result<Parsed, ParseError> {
    let format = Format::from_content_type(content_type);
    let mut parser = Parser {
        format,
        default_ts_ms,
        samples: Vec::new(),
        metadata: Vec::new(),
        metadata_index: HashMap::new(),
    };
    parser.parse_body(body)?;
    Ok(Parsed {
        format,
        samples: parser.samples,
        metadata: parser.metadata,
    })
}

struct Parser {
    format: Format,
    default_ts_ms: i64,
    samples: Vec<ParsedSample>,
    metadata: Vec<MetricMetadata>,
    metadata_index: HashMap<String, usize>,
}

/// Valid metric types per format, as written in `# TYPE`.
const TEXT_TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];
const OPENMETRICS_TYPES: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "stateset",
    "info",
    "summary",
    "unknown",
];

impl Parser {
    fn is_openmetrics(&self) -> bool {
        self.format == Format::OpenMetrics
    }

    fn parse_body(&mut self, body: &[u8]) -> Result<(), ParseError> {
        let mut saw_eof = false;
        let mut line_number = 0;
        let mut rest = body;
        while !rest.is_empty() {
            line_number += 1;
            let (raw_line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            if saw_eof {
                return Err(ParseError {
                    line: line_number,
                    message: "unexpected data after # EOF".to_string(),
                });
            }
            let line = std::str::from_utf8(raw_line).map_err(|_| ParseError {
                line: line_number,
                message: "invalid utf-8".to_string(),
            })?;
            let mut cursor = Cursor {
                text: line,
                pos: 0,
                line: line_number,
            };
            saw_eof = self.parse_line(&mut cursor)?;
        }
        if self.is_openmetrics() && !saw_eof {
            return Err(ParseError {
                line: line_number.max(1),
                message: "data does not end with # EOF".to_string(),
            });
        }
        Ok(())
    }

    /// Parses one line; returns whether it was the OpenMetrics `# EOF`.
    fn parse_line(&mut self, cursor: &mut Cursor<'_>) -> Result<bool, ParseError> {
        if !self.is_openmetrics() {
            cursor.skip_blanks();
        }
        if cursor.at_end() {
            if self.is_openmetrics() {
                return Err(cursor.error("unexpected empty line"));
            }
            return Ok(false);
        }
        if cursor.peek() == Some('#') {
            return self.parse_comment(cursor);
        }
        self.parse_sample(cursor)?;
        Ok(false)
    }

    fn parse_comment(&mut self, cursor: &mut Cursor<'_>) -> Result<bool, ParseError> {
        cursor.bump();
        if self.is_openmetrics() {
            if cursor.rest() == " EOF" {
                return Ok(true);
            }
            if !cursor.eat(' ') {
                return Err(cursor.error("expected a space after '#'"));
            }
        } else {
            cursor.skip_blanks();
        }
        let keyword = cursor.take_while(|c| c.is_ascii_alphabetic());
        let keyword = match keyword {
            "HELP" | "TYPE" => keyword,
            "UNIT" if self.is_openmetrics() => keyword,
            _ if self.is_openmetrics() => {
                return Err(cursor.error(format!(
                    "invalid comment keyword {keyword:?}, expected HELP, TYPE, UNIT or EOF"
                )));
            }
            // Any other comment is ignored in the text format.
            _ => return Ok(false),
        };
        if !self.eat_separator(cursor) {
            if self.is_openmetrics() || !cursor.at_end() {
                return Err(cursor.error(format!("expected a space after {keyword}")));
            }
            // `# HELP` alone is a plain comment in the text format.
            return Ok(false);
        }
        let name = cursor.take_while(is_metric_name_char);
        if !is_valid_metric_name(name) {
            return Err(cursor.error(format!("invalid metric name {name:?} in {keyword} line")));
        }
        let has_text = self.eat_separator(cursor);
        if !has_text && !cursor.at_end() {
            return Err(cursor.error(format!(
                "unexpected character after metric name in {keyword} line: {:?}",
                cursor.rest()
            )));
        }
        let text = cursor.rest();
        match keyword {
            "HELP" => {
                let help = unescape(text, self.is_openmetrics());
                self.metadata_entry(name).help = help;
            }
            "UNIT" => {
                self.metadata_entry(name).unit = text.to_string();
            }
            _ => {
                let kind = text.trim_end_matches([' ', '\t']);
                let valid = if self.is_openmetrics() {
                    OPENMETRICS_TYPES.contains(&kind)
                } else {
                    TEXT_TYPES.contains(&kind)
                };
                if !valid {
                    return Err(cursor.error(format!("invalid metric type {kind:?}")));
                }
                // Prometheus reports the text format's `untyped` as `unknown`.
                let stored = if kind == "untyped" { "unknown" } else { kind };
                self.metadata_entry(name).kind = stored.to_string();
            }
        }
        Ok(false)
    }

    /// Eats the separator between tokens: one space in OpenMetrics, any run
    /// of blanks in the text format. Returns whether one was present.
    fn eat_separator(&self, cursor: &mut Cursor<'_>) -> bool {
        if self.is_openmetrics() {
            cursor.eat(' ')
        } else {
            cursor.skip_blanks() > 0
        }
    }

    fn metadata_entry(&mut self, name: &str) -> &mut MetricMetadata {
        let index = match self.metadata_index.get(name) {
            Some(&index) => index,
            None => {
                self.metadata.push(MetricMetadata {
                    metric: name.to_string(),
                    kind: "unknown".to_string(),
                    help: String::new(),
                    unit: String::new(),
                });
                let index = self.metadata.len() - 1;
                self.metadata_index.insert(name.to_string(), index);
                index
            }
        };
        &mut self.metadata[index]
    }

    fn parse_sample(&mut self, cursor: &mut Cursor<'_>) -> Result<(), ParseError> {
        let openmetrics = self.is_openmetrics();
        let name = cursor.take_while(is_metric_name_char);
        if !is_valid_metric_name(name) {
            let found = cursor
                .rest()
                .chars()
                .next()
                .map(|c| format!("{c:?}"))
                .unwrap_or_default();
            return Err(cursor.error(format!("expected a metric name, found {found}")));
        }
        let mut labels = vec![("__name__".to_string(), name.to_string())];
        // The text format allows blanks between the name and `{`.
        let mut separated = !openmetrics && cursor.skip_blanks() > 0;
        if cursor.peek() == Some('{') {
            parse_label_set(cursor, openmetrics, &mut labels)?;
            separated = self.eat_separator(cursor);
        } else if openmetrics {
            separated = self.eat_separator(cursor);
        }
        if !separated {
            return Err(cursor.error(format!("expected a space before the value of {name}")));
        }
        let value_text = cursor.take_while(|c| c != ' ' && c != '\t');
        let value = parse_value(value_text)
            .ok_or_else(|| cursor.error(format!("invalid value {value_text:?}")))?;
        let mut timestamp = None;
        let mut exemplar = None;
        let has_more = self.eat_separator(cursor);
        if has_more && !cursor.at_end() && cursor.peek() != Some('#') {
            let ts_text = cursor.take_while(|c| c != ' ' && c != '\t');
            let parsed = if openmetrics {
                parse_openmetrics_timestamp(ts_text)
            } else {
                ts_text.parse::<i64>().ok()
            };
            timestamp =
                Some(parsed.ok_or_else(|| cursor.error(format!("invalid timestamp {ts_text:?}")))?);
            if openmetrics {
                if cursor.eat(' ') {
                    exemplar = Some(parse_exemplar(cursor)?);
                }
            } else {
                cursor.skip_blanks();
            }
        } else if has_more && cursor.peek() == Some('#') {
            if !openmetrics {
                return Err(cursor.error("unexpected '#' after the value"));
            }
            exemplar = Some(parse_exemplar(cursor)?);
        } else if has_more && openmetrics {
            return Err(cursor.error("unexpected trailing space"));
        }
        if !cursor.at_end() {
            return Err(cursor.error(format!("unexpected trailing data {:?}", cursor.rest())));
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = labels.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(cursor.error(format!("duplicate label name {:?}", pair[0].0)));
        }
        self.samples.push(ParsedSample {
            sample: Sample {
                labels,
                t: timestamp.unwrap_or(self.default_ts_ms),
                v: value,
            },
            explicit_timestamp: timestamp.is_some(),
            exemplar,
        });
        Ok(())
    }
}

fn parse_exemplar(cursor: &mut Cursor<'_>) -> Result<Exemplar, ParseError> {
    if !cursor.eat('#') || !cursor.eat(' ') {
        return Err(cursor.error("expected '# ' before the exemplar"));
    }
    if cursor.peek() != Some('{') {
        return Err(cursor.error("expected '{' to open the exemplar labels"));
    }
    let mut labels = Vec::new();
    parse_label_set(cursor, true, &mut labels)?;
    if !cursor.eat(' ') {
        return Err(cursor.error("expected a space before the exemplar value"));
    }
    let value_text = cursor.take_while(|c| c != ' ');
    let value = parse_value(value_text)
        .ok_or_else(|| cursor.error(format!("invalid exemplar value {value_text:?}")))?;
    let mut timestamp_ms = None;
    if cursor.eat(' ') {
        let ts_text = cursor.take_while(|c| c != ' ');
        let parsed = parse_openmetrics_timestamp(ts_text)
            .ok_or_else(|| cursor.error(format!("invalid exemplar timestamp {ts_text:?}")))?;
        timestamp_ms = Some(parsed);
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses a whole label set in the text format, `{name="value", ...}` (blanks
/// allowed around tokens), as Loki push requests carry their stream labels.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut cursor = Cursor {
        text: text.trim(),
        pos: 0,
        line: 1,
    };
    if cursor.peek() != Some('{') {
        return Err(cursor.error("a label set starts with '{'"));
    }
    let mut labels = Vec::new();
    parse_label_set(&mut cursor, false, &mut labels)?;
    if !cursor.at_end() {
        return Err(cursor.error("unexpected text after the closing '}'"));
    }
    Ok(labels)
}

/// Parses `{name="value",...}` starting at `{`, appending to `labels`.
fn parse_label_set(
    cursor: &mut Cursor<'_>,
    openmetrics: bool,
    labels: &mut Vec<(String, String)>,
) -> Result<(), ParseError> {
    cursor.bump();
    loop {
        if !openmetrics {
            cursor.skip_blanks();
        }
        if cursor.eat('}') {
            return Ok(());
        }
        let name = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if !crate::relabel::is_valid_label_name(name) {
            let found = cursor
                .rest()
                .chars()
                .next()
                .map(|c| format!("{c:?}"))
                .unwrap_or_else(|| "end of line".to_string());
            return Err(cursor.error(format!("expected a label name, found {found}")));
        }
        if !openmetrics {
            cursor.skip_blanks();
        }
        if !cursor.eat('=') {
            return Err(cursor.error(format!("expected '=' after label name {name:?}")));
        }
        if !openmetrics {
            cursor.skip_blanks();
        }
        if !cursor.eat('"') {
            return Err(cursor.error(format!("expected '\"' to open the value of label {name:?}")));
        }
        let value = cursor
            .take_quoted()
            .ok_or_else(|| cursor.error(format!("unterminated value of label {name:?}")))?;
        labels.push((name.to_string(), value));
        if !openmetrics {
            cursor.skip_blanks();
        }
        if cursor.eat(',') {
            continue;
        }
        if cursor.eat('}') {
            return Ok(());
        }
        return Err(cursor.error("expected ',' or '}' after a label value"));
    }
}

/// Parses a sample value like Go's `strconv.ParseFloat` for the forms
/// exporters write: decimal and exponent forms, `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    if text.is_empty() || text.contains('_') {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Converts OpenMetrics float seconds to milliseconds, truncating toward
/// zero as Prometheus's `int64(ts * 1000)` does.
fn parse_openmetrics_timestamp(text: &str) -> Option<i64> {
    let seconds = parse_value(text)?;
    if !seconds.is_finite() {
        return None;
    }
    let ms = (seconds * 1000.0).trunc();
    // `as` saturates; reject values outside i64 instead of clamping.
    if ms < i64::MIN as f64 || ms >= i64::MAX as f64 {
        return None;
    }
    Some(ms as i64)
}

/// Unescapes HELP text: `\\` and `\n` in both formats, plus `\"` in
/// OpenMetrics. Other backslash sequences are kept verbatim.
fn unescape(text: &str, openmetrics: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if openmetrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_metric_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() || first == '_' || first == ':' => {}
        _ => return false,
    }
    chars.all(is_metric_name_char)
}

/// A position within one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.pos += expected.len_utf8();
            true
        } else {
            false
        }
    }

    /// Skips spaces and tabs; returns how many were skipped.
    fn skip_blanks(&mut self) -> usize {
        let skipped = self.take_while(|c| c == ' ' || c == '\t');
        skipped.len()
    }

    fn take_while(&mut self, mut keep: impl FnMut(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Reads an escaped label value after its opening quote, consuming the
    /// closing quote. `\\`, `\"` and `\n` are unescaped; other sequences are
    /// kept verbatim, as Prometheus does. `None` when the quote never closes.
    fn take_quoted(&mut self) -> Option<String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += index + 1;
                    return Some(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => return None,
                },
                other => out.push(other),
            }
        }
        None
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STALE_NAN_BITS;

    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
    const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    fn labels_of(sample: &ParsedSample) -> Vec<(&str, &str)> {
        sample
            .sample
            .labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn content_type_selects_format() {
        assert_eq!(Format::from_content_type(OM), Format::OpenMetrics);
        assert_eq!(
            Format::from_content_type("Application/OpenMetrics-Text"),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_content_type(TEXT), Format::PrometheusText);
        assert_eq!(Format::from_content_type(""), Format::PrometheusText);
        assert_eq!(
            Format::from_content_type("application/json"),
            Format::PrometheusText
        );
    }

    #[test]
    fn text_format_samples_metadata_and_timestamps() {
        let body = "# HELP http_requests_total The total number of HTTP requests.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
                    \n\
                    # A normal comment.\n\
                    metric_without_timestamp_and_labels 12.47\n\
                    # TYPE untyped_thing untyped\n\
                    untyped_thing{ a = \"b\" , } -3e-2\n";
        let parsed = parse(body.as_bytes(), TEXT, 42).unwrap();
        assert_eq!(parsed.format, Format::PrometheusText);
        assert_eq!(parsed.samples.len(), 4);
        let first = &parsed.samples[0];
        assert_eq!(
            labels_of(first),
            vec![
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("method", "post")
            ]
        );
        assert_eq!(first.sample.v, 1027.0);
        assert_eq!(first.sample.t, 1_395_066_363_000);
        assert!(first.explicit_timestamp);
        let third = &parsed.samples[2];
        assert_eq!(third.sample.t, 42);
        assert!(!third.explicit_timestamp);
        assert_eq!(
            labels_of(&parsed.samples[3]),
            vec![("__name__", "untyped_thing"), ("a", "b")]
        );
        assert_eq!(parsed.samples[3].sample.v, -0.03);
        assert_eq!(
            parsed.metadata,
            vec![
                MetricMetadata {
                    metric: "http_requests_total".into(),
                    kind: "counter".into(),
                    help: "The total number of HTTP requests.".into(),
                    unit: String::new(),
                },
                MetricMetadata {
                    metric: "untyped_thing".into(),
                    kind: "unknown".into(),
                    help: String::new(),
                    unit: String::new()
                },
            ]
        );
    }

    #[test]
    fn text_format_escapes() {
        let body = "# HELP esc A \\\\ backslash\\nnewline and \\\"kept\\\"\n\
                    esc{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\",odd=\"\\t\"} 1\n";
        let parsed = parse(body.as_bytes(), TEXT, 0).unwrap();
        assert_eq!(
            parsed.metadata[0].help,
            "A \\ backslash\nnewline and \\\"kept\\\""
        );
        let sample = &parsed.samples[0];
        assert_eq!(
            labels_of(sample),
            vec![
                ("__name__", "esc"),
                ("error", "Cannot find file:\n\"FILE.TXT\""),
                ("odd", "\\t"),
                ("path", "C:\\DIR\\FILE.TXT")
            ]
        );
    }

    #[test]
    fn special_float_values() {
        let body = "a +Inf\nb -Inf\nc NaN\nd 1e+308\ne -0\nf Inf\n";
        let parsed = parse(body.as_bytes(), TEXT, 0).unwrap();
        let values: Vec<f64> = parsed.samples.iter().map(|s| s.sample.v).collect();
        assert_eq!(values[0], f64::INFINITY);
        assert_eq!(values[1], f64::NEG_INFINITY);
        assert!(values[2].is_nan());
        assert_ne!(
            values[2].to_bits(),
            STALE_NAN_BITS,
            "an exposed NaN is not a stale marker"
        );
        assert_eq!(values[3], 1e308);
        assert_eq!(values[4], 0.0);
        assert_eq!(values[5], f64::INFINITY);
    }

    #[test]
    fn text_format_errors_carry_line_numbers() {
        let cases: [(&str, usize, &str); 9] = [
            ("ok 1\nbad{a=\"b\" 1\n", 2, "expected ',' or '}'"),
            ("ok 1\n\nx{a=\"unterminated} 1\n", 3, "unterminated"),
            ("# TYPE x bogus\n", 1, "invalid metric type"),
            ("x abc\n", 1, "invalid value"),
            ("x 1 1.5\n", 1, "invalid timestamp"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label name"),
            ("1x 1\n", 1, "expected a metric name"),
            ("x\n", 1, "expected a space before the value"),
            ("x{1a=\"v\"} 1\n", 1, "expected a label name"),
        ];
        for (body, line, fragment) in cases {
            let err = parse(body.as_bytes(), TEXT, 0).unwrap_err();
            assert_eq!(err.line, line, "{body:?}: {err}");
            assert!(err.message.contains(fragment), "{body:?}: {err}");
            assert!(err.to_string().starts_with(&format!("line {line}: ")));
        }
        let invalid_utf8 = parse(b"a 1\nb{x=\"\xff\"} 1\n", TEXT, 0).unwrap_err();
        assert_eq!(invalid_utf8.line, 2);
    }

    #[test]
    fn openmetrics_full_example() {
        let body = "# TYPE acme_http_router_request_seconds summary\n\
                    # UNIT acme_http_router_request_seconds seconds\n\
                    # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request \\\"router\\\".\n\
                    acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n\
                    acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n\
                    acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n\
                    # TYPE foo counter\n\
                    foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    foo_total{a=\"b\"} 1 # {trace_id=\"x\"} 0.5 1520879607.5\n\
                    # TYPE bar histogram\n\
                    bar_bucket{le=\"+Inf\"} 3 # {} 2\n\
                    # EOF\n";
        let parsed = parse(body.as_bytes(), OM, 7).unwrap();
        assert_eq!(parsed.format, Format::OpenMetrics);
        assert_eq!(
            parsed.samples.len(),
            6,
            "the _created series is kept, as Prometheus 2.42 does"
        );
        assert_eq!(
            parsed.samples[2].sample.labels[0].1,
            "acme_http_router_request_seconds_created"
        );
        assert_eq!(parsed.samples[2].sample.v, 1_605_281_325.0);
        let foo = &parsed.samples[3];
        assert_eq!(foo.sample.t, 1_520_879_607_789);
        assert!(foo.explicit_timestamp);
        let exemplar = foo.exemplar.as_ref().unwrap();
        assert_eq!(
            exemplar.labels,
            vec![("trace_id".to_string(), "KOO5S4vxi0o".to_string())]
        );
        assert_eq!(exemplar.value, 0.67);
        assert_eq!(exemplar.timestamp_ms, None);
        let second = &parsed.samples[4];
        assert_eq!(second.sample.t, 7);
        assert_eq!(
            second.exemplar.as_ref().unwrap().timestamp_ms,
            Some(1_520_879_607_500)
        );
        assert_eq!(parsed.samples[5].exemplar.as_ref().unwrap().labels, vec![]);
        let summary = &parsed.metadata[0];
        assert_eq!(summary.kind, "summary");
        assert_eq!(summary.unit, "seconds");
        assert_eq!(
            summary.help,
            "Latency though all of ACME's HTTP request \"router\"."
        );
        assert_eq!(parsed.metadata[1].kind, "counter");
        assert_eq!(parsed.metadata[2].kind, "histogram");
    }

    #[test]
    fn openmetrics_types_include_om_only_kinds() {
        let body = "# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE g gaugehistogram\ng_gcount 1\n# EOF";
        let parsed = parse(body.as_bytes(), OM, 0).unwrap();
        let kinds: Vec<&str> = parsed.metadata.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, vec!["stateset", "info", "gaugehistogram"]);
        assert!(
            parse(b"# TYPE u untyped\n# EOF\n", OM, 0).is_err(),
            "untyped is not an OpenMetrics type"
        );
    }

    #[test]
    fn openmetrics_errors_carry_line_numbers() {
        let cases: [(&str, usize, &str); 7] = [
            ("a 1\n", 1, "does not end with # EOF"),
            ("a 1\n# EOF\nb 2\n", 3, "unexpected data after # EOF"),
            ("a 1\n\n# EOF\n", 2, "unexpected empty line"),
            (
                "a 1\n# random comment\n# EOF\n",
                2,
                "invalid comment keyword",
            ),
            ("a  1\n# EOF\n", 1, "invalid value"),
            ("a 1 abc\n# EOF\n", 1, "invalid timestamp"),
            ("a 1 # {x=\"y\"}\n# EOF\n", 1, "exemplar value"),
        ];
        for (body, line, fragment) in cases {
            let err = parse(body.as_bytes(), OM, 0).unwrap_err();
            assert_eq!(err.line, line, "{body:?}: {err}");
            assert!(err.message.contains(fragment), "{body:?}: {err}");
        }
    }

    #[test]
    fn openmetrics_timestamps_are_float_seconds() {
        let parsed = parse(b"a 1 1.5\nb 2 -0.0015\nc 3 1700000000\n# EOF\n", OM, 0).unwrap();
        let ts: Vec<i64> = parsed.samples.iter().map(|s| s.sample.t).collect();
        assert_eq!(ts, vec![1500, -1, 1_700_000_000_000]);
        assert!(parse(b"a 1 NaN\n# EOF\n", OM, 0).is_err());
    }

    #[test]
    fn text_format_treats_eof_as_comment_and_allows_no_trailing_newline() {
        let parsed = parse(b"# EOF\na 1", TEXT, 0).unwrap();
        assert_eq!(parsed.samples.len(), 1);
    }
}
