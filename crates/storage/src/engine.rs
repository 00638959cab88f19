//! [`Storage`]: the engine that ties WAL, memtables, segments and catalog together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use prost::Message;
use tokio::sync::{Notify, oneshot, watch};
use tracing::{error, info, warn};
use vispyr_common::telemetry::{SignalLabels, metrics};
use vispyr_common::{Signal, now_unix_nanos};
use vispyr_config::Config;

use crate::StorageError;
use crate::catalog::{Catalog, SegmentMeta};
use crate::memtable::Memtable;
use crate::segment::{EncodedSegment, SEGMENTS_DIR, decode_segment, encode_segments};
use crate::wal::{self, WalFile};

/// How long a segment replaced by compaction or expired by retention stays on disk, so
/// queries that already listed it can finish reading it.
const DELETE_GRACE: Duration = Duration::from_secs(30);
/// Most appends committed by one fsync.
const MAX_GROUP: usize = 4096;

/// One acknowledged-after-durable write.
pub struct WriteRequest {
    pub signal: Signal,
    /// When the request was received (Unix nanoseconds); replay reuses it.
    pub received_at: i64,
    /// The export request as protobuf bytes, kept in the WAL and decoded on replay.
    pub payload: bytes::Bytes,
    /// The rows `payload` converts to.
    pub batch: RecordBatch,
}

/// Turns a WAL payload back into rows on replay; the receivers' conversion, injected
/// so the engine stays protocol-agnostic.
pub type Decoder = fn(Signal, i64, &[u8]) -> Result<RecordBatch, String>;

/// What a query sees of one signal at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Rows still in memtables.
    pub batches: Vec<RecordBatch>,
    /// Segments in the catalog.
    pub segments: Vec<SegmentMeta>,
}

enum WalCommand {
    Append {
        signal: Signal,
        received_at: i64,
        payload: bytes::Bytes,
        batch: RecordBatch,
        accounted: usize,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    Rotate {
        reply: oneshot::Sender<Result<Option<Arc<Memtable>>, StorageError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

struct State {
    active: Memtable,
    frozen: Vec<Arc<Memtable>>,
    catalog: Catalog,
}

struct Inner {
    config: Config,
    wal_dir: PathBuf,
    store: Arc<dyn ObjectStore>,
    state: RwLock<State>,
    queued_bytes: AtomicUsize,
    wal_tx: Mutex<Option<mpsc::Sender<WalCommand>>>,
    wal_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    flush_lock: tokio::sync::Mutex<()>,
    maintenance_lock: tokio::sync::Mutex<()>,
    catalog_lock: tokio::sync::Mutex<()>,
    pending_deletes: Mutex<Vec<(Instant, ObjectPath)>>,
    flush_wanted: Notify,
    shutdown_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
    live: tokio::sync::broadcast::Sender<(Signal, RecordBatch)>,
}

/// Batches a slow live subscriber may fall behind by before it loses some.
const LIVE_CAPACITY: usize = 1024;

/// The storage engine. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Storage {
    /// Opens (or creates) the store in `config.data_dir`, replays the WAL and starts
    /// the flush and maintenance tasks. Must be called inside a Tokio runtime.
    pub async fn open(config: &Config, decoder: Decoder) -> Result<Storage, StorageError> {
        let data_dir = config.data_dir.clone();
        let wal_dir = data_dir.join("wal");
        let segments_dir = data_dir.join(SEGMENTS_DIR);
        for dir in [&data_dir, &wal_dir, &segments_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|e| StorageError::io(format!("create {}", dir.display()), e))?;
        }
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&segments_dir)?);
        let catalog = Catalog::load(&data_dir)?;
        remove_orphans(&store, &catalog).await?;

        let (active, last_seq) = replay(&wal_dir, &catalog, decoder)?;
        let fsync = config.storage.wal_fsync;
        let wal_file = WalFile::create(&wal_dir, last_seq + 1, fsync)?;
        update_segment_gauges(&catalog);

