//! Times the stages of a memtable flush on realistic spans.
//!
//! ```sh
//! cargo run --release -p vispyr-loadgen -- spans-file --out /tmp/spans.bin --spans 100000
//! cargo run --release -p vispyr-storage --example flush_profile -- /tmp/spans.bin
//! ```

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use vispyr_common::Signal;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: flush_profile SPANS_FILE");
    let bytes = std::fs::read(&path).expect("read spans file");
    let mut requests = Vec::new();
    let mut position = 0;
    while position + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[position..position + 4].try_into().unwrap()) as usize;
        position += 4;
        requests.push(ExportTraceServiceRequest::decode(&bytes[position..position + len]).unwrap());
        position += len;
    }
    let started = Instant::now();
    let batches: Vec<_> = requests
        .iter()
        .map(|request| vispyr_model::convert_traces(request).batch)
        .collect();
    let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
    let convert = started.elapsed();
    let memory: usize = batches
        .iter()
        .map(|batch| batch.get_array_memory_size())
        .sum();
    for _ in 0..3 {
        let started = Instant::now();
        let segments = vispyr_storage::encode_segments(Signal::Traces, &batches, 0).unwrap();
        let encode = started.elapsed();
        let size: u64 = segments.iter().map(|segment| segment.meta.bytes).sum();
        println!(
            "{rows} rows, {:.0} B/row in memory: convert {:.0} rows/s, flush {:.0} rows/s, {:.1} B/row on disk",
            memory as f64 / rows as f64,
            rows as f64 / convert.as_secs_f64(),
            rows as f64 / encode.as_secs_f64(),
            size as f64 / rows as f64
        );
    }
}
