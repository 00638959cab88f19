//! Addresses of a callchain → function names.
//!
//! ```text
//!  kernel address ──────────────▶ /proc/kallsyms           do_syscall_64   [kernel.kallsyms]
//!  user address ─▶ /proc/<pid>/maps
//!     file-backed ─▶ PT_LOAD: file offset → vaddr ─▶ ELF symbols  vispyr_native_spin  /tmp/x/spin
//!                    (no symbol) ─▶ perf map ─▶ else      spin+0x1234
//!     anonymous ───▶ /tmp/perf-<pid>.map (JIT)            JS:*vispyrJsSpin [eval]:1:1  [jit]
//!                    (no entry)                           [unknown]
//! ```
//!
//! ELF tables are cached per file (device, inode, size, mtime — the same
//! library in every process is read once) and dropped after
//! [`IDLE_ROUNDS`] rounds without a hit; a process's mappings are read when it
//! is first seen (so samples of a process that exits before the next upload
//! still resolve) and again at most once a round when an address falls outside
//! them (a library loaded later).

mod elf;
mod kallsyms;
mod perfmap;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use elf::ElfSymbols;
pub use kallsyms::Kallsyms;
use perfmap::PerfMap;

use super::process::{Mapping, find_mapping, in_process_root, namespace_pid, read_maps};
use super::records::{PERF_CONTEXT_KERNEL, PERF_CONTEXT_USER, is_context_marker};

/// Rounds (uploads) an unused ELF table is kept.
const IDLE_ROUNDS: u64 = 30;

/// Name of frames that cannot be resolved.
pub const UNKNOWN: &str = "[unknown]";
/// Mapping name of JIT frames resolved through a perf map.
const JIT_MAPPING: &str = "[jit]";

/// One resolved frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    pub name: Arc<str>,
    /// The file (or `[kernel.kallsyms]`, `[jit]`, …) the code belongs to.
    pub mapping: Arc<str>,
    /// The mapping's GNU build id (hex), for ELF files that have one.
    pub build_id: Option<Arc<str>>,
}

/// Identity of an ELF file across processes and mount namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
}

struct CachedElf {
    /// `None` when the file is not a readable 64-bit ELF (not retried).
    symbols: Option<ElfSymbols>,
    build_id: Option<Arc<str>>,
    last_used: u64,
}

struct ProcessSymbols {
    maps: Vec<Mapping>,
    /// Whether `maps` were read during the current round.
    maps_fresh: bool,
    perf_map: PerfMap,
    /// Whether the perf map was refreshed during the current round.
    perf_map_fresh: bool,
    /// The cache key of each mapped file (None: cannot be opened).
    files: HashMap<String, Option<FileKey>>,
    /// Interned mapping names.
    mapping_names: HashMap<String, Arc<str>>,
}

/// Resolves callchains of many processes; owned by the profiler thread.
pub struct Symbolizer {
    proc_root: PathBuf,
    kallsyms: Kallsyms,
    elves: HashMap<FileKey, CachedElf>,
    processes: HashMap<u32, ProcessSymbols>,
    round: u64,
    kernel_mapping: Arc<str>,
    jit_mapping: Arc<str>,
    unknown: Arc<str>,
}

impl Symbolizer {
    pub fn new(proc_root: PathBuf, kallsyms: Kallsyms) -> Symbolizer {
        Symbolizer {
            proc_root,
            kallsyms,
            elves: HashMap::new(),
            processes: HashMap::new(),
            round: 0,
            kernel_mapping: kallsyms::KERNEL_MAPPING.into(),
            jit_mapping: JIT_MAPPING.into(),
            unknown: UNKNOWN.into(),
        }
    }

    /// Starts a round (one upload): mappings and perf maps may be re-read once
    /// more, and ELF tables unused for [`IDLE_ROUNDS`] are dropped.
    pub fn begin_round(&mut self) {
        self.round += 1;
        for process in self.processes.values_mut() {
            process.maps_fresh = false;
            process.perf_map_fresh = false;
        }
        let round = self.round;
        self.elves
            .retain(|_, elf| round - elf.last_used <= IDLE_ROUNDS);
    }