        let (wal_tx, wal_rx) = mpsc::channel();
        let (shutdown_tx, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            config: config.clone(),
            wal_dir,
            store,
            state: RwLock::new(State {
                active,
                frozen: Vec::new(),
                catalog,
            }),
            queued_bytes: AtomicUsize::new(0),
            wal_tx: Mutex::new(Some(wal_tx)),
            wal_thread: Mutex::new(None),
            flush_lock: tokio::sync::Mutex::new(()),
            maintenance_lock: tokio::sync::Mutex::new(()),
            catalog_lock: tokio::sync::Mutex::new(()),
            pending_deletes: Mutex::new(Vec::new()),
            flush_wanted: Notify::new(),
            shutdown_tx,
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            live: tokio::sync::broadcast::channel(LIVE_CAPACITY).0,
        });
        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("vispyr-wal".into())
            .spawn(move || wal_loop(&thread_inner, wal_file, wal_rx))
            .map_err(|e| StorageError::io("spawn wal thread", e))?;
        *lock(&inner.wal_thread) = Some(handle);

        let storage = Storage { inner };
        storage.update_memory_gauge();
        let flusher = tokio::spawn(flush_loop(storage.clone()));
        let maintenance = tokio::spawn(maintenance_loop(storage.clone()));
        lock(&storage.inner.tasks).extend([flusher, maintenance]);
        Ok(storage)
    }

    /// The object store segments live in.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner.store)
    }

    /// Bytes buffered in memory: queued writes and memtables.
    pub fn memory_used(&self) -> usize {
        let state = self.inner.read_state();
        let memtables = state.active.bytes + state.frozen.iter().map(|m| m.bytes).sum::<usize>();
        memtables + self.inner.queued_bytes.load(Ordering::Relaxed)
    }

    fn update_memory_gauge(&self) {
        metrics().memtable_bytes.set(self.memory_used() as i64);
    }

    /// Appends a write to the WAL and, once it is durable, to the memtable.
    pub async fn write(&self, request: WriteRequest) -> Result<(), StorageError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let incoming = request.payload.len() + request.batch.get_array_memory_size();
        let limit = self.inner.config.limits.max_memory;
        let used = self.memory_used();
        if used + incoming > limit {
            self.inner.flush_wanted.notify_one();
            return Err(StorageError::MemoryLimit {
                used,
                limit,
                retry_after: Duration::from_secs(1),
            });
        }
        let sender = lock(&self.inner.wal_tx)
            .clone()
            .ok_or(StorageError::Closed)?;
        self.inner
            .queued_bytes
            .fetch_add(incoming, Ordering::Relaxed);
        let live =
            (self.inner.live.receiver_count() > 0).then(|| (request.signal, request.batch.clone()));
        let (reply, response) = oneshot::channel();
        let command = WalCommand::Append {
            signal: request.signal,
            received_at: request.received_at,
            payload: request.payload,
            batch: request.batch,
            accounted: incoming,
            reply,
        };
        if sender.send(command).is_err() {
            self.inner
                .queued_bytes
                .fetch_sub(incoming, Ordering::Relaxed);
            return Err(StorageError::Closed);
        }
        let result = response.await.unwrap_or(Err(StorageError::Closed));
        if let (Ok(()), Some(batch)) = (&result, live) {
            // Nobody listening between the check and now is fine: the send fails.
            let _ = self.inner.live.send(batch);
        }
        let active_bytes = self.inner.read_state().active.bytes;
        if active_bytes >= self.inner.config.storage.flush_max_bytes {
            self.inner.flush_wanted.notify_one();
        }
        result
    }

    /// Every batch written from now on, once durable, with its signal: for live
    /// tails. A subscriber that falls more than a thousand batches behind skips
    /// ahead (`RecvError::Lagged`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<(Signal, RecordBatch)> {
        self.inner.live.subscribe()
    }

    /// Rows of `signal` in memtables and segments, as one consistent view.
    pub fn snapshot(&self, signal: Signal) -> Snapshot {
        let state = self.inner.read_state();
        let mut batches: Vec<RecordBatch> = state.active.batches(signal).to_vec();
        for frozen in &state.frozen {
            batches.extend(frozen.batches(signal).iter().cloned());
        }
        let segments = state.catalog.segments_of(signal).cloned().collect();
        Snapshot { batches, segments }
    }

    /// The current catalog.
    pub fn catalog(&self) -> Catalog {
        self.inner.read_state().catalog.clone()
    }

    async fn rotate(&self) -> Result<Option<Arc<Memtable>>, StorageError> {
        let sender = lock(&self.inner.wal_tx)
            .clone()
            .ok_or(StorageError::Closed)?;
        let (reply, response) = oneshot::channel();
        sender
            .send(WalCommand::Rotate { reply })
            .map_err(|_| StorageError::Closed)?;
        response.await.unwrap_or(Err(StorageError::Closed))
    }

    /// Flushes everything in memtables to segments and truncates the WAL.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let _guard = self.inner.flush_lock.lock().await;
        self.rotate().await?;
        loop {
            let next = self.inner.read_state().frozen.first().cloned();
            let Some(frozen) = next else { break };
            self.flush_frozen(frozen).await?;
        }
        Ok(())
    }

    async fn flush_frozen(&self, frozen: Arc<Memtable>) -> Result<(), StorageError> {
        let started = Instant::now();
        let to_encode = Arc::clone(&frozen);
        let encoded = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for signal in Signal::ALL {
                all.extend(encode_segments(signal, to_encode.batches(signal), 0)?);
            }
            Ok::<_, StorageError>(all)
        })
        .await
        .map_err(|e| StorageError::Replay(format!("flush task failed: {e}")))??;
        self.put_segments(&encoded).await?;
        let metas: Vec<SegmentMeta> = encoded.into_iter().map(|segment| segment.meta).collect();
        let segment_count = metas.len();
        self.commit_catalog(
            |catalog| {
                catalog.segments.extend(metas);
                catalog.wal_seq_flushed = catalog.wal_seq_flushed.max(frozen.sealed_wal_seq);
                true
            },
            Some(&frozen),
        )
        .await?;
        self.delete_wal_files(frozen.sealed_wal_seq);
        self.update_memory_gauge();
        let elapsed = started.elapsed();
        metrics().flush_seconds.observe(elapsed.as_secs_f64());
        info!(
            rows = frozen.rows,
            segments = segment_count,
            elapsed_ms = elapsed.as_millis() as u64,
            "flushed memtable"
        );
        Ok(())
    }

    async fn put_segments(&self, segments: &[EncodedSegment]) -> Result<(), StorageError> {
        for segment in segments {
            let path = ObjectPath::from(segment.meta.path.as_str());
            self.inner
                .store
                .put(&path, segment.bytes.clone().into())
                .await?;
        }
        Ok(())
    }

    /// Applies `change` to a copy of the catalog, persists it and publishes it; when
    /// `flushed` is given, that memtable leaves the read path in the same step, so no
    /// query sees its rows twice. `change` returning false aborts without writing.
    async fn commit_catalog(
        &self,
        change: impl FnOnce(&mut Catalog) -> bool,
        flushed: Option<&Arc<Memtable>>,
    ) -> Result<bool, StorageError> {
        let _guard = self.inner.catalog_lock.lock().await;
        let mut next = self.inner.read_state().catalog.clone();
        if !change(&mut next) {
            return Ok(false);
        }
        let data_dir = self.inner.config.data_dir.clone();
        let to_persist = next.clone();
        tokio::task::spawn_blocking(move || to_persist.persist(&data_dir))
            .await
            .map_err(|e| StorageError::Catalog(format!("persist task failed: {e}")))??;
        update_segment_gauges(&next);
        let mut state = self.inner.write_state();
        state.catalog = next;
        if let Some(flushed) = flushed {
            state
                .frozen
                .retain(|memtable| !Arc::ptr_eq(memtable, flushed));
        }
        Ok(true)
    }

    fn delete_wal_files(&self, up_to: u64) {
        let files = match wal::list_files(&self.inner.wal_dir) {
            Ok(files) => files,
            Err(error) => {
                warn!(%error, "cannot list wal files");
                return;
            }
        };
        for (seq, path) in files {
            if seq > up_to {
                continue;
            }
            if let Err(error) = std::fs::remove_file(&path) {
                warn!(%error, path = %path.display(), "cannot delete flushed wal file");
            }
        }
    }

    /// Merges small segments of the same signal and hour; returns how many segments
    /// were replaced.
    pub async fn compact(&self) -> Result<usize, StorageError> {
        let _guard = self.inner.maintenance_lock.lock().await;
        let small = self.inner.config.storage.compaction_small_segment;
        let min_segments = self.inner.config.storage.compaction_min_segments;
        let mut groups: BTreeMap<(String, i64), Vec<SegmentMeta>> = BTreeMap::new();
        for segment in &self.inner.read_state().catalog.segments {
            if segment.bytes < small {
                groups
                    .entry((segment.signal.clone(), segment.partition))
                    .or_default()
                    .push(segment.clone());
            }
        }
        let max_rows = self.inner.config.storage.compaction_max_rows;
        let mut replaced = 0;
        for ((signal_name, _partition), inputs) in groups {
            if inputs.len() < min_segments {
                continue;
            }
            let Some(signal) = Signal::parse(&signal_name) else {
                continue;
            };
            for chunk in bounded_chunks(inputs, max_rows) {
                replaced += self.compact_group(signal, chunk).await?;
            }
        }
        Ok(replaced)
    }

    async fn compact_group(
        &self,
        signal: Signal,
        inputs: Vec<SegmentMeta>,
    ) -> Result<usize, StorageError> {
        let started = Instant::now();
        let mut files = Vec::with_capacity(inputs.len());
        for input in &inputs {
            let path = ObjectPath::from(input.path.as_str());
            files.push(self.inner.store.get(&path).await?.bytes().await?);
        }
        let level = inputs.iter().map(|input| input.level).max().unwrap_or(0) + 1;
        let encoded = tokio::task::spawn_blocking(move || {
            let mut batches = Vec::new();
            for file in files {
                batches.extend(decode_segment(file)?);
            }
            encode_segments(signal, &batches, level)
        })
        .await
        .map_err(|e| StorageError::Catalog(format!("compaction task failed: {e}")))??;
        self.put_segments(&encoded).await?;
        let outputs: Vec<SegmentMeta> = encoded.into_iter().map(|segment| segment.meta).collect();
        let input_ids: Vec<&str> = inputs.iter().map(|input| input.id.as_str()).collect();
        let output_paths: Vec<String> = outputs.iter().map(|output| output.path.clone()).collect();
        let committed = self
            .commit_catalog(
                |catalog| {
                    let present = input_ids
                        .iter()
                        .all(|id| catalog.segments.iter().any(|segment| segment.id == *id));
                    if !present {
                        return false;
                    }
                    catalog
                        .segments
                        .retain(|segment| !input_ids.contains(&segment.id.as_str()));
                    catalog.segments.extend(outputs);
                    true
                },
                None,
            )
            .await?;
        if !committed {
            // An input vanished (retention ran meanwhile): drop this merge's output.
            self.schedule_deletes(output_paths.iter().map(String::as_str));
            return Ok(0);
        }
        self.schedule_deletes(inputs.iter().map(|input| input.path.as_str()));
        metrics()
            .compaction_seconds
            .observe(started.elapsed().as_secs_f64());
        info!(
            signal = signal.as_str(),
            inputs = inputs.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compacted segments"
        );
        Ok(inputs.len())
    }

    /// Deletes segments whose newest row is older than the signal's retention;
    /// returns how many were removed.
    pub async fn apply_retention(&self, now: i64) -> Result<usize, StorageError> {
        let _guard = self.inner.maintenance_lock.lock().await;
        let retention = self.inner.config.retention.clone();
        let expired: Vec<SegmentMeta> = self
            .inner
            .read_state()
            .catalog
            .segments
            .iter()
            .filter(|segment| {
                let Some(signal) = segment.signal() else {
                    return false;
                };
                let ttl =
                    i64::try_from(retention.for_signal(signal).as_nanos()).unwrap_or(i64::MAX);
                segment.max_time < now.saturating_sub(ttl)
            })
            .cloned()
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = expired.iter().map(|segment| segment.id.as_str()).collect();
        self.commit_catalog(
            |catalog| {
                catalog
                    .segments
                    .retain(|segment| !ids.contains(&segment.id.as_str()));
                true
            },
            None,
        )
        .await?;
        for segment in &expired {
            if let Some(signal) = segment.signal() {
                metrics()
                    .retention_deleted_segments
                    .get_or_create(&SignalLabels {
                        signal: signal.as_str(),
                    })
                    .inc();
            }
        }
        self.schedule_deletes(expired.iter().map(|segment| segment.path.as_str()));
        info!(segments = expired.len(), "retention deleted segments");
        Ok(expired.len())
    }

    fn schedule_deletes<'a>(&self, paths: impl Iterator<Item = &'a str>) {
        let now = Instant::now();
        let mut pending = lock(&self.inner.pending_deletes);
        pending.extend(paths.map(|path| (now, ObjectPath::from(path))));
    }

    async fn run_pending_deletes(&self, force: bool) {
        let due: Vec<ObjectPath> = {
            let mut pending = lock(&self.inner.pending_deletes);
            let (due, waiting): (Vec<_>, Vec<_>) = pending
                .drain(..)
                .partition(|(at, _)| force || at.elapsed() >= DELETE_GRACE);
            *pending = waiting;
            due.into_iter().map(|(_, path)| path).collect()
        };
        for path in due {
            if let Err(error) = self.inner.store.delete(&path).await {
                warn!(%error, %path, "cannot delete replaced segment");
            }
        }
    }

    /// Stops background work, flushes the memtable and closes the WAL. Safe to call
    /// more than once.
    pub async fn shutdown(&self) -> Result<(), StorageError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.shutdown_tx.send_replace(true);
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        let flushed = self.flush().await;
        if let Err(error) = &flushed {
            error!(%error, "final flush failed; the WAL keeps the data for the next start");
        }
        let sender = lock(&self.inner.wal_tx).take();
        if let Some(sender) = sender {
            let (reply, response) = oneshot::channel();
            if sender.send(WalCommand::Shutdown { reply }).is_ok() {
                let _ = response.await;
            }
        }
        let thread = lock(&self.inner.wal_thread).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.run_pending_deletes(true).await;
        flushed
    }
}

