//! Function names of native code from an ELF file's symbol tables.
//!
//! Only what a lookup needs stays in memory: each function symbol's start,
//! size and the offset of its name in the string table (16 bytes a symbol —
//! node's 86,000 functions take 1.4 MiB). Names are read from the file when a
//! sample first lands in the function, demangled, and kept. `.symtab` is used
//! when present, else `.dynsym`; a stripped file whose build id has a separate
//! debug file under `/usr/lib/debug/.build-id/` (Debian's `-dbgsym`
//! packages) takes that file's `.symtab`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::elf::{PT_LOAD, STT_FUNC, STT_GNU_IFUNC};
use object::read::elf::{ElfFile64, ProgramHeader, SectionHeader, Sym};
use object::{Endianness, Object, ReadCache};

/// Longest symbol name read (C++ template instances can be long).
const MAX_NAME: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: u64,
    /// 0 when the symbol table does not say; then it reaches the next symbol.
    size: u32,
    /// Offset of the name in the string table.
    name: u32,
}

/// A `PT_LOAD` segment: file offsets `[offset, offset + size)` appear at
/// virtual addresses from `vaddr`.
#[derive(Debug, Clone, Copy)]
struct Load {
    offset: u64,
    vaddr: u64,
    size: u64,
}

/// The function symbols of one ELF file.
pub struct ElfSymbols {
    /// The file the string table is read from (the debug file, if used).
    names_file: File,
    strtab_offset: u64,
    strtab_size: u64,
    symbols: Vec<Symbol>,
    loads: Vec<Load>,
    build_id: Option<String>,
    /// Demangled names of symbols hit so far, by index in `symbols`.
    names: HashMap<usize, Arc<str>>,
}

/// Why a file yields no symbols.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a 64-bit ELF file: {message}")]
    Parse { path: PathBuf, message: String },
}

