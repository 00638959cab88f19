//! Profiles as rows: every ingest format (pprof, folded stacks, JFR, OTLP profiles)
//! is first normalised to [`NormalizedProfile`], then turned into rows of two tables:
//!
//! - `profile_samples`: `(timestamp, service_name, profile_type, labels, span_id,
//!   stack_id, value)` — one row per distinct stack and label set of a profile;
//! - `profile_stacks`: `(timestamp, service_name, stack_id, frames)` — each stack once
//!   per hour partition, frames root first.
//!
//! A stack id is the 64-bit xxh3 of the stack's frames, so equal stacks from any
//! profile, format or process share one id and one stored copy. Frame strings repeat
//! across stacks; Parquet's dictionary encoding stores each distinct function, file
//! and mapping name once per column chunk, which is the function/mapping table.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, MapBuilder, StringBuilder, StructBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use vispyr_common::NANOS_PER_HOUR;
use vispyr_common::profile::{Frame, ProfileType};

use crate::schema::{TIMEZONE, attributes_type, timestamp_type};

/// Labels that name the span a sample was taken in; they go to the `span_id`
/// column instead of the series labels, so they do not create a series per span.
pub const SPAN_ID_LABELS: [&str; 2] = ["span_id", "pyroscope.profile.id"];

/// One profile of one type, whatever format it arrived in.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedProfile {
    pub service_name: String,
    pub profile_type: ProfileType,
    /// Series labels (without `service_name`), as given by the client.
    pub labels: Vec<(String, String)>,
    /// Start of the profile, Unix nanoseconds.
    pub timestamp: i64,
    pub duration_ns: i64,
    /// Distinct frames and stacks; samples refer to stacks by index. Shared by the
    /// profiles of one upload (one per sample type).
    pub stacks: Arc<StackTable>,
    pub samples: Vec<NormalizedSample>,
}

/// The distinct frames and stacks of an upload: each frame once, each stack a list
/// of frame indexes, root first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackTable {
    pub frames: Vec<Frame>,
    pub stacks: Vec<Vec<u32>>,
}

impl StackTable {
    /// A table of the given stacks (root first), in order.
    pub fn from_stacks(stacks: Vec<Vec<Frame>>) -> Arc<StackTable> {
        let mut builder = StackTableBuilder::default();
        for stack in stacks {
            let indexes = stack.into_iter().map(|f| builder.frame(f)).collect();
            builder.push_stack(indexes);
        }
        builder.finish()
    }

