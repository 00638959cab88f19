//! Finds the files, reads what was appended, follows rotation, and keeps
//! the offsets that [`super::checkpoint`] saves. Synchronous: the async loop
//! in [`super::run`] calls it on a blocking thread.
//!
//! ```text
//!  discover (glob) ──► Tailed file ──► lines ──► Joiner ──► parse ──► Batch
//!    by (device, inode)   offset, partial line     records      LogRecord
//!                                          ▲                          │ sealed, sent
//!                       committed offset ──┴──── commit ◄─────────────┘
//! ```
//!
//! Rotation:
//! - *rename*: the old inode is still open, so it is read to its end; the
//!   new file at the path is a new inode, read from its start. Files earlier
//!   in discovery order are read first each poll, so the old file's last
//!   lines come before the new file's first ones. A file no longer matched by
//!   any glob (renamed away or deleted) is forgotten once it has been quiet
//!   for `rotate_wait` and everything read from it has been sent.
//! - *copytruncate*: the file gets shorter than the read offset, or its
//!   first bytes change: reading restarts at offset 0.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::checkpoint::{Checkpoint, FINGERPRINT_BYTES, FileId, Fingerprint, Store};
use super::multiline::{Joined, Joiner, Line};
use super::otlp::string_attribute;
use super::parse::{Format, parse};
use super::{LogsConfig, LogsError};
use crate::outgoing::Outgoing;

/// A line longer than this is cut (the rest up to its newline is skipped),
/// so a binary file or a runaway writer cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// A batch is sent when it holds this many records…
const MAX_BATCH_RECORDS: usize = 1000;
/// …or about this many bytes of log text.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// How much is read from a file at once.
const READ_CHUNK: usize = 64 * 1024;

/// A batch on its way to the sink: the request, and the offsets to commit
/// once the sink has it.
#[derive(Debug)]
pub struct Sealed {
    pub request: Outgoing,
    pub records: usize,
    /// Reading stopped because the batch was full: there is more to read.
    pub full: bool,
    commits: Vec<Commit>,
}

#[derive(Debug, Clone, Copy)]
struct Commit {
    file: FileId,
    generation: u32,
    end: u64,
}

#[derive(Debug)]
struct Record {
    commit: Commit,
    service: Arc<str>,
    log: LogRecord,
}

#[derive(Debug, Default)]
struct Batch {
    records: Vec<Record>,
    bytes: usize,
    opened_at: Option<Instant>,
}

impl Batch {
    fn is_full(&self) -> bool {
        self.records.len() >= MAX_BATCH_RECORDS || self.bytes >= MAX_BATCH_BYTES
    }
}

/// One file being tailed, open by its inode.
#[derive(Debug)]
struct Tailed {
    id: FileId,
    /// Where it was found; kept after a rename, because that is where its
    /// lines were written.
    path: PathBuf,
    service: Arc<str>,
    /// `log.file.path` and `log.file.name`, shared by all its records.
    file_attributes: [KeyValue; 2],
    file: File,
    fingerprint: Fingerprint,
    /// The next byte to read.
    offset: u64,
    /// The bytes of a line whose newline has not been written yet.
    partial: Vec<u8>,
    /// Where `partial` starts.
    partial_start: u64,
    /// The current line passed [`MAX_LINE_BYTES`]; skipping to its newline.
    overlong: bool,
    joiner: Joiner,
    /// Counts copytruncates, so a commit for the file's old content does not
    /// move the offset in its new content.
    generation: u32,
    /// Everything before this offset (in this generation) has been accepted
    /// by the sink; saved as the checkpoint.
    committed: u64,
    /// Records of this file in the batch or in flight.
    unsent: usize,
    /// Matched by a glob at the last discovery.
    in_glob: bool,
    last_growth: Instant,
    /// A read error was logged and not yet followed by a good read.
    failing: bool,
}

