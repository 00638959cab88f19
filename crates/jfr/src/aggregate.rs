//! Merging of samples across events and chunks.
//!
//! Frames, stacks and thread names are interned so that each event costs one
//! hash of a small fixed-size key, however deep its stack; frame vectors are
//! only materialised once per merged sample, in [`Aggregator::finish`].

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::JfrError;
use crate::{EventKind, EventSet, JfrFrame, StackSample};

/// Output frames always allowed, whatever the input size.
const MIN_OUTPUT_FRAMES: usize = 4_000_000;
/// Output frames allowed per input byte beyond [`MIN_OUTPUT_FRAMES`].
const OUTPUT_FRAMES_PER_INPUT_BYTE: usize = 16;

/// Assigns dense ids to distinct values.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    ids: HashMap<T, u32>,
    values: Vec<T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub(crate) fn intern(&mut self, value: T) -> Result<u32, JfrError> {
        if let Some(&id) = self.ids.get(&value) {
            return Ok(id);
        }
        let Ok(id) = u32::try_from(self.values.len()) else {
            return Err(JfrError::LimitExceeded {
                what: "more than 2^32 distinct frames, stacks or threads".to_owned(),
            });
        };
        self.ids.insert(value.clone(), id);
        self.values.push(value);
        Ok(id)
    }

    pub(crate) fn get(&self, id: u32) -> &T {
        // Ids only come from `intern` on this interner.
        &self.values[id as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SampleKey {
    kind: EventKind,
    stack: u32,
    context_id: i64,
    thread: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Totals {
    value: i64,
    count: i64,
    start_ticks: i64,
    start_time_nanos: i64,
}

impl Totals {
    fn absorb(&mut self, other: Totals) {
        self.value = self.value.saturating_add(other.value);
        self.count = self.count.saturating_add(other.count);
        if other.start_time_nanos < self.start_time_nanos {
            self.start_ticks = other.start_ticks;
            self.start_time_nanos = other.start_time_nanos;
        }
    }
}

/// One event's contribution, before merging.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleInput {
    pub(crate) kind: EventKind,
    pub(crate) stack: u32,
    pub(crate) context_id: i64,
    pub(crate) thread: Option<u32>,
    pub(crate) value: i64,
    pub(crate) count: i64,
    pub(crate) start_ticks: i64,
    pub(crate) start_time_nanos: i64,
}

/// Collects samples of a whole recording.
#[derive(Debug)]
pub(crate) struct Aggregator {
    pub(crate) frames: Interner<JfrFrame>,
    /// Stacks as frame ids, root first.
    pub(crate) stacks: Interner<Box<[u32]>>,
    pub(crate) threads: Interner<Box<str>>,
    /// Set when async-profiler says its execution samples are wall-clock samples.
    pub(crate) wall_mode: bool,
    /// Distinct constant pool references that had no entry (read as null).
    pub(crate) dangling_references: u64,
    /// Events of a mapped kind dropped for lack of a stack trace.
    pub(crate) events_without_stack: u64,
    index: HashMap<SampleKey, usize>,
    entries: Vec<(SampleKey, Totals)>,
    max_output_frames: usize,
}

impl Aggregator {
    /// An empty aggregator for an input of `input_len` bytes.
    pub(crate) fn new(input_len: usize) -> Self {
        Self {
            frames: Interner::default(),
            stacks: Interner::default(),
            threads: Interner::default(),
            wall_mode: false,
            dangling_references: 0,
            events_without_stack: 0,
            index: HashMap::new(),
            entries: Vec::new(),
            max_output_frames: MIN_OUTPUT_FRAMES
                .saturating_add(input_len.saturating_mul(OUTPUT_FRAMES_PER_INPUT_BYTE)),
        }
    }

    pub(crate) fn add(&mut self, sample: SampleInput) {
        let key = SampleKey {
            kind: sample.kind,
            stack: sample.stack,
            context_id: sample.context_id,
            thread: sample.thread,
        };
        let totals = Totals {
            value: sample.value,
            count: sample.count,
            start_ticks: sample.start_ticks,
            start_time_nanos: sample.start_time_nanos,
        };
        merge_into(&mut self.index, &mut self.entries, key, totals);
    }

    /// Resolves wall mode, materialises frames and groups samples by kind.
    pub(crate) fn finish(self) -> Result<Vec<EventSet>, JfrError> {
        let mut index = HashMap::with_capacity(self.entries.len());
        let mut entries = Vec::with_capacity(self.entries.len());
        for (mut key, totals) in self.entries {
            if self.wall_mode && key.kind == EventKind::ExecutionSample {
                key.kind = EventKind::WallClockSample;
            }
            merge_into(&mut index, &mut entries, key, totals);
        }

        let mut output_frames: usize = 0;
        for (key, _) in &entries {
            output_frames = output_frames.saturating_add(self.stacks.get(key.stack).len());
        }
        if output_frames > self.max_output_frames {
            return Err(JfrError::LimitExceeded {
                what: format!(
                    "{output_frames} output frames, more than the {} allowed for this input",
                    self.max_output_frames
                ),
            });
        }

        let mut sets: Vec<EventSet> = Vec::new();
        // Stable sort keeps first-occurrence order within a kind.
        entries.sort_by_key(|(key, _)| key.kind);
        for (key, totals) in entries {
            let frames = self
                .stacks
                .get(key.stack)
                .iter()
                .map(|&frame| self.frames.get(frame).clone())
                .collect();
            let sample = StackSample {
                frames,
                value: totals.value,
                count: totals.count,
                context_id: key.context_id,
                thread: key.thread.map(|id| self.threads.get(id).to_string()),
                start_ticks: totals.start_ticks,
                start_time_nanos: totals.start_time_nanos,
            };
            match sets.last_mut() {
                Some(set) if set.kind == key.kind => set.samples.push(sample),
                _ => sets.push(EventSet {
                    kind: key.kind,
                    samples: vec![sample],
                }),
            }
        }
        Ok(sets)
    }
}

fn merge_into(
    index: &mut HashMap<SampleKey, usize>,
    entries: &mut Vec<(SampleKey, Totals)>,
    key: SampleKey,
    totals: Totals,
) {
    match index.get(&key) {
        Some(&position) => entries[position].1.absorb(totals),
        None => {
            index.insert(key, entries.len());
            entries.push((key, totals));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: EventKind, stack: u32, value: i64, start: i64) -> SampleInput {
        SampleInput {
            kind,
            stack,
            context_id: 0,
            thread: None,
            value,
            count: 1,
            start_ticks: start,
            start_time_nanos: start,
        }
    }

    #[test]
    fn equal_keys_merge_and_keep_earliest_start() {
        let mut aggregator = Aggregator::new(0);
        let stack = aggregator.stacks.intern(Box::new([])).unwrap();
        aggregator.add(input(EventKind::AllocationSample, stack, 10, 5));
        aggregator.add(input(EventKind::AllocationSample, stack, 32, 3));
        let sets = aggregator.finish().unwrap();
        assert_eq!(sets.len(), 1);
        let sample = &sets[0].samples[0];
        assert_eq!((sample.value, sample.count, sample.start_ticks), (42, 2, 3));
    }

    #[test]
    fn wall_mode_relabels_execution_samples_and_merges_them() {
        let mut aggregator = Aggregator::new(0);
        let stack = aggregator.stacks.intern(Box::new([])).unwrap();
        aggregator.add(input(EventKind::ExecutionSample, stack, 1, 1));
        aggregator.add(input(EventKind::WallClockSample, stack, 3, 2));
        aggregator.wall_mode = true;
        let sets = aggregator.finish().unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].kind, EventKind::WallClockSample);
        assert_eq!(sets[0].samples[0].value, 4);
    }

    #[test]
    fn sets_follow_kind_order() {
        let mut aggregator = Aggregator::new(0);
        let stack = aggregator.stacks.intern(Box::new([])).unwrap();
        aggregator.add(input(EventKind::ThreadPark, stack, 1, 1));
        aggregator.add(input(EventKind::ExecutionSample, stack, 1, 1));
        let kinds: Vec<_> = aggregator
            .finish()
            .unwrap()
            .iter()
            .map(|set| set.kind)
            .collect();
        assert_eq!(kinds, [EventKind::ExecutionSample, EventKind::ThreadPark]);
    }
}
