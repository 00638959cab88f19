//! async-profiler specifics on hand-built chunks: `contextId`, wall-clock and
//! live-object events, the `event=wall` setting, both integer encodings, all
//! string encodings, checkpoint chains, dangling references and hostile
//! metadata.

mod common;

use common::{Options, START_NANOS, START_TICKS, synthetic_chunk};
use vispyr_jfr::{EventKind, JfrError, Recording, StackSample, parse};

fn names(sample: &StackSample) -> Vec<String> {
    sample
        .frames
        .iter()
        .map(|frame| frame.function_name())
        .collect()
}

fn set(recording: &Recording, kind: EventKind) -> &[StackSample] {
    let set = recording.event_set(kind);
    &set.unwrap_or_else(|| panic!("no {kind:?} set")).samples
}

fn assert_synthetic_content(recording: &Recording) {
    assert_eq!(recording.chunk_count, 1);
    assert_eq!(recording.start_time_nanos, START_NANOS);
    assert_eq!(recording.end_time_nanos, START_NANOS + 1_000_000_000);

    // Three events on one stack and thread, context ids 7, 7, 9, plus one
    // whose thread dangles: three merged samples.
    let execution = set(recording, EventKind::ExecutionSample);
    assert_eq!(execution.len(), 3, "{execution:#?}");
    let context_7 = &execution[0];
    assert_eq!(
        (context_7.context_id, context_7.value, context_7.count),
        (7, 2, 2)
    );
    assert_eq!(context_7.thread.as_deref(), Some("main"));
    assert_eq!(
        names(context_7),
        ["com.example.App.main", "java.util.HashMap.get"]
    );
    let leaf = &context_7.frames[1];
    assert_eq!(
        (leaf.class.as_str(), leaf.method.as_str()),
        ("java.util.HashMap", "get")
    );
    assert_eq!((leaf.line, leaf.frame_type.as_str()), (10, "Inlined"));
    assert_eq!(context_7.frames[0].frame_type, "JIT compiled");
    // Ticks are microseconds; the first event is 10 ticks after chunk start.
    assert_eq!(context_7.start_ticks, START_TICKS + 10);
    assert_eq!(context_7.start_time_nanos, START_NANOS + 10_000);
    assert_eq!((execution[1].context_id, execution[1].count), (9, 1));
    assert_eq!(execution[2].thread, None, "a dangling thread reads as null");
    assert_eq!(recording.dangling_references, 1);

    let wall = set(recording, EventKind::WallClockSample);
    assert_eq!(wall.len(), 1);
    assert_eq!((wall[0].value, wall[0].count), (5, 5));
    assert_eq!(
        wall[0].thread.as_deref(),
        Some("worker-os"),
        "falls back to the OS name"
    );
    // Method name from a string-pool reference inside a symbol.
    assert_eq!(names(&wall[0]), ["com.example.App.run"]);

    let live = set(recording, EventKind::LiveObject);
    assert_eq!((live[0].value, live[0].count), (4096, 1));

    let tlab = set(recording, EventKind::AllocationInNewTlab);
    assert_eq!(
        (tlab[0].value, tlab[0].context_id),
        (65536, 7),
        "tlabSize, as Pyroscope"
    );

    let monitor = set(recording, EventKind::JavaMonitorEnter);
    assert_eq!(monitor[0].value, 5_000, "5 ticks of 1 µs, in ns");

    let kinds: Vec<_> = recording.event_sets.iter().map(|set| set.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::ExecutionSample,
            EventKind::WallClockSample,
            EventKind::AllocationInNewTlab,
            EventKind::JavaMonitorEnter,
            EventKind::LiveObject,
        ]
    );
    assert_eq!(recording.events_without_stack, 0);
}

#[test]
fn compressed_async_profiler_style_chunk() {
    let recording = parse(&synthetic_chunk(Options::default())).unwrap();
    assert_synthetic_content(&recording);
}

#[test]
fn uncompressed_integers_decode_the_same() {
    let options = Options {
        compressed: false,
        ..Options::default()
    };
    let recording = parse(&synthetic_chunk(options)).unwrap();
    assert_synthetic_content(&recording);
}

