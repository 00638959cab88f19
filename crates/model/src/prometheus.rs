//! OpenTelemetry → Prometheus naming, as the OpenTelemetry specification's
//! "Prometheus and OpenMetrics compatibility" section describes it:
//!
//! - a metric name is split into tokens on every character that is not a letter or
//!   digit, and the tokens are joined with `_` (`http.server.duration` →
//!   `http_server_duration`);
//! - the unit is appended unless a token already names it: `s` → `seconds`,
//!   `By` → `bytes`, `ms` → `milliseconds`, … ; `a/b` becomes `a_per_b`; units in braces
//!   (`{request}`) are annotations and dropped;
//! - monotonic sums (counters) end in `_total`; gauges with unit `1` end in `_ratio`;
//! - label names have invalid characters replaced by `_` and get a `key` prefix when
//!   they start with a digit or a single underscore.

/// What kind of OTLP metric a name is built for; it decides the suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A monotonic sum: ends in `_total`.
    Counter,
    /// An OTLP gauge: unit `1` becomes `_ratio`.
    Gauge,
    /// Anything else (non-monotonic sums, histograms, summaries).
    Other,
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_string)
        .collect()
}

/// Translates one unit part to its Prometheus word(s); annotations (`{...}`) vanish.
fn unit_words(unit: &str, per: bool) -> Vec<String> {
    let trimmed = unit.trim();
    if trimmed.is_empty() || trimmed == "1" || trimmed.contains('{') {
        return Vec::new();
    }
    let known = if per {
        per_unit(trimmed)
    } else {
        main_unit(trimmed)
    };
    match known {
        Some(word) => vec![word.to_string()],
        None => tokens(trimmed),
    }
}

/// The Prometheus metric name of an OTLP metric named `name` with unit `unit`.
pub fn metric_name(name: &str, unit: &str, kind: NameKind) -> String {
    let mut name_tokens = tokens(name);
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main, Some(per)),
        None => (unit, None),
    };
    let main_words = unit_words(main, false);
    if !main_words.is_empty() && !contains_all(&name_tokens, &main_words) {
        name_tokens.extend(main_words);
    }
    if let Some(per) = per {
        let per_words = unit_words(per, true);
        if !per_words.is_empty() && !contains_all(&name_tokens, &per_words) {
            name_tokens.push("per".to_string());
            name_tokens.extend(per_words);
        }
    }
    match kind {
        NameKind::Counter => {
            name_tokens.retain(|token| token != "total");
            name_tokens.push("total".to_string());
        }
        NameKind::Gauge if unit.trim() == "1" && !name_tokens.iter().any(|t| t == "ratio") => {
            name_tokens.push("ratio".to_string());
        }
        _ => {}
    }
    let joined = name_tokens.join("_");
    if joined.is_empty() {
        return "_".to_string();
    }
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("_{joined}");
    }
    joined
}

fn contains_all(tokens: &[String], words: &[String]) -> bool {
    words
        .iter()
        .all(|word| tokens.iter().any(|token| token == word))
}

/// The Prometheus label name for an OTLP attribute key.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        return "key_empty".to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// Formats a float the way Prometheus does for `le` and `quantile` labels
/// (Go's `strconv.FormatFloat(v, 'g', -1, 64)`): shortest round-trip digits, in
/// exponent form when the decimal exponent is below -4 or at least 6 — `0.1`, `1`,
/// `2.5`, `100000`, `1e+06`, `1e-05`.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e6", "-2e-5".
    let scientific = format!("{value:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_compatibility_spec() {
        let cases = [
            (
                "http.server.requests",
                "{request}",
                NameKind::Counter,
                "http_server_requests_total",
            ),
            (
                "http.server.request.duration",
                "s",
                NameKind::Other,
                "http_server_request_duration_seconds",
            ),
            (
                "process.memory.usage",
                "By",
                NameKind::Gauge,
                "process_memory_usage_bytes",
            ),
            ("queue.size", "1", NameKind::Other, "queue_size"),
            (
                "cpu.utilization",
                "1",
                NameKind::Gauge,
                "cpu_utilization_ratio",
            ),
            (
                "throughput",
                "By/s",
                NameKind::Gauge,
                "throughput_bytes_per_second",
            ),
            ("requests_total", "", NameKind::Counter, "requests_total"),
            (
                "jvm.gc.duration_seconds",
                "s",
                NameKind::Other,
                "jvm_gc_duration_seconds",
            ),
            (
                "system.io",
                "By",
                NameKind::Counter,
                "system_io_bytes_total",
            ),
            ("1st.metric", "", NameKind::Gauge, "_1st_metric"),
            ("a..b", "", NameKind::Gauge, "a_b"),
            ("latency", "ms", NameKind::Other, "latency_milliseconds"),
            ("temperature", "Cel", NameKind::Gauge, "temperature_celsius"),
        ];
        for (name, unit, kind, expected) in cases {
            assert_eq!(metric_name(name, unit, kind), expected, "{name} [{unit}]");
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("2xx"), "key_2xx");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
        assert_eq!(label_name("ok_name"), "ok_name");
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1e21), "1e+21");
        assert_eq!(format_float(100000.0), "100000");
        assert_eq!(format_float(1e6), "1e+06");
        assert_eq!(format_float(1234567.0), "1.234567e+06");
    }
}
