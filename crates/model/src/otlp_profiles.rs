//! OTLP profiles (`v1development`, dictionary format) → [`NormalizedProfile`]s.
//!
//! The request's dictionary holds every string, function, location, mapping, stack,
//! link and attribute; profiles refer to them by index. A profile whose indices do
//! not resolve is rejected (OTLP partial success) and the rest are kept.

use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::profiles::v1development::{Profile, ProfilesDictionary};
use vispyr_common::profile::Frame;

use crate::profiles::{NormalizedProfile, NormalizedSample, StackTableBuilder, profile_type_of};
use crate::{Rejections, any_value_to_string, service_name_of};

/// Deepest stack accepted, in frames.
const MAX_STACK_DEPTH: usize = 4096;

/// Profiles of one request, with the partial-success accounting.
#[derive(Debug, Default)]
pub struct ConvertedProfiles {
    pub profiles: Vec<NormalizedProfile>,
    pub rejected: u64,
    pub first_error: Option<String>,
}

/// Converts an OTLP profiles export request.
pub fn convert_otlp_profiles(request: &ExportProfilesServiceRequest) -> ConvertedProfiles {
    let empty = ProfilesDictionary::default();
    let dictionary = request.dictionary.as_ref().unwrap_or(&empty);
    let mut rejections = Rejections::default();
    let mut out = Vec::new();
    for resource_profiles in &request.resource_profiles {
        let service_name = service_name_of(resource_profiles.resource.as_ref());
        for scope in &resource_profiles.scope_profiles {
            for profile in &scope.profiles {
                match convert_profile(dictionary, profile, &service_name) {
                    Ok(converted) => out.push(converted),
                    Err(message) => rejections.reject(|| message),
                }
            }
        }
    }
    ConvertedProfiles {
        profiles: out,
        rejected: rejections.count,
        first_error: rejections.first,
    }
}

fn get<'a, T>(table: &'a [T], index: i32, what: &str) -> Result<&'a T, String> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .ok_or_else(|| {
            format!(
                "{what} index {index} is out of range (the dictionary has {} entries)",
                table.len()
            )
        })
}

fn string<'a>(
    dictionary: &'a ProfilesDictionary,
    index: i32,
    what: &str,
) -> Result<&'a str, String> {
    get(&dictionary.string_table, index, what).map(String::as_str)
}

fn attribute(dictionary: &ProfilesDictionary, index: i32) -> Result<(String, String), String> {
    let attribute = get(&dictionary.attribute_table, index, "attribute")?;
    let key = string(dictionary, attribute.key_strindex, "attribute key")?.to_owned();
    let (value, _) = any_value_to_string(attribute.value.as_ref());
    Ok((key, value))
}

fn convert_profile(
    dictionary: &ProfilesDictionary,
    profile: &Profile,
    service_name: &str,
) -> Result<NormalizedProfile, String> {
    let sample_type = profile
        .sample_type
        .as_ref()
        .ok_or("profile has no sample_type")?;
    let sample = (
        string(dictionary, sample_type.type_strindex, "sample type")?,
        string(dictionary, sample_type.unit_strindex, "sample unit")?,
    );
    let period = match &profile.period_type {
        Some(period) => (
            string(dictionary, period.type_strindex, "period type")?,
            string(dictionary, period.unit_strindex, "period unit")?,
        ),
        None => ("", ""),
    };
    let labels = profile
        .attribute_indices
        .iter()
        .map(|&i| attribute(dictionary, i))
        .collect::<Result<Vec<_>, _>>()?;
    let name_hint = labels
        .iter()
        .find(|(k, _)| k == "pyroscope.profile.name" || k == "profile.name")
        .map(|(_, v)| v.as_str());
    let profile_type = profile_type_of(sample, period, &[sample.0], name_hint);

    let mut normalized = NormalizedProfile {
        service_name: service_name.to_owned(),
        profile_type,
        labels: labels.clone(),
        timestamp: i64::try_from(profile.time_unix_nano).unwrap_or(i64::MAX),
        duration_ns: i64::try_from(profile.duration_nano).unwrap_or(i64::MAX),
        stacks: Default::default(),
        samples: Vec::with_capacity(profile.samples.len()),
    };
    let mut table = StackTableBuilder::default();
    let mut stack_of: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
    for sample in &profile.samples {
        let value = if sample.values.is_empty() {
            i64::try_from(sample.timestamps_unix_nano.len()).unwrap_or(i64::MAX)
        } else {
            sample
                .values
                .iter()
                .fold(0i64, |sum, v| sum.saturating_add(*v))
        };
        let stack = match stack_of.get(&sample.stack_index) {
            Some(&stack) => stack,
            None => {
                let frames = stack_frames(dictionary, sample.stack_index)?;
                let frames = frames.into_iter().map(|f| table.frame(f)).collect();
                let stack = table.stack(frames);
                stack_of.insert(sample.stack_index, stack);
                stack
            }
        };
        let mut sample_labels = sample
            .attribute_indices
            .iter()
            .map(|&i| attribute(dictionary, i))
            .collect::<Result<Vec<_>, _>>()?;
        if sample.link_index > 0 {
            let link = get(&dictionary.link_table, sample.link_index, "link")?;
            if !link.span_id.is_empty() {
                sample_labels.push(("span_id".into(), vispyr_common::to_hex(&link.span_id)));
            }
        }
        normalized.samples.push(NormalizedSample {
            stack,
            value,
            labels: sample_labels,
        });
    }
    normalized.stacks = table.finish();
    Ok(normalized)
}

/// Frames of a stack, root first.
fn stack_frames(dictionary: &ProfilesDictionary, index: i32) -> Result<Vec<Frame>, String> {
    let stack = get(&dictionary.stack_table, index, "stack")?;
    let mut frames = Vec::with_capacity(stack.location_indices.len());
    // Locations are listed leaf first, and a location's lines innermost first.
    for &location_index in stack.location_indices.iter().rev() {
        let location = get(&dictionary.location_table, location_index, "location")?;
        let mapping = if location.mapping_index > 0 {
            let mapping = get(&dictionary.mapping_table, location.mapping_index, "mapping")?;
            string(dictionary, mapping.filename_strindex, "mapping file name")?
        } else {
            ""
        };
        if location.lines.is_empty() {
            frames.push(Frame {
                function: format!("0x{:x}", location.address),
                mapping: mapping.to_owned(),
                ..Frame::default()
            });
        }
        for line in location.lines.iter().rev() {
            let function = get(&dictionary.function_table, line.function_index, "function")?;
            frames.push(Frame {
                function: string(dictionary, function.name_strindex, "function name")?.to_owned(),
                file: string(dictionary, function.filename_strindex, "function file name")?
                    .to_owned(),
                line: line.line,
                mapping: mapping.to_owned(),
            });
        }
        if frames.len() > MAX_STACK_DEPTH {
            return Err(format!(
                "stack {index} is deeper than {MAX_STACK_DEPTH} frames"
            ));
        }
    }
    Ok(frames)
}
