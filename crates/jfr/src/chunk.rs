//! One chunk: header, constant pools, and the event pass.
//!
//! Chunk header (68 bytes, big-endian, offsets relative to the chunk start):
//!
//! ```text
//!  0 magic "FLR\0"      4 major u16     6 minor u16      8 chunk size i64
//! 16 constant pool offset i64          24 metadata offset i64
//! 32 start nanos i64   40 duration nanos i64             48 start ticks i64
//! 56 ticks per second i64              64 flags u32 (bit 0: compressed ints)
//! ```
//!
//! The constant pool offset points at the last checkpoint event; each
//! checkpoint holds the (negative) distance to the previous one, 0 ending the
//! chain. A checkpoint is `size, type (1), start, duration, delta, type mask
//! (byte), pool count`, then per pool `type id, entry count, (key, value)...`.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use crate::EventKind;
use crate::aggregate::{Aggregator, SampleInput};
use crate::error::JfrError;
use crate::metadata::{
    Encoding, FieldDesc, Metadata, TimeUnit, TypeDesc, event_size, parse_metadata,
};
use crate::reader::Reader;
use crate::value::{Decoder, Value};

const HEADER_SIZE: usize = 68;
const MAGIC: &[u8; 4] = b"FLR\0";
const METADATA_EVENT_TYPE: i64 = 0;
const CHECKPOINT_EVENT_TYPE: i64 = 1;
const FLAG_COMPRESSED_INTS: u32 = 1;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Values that may be decoded per chunk byte, plus a fixed allowance.
///
/// Nested objects can decode to more values than bytes (a stack frame is five
/// values in at least four bytes; the JDK fixture needs 0.1 per byte); the
/// allowance covers field-less objects, which occupy no bytes at all.
const DECODE_STEPS_PER_BYTE: u64 = 2;
const DECODE_STEPS_ALLOWANCE: u64 = 1 << 16;
/// Deepest chain of references followed to reach a string.
const MAX_RESOLVE_DEPTH: usize = 8;

/// Constant pools kept after decoding; all others are decoded and dropped.
const RETAINED_POOLS: &[&str] = &[
    "java.lang.String",
    "java.lang.Thread",
    "java.lang.Class",
    "jdk.types.StackTrace",
    "jdk.types.StackFrame",
    "jdk.types.Method",
    "jdk.types.Symbol",
    "jdk.types.Package",
    "jdk.types.FrameType",
];

/// The fixed-size header of one chunk.
#[derive(Debug, Clone)]
pub(crate) struct ChunkHeader {
    /// Absolute offset of the chunk in the input.
    pub(crate) offset: usize,
    /// Chunk size in bytes, header included.
    pub(crate) size: usize,
    constant_pool_offset: usize,
    metadata_offset: usize,
    pub(crate) start_nanos: i64,
    pub(crate) duration_nanos: i64,
    start_ticks: i64,
    ticks_per_second: i64,
    compressed: bool,
}

