//! The on-disk queue under `<data-dir>/queue/`: append-only segment files of
//! CRC-checked frames (layout in [`super::record`]), an `ack` file holding the
//! read position, and a `lock` file so that two agents never share a queue.
//!
//! * [`Queue::append`] returns once the frame is on disk (`fdatasync`). A
//!   writer thread commits everything that arrived meanwhile with one sync
//!   (group commit), so concurrent requests share the cost of a sync.
//! * [`Reader`] hands out records oldest first. [`Reader::ack`] moves the read
//!   position past the last record and writes it to `ack` (without a sync: a
//!   killed agent loses nothing, the page cache keeps it; a power cut can
//!   bring back an older position, so records are delivered again). A
//!   segment is deleted once the reader has moved past its last record.
//! * The bound ([`QueueConfig::max_bytes`]) is on undelivered bytes; a full
//!   queue answers [`SendError::Full`] until the reader makes room. The disk
//!   holds at most one segment of delivered records more than that.
//! * On open, every segment is checked frame by frame. A torn or corrupt tail
//!   (a crash while writing, a bad disk) is cut off with a warning; an
//!   unreadable segment is renamed `*.bad` and left aside.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, oneshot};

use super::record::{
    self, FRAME_HEADER_LEN, HEADER_LEN, Record, decode_payload, parse_frame_header,
};
use crate::outgoing::{Outgoing, SendError};

/// How big the queue may grow.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Undelivered bytes (frames) beyond which appends answer `Full`.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once it holds this much.
    pub segment_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
        }
    }
}

/// A snapshot of the queue's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Records waiting for delivery.
    pub records: u64,
    /// Their bytes on disk.
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Records appended since start.
    pub appended: u64,
    /// Appends refused because the queue was full.
    pub refused_full: u64,
    /// Records acknowledged (delivered or dropped) since start.
    pub acked: u64,
    /// Records skipped because they could not be read back.
    pub unreadable: u64,
}

const ACK_MAGIC: &[u8; 8] = b"VSPYRACK";
const ACK_LEN: usize = 28;
/// A writer batch stops growing at this many requests or bytes.
const BATCH_RECORDS: usize = 1024;
const BATCH_BYTES: usize = 64 << 20;

struct Segment {
    /// Committed (synced) length; the reader never reads past it.
    len: u64,
    /// No more appends: the writer moved on to a later segment.
    sealed: bool,
}

#[derive(Default)]
struct State {
    segments: BTreeMap<u64, Segment>,
    pending_bytes: u64,
    pending_records: u64,
    closed: bool,
}

#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    refused_full: AtomicU64,
    acked: AtomicU64,
    unreadable: AtomicU64,
}

struct Shared {
    dir: PathBuf,
    config: QueueConfig,
    state: Mutex<State>,
    /// Signals the reader that something was appended (or the queue closed).
    appended: Notify,
    counters: Counters,
    /// Held (with an exclusive lock) as long as the queue or its reader lives.
    _lock: File,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent numbers behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        segment_path(&self.dir, seq)
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

struct Append {
    frame: Vec<u8>,
    reply: oneshot::Sender<Result<(), SendError>>,
}

/// The writing side: [`Queue::append`] from any task.
pub struct Queue {
    shared: Arc<Shared>,
    writer: Mutex<Option<(mpsc::Sender<Append>, JoinHandle<()>)>>,
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, recovering what a previous run
    /// left: undelivered records come first out of the returned [`Reader`].
    pub fn open(dir: &Path, config: QueueConfig) -> anyhow::Result<(Queue, Reader)> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the queue directory {}", dir.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("lock"))
            .with_context(|| format!("cannot open {}", dir.join("lock").display()))?;
        lock.try_lock().map_err(|error| {
            anyhow::anyhow!(
                "the queue in {} is in use by another vispyr agent ({error}); give each agent its own --data-dir",
                dir.display()
            )
        })?;

        let ack_path = dir.join("ack");
        let ack = match read_ack(&ack_path) {
            Ok(ack) => ack,
            Err(error) => {
                tracing::warn!(path = %ack_path.display(), %error,
                    "the queue's read position is unreadable: delivering every queued record again");
                None
            }
        };
        let mut seqs = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            if let Some(seq) = entry.file_name().to_str().and_then(segment_seq) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();

