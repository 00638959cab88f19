//! [`SignalTable`]: one signal's rows (memtables + segments) as a DataFusion table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use vispyr_common::Signal;
use vispyr_model::schema_for;
use vispyr_storage::{SegmentMeta, Storage};

use crate::pruning::Bounds;

/// URL under which the segment object store is registered in the session.
pub const SEGMENTS_URL: &str = "vispyr://segments/";

/// A signal's table: reads memtable batches and the segments the catalog keeps after
/// pruning by time range and service. Filters are reported `Inexact`, so DataFusion
/// still applies them to every row (and pushes them into the Parquet scan for
/// row-group and bloom-filter pruning).
#[derive(Debug)]
pub struct SignalTable {
    signal: Signal,
    storage: Storage,
}

impl SignalTable {
    pub fn new(signal: Signal, storage: Storage) -> SignalTable {
        SignalTable { signal, storage }
    }
}

fn prune(segments: Vec<SegmentMeta>, bounds: &Bounds) -> Vec<SegmentMeta> {
    segments
        .into_iter()
        .filter(|segment| segment.overlaps(bounds.start, bounds.end))
        .filter(|segment| {
            bounds
                .services
                .as_ref()
                .is_none_or(|services| segment.may_contain_any(services))
        })
        .collect()
}

#[async_trait]
impl TableProvider for SignalTable {
    fn schema(&self) -> SchemaRef {
        schema_for(self.signal)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let snapshot = self.storage.snapshot(self.signal);
        let bounds = Bounds::from_filters(filters);
        let segments = prune(snapshot.segments, &bounds);

        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !snapshot.batches.is_empty() {
            let memory = MemorySourceConfig::try_new_exec(
                &[snapshot.batches],
                Arc::clone(&schema),
                projection.cloned(),
            )?;
            inputs.push(memory);
        }
        if !segments.is_empty() {
            let target = state.config().target_partitions().max(1);
            let mut groups: Vec<Vec<PartitionedFile>> =
                vec![Vec::new(); target.min(segments.len())];
            let group_count = groups.len();
            for (index, segment) in segments.iter().enumerate() {
                groups[index % group_count]
                    .push(PartitionedFile::new(segment.path.clone(), segment.bytes));
            }
            let source = Arc::new(ParquetSource::new(Arc::clone(&schema)));
            let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(SEGMENTS_URL)?, source)
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            inputs.push(
                ParquetFormat::default()
                    .create_physical_plan(state, config)
                    .await?,
            );
        }
        match inputs.len() {
            0 => {
                let projected = match projection {
                    Some(indices) => Arc::new(schema.project(indices)?),
                    None => schema,
                };
                Ok(Arc::new(EmptyExec::new(projected)))
            }
            _ => UnionExec::try_new(inputs),
        }
    }
}
