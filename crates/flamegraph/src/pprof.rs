//! pprof export (`perftools.profiles.Profile`), for `go tool pprof` and any
//! tool that reads pprof.
//!
//! One function per distinct (name, file), one location per distinct
//! (function, line, mapping), one mapping per distinct mapping name; ids start
//! at 1; `string_table[0]` is `""`; sample locations are leaf first; one sample
//! value typed by the profile type's sample type and unit.

use vispyr_common::profile::{Frame, ProfileType};
use vispyr_proto::pprof::{Function, Line, Location, Mapping, Profile, Sample, ValueType};

use crate::folded::HIDDEN_STACK_NAME;
use crate::intern::FxHashMap;
use crate::rules::display_name;
use crate::tree::Tree;

/// Encodes `(stack, value)` pairs (root first, e.g. the output of
/// [`CompiledRules::apply`](crate::CompiledRules::apply)) as a pprof profile.
/// Frames without a function name are named by [`display_name`]; an empty
/// stack becomes a one-frame stack named [`HIDDEN_STACK_NAME`].
pub fn to_pprof<I, S>(
    stacks: I,
    profile_type: &ProfileType,
    time_nanos: i64,
    duration_nanos: i64,
) -> Profile
where
    I: IntoIterator<Item = (S, i64)>,
    S: AsRef<[Frame]>,
{
    let mut builder = PprofBuilder::new(profile_type, time_nanos, duration_nanos);
    let mut location_ids = Vec::new();
    for (stack, value) in stacks {
        location_ids.clear();
        for frame in stack.as_ref().iter().rev() {
            location_ids.push(builder.location(frame));
        }
        if location_ids.is_empty() {
            location_ids.push(builder.location(&Frame::named(HIDDEN_STACK_NAME)));
        }
        builder.add_sample(&location_ids, value);
    }
    builder.finish()
}

impl Tree {
    /// The tree as a pprof profile: one sample per node with a self value, its
    /// path as the stack, node names as function names (file and line are not
    /// kept: a node merges frames by name). The root's own value (stacks whose
    /// frames were all hidden) becomes a one-frame sample named
    /// [`HIDDEN_STACK_NAME`].
    pub fn to_pprof(
        &self,
        profile_type: &ProfileType,
        time_nanos: i64,
        duration_nanos: i64,
    ) -> Profile {
        let nodes = &self.arena.nodes;
        let mut builder = PprofBuilder::new(profile_type, time_nanos, duration_nanos);
        let root_self = nodes[0].values.self_value;
        if root_self != 0 {
            let hidden = builder.location(&Frame::named(HIDDEN_STACK_NAME));
            builder.add_sample(&[hidden], root_self);
        }
        // Arena name id → location id.
        let mut name_locations: FxHashMap<u32, u64> = FxHashMap::default();
        let mut path: Vec<u64> = Vec::new();
        let mut leaf_first: Vec<u64> = Vec::new();
        let mut pending: Vec<(u32, usize)> =
            nodes[0].children.iter().rev().map(|&c| (c, 0)).collect();
        while let Some((id, depth)) = pending.pop() {
            let node = &nodes[id as usize];
            let location = *name_locations.entry(node.name).or_insert_with(|| {
                builder.location(&Frame::named(self.arena.names.get(node.name)))
            });
            path.truncate(depth);
            path.push(location);
            if node.values.self_value != 0 {
                leaf_first.clear();
                leaf_first.extend(path.iter().rev());
                builder.add_sample(&leaf_first, node.values.self_value);
            }
            pending.extend(node.children.iter().rev().map(|&c| (c, depth + 1)));
        }
        builder.finish()
    }
}

/// Accumulates a profile's tables.
struct PprofBuilder {
    profile: Profile,
    strings: FxHashMap<String, i64>,
    /// (name, filename) string ids → function id.
    functions: FxHashMap<(i64, i64), u64>,
    /// (function id, line, mapping id) → location id.
    locations: FxHashMap<(u64, i64, u64), u64>,
    /// Mapping filename string id → mapping id.
    mappings: FxHashMap<i64, u64>,
}

impl PprofBuilder {
    fn new(profile_type: &ProfileType, time_nanos: i64, duration_nanos: i64) -> PprofBuilder {
        let mut builder = PprofBuilder {
            profile: Profile {
                time_nanos,
                duration_nanos,
                ..Profile::default()
            },
            strings: FxHashMap::default(),
            functions: FxHashMap::default(),
            locations: FxHashMap::default(),
            mappings: FxHashMap::default(),
        };
        // pprof requires the empty string at index 0.
        builder.string("");
        let sample_type = ValueType {
            r#type: builder.string(&profile_type.sample_type),
            unit: builder.string(&profile_type.sample_unit),
        };
        let period_type = ValueType {
            r#type: builder.string(&profile_type.period_type),
            unit: builder.string(&profile_type.period_unit),
        };
        builder.profile.sample_type.push(sample_type);
        builder.profile.period_type = Some(period_type);
        builder
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let id = i64::try_from(self.profile.string_table.len()).expect("string count fits i64");
        self.profile.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), id);
        id
    }

    fn location(&mut self, frame: &Frame) -> u64 {
        let name = self.string(&display_name(frame));
        let filename = self.string(&frame.file);
        let next_function_id = self.profile.function.len() as u64 + 1;
        let function_id = *self
            .functions
            .entry((name, filename))
            .or_insert(next_function_id);
        if function_id == next_function_id {
            self.profile.function.push(Function {
                id: function_id,
                name,
                system_name: name,
                filename,
                start_line: 0,
            });
        }
        let mapping_id = if frame.mapping.is_empty() {
            0
        } else {
            self.mapping(&frame.mapping)
        };
        let line = frame.line.max(0);
        let next_location_id = self.profile.location.len() as u64 + 1;
        let location_id = *self
            .locations
            .entry((function_id, line, mapping_id))
            .or_insert(next_location_id);
        if location_id == next_location_id {
            self.profile.location.push(Location {
                id: location_id,
                mapping_id,
                address: 0,
                line: vec![Line {
                    function_id,
                    line,
                    column: 0,
                }],
                is_folded: false,
            });
        }
        location_id
    }

    fn mapping(&mut self, file: &str) -> u64 {
        let filename = self.string(file);
        let next_id = self.profile.mapping.len() as u64 + 1;
        let id = *self.mappings.entry(filename).or_insert(next_id);
        if id == next_id {
            self.profile.mapping.push(Mapping {
                id,
                filename,
                has_functions: true,
                has_filenames: true,
                has_line_numbers: true,
                ..Mapping::default()
            });
        }
        id
    }

    fn add_sample(&mut self, leaf_first: &[u64], value: i64) {
        if value == 0 {
            return;
        }
        self.profile.sample.push(Sample {
            location_id: leaf_first.to_vec(),
            value: vec![value],
            label: Vec::new(),
        });
    }

    fn finish(self) -> Profile {
        self.profile
    }
}