        let mut state = State::default();
        let mut reader_offset = HEADER_LEN;
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            if let Some((ack_seq, _)) = ack
                && seq < ack_seq
            {
                // Delivered before the last stop; its deletion did not happen.
                remove_file(&path);
                continue;
            }
            let start = match ack {
                Some((ack_seq, ack_offset)) if ack_seq == seq => ack_offset.max(HEADER_LEN),
                _ => HEADER_LEN,
            };
            let Some(scan) = recover_segment(&path) else {
                continue;
            };
            let start = start.min(scan.len);
            if Some(seq) == ack.map(|(ack_seq, _)| ack_seq) {
                reader_offset = start;
            }
            for &(offset, len) in &scan.frames {
                if offset >= start {
                    state.pending_bytes += len;
                    state.pending_records += 1;
                }
            }
            state.segments.insert(
                seq,
                Segment {
                    len: scan.len,
                    sealed: true,
                },
            );
        }
        let ack_seq = ack.map_or(0, |(seq, _)| seq);
        let last_seq = seqs.last().copied().unwrap_or(0);
        let next_seq = last_seq.max(ack_seq) + 1;
        if state.pending_records > 0 {
            tracing::info!(records = state.pending_records, bytes = state.pending_bytes,
                dir = %dir.display(), "queue: records from a previous run are waiting for delivery");
        }

        let ack_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&ack_path)
            .with_context(|| format!("cannot open {}", ack_path.display()))?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            config,
            state: Mutex::new(state),
            appended: Notify::new(),
            counters: Counters::default(),
            _lock: lock,
        });
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            shared: Arc::clone(&shared),
            next_seq,
            active: None,
        };
        let handle = std::thread::Builder::new()
            .name("vispyr-queue".to_string())
            .spawn(move || writer.run(&receiver))
            .context("cannot start the queue writer thread")?;
        let reader = Reader {
            shared: Arc::clone(&shared),
            seq: if ack.is_some() { ack_seq } else { 0 },
            offset: reader_offset,
            file: None,
            unacked: Vec::new(),
            ack_file,
        };
        let queue = Queue {
            shared,
            writer: Mutex::new(Some((sender, handle))),
        };
        Ok((queue, reader))
    }

    /// Appends `request`; returns once it is on disk. `Full` when the queue
    /// holds `max_bytes` already, `Rejected` when the request alone is larger.
    pub async fn append(&self, request: &Outgoing) -> Result<(), SendError> {
        let frame = record::encode_frame(request, now_unix_ms()).map_err(SendError::Rejected)?;
        let (reply, answer) = oneshot::channel();
        {
            let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let Some((sender, _)) = writer.as_ref() else {
                return Err(SendError::Other(anyhow::anyhow!("the queue is closed")));
            };
            sender
                .send(Append { frame, reply })
                .map_err(|_| SendError::Other(anyhow::anyhow!("the queue writer stopped")))?;
        }
        answer
            .await
            .map_err(|_| SendError::Other(anyhow::anyhow!("the queue writer stopped")))?
    }

    /// Counters and sizes.
    pub fn stats(&self) -> QueueStats {
        stats(&self.shared)
    }

    /// Stops taking appends (they answer an error), waits for the writer to
    /// finish what it has, and lets the reader return `None` once it has read
    /// everything. Idempotent.
    pub fn close(&self) {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((sender, handle)) = writer {
            drop(sender);
            let _ = handle.join();
        }
        self.shared.state().closed = true;
        self.shared.appended.notify_one();
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.close();
    }
}

fn stats(shared: &Shared) -> QueueStats {
    let state = shared.state();
    QueueStats {
        records: state.pending_records,
        bytes: state.pending_bytes,
        segments: state.segments.len() as u64,
        appended: shared.counters.appended.load(Ordering::Relaxed),
        refused_full: shared.counters.refused_full.load(Ordering::Relaxed),
        acked: shared.counters.acked.load(Ordering::Relaxed),
        unreadable: shared.counters.unreadable.load(Ordering::Relaxed),
    }
}

