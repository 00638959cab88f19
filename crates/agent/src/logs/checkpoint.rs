//! `<data-dir>/logs/checkpoints.json`: for every file being tailed, the
//! offset up to which its records have been accepted by the sink, so a
//! restarted agent resumes exactly there.
//!
//! Files are keyed by (device, inode) — a rotated file keeps its inode under
//! its new name — and carry a fingerprint of their first bytes, because a
//! file system reuses the inode of a deleted file for the next new one.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::LogsError;

/// How many leading bytes the fingerprint covers. Enough to differ between
/// two log files (a time stamp is in the first line), small enough to read
/// on every poll.
pub const FINGERPRINT_BYTES: u64 = 256;

/// A file's identity on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

/// A hash of a file's first `len` bytes (`len` grows with a young file up to
/// [`FINGERPRINT_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    /// FNV-1a, written as hex so the file stays readable.
    #[serde(with = "hex_u64")]
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `file`'s first `min(size, FINGERPRINT_BYTES)`
    /// bytes (fewer if the file shrank meanwhile).
    pub fn of(file: &File, size: u64) -> std::io::Result<Fingerprint> {
        let mut buffer = vec![0u8; size.min(FINGERPRINT_BYTES) as usize];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read_at(&mut buffer[filled..], filled as u64)? {
                0 => break,
                read => filled += read,
            }
        }
        Ok(Fingerprint {
            len: filled as u64,
            hash: fnv1a(&buffer[..filled]),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken
    /// of (false also if it is now shorter than that).
    pub fn matches(&self, file: &File, size: u64) -> std::io::Result<bool> {
        if size < self.len {
            return Ok(false);
        }
        Ok(Fingerprint::of(file, self.len)? == *self)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// One file's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Where the file was found (for people reading the file; matching is by
    /// device and inode).
    pub path: PathBuf,
    pub device: u64,
    pub inode: u64,
    /// Everything before this offset has been accepted by the sink.
    pub offset: u64,
    pub fingerprint: Fingerprint,
}

impl Checkpoint {
    pub fn id(&self) -> FileId {
        FileId {
            device: self.device,
            inode: self.inode,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    files: Vec<Checkpoint>,
}

/// The checkpoint file of a data dir.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(data_dir: &Path) -> Store {
        Store {
            path: data_dir.join("logs").join("checkpoints.json"),
        }
    }

    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }

    /// The saved checkpoints; `None` if there is no checkpoint file, i.e.
    /// the agent has never tailed logs with this data dir before.
    pub fn load(&self) -> Result<Option<Vec<Checkpoint>>, LogsError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LogsError::ReadCheckpoints {
                    path: self.path.clone(),
                    source: source.into(),
                });
            }
        };
        let file: CheckpointFile =
            serde_json::from_slice(&text).map_err(|source| LogsError::ReadCheckpoints {
                path: self.path.clone(),
                source: source.into(),
            })?;
        Ok(Some(file.files))
    }

    /// Replaces the checkpoint file atomically (temporary file, fsync,
    /// rename), so a crash leaves either the old or the new one.
    pub fn save(&self, checkpoints: &[Checkpoint]) -> Result<(), LogsError> {
        let write = || -> std::io::Result<()> {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let temporary = self.path.with_extension("json.tmp");
            let body = serde_json::to_vec_pretty(&CheckpointFile {
                files: checkpoints.to_vec(),
            })?;
            let mut file = File::create(&temporary)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            File::open(dir)?.sync_all()
        };
        write().map_err(|source| LogsError::WriteCheckpoints {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert!(store.load().unwrap().is_none(), "no file: first run");
        let checkpoints = vec![Checkpoint {
            path: "/var/log/app.log".into(),
            device: 2049,
            inode: 131_072,
            offset: 4096,
            fingerprint: Fingerprint {
                len: 256,
                hash: 0xdead_beef_0123_4567,
            },
        }];
        store.save(&checkpoints).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), checkpoints);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"deadbeef01234567\""), "{text}");
        store.save(&[]).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), Vec::new());
        assert!(!store.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn a_broken_checkpoint_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        std::fs::write(store.path(), b"{\"files\": [\xff").unwrap();
        let error = store.load().unwrap_err();
        assert!(error.to_string().contains("checkpoints.json"), "{error}");
    }

    #[test]
    fn fingerprint_tells_files_apart_and_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "first line\n").unwrap();
        let file = File::open(&path).unwrap();
        let young = Fingerprint::of(&file, 11).unwrap();
        assert_eq!(young.len, 11);
        assert!(young.matches(&file, 11).unwrap());
        std::fs::write(&path, "other line\n").unwrap();
        assert!(!young.matches(&file, 11).unwrap());
        std::fs::write(&path, "first").unwrap();
        assert!(!young.matches(&file, 5).unwrap(), "shorter than the print");
        std::fs::write(&path, "x".repeat(1000)).unwrap();
        assert_eq!(Fingerprint::of(&file, 1000).unwrap().len, FINGERPRINT_BYTES);
    }
}
