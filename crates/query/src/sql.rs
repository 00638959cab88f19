//! The SQL entry point.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};
use vispyr_common::Signal;
use vispyr_storage::Storage;

use crate::json::batches_to_rows;
use crate::table::{SEGMENTS_URL, SignalTable};

/// Errors of a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query is wrong: syntax, unknown table or column, type mismatch.
    #[error("{0}")]
    Invalid(String),
    /// The query ran longer than the configured timeout.
    #[error("query exceeded the timeout of {0:?}")]
    Timeout(Duration),
    /// Reading data failed.
    #[error("query failed: {0}")]
    Internal(String),
}

impl From<DataFusionError> for QueryError {
    fn from(error: DataFusionError) -> QueryError {
        let root = error.find_root();
        match root {
            DataFusionError::ObjectStore(_)
            | DataFusionError::IoError(_)
            | DataFusionError::ParquetError(_)
            | DataFusionError::Internal(_)
            | DataFusionError::ResourcesExhausted(_) => QueryError::Internal(error.to_string()),
            _ => QueryError::Invalid(error.strip_backtrace()),
        }
    }
}

/// Result of a SQL query, ready to render as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SqlResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when more rows existed than the row limit allowed.
    pub truncated: bool,
}

/// Runs SQL over the storage engine's tables.
#[derive(Clone)]
pub struct QueryEngine {
    context: SessionContext,
    storage: Storage,
    row_limit: usize,
    timeout: Duration,
}

impl QueryEngine {
    /// A session with `spans`, `logs` and `metric_points` registered.
    pub fn new(
        storage: Storage,
        row_limit: usize,
        timeout: Duration,
    ) -> Result<QueryEngine, QueryError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true)
            .set_bool("datafusion.execution.parquet.bloom_filter_on_read", true);
        let context = SessionContext::new_with_config(config);
        context.register_udf(crate::textsearch::has_token_udf());
        let url = url::Url::parse(SEGMENTS_URL).map_err(|e| QueryError::Internal(e.to_string()))?;
        context.register_object_store(&url, storage.object_store());
        for signal in Signal::ALL {
            let table = Arc::new(SignalTable::new(signal, storage.clone()));
            context.register_table(signal.table_name(), table)?;
        }
        Ok(QueryEngine {
            context,
            storage,
            row_limit,
            timeout,
        })
    }

    /// The storage engine read, e.g. for live tails of what is written.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The DataFusion session, for signal engines built on top.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Plans a read-only statement and returns its result stream.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self.context.sql_with_options(sql, options).await?;
        Ok(frame.execute_stream().await?)
    }

    /// Runs `sql` and returns at most `limit` rows (the configured limit when `None`).
    pub async fn sql_batches(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>, bool), QueryError> {
        let limit = limit.unwrap_or(self.row_limit).min(self.row_limit);
        let run = async {
            let mut stream = self.stream(sql).await?;
            let schema = stream.schema();
            let mut batches = Vec::new();
            let mut rows = 0usize;
            let mut truncated = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if rows + batch.num_rows() > limit {
                    batches.push(batch.slice(0, limit - rows));
                    truncated = true;
                    break;
                }
                rows += batch.num_rows();
                batches.push(batch);
            }
            Ok::<_, QueryError>((schema, batches, truncated))
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(QueryError::Timeout(self.timeout)),
        }
    }

    /// Runs `sql` with the timeout but no row limit: for the signal engines, whose
    /// queries aggregate (their results are bounded by what they group by).
    pub async fn sql_batches_unlimited(
        &self,
        sql: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>, bool), QueryError> {
        let run = async {
            let stream = self.stream(sql).await?;
            let schema = stream.schema();
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            Ok::<_, QueryError>((schema, batches, false))
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(QueryError::Timeout(self.timeout)),
        }
    }

    /// The batches of an unlimited query (see [`Self::sql_batches_unlimited`]).
    pub async fn batches(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let (_, batches, _) = self.sql_batches_unlimited(sql).await?;
        Ok(batches)
    }

    /// The distinct non-empty strings of the first column of an unlimited query
    /// (label names and values), sorted.
    pub async fn distinct_strings(&self, sql: &str) -> Result<Vec<String>, QueryError> {
        use arrow::array::AsArray;
        let mut out = std::collections::BTreeSet::new();
        for batch in self.batches(sql).await? {
            let column = batch.column(0).as_string::<i32>();
            out.extend(
                column
                    .iter()
                    .flatten()
                    .filter(|text| !text.is_empty())
                    .map(str::to_owned),
            );
        }
        Ok(out.into_iter().collect())
    }

    /// Runs `sql` and renders the result as columns + rows of JSON values.
    pub async fn sql(&self, sql: &str) -> Result<SqlResult, QueryError> {
        let (schema, batches, truncated) = self.sql_batches(sql, None).await?;
        let columns = schema
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
        let rows = batches_to_rows(&batches);
        Ok(SqlResult {
            columns,
            rows,
            truncated,
        })
    }
}
