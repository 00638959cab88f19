//! pprof (`perftools.profiles.Profile`) → [`NormalizedProfile`]s, one per sample type.
//!
//! Every index in the profile is checked: a sample that names a location, function,
//! mapping or string that does not exist makes the whole profile invalid, with a
//! message saying which one. Stacks deeper than [`MAX_STACK_DEPTH`] are refused.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use vispyr_common::profile::Frame;
use vispyr_model::profiles::{
    NormalizedProfile, NormalizedSample, StackTable, StackTableBuilder, profile_type_of,
};
use vispyr_proto::pprof::{Profile, ValueType};

/// Deepest stack accepted, in frames (after expanding inlined functions).
pub const MAX_STACK_DEPTH: usize = 4096;

/// Where the profile came from and what it is about, besides its own content.
#[derive(Debug, Clone, Default)]
pub struct PprofContext {
    pub service_name: String,
    pub labels: Vec<(String, String)>,
    /// The Pyroscope profile name the client used (`cpu`, `wall`, `alloc_space`,
    /// `mutex` …), when it said; refines the type name for ambiguous sample types.
    pub name_hint: Option<String>,
    /// Start and end of the profile (Unix ns) when the profile itself does not say.
    pub from: i64,
    pub until: i64,
    /// Sample types that are cumulative (Go's heap `alloc_*`, mutex and block), from
    /// the client's `sample_type_config`; with a previous profile, their values are
    /// turned into deltas.
    pub cumulative: Vec<String>,
    /// Sample types to drop, from `sample_type_config` (`"drop"` not being standard,
    /// Pyroscope's own clients only list the types they want).
    pub only: Option<Vec<String>>,
}

/// Decodes a pprof, gzip-compressed or not.
pub fn decode(bytes: &[u8], limit: usize) -> Result<Profile, String> {
    let raw;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        raw = crate::otlp::gunzip_limited(bytes, limit).map_err(|e| e.to_string())?;
        &raw[..]
    } else {
        bytes
    };
    Profile::decode(bytes).map_err(|error| format!("invalid pprof profile: {error}"))
}

struct Strings<'a>(&'a [String]);

impl<'a> Strings<'a> {
    fn get(&self, index: i64, what: &str) -> Result<&'a str, String> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(String::as_str)
            .ok_or_else(|| {
                format!(
                    "invalid pprof profile: {what} refers to string {index}, but the string table has {} entries",
                    self.0.len()
                )
            })
    }
}

