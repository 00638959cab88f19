//! Running a log pipeline over one entry: parsers, label filters,
//! formatters, and the sample extraction of metric queries.
//!
//! Labels follow Loki's `LabelsBuilder`: the entry starts with its stream
//! labels and structured metadata; parsers add labels, renaming a name that
//! clashes with a stream label to `<name>_extracted`; the first failing
//! parser or filter sets `__error__` (and `__error_details__`), which only
//! string label filters (`| __error__=""`) and `drop` can remove.

use vispyr_promql::{Labels, Matcher};

use crate::ast::{
    Conversion, Extraction, LabelFilter, LabelFmt, NameOrMatcher, PathPart, Stage, Unwrap,
};
use crate::jsonline::{self, JsonValue};
use crate::template::Context;
use crate::units::{parse_bytes, parse_go_duration};

/// The label holding a pipeline error.
pub(crate) const ERROR_LABEL: &str = "__error__";
/// The label holding the details of a pipeline error.
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";

const ERR_JSON: &str = "JSONParserErr";
const ERR_LOGFMT: &str = "LogfmtParserErr";
const ERR_LABEL_FILTER: &str = "LabelFilterErr";
const ERR_TEMPLATE: &str = "TemplateFormatErr";
const ERR_SAMPLE: &str = "SampleExtractionErr";

/// The labels of one entry while its pipeline runs.
#[derive(Debug, Clone)]
pub(crate) struct LabelsBuilder<'a> {
    base: &'a Labels,
    labels: Vec<(String, String)>,
    err: Option<String>,
    err_details: Option<String>,
}

