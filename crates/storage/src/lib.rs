//! The storage engine: write-ahead log, memtables, Parquet segments, catalog,
//! compaction and retention.
//!
//! ```text
//!  write(signal, request bytes, rows)
//!     │  memory bound checked (429 past it)
//!     ▼
//!  WAL thread ── group commit: append records, one fsync, then ──▶ active memtable
//!     │                                                              │ by size / age
//!     │ rotate: new WAL file, memtable frozen ◀──────────────────────┘
//!     ▼
//!  flush: sort, split by hour, zstd Parquet ──▶ object_store  <signal>/<yyyy-mm-dd>/<hh>/<id>.parquet
//!     │
//!     ▼
//!  catalog.json (atomic rename): segments + highest flushed WAL file ──▶ old WAL files deleted
//! ```
//!
//! A write is acknowledged only after its WAL record is on disk (unless `wal_fsync`
//! is off). On start the WAL files newer than the catalog's flushed mark are replayed;
//! a torn or corrupt tail record is detected by its checksum and dropped, so nothing
//! acknowledged is lost and nothing is applied twice.
//!
//! This crate does not parse protocols and does not run queries: it hands
//! [`Snapshot`]s (memtable batches + segment list) to the query layer.

mod catalog;
mod engine;
mod error;
mod memtable;
mod segment;
pub mod text_index;
mod wal;

pub use catalog::{Catalog, SegmentMeta};
pub use engine::{Decoder, Snapshot, Storage, WriteRequest, otlp_decoder};
pub use error::StorageError;
pub use segment::{EncodedSegment, SEGMENTS_DIR, encode_segments, sort_columns};
