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
    let segments = vispyr_storage::encode_segments(Signal::Traces, &batches, 0).unwrap();
    let mut by_column: std::collections::BTreeMap<String, i64> = Default::default();
    for segment in &segments {
        let reader =
            parquet::file::reader::SerializedFileReader::new(segment.bytes.clone()).unwrap();
        use parquet::file::reader::FileReader;
        for row_group in reader.metadata().row_groups() {
            for column in row_group.columns() {
                let top = column.column_path().parts()[0].clone();
                *by_column.entry(top).or_default() += column.compressed_size();
            }
        }
    }
    let mut columns: Vec<_> = by_column.into_iter().collect();
    columns.sort_by_key(|(_, bytes)| -bytes);
    for (column, bytes) in columns {
        println!("  {column:<26} {:>6.1} B/row", bytes as f64 / rows as f64);
    }
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