impl<'a> LabelsBuilder<'a> {
    pub(crate) fn new(stream: &'a Labels, metadata: &Labels) -> LabelsBuilder<'a> {
        let mut builder = LabelsBuilder {
            base: stream,
            labels: stream.clone(),
            err: None,
            err_details: None,
        };
        for (name, value) in metadata {
            builder.set_parsed(name, value.clone());
        }
        builder
    }

    fn base_has(&self, name: &str) -> bool {
        self.base.iter().any(|(n, _)| n == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        if name == ERROR_LABEL {
            return self.err.as_deref();
        }
        if name == ERROR_DETAILS_LABEL {
            return self.err_details.as_deref();
        }
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has_err(&self) -> bool {
        self.err.is_some()
    }

    pub(crate) fn set(&mut self, name: &str, value: String) {
        if let Some(slot) = self.labels.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value;
        } else {
            self.labels.push((name.to_string(), value));
        }
    }

    /// Sets a label found by a parser: `<name>_extracted` when `name` is a
    /// stream label.
    fn set_parsed(&mut self, name: &str, value: String) {
        if self.base_has(name) {
            let renamed = format!("{name}_extracted");
            self.set(&renamed, value);
        } else {
            self.set(name, value);
        }
    }

    fn del(&mut self, name: &str) {
        match name {
            ERROR_LABEL => self.err = None,
            ERROR_DETAILS_LABEL => self.err_details = None,
            _ => self.labels.retain(|(n, _)| n != name),
        }
    }

    pub(crate) fn set_err(&mut self, err: &str, details: impl Into<String>) {
        self.err = Some(err.to_string());
        self.err_details = Some(details.into());
    }

    /// The final labels, sorted by name, with the error labels.
    pub(crate) fn into_labels(self) -> Labels {
        let mut labels = self.labels;
        if let Some(err) = self.err {
            labels.push((ERROR_LABEL.to_string(), err));
            if let Some(details) = self.err_details {
                labels.push((ERROR_DETAILS_LABEL.to_string(), details));
            }
        }
        labels.sort();
        labels
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| self.get(name).map(str::to_string)
    }
}

/// Runs `stages` over one entry; `None` when a filter drops it.
pub(crate) fn run_stages<'a>(
    stages: &[Stage],
    timestamp_ns: i64,
    line: &str,
    stream: &'a Labels,
    metadata: &Labels,
) -> Option<(LabelsBuilder<'a>, String)> {
    let mut builder = LabelsBuilder::new(stream, metadata);
    let mut line = line.to_string();
    for stage in stages {
        if !run_stage(stage, timestamp_ns, &mut line, &mut builder) {
            return None;
        }
    }
    Some((builder, line))
}

fn run_stage(stage: &Stage, timestamp_ns: i64, line: &mut String, lbs: &mut LabelsBuilder) -> bool {
    match stage {
        Stage::LineFilter(filter) => return filter.matches(line),
        Stage::LabelFilter(filter) => return eval_label_filter(filter, lbs),
        Stage::Json(extractions) => {
            if extractions.is_empty() {
                parse_json(line, lbs);
            } else {
                extract_json(line, extractions, lbs);
            }
        }
        Stage::Logfmt {
            strict,
            keep_empty,
            extractions,
        } => parse_logfmt(line, *strict, *keep_empty, extractions, lbs),
        Stage::Regexp { regex, .. } => {
            if let Some(captures) = regex.captures(line) {
                for name in regex.capture_names().flatten() {
                    let value = captures.name(name).map_or("", |m| m.as_str());
                    lbs.set_parsed(name, value.to_string());
                }
            }
        }
        Stage::Pattern(pattern) => {
            let captures: Vec<(String, String)> = pattern
                .captures(line)
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            for (name, value) in captures {
                lbs.set_parsed(&name, value);
            }
        }
        Stage::Unpack => unpack(line, lbs),
        Stage::LineFormat(template) => {
            let rendered = {
                let lookup = lbs.lookup();
                template.render(&Context {
                    label: &lookup,
                    line,
                    timestamp_ns,
                })
            };
            match rendered {
                Ok(text) => *line = text,
                Err(message) => lbs.set_err(ERR_TEMPLATE, message),
            }
        }
        Stage::LabelFormat(items) => {
            let mut updates: Vec<(String, String, Option<String>)> = Vec::new();
            let mut failure: Option<String> = None;
            {
                let lookup = lbs.lookup();
                for item in items {
                    match item {
                        LabelFmt::Rename { dst, src } => {
                            let value = lookup(src).unwrap_or_default();
                            updates.push((dst.clone(), value, Some(src.clone())));
                        }
                        LabelFmt::Template { dst, template } => {
                            let rendered = template.render(&Context {
                                label: &lookup,
                                line,
                                timestamp_ns,
                            });
                            match rendered {
                                Ok(value) => updates.push((dst.clone(), value, None)),
                                Err(message) => failure = Some(message),
                            }
                        }
                    }
                }
            }
            for (dst, value, renamed_from) in updates {
                if let Some(src) = renamed_from
                    && src != dst
                {
                    lbs.del(&src);
                }
                lbs.set(&dst, value);
            }
            if let Some(message) = failure {
                lbs.set_err(ERR_TEMPLATE, message);
            }
        }
        Stage::Drop(items) => {
            for item in items {
                match item {
                    NameOrMatcher::Name(name) => lbs.del(name),
                    NameOrMatcher::Matcher(m) => {
                        if lbs.get(&m.name).is_some_and(|v| m.matches(v)) {
                            lbs.del(&m.name);
                        }
                    }
                }
            }
        }
        Stage::Keep(items) => {
            let keep = |name: &str, value: &str| {
                items.iter().any(|item| match item {
                    NameOrMatcher::Name(n) => n == name,
                    NameOrMatcher::Matcher(m) => m.name == name && m.matches(value),
                })
            };
            lbs.labels.retain(|(n, v)| keep(n, v));
        }
        Stage::Decolorize => *line = decolorize(line),
    }
    true
}

/// Evaluates a label filter, as Loki: string filters compare a missing
/// label as ""; numeric, duration and bytes filters drop entries without
/// the label, keep entries that already have an error, and set
/// `LabelFilterErr` (keeping the entry) when the value does not convert.
pub(crate) fn eval_label_filter(filter: &LabelFilter, lbs: &mut LabelsBuilder) -> bool {
    match filter {
        LabelFilter::Str(m) => m.matches(lbs.get(&m.name).unwrap_or("")),
        LabelFilter::Number { name, op, value } => converted_compare(
            lbs,
            name,
            |v| v.trim().parse::<f64>().ok(),
            |x| op.test(x, *value),
        ),
        LabelFilter::Duration { name, op, ns } => {
            converted_compare(lbs, name, parse_go_duration, |x| op.test(x, *ns))
        }
        LabelFilter::Bytes { name, op, bytes } => {
            converted_compare(lbs, name, parse_bytes, |x| op.test(x, *bytes))
        }
        LabelFilter::And(l, r) => {
            let left = eval_label_filter(l, lbs);
            let right = eval_label_filter(r, lbs);
            left && right
        }
        LabelFilter::Or(l, r) => eval_label_filter(l, lbs) || eval_label_filter(r, lbs),
    }
}

fn converted_compare<T>(
    lbs: &mut LabelsBuilder,
    name: &str,
    convert: impl Fn(&str) -> Option<T>,
    test: impl Fn(T) -> bool,
) -> bool {
    if lbs.has_err() {
        return true;
    }
    let Some(raw) = lbs.get(name) else {
        return false;
    };
    match convert(raw) {
        Some(value) => test(value),
        None => {
            let details = format!("cannot convert {raw:?} of label {name}");
            lbs.set_err(ERR_LABEL_FILTER, details);
            true
        }
    }
}

/// Loki's label name sanitising: characters outside `[a-zA-Z0-9_]` become
/// `_`, and a leading digit gets a `_` prefix.
pub(crate) fn sanitize_label_key(key: &str, is_prefix: bool) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if is_prefix && key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

fn json_scalar(value: &JsonValue) -> Option<String> {
    match value {
        JsonValue::Str(s) => Some(s.clone()),
        JsonValue::Number(n) => Some(n.to_string()),
        JsonValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_json(line: &str, lbs: &mut LabelsBuilder) {
    match jsonline::parse(line) {
        Ok(JsonValue::Object(members, _)) => flatten_json("", &members, lbs),
        Ok(_) => lbs.set_err(ERR_JSON, "value is not an object"),
        Err(details) => lbs.set_err(ERR_JSON, details),
    }
}

fn flatten_json(prefix: &str, members: &[(String, JsonValue)], lbs: &mut LabelsBuilder) {
    for (key, value) in members {
        let sanitized = sanitize_label_key(key, prefix.is_empty());
        if sanitized.is_empty() {
            continue;
        }
        let name = if prefix.is_empty() {
            sanitized
        } else {
            format!("{prefix}_{sanitized}")
        };
        match value {
            JsonValue::Object(inner, _) => flatten_json(&name, inner, lbs),
            other => {
                if let Some(text) = json_scalar(other) {
                    lbs.set_parsed(&name, text);
                }
            }
        }
    }
}

fn extract_json(line: &str, extractions: &[Extraction], lbs: &mut LabelsBuilder) {
    let root = match jsonline::parse(line) {
        Ok(root) => root,
        Err(details) => {
            lbs.set_err(ERR_JSON, details);
            return;
        }
    };
    for extraction in extractions {
        let mut current = Some(&root);
        for part in &extraction.path {
            current = match (current, part) {
                (Some(JsonValue::Object(members, _)), PathPart::Key(key)) => {
                    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
                }
                (Some(JsonValue::Array(items, _)), PathPart::Index(i)) => items.get(*i),
                _ => None,
            };
        }
        let value = match current {
            Some(JsonValue::Object(_, raw) | JsonValue::Array(_, raw)) => raw.to_string(),
            Some(JsonValue::Null) | None => String::new(),
            Some(scalar) => json_scalar(scalar).unwrap_or_default(),
        };
        lbs.set_parsed(&extraction.label, value);
    }
}

fn unpack(line: &mut String, lbs: &mut LabelsBuilder) {
    let members = match jsonline::parse(line) {
        Ok(JsonValue::Object(members, _)) => members,
        Ok(_) => {
            lbs.set_err(ERR_JSON, "value is not an object");
            return;
        }
        Err(details) => {
            lbs.set_err(ERR_JSON, details);
            return;
        }
    };
    let mut entry: Option<String> = None;
    for (key, value) in members {
        let JsonValue::Str(text) = value else {
            continue;
        };
        if key == "_entry" {
            entry = Some(text);
            continue;
        }
        lbs.set_parsed(&key, text);
    }
    if let Some(text) = entry {
        *line = text;
    }
}

/// One key/value of a logfmt line, or a syntax error.
enum LogfmtItem<'l> {
    Pair(&'l str, String),
    Error(String),
}

/// Scans a logfmt line like go-logfmt: `key=value`, `key="quoted \" value"`
/// and standalone `key` (empty value).
fn scan_logfmt(line: &str) -> Vec<LogfmtItem<'_>> {
    let bytes = line.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] <= b' ' {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] > b' ' && bytes[i] != b'=' && bytes[i] != b'"' {
            i += 1;
        }
        if i == key_start {
            items.push(LogfmtItem::Error(format!(
                "logfmt syntax error at pos {}: unexpected {:?}",
                i + 1,
                bytes[i] as char
            )));
            // Skip to the next space.
            while i < bytes.len() && bytes[i] > b' ' {
                i += 1;
            }
            continue;
        }
        let key = &line[key_start..i];
        if i >= bytes.len() || bytes[i] != b'=' {
            if i < bytes.len() && bytes[i] == b'"' {
                items.push(LogfmtItem::Error(format!(
                    "logfmt syntax error at pos {}: unexpected '\"'",
                    i + 1
                )));
                while i < bytes.len() && bytes[i] > b' ' {
                    i += 1;
                }
                continue;
            }
            items.push(LogfmtItem::Pair(key, String::new()));
            continue;
        }
        // Skip '='.
        i += 1;
        if i < bytes.len() && bytes[i] == b'"' {
            let quote_start = i;
            i += 1;
            let mut escaped = false;
            let mut closed = false;
            while i < bytes.len() {
                let b = bytes[i];
                i += 1;
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                items.push(LogfmtItem::Error(format!(
                    "logfmt syntax error at pos {}: unterminated quoted value",
                    i + 1
                )));
                break;
            }
            let raw = &line[quote_start..i];
            match jsonline::parse(raw) {
                Ok(JsonValue::Str(value)) => items.push(LogfmtItem::Pair(key, value)),
                _ => items.push(LogfmtItem::Error(format!(
                    "logfmt syntax error at pos {}: invalid quoted value",
                    quote_start + 1
                ))),
            }
            continue;
        }
        let value_start = i;
        let mut bad = false;
        while i < bytes.len() && bytes[i] > b' ' {
            if bytes[i] == b'=' || bytes[i] == b'"' {
                bad = true;
            }
            i += 1;
        }
        if bad {
            items.push(LogfmtItem::Error(format!(
                "logfmt syntax error at pos {}: unexpected character in value",
                value_start + 1
            )));
            continue;
        }
        items.push(LogfmtItem::Pair(key, line[value_start..i].to_string()));
    }
    items
}

