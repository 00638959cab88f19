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
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
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
use crate::textsearch::{IndexCache, required_body_tokens};

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
    text_indexes: IndexCache,
}

impl SignalTable {
    pub fn new(signal: Signal, storage: Storage) -> SignalTable {
        SignalTable {
            signal,
            storage,
            text_indexes: IndexCache::default(),
        }
    }

    /// The files to scan: every pruned segment, or for a text search on logs only
    /// the row groups whose body index may hold the required tokens.
    async fn files(&self, segments: &[SegmentMeta], filters: &[Expr]) -> Vec<PartitionedFile> {
        let required = match self.signal {
            Signal::Logs => required_body_tokens(filters),
            _ => Vec::new(),
        };
        let store = self.storage.object_store();
        let mut files = Vec::with_capacity(segments.len());
        for segment in segments {
            let file = PartitionedFile::new(segment.path.clone(), segment.bytes);
            if required.is_empty() {
                files.push(file);
                continue;
            }
            let Some(index) = self.text_indexes.get(&store, segment).await else {
                files.push(file);
                continue;
            };
            let keep = index.row_groups(&required);
            let kept = keep.iter().filter(|k| **k).count();
            let telemetry = vispyr_common::telemetry::metrics();
            telemetry.text_index_row_groups_read.inc_by(kept as u64);
            telemetry
                .text_index_row_groups_skipped
                .inc_by((keep.len() - kept) as u64);
            if kept == 0 {
                continue;
            }
            if kept == keep.len() {
                files.push(file);
                continue;
            }
            let mut plan = ParquetAccessPlan::new_all(keep.len());
            for (group, keep) in keep.iter().enumerate() {
                if !keep {
                    plan.skip(group);
                }
            }
            files.push(file.with_extension(plan));
        }
        files
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
        let files = self.files(&segments, filters).await;
        if !files.is_empty() {
            let target = state.config().target_partitions().max(1);
            let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); target.min(files.len())];
            let group_count = groups.len();
            for (index, file) in files.into_iter().enumerate() {
                groups[index % group_count].push(file);
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
