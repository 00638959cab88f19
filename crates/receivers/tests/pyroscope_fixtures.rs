//! The Pyroscope receivers' decoders on requests captured from the real SDKs
//! (`testdata/pyroscope/`, see its README), and on random input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;
use vispyr_model::profiles::NormalizedProfile;
use vispyr_receivers::pyroscope::{folded, pprof};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/pyroscope")
        .join(name)
}

fn sidecar(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(testdata(name)).unwrap()).unwrap()
}

fn context(service: &str) -> pprof::PprofContext {
    pprof::PprofContext {
        service_name: service.into(),
        ..pprof::PprofContext::default()
    }
}

fn by_type(profiles: &[NormalizedProfile]) -> BTreeMap<String, &NormalizedProfile> {
    profiles.iter().map(|p| (p.profile_type.id(), p)).collect()
}

#[test]
fn node_wall_profile_matches_what_the_sdk_sent() {
    let expected = sidecar("node-wall.json");
    let bytes = std::fs::read(testdata("node-wall.pprof.gz")).unwrap();
    let profile = pprof::decode(&bytes, 16 << 20).unwrap();
    let profiles = pprof::normalize(&profile, None, &context("node")).unwrap();
    let types = by_type(&profiles);
    let wall = types["wall:wall:nanoseconds:wall:nanoseconds"];
    let samples = types["wall:samples:count:wall:nanoseconds"];
    assert_eq!(
        wall.total(),
        expected["decoded"]["totals"][1].as_i64().unwrap()
    );
    assert_eq!(
        samples.total(),
        expected["decoded"]["totals"][0].as_i64().unwrap()
    );
    assert_eq!(
        wall.timestamp,
        expected["decoded"]["time_nanos"].as_i64().unwrap()
    );
    // Dynamic labels arrive as sample labels.
    let hot: i64 = wall
        .samples
        .iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "route" && v == "/hot"))
        .map(|s| s.value)
        .sum();
    let expected_hot = expected["decoded"]["totals_by_sample_labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["route"] == "/hot")
        .unwrap()["totals"][1]
        .as_i64()
        .unwrap();
    assert_eq!(hot, expected_hot);
    // Stacks are root first: the leaf of the hot stacks is the hot function.
    let leaf_is_hot: i64 = wall
        .samples
        .iter()
        .filter(|s| {
            wall.stacks
                .frames_of(s.stack)
                .last()
                .unwrap()
                .function
                .contains(":burnCpuHot:")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(
        leaf_is_hot,
        expected["decoded"]["inclusive_totals_by_function"]["./profile.mjs:burnCpuHot:106"][1]
            .as_i64()
            .unwrap()
    );
}

#[test]
fn node_heap_profile_is_memory() {
    let bytes = std::fs::read(testdata("node-heap.pprof.gz")).unwrap();
    let profile = pprof::decode(&bytes, 16 << 20).unwrap();
    let profiles = pprof::normalize(&profile, None, &context("node")).unwrap();
    let expected = sidecar("node-heap.json");
    let totals = expected["decoded"]["totals"].as_array().unwrap();
    assert_eq!(profiles.len(), totals.len());
    for (profile, total) in profiles.iter().zip(totals) {
        assert_eq!(profile.profile_type.name, "memory");
        assert!(profile.profile_type.sample_type.starts_with("inuse_"));
        assert_eq!(profile.total(), total.as_i64().unwrap());
    }
}

#[test]
fn truncated_and_invalid_pprofs_are_errors() {
    let bytes = std::fs::read(testdata("node-wall.pprof.gz")).unwrap();
    let error = pprof::decode(&bytes[..bytes.len() - 10], 16 << 20).unwrap_err();
    assert!(error.contains("gzip"), "{error}");
    // Decodes, but names a string that does not exist.
    let mut profile = pprof::decode(&bytes, 16 << 20).unwrap();
    profile.sample_type[0].r#type = 10_000;
    let error = pprof::normalize(&profile, None, &context("x")).unwrap_err();
    assert!(error.contains("string 10000"), "{error}");
    let mut profile = pprof::decode(&bytes, 16 << 20).unwrap();
    profile.function[0].name = -1;
    assert!(pprof::normalize(&profile, None, &context("x")).is_err());
}

#[test]
fn cumulative_profiles_become_deltas() {
    use vispyr_proto::pprof::{Function, Line, Location, Profile, Sample, ValueType};
    let profile = |value: i64| Profile {
        sample_type: vec![
            ValueType { r#type: 1, unit: 2 },
            ValueType { r#type: 3, unit: 2 },
        ],
        sample: vec![Sample {
            location_id: vec![1],
            value: vec![value, 100],
            label: vec![],
        }],
        location: vec![Location {
            id: 1,
            line: vec![Line {
                function_id: 1,
                line: 3,
                column: 0,
            }],
            ..Location::default()
        }],
        function: vec![Function {
            id: 1,
            name: 4,
            ..Function::default()
        }],
        string_table: ["", "alloc_space", "bytes", "inuse_space", "malloc"]
            .map(String::from)
            .to_vec(),
        ..Profile::default()
    };
    let mut context = context("go");
    context.cumulative = vec!["alloc_space".into()];
    let profiles = pprof::normalize(&profile(1_500), Some(&profile(1_000)), &context).unwrap();
    let types = by_type(&profiles);
    assert_eq!(
        types["memory:alloc_space:bytes:alloc_space:bytes"].total(),
        500
    );
    // In-use is a snapshot: kept as it is.
    assert_eq!(
        types["memory:inuse_space:bytes:inuse_space:bytes"].total(),
        100
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pprof_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(profile) = pprof::decode(&bytes, 1 << 20) {
            let _ = pprof::normalize(&profile, None, &context("x"));
        }
    }

    #[test]
    fn mutated_fixture_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let bytes = std::fs::read(testdata("node-wall.pprof.gz")).unwrap();
        let profile = pprof::decode(&bytes, 16 << 20).unwrap();
        let mut raw = prost::Message::encode_to_vec(&profile);
        for (index, byte) in flips {
            let at = index.index(raw.len());
            raw[at] = byte;
        }
        if let Ok(profile) = pprof::decode(&raw, 1 << 20) {
            let _ = pprof::normalize(&profile, None, &context("x"));
        }
    }

    #[test]
    fn folded_parsing_conserves_counts(
        lines in proptest::collection::vec(("[a-c;]{0,12}", 0i64..1000), 0..20)
    ) {
        let text: String = lines.iter().map(|(stack, count)| format!("{stack} {count}\n")).collect();
        let stacks = folded::parse(text.as_bytes(), true).unwrap();
        let total: i64 = stacks.iter().map(|(_, v)| v).sum();
        prop_assert_eq!(total, lines.iter().map(|(_, c)| c).sum::<i64>());
    }

    #[test]
    fn folded_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = folded::parse(&bytes, true);
        let _ = folded::parse(&bytes, false);
    }
}
