//! What the profiler reads about a process from procfs: its names (for
//! targeting and for `service_name`), its start time (to notice a reused pid),
//! its memory mappings and its pid inside its own pid namespace (for the name
//! of its perf map file).
//!
//! Everything here may fail at any time — processes exit — so reads return
//! `Option`/`io::Result` and callers carry on without the data.

use std::io;
use std::path::{Path, PathBuf};

/// The identity and names of a process, read once when it is first sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22 (clock ticks after boot): a pid with another
    /// start time is another process.
    pub start_time: u64,
    /// `/proc/<pid>/comm`, the kernel's name of the main thread.
    pub comm: String,
    /// `comm`, or the executable's name when `comm` was cut at 15 bytes.
    pub process_name: String,
    /// The command line, arguments joined by spaces.
    pub cmdline: String,
    /// `OTEL_SERVICE_NAME`, else `service.name` from `OTEL_RESOURCE_ATTRIBUTES`,
    /// else the process name — as an OpenTelemetry SDK in that process would say.
    pub service_name: String,
}

impl ProcessInfo {
    /// Reads a live process; `None` when it is gone (or is a kernel thread,
    /// which has no command line and nothing to symbolize in user space).
    pub fn read(proc_root: &Path, pid: u32) -> Option<ProcessInfo> {
        let dir = proc_root.join(pid.to_string());
        let start_time = start_time(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        let comm = comm.trim_end_matches('\n').to_string();
        let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
        if cmdline.is_empty() {
            return None;
        }
        let cmdline = String::from_utf8_lossy(&cmdline)
            .split('\0')
            .filter(|arg| !arg.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        // environ is only readable with ptrace rights over the process; without
        // them the process name stands in.
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        let process_name = process_name(&comm, &cmdline);
        let service_name =
            service_name_from_environ(&environ).unwrap_or_else(|| process_name.clone());
        Some(ProcessInfo {
            pid,
            start_time,
            comm,
            process_name,
            cmdline,
            service_name,
        })
    }
}

/// The process name: `comm`, which the kernel cuts at 15 bytes — then the
/// basename of the first argument when it starts with the same 15 bytes.
fn process_name(comm: &str, cmdline: &str) -> String {
    let argv0 = cmdline.split(' ').next().unwrap_or("");
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if comm.len() >= 15 && base.len() > comm.len() && base.starts_with(comm) {
        return base.to_string();
    }
    comm.to_string()
}

/// Field 22 of `/proc/<pid>/stat`. The name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so fields are counted after the
/// last `)`.
fn start_time(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: 22 is the 20th of them.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The service name an OpenTelemetry SDK would use, from the NUL-separated
/// environment block.
pub fn service_name_from_environ(environ: &[u8]) -> Option<String> {
    let mut from_resource = None;
    for entry in environ.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some(name) = entry.strip_prefix("OTEL_SERVICE_NAME=") {
            let name = name.trim();
            if !name.is_empty() {
                return Some(name.to_string());
            }
        } else if let Some(attributes) = entry.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
            from_resource = attributes
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim() == "service.name")
                .map(|(_, value)| value.trim().to_string())
                .filter(|value| !value.is_empty());
        }
    }
    from_resource
}

/// The pid the process has in its own (innermost) pid namespace — the number
/// in the name of the perf map file it writes (`/tmp/perf-<pid>.map`).
pub fn namespace_pid(proc_root: &Path, pid: u32) -> u32 {
    let status = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status"));
    status
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
            line.split_whitespace().last()?.parse().ok()
        })
        .unwrap_or(pid)
}

/// A path as the process sees it, reached through its root directory, so
/// files of processes in containers (other mount namespaces) are found.
pub fn in_process_root(proc_root: &Path, pid: u32, path: &str) -> PathBuf {
    let relative = path.trim_start_matches('/');
    proc_root.join(pid.to_string()).join("root").join(relative)
}

/// One line of `/proc/<pid>/maps` that can hold code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// The file (`/usr/lib/x86_64-linux-gnu/libc.so.6`), or a pseudo name
    /// (`[vdso]`, `[anon:…]`) or empty for anonymous memory.
    pub path: String,
}

impl Mapping {
    /// Whether the mapping is backed by a regular file.
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/')
    }
}