impl ChunkHeader {
    /// Reads and validates the header of the chunk starting at `offset`.
    pub(crate) fn parse(data: &[u8], offset: usize) -> Result<Self, JfrError> {
        let mut reader = Reader::new(data, offset, data.len(), false);
        let magic = reader.bytes(MAGIC.len().min(reader.remaining()))?;
        if magic != MAGIC {
            return Err(JfrError::BadMagic {
                offset,
                found: magic.to_vec(),
            });
        }
        let available = data.len() - offset;
        if available < HEADER_SIZE {
            return Err(JfrError::Truncated {
                offset,
                needed: HEADER_SIZE,
                available,
            });
        }
        let major = reader.be_u16()?;
        let minor = reader.be_u16()?;
        if !(1..=2).contains(&major) {
            return Err(JfrError::UnsupportedVersion {
                offset,
                major,
                minor,
            });
        }
        let size = reader.be_i64()?;
        let constant_pool_offset = reader.be_i64()?;
        let metadata_offset = reader.be_i64()?;
        let start_nanos = reader.be_i64()?;
        let duration_nanos = reader.be_i64()?;
        let start_ticks = reader.be_i64()?;
        let ticks_per_second = reader.be_i64()?;
        let flags = reader.be_u32()?;

        let bad = |reason: String| JfrError::BadChunkHeader { offset, reason };
        let size = match usize::try_from(size) {
            Ok(0) => {
                return Err(bad(
                    "chunk size 0: the recording was not finished".to_owned()
                ));
            }
            Ok(size) if size >= HEADER_SIZE => size,
            _ => return Err(bad(format!("chunk size {size} is smaller than the header"))),
        };
        if size > available {
            return Err(JfrError::Truncated {
                offset,
                needed: size,
                available,
            });
        }
        let within_chunk = |name: &str, value: i64| match usize::try_from(value) {
            Ok(position) if (HEADER_SIZE..size).contains(&position) => Ok(position),
            _ => Err(bad(format!(
                "{name} offset {value} outside the chunk of {size} bytes"
            ))),
        };
        let constant_pool_offset = within_chunk("constant pool", constant_pool_offset)?;
        let metadata_offset = within_chunk("metadata", metadata_offset)?;
        if ticks_per_second <= 0 {
            return Err(bad(format!(
                "ticks per second {ticks_per_second} is not positive"
            )));
        }
        Ok(Self {
            offset,
            size,
            constant_pool_offset,
            metadata_offset,
            start_nanos,
            duration_nanos,
            start_ticks,
            ticks_per_second,
            compressed: flags & FLAG_COMPRESSED_INTS != 0,
        })
    }

    fn end(&self) -> usize {
        self.offset + self.size
    }

    fn reader_at<'a>(&self, data: &'a [u8], relative: usize) -> Reader<'a> {
        Reader::new(data, self.offset + relative, self.end(), self.compressed)
    }

    /// Converts a duration in `unit` to nanoseconds.
    fn duration_nanos(&self, amount: i64, unit: Option<TimeUnit>) -> i64 {
        let nanos_per_unit = match unit.unwrap_or(TimeUnit::Ticks) {
            TimeUnit::Ticks => return scale(amount, NANOS_PER_SECOND, self.ticks_per_second),
            TimeUnit::Nanoseconds => 1,
            TimeUnit::Microseconds => 1_000,
            TimeUnit::Milliseconds | TimeUnit::MillisecondsSinceEpoch => 1_000_000,
            TimeUnit::Seconds => NANOS_PER_SECOND,
        };
        amount.saturating_mul(nanos_per_unit)
    }

    /// Converts a timestamp in `unit` to nanoseconds since the Unix epoch.
    fn epoch_nanos(&self, timestamp: i64, unit: Option<TimeUnit>) -> i64 {
        match unit.unwrap_or(TimeUnit::Ticks) {
            TimeUnit::Ticks => {
                let since_chunk_start = timestamp.saturating_sub(self.start_ticks);
                self.start_nanos
                    .saturating_add(self.duration_nanos(since_chunk_start, Some(TimeUnit::Ticks)))
            }
            other => self.duration_nanos(timestamp, Some(other)),
        }
    }
}

