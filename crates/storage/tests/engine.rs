//! Storage engine black-box tests: flush, compaction, retention, memory bound.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use vispyr_common::{NANOS_PER_HOUR, Signal, now_unix_nanos};
use vispyr_config::{Config, Overrides, RawConfig};
use vispyr_storage::{Storage, StorageError, WriteRequest, otlp_decoder};

fn config(dir: &std::path::Path, yaml: &str) -> Config {
    let overrides = Overrides {
        data_dir: Some(dir.to_path_buf()),
        ..Overrides::default()
    };
    RawConfig::from_yaml(yaml, std::path::Path::new("test.yaml"))
        .unwrap()
        .build_and_validate(&overrides)
        .unwrap()
}

fn spans_request(first_id: u8, count: u8, start: i64) -> WriteRequest {
    let spans = (0..count)
        .map(|offset| Span {
            trace_id: vec![first_id.wrapping_add(offset).max(1); 16],
            span_id: vec![offset + 1; 8],
            name: "op".into(),
            start_time_unix_nano: start as u64,
            end_time_unix_nano: start as u64 + 10,
            ..Span::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    WriteRequest {
        signal: Signal::Traces,
        received_at: start,
        payload: request.encode_to_vec().into(),
        batch: vispyr_model::convert_traces(&request).batch,
    }
}

fn rows_in_memtable(storage: &Storage) -> usize {
    storage
        .snapshot(Signal::Traces)
        .batches
        .iter()
        .map(|batch| batch.num_rows())
        .sum()
}

#[tokio::test]
async fn flush_moves_rows_into_segments_and_compaction_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "storage:\n  flush_max_age: 1h\n  compaction_interval: 1h\n  compaction_min_segments: 2\n",
    );
    let storage = Storage::open(&config, otlp_decoder).await.unwrap();
    // An hour boundary away from now so all three writes share one partition.
    let base = (now_unix_nanos() / NANOS_PER_HOUR) * NANOS_PER_HOUR + 1_000;
    for round in 0..3u8 {
        storage
            .write(spans_request(round * 10 + 1, 5, base + i64::from(round)))
            .await
            .unwrap();
        assert_eq!(rows_in_memtable(&storage), 5);
        storage.flush().await.unwrap();
        assert_eq!(rows_in_memtable(&storage), 0);
    }
    let before = storage.snapshot(Signal::Traces).segments;
    assert_eq!(before.len(), 3);
    assert!(
        before
            .iter()
            .all(|segment| segment.rows == 5 && segment.level == 0)
    );

    assert_eq!(storage.compact().await.unwrap(), 3);
    let after = storage.snapshot(Signal::Traces).segments;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].rows, 15);
    assert_eq!(after[0].level, 1);
    assert_eq!(after[0].min_time, base);
    assert_eq!(after[0].max_time, base + 2);
    // Nothing left to merge.
    assert_eq!(storage.compact().await.unwrap(), 0);

    // The merged catalog is what a restart sees; the replaced files are deleted on
    // shutdown, the merged one stays.
    storage.shutdown().await.unwrap();
    storage.shutdown().await.unwrap();
    let reopened = Storage::open(&config, otlp_decoder).await.unwrap();
    let segments = reopened.snapshot(Signal::Traces).segments;
    assert_eq!(segments.len(), 1);
    assert!(dir.path().join("segments").join(&segments[0].path).exists());
    for old in &before {
        assert!(
            !dir.path().join("segments").join(&old.path).exists(),
            "{} kept",
            old.path
        );
    }
    reopened.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_deletes_only_expired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "storage:\n  flush_max_age: 1h\nretention:\n  traces: 7d\n  check_interval: 1h\n",
    );
    let storage = Storage::open(&config, otlp_decoder).await.unwrap();
    let now = now_unix_nanos();
    let day = 24 * NANOS_PER_HOUR;
    storage
        .write(spans_request(1, 3, now - 10 * day))
        .await
        .unwrap();
    storage
        .write(spans_request(50, 4, now - day))
        .await
        .unwrap();
    storage.flush().await.unwrap();
    assert_eq!(storage.snapshot(Signal::Traces).segments.len(), 2);

    assert_eq!(storage.apply_retention(now).await.unwrap(), 1);
    let left = storage.snapshot(Signal::Traces).segments;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].rows, 4);
    assert_eq!(storage.catalog().segments.len(), 1);
    storage.shutdown().await.unwrap();
}

#[tokio::test]
async fn writes_past_the_memory_bound_are_refused_with_a_retry_hint() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "limits:\n  max_memory: 4KiB\nstorage:\n  flush_max_bytes: 4KiB\n  flush_max_age: 1h\n",
    );
    let storage = Storage::open(&config, otlp_decoder).await.unwrap();
    let error = storage
        .write(spans_request(1, 100, now_unix_nanos()))
        .await
        .unwrap_err();
    match error {
        StorageError::MemoryLimit {
            limit, retry_after, ..
        } => {
            assert_eq!(limit, 4096);
            assert_eq!(retry_after, Duration::from_secs(1));
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(rows_in_memtable(&storage), 0);
    storage.shutdown().await.unwrap();
    assert!(matches!(
        storage.write(spans_request(1, 1, 1)).await,
        Err(StorageError::Closed)
    ));
}
