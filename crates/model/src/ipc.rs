//! Arrow IPC framing for batches that have no wire format of their own (profiles are
//! normalised from several formats), used as their WAL payload.

use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

/// Encodes `batch` as an Arrow IPC stream.
pub fn encode(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 2);
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema()).expect("valid schema");
    writer.write(batch).expect("in-memory write");
    writer.finish().expect("in-memory write");
    drop(writer);
    out
}

/// Decodes a stream written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<RecordBatch, ArrowError> {
    let mut reader = StreamReader::try_new(bytes, None)?;
    match reader.next() {
        Some(batch) => batch,
        None => Ok(RecordBatch::new_empty(reader.schema())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn round_trips() {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("v", arrow::datatypes::DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let bytes = encode(&batch);
        assert_eq!(decode(&bytes).unwrap(), batch);
        // The WAL decoder tells IPC from protobuf payloads by this marker.
        assert!(bytes.starts_with(&[0xff; 4]));
        assert!(decode(b"garbage").is_err());
    }
}
