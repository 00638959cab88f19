//! The kernel side: one `perf_event_open` sampling event per CPU and its
//! memory-mapped ring buffer. This is the only file of the profiler with
//! `unsafe` code: the syscall, two ioctls and the reads of the shared mapping.
//!
//! The event is the software `cpu-clock` (a high-resolution timer; this works
//! where there is no hardware PMU — VMs, containers), in frequency mode, with
//! `pid = -1` on each CPU: the kernel samples whatever runs there and the
//! profiler keeps the samples of the processes it targets. Sampling every
//! process costs the same number of samples per CPU-second as sampling only
//! the targets, and unlike per-thread events (`pid = <tid>`, `inherit = 1`) it
//! needs one descriptor per CPU instead of one per thread and CPU, and it sees
//! threads that exist before profiling starts (`inherit` only follows threads
//! created afterwards).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use perf_event_open_sys::bindings as sys;

use super::records::{Records, parse_records, ring_segments};

/// Data pages of each CPU's ring buffer (a power of two). 32 pages of 4 KiB
/// hold ~130 deep (127-frame) samples; at 97 Hz one CPU produces at most
/// ~97 samples a second, and the buffer is drained four times a second.
const DATA_PAGES: usize = 32;

/// The sampling event of one CPU and its ring buffer.
pub struct CpuSampler {
    cpu: u32,
    /// Keeps the event open; closed (and the event freed) on drop, after the
    /// mapping (fields drop in declaration order: `ring` first).
    ring: MmapRaw,
    _fd: OwnedFd,
    data_offset: usize,
    data_size: usize,
    /// Scratch space the records are copied to, reused between drains.
    scratch: Vec<u8>,
}

