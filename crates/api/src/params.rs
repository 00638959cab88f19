//! Query parameters shared by the query APIs: repeated-name query strings, times
//! and durations.

use vispyr_common::now_unix_nanos;

use crate::ApiError;

/// The `name=value` pairs of a query string (and, for form posts, of the body),
/// in order; repeated names (`match[]`, `attr`) keep every value.
#[derive(Debug, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    /// The pairs of a raw query string.
    pub fn from_query(raw: Option<&str>) -> QueryPairs {
        let mut pairs = QueryPairs::default();
        if let Some(raw) = raw {
            pairs.extend_form(raw.as_bytes());
        }
        pairs
    }

    /// The pairs of a query string and, when the body is a form
    /// (`application/x-www-form-urlencoded`), of the body too.
    pub fn from_request(raw: Option<&str>, headers: &http::HeaderMap, body: &[u8]) -> QueryPairs {
        let mut pairs = QueryPairs::from_query(raw);
        let is_form = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend_form(body);
        }
        pairs
    }

    /// Adds the pairs of an `application/x-www-form-urlencoded` body.
    pub fn extend_form(&mut self, form: &[u8]) {
        self.0.extend(form_urlencoded::parse(form).into_owned());
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a time: Unix seconds (fractions allowed), milliseconds or nanoseconds
/// (told apart by magnitude), RFC 3339, `now`, or `now-<duration>` (`now-1h`).
pub fn parse_time(value: &str, name: &str) -> Result<i64, ApiError> {
    let value = value.trim();
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid {name}={value:?}: use Unix seconds, milliseconds or nanoseconds, RFC 3339, or now-1h"
        ))
    };
    if value == "now" {
        return Ok(now_unix_nanos());
    }
    if let Some(ago) = value.strip_prefix("now-") {
        let duration = parse_duration(ago, name)?;
        return Ok(now_unix_nanos().saturating_sub(duration));
    }
    if let Ok(number) = value.parse::<i64>() {
        return Ok(match number.unsigned_abs() {
            n if n >= 100_000_000_000_000_000 => number,
            n if n >= 100_000_000_000_000 => number.saturating_mul(1_000),
            n if n >= 100_000_000_000 => number.saturating_mul(1_000_000),
            _ => number.saturating_mul(1_000_000_000),
        });
    }
    if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(bad());
        }
        return Ok((seconds * 1e9) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .and_then(|time| time.timestamp_nanos_opt())
        .ok_or_else(bad)
}

/// Parses a duration in nanoseconds: `15s`, `1m`, `2h`, `1d`, `500ms`, or plain
/// seconds (`15`, `0.5`).
pub fn parse_duration(value: &str, name: &str) -> Result<i64, ApiError> {
    let value = value.trim();
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid {name}={value:?}: use a duration such as 15s, 5m, 1h or seconds"
        ))
    };
    if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(bad());
        }
        return Ok((seconds * 1e9) as i64);
    }
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(bad)?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit_nanos = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3_600e9,
        "d" => 86_400e9,
        "w" => 604_800e9,
        _ => return Err(bad()),
    };
    Ok((number * unit_nanos) as i64)
}

/// A `from`/`until` range; `until` defaults to now and `from` to an hour before it.
pub fn time_range(from: Option<&str>, until: Option<&str>) -> Result<(i64, i64), ApiError> {
    let until = match until {
        Some(value) if !value.is_empty() => parse_time(value, "until")?,
        _ => now_unix_nanos(),
    };
    let from = match from {
        Some(value) if !value.is_empty() => parse_time(value, "from")?,
        _ => until.saturating_sub(3_600 * 1_000_000_000),
    };
    if from >= until {
        return Err(ApiError::BadRequest(format!(
            "empty time range: from ({from}) must be before until ({until})"
        )));
    }
    Ok((from, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        let s = 1_700_000_000_000_000_000i64;
        assert_eq!(parse_time("1700000000", "t").unwrap(), s);
        assert_eq!(parse_time("1700000000000", "t").unwrap(), s);
        assert_eq!(parse_time("1700000000000000000", "t").unwrap(), s);
        assert_eq!(parse_time("1700000000.5", "t").unwrap(), s + 500_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z", "t").unwrap(), s);
        let ago = now_unix_nanos() - parse_time("now-1h", "t").unwrap();
        assert!((3_599_000_000_000..3_601_000_000_000).contains(&ago));
        assert!(parse_time("tomorrow", "from").is_err());
        assert_eq!(parse_duration("15s", "step").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration("500ms", "step").unwrap(), 500_000_000);
        assert_eq!(parse_duration("2", "step").unwrap(), 2_000_000_000);
        assert!(parse_duration("5 parsecs", "step").is_err());
        assert!(time_range(Some("2000"), Some("1000")).is_err());
    }
}
