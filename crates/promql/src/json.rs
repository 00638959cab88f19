//! Encoding of results as the Prometheus HTTP API `data` object.

use serde_json::{Map, Value as Json, json};

use crate::types::{Labels, Value};

/// Formats a float like Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with
/// Prometheus's spellings `+Inf`, `-Inf` and `NaN`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `Display` for f64 prints the shortest round-trip digits without
    // an exponent, which is exactly Go's 'f' format with precision -1.
    format!("{v}")
}

/// A millisecond timestamp as Prometheus writes it: seconds, with a fraction
/// only when the timestamp is not a whole second.
fn timestamp_json(t: i64) -> Json {
    if t % 1000 == 0 {
        json!(t / 1000)
    } else {
        json!(t as f64 / 1000.0)
    }
}

fn point_json(t: i64, v: f64) -> Json {
    Json::Array(vec![timestamp_json(t), Json::String(format_float(v))])
}

fn labels_json(labels: &Labels) -> Json {
    let mut map = Map::new();
    for (name, value) in labels {
        map.insert(name.clone(), Json::String(value.clone()));
    }
    Json::Object(map)
}

/// The `data` object of a query response:
/// `{"resultType": "...", "result": ...}` exactly as Prometheus 2.42 returns it.
pub fn result_json(value: &Value) -> Json {
    match value {
        Value::Scalar { t, v } => json!({"resultType": "scalar", "result": point_json(*t, *v)}),
        Value::String { t, v } => json!({
            "resultType": "string",
            "result": [timestamp_json(*t), v],
        }),
        Value::Vector(samples) => {
            let result: Vec<Json> = samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": point_json(s.t, s.v)}))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
        Value::Matrix(series) => {
            let result: Vec<Json> = series
                .iter()
                .map(|s| {
                    let values: Vec<Json> =
                        s.samples.iter().map(|p| point_json(p.t, p.v)).collect();
                    json!({"metric": labels_json(&s.labels), "values": values})
                })
                .collect();
            json!({"resultType": "matrix", "result": result})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(-0.0), "-0");
    }

    #[test]
    fn encodes_timestamps_as_seconds() {
        assert_eq!(timestamp_json(1_435_781_451_000).to_string(), "1435781451");
        assert_eq!(
            timestamp_json(1_435_781_451_781).to_string(),
            "1435781451.781"
        );
    }
}
