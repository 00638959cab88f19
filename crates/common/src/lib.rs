//! Shared vocabulary of Vispyr: the [`Signal`] enum, time helpers, hex ids and the
//! process-wide self-telemetry registry.
//!
//! This crate owns no I/O and no protocol code; every other crate depends on it.

pub mod profile;
pub mod telemetry;
pub mod text;
pub mod units;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// One of the telemetry signals Vispyr ingests and stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
    /// Profile samples: `(time, series, stack_id, value)` rows.
    Profiles,
    /// The deduplicated stacks that profile samples point to. Not an OTLP signal of
    /// its own but stored like one, so it is partitioned, retained and queried the
    /// same way as the samples.
    ProfileStacks,
}

impl Signal {
    /// All signals, in a stable order.
    pub const ALL: [Signal; 5] = [
        Signal::Traces,
        Signal::Metrics,
        Signal::Logs,
        Signal::Profiles,
        Signal::ProfileStacks,
    ];

    /// The short name used in paths, metrics labels and config keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Profiles => "profiles",
            Signal::ProfileStacks => "profile_stacks",
        }
    }

    /// The SQL table that holds this signal.
    pub fn table_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "logs",
            Signal::Profiles => "profile_samples",
            Signal::ProfileStacks => "profile_stacks",
        }
    }

    /// The one-byte tag used in on-disk records; stable across versions.
    pub fn tag(self) -> u8 {
        match self {
            Signal::Traces => 1,
            Signal::Metrics => 2,
            Signal::Logs => 3,
            Signal::Profiles => 4,
            Signal::ProfileStacks => 5,
        }
    }

    /// Inverse of [`Signal::tag`].
    pub fn from_tag(tag: u8) -> Option<Signal> {
        match tag {
            1 => Some(Signal::Traces),
            2 => Some(Signal::Metrics),
            3 => Some(Signal::Logs),
            4 => Some(Signal::Profiles),
            5 => Some(Signal::ProfileStacks),
            _ => None,
        }
    }

    /// Inverse of [`Signal::as_str`].
    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL
            .into_iter()
            .find(|signal| signal.as_str() == name)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nanos() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
}

/// Nanoseconds in one hour; segments are partitioned by hour.
pub const NANOS_PER_HOUR: i64 = 3_600 * 1_000_000_000;

/// Lowercase hex of `bytes`, the form ids take in SQL and JSON.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    write_hex(bytes, &mut out);
    out
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn write_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_tags_round_trip() {
        for signal in Signal::ALL {
            assert_eq!(Signal::from_tag(signal.tag()), Some(signal));
            assert_eq!(Signal::parse(signal.as_str()), Some(signal));
        }
        assert_eq!(Signal::from_tag(0), None);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