    /// The frames of stack `index`, root first.
    pub fn frames_of(&self, index: usize) -> Vec<Frame> {
        self.stacks[index]
            .iter()
            .map(|&f| self.frames[f as usize].clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

/// Builds a [`StackTable`], interning frames and stacks.
#[derive(Debug, Default)]
pub struct StackTableBuilder {
    table: StackTable,
    frames: HashMap<Frame, u32>,
    stacks: HashMap<Vec<u32>, usize>,
}

impl StackTableBuilder {
    /// The index of `frame`, added if new.
    pub fn frame(&mut self, frame: Frame) -> u32 {
        if let Some(&index) = self.frames.get(&frame) {
            return index;
        }
        let index = u32::try_from(self.table.frames.len()).unwrap_or(u32::MAX);
        self.table.frames.push(frame.clone());
        self.frames.insert(frame, index);
        index
    }

    /// The index of the stack with these frames (root first), added if new.
    pub fn stack(&mut self, frames: Vec<u32>) -> usize {
        if let Some(&index) = self.stacks.get(&frames) {
            return index;
        }
        let index = self.table.stacks.len();
        self.stacks.insert(frames.clone(), index);
        self.table.stacks.push(frames);
        index
    }

    /// Adds a stack without looking for an equal one (the caller deduplicated).
    pub fn push_stack(&mut self, frames: Vec<u32>) -> usize {
        self.table.stacks.push(frames);
        self.table.stacks.len() - 1
    }

    pub fn finish(self) -> Arc<StackTable> {
        Arc::new(self.table)
    }
}

/// One sample of a [`NormalizedProfile`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NormalizedSample {
    /// Index into [`NormalizedProfile::stacks`].
    pub stack: usize,
    pub value: i64,
    /// Sample-level labels (pprof sample labels, JFR contexts), added to the
    /// profile's labels. A `span_id` label here fills the `span_id` column.
    pub labels: Vec<(String, String)>,
}

impl NormalizedProfile {
    /// Sum of all sample values.
    pub fn total(&self) -> i64 {
        self.samples.iter().map(|s| s.value).sum()
    }
}

/// The Pyroscope profile type of one sample type (pprof, OTLP profiles):
/// `name_hint` is the profile name the client gave (`cpu`, `wall`, `process_cpu`,
/// `mutex` …), `all_types` every sample type of the profile.
pub fn profile_type_of(
    sample_type: (&str, &str),
    period_type: (&str, &str),
    all_types: &[&str],
    name_hint: Option<&str>,
) -> ProfileType {
    let name = type_name(sample_type.0, all_types, name_hint);
    let (period_type, period_unit) = if period_type.0.is_empty() {
        sample_type
    } else {
        period_type
    };
    ProfileType::new(name, sample_type.0, sample_type.1, period_type, period_unit)
}

fn type_name(sample_type: &str, all_types: &[&str], name_hint: Option<&str>) -> &'static str {
    let hint = name_hint.unwrap_or("");
    match hint {
        "mutex" | "mutex_count" | "mutex_duration" | "contentions" => return "mutex",
        "block" | "block_count" | "block_duration" => return "block",
        "goroutine" | "goroutines" => return "goroutine",
        "process_cpu" => return "process_cpu",
        "memory" => return "memory",
        _ => {}
    }
    let any = |needle: &str| all_types.iter().any(|t| t.contains(needle));
    if sample_type.starts_with("alloc_") || sample_type.starts_with("inuse_") {
        "memory"
    } else if any("wall") || hint == "wall" {
        "wall"
    } else if any("cpu") || hint == "cpu" || hint == "itimer" {
        "process_cpu"
    } else if sample_type.contains("goroutine") {
        "goroutine"
    } else if sample_type == "contentions" || sample_type == "delay" {
        "mutex"
    } else if any("alloc")
        || any("inuse")
        || any("space")
        || any("objects")
        || matches!(
            hint,
            "alloc_objects" | "alloc_space" | "inuse_objects" | "inuse_space"
        )
    {
        "memory"
    } else {
        "process_cpu"
    }
}

/// Fields of one frame in `profile_stacks.frames`.
pub fn frame_fields() -> Fields {
    Fields::from(vec![
        Field::new("function", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("mapping", DataType::Utf8, false),
    ])
}

fn frame_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(frame_fields()), true))
}

/// Schema of the `profile_samples` table.
pub fn profile_samples_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("timestamp", timestamp_type(), false),
                Field::new("service_name", DataType::Utf8, false),
                Field::new("profile_type", DataType::Utf8, false),
                Field::new("labels", attributes_type(), false),
                Field::new("span_id", DataType::Utf8, true),
                Field::new("stack_id", DataType::UInt64, false),
                Field::new("value", DataType::Int64, false),
                Field::new("duration_ns", DataType::Int64, false),
            ]))
        })
        .clone()
}

/// Schema of the `profile_stacks` table.
pub fn profile_stacks_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("timestamp", timestamp_type(), false),
                Field::new("service_name", DataType::Utf8, false),
                Field::new("stack_id", DataType::UInt64, false),
                Field::new("frames", DataType::List(frame_item_field()), false),
            ]))
        })
        .clone()
}

/// The hash of one frame: xxh3-64 of its fields, stable across versions.
pub fn frame_hash(frame: &Frame) -> u64 {
    use std::hash::Hasher;
    let mut hasher = twox_hash::XxHash3_64::with_seed(0);
    for field in [&frame.function, &frame.file, &frame.mapping] {
        hasher.write(&(field.len() as u64).to_le_bytes());
        hasher.write(field.as_bytes());
    }
    hasher.write(&frame.line.to_le_bytes());
    hasher.finish()
}

/// The id of a stack from its frames' hashes, root first.
pub fn stack_id_of_hashes(hashes: impl IntoIterator<Item = u64>) -> u64 {
    use std::hash::Hasher;
    let mut hasher = twox_hash::XxHash3_64::with_seed(0);
    for hash in hashes {
        hasher.write(&hash.to_le_bytes());
    }
    hasher.finish()
}

/// The id of a stack: a hash of its frames' hashes, so equal stacks get one id
/// whatever profile, format or process they come from.
pub fn stack_id(frames: &[Frame]) -> u64 {
    stack_id_of_hashes(frames.iter().map(frame_hash))
}

