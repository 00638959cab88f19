//! The segment catalog: which segments exist, what they hold, and how far the WAL has
//! been flushed. Persisted as `catalog.json` in the data dir, replaced atomically.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vispyr_common::Signal;

use crate::StorageError;
use crate::wal::sync_dir;

const FILE_NAME: &str = "catalog.json";
const FORMAT_VERSION: u32 = 1;
/// A segment lists its services only up to this many; past it, `services` is `None`
/// and the segment is never pruned by service.
pub const MAX_LISTED_SERVICES: usize = 256;

/// What the catalog knows about one Parquet segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Unique id (UUIDv7, so ids sort by creation time).
    pub id: String,
    /// Signal name (`traces`, `metrics`, `logs`).
    pub signal: String,
    /// Object-store path of the file.
    pub path: String,
    /// Smallest `timestamp` in the segment, Unix nanoseconds.
    pub min_time: i64,
    /// Largest `timestamp` in the segment, Unix nanoseconds.
    pub max_time: i64,
    pub rows: u64,
    pub bytes: u64,
    /// Distinct `service_name` values, sorted; `None` when there were too many.
    pub services: Option<Vec<String>>,
    /// Start of the hour partition, Unix nanoseconds.
    pub partition: i64,
    /// 0 for a memtable flush, n+1 for a compaction of level-n inputs.
    pub level: u32,
}

impl SegmentMeta {
    pub fn signal(&self) -> Option<Signal> {
        Signal::parse(&self.signal)
    }

    /// Whether the segment may hold rows in `[start, end]` (nanoseconds, inclusive).
    pub fn overlaps(&self, start: Option<i64>, end: Option<i64>) -> bool {
        start.is_none_or(|start| self.max_time >= start)
            && end.is_none_or(|end| self.min_time <= end)
    }

    /// Whether the segment may hold rows of any of `services`.
    pub fn may_contain_any(&self, services: &[String]) -> bool {
        match &self.services {
            None => true,
            Some(listed) => services
                .iter()
                .any(|service| listed.binary_search(service).is_ok()),
        }
    }
}

/// The persisted catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u32,
    /// Every WAL file with a number at or below this is fully in segments.
    pub wal_seq_flushed: u64,
    pub segments: Vec<SegmentMeta>,
}

impl Catalog {
    /// Loads the catalog of `data_dir`, or an empty one if there is none yet.
    pub fn load(data_dir: &Path) -> Result<Catalog, StorageError> {
        let path = data_dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Catalog {
                    version: FORMAT_VERSION,
                    ..Catalog::default()
                });
            }
            Err(error) => return Err(StorageError::io(format!("read {}", path.display()), error)),
        };
        let catalog: Catalog = serde_json::from_str(&text)
            .map_err(|error| StorageError::Catalog(format!("{}: {error}", path.display())))?;
        if catalog.version != FORMAT_VERSION {
            return Err(StorageError::Catalog(format!(
                "unsupported catalog version {}",
                catalog.version
            )));
        }
        Ok(catalog)
    }

    /// Writes the catalog durably: temp file, fsync, rename, fsync of the directory.
    pub fn persist(&self, data_dir: &Path) -> Result<(), StorageError> {
        use std::io::Write;
        let path = data_dir.join(FILE_NAME);
        let temp = data_dir.join(format!("{FILE_NAME}.tmp"));
        let text = serde_json::to_vec(self).map_err(|e| StorageError::Catalog(e.to_string()))?;
        let mut file = std::fs::File::create(&temp)
            .map_err(|e| StorageError::io(format!("create {}", temp.display()), e))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io(format!("write {}", temp.display()), e))?;
        std::fs::rename(&temp, &path)
            .map_err(|e| StorageError::io(format!("rename to {}", path.display()), e))?;
        sync_dir(data_dir)
    }

    /// Segments of one signal.
    pub fn segments_of(&self, signal: Signal) -> impl Iterator<Item = &SegmentMeta> {
        self.segments
            .iter()
            .filter(move |meta| meta.signal == signal.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, services: Option<Vec<&str>>) -> SegmentMeta {
        SegmentMeta {
            id: id.to_string(),
            signal: "traces".into(),
            path: format!("traces/{id}.parquet"),
            min_time: 100,
            max_time: 200,
            rows: 3,
            bytes: 10,
            services: services.map(|list| list.into_iter().map(String::from).collect()),
            partition: 0,
            level: 0,
        }
    }

    #[test]
    fn persists_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Catalog::load(dir.path()).unwrap().segments.is_empty());
        let catalog = Catalog {
            version: FORMAT_VERSION,
            wal_seq_flushed: 4,
            segments: vec![meta("a", Some(vec!["api"]))],
        };
        catalog.persist(dir.path()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
    }

    #[test]
    fn prunes_by_time_and_service() {
        let segment = meta("a", Some(vec!["api", "db"]));
        assert!(segment.overlaps(Some(150), None));
        assert!(segment.overlaps(None, Some(100)));
        assert!(!segment.overlaps(Some(201), None));
        assert!(!segment.overlaps(None, Some(99)));
        assert!(segment.may_contain_any(&["db".to_string()]));
        assert!(!segment.may_contain_any(&["web".to_string()]));
        assert!(meta("b", None).may_contain_any(&["web".to_string()]));
    }
}
