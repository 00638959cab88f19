//! Byte sizes written the way Prometheus configuration writes them; durations
//! come from `vispyr_common::units`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use vispyr_common::units::PromDuration;

/// A byte size such as `64MiB`, `10MB` or `1024` (bytes).
///
/// As in Prometheus's `body_size_limit`, the units are powers of two whether
/// written `KB` or `KiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `<integer>[unit]` with units B, KB/KiB, MB/MiB, GB/GiB, TB/TiB.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("not a valid byte size: {text:?}");
        let digits_len = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(invalid());
        }
        let number: u64 = text[..digits_len].parse().map_err(|_| invalid())?;
        let multiplier: u64 = match &text[digits_len..] {
            "" | "B" => 1,
            "KB" | "KiB" => 1 << 10,
            "MB" | "MiB" => 1 << 20,
            "GB" | "GiB" => 1 << 30,
            "TB" | "TiB" => 1 << 40,
            _ => return Err(invalid()),
        };
        number.checked_mul(multiplier).map(Self).ok_or_else(invalid)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_byte_sizes() {
        assert_eq!(ByteSize::parse("64MiB").unwrap().0, 64 << 20);
        assert_eq!(ByteSize::parse("10MB").unwrap().0, 10 << 20);
        assert_eq!(ByteSize::parse("100").unwrap().0, 100);
        assert!(ByteSize::parse("MB").is_err());
        assert!(ByteSize::parse("1PB").is_err());
    }
}