/// Stack ids of every stack of a table; each frame is hashed once.
fn stack_ids(table: &StackTable) -> Vec<u64> {
    let hashes: Vec<u64> = table.frames.iter().map(frame_hash).collect();
    table
        .stacks
        .iter()
        .map(|stack| stack_id_of_hashes(stack.iter().map(|&f| hashes[f as usize])))
        .collect()
}

/// A stack as stored: `(hour partition, service, stack id)`. Stacks are stored once
/// per service and hour, so each partition is self-contained and a service's
/// flamegraph reads only its own stacks.
pub type StackKey = (i64, u64, u64);

/// Hash of a service name, as used in [`StackKey`].
pub fn service_key(service_name: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(service_name.as_bytes())
}

/// Hour partition of a timestamp, as used in [`StackKey`].
pub fn hour_of(timestamp: i64) -> i64 {
    timestamp.div_euclid(NANOS_PER_HOUR)
}

/// Rows of both profile tables for a set of profiles.
#[derive(Debug)]
pub struct ProfileRows {
    pub samples: RecordBatch,
    pub stacks: RecordBatch,
    /// The stacks written to `stacks`, to be remembered as stored once the write
    /// succeeded.
    pub new_stacks: Vec<StackKey>,
}

/// Labels of a row and its span id.
type LabelSet = (Vec<(String, String)>, Option<String>);

/// A sample row's identity within a profile: stack id and label set index.
type RowKey = (u64, usize);

/// Turns profiles into rows. `is_stored(key)` says whether a stack is already stored
/// in its hour partition; such stacks are not written again. Samples of one profile
/// with the same stack, labels and span are summed; zero values are dropped.
pub fn profile_rows(
    profiles: &[NormalizedProfile],
    is_stored: impl Fn(StackKey) -> bool,
) -> ProfileRows {
    let mut samples = SampleColumns::default();
    let mut stacks = StackColumns::default();
    let mut new_stacks = Vec::new();
    let mut emitted: HashMap<StackKey, ()> = HashMap::new();
    // Profiles of one upload share their stack table: hash it once.
    let mut ids_of: Vec<(*const StackTable, Vec<u64>)> = Vec::new();

    for profile in profiles {
        let hour = hour_of(profile.timestamp);
        let service = service_key(&profile.service_name);
        let table = Arc::as_ptr(&profile.stacks);
        if !ids_of.iter().any(|(t, _)| *t == table) {
            ids_of.push((table, stack_ids(&profile.stacks)));
        }
        let ids = &ids_of
            .iter()
            .find(|(t, _)| *t == table)
            .expect("just added")
            .1;
        let profile_type = profile.profile_type.id();
        // Label sets (with the span id) of the profile's rows; 0 is the profile's own.
        let mut label_sets: Vec<LabelSet> = vec![merge_labels(&profile.labels, &[])];
        let mut label_set_index: HashMap<LabelSet, usize> = HashMap::new();

        // Sum samples that end up in the same row.
        let mut rows: HashMap<RowKey, i64> = HashMap::new();
        let mut order = Vec::new();
        for sample in &profile.samples {
            if sample.value == 0 {
                continue;
            }
            let Some(&id) = ids.get(sample.stack) else {
                continue;
            };
            let set = if sample.labels.is_empty() {
                0
            } else {
                let merged = merge_labels(&profile.labels, &sample.labels);
                match label_set_index.get(&merged) {
                    Some(&index) => index,
                    None => {
                        label_sets.push(merged.clone());
                        label_set_index.insert(merged, label_sets.len() - 1);
                        label_sets.len() - 1
                    }
                }
            };
            let key = (id, set);
            match rows.get_mut(&key) {
                Some(value) => *value = value.saturating_add(sample.value),
                None => {
                    order.push(key);
                    rows.insert(key, sample.value);
                }
            }
            let stack_key = (hour, service, id);
            if !emitted.contains_key(&stack_key) && !is_stored(stack_key) {
                emitted.insert(stack_key, ());
                new_stacks.push(stack_key);
                stacks.push(
                    profile.timestamp,
                    &profile.service_name,
                    id,
                    profile.stacks.stacks[sample.stack]
                        .iter()
                        .map(|&f| &profile.stacks.frames[f as usize]),
                );
            }
        }
        for key in order {
            let value = rows[&key];
            let (id, set) = key;
            let (labels, span_id) = &label_sets[set];
            samples.push(
                profile,
                &profile_type,
                labels,
                span_id.as_deref(),
                id,
                value,
            );
        }
    }
    ProfileRows {
        samples: samples.finish(),
        stacks: stacks.finish(),
        new_stacks,
    }
}

