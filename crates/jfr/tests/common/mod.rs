//! A tiny JFR writer for tests: builds chunks shaped like async-profiler's
//! output (its event names, its `contextId` field, its wall-clock and
//! live-object events), which the local JDK cannot record.

#![allow(dead_code)]

use std::collections::HashMap;

/// Type ids of the synthetic metadata.
pub mod ids {
    pub const LONG: i64 = 10;
    pub const INT: i64 = 11;
    pub const BOOLEAN: i64 = 12;
    pub const STRING: i64 = 13;
    pub const TIMESTAMP: i64 = 14;
    pub const TIMESPAN: i64 = 15;
    pub const THREAD: i64 = 20;
    pub const STACK_TRACE: i64 = 21;
    pub const STACK_FRAME: i64 = 22;
    pub const METHOD: i64 = 23;
    pub const CLASS: i64 = 24;
    pub const SYMBOL: i64 = 25;
    pub const FRAME_TYPE: i64 = 26;
    pub const THREAD_STATE: i64 = 27;
    pub const MODULE: i64 = 28;
    pub const RECURSIVE: i64 = 29;
    pub const EXECUTION_SAMPLE: i64 = 100;
    pub const WALL_CLOCK_SAMPLE: i64 = 101;
    pub const LIVE_OBJECT: i64 = 102;
    pub const ACTIVE_SETTING: i64 = 103;
    pub const IN_NEW_TLAB: i64 = 104;
    pub const MONITOR_ENTER: i64 = 105;
    pub const LOG: i64 = 106;
}

/// Ticks per second of synthetic chunks: one tick is a microsecond.
pub const TICKS_PER_SECOND: i64 = 1_000_000;
/// Chunk start, nanoseconds since the epoch.
pub const START_NANOS: i64 = 1_700_000_000_000_000_000;
/// Chunk start, ticks.
pub const START_TICKS: i64 = 5_000;

/// Encodes integers the way the chunk's flags say.
#[derive(Clone, Copy)]
pub struct Enc {
    pub compressed: bool,
}

impl Enc {
    pub fn long(self, out: &mut Vec<u8>, value: i64) {
        if !self.compressed {
            out.extend_from_slice(&value.to_be_bytes());
            return;
        }
        let mut rest = value as u64;
        for _ in 0..8 {
            if rest < 0x80 {
                out.push(rest as u8);
                return;
            }
            out.push((rest as u8 & 0x7f) | 0x80);
            rest >>= 7;
        }
        out.push(rest as u8);
    }

    pub fn int(self, out: &mut Vec<u8>, value: i64) {
        if self.compressed {
            self.long(out, value);
        } else {
            out.extend_from_slice(&(value as i32).to_be_bytes());
        }
    }

    /// A UTF-8 string (encoding 3).
    pub fn utf8(self, out: &mut Vec<u8>, text: &str) {
        out.push(3);
        self.int(out, text.len() as i64);
        out.extend_from_slice(text.as_bytes());
    }

    /// A Latin-1 string (encoding 5).
    pub fn latin1(self, out: &mut Vec<u8>, text: &str) {
        out.push(5);
        self.int(out, text.chars().count() as i64);
        out.extend(text.chars().map(|c| c as u8));
    }

    /// A UTF-16 char array string (encoding 4).
    pub fn chars(self, out: &mut Vec<u8>, text: &str) {
        let units: Vec<u16> = text.encode_utf16().collect();
        out.push(4);
        self.int(out, units.len() as i64);
        for unit in units {
            if self.compressed {
                self.long(out, i64::from(unit));
            } else {
                out.extend_from_slice(&unit.to_be_bytes());
            }
        }
    }

    /// A reference into the `java.lang.String` pool (encoding 2).
    pub fn string_ref(self, out: &mut Vec<u8>, key: i64) {
        out.push(2);
        self.long(out, key);
    }

    /// Wraps `body` (type id and fields) into a sized event.
    pub fn event(self, body: &[u8]) -> Vec<u8> {
        let size = body.len() + 4;
        let mut out = Vec::with_capacity(size);
        if self.compressed {
            // The JDK's padded four-byte form.
            out.push((size as u8 & 0x7f) | 0x80);
            out.push(((size >> 7) as u8 & 0x7f) | 0x80);
            out.push(((size >> 14) as u8 & 0x7f) | 0x80);
            out.push((size >> 21) as u8 & 0x7f);
        } else {
            out.extend_from_slice(&(size as i32).to_be_bytes());
        }
        out.extend_from_slice(body);
        out
    }
}