impl CpuSampler {
    /// Opens and enables a `cpu-clock` sampling event on `cpu` for every
    /// process, with kernel and user callchains.
    pub fn open(cpu: u32, frequency_hz: u64) -> io::Result<CpuSampler> {
        let mut attr = sys::perf_event_attr {
            type_: sys::PERF_TYPE_SOFTWARE,
            size: std::mem::size_of::<sys::perf_event_attr>() as u32,
            config: u64::from(sys::PERF_COUNT_SW_CPU_CLOCK),
            sample_type: u64::from(
                sys::PERF_SAMPLE_IP
                    | sys::PERF_SAMPLE_TID
                    | sys::PERF_SAMPLE_TIME
                    | sys::PERF_SAMPLE_CALLCHAIN,
            ),
            ..Default::default()
        };
        attr.__bindgen_anon_1.sample_freq = frequency_hz;
        attr.set_freq(1);
        attr.set_disabled(1);
        attr.set_exclude_hv(1);
        // Kernel frames are wanted; user callchains are unwound by the kernel
        // through frame pointers (sample_max_stack 0 = the sysctl default, 127).
        attr.set_exclude_callchain_user(0);
        attr.set_exclude_callchain_kernel(0);
        let cpu_arg = i32::try_from(cpu).map_err(|_| io::Error::other("cpu number too large"))?;
        // SAFETY: `attr` is a fully initialised perf_event_attr whose `size`
        // field is its real size; the kernel only reads it. The returned fd,
        // when non-negative, is a new descriptor we own.
        let raw = unsafe {
            perf_event_open_sys::perf_event_open(
                &mut attr,
                -1,
                cpu_arg,
                -1,
                libc_ulong(sys::PERF_FLAG_FD_CLOEXEC),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor returned by perf_event_open and
        // owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let page = rustix::param::page_size();
        let data_size = DATA_PAGES * page;
        let file = File::from(fd.try_clone()?);
        let ring = MmapOptions::new().len(page + data_size).map_raw(&file)?;
        // SAFETY: ENABLE on a perf event descriptor we own; the argument is unused.
        let enabled = unsafe { perf_event_open_sys::ioctls::ENABLE(fd.as_raw_fd(), 0) };
        if enabled < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut sampler = CpuSampler {
            cpu,
            ring,
            _fd: fd,
            data_offset: page,
            data_size,
            scratch: Vec::with_capacity(data_size),
        };
        // Kernels since 4.1 say where the data area starts and how big it is.
        let (offset, size) = sampler.data_area();
        if size.is_power_of_two() && offset + size <= sampler.ring.len() {
            sampler.data_offset = offset;
            sampler.data_size = size;
        }
        Ok(sampler)
    }

    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    fn meta_u64(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= self.data_offset);
        // SAFETY: the first page of the mapping is `struct perf_event_mmap_page`,
        // page aligned, so the u64 at an 8-aligned offset inside it is aligned
        // and lives as long as `self.ring`. The kernel writes these fields
        // concurrently, so they are only ever accessed atomically.
        unsafe { AtomicU64::from_ptr(self.ring.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    fn data_area(&self) -> (usize, usize) {
        let offset = self
            .meta_u64(std::mem::offset_of!(sys::perf_event_mmap_page, data_offset))
            .load(Ordering::Relaxed);
        let size = self
            .meta_u64(std::mem::offset_of!(sys::perf_event_mmap_page, data_size))
            .load(Ordering::Relaxed);
        (offset as usize, size as usize)
    }

    /// Decodes every record the kernel has written since the last drain into
    /// `out` and hands the space back to the kernel.
    pub fn drain(&mut self, out: &mut Records) {
        let head_field = std::mem::offset_of!(sys::perf_event_mmap_page, data_head);
        let tail_field = std::mem::offset_of!(sys::perf_event_mmap_page, data_tail);
        // Acquire pairs with the kernel's write barrier before it publishes
        // data_head: every record below head is fully written.
        let head = self.meta_u64(head_field).load(Ordering::Acquire);
        let tail = self.meta_u64(tail_field).load(Ordering::Relaxed);
        self.scratch.clear();
        match ring_segments(self.data_size, tail, head) {
            Some(segments) => {
                for (start, len) in segments {
                    self.copy_data(start, len);
                }
                parse_records(&self.scratch, out);
            }
            None => out.malformed += 1,
        }
        // Release orders our reads of the records before the kernel may reuse
        // the space (the kernel reads data_tail with a full barrier).
        self.meta_u64(tail_field).store(head, Ordering::Release);
    }

    fn copy_data(&mut self, start: usize, len: usize) {
        assert!(
            start + len <= self.data_size,
            "segment outside the data area"
        );
        self.scratch.reserve(len);
        let old_len = self.scratch.len();
        // SAFETY: `[data_offset + start, + len)` lies inside the mapping
        // (asserted above; data_offset + data_size <= mapping length was
        // checked at open). Those bytes sit between data_tail and data_head,
        // which the kernel does not write until we advance data_tail, and the
        // destination has `len` bytes of reserved capacity after `old_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ring.as_ptr().add(self.data_offset + start),
                self.scratch.as_mut_ptr().add(old_len),
                len,
            );
            self.scratch.set_len(old_len + len);
        }
    }
}

fn libc_ulong(flags: u32) -> std::os::raw::c_ulong {
    std::os::raw::c_ulong::from(flags)
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,5,7-8`).
pub fn online_cpus() -> io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(&text)
        .ok_or_else(|| io::Error::other(format!("cannot parse the online CPU list {text:?}")))
}

fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (u32, u32) = (first.parse().ok()?, last.parse().ok()?);
                if last < first || last - first > 65_536 {
                    return None;
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,5,7-8\n"),
            Some(vec![0, 1, 2, 3, 5, 7, 8])
        );
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert!(!online_cpus().unwrap().is_empty());
    }

    /// Needs root (or CAP_PERFMON): samples this busy thread and finds its pid.
    #[test]
    fn samples_a_busy_thread_with_callchains() {
        let cpus = online_cpus().unwrap();
        let mut samplers = match cpus
            .iter()
            .map(|&cpu| CpuSampler::open(cpu, 997))
            .collect::<io::Result<Vec<_>>>()
        {
            Ok(samplers) => samplers,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: perf_event_open not permitted: {error}");
                return;
            }
            Err(error) => panic!("perf_event_open: {error}"),
        };
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let mut records = Records::default();
        for sampler in &mut samplers {
            sampler.drain(&mut records);
        }
        let own: Vec<_> = records
            .samples
            .iter()
            .filter(|s| s.pid == std::process::id())
            .collect();
        assert!(own.len() > 50, "only {} samples of this process", own.len());
        assert!(own.iter().all(|s| s.callchain.len() >= 2));
        assert_eq!(records.malformed, 0);
    }
}