/// Profile labels plus sample labels (sample wins), sorted, with the span id split out.
fn merge_labels(
    profile: &[(String, String)],
    sample: &[(String, String)],
) -> (Vec<(String, String)>, Option<String>) {
    let mut span_id = None;
    let mut merged: Vec<(String, String)> = Vec::with_capacity(profile.len() + sample.len());
    for (name, value) in profile.iter().chain(sample) {
        if SPAN_ID_LABELS.contains(&name.as_str()) {
            span_id = Some(value.to_ascii_lowercase());
            continue;
        }
        if name == "service_name" || name == "__name__" {
            continue;
        }
        match merged.iter_mut().find(|(n, _)| n == name) {
            Some(existing) => existing.1.clone_from(value),
            None => merged.push((name.clone(), value.clone())),
        }
    }
    merged.sort();
    (merged, span_id)
}

struct SampleColumns {
    timestamp: TimestampNanosecondBuilder,
    service_name: StringBuilder,
    profile_type: StringBuilder,
    labels: MapBuilder<StringBuilder, StringBuilder>,
    span_id: StringBuilder,
    stack_id: UInt64Builder,
    value: Int64Builder,
    duration: Int64Builder,
}

impl Default for SampleColumns {
    fn default() -> Self {
        SampleColumns {
            timestamp: TimestampNanosecondBuilder::new().with_timezone(TIMEZONE),
            service_name: StringBuilder::new(),
            profile_type: StringBuilder::new(),
            labels: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            span_id: StringBuilder::new(),
            stack_id: UInt64Builder::new(),
            value: Int64Builder::new(),
            duration: Int64Builder::new(),
        }
    }
}

impl SampleColumns {
    fn push(
        &mut self,
        profile: &NormalizedProfile,
        profile_type: &str,
        labels: &[(String, String)],
        span_id: Option<&str>,
        stack_id: u64,
        value: i64,
    ) {
        self.timestamp.append_value(profile.timestamp);
        self.service_name.append_value(&profile.service_name);
        self.profile_type.append_value(profile_type);
        for (name, label_value) in labels {
            self.labels.keys().append_value(name);
            self.labels.values().append_value(label_value);
        }
        self.labels.append(true).expect("keys and values in step");
        self.span_id.append_option(span_id);
        self.stack_id.append_value(stack_id);
        self.value.append_value(value);
        self.duration.append_value(profile.duration_ns);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.profile_type.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.stack_id.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.duration.finish()),
        ];
        RecordBatch::try_new(profile_samples_schema(), columns).expect("columns match schema")
    }
}

struct StackColumns {
    timestamp: TimestampNanosecondBuilder,
    service_name: StringBuilder,
    stack_id: UInt64Builder,
    frames: ListBuilder<StructBuilder>,
}

impl Default for StackColumns {
    fn default() -> Self {
        let frame = StructBuilder::from_fields(frame_fields(), 0);
        StackColumns {
            timestamp: TimestampNanosecondBuilder::new().with_timezone(TIMEZONE),
            service_name: StringBuilder::new(),
            stack_id: UInt64Builder::new(),
            frames: ListBuilder::new(frame).with_field(frame_item_field()),
        }
    }
}

impl StackColumns {
    fn push<'a>(
        &mut self,
        timestamp: i64,
        service_name: &str,
        stack_id: u64,
        frames: impl Iterator<Item = &'a Frame>,
    ) {
        self.timestamp.append_value(timestamp);
        self.service_name.append_value(service_name);
        self.stack_id.append_value(stack_id);
        let list = self.frames.values();
        for frame in frames {
            list.field_builder::<StringBuilder>(0)
                .expect("function")
                .append_value(&frame.function);
            list.field_builder::<StringBuilder>(1)
                .expect("file")
                .append_value(&frame.file);
            list.field_builder::<Int64Builder>(2)
                .expect("line")
                .append_value(frame.line);
            list.field_builder::<StringBuilder>(3)
                .expect("mapping")
                .append_value(&frame.mapping);
            list.append(true);
        }
        self.frames.append(true);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.stack_id.finish()),
            Arc::new(self.frames.finish()),
        ];
        RecordBatch::try_new(profile_stacks_schema(), columns).expect("columns match schema")
    }
}