impl ElfSymbols {
    pub fn load(path: &Path) -> Result<ElfSymbols, ElfError> {
        let read_error = |source| ElfError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(read_error)?;
        let parsed = Tables::read(&file).map_err(|message| ElfError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let mut names_file = file;
        let mut tables = parsed;
        if !tables.from_symtab
            && let Some(debug_path) = tables.build_id.as_deref().and_then(debug_file)
            && let Ok(debug) = File::open(&debug_path)
            && let Ok(debug_tables) = Tables::read(&debug)
            && debug_tables.from_symtab
        {
            tables.symbols = debug_tables.symbols;
            tables.strtab = debug_tables.strtab;
            names_file = debug;
        }
        let mut symbols = tables.symbols;
        symbols.sort_by_key(|s| (s.start, std::cmp::Reverse(s.size)));
        symbols.dedup_by_key(|s| s.start);
        symbols.shrink_to_fit();
        Ok(ElfSymbols {
            names_file,
            strtab_offset: tables.strtab.0,
            strtab_size: tables.strtab.1,
            symbols,
            loads: tables.loads,
            build_id: tables.build_id,
            names: HashMap::new(),
        })
    }

    /// The GNU build id, hex.
    pub fn build_id(&self) -> Option<&str> {
        self.build_id.as_deref()
    }

    /// The virtual address (as in the symbol table) at a file offset.
    pub fn vaddr_of_offset(&self, file_offset: u64) -> u64 {
        for load in &self.loads {
            if file_offset >= load.offset && file_offset - load.offset < load.size {
                return file_offset - load.offset + load.vaddr;
            }
        }
        file_offset
    }

    /// The demangled name of the function holding `vaddr`.
    pub fn lookup(&mut self, vaddr: u64) -> Option<Arc<str>> {
        let index = self.symbols.partition_point(|s| s.start <= vaddr);
        let index = index.checked_sub(1)?;
        let symbol = self.symbols[index];
        let end = if symbol.size > 0 {
            symbol.start + u64::from(symbol.size)
        } else {
            self.symbols
                .get(index + 1)
                .map_or(u64::MAX, |next| next.start)
        };
        if vaddr >= end {
            return None;
        }
        if let Some(name) = self.names.get(&index) {
            return Some(Arc::clone(name));
        }
        let name: Arc<str> = demangle(&self.read_name(symbol.name)?).into();
        self.names.insert(index, Arc::clone(&name));
        Some(name)
    }

    fn read_name(&self, offset: u32) -> Option<String> {
        let offset = u64::from(offset);
        if offset >= self.strtab_size {
            return None;
        }
        let limit = (self.strtab_size - offset).min(MAX_NAME as u64) as usize;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 256];
        while bytes.len() < limit {
            let want = chunk.len().min(limit - bytes.len());
            let at = self.strtab_offset + offset + bytes.len() as u64;
            let read = self.names_file.read_at(&mut chunk[..want], at).ok()?;
            if read == 0 {
                break;
            }
            if let Some(nul) = chunk[..read].iter().position(|&b| b == 0) {
                bytes.extend_from_slice(&chunk[..nul]);
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            bytes.extend_from_slice(&chunk[..read]);
        }
        (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// What is read from one file.
struct Tables {
    symbols: Vec<Symbol>,
    /// File offset and size of the symbols' string table.
    strtab: (u64, u64),
    from_symtab: bool,
    loads: Vec<Load>,
    build_id: Option<String>,
}

impl Tables {
    /// Reads headers and symbol tables through a cache that reads only the
    /// ranges parsed (not the code), and drops it afterwards.
    fn read(file: &File) -> Result<Tables, String> {
        let cache = ReadCache::new(file);
        let elf = ElfFile64::<Endianness, _>::parse(&cache).map_err(|e| e.to_string())?;
        let endian = elf.endian();
        let mut loads = Vec::new();
        for header in elf.elf_program_headers() {
            if header.p_type(endian) == PT_LOAD {
                loads.push(Load {
                    offset: header.p_offset(endian),
                    vaddr: header.p_vaddr(endian),
                    size: header.p_filesz(endian),
                });
            }
        }
        let build_id = elf
            .build_id()
            .ok()
            .flatten()
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect());
        let (table, from_symtab) = if elf.elf_symbol_table().is_empty() {
            (elf.elf_dynamic_symbol_table(), false)
        } else {
            (elf.elf_symbol_table(), true)
        };
        let strtab = match elf.elf_section_table().section(table.string_section()) {
            Ok(section) if !table.is_empty() => {
                (section.sh_offset(endian), section.sh_size(endian))
            }
            _ => (0, 0),
        };
        let mut symbols = Vec::new();
        for symbol in table.symbols() {
            let kind = symbol.st_type();
            if (kind != STT_FUNC && kind != STT_GNU_IFUNC) || symbol.is_undefined(endian) {
                continue;
            }
            let start = symbol.st_value(endian);
            if start == 0 {
                continue;
            }
            symbols.push(Symbol {
                start,
                size: u32::try_from(symbol.st_size(endian)).unwrap_or(u32::MAX),
                name: symbol.st_name(endian),
            });
        }
        Ok(Tables {
            symbols,
            strtab,
            from_symtab,
            loads,
            build_id,
        })
    }
}

/// `/usr/lib/debug/.build-id/ab/cdef….debug`, if it exists.
fn debug_file(build_id: &str) -> Option<PathBuf> {
    if build_id.len() < 3 {
        return None;
    }
    let path = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &build_id[..2],
        &build_id[2..]
    ));
    path.exists().then_some(path)
}

/// Rust (v0 and legacy) and C++ names, without parameter lists (so overloads
/// merge into one frame, as profilers usually show them); anything else as is.
pub fn demangle(name: &str) -> String {
    if let Ok(rust) = rustc_demangle::try_demangle(name) {
        return format!("{rust:#}");
    }
    if name.starts_with("_Z")
        && let Ok(symbol) = cpp_demangle::Symbol::new(name)
    {
        let options = cpp_demangle::DemangleOptions::new().no_params();
        if let Ok(demangled) = symbol.demangle(&options) {
            return demangled;
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_rust_and_cpp_and_keeps_c() {
        assert_eq!(
            demangle("_ZN2v88internal7Isolate4InitEPNS0_12SnapshotDataES3_S3_b"),
            "v8::internal::Isolate::Init"
        );
        // Not valid C++ mangling (a length that overruns the name): kept.
        assert_eq!(
            demangle("_ZN2v88internal7Isolate4InitEPNS0_22SnapshotDataEb"),
            "_ZN2v88internal7Isolate4InitEPNS0_22SnapshotDataEb"
        );
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(demangle("vispyr_native_spin"), "vispyr_native_spin");
        assert_eq!(demangle("_Z"), "_Z");
    }

    #[test]
    fn not_an_elf_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(matches!(
            ElfSymbols::load(&path),
            Err(ElfError::Parse { .. })
        ));
        assert!(matches!(
            ElfSymbols::load(&dir.path().join("missing")),
            Err(ElfError::Read { .. })
        ));
        // A truncated ELF header.
        let node = std::fs::read("/proc/self/exe").unwrap();
        std::fs::write(&path, &node[..40]).unwrap();
        assert!(ElfSymbols::load(&path).is_err());
    }
}
