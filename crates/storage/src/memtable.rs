//! In-memory rows not yet in a segment.

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use vispyr_common::Signal;

/// Rows of every signal received since the last rotation.
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    batches: [Vec<RecordBatch>; Signal::ALL.len()],
    pub bytes: usize,
    pub rows: usize,
    pub first_write: Option<Instant>,
    /// WAL files at or below this number hold only rows of this memtable or older ones.
    pub sealed_wal_seq: u64,
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
        Signal::ProfileStacks => 4,
    }
}

impl Memtable {
    pub fn push(&mut self, signal: Signal, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        self.bytes += batch.get_array_memory_size();
        self.rows += batch.num_rows();
        self.first_write.get_or_insert_with(Instant::now);
        self.batches[index(signal)].push(batch);
    }

    pub fn batches(&self, signal: Signal) -> &[RecordBatch] {
        &self.batches[index(signal)]
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}
