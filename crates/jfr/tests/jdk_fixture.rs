//! The parser against a real recording of the local JDK 17 (`testdata/hot.jfr`,
//! made from `testdata/Hot.java`; see `testdata/README.md`).

mod common;

use std::io::Write;

use vispyr_jfr::{EventKind, Recording, parse};

fn recording() -> Recording {
    parse(&common::jdk_fixture()).expect("the JDK fixture parses")
}

fn leaf_name(sample: &vispyr_jfr::StackSample) -> Option<String> {
    sample.frames.last().map(|frame| frame.function_name())
}

#[test]
fn execution_samples_are_dominated_by_the_hot_method() {
    let recording = recording();
    let execution = recording
        .event_set(EventKind::ExecutionSample)
        .expect("jdk.ExecutionSample events");
    let total: i64 = execution.samples.iter().map(|sample| sample.count).sum();
    let in_burn: i64 = execution
        .samples
        .iter()
        .filter(|sample| leaf_name(sample).as_deref() == Some("Hot.burn"))
        .map(|sample| sample.count)
        .sum();
    assert!(total >= 100, "{total} execution samples");
    assert!(
        in_burn * 2 > total,
        "Hot.burn is the leaf of {in_burn} of {total} samples"
    );
    for sample in &execution.samples {
        assert_eq!(sample.value, sample.count, "execution samples weigh 1 each");
    }
}

#[test]
fn stacks_are_root_first_with_dotted_names() {
    let recording = recording();
    let execution = recording.event_set(EventKind::ExecutionSample).unwrap();
    let burn = execution
        .samples
        .iter()
        .find(|sample| leaf_name(sample).as_deref() == Some("Hot.burn"))
        .expect("a sample ending in Hot.burn");
    let names: Vec<String> = burn
        .frames
        .iter()
        .map(|frame| frame.function_name())
        .collect();
    assert_eq!(names, ["Hot.main", "Hot.burn"]);
    assert_eq!(burn.thread.as_deref(), Some("main"));
    assert!(burn.frames[1].line > 0);
    assert!(!burn.frames[1].frame_type.is_empty());

    for set in &recording.event_sets {
        for sample in &set.samples {
            for frame in &sample.frames {
                assert!(!frame.method.is_empty(), "{frame:?}");
                assert!(
                    !frame.class.contains('/'),
                    "internal name leaked: {frame:?}"
                );
                assert!(frame.function_name().contains('.'), "{frame:?}");
            }
        }
    }
    let java_util = recording
        .event_sets
        .iter()
        .flat_map(|set| &set.samples)
        .flat_map(|sample| &sample.frames)
        .any(|frame| frame.class.starts_with("java.util."));
    assert!(java_util, "JDK library frames keep their package");
}

#[test]
fn allocation_events_carry_bytes() {
    let recording = recording();
    for kind in [
        EventKind::AllocationInNewTlab,
        EventKind::AllocationOutsideTlab,
        EventKind::AllocationSample,
    ] {
        let set = recording
            .event_set(kind)
            .unwrap_or_else(|| panic!("no {kind:?} events"));
        for sample in &set.samples {
            assert!(
                sample.value > 0,
                "{kind:?} sample without bytes: {sample:?}"
            );
            assert!(sample.count > 0);
        }
    }
    // Hot.allocate makes 256 KiB arrays, which bypass the TLAB.
    let outside = recording
        .event_set(EventKind::AllocationOutsideTlab)
        .unwrap();
    let from_allocate = outside
        .samples
        .iter()
        .filter(|sample| leaf_name(sample).as_deref() == Some("Hot.allocate"))
        .find(|sample| sample.value >= 256 * 1024 * sample.count);
    assert!(from_allocate.is_some(), "{:#?}", outside.samples);
}

#[test]
fn lock_and_park_durations_are_nanoseconds() {
    let recording = recording();
    let monitor = recording.event_set(EventKind::JavaMonitorEnter).unwrap();
    for sample in &monitor.samples {
        // Threshold 1 ms; Hot.holdLock sleeps 20 ms inside the monitor.
        assert!(sample.value >= sample.count * 1_000_000, "{sample:?}");
        assert!(sample.value <= sample.count * 1_000_000_000, "{sample:?}");
    }
    let park = recording.event_set(EventKind::ThreadPark).unwrap();
    let contender = park
        .samples
        .iter()
        .find(|sample| sample.thread.as_deref() == Some("contender"))
        .expect("the contender thread parks");
    // It parks for 30 ms at a time.
    assert!(
        contender.value >= contender.count * 25_000_000,
        "{contender:?}"
    );
}

#[test]
fn timestamps_fall_within_the_recording() {
    let recording = recording();
    assert_eq!(recording.chunk_count, 1);
    assert!(recording.start_time_nanos > 1_600_000_000_000_000_000);
    assert!(recording.end_time_nanos > recording.start_time_nanos);
    for set in &recording.event_sets {
        for sample in &set.samples {
            let time = sample.start_time_nanos;
            assert!(
                (recording.start_time_nanos..=recording.end_time_nanos).contains(&time),
                "{time} outside the recording"
            );
        }
    }
}

#[test]
fn gzip_compressed_copy_decodes_identically() {
    let data = common::jdk_fixture();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&data).unwrap();
    let compressed = encoder.finish().unwrap();
    assert_eq!(&compressed[..2], [0x1f, 0x8b]);
    assert_eq!(parse(&compressed).unwrap(), recording());
}

#[test]
fn concatenated_copies_double_every_count() {
    let data = common::jdk_fixture();
    let single = recording();
    let doubled = parse(&[data.as_slice(), data.as_slice()].concat()).unwrap();
    assert_eq!(doubled.chunk_count, 2);
    assert_eq!(doubled.event_sets.len(), single.event_sets.len());
    for (once, twice) in single.event_sets.iter().zip(&doubled.event_sets) {
        assert_eq!(once.kind, twice.kind);
        assert_eq!(once.samples.len(), twice.samples.len(), "{:?}", once.kind);
        for (a, b) in once.samples.iter().zip(&twice.samples) {
            assert_eq!((a.count * 2, a.value * 2), (b.count, b.value));
            assert_eq!(a.frames, b.frames);
        }
    }
}
