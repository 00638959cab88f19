//! A parser for Java Flight Recorder (JFR) recordings: the files the JDK's own
//! JFR writes and the ones async-profiler (and so the Pyroscope Java agent)
//! uploads. It turns a recording into stack samples grouped by event kind;
//! it does no I/O, knows nothing about storage and builds no profiles.
//!
//! ```text
//!  bytes ──gunzip?──▶ chunk ─┬─ header (magic FLR\0, version, offsets, tick rate, flags)
//!                            ├─ metadata event   ─▶ type descriptions (classes, fields)
//!                            ├─ checkpoint chain ─▶ constant pools (stacks, methods, classes,
//!                            │                      symbols, threads, frame types, strings)
//!                            └─ events ─▶ known kinds decoded via metadata ─▶ merged samples
//! ```
//!
//! # Supported input
//!
//! * One chunk or several concatenated chunks (each with its own metadata and
//!   constant pools), optionally gzip-compressed (detected by the `1f 8b` magic;
//!   decompressed size is capped at [`MAX_DECOMPRESSED_BYTES`]).
//! * Format versions 2.x (JDK 11+, async-profiler). Version 1.x chunks are
//!   accepted and read with the same layout, which they share for everything
//!   this crate reads; no 1.x file was available to test against.
//! * Both integer encodings selected by the header flags: compressed
//!   (LEB128-style varints, what every current writer emits) and fixed-width
//!   big-endian.
//! * All string encodings: null, empty, constant-pool reference, UTF-8, UTF-16
//!   char array and Latin-1.
//!
//! Events are decoded by walking the metadata description of their type, so
//! field order and extra fields (such as async-profiler's `contextId`) need no
//! code here; events of other types are skipped by their size without being
//! decoded.
//!
//! # Event kinds and values
//!
//! | JFR event | [`EventKind`] | `value` |
//! |---|---|---|
//! | `jdk.ExecutionSample` | `ExecutionSample` (`WallClockSample` when async-profiler recorded with `event=wall`) | 1 |
//! | `jdk.NativeMethodSample` | `NativeMethodSample` | 1 |
//! | `profiler.WallClockSample` | `WallClockSample` | its `samples` field |
//! | `jdk.ObjectAllocationInNewTLAB` | `AllocationInNewTlab` | `tlabSize` bytes (as Pyroscope) |
//! | `jdk.ObjectAllocationOutsideTLAB` | `AllocationOutsideTlab` | `allocationSize` bytes |
//! | `jdk.ObjectAllocationSample` | `AllocationSample` | `weight` bytes |
//! | `jdk.JavaMonitorEnter` | `JavaMonitorEnter` | `duration` in ns |
//! | `jdk.ThreadPark` | `ThreadPark` | `duration` in ns |
//! | `profiler.LiveObject` | `LiveObject` | `allocationSize` bytes |
//!
//! `count` is the number of events behind a sample (for wall-clock samples, the
//! `samples` field). Samples with equal kind, frames, context id and thread are
//! merged: values and counts add up, the earliest start time is kept.
//!
//! # What is skipped
//!
//! Events of other types, events without a stack trace, thread states (an
//! async-profiler wall-clock recording is not split into CPU and idle time) and
//! the constant pools that stack samples do not need.
//!
//! # Hostile input
//!
//! Parsing never panics and always terminates: every length is checked against
//! the bytes left in its enclosing event, nesting is limited, each chunk has a
//! decoding budget proportional to its size, and the total number of output
//! frames is capped (see [`JfrError::LimitExceeded`]). Memory use is linear in
//! the input size.

mod aggregate;
mod chunk;
mod error;
mod metadata;
mod reader;
mod value;

use std::io::Read;

pub use error::JfrError;