/// `amount * numerator / denominator` without intermediate overflow.
fn scale(amount: i64, numerator: i64, denominator: i64) -> i64 {
    debug_assert!(
        denominator > 0,
        "tick rate is validated when the header is read"
    );
    if numerator == denominator {
        return amount;
    }
    let scaled = i128::from(amount) * i128::from(numerator) / i128::from(denominator.max(1));
    i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

/// What the event pass does with events of one type.
#[derive(Debug, Clone, Copy)]
enum Handler {
    Sample(EventKind),
    ActiveSetting,
}

/// Parses one chunk and feeds its samples into `aggregator`.
pub(crate) fn parse_chunk(
    data: &[u8],
    header: &ChunkHeader,
    aggregator: &mut Aggregator,
) -> Result<(), JfrError> {
    let mut metadata_reader = header.reader_at(data, header.metadata_offset);
    let metadata = parse_metadata(&mut metadata_reader)?;
    let steps = (header.size as u64)
        .saturating_mul(DECODE_STEPS_PER_BYTE)
        .saturating_add(DECODE_STEPS_ALLOWANCE);
    let mut decoder = Decoder::new(&metadata, steps);
    let pools = read_constant_pools(data, header, &metadata, &mut decoder)?;
    let resolver = Resolver {
        metadata: &metadata,
        pools: &pools,
        string_type: metadata.type_id("java.lang.String"),
        dangling: Cell::new(0),
    };
    let handlers = event_handlers(&metadata);
    let mut pass = EventPass {
        header,
        resolver: &resolver,
        aggregator,
        stacks: HashMap::new(),
        threads: HashMap::new(),
        methods: HashMap::new(),
    };

    let mut reader = header.reader_at(data, HEADER_SIZE);
    while reader.remaining() > 0 {
        let event_offset = reader.position();
        let size = event_size(&mut reader, event_offset)?;
        let header_len = reader.position() - event_offset;
        let body_len = size - header_len;
        if body_len > reader.remaining() {
            return Err(JfrError::BadEvent {
                offset: event_offset,
                reason: format!("event of {size} bytes runs past the end of its chunk"),
            });
        }
        let mut body = reader.sub_reader(body_len)?;
        let type_id = body.long()?;
        let Some(&handler) = handlers.get(&type_id) else {
            continue;
        };
        let Value::Object(fields) = decoder.read_value(&mut body, type_id, 0)? else {
            // Handlers are only registered for object types.
            continue;
        };
        let Some(desc) = metadata.types.get(&type_id) else {
            continue;
        };
        let event = EventView {
            desc,
            fields: &fields,
        };
        match handler {
            Handler::Sample(kind) => pass.sample(kind, &event)?,
            Handler::ActiveSetting => pass.active_setting(&event)?,
        }
    }
    let dangling = resolver.dangling.get();
    aggregator.dangling_references = aggregator.dangling_references.saturating_add(dangling);
    Ok(())
}

fn event_handlers(metadata: &Metadata) -> HashMap<i64, Handler> {
    let mut handlers = HashMap::new();
    for (&type_id, desc) in &metadata.types {
        if type_id == METADATA_EVENT_TYPE || type_id == CHECKPOINT_EVENT_TYPE {
            continue;
        }
        if desc.encoding != Encoding::Object {
            continue;
        }
        let handler = match EventKind::from_jfr_event_name(&desc.name) {
            Some(kind) => Handler::Sample(kind),
            None if desc.name == "jdk.ActiveSetting" => Handler::ActiveSetting,
            None => continue,
        };
        handlers.insert(type_id, handler);
    }
    handlers
}

/// Retained constant pool entries: type id → key → value.
type Pools = HashMap<i64, HashMap<i64, Value>>;

fn read_constant_pools(
    data: &[u8],
    header: &ChunkHeader,
    metadata: &Metadata,
    decoder: &mut Decoder<'_>,
) -> Result<Pools, JfrError> {
    let retained: HashSet<i64> = RETAINED_POOLS
        .iter()
        .filter_map(|name| metadata.type_id(name))
        .collect();
    let mut pools = Pools::new();
    let mut visited = HashSet::new();
    let mut relative = header.constant_pool_offset;
    loop {
        let offset = header.offset + relative;
        let bad = |reason: String| JfrError::BadCheckpoint { offset, reason };
        if !visited.insert(relative) {
            return Err(bad("checkpoint chain loops".to_owned()));
        }
        let mut reader = header.reader_at(data, relative);
        let size = event_size(&mut reader, offset)?;
        let header_len = reader.position() - offset;
        let mut body = reader.sub_reader(size - header_len)?;
        let type_id = body.long()?;
        if type_id != CHECKPOINT_EVENT_TYPE {
            return Err(bad(format!(
                "event type {type_id} is not the checkpoint type 1"
            )));
        }
        let _start_time = body.long()?;
        let _duration = body.long()?;
        let delta = body.long()?;
        let _type_mask = body.u8()?;
        // Each pool is at least a type id and an entry count.
        let pool_count = body.count(2)?;
        for _ in 0..pool_count {
            let type_offset = body.position();
            let pool_type = body.long()?;
            if !metadata.types.contains_key(&pool_type) {
                return Err(JfrError::UnknownType {
                    offset: type_offset,
                    type_id: pool_type,
                });
            }
            let keep = retained.contains(&pool_type);
            let entry_count = body.count(1)?;
            for _ in 0..entry_count {
                let key = body.long()?;
                let value = decoder.read_value(&mut body, pool_type, 0)?;
                if keep {
                    pools.entry(pool_type).or_default().insert(key, value);
                }
            }
        }
        if delta == 0 {
            return Ok(pools);
        }
        let previous = i64::try_from(relative)
            .ok()
            .and_then(|current| current.checked_add(delta))
            .and_then(|target| usize::try_from(target).ok())
            .filter(|target| (HEADER_SIZE..header.size).contains(target));
        let Some(previous) = previous else {
            return Err(bad(format!("delta {delta} leaves the chunk")));
        };
        relative = previous;
    }
}

/// Follows constant pool references of one chunk.
///
/// A reference without an entry reads as null, as in the JDK's own parser:
/// real recordings contain them (the JDK omits threads that ended before the
/// pool was written). They are counted so the caller can see them.
struct Resolver<'c> {
    metadata: &'c Metadata,
    pools: &'c Pools,
    string_type: Option<i64>,
    dangling: Cell<u64>,
}

