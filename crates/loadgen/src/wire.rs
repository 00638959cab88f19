//! Just enough of the protobuf wire format to find byte offsets inside an
//! encoded OTLP export request, so that pooled bodies can be patched in
//! place (see [`crate::pool`]). It reads; it never encodes.
//!
//! Every OTLP export request nests its records the same way:
//!
//! ```text
//! Export{Trace,Logs}ServiceRequest
//!   └─ resource_{spans,logs}  (field 1, repeated)
//!        └─ scope_{spans,logs} (field 2, repeated)
//!             └─ spans / log_records (field 2, repeated)
//! ```
//!
//! so [`records`] serves both signals.

use std::ops::Range;

use anyhow::{Result, bail, ensure};

/// Wire type of varint fields.
pub const VARINT: u8 = 0;
/// Wire type of `fixed64` fields.
pub const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (strings, bytes, messages).
pub const LEN: u8 = 2;
/// Wire type of `fixed32` fields.
pub const FIXED32: u8 = 5;

/// One field of an encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub number: u32,
    pub wire_type: u8,
    /// Where the value lies in the whole buffer: the payload of a
    /// length-delimited field (without its length), the bytes of any other.
    pub value: Range<usize>,
}

/// The fields of the message occupying `range` of `buf`, in order.
pub fn fields(buf: &[u8], range: Range<usize>) -> Result<Vec<Field>> {
    ensure!(range.end <= buf.len(), "message overruns its buffer");
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos < range.end {
        let (key, key_len) = read_varint(&buf[pos..range.end])?;
        pos += key_len;
        let number = u32::try_from(key >> 3)?;
        let wire_type = (key & 7) as u8;
        let value = match wire_type {
            VARINT => pos..pos + read_varint(&buf[pos..range.end])?.1,
            FIXED64 => pos..pos + 8,
            LEN => {
                let (len, len_len) = read_varint(&buf[pos..range.end])?;
                let start = pos + len_len;
                start..start + usize::try_from(len)?
            }
            FIXED32 => pos..pos + 4,
            other => bail!("unsupported wire type {other} in field {number}"),
        };
        ensure!(
            value.end <= range.end,
            "field {number} overruns its message"
        );
        pos = value.end;
        out.push(Field {
            number,
            wire_type,
            value,
        });
    }
    Ok(out)
}

/// Payloads of the length-delimited fields numbered `number` in the message
/// occupying `range` of `buf`.
pub fn messages(buf: &[u8], range: Range<usize>, number: u32) -> Result<Vec<Range<usize>>> {
    Ok(fields(buf, range)?
        .into_iter()
        .filter(|f| f.number == number && f.wire_type == LEN)
        .map(|f| f.value)
        .collect())
}

/// Byte ranges of the records (spans or log records) of an encoded OTLP
/// export request, in the order they were encoded.
pub fn records(encoded: &[u8]) -> Result<Vec<Range<usize>>> {
    let mut out = Vec::new();
    for resource in messages(encoded, 0..encoded.len(), 1)? {
        for scope in messages(encoded, resource, 2)? {
            out.extend(messages(encoded, scope, 2)?);
        }
    }
    Ok(out)
}

/// A varint at the start of `bytes` and its encoded length.
fn read_varint(bytes: &[u8]) -> Result<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    bail!("truncated varint")
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;

    #[test]
    fn finds_every_record_in_order() {
        let record = |t: u64| LogRecord {
            time_unix_nano: t,
            severity_number: 9,
            severity_text: "INFO".into(),
            ..Default::default()
        };
        let scope = |ts: &[u64]| ScopeLogs {
            log_records: ts.iter().map(|&t| record(t)).collect(),
            ..Default::default()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    scope_logs: vec![scope(&[1, 2]), scope(&[3])],
                    schema_url: "s".into(),
                    ..Default::default()
                },
                ResourceLogs {
                    scope_logs: vec![scope(&[4])],
                    ..Default::default()
                },
            ],
        };
        let encoded = request.encode_to_vec();
        let found = records(&encoded).expect("walks");
        let times: Vec<u64> = found
            .iter()
            .map(|r| {
                LogRecord::decode(&encoded[r.clone()])
                    .expect("record")
                    .time_unix_nano
            })
            .collect();
        assert_eq!(times, [1, 2, 3, 4]);

        let first = fields(&encoded, found[0].clone()).expect("fields");
        let kinds: Vec<(u32, u8)> = first.iter().map(|f| (f.number, f.wire_type)).collect();
        assert_eq!(kinds, [(1, FIXED64), (2, VARINT), (3, LEN)]);
        assert_eq!(&encoded[first[2].value.clone()], b"INFO");
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(fields(&[0x0A, 5, 1, 2], 0..4).is_err());
        assert!(fields(&[0x08, 0x80], 0..2).is_err());
        assert!(fields(&[0x08], 0..5).is_err());
    }
}