/// Largest decompressed size accepted for gzip input.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// A parsed recording: one set of samples per event kind that occurred.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recording {
    /// Sample sets in [`EventKind`] declaration order; kinds without samples
    /// are absent.
    pub event_sets: Vec<EventSet>,
    /// Start of the earliest chunk, nanoseconds since the Unix epoch.
    pub start_time_nanos: i64,
    /// End of the latest chunk, nanoseconds since the Unix epoch.
    pub end_time_nanos: i64,
    /// Number of chunks read.
    pub chunk_count: usize,
    /// Events of a mapped kind dropped because they have no (resolvable)
    /// stack trace.
    pub events_without_stack: u64,
    /// Distinct constant pool references without an entry, read as null the
    /// way the JDK's own parser does (the JDK omits, for example, threads
    /// that ended before their pool was written).
    pub dangling_references: u64,
}

impl Recording {
    /// The sample set of `kind`, if any event of that kind occurred.
    pub fn event_set(&self, kind: EventKind) -> Option<&EventSet> {
        self.event_sets.iter().find(|set| set.kind == kind)
    }
}

/// All samples of one event kind.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSet {
    /// What the samples measure.
    pub kind: EventKind,
    /// Merged samples in order of first occurrence.
    pub samples: Vec<StackSample>,
}

/// The kind of event a sample comes from; see the crate docs for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// CPU samples (`jdk.ExecutionSample`).
    ExecutionSample,
    /// Wall-clock samples: `profiler.WallClockSample`, or `jdk.ExecutionSample`
    /// from an async-profiler recording whose `event` setting is `wall`.
    WallClockSample,
    /// Samples of threads in native code (`jdk.NativeMethodSample`).
    NativeMethodSample,
    /// Allocations that started a new TLAB (`jdk.ObjectAllocationInNewTLAB`).
    AllocationInNewTlab,
    /// Allocations outside any TLAB (`jdk.ObjectAllocationOutsideTLAB`).
    AllocationOutsideTlab,
    /// Throttled allocation samples (`jdk.ObjectAllocationSample`).
    AllocationSample,
    /// Contended monitor entries (`jdk.JavaMonitorEnter`).
    JavaMonitorEnter,
    /// Thread parking (`jdk.ThreadPark`).
    ThreadPark,
    /// Objects still live at the end of the recording (`profiler.LiveObject`).
    LiveObject,
}

impl EventKind {
    /// The JFR event type name this kind is read from.
    pub fn jfr_event_name(self) -> &'static str {
        match self {
            EventKind::ExecutionSample => "jdk.ExecutionSample",
            EventKind::WallClockSample => "profiler.WallClockSample",
            EventKind::NativeMethodSample => "jdk.NativeMethodSample",
            EventKind::AllocationInNewTlab => "jdk.ObjectAllocationInNewTLAB",
            EventKind::AllocationOutsideTlab => "jdk.ObjectAllocationOutsideTLAB",
            EventKind::AllocationSample => "jdk.ObjectAllocationSample",
            EventKind::JavaMonitorEnter => "jdk.JavaMonitorEnter",
            EventKind::ThreadPark => "jdk.ThreadPark",
            EventKind::LiveObject => "profiler.LiveObject",
        }
    }

    /// The kind read from JFR event type `name`, if this crate maps it.
    pub fn from_jfr_event_name(name: &str) -> Option<Self> {
        ALL_KINDS
            .into_iter()
            .find(|kind| kind.jfr_event_name() == name)
    }
}

const ALL_KINDS: [EventKind; 9] = [
    EventKind::ExecutionSample,
    EventKind::WallClockSample,
    EventKind::NativeMethodSample,
    EventKind::AllocationInNewTlab,
    EventKind::AllocationOutsideTlab,
    EventKind::AllocationSample,
    EventKind::JavaMonitorEnter,
    EventKind::ThreadPark,
    EventKind::LiveObject,
];

/// One (merged) stack sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSample {
    /// Frames, root (e.g. `Thread.run`) first, leaf last. Empty when the
    /// recording stored an empty stack trace (the JDK does, for some VM-internal
    /// allocations); JFR writers cut deep stacks (JDK default depth 64).
    pub frames: Vec<JfrFrame>,
    /// What the sample weighs; see the crate docs for the unit per kind.
    pub value: i64,
    /// How many events (or wall-clock samples) were merged into this one.
    pub count: i64,
    /// async-profiler's `contextId` field (Pyroscope span/labels context), else 0.
    pub context_id: i64,
    /// Java name (else OS name) of the sampled thread, if the event has one.
    pub thread: Option<String>,
    /// Earliest `startTime` of the merged events, in the chunk's raw ticks.
    pub start_ticks: i64,
    /// Earliest `startTime` of the merged events, nanoseconds since the Unix epoch.
    pub start_time_nanos: i64,
}