    /// Reads the mappings of a process seen for the first time, while it is
    /// alive.
    pub fn track(&mut self, pid: u32) {
        if self.processes.contains_key(&pid) {
            return;
        }
        let perf_map_path = in_process_root(
            &self.proc_root,
            pid,
            &format!("/tmp/perf-{}.map", namespace_pid(&self.proc_root, pid)),
        );
        self.processes.insert(
            pid,
            ProcessSymbols {
                maps: read_maps(&self.proc_root, pid).unwrap_or_default(),
                maps_fresh: true,
                perf_map: PerfMap::new(perf_map_path),
                perf_map_fresh: false,
                files: HashMap::new(),
                mapping_names: HashMap::new(),
            },
        );
    }

    /// Drops what is kept about a process (it exited, or its pid was reused).
    pub fn forget(&mut self, pid: u32) {
        self.processes.remove(&pid);
    }

    /// Whether `pid` is tracked.
    pub fn is_tracked(&self, pid: u32) -> bool {
        self.processes.contains_key(&pid)
    }

    /// The frames of a callchain (as the kernel gives it, with its context
    /// markers), leaf first: kernel frames, then user frames. Entries of other
    /// contexts (hypervisor, guest) are skipped.
    pub fn frames(&mut self, pid: u32, callchain: &[u64], out: &mut Vec<Frame>) {
        self.track(pid);
        let mut context = None;
        let mut first = true;
        for &entry in callchain {
            if is_context_marker(entry) {
                context = Some(entry);
                continue;
            }
            // Entries after the leaf are return addresses: the call that is
            // executing ends just before them (and may be the last
            // instruction of its function).
            let address = if first {
                entry
            } else {
                entry.saturating_sub(1)
            };
            first = false;
            match context {
                Some(PERF_CONTEXT_KERNEL) => out.push(self.kernel_frame(address)),
                Some(PERF_CONTEXT_USER) => out.push(self.user_frame(pid, address)),
                _ => {}
            }
        }
    }

    fn kernel_frame(&self, address: u64) -> Frame {
        match self.kallsyms.lookup(address) {
            Some((name, mapping)) => Frame {
                name: name.into(),
                mapping: if mapping == kallsyms::KERNEL_MAPPING {
                    Arc::clone(&self.kernel_mapping)
                } else {
                    mapping.into()
                },
                build_id: None,
            },
            None => Frame {
                name: Arc::clone(&self.unknown),
                mapping: Arc::clone(&self.kernel_mapping),
                build_id: None,
            },
        }
    }

    fn user_frame(&mut self, pid: u32, address: u64) -> Frame {
        let Some(process) = self.processes.get_mut(&pid) else {
            return self.unknown_frame();
        };
        let mut mapping = find_mapping(&process.maps, address).cloned();
        if mapping.is_none() && !process.maps_fresh {
            process.maps_fresh = true;
            if let Ok(maps) = read_maps(&self.proc_root, pid) {
                process.maps = maps;
                process.files.clear();
            }
            mapping = find_mapping(&process.maps, address).cloned();
        }
        // Without a symbol, `libfoo.so+0x1234` says where in the file (for a
        // later look with debug symbols) unless a perf map knows the code.
        let mut in_file = None;
        if let Some(mapping) = mapping.filter(Mapping::is_file) {
            match self.file_frame(pid, &mapping, address) {
                Ok(frame) => return frame,
                Err(frame) => in_file = Some(frame),
            }
        }
        if let Some(name) = self.jit_name(pid, address) {
            return Frame {
                name,
                mapping: Arc::clone(&self.jit_mapping),
                build_id: None,
            };
        }
        in_file.unwrap_or_else(|| self.unknown_frame())
    }

    fn unknown_frame(&self) -> Frame {
        Frame {
            name: Arc::clone(&self.unknown),
            mapping: Arc::clone(&self.unknown),
            build_id: None,
        }
    }

    fn jit_name(&mut self, pid: u32, address: u64) -> Option<Arc<str>> {
        let process = self.processes.get_mut(&pid)?;
        if !process.perf_map_fresh {
            process.perf_map_fresh = true;
            process.perf_map.refresh();
        }
        process.perf_map.lookup(address)
    }