fn parse_logfmt(
    line: &str,
    strict: bool,
    keep_empty: bool,
    extractions: &[Extraction],
    lbs: &mut LabelsBuilder,
) {
    for item in scan_logfmt(line) {
        let (key, value) = match item {
            LogfmtItem::Pair(key, value) => (key, value),
            LogfmtItem::Error(details) => {
                if strict {
                    lbs.set_err(ERR_LOGFMT, details);
                    return;
                }
                continue;
            }
        };
        if extractions.is_empty() {
            if value.is_empty() && !keep_empty {
                continue;
            }
            let name = sanitize_label_key(key, true);
            if name.is_empty() {
                continue;
            }
            lbs.set_parsed(&name, value);
            continue;
        }
        for extraction in extractions {
            let wanted = match extraction.path.first() {
                Some(PathPart::Key(k)) => k.as_str(),
                _ => continue,
            };
            if wanted == key {
                lbs.set_parsed(&extraction.label, value.clone());
            }
        }
    }
}

/// Removes ANSI colour escape sequences.
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The value `| unwrap` extracts, after the pipeline ran: `None` when the
/// label is missing or empty (Loki skips such entries) or a post filter
/// drops the entry; conversion failures set `SampleExtractionErr`.
pub(crate) fn unwrap_value(unwrap: &Unwrap, lbs: &mut LabelsBuilder) -> Option<f64> {
    let raw = lbs.get(&unwrap.label).unwrap_or("").to_string();
    if raw.is_empty() {
        return None;
    }
    let converted = match unwrap.conversion {
        Conversion::Float => raw.trim().parse::<f64>().ok(),
        Conversion::Duration | Conversion::DurationSeconds => {
            parse_go_duration(raw.trim()).map(|ns| ns as f64 / 1e9)
        }
        Conversion::Bytes => parse_bytes(&raw).map(|b| b as f64),
    };
    let value = match converted {
        Some(v) => v,
        None => {
            lbs.set_err(ERR_SAMPLE, format!("cannot convert {raw:?} to a number"));
            0.0
        }
    };
    for filter in &unwrap.post_filters {
        if !eval_label_filter(filter, lbs) {
            return None;
        }
    }
    Some(value)
}