/// One stack frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JfrFrame {
    /// Dotted class name (`java.util.HashMap`); empty for native frames that
    /// async-profiler reports without a class.
    pub class: String,
    /// Method name (`get`), or the native symbol.
    pub method: String,
    /// Source line, 0 when unknown.
    pub line: i64,
    /// How the frame ran: `Interpreted`, `JIT compiled`, `Inlined`, `Native`,
    /// `C++`, `Kernel`…; empty when the recording does not say.
    pub frame_type: String,
}

impl JfrFrame {
    /// `class.method`, or just `method` when the class is empty.
    pub fn function_name(&self) -> String {
        if self.class.is_empty() {
            return self.method.clone();
        }
        format!("{}.{}", self.class, self.method)
    }
}

/// Parses a recording: one or more concatenated chunks, or their gzip.
pub fn parse(data: &[u8]) -> Result<Recording, JfrError> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let decompressed = gunzip(data)?;
        return parse_chunks(&decompressed);
    }
    parse_chunks(data)
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, JfrError> {
    let limit = MAX_DECOMPRESSED_BYTES as u64;
    let mut decompressed = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut decompressed)
        .map_err(JfrError::Gzip)?;
    if decompressed.len() > MAX_DECOMPRESSED_BYTES {
        return Err(JfrError::LimitExceeded {
            what: format!("gzip input decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"),
        });
    }
    Ok(decompressed)
}

fn parse_chunks(data: &[u8]) -> Result<Recording, JfrError> {
    if data.is_empty() {
        return Err(JfrError::EmptyInput);
    }
    let mut aggregator = aggregate::Aggregator::new(data.len());
    let mut start_time_nanos = i64::MAX;
    let mut end_time_nanos = i64::MIN;
    let mut chunk_count = 0;
    let mut offset = 0;
    while offset < data.len() {
        let header = chunk::ChunkHeader::parse(data, offset)?;
        chunk::parse_chunk(data, &header, &mut aggregator)?;
        start_time_nanos = start_time_nanos.min(header.start_nanos);
        end_time_nanos =
            end_time_nanos.max(header.start_nanos.saturating_add(header.duration_nanos));
        chunk_count += 1;
        offset += header.size;
    }
    let events_without_stack = aggregator.events_without_stack;
    let dangling_references = aggregator.dangling_references;
    Ok(Recording {
        event_sets: aggregator.finish()?,
        start_time_nanos,
        end_time_nanos,
        chunk_count,
        events_without_stack,
        dangling_references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_name_joins_class_and_method() {
        let frame = JfrFrame {
            class: "java.util.HashMap".to_owned(),
            method: "get".to_owned(),
            line: 1,
            frame_type: "Inlined".to_owned(),
        };
        assert_eq!(frame.function_name(), "java.util.HashMap.get");
        let native = JfrFrame {
            class: String::new(),
            method: "__libc_write".to_owned(),
            ..frame
        };
        assert_eq!(native.function_name(), "__libc_write");
    }

    #[test]
    fn event_names_round_trip() {
        for kind in ALL_KINDS {
            assert_eq!(
                EventKind::from_jfr_event_name(kind.jfr_event_name()),
                Some(kind)
            );
        }
        assert_eq!(EventKind::from_jfr_event_name("jdk.CPULoad"), None);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(parse(&[]), Err(JfrError::EmptyInput)));
    }

    #[test]
    fn garbage_is_bad_magic() {
        let err = parse(b"not a recording at all, just text").unwrap_err();
        assert!(matches!(err, JfrError::BadMagic { offset: 0, .. }), "{err}");
    }

    #[test]
    fn broken_gzip_is_a_gzip_error() {
        let err = parse(&[0x1f, 0x8b, 0x08, 0x00, 0x01]).unwrap_err();
        assert!(matches!(err, JfrError::Gzip(_)), "{err}");
    }
}
