//! Parquet segments: how rows are split, sorted and encoded.

use arrow::array::{Array, ArrayRef, StringArray, TimestampNanosecondArray, UInt32Array};
use arrow::compute::{SortColumn, interleave_record_batch, lexsort_to_indices};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use vispyr_common::{NANOS_PER_HOUR, Signal};
use vispyr_model::schema::{SERVICE_COLUMN, TIME_COLUMN};

use crate::StorageError;
use crate::catalog::{MAX_LISTED_SERVICES, SegmentMeta};
use crate::text_index;

/// Folder under the data dir that is the root of the local object store.
pub const SEGMENTS_DIR: &str = "segments";
/// Rows per Parquet row group: small enough for statistics to prune, large enough to
/// compress well.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The columns a signal's segments are sorted by, in order: its main access path.
pub fn sort_columns(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::Traces => &["service_name", "timestamp"],
        Signal::Logs => &["service_name", "timestamp"],
        Signal::Metrics => &["metric_name", "service_name", "timestamp"],
        Signal::Profiles => &["service_name", "profile_type", "timestamp"],
        Signal::ProfileStacks => &["service_name", "stack_id"],
    }
}

fn writer_properties(signal: Signal, rows: usize) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    // Sorted timestamps and durations delta-encode far better than a dictionary.
    for column in [
        "timestamp",
        "end_timestamp",
        "duration_ns",
        "observed_timestamp",
    ] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    // Random ids never repeat enough for a dictionary to pay.
    for column in ["span_id", "parent_span_id"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    if matches!(signal, Signal::Traces | Signal::Logs) {
        let distinct = (rows as u64).max(1);
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from("trace_id"), false)
            .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
            .set_column_bloom_filter_max_ndv(
                ColumnPath::from("trace_id"),
                distinct.min(ROW_GROUP_ROWS as u64),
            )
            .set_column_bloom_filter_fpp(ColumnPath::from("trace_id"), 0.01);
    }
    builder.build()
}

/// An encoded segment ready to be stored.
pub struct EncodedSegment {
    pub meta: SegmentMeta,
    pub bytes: Bytes,
}

/// Splits `batches` by hour, sorts each part and encodes it as Parquet.
pub fn encode_segments(
    signal: Signal,
    batches: &[RecordBatch],
    level: u32,
) -> Result<Vec<EncodedSegment>, StorageError> {
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    // Only the sort keys are concatenated; every other column is copied exactly once,
    // straight into its sorted place, by `interleave` (concat + take would copy the
    // nested attribute columns twice).
    let mut positions: Vec<(usize, usize)> = Vec::new();
    for (batch_index, batch) in batches.iter().enumerate() {
        positions.extend((0..batch.num_rows()).map(|row| (batch_index, row)));
    }
    let keys = sort_columns(signal)
        .iter()
        .map(|name| concat_column(&batches, name))
        .collect::<Result<Vec<ArrayRef>, StorageError>>()?;
    let times = concat_column(&batches, TIME_COLUMN)?;
    let times = times
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| StorageError::Catalog("timestamp column has the wrong type".into()))?;
    let mut by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (row, time) in times.values().iter().enumerate() {
        let partition = time.div_euclid(NANOS_PER_HOUR) * NANOS_PER_HOUR;
        by_hour.entry(partition).or_default().push(row as u32);
    }
    let mut segments = Vec::with_capacity(by_hour.len());
    for (partition, rows) in by_hour {
        let rows = UInt32Array::from(rows);
        let sort_keys = keys
            .iter()
            .map(|key| {
                Ok(SortColumn {
                    values: arrow::compute::take(key.as_ref(), &rows, None)?,
                    options: None,
                })
            })
            .collect::<Result<Vec<SortColumn>, StorageError>>()?;
        let order = lexsort_to_indices(&sort_keys, None)?;
        let sorted_positions: Vec<(usize, usize)> = order
            .values()
            .iter()
            .map(|index| positions[rows.value(*index as usize) as usize])
            .collect();
        let sorted = interleave_record_batch(&batches, &sorted_positions)?;
        segments.push(encode_one(signal, &sorted, partition, level)?);
    }
    Ok(segments)
}

