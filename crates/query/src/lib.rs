//! Queries: a DataFusion session whose tables (`spans`, `logs`, `metric_points`) read
//! memtables and Parquet segments of the storage engine, and the SQL entry point with
//! its row limit, timeout and JSON rendering.
//!
//! ```text
//!  SQL ─▶ DataFusion planner ─▶ SignalTable::scan
//!                                 ├─ catalog pruning (time range, service) ─▶ Parquet scan
//!                                 │     (row-group statistics, bloom filter on trace_id)
//!                                 └─ memtable batches ───────────────────────▶ memory scan
//! ```
//!
//! This crate does not own storage; it reads [`vispyr_storage::Snapshot`]s.

mod json;
pub mod logql;
pub mod logs;
mod metrics;
pub mod profiles;
mod pruning;
mod sql;
mod sqltext;
mod table;
pub mod textsearch;
pub mod traces;

pub use json::batches_to_rows;
pub use metrics::{LabelSet, MetricQueries};
pub use sql::{QueryEngine, QueryError, SqlResult};
pub use table::SignalTable;