#[test]
fn wall_setting_turns_execution_samples_into_wall_clock_samples() {
    let options = Options {
        wall_mode: true,
        ..Options::default()
    };
    let recording = parse(&synthetic_chunk(options)).unwrap();
    assert!(recording.event_set(EventKind::ExecutionSample).is_none());
    let wall = set(&recording, EventKind::WallClockSample);
    let total: i64 = wall.iter().map(|sample| sample.count).sum();
    assert_eq!(
        total,
        4 + 5,
        "four execution samples plus one batch of five"
    );
}

#[test]
fn concatenated_chunks_add_up() {
    let chunk = synthetic_chunk(Options::default());
    let mut two = chunk.clone();
    two.extend_from_slice(&chunk);
    let recording = parse(&two).unwrap();
    assert_eq!(recording.chunk_count, 2);
    let execution = set(&recording, EventKind::ExecutionSample);
    assert_eq!(execution.len(), 3, "equal samples of both chunks merge");
    assert_eq!(execution[0].count, 4);
}

#[test]
fn trailing_garbage_after_a_chunk_is_bad_magic() {
    let mut data = synthetic_chunk(Options::default());
    let chunk_len = data.len();
    data.extend_from_slice(b"garbage!");
    let err = parse(&data).unwrap_err();
    assert!(
        matches!(err, JfrError::BadMagic { offset, .. } if offset == chunk_len),
        "{err}"
    );
}

#[test]
fn truncated_chunk_reports_offset() {
    let data = synthetic_chunk(Options::default());
    let err = parse(&data[..data.len() - 1]).unwrap_err();
    assert!(
        matches!(err, JfrError::Truncated { offset: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("truncated at offset 0"),
        "{err}"
    );
}

#[test]
fn recursive_inline_type_is_too_deep_not_a_stack_overflow() {
    let options = Options {
        recursive_pool: true,
        ..Options::default()
    };
    let err = parse(&synthetic_chunk(options)).unwrap_err();
    assert!(matches!(err, JfrError::TooDeep { .. }), "{err}");
}

#[test]
fn unsupported_version_is_rejected() {
    let mut data = synthetic_chunk(Options::default());
    data[4..6].copy_from_slice(&3u16.to_be_bytes());
    let err = parse(&data).unwrap_err();
    assert!(
        matches!(err, JfrError::UnsupportedVersion { major: 3, .. }),
        "{err}"
    );
}

#[test]
fn unfinished_chunk_is_a_header_error() {
    let mut data = synthetic_chunk(Options::default());
    data[8..16].copy_from_slice(&0i64.to_be_bytes());
    let err = parse(&data).unwrap_err();
    assert!(matches!(err, JfrError::BadChunkHeader { .. }), "{err}");
}

#[test]
fn constant_pool_offset_at_a_non_checkpoint_is_rejected() {
    let mut data = synthetic_chunk(Options::default());
    let metadata_offset = i64::from_be_bytes(data[24..32].try_into().unwrap());
    data[16..24].copy_from_slice(&metadata_offset.to_be_bytes());
    let err = parse(&data).unwrap_err();
    assert!(matches!(err, JfrError::BadCheckpoint { .. }), "{err}");
}

#[test]
fn looping_checkpoint_chain_is_rejected() {
    let options = Options {
        compressed: false,
        ..Options::default()
    };
    let mut data = synthetic_chunk(options);
    // Uncompressed, a checkpoint's delta is the 8 bytes after its 4-byte size
    // and three 8-byte longs (type, start, duration).
    let delta_at = |checkpoint: usize| checkpoint + 4 + 3 * 8;
    let second = i64::from_be_bytes(data[16..24].try_into().unwrap()) as usize;
    let back = i64::from_be_bytes(
        data[delta_at(second)..delta_at(second) + 8]
            .try_into()
            .unwrap(),
    );
    let first = (second as i64 + back) as usize;
    let forward = second as i64 - first as i64;
    data[delta_at(first)..delta_at(first) + 8].copy_from_slice(&forward.to_be_bytes());
    let err = parse(&data).unwrap_err();
    assert!(err.to_string().contains("loops"), "{err}");
}