fn remove_file(path: &Path) {
    if let Err(error) = fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "cannot delete a delivered queue segment");
    }
}

/// `(seq, offset)` from the ack file; `None` when there is none yet.
fn read_ack(path: &Path) -> Result<Option<(u64, u64)>, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() < ACK_LEN || &bytes[..8] != ACK_MAGIC {
        return Err("not an ack file".to_string());
    }
    let crc = u32::from_le_bytes(bytes[24..28].try_into().map_err(|_| "short")?);
    if crc != crc32c::crc32c(&bytes[..24]) {
        return Err("checksum mismatch".to_string());
    }
    let seq = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| "short")?);
    let offset = u64::from_le_bytes(bytes[16..24].try_into().map_err(|_| "short")?);
    Ok(Some((seq, offset)))
}

fn encode_ack(seq: u64, offset: u64) -> [u8; ACK_LEN] {
    let mut bytes = [0u8; ACK_LEN];
    bytes[..8].copy_from_slice(ACK_MAGIC);
    bytes[8..16].copy_from_slice(&seq.to_le_bytes());
    bytes[16..24].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..24]);
    bytes[24..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// What a segment holds: its valid length and `(offset, frame length)` of
/// every frame.
struct Scan {
    len: u64,
    frames: Vec<(u64, u64)>,
}

/// Checks every frame of a segment left by a previous run; cuts a torn or
/// corrupt tail off. `None` when the segment is unusable (set aside).
fn recover_segment(path: &Path) -> Option<Scan> {
    let result = (|| -> io::Result<Option<Scan>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let file_len = file.metadata()?.len();
        let mut input = io::BufReader::with_capacity(1 << 20, &file);
        let mut header = [0u8; HEADER_LEN as usize];
        if file_len < HEADER_LEN {
            // Created but never written: a crash right after creating it.
            drop(input);
            tracing::warn!(path = %path.display(), "queue: removing an empty segment");
            fs::remove_file(path)?;
            return Ok(None);
        }
        input.read_exact(&mut header)?;
        if let Err(problem) = record::check_segment_header(&header) {
            let aside = path.with_extension("seg.bad");
            tracing::warn!(path = %path.display(), aside = %aside.display(), %problem,
                "queue: unreadable segment set aside; its records are not delivered");
            fs::rename(path, &aside)?;
            return Ok(None);
        }
        let mut scan = Scan {
            len: HEADER_LEN,
            frames: Vec::new(),
        };
        let mut payload = Vec::new();
        let mut problem = None;
        while scan.len < file_len {
            let mut frame_header = [0u8; FRAME_HEADER_LEN as usize];
            let remaining = file_len - scan.len;
            if remaining < FRAME_HEADER_LEN {
                problem = Some("a torn frame header".to_string());
                break;
            }
            input.read_exact(&mut frame_header)?;
            let Some((len, crc)) = parse_frame_header(&frame_header) else {
                problem = Some("an impossible frame length".to_string());
                break;
            };
            if u64::from(len) > remaining - FRAME_HEADER_LEN {
                problem = Some("a torn frame".to_string());
                break;
            }
            payload.resize(len as usize, 0);
            input.read_exact(&mut payload)?;
            if crc32c::crc32c(&payload) != crc {
                problem = Some("a checksum mismatch".to_string());
                break;
            }
            let frame_len = FRAME_HEADER_LEN + u64::from(len);
            scan.frames.push((scan.len, frame_len));
            scan.len += frame_len;
        }
        drop(input);
        if let Some(problem) = problem {
            tracing::warn!(path = %path.display(), offset = scan.len,
                skipped_bytes = file_len - scan.len, %problem,
                "queue: a torn or corrupt tail (a crash while writing?) is skipped");
            file.set_len(scan.len)?;
            file.sync_all()?;
        }
        Ok(Some(scan))
    })();
    match result {
        Ok(scan) => scan,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error,
                "queue: cannot read a segment; its records are not delivered");
            None
        }
    }
}

/// The writer thread: appends frames to the active segment and syncs them.
struct Writer {
    shared: Arc<Shared>,
    next_seq: u64,
    /// `(seq, file, committed length)`.
    active: Option<(u64, File, u64)>,
}