/// A metadata element.
pub struct Element {
    name: &'static str,
    attributes: Vec<(&'static str, String)>,
    children: Vec<Element>,
}

fn element(
    name: &'static str,
    attributes: &[(&'static str, &str)],
    children: Vec<Element>,
) -> Element {
    Element {
        name,
        attributes: attributes
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect(),
        children,
    }
}

fn class(id: i64, name: &str, fields: Vec<Element>) -> Element {
    element("class", &[("id", &id.to_string()), ("name", name)], fields)
}

fn field(name: &str, type_id: i64, constant_pool: bool) -> Element {
    let type_id = type_id.to_string();
    let mut attributes = vec![("name", name), ("class", type_id.as_str())];
    if constant_pool {
        attributes.push(("constantPool", "true"));
    }
    element("field", &attributes, Vec::new())
}

fn array_field(name: &str, type_id: i64) -> Element {
    element(
        "field",
        &[
            ("name", name),
            ("class", &type_id.to_string()),
            ("dimension", "1"),
        ],
        Vec::new(),
    )
}

fn timed_field(name: &str, annotation: i64, unit: &str) -> Element {
    let mut field = field(name, ids::LONG, false);
    field.children.push(element(
        "annotation",
        &[("class", &annotation.to_string()), ("value", unit)],
        Vec::new(),
    ));
    field
}

/// The class list of the synthetic chunks.
pub fn classes(with_recursive: bool) -> Vec<Element> {
    use ids::*;
    let start_time = || timed_field("startTime", TIMESTAMP, "TICKS");
    let mut classes = vec![
        class(LONG, "long", vec![]),
        class(INT, "int", vec![]),
        class(BOOLEAN, "boolean", vec![]),
        class(STRING, "java.lang.String", vec![]),
        class(
            TIMESTAMP,
            "jdk.jfr.Timestamp",
            vec![field("value", STRING, false)],
        ),
        class(
            TIMESPAN,
            "jdk.jfr.Timespan",
            vec![field("value", STRING, false)],
        ),
        class(
            THREAD,
            "java.lang.Thread",
            vec![
                field("osName", STRING, false),
                field("osThreadId", LONG, false),
                field("javaName", STRING, false),
                field("javaThreadId", LONG, false),
            ],
        ),
        class(
            STACK_TRACE,
            "jdk.types.StackTrace",
            vec![
                field("truncated", BOOLEAN, false),
                array_field("frames", STACK_FRAME),
            ],
        ),
        class(
            STACK_FRAME,
            "jdk.types.StackFrame",
            vec![
                field("method", METHOD, true),
                field("lineNumber", INT, false),
                field("bytecodeIndex", INT, false),
                field("type", FRAME_TYPE, true),
            ],
        ),
        class(
            METHOD,
            "jdk.types.Method",
            vec![
                field("type", CLASS, true),
                field("name", SYMBOL, true),
                field("descriptor", SYMBOL, true),
                field("modifiers", INT, false),
                field("hidden", BOOLEAN, false),
            ],
        ),
        class(
            CLASS,
            "java.lang.Class",
            vec![field("name", SYMBOL, true), field("modifiers", INT, false)],
        ),
        class(
            SYMBOL,
            "jdk.types.Symbol",
            vec![field("string", STRING, false)],
        ),
        class(
            FRAME_TYPE,
            "jdk.types.FrameType",
            vec![field("description", STRING, false)],
        ),
        class(
            THREAD_STATE,
            "jdk.types.ThreadState",
            vec![field("name", STRING, false)],
        ),
        class(
            MODULE,
            "jdk.types.Module",
            vec![field("name", SYMBOL, true), field("version", SYMBOL, true)],
        ),
        class(
            EXECUTION_SAMPLE,
            "jdk.ExecutionSample",
            vec![
                start_time(),
                field("sampledThread", THREAD, true),
                field("stackTrace", STACK_TRACE, true),
                field("state", THREAD_STATE, true),
                field("contextId", LONG, false),
            ],
        ),
        class(
            WALL_CLOCK_SAMPLE,
            "profiler.WallClockSample",
            vec![
                start_time(),
                field("sampledThread", THREAD, true),
                field("stackTrace", STACK_TRACE, true),
                field("state", THREAD_STATE, true),
                field("samples", INT, false),
            ],
        ),
        class(
            LIVE_OBJECT,
            "profiler.LiveObject",
            vec![
                start_time(),
                field("eventThread", THREAD, true),
                field("stackTrace", STACK_TRACE, true),
                field("objectClass", CLASS, true),
                field("allocationSize", LONG, false),
                timed_field("allocationTime", TIMESTAMP, "TICKS"),
            ],
        ),
        class(
            ACTIVE_SETTING,
            "jdk.ActiveSetting",
            vec![
                start_time(),
                timed_field("duration", TIMESPAN, "TICKS"),
                field("eventThread", THREAD, true),
                field("id", LONG, false),
                field("name", STRING, false),
                field("value", STRING, false),
            ],
        ),
        class(
            IN_NEW_TLAB,
            "jdk.ObjectAllocationInNewTLAB",
            vec![
                start_time(),
                field("eventThread", THREAD, true),
                field("stackTrace", STACK_TRACE, true),
                field("objectClass", CLASS, true),
                field("allocationSize", LONG, false),
                field("tlabSize", LONG, false),
                field("contextId", LONG, false),
            ],
        ),
        class(
            MONITOR_ENTER,
            "jdk.JavaMonitorEnter",
            vec![
                start_time(),
                timed_field("duration", TIMESPAN, "TICKS"),
                field("eventThread", THREAD, true),
                field("stackTrace", STACK_TRACE, true),
                field("monitorClass", CLASS, true),
                field("address", LONG, false),
            ],
        ),
        class(
            LOG,
            "profiler.Log",
            vec![
                start_time(),
                field("level", INT, false),
                field("message", STRING, false),
            ],
        ),
    ];
    if with_recursive {
        classes.push(class(
            RECURSIVE,
            "evil.Recursive",
            vec![field("next", RECURSIVE, false)],
        ));
    }
    classes
}

/// Serialises the metadata event for `classes`.
pub fn metadata_event(enc: Enc, classes: Vec<Element>) -> Vec<u8> {
    let root = element(
        "root",
        &[],
        vec![
            element("metadata", &[], classes),
            element("region", &[("gmtOffset", "0")], vec![]),
        ],
    );
    let mut table: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    intern_all(&root, &mut table, &mut index);

    let mut body = Vec::new();
    enc.long(&mut body, 0); // type: metadata
    enc.long(&mut body, START_TICKS);
    enc.long(&mut body, 0);
    enc.long(&mut body, 1); // metadata id
    enc.int(&mut body, table.len() as i64);
    for text in &table {
        enc.utf8(&mut body, text);
    }
    write_element(enc, &mut body, &root, &index);
    enc.event(&body)
}

fn intern(text: &str, table: &mut Vec<String>, index: &mut HashMap<String, usize>) {
    if !index.contains_key(text) {
        index.insert(text.to_owned(), table.len());
        table.push(text.to_owned());
    }
}

fn intern_all(element: &Element, table: &mut Vec<String>, index: &mut HashMap<String, usize>) {
    intern(element.name, table, index);
    for (key, value) in &element.attributes {
        intern(key, table, index);
        intern(value, table, index);
    }
    for child in &element.children {
        intern_all(child, table, index);
    }
}

fn write_element(enc: Enc, out: &mut Vec<u8>, element: &Element, index: &HashMap<String, usize>) {
    enc.int(out, index[element.name] as i64);
    enc.int(out, element.attributes.len() as i64);
    for (key, value) in &element.attributes {
        enc.int(out, index[*key] as i64);
        enc.int(out, index[value.as_str()] as i64);
    }
    enc.int(out, element.children.len() as i64);
    for child in &element.children {
        write_element(enc, out, child, index);
    }
}

/// Options for [`synthetic_chunk`].
#[derive(Clone, Copy)]
pub struct Options {
    pub compressed: bool,
    /// Add an ActiveSetting `event=wall`, as async-profiler in wall mode.
    pub wall_mode: bool,
    /// Add a pool entry of a type that contains itself inline.
    pub recursive_pool: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            compressed: true,
            wall_mode: false,
            recursive_pool: false,
        }
    }
}

/// One constant pool: type id and (key, encoded value) entries.
type Pool = (i64, Vec<(i64, Vec<u8>)>);

/// Checkpoint body (without the event size) holding `pools`.
fn checkpoint_body(enc: Enc, delta: i64, pools: &[Pool]) -> Vec<u8> {
    let mut body = Vec::new();
    enc.long(&mut body, 1); // type: checkpoint
    enc.long(&mut body, START_TICKS);
    enc.long(&mut body, 0);
    enc.long(&mut body, delta);
    body.push(0); // type mask
    enc.int(&mut body, pools.len() as i64);
    for (type_id, entries) in pools {
        enc.long(&mut body, *type_id);
        enc.int(&mut body, entries.len() as i64);
        for (key, value) in entries {
            enc.long(&mut body, *key);
            body.extend_from_slice(value);
        }
    }
    body
}

/// One complete chunk with known content:
///
/// * stack 1: `com.example.App.main` (line 20, JIT) → `java.util.HashMap.get`
///   (line 10, Inlined); stack 2: `com.example.App.run` alone
/// * threads 1 ("main", os "os-main") and 2 (no Java name, os "worker-os")
/// * 3 execution samples on stack 1 (context ids 7, 7, 9)
/// * 1 wall-clock sample with `samples = 5` on stack 2, thread 2
/// * 1 live object of 4096 bytes, 1 TLAB allocation (size 100, TLAB 65536,
///   context 7), 1 monitor enter of 5 ticks, 1 unknown `profiler.Log` event,
///   1 execution sample whose thread reference dangles
pub fn synthetic_chunk(options: Options) -> Vec<u8> {
    use ids::*;
    let enc = Enc {
        compressed: options.compressed,
    };

    let mut events = Vec::new();
    let mut event = |fill: &dyn Fn(&mut Vec<u8>)| {
        let mut body = Vec::new();
        fill(&mut body);
        events.extend(enc.event(&body));
    };
    for (offset, context) in [(10, 7), (20, 7), (30, 9)] {
        event(&|b| {
            enc.long(b, EXECUTION_SAMPLE);
            enc.long(b, START_TICKS + offset);
            enc.long(b, 1); // thread
            enc.long(b, 1); // stack
            enc.long(b, 1); // state
            enc.long(b, context);
        });
    }
    event(&|b| {
        enc.long(b, WALL_CLOCK_SAMPLE);
        enc.long(b, START_TICKS + 40);
        enc.long(b, 2);
        enc.long(b, 2);
        enc.long(b, 1);
        enc.int(b, 5);
    });
    event(&|b| {
        enc.long(b, LIVE_OBJECT);
        enc.long(b, START_TICKS + 50);
        enc.long(b, 1);
        enc.long(b, 2);
        enc.long(b, 1);
        enc.long(b, 4096);
        enc.long(b, START_TICKS);
    });
    event(&|b| {
        enc.long(b, IN_NEW_TLAB);
        enc.long(b, START_TICKS + 60);
        enc.long(b, 1);
        enc.long(b, 1);
        enc.long(b, 1);
        enc.long(b, 100);
        enc.long(b, 65536);
        enc.long(b, 7);
    });
    event(&|b| {
        enc.long(b, MONITOR_ENTER);
        enc.long(b, START_TICKS + 70);
        enc.long(b, 5); // duration: 5 ticks = 5 µs
        enc.long(b, 1);
        enc.long(b, 2);
        enc.long(b, 1);
        enc.long(b, 0xdead);
    });
    event(&|b| {
        enc.long(b, LOG);
        enc.long(b, START_TICKS + 80);
        enc.int(b, 2);
        enc.utf8(b, "skipped without decoding");
    });
    event(&|b| {
        enc.long(b, EXECUTION_SAMPLE);
        enc.long(b, START_TICKS + 90);
        enc.long(b, 99); // dangling thread
        enc.long(b, 2);
        enc.long(b, 1);
        enc.long(b, 0);
    });
    // After the samples it relabels: the setting applies to the whole recording.
    if options.wall_mode {
        event(&|b| {
            enc.long(b, ACTIVE_SETTING);
            enc.long(b, START_TICKS);
            enc.long(b, 0);
            enc.long(b, 1);
            enc.long(b, 0);
            enc.utf8(b, "event");
            enc.utf8(b, "wall");
        });
    }

    let value = |fill: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        fill(&mut out);
        out
    };
    // First checkpoint: symbols and strings, in several string encodings.
    let first_pools = vec![
        (STRING, vec![(7, value(&|b| enc.utf8(b, "run")))]),
        (
            SYMBOL,
            vec![
                (1, value(&|b| enc.utf8(b, "java/util/HashMap"))),
                (2, value(&|b| enc.utf8(b, "get"))),
                (3, value(&|b| enc.latin1(b, "com/example/App"))),
                (4, value(&|b| enc.chars(b, "main"))),
                (5, value(&|b| enc.string_ref(b, 7))),
                (6, value(&|b| enc.utf8(b, "()V"))),
            ],
        ),
    ];
    let frame = |b: &mut Vec<u8>, method: i64, line: i64, kind: i64| {
        enc.long(b, method);
        enc.int(b, line);
        enc.int(b, 0);
        enc.long(b, kind);
    };
    let mut second_pools = vec![
        (
            CLASS,
            vec![
                (
                    1,
                    value(&|b| {
                        enc.long(b, 1);
                        enc.int(b, 1);
                    }),
                ),
                (
                    2,
                    value(&|b| {
                        enc.long(b, 3);
                        enc.int(b, 1);
                    }),
                ),
            ],
        ),
        (
            METHOD,
            [(1, 1, 2), (2, 2, 4), (3, 2, 5)]
                .into_iter()
                .map(|(key, class, name)| {
                    (
                        key,
                        value(&|b| {
                            enc.long(b, class);
                            enc.long(b, name);
                            enc.long(b, 6);
                            enc.int(b, 1);
                            b.push(0);
                        }),
                    )
                })
                .collect(),
        ),
        (
            FRAME_TYPE,
            vec![
                (1, value(&|b| enc.utf8(b, "JIT compiled"))),
                (2, value(&|b| enc.utf8(b, "Inlined"))),
            ],
        ),
        (
            THREAD,
            vec![
                (
                    1,
                    value(&|b| {
                        enc.utf8(b, "os-main");
                        enc.long(b, 100);
                        enc.utf8(b, "main");
                        enc.long(b, 1);
                    }),
                ),
                (
                    2,
                    value(&|b| {
                        enc.utf8(b, "worker-os");
                        enc.long(b, 101);
                        b.push(0); // null Java name
                        enc.long(b, 0);
                    }),
                ),
            ],
        ),
        (
            THREAD_STATE,
            vec![(1, value(&|b| enc.utf8(b, "STATE_RUNNABLE")))],
        ),
        (
            MODULE,
            vec![(
                1,
                value(&|b| {
                    enc.long(b, 1);
                    enc.long(b, 2);
                }),
            )],
        ),
        (
            STACK_TRACE,
            vec![
                (
                    1,
                    value(&|b| {
                        b.push(0);
                        enc.int(b, 2);
                        frame(b, 1, 10, 2); // leaf first
                        frame(b, 2, 20, 1);
                    }),
                ),
                (
                    2,
                    value(&|b| {
                        b.push(0);
                        enc.int(b, 1);
                        frame(b, 3, 30, 1);
                    }),
                ),
            ],
        ),
    ];
    if options.recursive_pool {
        second_pools.push((RECURSIVE, vec![(1, Vec::new())]));
    }

