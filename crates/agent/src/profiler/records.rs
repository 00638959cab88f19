//! The bytes of a perf ring buffer → samples. Kept free of `unsafe` and of
//! the mmap so the parsing is tested on synthetic buffers: [`ring_segments`]
//! says which bytes of the (power-of-two sized) data area hold the records
//! between the reader's tail and the kernel's head, [`linearize`] copies them
//! out of a slice (tests; the real buffer copies the same segments from the
//! mapping), and [`parse_records`] decodes them.
//!
//! Only the record types the profiler asks for are decoded:
//! `PERF_RECORD_SAMPLE` with `sample_type = IP | TID | TIME | CALLCHAIN` and
//! `PERF_RECORD_LOST`; every other record is skipped by its size.

/// `PERF_RECORD_LOST`: the kernel dropped records because the buffer was full.
const PERF_RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`.
const PERF_RECORD_SAMPLE: u32 = 9;
/// Size of `struct perf_event_header`.
const HEADER_SIZE: usize = 8;

/// Callchain entries at or above this value are context markers, not addresses
/// (`PERF_CONTEXT_MAX` is -4095).
const PERF_CONTEXT_MAX: u64 = -4095_i64 as u64;
/// The entries after this marker are kernel addresses.
pub const PERF_CONTEXT_KERNEL: u64 = -128_i64 as u64;
/// The entries after this marker are user-space addresses.
pub const PERF_CONTEXT_USER: u64 = -512_i64 as u64;

/// The byte ranges `(start, len)` of the data area that hold `[tail, head)`:
/// one range, or two when the records wrap around the end of the area. `None`
/// when the positions are impossible (head behind tail, or more bytes than the
/// area holds), which a reader treats as "resynchronise: skip to head".
pub fn ring_segments(data_size: usize, tail: u64, head: u64) -> Option<[(usize, usize); 2]> {
    debug_assert!(data_size.is_power_of_two());
    let available = head.checked_sub(tail)?;
    let available = usize::try_from(available).ok()?;
    if available > data_size || data_size == 0 {
        return None;
    }
    let start = (tail % data_size as u64) as usize;
    let first = available.min(data_size - start);
    Some([(start, first), (0, available - first)])
}

/// Appends the bytes `[tail, head)` of a ring's data area to `out`, in order.
/// Returns false (and appends nothing) when the positions are impossible.
#[cfg(test)]
pub fn linearize(data: &[u8], tail: u64, head: u64, out: &mut Vec<u8>) -> bool {
    let Some(segments) = ring_segments(data.len(), tail, head) else {
        return false;
    };
    for (start, len) in segments {
        out.extend_from_slice(&data[start..start + len]);
    }
    true
}

/// One stack sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The callchain, leaf first, with its `PERF_CONTEXT_*` markers kept:
    /// `[KERNEL, k0, k1, …, USER, u0, u1, …]`.
    pub callchain: Vec<u64>,
}

/// What a batch of records held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Records {
    pub samples: Vec<Sample>,
    /// Records the kernel reported lost (`PERF_RECORD_LOST`).
    pub lost: u64,
    /// Records too short for what their header or content claims; the rest of
    /// the batch is dropped after the first one, since the framing is lost.
    pub malformed: u64,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes consecutive records (as [`linearize`] leaves them) into `out`.
pub fn parse_records(bytes: &[u8], out: &mut Records) {
    let mut at = 0;
    while at + HEADER_SIZE <= bytes.len() {
        let (Some(kind), Some(size)) = (u32_at(bytes, at), u16_at(bytes, at + 6)) else {
            break;
        };
        let size = usize::from(size);
        if size < HEADER_SIZE || at + size > bytes.len() {
            out.malformed += 1;
            return;
        }
        let record = &bytes[at + HEADER_SIZE..at + size];
        match kind {
            PERF_RECORD_SAMPLE => match parse_sample(record) {
                Some(sample) => out.samples.push(sample),
                None => out.malformed += 1,
            },
            // struct { u64 id; u64 lost; }
            PERF_RECORD_LOST => out.lost += u64_at(record, 8).unwrap_or(0),
            _ => {}
        }
        at += size;
    }
    if at != bytes.len() {
        out.malformed += 1;
    }
}

/// `{ u64 ip; u32 pid, tid; u64 time; u64 nr; u64 ips[nr]; }`, the layout
/// `IP | TID | TIME | CALLCHAIN` gives.
fn parse_sample(record: &[u8]) -> Option<Sample> {
    let pid = u32_at(record, 8)?;
    let tid = u32_at(record, 12)?;
    let nr = usize::try_from(u64_at(record, 24)?).ok()?;
    let ips = record.get(32..32usize.checked_add(nr.checked_mul(8)?)?)?;
    let callchain = ips
        .chunks_exact(8)
        .map(|chunk| u64::from_ne_bytes(chunk.try_into().expect("chunks of 8")))
        .collect();
    Some(Sample {
        pid,
        tid,
        callchain,
    })
}

/// Whether a callchain entry is a `PERF_CONTEXT_*` marker.
pub fn is_context_marker(entry: u64) -> bool {
    entry >= PERF_CONTEXT_MAX
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `PERF_RECORD_SAMPLE` as the kernel writes it.
    pub(crate) fn sample_record(pid: u32, tid: u32, callchain: &[u64]) -> Vec<u8> {
        let size = HEADER_SIZE + 8 + 8 + 8 + 8 + 8 * callchain.len();
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
        bytes.extend_from_slice(&2u16.to_ne_bytes()); // misc: user mode
        bytes.extend_from_slice(&(size as u16).to_ne_bytes());
        bytes.extend_from_slice(&callchain.first().copied().unwrap_or(0).to_ne_bytes());
        bytes.extend_from_slice(&pid.to_ne_bytes());
        bytes.extend_from_slice(&tid.to_ne_bytes());
        bytes.extend_from_slice(&123_456_789u64.to_ne_bytes());
        bytes.extend_from_slice(&(callchain.len() as u64).to_ne_bytes());
        for ip in callchain {
            bytes.extend_from_slice(&ip.to_ne_bytes());
        }
        bytes
    }

    fn lost_record(lost: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&PERF_RECORD_LOST.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&24u16.to_ne_bytes());
        bytes.extend_from_slice(&7u64.to_ne_bytes());
        bytes.extend_from_slice(&lost.to_ne_bytes());
        bytes
    }

    /// A record type the profiler does not decode (`PERF_RECORD_COMM`).
    fn other_record() -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&3u32.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&24u16.to_ne_bytes());
        bytes.extend_from_slice(&[0xAB; 16]);
        bytes
    }

    #[test]
    fn parses_samples_lost_and_skips_other_records() {
        let chain = [
            PERF_CONTEXT_KERNEL,
            0xffff_ffff_8100_0010,
            PERF_CONTEXT_USER,
            0x401000,
            0x401234,
        ];
        let mut bytes = sample_record(42, 43, &chain);
        bytes.extend(other_record());
        bytes.extend(lost_record(5));
        bytes.extend(sample_record(7, 7, &[PERF_CONTEXT_USER, 0x1000]));
        let mut records = Records::default();
        parse_records(&bytes, &mut records);
        assert_eq!(records.malformed, 0);
        assert_eq!(records.lost, 5);
        assert_eq!(records.samples.len(), 2);
        assert_eq!(records.samples[0].pid, 42);
        assert_eq!(records.samples[0].tid, 43);
        assert_eq!(records.samples[0].callchain, chain);
        assert_eq!(records.samples[1].callchain, [PERF_CONTEXT_USER, 0x1000]);
        assert!(is_context_marker(PERF_CONTEXT_KERNEL) && is_context_marker(PERF_CONTEXT_USER));
        assert!(!is_context_marker(0xffff_ffff_8100_0010));
    }

    #[test]
    fn records_wrapping_around_the_end_of_the_buffer_are_reassembled() {
        let first = sample_record(1, 1, &[PERF_CONTEXT_USER, 0xAAAA]);
        let second = sample_record(2, 2, &[PERF_CONTEXT_USER, 0xBBBB, 0xCCCC]);
        let data_size = 128;
        let mut data = vec![0u8; data_size];
        // The reader's tail is 100 bytes into the third lap: the first record
        // is split 28/28 across the end, the second follows at the start.
        let tail = 2 * data_size as u64 + 100;
        let mut stream = first.clone();
        stream.extend(&second);
        for (i, byte) in stream.iter().enumerate() {
            data[(100 + i) % data_size] = *byte;
        }
        let head = tail + stream.len() as u64;
        assert_eq!(
            ring_segments(data_size, tail, head),
            Some([(100, 28), (0, stream.len() - 28)])
        );
        let mut linear = Vec::new();
        assert!(linearize(&data, tail, head, &mut linear));
        assert_eq!(linear, stream);
        let mut records = Records::default();
        parse_records(&linear, &mut records);
        assert_eq!(records.samples.len(), 2);
        assert_eq!(records.samples[0].callchain, [PERF_CONTEXT_USER, 0xAAAA]);
        assert_eq!(
            records.samples[1].callchain,
            [PERF_CONTEXT_USER, 0xBBBB, 0xCCCC]
        );
    }

    #[test]
    fn impossible_positions_are_refused() {
        let data = [0u8; 64];
        let mut out = Vec::new();
        assert!(!linearize(&data, 10, 5, &mut out), "head behind tail");
        assert!(!linearize(&data, 0, 65, &mut out), "more than the buffer");
        assert!(out.is_empty());
        assert_eq!(ring_segments(64, 70, 70), Some([(6, 0), (0, 0)]));
    }

    #[test]
    fn truncated_and_lying_records_never_panic() {
        let full = sample_record(1, 1, &[PERF_CONTEXT_USER, 1, 2, 3]);
        for cut in 0..full.len() {
            let mut records = Records::default();
            parse_records(&full[..cut], &mut records);
            assert!(records.samples.is_empty());
            assert_eq!(records.malformed > 0, cut > 0, "cut at {cut}");
        }
        // A callchain length far beyond the record.
        let mut lying = full.clone();
        lying[32..40].copy_from_slice(&u64::MAX.to_ne_bytes());
        let mut records = Records::default();
        parse_records(&lying, &mut records);
        assert_eq!((records.samples.len(), records.malformed), (0, 1));
        // A header claiming a size smaller than a header.
        let mut tiny = full;
        tiny[6..8].copy_from_slice(&4u16.to_ne_bytes());
        let mut records = Records::default();
        parse_records(&tiny, &mut records);
        assert_eq!(records.malformed, 1);
    }
}