/// All tailed files and the batch being filled.
#[derive(Debug)]
pub struct Tailer {
    config: LogsConfig,
    host_name: String,
    store: Store,
    files: Vec<Tailed>,
    /// Checkpoints loaded at start and not yet matched to a file.
    saved: HashMap<FileId, Checkpoint>,
    /// No checkpoint file existed: files found by the first discovery start
    /// at their end.
    first_run: bool,
    discovered: bool,
    batch: Batch,
    /// The checkpoints changed since they were last saved.
    dirty: bool,
    /// Paths whose open failure was logged already.
    warned: HashSet<PathBuf>,
    buffer: Vec<u8>,
}

impl Tailer {
    /// Loads the checkpoints of `data_dir`.
    pub fn new(config: LogsConfig, data_dir: &Path, host_name: &str) -> Result<Tailer, LogsError> {
        let store = Store::new(data_dir);
        let loaded = store.load()?;
        let first_run = loaded.is_none();
        let saved = loaded
            .unwrap_or_default()
            .into_iter()
            .map(|checkpoint| (checkpoint.id(), checkpoint))
            .collect();
        Ok(Tailer {
            config,
            host_name: host_name.to_string(),
            store,
            files: Vec::new(),
            saved,
            first_run,
            discovered: false,
            batch: Batch::default(),
            dirty: true,
            warned: HashSet::new(),
            buffer: vec![0; READ_CHUNK],
        })
    }

    /// One poll: discovers files, reads what is new, and returns a sealed
    /// batch if one is due (full, or older than the batch interval).
    pub fn step(&mut self, now: Instant) -> Option<Sealed> {
        self.discover(now);
        self.read_all(now);
        self.forget_finished(now);
        self.save_if_dirty();
        let due = match self.batch.opened_at {
            Some(opened) => {
                self.batch.is_full()
                    || now.saturating_duration_since(opened) >= self.config.batch_interval
            }
            None => false,
        };
        if due { self.seal() } else { None }
    }

    /// The sink accepted `sealed`: its files' offsets move past its records.
    pub fn commit(&mut self, sealed: &Sealed) {
        for commit in &sealed.commits {
            let Some(file) = self.files.iter_mut().find(|f| f.id == commit.file) else {
                continue;
            };
            file.unsent = file.unsent.saturating_sub(1);
            if commit.generation == file.generation && commit.end > file.committed {
                file.committed = commit.end;
                self.dirty = true;
            }
        }
    }

    /// Saves the checkpoints if they changed; a failure is logged and
    /// retried at the next call.
    pub fn save_if_dirty(&mut self) {
        if !self.dirty {
            return;
        }
        let checkpoints: Vec<Checkpoint> = self
            .files
            .iter()
            .map(|file| Checkpoint {
                path: file.path.clone(),
                device: file.id.device,
                inode: file.id.inode,
                offset: file.committed,
                fingerprint: file.fingerprint,
            })
            .collect();
        match self.store.save(&checkpoints) {
            Ok(()) => self.dirty = false,
            Err(error) => tracing::warn!(%error, "saving log checkpoints failed"),
        }
    }

    fn discover(&mut self, now: Instant) {
        if !self.discovered {
            self.recover_rotated(now);
        }
        for file in &mut self.files {
            file.in_glob = false;
        }
        let sources = self.config.sources.clone();
        let mut seen = HashSet::new();
        for source in &sources {
            let Ok(paths) = glob::glob(&source.pattern) else {
                continue; // validated when the config was built
            };
            // Unreadable directories are skipped by `flatten`.
            for path in paths.flatten() {
                let Ok(metadata) = std::fs::metadata(&path) else {
                    continue; // gone since the glob listed it
                };
                if !metadata.is_file() {
                    continue;
                }
                let id = FileId {
                    device: metadata.dev(),
                    inode: metadata.ino(),
                };
                if !seen.insert(id) {
                    continue; // matched by an earlier glob
                }
                if let Some(file) = self.files.iter_mut().find(|f| f.id == id) {
                    file.in_glob = true;
                    continue;
                }
                match self.open(&path, &path, source.service.clone(), now) {
                    Ok(file) => {
                        self.warned.remove(&path);
                        seen.insert(file.id);
                        self.files.push(file);
                        self.dirty = true;
                    }
                    Err(error) => {
                        if self.warned.insert(path.clone()) {
                            tracing::warn!(path = %path.display(), %error, "cannot open log file");
                        }
                    }
                }
            }
        }
        self.discovered = true;
    }