impl<'c> Resolver<'c> {
    /// The value behind `value`: the pool entry for a reference, else itself.
    fn deref<'a>(&'a self, value: &'a Value) -> Option<&'a Value> {
        match value {
            Value::Null => None,
            Value::Ref { type_id, key } => self.lookup(*type_id, *key),
            other => Some(other),
        }
    }

    fn lookup(&self, type_id: i64, key: i64) -> Option<&'c Value> {
        let entry = self.pools.get(&type_id).and_then(|pool| pool.get(&key));
        // Key 0 is the writers' null reference, not a dangling one.
        if entry.is_none() && key != 0 {
            self.dangling.set(self.dangling.get().saturating_add(1));
        }
        entry
    }

    /// The text of a string, symbol, or reference to either.
    fn string(&self, value: &Value, depth: usize) -> Result<Option<Box<str>>, JfrError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(JfrError::LimitExceeded {
                what: format!(
                    "string reference chain longer than {MAX_RESOLVE_DEPTH} (cyclic constant pool)"
                ),
            });
        }
        match value {
            Value::Str(text) => Ok(Some(text.clone())),
            Value::StrRef(key) => {
                let entry = self
                    .string_type
                    .and_then(|string_type| self.lookup(string_type, *key));
                match entry {
                    Some(entry) => self.string(entry, depth + 1),
                    None => Ok(None),
                }
            }
            Value::Ref { .. } => match self.deref(value) {
                Some(entry) => self.string(entry, depth + 1),
                None => Ok(None),
            },
            // Single-field wrappers such as jdk.types.Symbol { string }.
            Value::Object(fields) if fields.len() == 1 => self.string(&fields[0], depth + 1),
            _ => Ok(None),
        }
    }

    /// Field `name` of object `value` (inline or referenced) of type `type_id`.
    fn field<'a>(
        &'a self,
        type_id: i64,
        value: &'a Value,
        name: &str,
    ) -> Result<Option<(&'c FieldDesc, &'a Value)>, JfrError> {
        let Some(Value::Object(fields)) = self.deref(value) else {
            return Ok(None);
        };
        let Some(desc) = self.metadata.types.get(&type_id) else {
            return Ok(None);
        };
        let found = desc
            .field_index(name)
            .and_then(|index| Some((&desc.fields[index], fields.get(index)?)));
        Ok(found)
    }

    /// The string in field `name` of object `value` of type `type_id`.
    fn field_string(
        &self,
        type_id: i64,
        value: &Value,
        name: &str,
    ) -> Result<Option<Box<str>>, JfrError> {
        match self.field(type_id, value, name)? {
            Some((_, field_value)) => self.string(field_value, 0),
            None => Ok(None),
        }
    }
}

/// A decoded event with field access by name.
struct EventView<'e> {
    desc: &'e TypeDesc,
    fields: &'e [Value],
}

impl<'e> EventView<'e> {
    fn field(&self, name: &str) -> Option<(&'e FieldDesc, &'e Value)> {
        let index = self.desc.field_index(name)?;
        Some((&self.desc.fields[index], self.fields.get(index)?))
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.field(name).and_then(|(_, value)| value.as_int())
    }
}

