//! Encoding of results as the Loki HTTP API `data` object.

use serde_json::{Map, Value as Json, json};
use vispyr_promql::{Labels, format_float};

use crate::types::QueryResult;

/// A nanosecond timestamp as Loki writes metric points: seconds, with a
/// millisecond fraction only when the timestamp is not a whole second.
fn timestamp_json(t_ns: i64) -> Json {
    let ms = t_ns.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn point_json(t_ns: i64, v: f64) -> Json {
    Json::Array(vec![timestamp_json(t_ns), Json::String(format_float(v))])
}

fn labels_json(labels: &Labels) -> Json {
    let mut map = Map::new();
    for (name, value) in labels {
        map.insert(name.clone(), Json::String(value.clone()));
    }
    Json::Object(map)
}

/// A minimal `stats` object with Loki's `summary` keys; only
/// `totalEntriesReturned` is filled in (entries for streams, series or
/// samples for metrics).
fn stats_json(entries_returned: usize) -> Json {
    json!({
        "summary": {
            "bytesProcessedPerSecond": 0,
            "linesProcessedPerSecond": 0,
            "totalBytesProcessed": 0,
            "totalLinesProcessed": 0,
            "execTime": 0,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": 0,
            "totalStructuredMetadataBytesProcessed": 0
        }
    })
}

/// The `data` object of a Loki query response:
/// `{"resultType": "streams"|"matrix"|"vector"|"scalar", "result": ..., "stats": {...}}`.
///
/// Streams are `{"stream": {labels}, "values": [["<ns>", "<line>"], ...]}`;
/// matrix series `{"metric": {labels}, "values": [[<s>, "<v>"], ...]}`;
/// vector samples `{"metric": {labels}, "value": [<s>, "<v>"]}`; a scalar
/// `[<s>, "<v>"]`.
pub fn result_json(result: &QueryResult) -> Json {
    match result {
        QueryResult::Streams(streams) => {
            let mut total = 0;
            let items: Vec<Json> = streams
                .iter()
                .map(|stream| {
                    total += stream.entries.len();
                    let values: Vec<Json> = stream
                        .entries
                        .iter()
                        .map(|(t, line)| json!([t.to_string(), line]))
                        .collect();
                    json!({"stream": labels_json(&stream.labels), "values": values})
                })
                .collect();
            json!({"resultType": "streams", "result": items, "stats": stats_json(total)})
        }
        QueryResult::Matrix(series) => {
            let items: Vec<Json> = series
                .iter()
                .map(|s| {
                    let values: Vec<Json> =
                        s.points.iter().map(|p| point_json(p.t_ns, p.v)).collect();
                    json!({"metric": labels_json(&s.labels), "values": values})
                })
                .collect();
            json!({"resultType": "matrix", "result": items, "stats": stats_json(series.len())})
        }
        QueryResult::Vector(samples) => {
            let items: Vec<Json> = samples
                .iter()
                .map(
                    |s| json!({"metric": labels_json(&s.labels), "value": point_json(s.t_ns, s.v)}),
                )
                .collect();
            json!({"resultType": "vector", "result": items, "stats": stats_json(samples.len())})
        }
        QueryResult::Scalar { t_ns, v } => json!({
            "resultType": "scalar",
            "result": point_json(*t_ns, *v),
            "stats": stats_json(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Point, Sample, Series, Stream};

    #[test]
    fn encodes_each_result_type() {
        let labels: Labels = vec![("app".into(), "api".into())];
        let streams = QueryResult::Streams(vec![Stream {
            labels: labels.clone(),
            entries: vec![(1_700_000_000_123_456_789, "line".into())],
        }]);
        let data = result_json(&streams);
        assert_eq!(data["resultType"], "streams");
        assert_eq!(
            data["result"][0],
            json!({"stream": {"app": "api"}, "values": [["1700000000123456789", "line"]]})
        );
        assert_eq!(data["stats"]["summary"]["totalEntriesReturned"], 1);

        let matrix = QueryResult::Matrix(vec![Series {
            labels: labels.clone(),
            points: vec![
                Point {
                    t_ns: 1_700_000_000_000_000_000,
                    v: 2.0,
                },
                Point {
                    t_ns: 1_700_000_000_500_000_000,
                    v: 0.25,
                },
            ],
        }]);
        assert_eq!(
            result_json(&matrix)["result"][0]["values"],
            json!([[1_700_000_000i64, "2"], [1_700_000_000.5, "0.25"]])
        );
        let vector = QueryResult::Vector(vec![Sample {
            labels,
            t_ns: 1_000_000_000,
            v: f64::INFINITY,
        }]);
        assert_eq!(
            result_json(&vector)["result"][0],
            json!({"metric": {"app": "api"}, "value": [1, "+Inf"]})
        );
        let scalar = QueryResult::Scalar { t_ns: 0, v: 1.5 };
        assert_eq!(result_json(&scalar)["result"], json!([0, "1.5"]));
    }
}
