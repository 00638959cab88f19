use std::time::Duration;

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to encode or decode parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("catalog is invalid: {0}")]
    Catalog(String),
    #[error("memory limit reached ({used} of {limit} bytes buffered); retry later")]
    MemoryLimit {
        used: usize,
        limit: usize,
        retry_after: Duration,
    },
    #[error("storage is shutting down")]
    Closed,
    #[error("failed to replay the WAL: {0}")]
    Replay(String),
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> StorageError {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}