/// Splits one partition's small segments (oldest first) into merges of at least two
/// segments and at most `max_rows` rows each: a merge decodes its inputs into memory,
/// so its size must be bounded whatever the partition holds.
fn bounded_chunks(mut inputs: Vec<SegmentMeta>, max_rows: u64) -> Vec<Vec<SegmentMeta>> {
    inputs.sort_by_key(|segment| (segment.min_time, segment.id.clone()));
    let mut chunks = Vec::new();
    let mut current: Vec<SegmentMeta> = Vec::new();
    let mut rows = 0u64;
    for segment in inputs {
        if !current.is_empty() && rows + segment.rows > max_rows {
            if current.len() >= 2 {
                chunks.push(std::mem::take(&mut current));
            } else {
                current.clear();
            }
            rows = 0;
        }
        rows += segment.rows;
        current.push(segment);
    }
    if current.len() >= 2 {
        chunks.push(current);
    }
    chunks
}

fn update_segment_gauges(catalog: &Catalog) {
    for signal in Signal::ALL {
        let labels = SignalLabels {
            signal: signal.as_str(),
        };
        let (count, bytes) = catalog
            .segments_of(signal)
            .fold((0i64, 0i64), |(count, bytes), segment| {
                (count + 1, bytes + segment.bytes as i64)
            });
        metrics().segments.get_or_create(&labels).set(count);
        metrics().segment_bytes.get_or_create(&labels).set(bytes);
    }
}