    /// A frame in a file-backed mapping: `Ok` with the symbol, `Err` with a
    /// `file+0xaddress` frame when the file has no symbol there.
    fn file_frame(&mut self, pid: u32, mapping: &Mapping, address: u64) -> Result<Frame, Frame> {
        let round = self.round;
        let proc_root = self.proc_root.clone();
        let process = self.processes.get_mut(&pid).expect("tracked above");
        let mapping_name = Arc::clone(
            process
                .mapping_names
                .entry(mapping.path.clone())
                .or_insert_with(|| mapping.path.as_str().into()),
        );
        let key = *process
            .files
            .entry(mapping.path.clone())
            .or_insert_with(|| file_key(&file_path(&proc_root, pid, mapping)));
        let file_offset = address - mapping.start + mapping.offset;
        let base_name = mapping.path.rsplit('/').next().unwrap_or(&mapping.path);
        let fallback = |vaddr: u64, build_id: Option<Arc<str>>| Frame {
            name: format!("{base_name}+0x{vaddr:x}").into(),
            mapping: Arc::clone(&mapping_name),
            build_id,
        };
        let Some(key) = key else {
            return Err(fallback(file_offset, None));
        };
        let cached = self.elves.entry(key).or_insert_with(|| {
            let symbols = ElfSymbols::load(&file_path(&proc_root, pid, mapping))
                .inspect_err(|error| tracing::debug!(%error, "no symbols"))
                .ok();
            let build_id = symbols.as_ref().and_then(|s| s.build_id()).map(Arc::from);
            CachedElf {
                symbols,
                build_id,
                last_used: round,
            }
        });
        cached.last_used = round;
        let build_id = cached.build_id.clone();
        let Some(symbols) = cached.symbols.as_mut() else {
            return Err(fallback(file_offset, build_id));
        };
        let vaddr = symbols.vaddr_of_offset(file_offset);
        match symbols.lookup(vaddr) {
            Some(name) => Ok(Frame {
                name,
                mapping: mapping_name,
                build_id,
            }),
            None => Err(fallback(vaddr, build_id)),
        }
    }
}

/// Where to open a mapped file: through the process's root, or — when it was
/// deleted (an upgraded package) — through `map_files`, which still reaches it.
fn file_path(proc_root: &Path, pid: u32, mapping: &Mapping) -> PathBuf {
    if mapping.path.ends_with(" (deleted)") {
        return proc_root
            .join(pid.to_string())
            .join("map_files")
            .join(format!("{:x}-{:x}", mapping.start, mapping.end));
    }
    in_process_root(proc_root, pid, &mapping.path)
}

