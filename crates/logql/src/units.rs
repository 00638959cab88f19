//! Durations and byte sizes as LogQL writes them.

/// Nanoseconds per unit of a duration suffix: Go's `time.ParseDuration`
/// units plus Prometheus's `d`, `w` and `y`.
fn duration_unit(unit: &str) -> Option<f64> {
    let ns = match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        "w" => 7.0 * 86_400e9,
        "y" => 365.0 * 86_400e9,
        _ => return None,
    };
    Some(ns)
}

/// Parses a duration such as `5m`, `1h30m`, `1.5s` or `-250ms` into
/// nanoseconds (Go's `time.ParseDuration`, with `d`, `w`, `y` as well).
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = duration_unit(&rest[..unit_len])?;
        rest = &rest[unit_len..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if negative { -ns } else { ns })
}

/// Go's `time.ParseDuration` only: no `d`, `w` or `y` units.
pub(crate) fn parse_go_duration(text: &str) -> Option<i64> {
    if text.contains(['d', 'w', 'y']) {
        return None;
    }
    parse_duration(text)
}

/// Formats nanoseconds the way Prometheus prints durations (`1h30m`,
/// `500ms`), falling back to Go's style for sub-millisecond parts.
pub(crate) fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ns;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    if rest % 1_000_000 != 0 {
        // Not a whole number of milliseconds: print seconds with a fraction.
        let seconds = rest as f64 / 1e9;
        out.push_str(&format!("{seconds}s"));
        return out;
    }
    let mut ms = rest / 1_000_000;
    let units: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    for (name, size) in units {
        if ms >= size {
            out.push_str(&format!("{}{name}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a byte size such as `1KB`, `1.5 MiB` or `42` (go-humanize's
/// `ParseBytes`: SI units are powers of 1000, IEC units of 1024,
/// case-insensitive).
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let trimmed = text.trim();
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(trimmed.len());
    let number: String = trimmed[..number_len]
        .chars()
        .filter(|c| *c != ',')
        .collect();
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let unit = trimmed[number_len..].trim().to_ascii_lowercase();
    let multiplier: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let bytes = value * multiplier;
    if bytes >= u64::MAX as f64 {
        return None;
    }
    Some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_like_go_and_prometheus() {
        assert_eq!(parse_duration("5m"), Some(300_000_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("-2us"), Some(-2_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("m"), None);
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(300_000_000_000), "5m");
        assert_eq!(format_duration(5_400_000_000_000), "1h30m");
        assert_eq!(format_duration(1_500_000_000), "1s500ms");
        assert_eq!(format_duration(1_500), "0.0000015s");
        for text in ["5m", "1h30m", "1s500ms", "2w3d", "10ms"] {
            assert_eq!(
                format_duration(parse_duration(text).unwrap()),
                text,
                "{text}"
            );
        }
    }

    #[test]
    fn parses_bytes_like_humanize() {
        assert_eq!(parse_bytes("1KB"), Some(1000));
        assert_eq!(parse_bytes("1kib"), Some(1024));
        assert_eq!(parse_bytes("1.5 MB"), Some(1_500_000));
        assert_eq!(parse_bytes("42"), Some(42));
        assert_eq!(parse_bytes("42B"), Some(42));
        assert_eq!(parse_bytes("1GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("KB"), None);
        assert_eq!(parse_bytes("1QB"), None);
    }
}