fn concat_column(batches: &[&RecordBatch], name: &str) -> Result<ArrayRef, StorageError> {
    let mut arrays = Vec::with_capacity(batches.len());
    for batch in batches {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| StorageError::Catalog(format!("batch has no {name} column")))?;
        arrays.push(column.as_ref());
    }
    Ok(arrow::compute::concat(&arrays)?)
}

fn time_column(batch: &RecordBatch) -> Result<&TimestampNanosecondArray, StorageError> {
    batch
        .column_by_name(TIME_COLUMN)
        .and_then(|column| column.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| StorageError::Catalog("batch has no timestamp column".into()))
}

fn encode_one(
    signal: Signal,
    batch: &RecordBatch,
    partition: i64,
    level: u32,
) -> Result<EncodedSegment, StorageError> {
    let times = time_column(batch)?;
    let min_time = arrow::compute::min(times).unwrap_or(partition);
    let max_time = arrow::compute::max(times).unwrap_or(partition);
    let services = distinct_services(batch);

    let mut buffer = Vec::with_capacity(batch.get_array_memory_size() / 8);
    let properties = writer_properties(signal, batch.num_rows());
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    if signal == Signal::Logs
        && let Some(bodies) = batch
            .column_by_name("body")
            .and_then(|column| column.as_any().downcast_ref::<StringArray>())
    {
        let index = text_index::build(bodies.iter(), batch.num_rows(), ROW_GROUP_ROWS);
        writer.append_key_value_metadata(KeyValue::new(
            text_index::BODY_INDEX_KEY.to_string(),
            index,
        ));
    }
    writer.close()?;

    let id = uuid::Uuid::now_v7().to_string();
    let path = segment_path(signal, partition, &id);
    let meta = SegmentMeta {
        id,
        signal: signal.as_str().to_string(),
        path,
        min_time,
        max_time,
        rows: batch.num_rows() as u64,
        bytes: buffer.len() as u64,
        services,
        partition,
        level,
    };
    Ok(EncodedSegment {
        meta,
        bytes: Bytes::from(buffer),
    })
}

fn distinct_services(batch: &RecordBatch) -> Option<Vec<String>> {
    let column = batch.column_by_name(SERVICE_COLUMN)?;
    let strings = column.as_any().downcast_ref::<StringArray>()?;
    let mut services: Vec<String> = Vec::new();
    // Rows are sorted by service for traces and logs, so runs are long; a set keeps
    // metrics (sorted by name first) correct too.
    let mut seen = std::collections::BTreeSet::new();
    for value in strings.iter().flatten() {
        if seen.insert(value) && seen.len() > MAX_LISTED_SERVICES {
            return None;
        }
    }
    services.extend(seen.into_iter().map(str::to_string));
    Some(services)
}

/// `<signal>/<yyyy-mm-dd>/<hh>/<id>.parquet` for the hour starting at `partition`.
pub(crate) fn segment_path(signal: Signal, partition: i64, id: &str) -> String {
    let (date, hour) = civil_date_hour(partition);
    format!("{}/{date}/{hour:02}/{id}.parquet", signal.as_str())
}

/// UTC `yyyy-mm-dd` and hour of Unix nanoseconds (Howard Hinnant's civil-from-days).
fn civil_date_hour(nanos: i64) -> (String, i64) {
    let seconds = nanos.div_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let hour = seconds.rem_euclid(86_400) / 3_600;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), hour)
}

/// Decodes a whole segment.
pub(crate) fn decode_segment(bytes: Bytes) -> Result<Vec<RecordBatch>, StorageError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(64 * 1024)
        .build()?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_use_the_utc_hour() {
        // 2026-11-24T23:29:20Z
        let nanos = 1_795_562_960_000_000_000i64;
        let partition = nanos.div_euclid(NANOS_PER_HOUR) * NANOS_PER_HOUR;
        assert_eq!(
            segment_path(Signal::Traces, partition, "x"),
            "traces/2026-11-24/23/x.parquet"
        );
        assert_eq!(civil_date_hour(0), ("1970-01-01".to_string(), 0));
        assert_eq!(
            civil_date_hour(951_782_400 * 1_000_000_000),
            ("2000-02-29".to_string(), 0)
        );
    }
}