/// Deletes segment files the catalog does not know: the output of a flush or
/// compaction that crashed before its catalog commit.
async fn remove_orphans(
    store: &Arc<dyn ObjectStore>,
    catalog: &Catalog,
) -> Result<(), StorageError> {
    let known: std::collections::HashSet<&str> = catalog
        .segments
        .iter()
        .map(|segment| segment.path.as_str())
        .collect();
    let objects: Vec<_> = store.list(None).try_collect().await?;
    for object in objects {
        if known.contains(object.location.as_ref()) {
            continue;
        }
        warn!(path = %object.location, "deleting segment not in the catalog");
        store.delete(&object.location).await?;
    }
    Ok(())
}

/// Replays WAL files newer than the catalog's flushed mark into a memtable; returns it
/// and the highest file number seen.
fn replay(
    wal_dir: &Path,
    catalog: &Catalog,
    decoder: Decoder,
) -> Result<(Memtable, u64), StorageError> {
    let mut memtable = Memtable::default();
    let mut last_seq = catalog.wal_seq_flushed;
    for (seq, path) in wal::list_files(wal_dir)? {
        last_seq = last_seq.max(seq);
        if seq <= catalog.wal_seq_flushed {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| StorageError::io(format!("read {}", path.display()), e))?;
        let outcome = wal::decode_file(&bytes)?;
        if outcome.dropped_tail_bytes > 0 {
            warn!(path = %path.display(), bytes = outcome.dropped_tail_bytes, "dropped torn wal tail");
        }
        let records = outcome.records.len();
        for record in outcome.records {
            match decoder(record.signal, record.received_at, &record.payload) {
                Ok(batch) => memtable.push(record.signal, batch),
                Err(message) => error!(%message, "skipping undecodable wal record"),
            }
        }
        info!(path = %path.display(), records, "replayed wal file");
    }
    Ok((memtable, last_seq))
}

