//! Resolved stacks → a gzipped pprof, and the Pyroscope `/ingest` request
//! that carries it.
//!
//! One profile per service and process name per upload: sample type and
//! period type `cpu`/`nanoseconds` (the server files it as
//! `process_cpu:cpu:nanoseconds:cpu:nanoseconds`, like Pyroscope's eBPF
//! profiler), period `1e9 / frequency` ns, each sample's value the number of
//! times the stack was seen times the period. A location stands for one
//! function of one file (samples are not resolved below function level, so
//! addresses would only make the profile bigger); its function's `filename`
//! and its mapping's `filename` are the file, its mapping carries the build id.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use vispyr_proto::pprof::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};

use super::symbols::Frame;
use crate::outgoing::{Endpoint, Outgoing};

/// Builds one pprof from stacks.
pub struct ProfileBuilder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    mappings: Vec<Mapping>,
    mapping_ids: HashMap<(i64, i64), u64>,
    functions: Vec<Function>,
    locations: Vec<Location>,
    /// (name, mapping) string ids → location (= function) id.
    location_ids: HashMap<(i64, u64), u64>,
    samples: HashMap<Vec<u64>, i64>,
    period_ns: i64,
}

impl ProfileBuilder {
    pub fn new(frequency_hz: u64) -> ProfileBuilder {
        let mut builder = ProfileBuilder {
            strings: Vec::new(),
            string_ids: HashMap::new(),
            mappings: Vec::new(),
            mapping_ids: HashMap::new(),
            functions: Vec::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            samples: HashMap::new(),
            period_ns: period_ns(frequency_hz),
        };
        builder.string(""); // index 0 is the empty string
        builder
    }

    fn string(&mut self, text: &str) -> i64 {
        if let Some(&id) = self.string_ids.get(text) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(text.to_string());
        self.string_ids.insert(text.to_string(), id);
        id
    }

    fn location(&mut self, frame: &Frame) -> u64 {
        let file = self.string(&frame.mapping);
        let build_id = self.string(frame.build_id.as_deref().unwrap_or(""));
        let mapping_id = match self.mapping_ids.get(&(file, build_id)) {
            Some(&id) => id,
            None => {
                let id = self.mappings.len() as u64 + 1;
                self.mappings.push(Mapping {
                    id,
                    filename: file,
                    build_id,
                    has_functions: true,
                    ..Default::default()
                });
                self.mapping_ids.insert((file, build_id), id);
                id
            }
        };
        let name = self.string(&frame.name);
        if let Some(&id) = self.location_ids.get(&(name, mapping_id)) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        self.functions.push(Function {
            id,
            name,
            system_name: name,
            filename: file,
            start_line: 0,
        });
        self.locations.push(Location {
            id,
            mapping_id,
            address: 0,
            line: vec![Line {
                function_id: id,
                line: 0,
                column: 0,
            }],
            is_folded: false,
        });
        self.location_ids.insert((name, mapping_id), id);
        id
    }

    /// Adds a stack (leaf first) seen `count` times.
    pub fn add(&mut self, frames: &[Frame], count: u64) {
        if frames.is_empty() || count == 0 {
            return;
        }
        let ids: Vec<u64> = frames.iter().map(|frame| self.location(frame)).collect();
        let value = i64::try_from(count)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.period_ns);
        let total = self.samples.entry(ids).or_insert(0);
        *total = total.saturating_add(value);
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The profile of `[start_ns, start_ns + duration_ns)`.
    pub fn finish(mut self, start_ns: i64, duration_ns: i64) -> Profile {
        let cpu = self.string("cpu");
        let nanoseconds = self.string("nanoseconds");
        let value_type = ValueType {
            r#type: cpu,
            unit: nanoseconds,
        };
        let mut samples: Vec<Sample> = self
            .samples
            .into_iter()
            .map(|(location_id, value)| Sample {
                location_id,
                value: vec![value],
                label: Vec::<Label>::new(),
            })
            .collect();
        samples.sort_by(|a, b| a.location_id.cmp(&b.location_id));
        Profile {
            sample_type: vec![value_type],
            sample: samples,
            mapping: self.mappings,
            location: self.locations,
            function: self.functions,
            string_table: self.strings,
            time_nanos: start_ns,
            duration_nanos: duration_ns,
            period_type: Some(value_type),
            period: self.period_ns,
            ..Default::default()
        }
    }
}

/// Nanoseconds between samples at `frequency_hz`.
pub fn period_ns(frequency_hz: u64) -> i64 {
    (1_000_000_000 / frequency_hz.max(1)) as i64
}

/// Who a profile is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    pub service_name: String,
    pub process_name: String,
}