/// State of the event pass over one chunk, with per-chunk caches keyed by
/// constant pool key (keys are only meaningful within their chunk).
struct EventPass<'p, 'c> {
    header: &'p ChunkHeader,
    resolver: &'p Resolver<'c>,
    aggregator: &'p mut Aggregator,
    /// Stack trace reference → interned stack id (`None`: null stack).
    stacks: HashMap<(i64, i64), Option<u32>>,
    /// Thread reference → interned thread name id.
    threads: HashMap<(i64, i64), Option<u32>>,
    /// Method reference → (dotted class name, method name).
    methods: HashMap<(i64, i64), (Box<str>, Box<str>)>,
}

/// The (type id, key) of a constant pool reference, the caches' key.
fn pool_key(value: &Value) -> Option<(i64, i64)> {
    match value {
        Value::Ref { type_id, key } => Some((*type_id, *key)),
        _ => None,
    }
}

impl EventPass<'_, '_> {
    fn sample(&mut self, kind: EventKind, event: &EventView<'_>) -> Result<(), JfrError> {
        let stack = match event.field("stackTrace") {
            Some((field, value)) => self.stack(field.type_id, value)?,
            None => None,
        };
        let Some(stack) = stack else {
            self.aggregator.events_without_stack += 1;
            return Ok(());
        };
        let thread_field = event
            .field("sampledThread")
            .or_else(|| event.field("eventThread"));
        let thread = match thread_field {
            Some((field, value)) => self.thread(field.type_id, value)?,
            None => None,
        };
        let (start_ticks, start_time_nanos) = match event.field("startTime") {
            Some((field, value)) => {
                let ticks = value.as_int().unwrap_or(0);
                (ticks, self.header.epoch_nanos(ticks, field.time_unit))
            }
            None => (0, self.header.start_nanos),
        };
        let (value, count) = self.weight(kind, event);
        self.aggregator.add(SampleInput {
            kind,
            stack,
            context_id: event.int("contextId").unwrap_or(0),
            thread,
            value,
            count,
            start_ticks,
            start_time_nanos,
        });
        Ok(())
    }

    /// (value, count) of one event; see the crate docs for the choices.
    fn weight(&self, kind: EventKind, event: &EventView<'_>) -> (i64, i64) {
        let duration = || match event.field("duration") {
            Some((field, value)) => {
                let amount = value.as_int().unwrap_or(0);
                self.header.duration_nanos(amount, field.time_unit)
            }
            None => 0,
        };
        let bytes = |name: &str| event.int(name).unwrap_or(0);
        match kind {
            EventKind::ExecutionSample | EventKind::NativeMethodSample => (1, 1),
            EventKind::WallClockSample => {
                let samples = event
                    .int("samples")
                    .filter(|&samples| samples > 0)
                    .unwrap_or(1);
                (samples, samples)
            }
            EventKind::AllocationInNewTlab => {
                let tlab_size = event
                    .int("tlabSize")
                    .or_else(|| event.int("allocationSize"));
                (tlab_size.unwrap_or(0), 1)
            }
            EventKind::AllocationOutsideTlab | EventKind::LiveObject => {
                (bytes("allocationSize"), 1)
            }
            EventKind::AllocationSample => (bytes("weight"), 1),
            EventKind::JavaMonitorEnter | EventKind::ThreadPark => (duration(), 1),
        }
    }

    fn active_setting(&mut self, event: &EventView<'_>) -> Result<(), JfrError> {
        let text = |name: &str| -> Result<Option<Box<str>>, JfrError> {
            match event.field(name) {
                Some((_, value)) => self.resolver.string(value, 0),
                None => Ok(None),
            }
        };
        // async-profiler records its sampling mode as setting "event".
        if text("name")?.as_deref() == Some("event") && text("value")?.as_deref() == Some("wall") {
            self.aggregator.wall_mode = true;
        }
        Ok(())
    }