fn file_key(path: &Path) -> Option<FileKey> {
    let metadata = std::fs::metadata(path).ok()?;
    metadata.is_file().then(|| FileKey {
        dev: metadata.dev(),
        ino: metadata.ino(),
        size: metadata.size(),
        mtime: metadata.mtime(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// Compiles C source with gcc into `dir`; the binary's path.
    pub(crate) fn compile_c(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
        let source_path = dir.join(format!("{name}.c"));
        std::fs::write(&source_path, source).unwrap();
        let binary = dir.join(name);
        let status = Command::new("gcc")
            .args(flags)
            .arg("-o")
            .arg(&binary)
            .arg(&source_path)
            .status()
            .expect("gcc");
        assert!(status.success(), "gcc failed");
        binary
    }

    /// A running program that prints its functions' addresses and waits.
    struct Program(Child);

    impl Drop for Program {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    const PROGRAM: &str = r#"
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int vispyr_test_alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) static int vispyr_test_beta(int x) { return vispyr_test_alpha(x) - 2; }
int main(void) {
    printf("%p %p\n", (void *)vispyr_test_alpha, (void *)vispyr_test_beta);
    fflush(stdout);
    sleep(60);
    return vispyr_test_beta(1);
}
"#;

    #[test]
    fn symbolizes_a_running_pie_binary_through_its_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let binary = compile_c(dir.path(), "vispyr_sym", PROGRAM, &["-O0", "-fPIE", "-pie"]);
        let mut child = Command::new(&binary)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let program = Program(child);
        let addresses: Vec<u64> = line
            .split_whitespace()
            .map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).unwrap())
            .collect();
        let pid = program.0.id();

        let mut symbolizer = Symbolizer::new("/proc".into(), Kallsyms::default());
        symbolizer.begin_round();
        let mut frames = Vec::new();
        // Leaf: alpha's first instruction; caller: a return address inside beta.
        let chain = [PERF_CONTEXT_USER, addresses[0], addresses[1] + 5, 0x10];
        symbolizer.frames(pid, &chain, &mut frames);
        assert_eq!(frames.len(), 3);
        assert_eq!(&*frames[0].name, "vispyr_test_alpha");
        assert_eq!(
            &*frames[1].name, "vispyr_test_beta",
            "static functions come from .symtab"
        );
        assert_eq!(&*frames[0].mapping, binary.to_str().unwrap());
        assert!(frames[0].build_id.as_ref().is_some_and(|id| id.len() == 40));
        assert_eq!(&*frames[2].name, UNKNOWN, "nothing is mapped at 0x10");

        // A kernel context without kallsyms resolves to [unknown] in the kernel.
        frames.clear();
        symbolizer.frames(
            pid,
            &[PERF_CONTEXT_KERNEL, 0xffff_ffff_8100_0000],
            &mut frames,
        );
        assert_eq!(frames[0].mapping.as_ref(), kallsyms::KERNEL_MAPPING);
        assert_eq!(frames[0].name.as_ref(), UNKNOWN);

        // The process exits: its mappings were kept, so it still resolves.
        drop(program);
        frames.clear();
        symbolizer.frames(pid, &[PERF_CONTEXT_USER, addresses[0] + 1], &mut frames);
        assert_eq!(&*frames[0].name, "vispyr_test_alpha");
    }

    #[test]
    fn elf_symbols_of_a_non_pie_binary_and_of_a_stripped_one() {
        let dir = tempfile::tempdir().unwrap();
        let binary = compile_c(dir.path(), "plain", PROGRAM, &["-O0", "-no-pie"]);
        let nm = Command::new("nm").arg(&binary).output().unwrap();
        let nm = String::from_utf8(nm.stdout).unwrap();
        let alpha = nm
            .lines()
            .find(|l| l.ends_with(" vispyr_test_alpha"))
            .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
            .unwrap();
        let mut symbols = ElfSymbols::load(&binary).unwrap();
        assert_eq!(
            symbols.lookup(alpha + 2).as_deref(),
            Some("vispyr_test_alpha")
        );
        assert_eq!(symbols.lookup(1), None);
        assert_eq!(
            symbols.vaddr_of_offset(alpha - 0x400000),
            alpha,
            "non-PIE text at 0x400000"
        );

        // Stripped: only exported (dynamic) symbols remain; main is not one.
        let status = Command::new("strip").arg(&binary).status().unwrap();
        assert!(status.success());
        let mut stripped = ElfSymbols::load(&binary).unwrap();
        assert_eq!(stripped.lookup(alpha + 2), None);
    }

    #[test]
    fn cpp_names_are_demangled_from_the_symbol_table() {
        let dir = tempfile::tempdir().unwrap();
        let source_path = dir.path().join("x.cc");
        std::fs::write(
            &source_path,
            "namespace shop { struct Cart { int total(int); }; int Cart::total(int x) { return x + 1; } }\nint main() { shop::Cart c; return c.total(1); }\n",
        )
        .unwrap();
        let binary = dir.path().join("x");
        let status = Command::new("g++")
            .args(["-O0", "-o"])
            .arg(&binary)
            .arg(&source_path)
            .status()
            .unwrap();
        assert!(status.success());
        let nm = Command::new("nm").arg(&binary).output().unwrap();
        let nm = String::from_utf8(nm.stdout).unwrap();
        let total = nm
            .lines()
            .find(|l| l.contains("_ZN4shop4Cart5totalEi"))
            .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
            .unwrap();
        let mut symbols = ElfSymbols::load(&binary).unwrap();
        assert_eq!(
            symbols.lookup(total + 1).as_deref(),
            Some("shop::Cart::total")
        );
    }
}