/// Reads the frames of row `row` of a `profile_stacks.frames` column.
pub fn frames_at(frames: &arrow::array::ListArray, row: usize) -> Vec<Frame> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    let list = frames.value(row);
    let frame = list.as_struct();
    let function = frame.column(0).as_string::<i32>();
    let file = frame.column(1).as_string::<i32>();
    let line = frame.column(2).as_primitive::<Int64Type>();
    let mapping = frame.column(3).as_string::<i32>();
    (0..frame.len())
        .map(|i| Frame {
            function: function.value(i).to_owned(),
            file: file.value(i).to_owned(),
            line: line.value(i),
            mapping: mapping.value(i).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, UInt64Type};

    fn profile(timestamp: i64) -> NormalizedProfile {
        NormalizedProfile {
            service_name: "api".into(),
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels: vec![("region".into(), "eu".into())],
            timestamp,
            duration_ns: 10_000_000_000,
            stacks: StackTable::from_stacks(vec![
                vec![Frame::named("main"), Frame::named("hot")],
                vec![Frame::named("main"), Frame::named("cold")],
                vec![Frame::named("main"), Frame::named("hot")],
            ]),
            samples: vec![
                NormalizedSample {
                    stack: 0,
                    value: 30,
                    labels: vec![],
                },
                NormalizedSample {
                    stack: 1,
                    value: 10,
                    labels: vec![],
                },
                NormalizedSample {
                    stack: 2,
                    value: 5,
                    labels: vec![],
                },
                NormalizedSample {
                    stack: 1,
                    value: 0,
                    labels: vec![],
                },
                NormalizedSample {
                    stack: 1,
                    value: 7,
                    labels: vec![("span_id".into(), "00AB".into())],
                },
            ],
        }
    }

    #[test]
    fn equal_stacks_share_one_id_and_one_row() {
        let rows = profile_rows(&[profile(0), profile(1)], |_| false);
        // main;hot (30 + 5), main;cold, main;cold in a span — per profile.
        assert_eq!(rows.samples.num_rows(), 6);
        assert_eq!(rows.stacks.num_rows(), 2);
        assert_eq!(rows.new_stacks.len(), 2);
        let values = rows.samples.column(6).as_primitive::<Int64Type>();
        assert_eq!(values.value(0), 35);
        let span = rows.samples.column(4).as_string::<i32>();
        assert_eq!(span.value(2), "00ab");
        assert!(span.is_null(0));
        let ids = rows.stacks.column(2).as_primitive::<UInt64Type>();
        let frames = rows.stacks.column(3).as_list::<i32>();
        let first = frames_at(frames, 0);
        assert_eq!(stack_id(&first), ids.value(0));
        assert_eq!(first[1].function, "hot");
    }

    #[test]
    fn stored_stacks_are_not_written_again() {
        let hot = stack_id(&[Frame::named("main"), Frame::named("hot")]);
        let api = service_key("api");
        let rows = profile_rows(&[profile(0)], |key| key == (0, api, hot));
        assert_eq!(rows.stacks.num_rows(), 1);
        // A new hour stores the stack again, so each partition is self-contained.
        let rows = profile_rows(&[profile(NANOS_PER_HOUR)], |key| key == (0, api, hot));
        assert_eq!(rows.stacks.num_rows(), 2);
        // So does another service.
        let mut other = profile(0);
        other.service_name = "web".into();
        let rows = profile_rows(&[other], |key| key == (0, api, hot));
        assert_eq!(rows.stacks.num_rows(), 2);
    }

    #[test]
    fn stack_ids_depend_on_every_field() {
        let base = Frame::named("f");
        let ids: Vec<u64> = [
            base.clone(),
            Frame {
                line: 1,
                ..base.clone()
            },
            Frame {
                file: "a".into(),
                ..base.clone()
            },
            Frame {
                mapping: "a".into(),
                ..base.clone()
            },
        ]
        .iter()
        .map(|f| stack_id(std::slice::from_ref(f)))
        .collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 4);
        // Field boundaries matter: ("ab","") differs from ("a","b").
        let a = Frame {
            function: "ab".into(),
            ..Frame::default()
        };
        let b = Frame {
            function: "a".into(),
            file: "b".into(),
            ..Frame::default()
        };
        assert_ne!(stack_id(&[a]), stack_id(&[b]));
    }
}
