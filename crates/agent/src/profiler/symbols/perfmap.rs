//! Names of JIT-compiled code from perf map files, `/tmp/perf-<pid>.map`: one
//! `START SIZE name` line (hex, `0x` optional) per code object, written by
//! `node --perf-basic-prof`, `python -X perf` (3.12+), Java's perf-map-agent
//! or async-profiler, .NET with `DOTNET_PerfMapEnabled=1`, and others.
//!
//! Runtimes append while they run, and a JIT reuses the address space of
//! code it collected: the file is read incrementally (from where the last read
//! stopped, a partial last line kept for the next read), and a newer entry
//! replaces the older ones it overlaps.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// Most bytes read from a map file in one refresh (a runtime that logs a lot
/// of code is caught up over several refreshes rather than in one large read).
const MAX_READ: u64 = 32 << 20;

/// The code ranges of one process's perf map file.
pub struct PerfMap {
    path: PathBuf,
    /// Bytes of the file consumed so far.
    offset: u64,
    /// An incomplete last line, completed by the next read.
    partial: Vec<u8>,
    /// start → (end, name); ranges do not overlap.
    ranges: BTreeMap<u64, (u64, Arc<str>)>,
}

impl PerfMap {
    pub fn new(path: PathBuf) -> PerfMap {
        PerfMap {
            path,
            offset: 0,
            partial: Vec::new(),
            ranges: BTreeMap::new(),
        }
    }

    /// Reads what was appended since the last call. A file that shrank was
    /// replaced (a new process with the same pid) and is read from the start.
    pub fn refresh(&mut self) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        let Ok(length) = file.metadata().map(|m| m.len()) else {
            return;
        };
        if length < self.offset {
            self.offset = 0;
            self.partial.clear();
            self.ranges.clear();
        }
        if length == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut appended = Vec::new();
        let Ok(read) = file.take(MAX_READ).read_to_end(&mut appended) else {
            return;
        };
        self.offset += read as u64;
        let mut bytes = std::mem::take(&mut self.partial);
        bytes.extend_from_slice(&appended);
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(last_newline) => last_newline + 1,
            None => 0,
        };
        self.partial = bytes[complete..].to_vec();
        for line in String::from_utf8_lossy(&bytes[..complete]).lines() {
            if let Some((start, size, name)) = parse_line(line) {
                self.insert(start, start.saturating_add(size), name.into());
            }
        }
    }

    /// Adds `[start, end)`, dropping the older ranges it overlaps.
    fn insert(&mut self, start: u64, end: u64, name: Arc<str>) {
        if end <= start {
            return;
        }
        if let Some((&before, &(before_end, _))) = self.ranges.range(..start).next_back()
            && before_end > start
        {
            self.ranges.remove(&before);
        }
        let overlapped: Vec<u64> = self.ranges.range(start..end).map(|(&s, _)| s).collect();
        for old in overlapped {
            self.ranges.remove(&old);
        }
        self.ranges.insert(start, (end, name));
    }

    /// The name of the code holding `address`.
    pub fn lookup(&self, address: u64) -> Option<Arc<str>> {
        let (_, (end, name)) = self.ranges.range(..=address).next_back()?;
        (address < *end).then(|| Arc::clone(name))
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

fn hex(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u64::from_str_radix(digits, 16).ok()
}

/// `START SIZE name with spaces` → its parts.
fn parse_line(line: &str) -> Option<(u64, u64, &str)> {
    let mut parts = line.splitn(3, ' ');
    let start = hex(parts.next()?)?;
    let size = hex(parts.next()?)?;
    let name = parts.next()?.trim();
    (!name.is_empty() && size > 0).then_some((start, size, name))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_appended_lines_and_lets_newer_code_replace_older() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("perf-1.map");
        let mut file = File::create(&path).unwrap();
        write!(
            file,
            "1000 100 JS:*vispyrJsSpin [eval]:1:1\n0x2000 0x10 py::f:/app.py\nnot a line\n3000 zz bad\n4000 0 empty\n5000 10 partial-na"
        )
        .unwrap();
        let mut map = PerfMap::new(path.clone());
        map.refresh();
        assert_eq!(
            map.lookup(0x1000).as_deref(),
            Some("JS:*vispyrJsSpin [eval]:1:1")
        );
        assert_eq!(
            map.lookup(0x10ff).as_deref(),
            Some("JS:*vispyrJsSpin [eval]:1:1")
        );
        assert_eq!(map.lookup(0x1100), None);
        assert_eq!(map.lookup(0x2008).as_deref(), Some("py::f:/app.py"));
        assert_eq!(map.lookup(0x0fff), None);
        assert_eq!(map.lookup(0x4000), None);
        assert_eq!(
            map.lookup(0x5000),
            None,
            "the partial line waits for its end"
        );

        // The runtime appends: the partial line completes, and new code
        // reuses part of the old range.
        write!(file, "me\n1080 100 JS:~reused\n").unwrap();
        map.refresh();
        assert_eq!(map.lookup(0x5001).as_deref(), Some("partial-name"));
        assert_eq!(map.lookup(0x1090).as_deref(), Some("JS:~reused"));
        assert_eq!(map.lookup(0x1010), None, "the overlapped old range is gone");

        // A new process with the same pid writes a new, shorter file.
        drop(file);
        std::fs::write(&path, "9000 10 fresh\n").unwrap();
        map.refresh();
        assert_eq!(map.lookup(0x9000).as_deref(), Some("fresh"));
        assert_eq!(map.lookup(0x1090), None);
    }

    #[test]
    fn a_missing_file_is_empty() {
        let mut map = PerfMap::new("/nonexistent/perf-1.map".into());
        map.refresh();
        assert!(map.is_empty());
        assert_eq!(map.lookup(1), None);
    }
}