    let metadata = metadata_event(enc, classes(options.recursive_pool));
    let first_checkpoint = enc.event(&checkpoint_body(enc, 0, &first_pools));

    let metadata_offset = 68 + events.len();
    let first_cp_offset = metadata_offset + metadata.len();
    let second_cp_offset = first_cp_offset + first_checkpoint.len();
    let delta = first_cp_offset as i64 - second_cp_offset as i64;
    let second_checkpoint = enc.event(&checkpoint_body(enc, delta, &second_pools));
    let size = second_cp_offset + second_checkpoint.len();

    let mut chunk = Vec::with_capacity(size);
    chunk.extend_from_slice(b"FLR\0");
    chunk.extend_from_slice(&2u16.to_be_bytes());
    chunk.extend_from_slice(&1u16.to_be_bytes());
    for value in [
        size as i64,
        second_cp_offset as i64,
        metadata_offset as i64,
        START_NANOS,
        1_000_000_000, // duration: 1 s
        START_TICKS,
        TICKS_PER_SECOND,
    ] {
        chunk.extend_from_slice(&value.to_be_bytes());
    }
    let flags: u32 = if options.compressed { 1 } else { 0 };
    chunk.extend_from_slice(&flags.to_be_bytes());
    chunk.extend(events);
    chunk.extend(metadata);
    chunk.extend(first_checkpoint);
    chunk.extend(second_checkpoint);
    assert_eq!(chunk.len(), size);
    chunk
}

/// The fixture recorded by the local JDK; see `testdata/README.md`.
pub fn jdk_fixture() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/hot.jfr"))
        .expect("testdata/hot.jfr is committed")
}
