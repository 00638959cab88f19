//! The write-ahead log: numbered files of length-prefixed, checksummed records.
//!
//! ```text
//! file   := "VSPYRWAL" version:u32le record*
//! record := len:u32le crc32c:u32le kind:u8 received_at:i64le payload[len]
//!           (crc32c covers kind, received_at and payload)
//! ```
//!
//! Files are named `<seq:020>.wal`; a new file is started at every memtable rotation
//! and at every start, so old files are never appended to again and can be deleted
//! once their records are in segments.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use vispyr_common::Signal;

use crate::StorageError;

const MAGIC: &[u8; 8] = b"VSPYRWAL";
const VERSION: u32 = 1;
const HEADER_LEN: usize = MAGIC.len() + 4;
const RECORD_HEADER_LEN: usize = 4 + 4 + 1 + 8;
/// Records larger than this are treated as corruption on replay.
const MAX_RECORD_LEN: usize = 1 << 30;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalRecord {
    pub signal: Signal,
    pub received_at: i64,
    pub payload: Vec<u8>,
}

/// What replaying one file found.
#[derive(Debug)]
pub(crate) struct ReadOutcome {
    pub records: Vec<WalRecord>,
    /// Bytes at the end of the file that did not form a valid record.
    pub dropped_tail_bytes: usize,
}

pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

/// WAL files in `dir`, sorted by sequence number.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StorageError::io(format!("read {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("read wal dir entry", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            files.push((seq, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Appends `record` in its on-disk form to `out`.
pub(crate) fn encode_record(signal: Signal, received_at: i64, payload: &[u8], out: &mut Vec<u8>) {
    let kind = signal.tag();
    let received = received_at.to_le_bytes();
    let mut crc = crc32c::crc32c(&[kind]);
    crc = crc32c::crc32c_append(crc, &received);
    crc = crc32c::crc32c_append(crc, payload);
    let len = u32::try_from(payload.len()).expect("payload checked against the body limit");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&received);
    out.extend_from_slice(payload);
}

/// Decodes every valid record of a file's bytes, stopping at the first torn or
/// corrupt one.
pub(crate) fn decode_file(bytes: &[u8]) -> Result<ReadOutcome, StorageError> {
    if bytes.len() < HEADER_LEN {
        // A crash while creating the file: it holds nothing acknowledged.
        return Ok(ReadOutcome {
            records: Vec::new(),
            dropped_tail_bytes: bytes.len(),
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(StorageError::Replay(
            "not a vispyr WAL file (bad magic)".into(),
        ));
    }
    let version = u32::from_le_bytes(bytes[MAGIC.len()..HEADER_LEN].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(StorageError::Replay(format!(
            "unsupported WAL version {version}"
        )));
    }
    let mut records = Vec::new();
    let mut position = HEADER_LEN;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let Some(record) = decode_record(rest) else {
            return Ok(ReadOutcome {
                records,
                dropped_tail_bytes: rest.len(),
            });
        };
        position += RECORD_HEADER_LEN + record.payload.len();
        records.push(record);
    }
    Ok(ReadOutcome {
        records,
        dropped_tail_bytes: 0,
    })
}

fn decode_record(bytes: &[u8]) -> Option<WalRecord> {
    if bytes.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    if len > MAX_RECORD_LEN || bytes.len() < RECORD_HEADER_LEN + len {
        return None;
    }
    let body = &bytes[8..RECORD_HEADER_LEN + len];
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let signal = Signal::from_tag(body[0])?;
    let received_at = i64::from_le_bytes(body[1..9].try_into().ok()?);
    Some(WalRecord {
        signal,
        received_at,
        payload: body[9..].to_vec(),
    })
}

/// The WAL file being appended to.
pub(crate) struct WalFile {
    file: File,
    pub seq: u64,
    len: u64,
    fsync: bool,
}

impl WalFile {
    /// Creates file `seq` in `dir` with its header, durably.
    pub fn create(dir: &Path, seq: u64, fsync: bool) -> Result<WalFile, StorageError> {
        let path = dir.join(file_name(seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| StorageError::io(format!("create {}", path.display()), e))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        file.write_all(&header)
            .map_err(|e| StorageError::io("write wal header", e))?;
        if fsync {
            file.sync_all()
                .map_err(|e| StorageError::io("fsync wal", e))?;
            sync_dir(dir)?;
        }
        Ok(WalFile {
            file,
            seq,
            len: HEADER_LEN as u64,
            fsync,
        })
    }

    /// Writes `bytes` (whole records) and makes them durable. On failure the file is cut
    /// back to its previous length so no partial record stays behind.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        let result = self.file.write_all(bytes).and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                let _ = self.file.set_len(self.len);
                Err(StorageError::io("append to wal", error))
            }
        }
    }
}

/// fsyncs a directory so a created or renamed entry survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| StorageError::io(format!("fsync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(records: &[(Signal, i64, &[u8])]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        for (signal, at, payload) in records {
            encode_record(*signal, *at, payload, &mut bytes);
        }
        bytes
    }

    #[test]
    fn records_round_trip() {
        let bytes = file_with(&[(Signal::Traces, 7, b"abc"), (Signal::Logs, -1, b"")]);
        let outcome = decode_file(&bytes).unwrap();
        assert_eq!(outcome.dropped_tail_bytes, 0);
        assert_eq!(outcome.records.len(), 2);
        assert_eq!(outcome.records[0].payload, b"abc");
        assert_eq!(outcome.records[0].received_at, 7);
        assert_eq!(outcome.records[1].signal, Signal::Logs);
    }

    #[test]
    fn every_torn_tail_keeps_the_records_before_it() {
        let whole = file_with(&[
            (Signal::Traces, 1, b"first"),
            (Signal::Metrics, 2, b"second"),
        ]);
        let first_end = HEADER_LEN + RECORD_HEADER_LEN + 5;
        for cut in first_end..whole.len() {
            let outcome = decode_file(&whole[..cut]).unwrap();
            assert_eq!(outcome.records.len(), 1, "cut at {cut}");
            assert_eq!(outcome.dropped_tail_bytes, cut - first_end);
        }
    }

    #[test]
    fn a_flipped_bit_stops_replay_at_that_record() {
        let mut bytes = file_with(&[
            (Signal::Traces, 1, b"first"),
            (Signal::Metrics, 2, b"second"),
        ]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let outcome = decode_file(&bytes).unwrap();
        assert_eq!(outcome.records.len(), 1);
        assert!(outcome.dropped_tail_bytes > 0);
    }

    #[test]
    fn bad_magic_is_an_error() {
        assert!(decode_file(b"NOTAWAL!\x01\x00\x00\x00").is_err());
    }
}