/// The `/ingest` request for one profile: `name=<service>.cpu{process_name=…}`
/// with times in Unix seconds, body the gzipped pprof.
pub fn ingest_request(
    series: &Series,
    profile: &Profile,
    frequency_hz: u64,
) -> std::io::Result<Outgoing> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&profile.encode_to_vec())?;
    let body = encoder.finish()?;
    let from = profile.time_nanos / 1_000_000_000;
    let until = (profile.time_nanos + profile.duration_nanos + 999_999_999) / 1_000_000_000;
    let name = format!(
        "{}.cpu{{process_name={}}}",
        name_safe(&series.service_name),
        name_safe(&series.process_name)
    );
    Ok(Outgoing {
        endpoint: Endpoint::Http,
        path_and_query: format!(
            "/ingest?name={}&from={from}&until={until}&spyName=vispyr-agent&sampleRate={frequency_hz}&format=pprof",
            percent_encode(&name)
        ),
        content_type: "application/octet-stream".to_string(),
        content_encoding: None,
        body,
    })
}

/// Replaces the characters that delimit the `name` parameter's parts
/// (`{`, `}`, `,`, `=`) and control characters; an empty name becomes `unknown`.
fn name_safe(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "unknown".to_string();
    }
    trimmed
        .chars()
        .map(|c| {
            if matches!(c, '{' | '}' | ',' | '=') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Percent-encoding of a query value: everything but RFC 3986's unreserved
/// characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use super::*;

    fn frame(name: &str, mapping: &str) -> Frame {
        Frame {
            name: name.into(),
            mapping: mapping.into(),
            build_id: (mapping == "/bin/app").then(|| Arc::from("abcd")),
        }
    }

    #[test]
    fn builds_a_pprof_the_server_understands() {
        let mut builder = ProfileBuilder::new(97);
        let leaf = frame("spin", "/bin/app");
        let main = frame("main", "/bin/app");
        let kernel = frame("do_syscall_64", "[kernel.kallsyms]");
        builder.add(&[leaf.clone(), main.clone()], 3);
        builder.add(&[kernel, leaf.clone(), main.clone()], 1);
        builder.add(&[leaf, main], 2);
        builder.add(&[], 5);
        let profile = builder.finish(1_700_000_000_000_000_000, 10_000_000_000);

        let period = 1_000_000_000 / 97;
        assert_eq!(profile.period, period);
        assert_eq!(profile.sample.len(), 2, "equal stacks merge");
        let values: Vec<i64> = profile.sample.iter().map(|s| s.value[0]).collect();
        assert!(values.contains(&(5 * period)) && values.contains(&period));
        assert_eq!(profile.function.len(), 3);
        assert_eq!(profile.mapping.len(), 2);
        let strings = &profile.string_table;
        assert_eq!(strings[0], "");
        let name_of = |location_id: u64| {
            let location = &profile.location[location_id as usize - 1];
            let function = &profile.function[location.line[0].function_id as usize - 1];
            strings[function.name as usize].as_str()
        };
        let deep = profile
            .sample
            .iter()
            .find(|s| s.location_id.len() == 3)
            .unwrap();
        assert_eq!(
            deep.location_id
                .iter()
                .map(|&id| name_of(id))
                .collect::<Vec<_>>(),
            ["do_syscall_64", "spin", "main"]
        );
        let app = profile
            .mapping
            .iter()
            .find(|m| strings[m.filename as usize] == "/bin/app")
            .unwrap();
        assert_eq!(strings[app.build_id as usize], "abcd");
        let sample_type = profile.sample_type[0];
        assert_eq!(strings[sample_type.r#type as usize], "cpu");
        assert_eq!(strings[sample_type.unit as usize], "nanoseconds");
    }

    #[test]
    fn ingest_request_is_a_gzipped_pprof_with_an_encoded_name() {
        let mut builder = ProfileBuilder::new(100);
        builder.add(&[frame("f", "/bin/app")], 1);
        let profile = builder.finish(1_700_000_000_500_000_000, 10_000_000_000);
        let series = Series {
            service_name: "shop api{x}".into(),
            process_name: "node".into(),
        };
        let request = ingest_request(&series, &profile, 100).unwrap();
        assert_eq!(request.endpoint, Endpoint::Http);
        assert_eq!(
            request.path_and_query,
            "/ingest?name=shop%20api_x_.cpu%7Bprocess_name%3Dnode%7D&from=1700000000&until=1700000011&spyName=vispyr-agent&sampleRate=100&format=pprof"
        );
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(Profile::decode(&raw[..]).unwrap(), profile);
        assert_eq!(name_safe(" \n"), "unknown");
    }
}