    /// Finds the files that were rotated by rename while the agent was not
    /// running — a checkpoint whose path now holds another inode — in the
    /// directory they were in, so their last lines are read too. They come
    /// first in the file list, so they are read before their successors.
    fn recover_rotated(&mut self, now: Instant) {
        let checkpoints: Vec<Checkpoint> = self.saved.values().cloned().collect();
        for checkpoint in checkpoints {
            let id = checkpoint.id();
            let still_there = std::fs::metadata(&checkpoint.path)
                .is_ok_and(|metadata| metadata.dev() == id.device && metadata.ino() == id.inode);
            if still_there {
                continue; // the glob finds it
            }
            let Some(found) = find_inode(&checkpoint.path, id) else {
                continue; // deleted: nothing left to read
            };
            let service = self
                .config
                .sources
                .iter()
                .find(|source| {
                    glob::Pattern::new(&source.pattern)
                        .is_ok_and(|pattern| pattern.matches_path(&checkpoint.path))
                })
                .and_then(|source| source.service.clone());
            match self.open(&found, &checkpoint.path, service, now) {
                Ok(mut file) => {
                    tracing::info!(path = %found.display(), was = %checkpoint.path.display(),
                        "reading the rest of a file rotated while the agent was stopped");
                    file.in_glob = false;
                    self.files.push(file);
                }
                Err(error) => {
                    tracing::warn!(path = %found.display(), %error, "cannot open rotated log file");
                }
            }
        }
    }

