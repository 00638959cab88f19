//! `format=jfr` uploads of the Pyroscope Java agent: a JFR recording (async-profiler
//! output) in the `jfr` part and, optionally, the agent's label contexts in the
//! `labels` part (a `LabelsSnapshot`; events carry a context id pointing into it).
//!
//! Event kinds become Pyroscope profile types as the Pyroscope server names them:
//! execution samples are `process_cpu` (or `wall` when the agent profiled wall
//! time), allocations `memory:alloc_in_new_tlab_*` / `alloc_outside_tlab_*`, monitor
//! and park events `mutex` / `block`, live objects `memory:live`.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;
use vispyr_common::profile::{Frame, ProfileType};
use vispyr_jfr::{EventKind, Recording};
use vispyr_model::profiles::{NormalizedProfile, NormalizedSample, StackTableBuilder};
use vispyr_proto::pyroscope::LabelsSnapshot;

use super::ingest::IngestParams;

/// The profile types one event kind produces: `(type, value is the event's count)`
/// for every type.
fn types_of(kind: EventKind, hint: Option<&str>) -> Vec<(ProfileType, bool)> {
    let t = ProfileType::new;
    match kind {
        EventKind::ExecutionSample if hint == Some("wall") => {
            vec![(
                t("wall", "wall", "nanoseconds", "wall", "nanoseconds"),
                true,
            )]
        }
        EventKind::WallClockSample => {
            vec![(
                t("wall", "wall", "nanoseconds", "wall", "nanoseconds"),
                true,
            )]
        }
        EventKind::ExecutionSample | EventKind::NativeMethodSample => vec![(
            t("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"),
            true,
        )],
        EventKind::AllocationInNewTlab => vec![
            (
                t(
                    "memory",
                    "alloc_in_new_tlab_objects",
                    "count",
                    "space",
                    "bytes",
                ),
                true,
            ),
            (
                t(
                    "memory",
                    "alloc_in_new_tlab_bytes",
                    "bytes",
                    "space",
                    "bytes",
                ),
                false,
            ),
        ],
        EventKind::AllocationOutsideTlab => vec![
            (
                t(
                    "memory",
                    "alloc_outside_tlab_objects",
                    "count",
                    "space",
                    "bytes",
                ),
                true,
            ),
            (
                t(
                    "memory",
                    "alloc_outside_tlab_bytes",
                    "bytes",
                    "space",
                    "bytes",
                ),
                false,
            ),
        ],
        EventKind::AllocationSample => vec![
            (
                t("memory", "alloc_sample_objects", "count", "space", "bytes"),
                true,
            ),
            (
                t("memory", "alloc_sample_bytes", "bytes", "space", "bytes"),
                false,
            ),
        ],
        EventKind::JavaMonitorEnter => vec![
            (t("mutex", "contentions", "count", "mutex", "count"), true),
            (t("mutex", "delay", "nanoseconds", "mutex", "count"), false),
        ],
        EventKind::ThreadPark => vec![
            (t("block", "contentions", "count", "block", "count"), true),
            (t("block", "delay", "nanoseconds", "block", "count"), false),
        ],
        EventKind::LiveObject => vec![(t("memory", "live", "count", "objects", "count"), true)],
    }
}

/// Converts a JFR upload into profiles.
pub(super) fn convert(
    parts: &[(String, Bytes)],
    params: &IngestParams,
    limit: usize,
) -> Result<Vec<NormalizedProfile>, String> {
    let Some((_, jfr)) = parts.iter().find(|(name, _)| name == "jfr") else {
        return Err("JFR upload has no \"jfr\" part".into());
    };
    let jfr = if jfr.starts_with(&[0x1f, 0x8b]) {
        crate::otlp::gunzip_limited(jfr, limit).map_err(|e| e.to_string())?
    } else {
        jfr.clone()
    };
    let recording: Recording =
        vispyr_jfr::parse(&jfr).map_err(|e| format!("invalid JFR recording: {e}"))?;
    let contexts = match parts.iter().find(|(name, _)| name == "labels") {
        Some((_, labels)) if !labels.is_empty() => {
            let labels = if labels.starts_with(&[0x1f, 0x8b]) {
                crate::otlp::gunzip_limited(labels, limit).map_err(|e| e.to_string())?
            } else {
                labels.clone()
            };
            context_labels(
                &LabelsSnapshot::decode(labels)
                    .map_err(|e| format!("invalid JFR labels part: {e}"))?,
            )?
        }
        _ => HashMap::new(),
    };
    let period = 1_000_000_000 / i64::from(params.sample_rate.filter(|r| *r > 0).unwrap_or(100));
    let hint = params.app.profile.as_deref();

    let mut out = Vec::new();
    for set in &recording.event_sets {
        if set.samples.is_empty() {
            continue;
        }
        let mut table = StackTableBuilder::default();
        let mut refs = Vec::with_capacity(set.samples.len());
        for sample in &set.samples {
            let frames: Vec<u32> = sample
                .frames
                .iter()
                .map(|f| {
                    table.frame(Frame {
                        function: f.function_name(),
                        file: String::new(),
                        line: f.line,
                        mapping: String::new(),
                    })
                })
                .collect();
            refs.push(table.stack(frames));
        }
        let stacks = table.finish();
        for (profile_type, counts) in types_of(set.kind, hint) {
            let cpu_like = profile_type.sample_unit == "nanoseconds"
                && matches!(profile_type.name.as_str(), "process_cpu" | "wall");
            let samples = set
                .samples
                .iter()
                .zip(&refs)
                .map(|(sample, &stack)| {
                    let value = if cpu_like {
                        sample.count.saturating_mul(period)
                    } else if counts {
                        sample.count
                    } else {
                        sample.value
                    };
                    NormalizedSample {
                        stack,
                        value,
                        labels: contexts
                            .get(&sample.context_id)
                            .cloned()
                            .unwrap_or_default(),
                    }
                })
                .collect();
            out.push(NormalizedProfile {
                service_name: params.app.service_name.clone(),
                profile_type,
                labels: params.app.labels.clone(),
                timestamp: params.from,
                duration_ns: (params.until - params.from).max(0),
                stacks: std::sync::Arc::clone(&stacks),
                samples,
            });
        }
    }
    Ok(out)
}

/// Context id → its labels, resolved through the snapshot's string table.
fn context_labels(
    snapshot: &LabelsSnapshot,
) -> Result<HashMap<i64, Vec<(String, String)>>, String> {
    let string = |id: &i64| {
        snapshot
            .strings
            .get(id)
            .cloned()
            .ok_or_else(|| format!("invalid JFR labels part: string {id} is not defined"))
    };
    let mut out = HashMap::with_capacity(snapshot.contexts.len());
    for (id, context) in &snapshot.contexts {
        let mut labels = Vec::with_capacity(context.labels.len());
        for (key, value) in &context.labels {
            labels.push((string(key)?, string(value)?));
        }
        labels.sort();
        out.insert(*id, labels);
    }
    Ok(out)
}