/// Converts a decoded pprof. With `previous`, cumulative sample types become the
/// difference to it.
pub fn normalize(
    profile: &Profile,
    previous: Option<&Profile>,
    context: &PprofContext,
) -> Result<Vec<NormalizedProfile>, String> {
    let strings = Strings(&profile.string_table);
    let stacks = Stacks::build(profile, &strings)?;
    let type_names: Vec<&str> = profile
        .sample_type
        .iter()
        .map(|t| strings.get(t.r#type, "a sample type"))
        .collect::<Result<_, _>>()?;
    let period = match profile.period_type {
        Some(ValueType { r#type, unit }) => (
            strings.get(r#type, "the period type")?,
            strings.get(unit, "the period unit")?,
        ),
        None => ("", ""),
    };

    let timestamp = if profile.time_nanos > 0 {
        profile.time_nanos
    } else {
        context.from
    };
    let duration_ns = if profile.duration_nanos > 0 {
        profile.duration_nanos
    } else {
        (context.until - context.from).max(0)
    };

    // Sample labels, resolved once per sample.
    let mut sample_labels = Vec::with_capacity(profile.sample.len());
    for sample in &profile.sample {
        if sample.value.len() != profile.sample_type.len() {
            return Err(format!(
                "invalid pprof profile: a sample has {} values but the profile has {} sample types",
                sample.value.len(),
                profile.sample_type.len()
            ));
        }
        let mut labels = Vec::new();
        for label in &sample.label {
            if label.str == 0 {
                continue; // numeric labels (bytes, …) are not series labels
            }
            labels.push((
                strings.get(label.key, "a sample label")?.to_owned(),
                strings.get(label.str, "a sample label")?.to_owned(),
            ));
        }
        sample_labels.push(labels);
    }

    let previous_values = match previous {
        Some(previous) => Some(previous_values(previous)?),
        None => None,
    };
    let current_keys: Vec<SampleKey> = if previous_values.is_some() {
        stacks
            .sample_stack
            .iter()
            .zip(&sample_labels)
            .map(|(&stack, labels)| (stacks.table.frames_of(stack), labels.clone()))
            .collect()
    } else {
        Vec::new()
    };

    let mut out = Vec::new();
    for (index, value_type) in profile.sample_type.iter().enumerate() {
        let sample_type = (
            type_names[index],
            strings.get(value_type.unit, "a sample unit")?,
        );
        if let Some(only) = &context.only
            && !only.iter().any(|t| t == sample_type.0)
        {
            continue;
        }
        let profile_type = profile_type_of(
            sample_type,
            period,
            &type_names,
            context.name_hint.as_deref(),
        );
        let cumulative = context.cumulative.iter().any(|t| t == sample_type.0);
        let mut samples = Vec::with_capacity(profile.sample.len());
        for (sample_index, sample) in profile.sample.iter().enumerate() {
            let mut value = sample.value[index];
            if cumulative && let Some(previous) = &previous_values {
                let key = (current_keys[sample_index].clone(), sample_type.0.to_owned());
                let before = previous.get(&key).copied().unwrap_or(0);
                value = value.saturating_sub(before);
            }
            if value <= 0 {
                continue;
            }
            samples.push(NormalizedSample {
                stack: stacks.sample_stack[sample_index],
                value,
                labels: sample_labels[sample_index].clone(),
            });
        }
        out.push(NormalizedProfile {
            service_name: context.service_name.clone(),
            profile_type,
            labels: context.labels.clone(),
            timestamp,
            duration_ns,
            stacks: Arc::clone(&stacks.table),
            samples,
        });
    }
    Ok(out)
}

/// A sample's identity across two profiles of one process: its frames and labels.
type SampleKey = (Vec<Frame>, Vec<(String, String)>);

fn previous_values(previous: &Profile) -> Result<HashMap<(SampleKey, String), i64>, String> {
    let strings = Strings(&previous.string_table);
    let stacks = Stacks::build(previous, &strings)?;
    let mut out = HashMap::new();
    for (sample_index, sample) in previous.sample.iter().enumerate() {
        let mut labels = Vec::new();
        for label in &sample.label {
            if label.str != 0 {
                labels.push((
                    strings.get(label.key, "a sample label")?.to_owned(),
                    strings.get(label.str, "a sample label")?.to_owned(),
                ));
            }
        }
        let frames = stacks.table.frames_of(stacks.sample_stack[sample_index]);
        for (index, value_type) in previous.sample_type.iter().enumerate() {
            let name = strings.get(value_type.r#type, "a sample type")?.to_owned();
            let value = sample.value.get(index).copied().unwrap_or(0);
            *out.entry(((frames.clone(), labels.clone()), name))
                .or_insert(0) += value;
        }
    }
    Ok(out)
}

/// The distinct stacks of a profile and which one each sample has.
struct Stacks {
    table: Arc<StackTable>,
    sample_stack: Vec<usize>,
}

impl Stacks {
    fn build(profile: &Profile, strings: &Strings<'_>) -> Result<Stacks, String> {
        let functions: HashMap<u64, &vispyr_proto::pprof::Function> =
            profile.function.iter().map(|f| (f.id, f)).collect();
        let mappings: HashMap<u64, &str> = profile
            .mapping
            .iter()
            .map(|m| Ok((m.id, strings.get(m.filename, "a mapping")?)))
            .collect::<Result<_, String>>()?;
        let mut table = StackTableBuilder::default();
        // Frame indexes of each location, innermost first (pprof order).
        let mut locations: HashMap<u64, Vec<u32>> = HashMap::with_capacity(profile.location.len());
        for location in &profile.location {
            let mapping = if location.mapping_id == 0 {
                ""
            } else {
                mappings.get(&location.mapping_id).copied().ok_or_else(|| {
                    format!(
                        "invalid pprof profile: location {} refers to mapping {}, which does not exist",
                        location.id, location.mapping_id
                    )
                })?
            };
            let mut frames = Vec::with_capacity(location.line.len().max(1));
            for line in &location.line {
                let function = functions.get(&line.function_id).ok_or_else(|| {
                    format!(
                        "invalid pprof profile: location {} refers to function {}, which does not exist",
                        location.id, line.function_id
                    )
                })?;
                frames.push(
                    table.frame(Frame {
                        function: strings.get(function.name, "a function name")?.to_owned(),
                        file: strings
                            .get(function.filename, "a function file name")?
                            .to_owned(),
                        line: line.line,
                        mapping: mapping.to_owned(),
                    }),
                );
            }
            if frames.is_empty() {
                // Not symbolized: the address is all there is.
                frames.push(table.frame(Frame {
                    function: format!("0x{:x}", location.address),
                    mapping: mapping.to_owned(),
                    ..Frame::default()
                }));
            }
            locations.insert(location.id, frames);
        }

        let mut index: HashMap<&[u64], usize> = HashMap::new();
        let mut sample_stack = Vec::with_capacity(profile.sample.len());
        for sample in &profile.sample {
            if let Some(&existing) = index.get(sample.location_id.as_slice()) {
                sample_stack.push(existing);
                continue;
            }
            let mut frames = Vec::with_capacity(sample.location_id.len());
            // pprof lists the leaf first; stacks are stored root first.
            for id in sample.location_id.iter().rev() {
                let location = locations.get(id).ok_or_else(|| {
                    format!("invalid pprof profile: a sample refers to location {id}, which does not exist")
                })?;
                frames.extend(location.iter().rev());
                if frames.len() > MAX_STACK_DEPTH {
                    return Err(format!(
                        "pprof profile has a stack deeper than {MAX_STACK_DEPTH} frames"
                    ));
                }
            }
            let stack = table.stack(frames);
            index.insert(sample.location_id.as_slice(), stack);
            sample_stack.push(stack);
        }
        Ok(Stacks {
            table: table.finish(),
            sample_stack,
        })
    }
}