    /// Opens a newly found file and decides where to start reading: at its
    /// checkpoint; at its end if it was there before the agent's first run
    /// ever; at its start otherwise (it appeared later, e.g. by rotation).
    /// `written_as` is the path its lines were written under (it differs
    /// from `path` for a file renamed while the agent was stopped).
    fn open(
        &mut self,
        path: &Path,
        written_as: &Path,
        service: Option<String>,
        now: Instant,
    ) -> std::io::Result<Tailed> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let id = FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        };
        let size = metadata.len();
        let offset = match self.saved.remove(&id) {
            Some(checkpoint)
                if checkpoint.offset <= size && checkpoint.fingerprint.matches(&file, size)? =>
            {
                checkpoint.offset
            }
            // Truncated while the agent was away, or the inode now belongs
            // to another file.
            Some(_) => 0,
            None if self.first_run && !self.discovered => size,
            None => 0,
        };
        let name = written_as
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let service = service.unwrap_or_else(|| service_from_file_name(&name));
        tracing::info!(path = %path.display(), offset, %service, "tailing log file");
        Ok(Tailed {
            id,
            path: written_as.to_path_buf(),
            service: Arc::from(service),
            file_attributes: [
                string_attribute("log.file.path", written_as.to_string_lossy()),
                string_attribute("log.file.name", name),
            ],
            fingerprint: Fingerprint::of(&file, size)?,
            file,
            offset,
            partial: Vec::new(),
            partial_start: offset,
            overlong: false,
            joiner: Joiner::new(self.config.multiline_start.clone()),
            generation: 0,
            committed: offset,
            unsent: 0,
            in_glob: true,
            last_growth: now,
            failing: false,
        })
    }

    fn read_all(&mut self, now: Instant) {
        let format = self.config.format;
        let flush_idle = self.config.flush_idle;
        for file in &mut self.files {
            match file.read(&mut self.buffer, &mut self.batch, format, now) {
                Ok(truncated) => {
                    self.dirty |= truncated;
                    file.failing = false;
                }
                Err(error) => {
                    if !file.failing {
                        tracing::warn!(path = %file.path.display(), %error, "reading log file failed");
                    }
                    file.failing = true;
                }
            }
            if let Some(joined) = file.joiner.flush_idle(now, flush_idle) {
                file.emit(joined, &mut self.batch, format, now);
            }
        }
    }

    /// Drops files that were rotated away or deleted once they have been
    /// quiet for `rotate_wait` and all their records were sent.
    fn forget_finished(&mut self, now: Instant) {
        let rotate_wait = self.config.rotate_wait;
        let format = self.config.format;
        let mut forgotten = false;
        let mut index = 0;
        while index < self.files.len() {
            let file = &mut self.files[index];
            let quiet = now.saturating_duration_since(file.last_growth) >= rotate_wait;
            if file.in_glob || !quiet {
                index += 1;
                continue;
            }
            // A last line without its newline will not get one now.
            file.flush_all(&mut self.batch, format, now);
            if file.unsent == 0 {
                tracing::info!(path = %file.path.display(), "log file rotated away or deleted: done");
                self.files.remove(index);
                forgotten = true;
                continue;
            }
            index += 1;
        }
        if forgotten {
            self.dirty = true;
        }
    }

    /// Takes the batch, encoded as one request.
    fn seal(&mut self) -> Option<Sealed> {
        let batch = std::mem::take(&mut self.batch);
        if batch.records.is_empty() {
            return None;
        }
        let records = batch.records.len();
        let full = batch.is_full();
        let commits = batch.records.iter().map(|record| record.commit).collect();
        let logs = batch
            .records
            .into_iter()
            .map(|record| (record.service, record.log));
        match super::otlp::request(logs, &self.host_name) {
            Ok(request) => Some(Sealed {
                request,
                records,
                full,
                commits,
            }),
            Err(error) => {
                // Compressing into memory does not fail in practice; if it
                // did, the lines are read again after a restart.
                tracing::error!(%error, "encoding a log batch failed");
                None
            }
        }
    }
}

impl Tailed {
    /// Reads what was appended since the last call, stopping early when
    /// the batch is full; true if the file turned out to be truncated.
    fn read(
        &mut self,
        buffer: &mut [u8],
        batch: &mut Batch,
        format: Format,
        now: Instant,
    ) -> std::io::Result<bool> {
        let size = self.file.metadata()?.len();
        let mut truncated = false;
        if size != self.offset {
            truncated = size < self.offset || !self.fingerprint.matches(&self.file, size)?;
            if truncated {
                self.restart(batch, format, now);
            }
            if self.fingerprint.len < size.min(FINGERPRINT_BYTES) {
                self.fingerprint = Fingerprint::of(&self.file, size)?;
            }
        }
        while self.offset < size && !batch.is_full() {
            let wanted = buffer.len().min((size - self.offset) as usize);
            let read = self.file.read_at(&mut buffer[..wanted], self.offset)?;
            if read == 0 {
                break;
            }
            let consumed = self.split_lines(&buffer[..read], batch, format, now);
            self.offset += consumed as u64;
            self.last_growth = now;
        }
        // Renamed away or deleted, and read to its end: the writer has
        // moved on, so its last record is complete and goes out before the
        // first records of the file that replaced it.
        if !self.in_glob
            && self.offset == size
            && let Some(joined) = self.joiner.flush()
        {
            self.emit(joined, batch, format, now);
        }
        Ok(truncated)
    }

    /// The file was truncated (copytruncate): what was read of its old
    /// content is complete, reading starts over at 0.
    fn restart(&mut self, batch: &mut Batch, format: Format, now: Instant) {
        tracing::info!(path = %self.path.display(), "log file truncated: reading from its start");
        self.flush_all(batch, format, now);
        // Records of the old content keep the old generation, so their
        // commit leaves `committed` alone; after a crash the new content is
        // read from 0 (the old content is in the copy by then).
        self.generation += 1;
        self.offset = 0;
        self.partial_start = 0;
        self.overlong = false;
        self.committed = 0;
    }

