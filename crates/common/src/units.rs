//! Durations written the way Prometheus configuration writes them, shared by every
//! config section that takes one (`15s`, `1m30s`, `30d`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Units of a Prometheus duration, largest first, in milliseconds.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// A duration in Prometheus notation: `15s`, `1m`, `1h30m`, `500ms`, `0`.
///
/// Units must appear largest first and at most once each (`y w d h m s ms`),
/// as in Prometheus's `model.ParseDuration`. The `Display` form is the
/// canonical Prometheus spelling (`90s` prints as `1m30s`), which is also the
/// value of the `__scrape_interval__` and `__scrape_timeout__` target labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The duration as a std duration.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Parses Prometheus notation; the error names the offending input.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if text.is_empty() {
            return Err("empty duration string".to_string());
        }
        let invalid = || format!("not a valid duration string: {text:?}");
        let mut rest = text;
        let mut total_ms: u64 = 0;
        // Index into DURATION_UNITS of the next unit allowed; enforces order.
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits_len == 0 {
                return Err(invalid());
            }
            let number: u64 = rest[..digits_len].parse().map_err(|_| invalid())?;
            rest = &rest[digits_len..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let position = DURATION_UNITS[next_unit..]
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(invalid)?;
            let unit_ms = DURATION_UNITS[next_unit + position].1;
            next_unit += position + 1;
            let part = number.checked_mul(unit_ms).ok_or_else(invalid)?;
            total_ms = total_ms.checked_add(part).ok_or_else(invalid)?;
        }
        Ok(Self(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (name, unit_ms) in DURATION_UNITS {
            let count = ms / unit_ms;
            if count > 0 {
                write!(f, "{count}{name}")?;
                ms -= count * unit_ms;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses a Prometheus duration (`15s`, `1h30m`, `30d`) into a std duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    PromDuration::parse(text.trim()).map(PromDuration::as_duration)
}

/// Serde for `std::time::Duration` fields written in Prometheus notation:
/// `#[serde(with = "vispyr_common::units::duration_text")]`.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::PromDuration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        PromDuration(*value).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        PromDuration::deserialize(deserializer).map(PromDuration::as_duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let cases = [
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
            ("0", 0),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
        ];
        for (text, ms) in cases {
            let parsed = PromDuration::parse(text).unwrap();
            assert_eq!(parsed.0, Duration::from_millis(ms), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_durations() {
        for text in ["", "15", "s", "1.5s", "30m1h", "1s1s", "1x", "-1s", " 1s"] {
            assert!(PromDuration::parse(text).is_err(), "{text:?} should fail");
        }
    }

    #[test]
    fn displays_canonical_form() {
        let cases = [
            (90_000, "1m30s"),
            (15_000, "15s"),
            (0, "0s"),
            (1_500, "1s500ms"),
            (3_600_000, "1h"),
        ];
        for (ms, text) in cases {
            assert_eq!(PromDuration(Duration::from_millis(ms)).to_string(), text);
        }
    }

    #[test]
    fn std_durations() {
        assert_eq!(
            parse_duration(" 30d ").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_duration("15").is_err());
    }
}