/// The executable mappings of a process, sorted by address.
pub fn read_maps(proc_root: &Path, pid: u32) -> io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("maps"))?;
    Ok(parse_maps(&text))
}

/// `start-end perms offset dev inode path`; lines that are not executable or
/// do not parse are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut mappings = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(offset), Some(_dev), Some(_inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        if perms.as_bytes().get(2) != Some(&b'x') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(offset)) = (
            u64::from_str_radix(start, 16),
            u64::from_str_radix(end, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        let path = fields.next().unwrap_or("").trim().to_string();
        mappings.push(Mapping {
            start,
            end,
            offset,
            path,
        });
    }
    mappings.sort_by_key(|m| m.start);
    mappings
}

/// The mapping holding `address`, if any.
pub fn find_mapping(mappings: &[Mapping], address: u64) -> Option<&Mapping> {
    let index = mappings.partition_point(|m| m.start <= address);
    let mapping = mappings.get(index.checked_sub(1)?)?;
    (address < mapping.end).then_some(mapping)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_prefers_otel_service_name_then_resource_attributes() {
        let env = b"PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=env=prod,service.name=from-attrs\0OTEL_SERVICE_NAME=checkout\0";
        assert_eq!(service_name_from_environ(env).as_deref(), Some("checkout"));
        let env =
            b"OTEL_RESOURCE_ATTRIBUTES=env=prod, service.name = from-attrs\0OTEL_SERVICE_NAME=\0";
        assert_eq!(
            service_name_from_environ(env).as_deref(),
            Some("from-attrs")
        );
        assert_eq!(service_name_from_environ(b"HOME=/root\0\xff\xfe\0"), None);
        assert_eq!(service_name_from_environ(b""), None);
    }

    #[test]
    fn process_name_falls_back_from_comm_cut_at_15_bytes() {
        assert_eq!(process_name("node", "node server.js"), "node");
        assert_eq!(
            process_name("vispyr_native_s", "/tmp/x/vispyr_native_spin --fast"),
            "vispyr_native_spin"
        );
        assert_eq!(process_name("bash", ""), "bash");
    }

    #[test]
    fn start_time_skips_names_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("garbage"), None);
        assert_eq!(start_time("1 (x) S 1"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = ProcessInfo::read(Path::new("/proc"), std::process::id()).unwrap();
        assert!(me.start_time > 0);
        assert!(!me.comm.is_empty());
        assert!(!me.service_name.is_empty());
        assert_eq!(
            namespace_pid(Path::new("/proc"), std::process::id()),
            std::process::id()
        );
        assert!(ProcessInfo::read(Path::new("/proc"), u32::MAX).is_none());
        let maps = read_maps(Path::new("/proc"), std::process::id()).unwrap();
        let here = reads_this_process as fn() as usize as u64;
        let mapping = find_mapping(&maps, here).expect("the test's own code is mapped");
        assert!(mapping.is_file());
    }

    #[test]
    fn parses_maps_keeping_executable_lines() {
        let text = "\
00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon
00651000-00652000 r--p 00051000 08:02 173521      /usr/bin/dbus-daemon
7f2c4a000000-7f2c4a100000 rwxp 00000000 00:00 0 
7ffc1a5f6000-7ffc1a5f8000 r-xp 00000000 00:00 0                          [vdso]
7f00-7e00 r-xp zz 00:00 0 /broken
short line
7f2c4b000000-7f2c4b001000 r-xp 00001000 08:02 99 /opt/my app/lib (deleted)
";
        let maps = parse_maps(text);
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].path, "/usr/bin/dbus-daemon");
        assert_eq!(maps[1].path, "");
        assert!(!maps[1].is_file());
        assert_eq!(maps[2].path, "/opt/my app/lib (deleted)");
        assert_eq!(maps[2].offset, 0x1000);
        assert_eq!(maps[3].path, "[vdso]");
        assert_eq!(find_mapping(&maps, 0x400010).unwrap().start, 0x400000);
        assert!(find_mapping(&maps, 0x452000).is_none());
        assert!(find_mapping(&maps, 0x10).is_none());
    }

    #[test]
    fn paths_are_reached_through_the_process_root() {
        assert_eq!(
            in_process_root(Path::new("/proc"), 12, "/usr/lib/libc.so.6"),
            PathBuf::from("/proc/12/root/usr/lib/libc.so.6")
        );
    }
}