fn wal_loop(inner: &Inner, mut file: WalFile, commands: mpsc::Receiver<WalCommand>) {
    let mut buffer: Vec<u8> = Vec::new();
    while let Ok(first) = commands.recv() {
        let mut group = Vec::new();
        let mut control = None;
        match first {
            WalCommand::Append { .. } => group.push(first),
            other => control = Some(other),
        }
        while control.is_none() && group.len() < MAX_GROUP {
            match commands.try_recv() {
                Ok(command @ WalCommand::Append { .. }) => group.push(command),
                Ok(other) => control = Some(other),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            commit_group(inner, &mut file, &mut buffer, group);
        }
        match control {
            None => {}
            Some(WalCommand::Rotate { reply }) => {
                let _ = reply.send(rotate(inner, &mut file));
            }
            Some(WalCommand::Shutdown { reply }) => {
                let _ = reply.send(());
                return;
            }
            Some(WalCommand::Append { .. }) => unreachable!("appends are grouped"),
        }
    }
}

fn commit_group(inner: &Inner, file: &mut WalFile, buffer: &mut Vec<u8>, group: Vec<WalCommand>) {
    buffer.clear();
    for command in &group {
        if let WalCommand::Append {
            signal,
            received_at,
            payload,
            ..
        } = command
        {
            wal::encode_record(*signal, *received_at, payload, buffer);
        }
    }
    let started = Instant::now();
    let written = file.append(buffer);
    metrics()
        .wal_fsync_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics().wal_group_size.observe(group.len() as f64);
    if written.is_ok() {
        metrics().wal_bytes.inc_by(buffer.len() as u64);
    }
    let failure = written.err().map(|error| error.to_string());
    let mut state = inner.write_state();
    for command in group {
        let WalCommand::Append {
            signal,
            batch,
            accounted,
            reply,
            ..
        } = command
        else {
            continue;
        };
        inner.queued_bytes.fetch_sub(accounted, Ordering::Relaxed);
        match &failure {
            None => {
                state.active.push(signal, batch);
                let _ = reply.send(Ok(()));
            }
            Some(message) => {
                let error = std::io::Error::other(message.clone());
                let _ = reply.send(Err(StorageError::io("write ahead log", error)));
            }
        }
    }
}

fn rotate(inner: &Inner, file: &mut WalFile) -> Result<Option<Arc<Memtable>>, StorageError> {
    if inner.read_state().active.is_empty() {
        return Ok(None);
    }
    let next = WalFile::create(&inner.wal_dir, file.seq + 1, inner.config.storage.wal_fsync)?;
    let sealed = std::mem::replace(file, next);
    let mut state = inner.write_state();
    let mut frozen = std::mem::take(&mut state.active);
    frozen.sealed_wal_seq = sealed.seq;
    let frozen = Arc::new(frozen);
    state.frozen.push(Arc::clone(&frozen));
    Ok(Some(frozen))
}

async fn flush_loop(storage: Storage) {
    let mut shutdown = storage.inner.shutdown_tx.subscribe();
    let tick = Duration::from_millis(250);
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = storage.inner.flush_wanted.notified() => {}
            _ = shutdown.changed() => return,
        }
        storage.update_memory_gauge();
        let due = {
            let state = storage.inner.read_state();
            let config = &storage.inner.config.storage;
            let old = state
                .active
                .first_write
                .is_some_and(|first| first.elapsed() >= config.flush_max_age);
            state.active.bytes >= config.flush_max_bytes || old || !state.frozen.is_empty()
        };
        if !due {
            continue;
        }
        if let Err(error) = storage.flush().await {
            error!(%error, "flush failed; will retry");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn maintenance_loop(storage: Storage) {
    let mut shutdown = storage.inner.shutdown_tx.subscribe();
    let config = storage.inner.config.clone();
    let mut last_compaction = Instant::now();
    let mut last_retention: Option<Instant> = None;
    let tick = config
        .storage
        .compaction_interval
        .min(Duration::from_secs(5));
    loop {
        // A shutdown sent before this task first ran is seen here, not by `changed`.
        if *shutdown.borrow_and_update() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
        storage.run_pending_deletes(false).await;
        if last_retention.is_none_or(|at| at.elapsed() >= config.retention.check_interval) {
            last_retention = Some(Instant::now());
            if let Err(error) = storage.apply_retention(now_unix_nanos()).await {
                error!(%error, "retention failed");
            }
        }
        if last_compaction.elapsed() >= config.storage.compaction_interval {
            last_compaction = Instant::now();
            if let Err(error) = storage.compact().await {
                error!(%error, "compaction failed");
            }
        }
    }
}

/// The standard decoder: WAL payloads are OTLP export requests as protobuf, or rows
/// logged as Arrow IPC — always for profiles, which are normalised from several
/// formats, and for metrics from Prometheus receivers. An IPC stream starts with the
/// continuation marker `0xFFFFFFFF`, which no protobuf message can start with (wire
/// type 7 does not exist), so the two are told apart by their first bytes.
pub fn otlp_decoder(
    signal: Signal,
    received_at: i64,
    payload: &[u8],
) -> Result<RecordBatch, String> {
    use opentelemetry_proto::tonic::collector::{logs, metrics as otlp_metrics, trace};
    if payload.starts_with(&[0xff; 4]) {
        return vispyr_model::ipc::decode(payload).map_err(|e| e.to_string());
    }
    let batch = match signal {
        Signal::Traces => {
            let request =
                trace::v1::ExportTraceServiceRequest::decode(payload).map_err(|e| e.to_string())?;
            vispyr_model::convert_traces(&request).batch
        }
        Signal::Metrics => {
            let request = otlp_metrics::v1::ExportMetricsServiceRequest::decode(payload)
                .map_err(|e| e.to_string())?;
            vispyr_model::convert_metrics(&request, received_at).batch
        }
        Signal::Logs => {
            let request =
                logs::v1::ExportLogsServiceRequest::decode(payload).map_err(|e| e.to_string())?;
            vispyr_model::convert_logs(&request, received_at).batch
        }
        Signal::Profiles | Signal::ProfileStacks => {
            vispyr_model::ipc::decode(payload).map_err(|e| e.to_string())?
        }
    };
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: &str, min_time: i64, rows: u64) -> SegmentMeta {
        SegmentMeta {
            id: id.to_string(),
            signal: "traces".into(),
            path: format!("{id}.parquet"),
            min_time,
            max_time: min_time,
            rows,
            bytes: 1,
            services: None,
            partition: 0,
            level: 0,
        }
    }

    fn ids(chunks: &[Vec<SegmentMeta>]) -> Vec<Vec<&str>> {
        chunks
            .iter()
            .map(|chunk| chunk.iter().map(|segment| segment.id.as_str()).collect())
            .collect()
    }

    #[test]
    fn merges_are_bounded_by_rows_and_keep_time_order() {
        let inputs = vec![
            segment("c", 3, 60),
            segment("a", 1, 50),
            segment("b", 2, 40),
            segment("d", 4, 30),
            segment("big", 5, 500),
            segment("e", 6, 10),
        ];
        let chunks = bounded_chunks(inputs, 100);
        // a+b fit (90), c+d fit (90), big alone is left out, e alone is left out.
        assert_eq!(ids(&chunks), vec![vec!["a", "b"], vec!["c", "d"]]);
        assert!(bounded_chunks(vec![segment("x", 1, 10)], 100).is_empty());
    }
}