    /// Emits everything read: the bytes after the last newline as a line,
    /// and the record being joined.
    fn flush_all(&mut self, batch: &mut Batch, format: Format, now: Instant) {
        if !self.partial.is_empty() {
            let line = Line {
                text: line_text(&self.partial),
                start: self.partial_start,
                end: self.offset,
            };
            self.partial.clear();
            self.partial_start = self.offset;
            self.overlong = false;
            if let Some(joined) = self.joiner.push(line, now) {
                self.emit(joined, batch, format, now);
            }
        }
        if let Some(joined) = self.joiner.flush() {
            self.emit(joined, batch, format, now);
        }
    }

    /// Splits freshly read bytes (starting at `self.offset`) into lines;
    /// stops after a line that filled the batch and returns how many bytes
    /// it used (the rest is read again next time).
    fn split_lines(
        &mut self,
        bytes: &[u8],
        batch: &mut Batch,
        format: Format,
        now: Instant,
    ) -> usize {
        let mut rest = bytes;
        let mut position = self.offset;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            self.append_partial(&rest[..newline]);
            position += newline as u64 + 1;
            let line = Line {
                text: line_text(&self.partial),
                start: self.partial_start,
                end: position,
            };
            self.partial.clear();
            self.partial_start = position;
            self.overlong = false;
            if let Some(joined) = self.joiner.push(line, now) {
                self.emit(joined, batch, format, now);
            }
            rest = &rest[newline + 1..];
            if batch.is_full() {
                return bytes.len() - rest.len();
            }
        }
        self.append_partial(rest);
        bytes.len()
    }

    fn append_partial(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        let room = MAX_LINE_BYTES - self.partial.len();
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// Parses a record and adds it to the batch.
    fn emit(&mut self, joined: Joined, batch: &mut Batch, format: Format, now: Instant) {
        let parsed = parse(format, &joined.first, &joined.continuation);
        let mut attributes = parsed.attributes;
        attributes.extend(self.file_attributes.iter().cloned());
        let log = LogRecord {
            time_unix_nano: parsed.time_unix_nano,
            observed_time_unix_nano: unix_nanos_now(),
            severity_number: parsed.severity_number,
            severity_text: parsed.severity_text,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(parsed.body)),
            }),
            attributes,
            trace_id: parsed.trace_id,
            span_id: parsed.span_id,
            ..Default::default()
        };
        self.unsent += 1;
        batch.bytes += record_size(&log);
        batch.opened_at.get_or_insert(now);
        batch.records.push(Record {
            commit: Commit {
                file: self.id,
                generation: self.generation,
                end: joined.end,
            },
            service: self.service.clone(),
            log,
        });
    }
}

/// The file with identity `id` in the directory of `path`.
fn find_inode(path: &Path, id: FileId) -> Option<PathBuf> {
    let directory = path.parent()?;
    for entry in std::fs::read_dir(directory).ok()?.flatten() {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_file() && metadata.dev() == id.device && metadata.ino() == id.inode {
            return Some(entry.path());
        }
    }
    None
}

/// A line's text: invalid UTF-8 replaced, a Windows `\r` dropped.
fn line_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// About how many bytes a record adds to a request, for the batch limit.
fn record_size(log: &LogRecord) -> usize {
    let body = match log.body.as_ref().and_then(|body| body.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.len(),
        _ => 0,
    };
    let attributes: usize = log.attributes.iter().map(|kv| kv.key.len() + 16).sum();
    body + attributes + 64
}

/// `api.log` → `api`, `nginx-access.log.1` → `nginx-access`.
fn service_from_file_name(name: &str) -> String {
    match name.split('.').next() {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => name.to_string(),
    }
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
