//! Evaluation against the in-memory corpus, with hand-computed results
//! (see `common/mod.rs` for the corpus and the arithmetic).

mod common;

use common::{MemStorage, S, T0, corpus, labels};
use vispyr_logql::{Direction, Engine, Error, Labels, QueryResult, result_json};

fn range(
    storage: &MemStorage,
    query: &str,
    start_s: i64,
    end_s: i64,
    step_s: i64,
    limit: usize,
    direction: Direction,
) -> Result<QueryResult, Error> {
    futures::executor::block_on(Engine::default().query_range(
        storage,
        query,
        T0 + start_s * S,
        T0 + end_s * S,
        step_s * S,
        limit,
        direction,
    ))
}

fn instant(storage: &MemStorage, query: &str, time_s: i64) -> Result<QueryResult, Error> {
    futures::executor::block_on(Engine::default().query_instant(
        storage,
        query,
        T0 + time_s * S,
        100,
        Direction::Backward,
    ))
}

/// The vector result as (labels, value), in the engine's order.
fn vector(storage: &MemStorage, query: &str, time_s: i64) -> Vec<(Labels, f64)> {
    match instant(storage, query, time_s) {
        Ok(QueryResult::Vector(samples)) => samples.into_iter().map(|s| (s.labels, s.v)).collect(),
        other => panic!("{query}: expected a vector, got {other:?}"),
    }
}

/// (labels, [(t_s, line)]) per stream.
fn streams(
    storage: &MemStorage,
    query: &str,
    limit: usize,
    direction: Direction,
) -> Vec<(Labels, Vec<(i64, String)>)> {
    match range(storage, query, 0, 1000, 60, limit, direction) {
        Ok(QueryResult::Streams(streams)) => streams
            .into_iter()
            .map(|s| {
                let entries = s
                    .entries
                    .into_iter()
                    .map(|(t, line)| ((t - T0) / S, line))
                    .collect();
                (s.labels, entries)
            })
            .collect(),
        other => panic!("{query}: expected streams, got {other:?}"),
    }
}

fn bad_query(result: Result<QueryResult, Error>) -> String {
    match result {
        Err(Error::BadQuery(message)) => message,
        other => panic!("expected a bad query error, got {other:?}"),
    }
}