/// The labels of the equality matchers of a selector, for `absent_over_time`.
pub(crate) fn matcher_labels(matchers: &[Matcher]) -> Labels {
    let mut labels: Labels = Vec::new();
    for m in matchers {
        if m.op == vispyr_promql::MatchOp::Equal && !labels.iter().any(|(n, _)| *n == m.name) {
            labels.push((m.name.clone(), m.value.clone()));
        }
    }
    labels.sort();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut out: Labels = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        out.sort();
        out
    }

    fn run(query: &str, line: &str) -> Option<(Labels, String)> {
        let expr = parse(query).unwrap();
        let selector = expr.log_selector().unwrap();
        let stream = labels(&[("app", "api"), ("level", "info")]);
        let entry = crate::LogEntry {
            timestamp_ns: 1,
            line: line.to_string(),
            stream,
            metadata: labels(&[("trace_id", "abc")]),
        };
        selector.process(&entry)
    }

    fn label<'a>(out: &'a (Labels, String), name: &str) -> Option<&'a str> {
        out.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn json_flattens_sanitises_and_suffixes() {
        let out = run(
            r#"{app="api"} | json"#,
            r#"{"a":{"b":1,"c":{"d":true}},"level":"warn","my-key":"x","1st":"y","arr":[1],"n":null,"f":1.50}"#,
        )
        .unwrap();
        assert_eq!(label(&out, "a_b"), Some("1"));
        assert_eq!(label(&out, "a_c_d"), Some("true"));
        assert_eq!(label(&out, "level"), Some("info"));
        assert_eq!(label(&out, "level_extracted"), Some("warn"));
        assert_eq!(label(&out, "my_key"), Some("x"));
        assert_eq!(label(&out, "_1st"), Some("y"));
        assert_eq!(label(&out, "arr"), None);
        assert_eq!(label(&out, "n"), None);
        assert_eq!(label(&out, "f"), Some("1.50"));
        assert_eq!(label(&out, "trace_id"), Some("abc"));
        assert_eq!(label(&out, ERROR_LABEL), None);
    }

    #[test]
    fn json_errors_and_error_filter() {
        let out = run(r#"{app="api"} | json"#, "not json").unwrap();
        assert_eq!(label(&out, ERROR_LABEL), Some("JSONParserErr"));
        assert!(label(&out, ERROR_DETAILS_LABEL).is_some());
        assert!(run(r#"{app="api"} | json | __error__="""#, "not json").is_none());
        assert!(run(r#"{app="api"} | json | __error__="""#, "{}").is_some());
        let dropped = run(
            r#"{app="api"} | json | drop __error__, __error_details__"#,
            "x",
        )
        .unwrap();
        assert_eq!(label(&dropped, ERROR_LABEL), None);
    }

    #[test]
    fn json_extraction_paths() {
        let line = r#"{"a":{"b":[{"c":"x"},{"c":"y"}]},"s":"v","o":{"k":1}}"#;
        let out = run(
            r#"{app="api"} | json first="a.b[0].c", second=`a.b[1]["c"]`, s, missing="nope", o"#,
            line,
        )
        .unwrap();
        assert_eq!(label(&out, "first"), Some("x"));
        assert_eq!(label(&out, "second"), Some("y"));
        assert_eq!(label(&out, "s"), Some("v"));
        assert_eq!(label(&out, "missing"), Some(""));
        assert_eq!(label(&out, "o"), Some(r#"{"k":1}"#));
    }

    #[test]
    fn logfmt_modes() {
        let line = r#"level=error msg="bad thing \"x\"" dur=1.5s standalone empty= a=b=c"#;
        let out = run(r#"{app="api"} | logfmt"#, line).unwrap();
        assert_eq!(label(&out, "level_extracted"), Some("error"));
        assert_eq!(label(&out, "msg"), Some("bad thing \"x\""));
        assert_eq!(label(&out, "dur"), Some("1.5s"));
        assert_eq!(label(&out, "standalone"), None);
        assert_eq!(label(&out, ERROR_LABEL), None);
        let keep = run(r#"{app="api"} | logfmt --keep-empty"#, line).unwrap();
        assert_eq!(label(&keep, "standalone"), Some(""));
        let strict = run(r#"{app="api"} | logfmt --strict"#, line).unwrap();
        assert_eq!(label(&strict, ERROR_LABEL), Some("LogfmtParserErr"));
        let extracted = run(r#"{app="api"} | logfmt m="msg", dur"#, line).unwrap();
        assert_eq!(label(&extracted, "m"), Some("bad thing \"x\""));
        assert_eq!(label(&extracted, "dur"), Some("1.5s"));
        assert_eq!(label(&extracted, "level_extracted"), None);
    }

    #[test]
    fn label_filters() {
        let line = "status=503 dur=250ms size=2KB name=api-gw";
        let keep = |filter: &str| run(&format!(r#"{{app="api"}} | logfmt | {filter}"#), line);
        assert!(keep("status >= 500").is_some());
        assert!(keep("status == 503").is_some());
        assert!(keep("status = 503").is_some());
        assert!(keep("status != 503").is_none());
        assert!(keep("status < 500").is_none());
        assert!(keep("dur > 100ms").is_some());
        assert!(keep("dur > 1s").is_none());
        assert!(keep("size > 1KB").is_some());
        assert!(keep("size > 1MB").is_none());
        assert!(keep("name =~ \"api-.*\"").is_some());
        assert!(keep("name !~ \"api-.*\"").is_none());
        assert!(keep("missing > 1").is_none());
        assert!(keep("missing = \"\"").is_some());
        assert!(keep("status > 500 and dur < 1s").is_some());
        assert!(keep("status > 500, dur > 1s").is_none());
        assert!(keep("status > 500 dur > 1s").is_none());
        assert!(keep("status < 500 or dur < 1s").is_some());
        assert!(keep("(status < 500 or dur > 1s) and size > 1KB").is_none());
        assert!(keep("status < 500 or dur > 1s and size > 1KB").is_none());
        // A non-numeric value: kept, with LabelFilterErr.
        let err = keep("name > 1").unwrap();
        assert_eq!(label(&err, ERROR_LABEL), Some("LabelFilterErr"));
        assert!(keep("name > 1 | __error__ = \"\"").is_none());
    }

    #[test]
    fn formatting_stages() {
        let line = "status=503 path=/api msg=\"x y\"";
        let out = run(
            r#"{app="api"} | logfmt | line_format "{{.status}} {{ .path | ToUpper }} [{{.nope}}] {{.app}}""#,
            line,
        )
        .unwrap();
        assert_eq!(out.1, "503 /API [] api");
        let out = run(
            r#"{app="api"} | logfmt | label_format code=status, where="{{.app}}:{{.path}}""#,
            line,
        )
        .unwrap();
        assert_eq!(label(&out, "code"), Some("503"));
        assert_eq!(label(&out, "status"), None);
        assert_eq!(label(&out, "where"), Some("api:/api"));
        let out = run(r#"{app="api"} | logfmt | drop path, msg="x y""#, line).unwrap();
        assert_eq!(label(&out, "path"), None);
        assert_eq!(label(&out, "msg"), None);
        assert_eq!(label(&out, "status"), Some("503"));
        let out = run(r#"{app="api"} | logfmt | keep status, app"#, line).unwrap();
        assert_eq!(out.0, labels(&[("app", "api"), ("status", "503")]));
        // The line filter after line_format sees the new line.
        assert!(run(r#"{app="api"} | line_format "hello" |= "hello""#, line).is_some());
        assert!(run(r#"{app="api"} | line_format "hello" |= "status""#, line).is_none());
    }

    #[test]
    fn regexp_pattern_unpack_decolorize() {
        let line = "10.0.0.1 GET /x 200";
        let out = run(
            r#"{app="api"} | regexp "(?P<ip>\\S+) (?P<method>\\S+)""#,
            line,
        )
        .unwrap();
        assert_eq!(label(&out, "ip"), Some("10.0.0.1"));
        assert_eq!(label(&out, "method"), Some("GET"));
        let out = run(
            r#"{app="api"} | pattern "<_> <method> <path> <status>""#,
            line,
        )
        .unwrap();
        assert_eq!(label(&out, "path"), Some("/x"));
        assert_eq!(label(&out, "status"), Some("200"));
        let out = run(
            r#"{app="api"} | unpack"#,
            r#"{"_entry":"orig","pod":"p1","n":1}"#,
        )
        .unwrap();
        assert_eq!(out.1, "orig");
        assert_eq!(label(&out, "pod"), Some("p1"));
        assert_eq!(label(&out, "n"), None);
        let out = run(r#"{app="api"} | decolorize"#, "\u{1b}[31mred\u{1b}[0m").unwrap();
        assert_eq!(out.1, "red");
    }

    #[test]
    fn sanitizes_keys() {
        assert_eq!(sanitize_label_key("a.b-c", true), "a_b_c");
        assert_eq!(sanitize_label_key("1a", true), "_1a");
        assert_eq!(sanitize_label_key("1a", false), "1a");
        assert_eq!(sanitize_label_key(" k ", true), "k");
    }
}