/// What one batch changed, applied to the shared state at once.
#[derive(Default)]
struct Commit {
    /// `(seq, committed length, sealed)`, in order.
    segments: Vec<(u64, u64, bool)>,
    bytes: u64,
    records: u64,
}

impl Writer {
    fn run(mut self, receiver: &mpsc::Receiver<Append>) {
        while let Ok(first) = receiver.recv() {
            let mut bytes = first.frame.len();
            let mut batch = vec![first];
            while batch.len() < BATCH_RECORDS && bytes < BATCH_BYTES {
                match receiver.try_recv() {
                    Ok(append) => {
                        bytes += append.frame.len();
                        batch.push(append);
                    }
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
        }
        if let Some((seq, _, len)) = self.active.take()
            && let Some(segment) = self.shared.state().segments.get_mut(&seq)
        {
            segment.len = len;
            segment.sealed = true;
        }
    }

    fn write_batch(&mut self, batch: Vec<Append>) {
        let max_bytes = self.shared.config.max_bytes;
        let mut pending = self.shared.state().pending_bytes;
        let mut accepted = Vec::with_capacity(batch.len());
        for append in batch {
            let len = append.frame.len() as u64;
            if pending.saturating_add(len) <= max_bytes {
                pending += len;
                accepted.push(append);
                continue;
            }
            self.shared
                .counters
                .refused_full
                .fetch_add(1, Ordering::Relaxed);
            let error = if pending == 0 {
                SendError::Rejected(format!(
                    "a request of {len} bytes is larger than the queue (--queue-max-bytes {max_bytes})"
                ))
            } else {
                SendError::Full(format!(
                    "the agent's queue is full ({pending} of {max_bytes} bytes waiting for the server)"
                ))
            };
            let _ = append.reply.send(Err(error));
        }
        if accepted.is_empty() {
            return;
        }
        let mut commit = Commit::default();
        let mut written = 0;
        let mut failure = None;
        while written < accepted.len() {
            match self.write_group(&accepted[written..], &mut commit) {
                Ok(count) => written += count,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        {
            let mut state = self.shared.state();
            for &(seq, len, sealed) in &commit.segments {
                let segment = state.segments.entry(seq).or_insert(Segment { len, sealed });
                segment.len = len;
                segment.sealed = sealed;
            }
            state.pending_bytes += commit.bytes;
            state.pending_records += commit.records;
        }
        self.shared
            .counters
            .appended
            .fetch_add(commit.records, Ordering::Relaxed);
        self.shared.appended.notify_one();
        let mut replies = accepted.into_iter();
        for append in replies.by_ref().take(written) {
            let _ = append.reply.send(Ok(()));
        }
        if let Some(error) = failure {
            tracing::warn!(%error, dir = %self.shared.dir.display(), "queue: cannot write to disk");
            for append in replies {
                let _ = append.reply.send(Err(SendError::Full(format!(
                    "the agent cannot write its queue: {error}"
                ))));
            }
        }
    }

    /// Writes as many of `appends` as fit in the active segment (at least one)
    /// and syncs them; returns how many.
    fn write_group(&mut self, appends: &[Append], commit: &mut Commit) -> io::Result<usize> {
        let segment_bytes = self.shared.config.segment_bytes;
        if let Some((seq, _, len)) = &self.active
            && *len >= segment_bytes
        {
            commit.segments.push((*seq, *len, true));
            self.active = None;
        }
        if self.active.is_none() {
            let seq = self.next_seq;
            let path = self.shared.segment_path(seq);
            let create = || -> io::Result<File> {
                let mut file = OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(&path)?;
                file.write_all(&record::segment_header())?;
                file.sync_all()?;
                sync_dir(&self.shared.dir)?;
                Ok(file)
            };
            let file = create().inspect_err(|_| {
                let _ = fs::remove_file(&path);
            })?;
            self.next_seq += 1;
            self.active = Some((seq, file, HEADER_LEN));
        }
        let Some((seq, file, len)) = self.active.as_mut() else {
            unreachable!("an active segment was just opened");
        };
        let mut buffer = Vec::new();
        let mut count = 0;
        for append in appends {
            if count > 0 && *len + buffer.len() as u64 + append.frame.len() as u64 > segment_bytes {
                break;
            }
            buffer.extend_from_slice(&append.frame);
            count += 1;
        }
        let result = file
            .write_all_at(&buffer, *len)
            .and_then(|()| file.sync_data());
        if let Err(error) = result {
            // Leave nothing half-written behind, and start afresh next time.
            let _ = file.set_len(*len);
            commit.segments.push((*seq, *len, true));
            self.active = None;
            return Err(error);
        }
        *len += buffer.len() as u64;
        commit.segments.push((*seq, *len, false));
        commit.bytes += buffer.len() as u64;
        commit.records += count as u64;
        Ok(count)
    }
}

/// The reading side, owned by the delivery task: oldest record first.
pub struct Reader {
    shared: Arc<Shared>,
    /// The read position: the oldest record not acknowledged (what `ack`
    /// holds).
    seq: u64,
    offset: u64,
    file: Option<(u64, File)>,
    /// Frame lengths of the records handed out and not yet acknowledged, in
    /// order from the read position (all in segment `seq`).
    unacked: Vec<u64>,
    ack_file: File,
}

enum Step {
    Wait,
    MoveTo(u64),
    Finish(u64),
    Read(u64),
    Closed,
}

enum ReadError {
    /// The frame structure is broken: nothing after it can be read.
    Corrupt(String),
    /// The frame is intact but its payload cannot be decoded.
    Undecodable(String, u64),
    Io(io::Error),
}

impl Reader {
    /// The oldest unacknowledged record; waits for one. Records handed out
    /// and not acknowledged are handed out again (the same record comes back
    /// until [`Reader::ack`]). `None` once the queue is closed and everything
    /// in it was read.
    pub async fn next(&mut self) -> Option<Record> {
        self.unacked.clear();
        let shared = Arc::clone(&self.shared);
        loop {
            let notified = shared.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.step() {
                Step::Wait => notified.await,
                Step::Closed => return None,
                Step::MoveTo(seq) => {
                    self.seq = seq;
                    self.offset = HEADER_LEN;
                    self.file = None;
                }
                Step::Finish(seq) => {
                    self.shared.state().segments.remove(&seq);
                    self.file = None;
                    remove_file(&self.shared.segment_path(seq));
                    self.seq = seq + 1;
                    self.offset = HEADER_LEN;
                }
                Step::Read(committed) => match self.read_at(self.offset, committed) {
                    Ok((record, frame_len)) => {
                        self.unacked.push(frame_len);
                        return Some(record);
                    }
                    Err(ReadError::Corrupt(problem)) => {
                        let skipped = committed - self.offset;
                        tracing::warn!(segment = %self.shared.segment_path(self.seq).display(),
                            offset = self.offset, skipped_bytes = skipped, %problem,
                            "queue: a corrupt record; the rest of its segment is skipped");
                        self.shared
                            .counters
                            .unreadable
                            .fetch_add(1, Ordering::Relaxed);
                        {
                            let mut state = self.shared.state();
                            state.pending_bytes = state.pending_bytes.saturating_sub(skipped);
                            state.pending_records = state.pending_records.saturating_sub(1);
                            if state.pending_bytes == 0 {
                                state.pending_records = 0;
                            }
                        }
                        self.offset = committed;
                        self.persist_ack_logged();
                    }
                    Err(ReadError::Undecodable(problem, frame_len)) => {
                        tracing::warn!(segment = %self.shared.segment_path(self.seq).display(),
                            offset = self.offset, %problem, "queue: an unreadable record is skipped");
                        self.shared
                            .counters
                            .unreadable
                            .fetch_add(1, Ordering::Relaxed);
                        self.unacked.push(frame_len);
                        self.advance(1);
                        self.persist_ack_logged();
                    }
                    Err(ReadError::Io(error)) => {
                        tracing::warn!(segment = %self.shared.segment_path(self.seq).display(),
                            %error, "queue: cannot read a segment; retrying in 1 s");
                        self.file = None;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }

    /// The record after the last one handed out, if it is already on disk in
    /// the same segment and `wanted` takes it (to send several in one
    /// request); it is then handed out too. Never waits.
    pub fn next_if(&mut self, wanted: impl FnOnce(&Record) -> bool) -> Option<Record> {
        if self.unacked.is_empty() {
            return None;
        }
        let position = self.offset + self.unacked.iter().sum::<u64>();
        let committed = self.shared.state().segments.get(&self.seq)?.len;
        if position >= committed {
            return None;
        }
        // A record that cannot be read is left for `next` to deal with.
        let (record, frame_len) = self.read_at(position, committed).ok()?;
        if !wanted(&record) {
            return None;
        }
        self.unacked.push(frame_len);
        Some(record)
    }

    /// Marks every record handed out since [`Reader::next`] as done
    /// (delivered or dropped) and persists the new read position.
    pub fn ack(&mut self) -> io::Result<()> {
        self.ack_first(self.unacked.len())
    }

    /// Marks the first `count` records handed out as done.
    pub fn ack_first(&mut self, count: usize) -> io::Result<()> {
        let count = count.min(self.unacked.len());
        if count == 0 {
            return Ok(());
        }
        self.advance(count);
        self.persist_ack()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> QueueStats {
        stats(&self.shared)
    }

    fn advance(&mut self, count: usize) {
        let bytes: u64 = self.unacked.drain(..count).sum();
        self.offset += bytes;
        let mut state = self.shared.state();
        state.pending_bytes = state.pending_bytes.saturating_sub(bytes);
        state.pending_records = state.pending_records.saturating_sub(count as u64);
        drop(state);
        self.shared
            .counters
            .acked
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    fn persist_ack(&self) -> io::Result<()> {
        self.ack_file
            .write_all_at(&encode_ack(self.seq, self.offset), 0)
    }

    fn persist_ack_logged(&self) {
        if let Err(error) = self.persist_ack() {
            tracing::warn!(%error, "queue: cannot save the read position");
        }
    }

    fn step(&self) -> Step {
        let state = self.shared.state();
        let Some((&seq, segment)) = state.segments.range(self.seq..).next() else {
            return if state.closed {
                Step::Closed
            } else {
                Step::Wait
            };
        };
        if seq != self.seq {
            return Step::MoveTo(seq);
        }
        if self.offset < segment.len {
            return Step::Read(segment.len);
        }
        if segment.sealed || state.segments.range(seq + 1..).next().is_some() {
            return Step::Finish(seq);
        }
        if state.closed {
            Step::Closed
        } else {
            Step::Wait
        }
    }

    /// The record at `offset` of the current segment, `committed` bytes long.
    fn read_at(&mut self, offset: u64, committed: u64) -> Result<(Record, u64), ReadError> {
        if self.file.as_ref().is_none_or(|(seq, _)| *seq != self.seq) {
            let file = File::open(self.shared.segment_path(self.seq)).map_err(ReadError::Io)?;
            self.file = Some((self.seq, file));
        }
        let Some((_, file)) = self.file.as_ref() else {
            unreachable!("the segment was just opened");
        };
        let mut header = [0u8; FRAME_HEADER_LEN as usize];
        if committed - offset < FRAME_HEADER_LEN {
            return Err(ReadError::Corrupt("a torn frame header".to_string()));
        }
        file.read_exact_at(&mut header, offset)
            .map_err(ReadError::Io)?;
        let Some((len, crc)) = parse_frame_header(&header) else {
            return Err(ReadError::Corrupt("an impossible frame length".to_string()));
        };
        let frame_len = FRAME_HEADER_LEN + u64::from(len);
        if frame_len > committed - offset {
            return Err(ReadError::Corrupt(
                "a frame runs past the segment's end".to_string(),
            ));
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact_at(&mut payload, offset + FRAME_HEADER_LEN)
            .map_err(ReadError::Io)?;
        if crc32c::crc32c(&payload) != crc {
            return Err(ReadError::Corrupt("a checksum mismatch".to_string()));
        }
        decode_payload(&payload)
            .map(|record| (record, frame_len))
            .map_err(|problem| ReadError::Undecodable(problem, frame_len))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.ack_file.sync_data();
    }
}