#[test]
fn count_over_time_per_stream() {
    let storage = corpus();
    assert_eq!(
        vector(&storage, r#"count_over_time({app="api"}[5m])"#, 360),
        vec![
            (labels(&[("app", "api"), ("env", "dev")]), 2.0),
            (labels(&[("app", "api"), ("env", "prod")]), 10.0),
        ]
    );
}

#[test]
fn range_windows_are_left_open() {
    let storage = corpus();
    let result = range(
        &storage,
        r#"count_over_time({app="web", env="prod"}[1m])"#,
        60,
        180,
        60,
        100,
        Direction::Backward,
    )
    .unwrap();
    let QueryResult::Matrix(series) = result else {
        panic!("expected a matrix")
    };
    assert_eq!(series.len(), 1);
    let points: Vec<(i64, f64)> = series[0]
        .points
        .iter()
        .map(|p| ((p.t_ns - T0) / S, p.v))
        .collect();
    assert_eq!(points, vec![(60, 1.0), (120, 1.0), (180, 1.0)]);
    // One entry in (T0+60, T0+120]: rate is 1/60.
    let rate = vector(&storage, r#"rate({app="web", env="prod"}[1m])"#, 120);
    assert_eq!(rate[0].1, 1.0 / 60.0);
}

#[test]
fn storage_is_asked_for_the_widest_window_once() {
    let storage = corpus();
    range(
        &storage,
        r#"count_over_time({app="web"}[1m])"#,
        60,
        180,
        60,
        100,
        Direction::Backward,
    )
    .unwrap();
    let calls = storage.calls();
    assert_eq!(calls.len(), 1);
    // (T0+0, T0+180] as [T0 + 1ns, T0 + 180 s + 1ns).
    assert_eq!(calls[0].start_ns, T0 + 1);
    assert_eq!(calls[0].end_ns, T0 + 180 * S + 1);
}

#[test]
fn line_filter_aggregation_by_env() {
    let storage = corpus();
    assert_eq!(
        vector(
            &storage,
            r#"sum by (env) (count_over_time({app=~".+"} |= "error" [10m]))"#,
            360
        ),
        vec![
            (labels(&[("env", "dev")]), 2.0),
            (labels(&[("env", "prod")]), 5.0),
        ]
    );
    // The same grouping written after the argument.
    assert_eq!(
        vector(
            &storage,
            r#"sum(count_over_time({app=~".+"} |= "error" [10m])) by (env)"#,
            360
        ),
        vec![
            (labels(&[("env", "dev")]), 2.0),
            (labels(&[("env", "prod")]), 5.0),
        ]
    );
    // `without` keeps structured metadata, which is part of series labels.
    assert_eq!(
        vector(
            &storage,
            r#"sum without (app) (count_over_time({app=~".+"} |= "error" [10m]))"#,
            360
        ),
        vec![
            (labels(&[("env", "dev")]), 1.0),
            (labels(&[("env", "dev"), ("trace_id", "t1")]), 1.0),
            (labels(&[("env", "prod")]), 5.0),
        ]
    );
}

#[test]
fn unwrap_aggregations() {
    let storage = corpus();
    let sum = vector(
        &storage,
        r#"sum by (app) (sum_over_time({app="api", env="prod"} | json | unwrap latency_ms [5m]))"#,
        360,
    );
    assert_eq!(sum, vec![(labels(&[("app", "api")]), 750.0)]);
    let median = vector(
        &storage,
        r#"quantile_over_time(0.5, {app="api", env="prod"} | json | unwrap latency_ms [10m]) by (app)"#,
        360,
    );
    assert_eq!(median, vec![(labels(&[("app", "api")]), 65.0)]);
    let avg = vector(
        &storage,
        r#"avg_over_time({app="web", env="prod"} | logfmt | unwrap duration(duration) [10m]) by (app)"#,
        360,
    );
    assert!((avg[0].1 - 0.35).abs() < 1e-12, "{avg:?}");
    let max = vector(
        &storage,
        r#"max_over_time({app="web", env="prod"} | logfmt | unwrap bytes(size) [10m]) by (app)"#,
        360,
    );
    assert_eq!(max[0].1, 6000.0);
    // Without grouping the unwrapped label is dropped from the series.
    let per_series = vector(
        &storage,
        r#"max_over_time({app="web", env="prod"} | logfmt | unwrap bytes(size) [10m])"#,
        360,
    );
    assert!(
        per_series
            .iter()
            .all(|(l, _)| !l.iter().any(|(n, _)| n == "size"))
    );
    assert!(
        per_series
            .iter()
            .any(|(l, _)| l.iter().any(|(n, _)| n == "duration"))
    );
}

#[test]
fn bytes_and_topk() {
    let storage = corpus();
    // Entries with structured metadata form their own series: 15 + 15
    // without metadata, 25 (t1) and 18 (t2) with.
    let bytes = vector(
        &storage,
        r#"bytes_over_time({app="web", env="dev"}[10m])"#,
        360,
    );
    let values: Vec<f64> = bytes.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, vec![30.0, 25.0, 18.0]);
    let total = vector(
        &storage,
        r#"sum(bytes_over_time({app="web", env="dev"}[10m]))"#,
        360,
    );
    assert_eq!(total[0].1, 73.0);
    let top = vector(
        &storage,
        r#"topk(1, sum by (path) (count_over_time({app="api", env="prod"} | json [10m])))"#,
        360,
    );
    assert_eq!(top, vec![(labels(&[("path", "/users")]), 8.0)]);
    let bottom = vector(
        &storage,
        r#"bottomk(1, sum by (path) (count_over_time({app="api", env="prod"} | json [10m])))"#,
        360,
    );
    assert_eq!(bottom, vec![(labels(&[("path", "/orders")]), 4.0)]);
}

#[test]
fn pipeline_errors_fail_metric_queries_until_filtered() {
    let storage = corpus();
    let message = bad_query(instant(
        &storage,
        r#"count_over_time({app="api"} | json [10m])"#,
        360,
    ));
    assert!(
        message.starts_with("pipeline error: 'JSONParserErr' for series:"),
        "{message}"
    );
    let filtered = vector(
        &storage,
        r#"sum(count_over_time({app="api"} | json | __error__="" [10m]))"#,
        360,
    );
    assert_eq!(filtered, vec![(Labels::new(), 13.0)]);
}

#[test]
fn binary_operators() {
    let storage = corpus();
    let halved = vector(
        &storage,
        r#"sum(count_over_time({app="api", env="prod"}[10m])) / 2"#,
        360,
    );
    assert_eq!(halved, vec![(Labels::new(), 6.0)]);
    let compared = vector(
        &storage,
        r#"sum by (env) (count_over_time({app=~".+"} |= "error" [10m])) > bool 3"#,
        360,
    );
    assert_eq!(
        compared,
        vec![
            (labels(&[("env", "dev")]), 0.0),
            (labels(&[("env", "prod")]), 1.0),
        ]
    );
    let filtered = vector(
        &storage,
        r#"sum by (env) (count_over_time({app=~".+"} |= "error" [10m])) > 3"#,
        360,
    );
    assert_eq!(filtered, vec![(labels(&[("env", "prod")]), 5.0)]);
    let ratio = vector(
        &storage,
        r#"sum by (env) (count_over_time({app=~".+"} |= "error" [10m])) / on (env) sum by (env) (count_over_time({app=~".+"} [10m]))"#,
        360,
    );
    // prod: 5 errors of 12 + 6 lines; dev: 2 of 4 + 2.
    assert_eq!(
        ratio,
        vec![
            (labels(&[("env", "dev")]), 2.0 / 6.0),
            (labels(&[("env", "prod")]), 5.0 / 18.0),
        ]
    );
    match instant(&storage, "1 + 2 * 3", 0).unwrap() {
        QueryResult::Scalar { v, .. } => assert_eq!(v, 7.0),
        other => panic!("{other:?}"),
    }
    match instant(&storage, "2 ^ 3 ^ 2", 0).unwrap() {
        QueryResult::Scalar { v, .. } => assert_eq!(v, 512.0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn absent_and_offset() {
    let storage = corpus();
    assert_eq!(
        vector(
            &storage,
            r#"absent_over_time({app="nope", env=~"p.*"}[5m])"#,
            360
        ),
        vec![(labels(&[("app", "nope")]), 1.0)]
    );
    assert!(vector(&storage, r#"absent_over_time({app="web"}[5m])"#, 360).is_empty());
    // Offset 2m at T0+360 looks at (T0+180, T0+240]: web prod k=4 only.
    assert_eq!(
        vector(
            &storage,
            r#"count_over_time({app="web", env="prod"}[1m] offset 2m)"#,
            360
        )[0]
        .1,
        1.0
    );
}

#[test]
fn log_query_limits_and_directions() {
    let storage = corpus();
    let newest = streams(&storage, r#"{app="api"}"#, 3, Direction::Backward);
    assert_eq!(newest.len(), 1);
    let times: Vec<i64> = newest[0].1.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![360, 330, 300]);
    let oldest = streams(&storage, r#"{app="api"}"#, 4, Direction::Forward);
    assert_eq!(oldest.len(), 2);
    assert_eq!(oldest[0].0, labels(&[("app", "api"), ("env", "dev")]));
    assert_eq!(oldest[0].1, vec![(100, "{broken".to_string())]);
    let prod: Vec<i64> = oldest[1].1.iter().map(|(t, _)| *t).collect();
    assert_eq!(prod, vec![30, 60, 90]);
}

#[test]
fn lines_are_asked_for_only_when_something_reads_them() {
    for (query, needs_line) in [
        (r#"count_over_time({app="web"}[1m])"#, false),
        (r#"sum by (app) (rate({app=~".+"} |= "error" [1m]))"#, false),
        (r#"bytes_over_time({app="web"}[1m])"#, true),
        (r#"count_over_time({app="api"} | json [1m])"#, true),
        (
            r#"sum_over_time({app="api"} | json | unwrap latency_ms [1m])"#,
            true,
        ),
    ] {
        let storage = corpus();
        let _ = range(&storage, query, 60, 180, 60, 100, Direction::Backward);
        let calls = storage.calls();
        assert_eq!(calls[0].needs_line, needs_line, "{query}");
    }
}

#[test]
fn limit_is_pushed_down_only_when_nothing_drops() {
    let storage = corpus();
    streams(
        &storage,
        r#"{app=~".+"} |= "error""#,
        2,
        Direction::Backward,
    );
    let calls = storage.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].limit, Some(2));
    assert_eq!(calls[0].line_filters, 1);
    assert_eq!(calls[0].returned, 2);

    let storage = corpus();
    let out = streams(
        &storage,
        r#"{app="api", env="prod"} |= "level" | json | level="error""#,
        2,
        Direction::Backward,
    );
    let calls = storage.calls();
    assert_eq!(calls[0].limit, None);
    assert_eq!(calls[0].line_filters, 1);
    let total: usize = out.iter().map(|(_, e)| e.len()).sum();
    assert_eq!(total, 2);
    // Filters after line_format are not pushed down.
    let storage = corpus();
    streams(
        &storage,
        r#"{app="web"} | line_format "x" |= "x""#,
        5,
        Direction::Backward,
    );
    assert_eq!(storage.calls()[0].line_filters, 0);
    assert_eq!(storage.calls()[0].limit, None);
}

#[test]
fn parsed_labels_and_metadata_form_stream_labels() {
    let storage = corpus();
    let out = streams(
        &storage,
        r#"{app="api", env="prod"} | json | level="error" | line_format "{{.status}} {{.path}}""#,
        100,
        Direction::Forward,
    );
    let total: usize = out.iter().map(|(_, e)| e.len()).sum();
    assert_eq!(total, 3);
    for (stream_labels, entries) in &out {
        assert!(stream_labels.contains(&("level".into(), "error".into())));
        assert!(stream_labels.contains(&("status".into(), "500".into())));
        assert!(stream_labels.iter().any(|(n, _)| n == "user_id"));
        for (_, line) in entries {
            assert!(line.starts_with("500 /"), "{line}");
        }
    }
    let with_trace = streams(
        &storage,
        r#"{app="web", env="dev"} | trace_id != """#,
        100,
        Direction::Forward,
    );
    let traces: Vec<&str> = with_trace
        .iter()
        .map(|(l, _)| vispyr_logql::Labels::clone(l))
        .map(|l| {
            if l.contains(&("trace_id".into(), "t1".into())) {
                "t1"
            } else {
                "t2"
            }
        })
        .collect();
    assert_eq!(traces, vec!["t1", "t2"]);
}

#[test]
fn query_validation() {
    let storage = corpus();
    assert_eq!(
        bad_query(instant(&storage, r#"{app="api"}"#, 0)),
        "log queries are not supported as an instant query type, please change your query to a range query type"
    );
    assert!(
        bad_query(range(
            &storage,
            r#"count_over_time({app="api"}[1m])"#,
            0,
            10,
            0,
            100,
            Direction::Backward
        ))
        .starts_with("zero or negative query resolution step")
    );
    assert_eq!(
        bad_query(range(
            &storage,
            r#"count_over_time({app="api"}[1m])"#,
            0,
            20_000,
            1,
            100,
            Direction::Backward
        )),
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let limited = futures::executor::block_on(Engine::default().with_max_series(1).query_instant(
        &storage,
        r#"count_over_time({app="api"}[10m])"#,
        T0 + 360 * S,
        100,
        Direction::Backward,
    ));
    assert_eq!(
        bad_query(limited),
        "maximum of series (1) reached for a single query"
    );
    match range(&storage, "{app=", 0, 10, 1, 100, Direction::Backward) {
        Err(Error::Parse(err)) => assert_eq!(err.column, 6),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_shapes() {
    let storage = corpus();
    let data = result_json(
        &range(
            &storage,
            r#"{app="web", env="dev"} |= "panic""#,
            0,
            1000,
            60,
            10,
            Direction::Backward,
        )
        .unwrap(),
    );
    assert_eq!(
        data["result"],
        serde_json::json!([{
            "stream": {"app": "web", "env": "dev", "trace_id": "t2"},
            "values": [[(T0 + 315 * S).to_string(), "panic: nil pointer"]]
        }])
    );
    assert_eq!(data["resultType"], "streams");
}

#[test]
fn sum_groups_entries_as_they_are_read() {
    // 500 lines, each with its own request id in structured metadata: without
    // the sum push-down every line would be a series of its own.
    let storage = MemStorage {
        entries: (0..500)
            .map(|i| vispyr_logql::LogEntry {
                timestamp_ns: T0 + (i + 1) * S / 10,
                line: format!("line {i}"),
                stream: labels(&[("app", "busy")]),
                metadata: labels(&[("req", &i.to_string())]),
            })
            .collect(),
        ..MemStorage::default()
    };
    let engine = Engine::default().with_max_series(100);
    let run = |query: &str| {
        futures::executor::block_on(engine.query_instant(
            &storage,
            query,
            T0 + 60 * S,
            100,
            Direction::Backward,
        ))
    };
    match run(r#"sum by (app) (count_over_time({app="busy"}[1m]))"#) {
        Ok(QueryResult::Vector(samples)) => {
            assert_eq!(samples.len(), 1);
            assert_eq!(samples[0].v, 500.0);
        }
        other => panic!("expected one sample, got {other:?}"),
    }
    match run(r#"sum(rate({app="busy"}[1m]))"#) {
        Ok(QueryResult::Vector(samples)) => assert!((samples[0].v - 500.0 / 60.0).abs() < 1e-9),
        other => panic!("expected one sample, got {other:?}"),
    }
    // Without a sum above it, every line is a series of its own...
    let error = run(r#"count_over_time({app="busy"}[1m])"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("maximum of series"), "{error}");
    // ...and `max` is not pushed down: the largest per-line count is 1.
    match run(r#"max by (app) (count_over_time({app="busy"}[1m]))"#) {
        Ok(QueryResult::Vector(samples)) => assert_eq!(samples[0].v, 1.0),
        other => panic!("expected one sample, got {other:?}"),
    }
}