    fn thread(&mut self, type_id: i64, value: &Value) -> Result<Option<u32>, JfrError> {
        let cache_key = pool_key(value);
        if let Some(cached) = cache_key.and_then(|key| self.threads.get(&key)) {
            return Ok(*cached);
        }
        let resolver = self.resolver;
        let name = match resolver.deref(value) {
            Some(thread) => match resolver.field_string(type_id, thread, "javaName")? {
                Some(name) => Some(name),
                None => resolver.field_string(type_id, thread, "osName")?,
            },
            None => None,
        };
        let id = match name {
            Some(name) => Some(self.aggregator.threads.intern(name)?),
            None => None,
        };
        if let Some(key) = cache_key {
            self.threads.insert(key, id);
        }
        Ok(id)
    }

    fn stack(&mut self, type_id: i64, value: &Value) -> Result<Option<u32>, JfrError> {
        let cache_key = pool_key(value);
        if let Some(cached) = cache_key.and_then(|key| self.stacks.get(&key)) {
            return Ok(*cached);
        }
        let id = self.resolve_stack(type_id, value)?;
        if let Some(key) = cache_key {
            self.stacks.insert(key, id);
        }
        Ok(id)
    }

    fn resolve_stack(&mut self, type_id: i64, value: &Value) -> Result<Option<u32>, JfrError> {
        let resolver = self.resolver;
        if resolver.deref(value).is_none() {
            return Ok(None);
        }
        let Some((frames_field, Value::Array(frames))) =
            resolver.field(type_id, value, "frames")?
        else {
            return Ok(None);
        };
        let frame_type = frames_field.type_id;
        let mut frame_ids = Vec::with_capacity(frames.len());
        // JFR lists the leaf first; output is root first.
        for frame in frames.iter().rev() {
            let frame = self.frame(frame_type, frame)?;
            frame_ids.push(self.aggregator.frames.intern(frame)?);
        }
        let id = self
            .aggregator
            .stacks
            .intern(frame_ids.into_boxed_slice())?;
        Ok(Some(id))
    }

    fn frame(&mut self, frame_type: i64, frame: &Value) -> Result<crate::JfrFrame, JfrError> {
        let resolver = self.resolver;
        let (class, method) = match resolver.field(frame_type, frame, "method")? {
            Some((field, method)) => self.method(field.type_id, method)?,
            None => Default::default(),
        };
        let line = match resolver.field(frame_type, frame, "lineNumber")? {
            Some((_, line)) => line.as_int().unwrap_or(0).max(0),
            None => 0,
        };
        let kind = match resolver.field(frame_type, frame, "type")? {
            Some((field, kind)) => resolver.field_string(field.type_id, kind, "description")?,
            None => None,
        };
        Ok(crate::JfrFrame {
            class: class.into(),
            method: method.into(),
            line,
            frame_type: kind.map(String::from).unwrap_or_default(),
        })
    }

    fn method(&mut self, type_id: i64, method: &Value) -> Result<(Box<str>, Box<str>), JfrError> {
        let cache_key = pool_key(method);
        if let Some(cached) = cache_key.and_then(|key| self.methods.get(&key)) {
            return Ok(cached.clone());
        }
        let resolver = self.resolver;
        let name = resolver
            .field_string(type_id, method, "name")?
            .unwrap_or_default();
        let class = match resolver.field(type_id, method, "type")? {
            Some((field, class)) => {
                let internal = resolver.field_string(field.type_id, class, "name")?;
                internal.map(|name| name.replace('/', ".").into_boxed_str())
            }
            None => None,
        };
        let resolved = (class.unwrap_or_default(), name);
        if let Some(key) = cache_key {
            self.methods.insert(key, resolved.clone());
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_converts_ticks_without_overflow() {
        assert_eq!(scale(5, NANOS_PER_SECOND, NANOS_PER_SECOND), 5);
        assert_eq!(scale(3, NANOS_PER_SECOND, 1_000), 3_000_000);
        assert_eq!(scale(i64::MAX, NANOS_PER_SECOND, 1), i64::MAX);
        assert_eq!(scale(i64::MIN, NANOS_PER_SECOND, 1), i64::MIN);
    }

    #[test]
    fn short_input_with_magic_is_truncated() {
        let err = ChunkHeader::parse(b"FLR\0\0\x02", 0).unwrap_err();
        assert!(
            matches!(err, JfrError::Truncated { offset: 0, .. }),
            "{err}"
        );
    }
}
