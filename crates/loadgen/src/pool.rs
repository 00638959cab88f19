//! Pools of pre-encoded request bodies, so that generating and encoding
//! spans or log lines cost nothing while the benchmark runs, and the
//! per-request patching that keeps ids and timestamps fresh.
//!
//! When a body is pooled we record its [`PatchSites`], found by walking the
//! encoded bytes ([`crate::wire`]); each request then copies the body and
//! rewrites those bytes in place, so nothing changes length:
//!
//! - **trace ids**: the last 8 bytes are XORed with a per-request 64-bit
//!   nonce. XOR with one value is a bijection, so the traces inside a request
//!   stay distinct and records that shared a trace still do, while distinct
//!   nonces give distinct ids across requests;
//! - **hex ids** in log text (16 lowercase hex digits, e.g. `req=6f1c…`):
//!   digit *j* is XORed with nibble *j* of the same nonce and stays a hex
//!   digit, with the same bijection argument;
//! - **timestamps** (`fixed64`): set to the send time minus the record's age.
//!
//! Gzip bodies are compressed once up front and sent as they are: their ids
//! and timestamps are those of the pool, repeating every `pool size`
//! requests. For an ingest-throughput benchmark that is harmless (nothing
//! deduplicates), and it keeps compression off the load generator's CPU
//! budget.

use std::io::Write;

use anyhow::{Context, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use crate::generator::{Generator, span_count};
use crate::load::{Outgoing, Signal, Workload};
use crate::wire::{self, LEN};

/// Length of the hex ids patched in log text: one nonce nibble per digit.
pub const HEX_ID_LEN: usize = 16;

/// `Span.trace_id` and `LogRecord.trace_id` field numbers.
const SPAN_TRACE_ID: u32 = 1;

/// Byte offsets in an encoded body that are rewritten for every request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PatchSites {
    /// First byte of each 16-byte trace id.
    pub trace_ids: Vec<usize>,
    /// First byte of each `fixed64` timestamp, and how long (ns) before the
    /// send time it lies.
    pub timestamps: Vec<(usize, u64)>,
    /// First byte of each run of [`HEX_ID_LEN`] lowercase hex digits.
    pub hex_ids: Vec<usize>,
}

impl PatchSites {
    pub fn is_empty(&self) -> bool {
        self.trace_ids.is_empty() && self.timestamps.is_empty() && self.hex_ids.is_empty()
    }

    /// Rewrites the sites of `buf` for the request numbered by `nonce`, sent
    /// at `now_ns`.
    pub fn apply(&self, buf: &mut [u8], nonce: u64, now_ns: u64) {
        let mask = nonce.to_le_bytes();
        for &off in &self.trace_ids {
            for (b, m) in buf[off + 8..off + 16].iter_mut().zip(mask) {
                *b ^= m;
            }
        }
        for &(off, age_ns) in &self.timestamps {
            buf[off..off + 8].copy_from_slice(&now_ns.saturating_sub(age_ns).to_le_bytes());
        }
        for &off in &self.hex_ids {
            for (j, digit) in buf[off..off + HEX_ID_LEN].iter_mut().enumerate() {
                let nibble = ((nonce >> (4 * j)) & 0xF) as u8;
                *digit = xor_hex_digit(*digit, nibble);
            }
        }
    }
}

/// A lowercase hex digit XORed with `nibble`; other bytes are left alone.
fn xor_hex_digit(digit: u8, nibble: u8) -> u8 {
    let value = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => {
            debug_assert!(false, "patch site {digit:#x} is not a hex digit");
            return digit;
        }
    };
    b"0123456789abcdef"[usize::from(value ^ nibble)]
}

/// One pre-encoded export request (spans or log records).
pub struct PooledBody {
    bytes: Bytes,
    /// Empty for gzip bodies, which are sent as they are.
    sites: PatchSites,
    items: usize,
}

impl PooledBody {
    /// Pools `encoded`, a request holding `items` records whose patch sites
    /// are `sites`, gzipping it when asked.
    pub fn new(encoded: Vec<u8>, sites: PatchSites, items: usize, gzip: bool) -> Result<Self> {
        if gzip {
            return Ok(Self {
                bytes: Bytes::from(gzip_bytes(&encoded)?),
                sites: PatchSites::default(),
                items,
            });
        }
        Ok(Self {
            bytes: Bytes::from(encoded),
            sites,
            items,
        })
    }

    /// Records in this body.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Size on the wire.
    pub fn wire_len(&self) -> usize {
        self.bytes.len()
    }

    /// The body to send for the request numbered by `nonce` at `now_ns`:
    /// uncompressed bodies are copied and patched (cheap compared with the
    /// request), gzip bodies are shared as they are.
    pub fn body(&self, nonce: u64, now_ns: u64) -> Bytes {
        if self.sites.is_empty() {
            return self.bytes.clone();
        }
        let mut buf = self.bytes.to_vec();
        self.sites.apply(&mut buf, nonce, now_ns);
        Bytes::from(buf)
    }
}

/// `bytes` gzipped at the default level.
pub fn gzip_bytes(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    enc.write_all(bytes).context("gzip")?;
    enc.finish().context("gzip")
}

/// Builds `count` pooled bodies with `make`, after checking the pool and
/// batch sizes every workload shares.
pub fn build<T>(count: usize, batch: usize, make: impl FnMut() -> Result<T>) -> Result<Vec<T>> {
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    anyhow::ensure!(count > 0, "--pool must be at least 1");
    std::iter::repeat_with(make).take(count).collect()
}

/// SplitMix64: a bijective 64-bit mixer, so distinct request numbers give
/// distinct, well-spread nonces.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Trace-id sites of every span in an encoded `ExportTraceServiceRequest`.
/// Span timestamps are left as generated.
pub fn span_sites(encoded: &[u8]) -> Result<PatchSites> {
    let mut sites = PatchSites::default();
    for span in wire::records(encoded)? {
        for field in wire::fields(encoded, span)? {
            if field.number == SPAN_TRACE_ID && field.wire_type == LEN && field.value.len() == 16 {
                sites.trace_ids.push(field.value.start);
            }
        }
    }
    Ok(sites)
}

/// The `spans` workload: a pool of span batches cycled round robin.
pub struct SpanPool {
    bodies: Vec<PooledBody>,
    batch: usize,
}

impl SpanPool {
    /// `pool` bodies of `batch` spans each, from the generator seeded `seed`
    /// with its clock at `base_time_ns`.
    pub fn build(
        pool: usize,
        batch: usize,
        seed: u64,
        base_time_ns: u64,
        gzip: bool,
    ) -> Result<Self> {
        let mut generator = Generator::new(seed, base_time_ns);
        let bodies = build(pool, batch, || span_body(&mut generator, batch, gzip))?;
        Ok(Self { bodies, batch })
    }
}

/// One pooled body of `batch` spans from `generator`.
fn span_body(generator: &mut Generator, batch: usize, gzip: bool) -> Result<PooledBody> {
    let request = generator.batch(batch);
    let spans = span_count(&request);
    let encoded = request.encode_to_vec();
    let sites = span_sites(&encoded)?;
    anyhow::ensure!(
        sites.trace_ids.len() == spans,
        "found {} trace ids for {spans} spans in encoded batch",
        sites.trace_ids.len(),
    );
    PooledBody::new(encoded, sites, spans, gzip)
}

impl Workload for SpanPool {
    fn signal(&self) -> Signal {
        Signal::Traces
    }

    fn batch(&self) -> usize {
        self.batch
    }

    fn pool_size(&self) -> (usize, usize) {
        let bytes = self.bodies.iter().map(PooledBody::wire_len).sum();
        (self.bodies.len(), bytes)
    }

    fn request(&self, seq: u64, nonce: u64, now_ns: u64) -> Result<Outgoing> {
        let pooled = &self.bodies[(seq % self.bodies.len() as u64) as usize];
        Ok(Outgoing {
            body: pooled.body(nonce, now_ns),
            items: pooled.items() as u64,
            rare: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::spans;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use std::collections::HashSet;

    const BASE: u64 = 1_750_000_000_000_000_000;

    fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(bytes).expect("decodes")
    }

    #[test]
    fn patching_changes_only_trace_ids() {
        let mut g = Generator::new(9, BASE);
        let body = span_body(&mut g, 500, false).expect("pool body");
        let original = decode(&body.body(0, BASE));
        let patched = decode(&body.body(mix(1), BASE));
        let other = decode(&body.body(mix(2), BASE));
        assert_eq!(span_count(&patched), 500);

        let mut orig_traces = HashSet::new();
        let mut new_traces = HashSet::new();
        for ((a, b), c) in spans(&original).zip(spans(&patched)).zip(spans(&other)) {
            assert_ne!(a.trace_id, b.trace_id);
            assert_ne!(b.trace_id, c.trace_id);
            assert_eq!(a.trace_id[..8], b.trace_id[..8]);
            let mut a2 = a.clone();
            a2.trace_id = b.trace_id.clone();
            assert_eq!(&a2, b, "only the trace id differs");
            orig_traces.insert(a.trace_id.clone());
            new_traces.insert(b.trace_id.clone());
        }
        // Spans that shared a trace still do, and distinct traces stay distinct.
        assert_eq!(orig_traces.len(), new_traces.len());
        assert!(orig_traces.is_disjoint(&new_traces));
    }

    #[test]
    fn gzip_body_roundtrips() {
        let mut g = Generator::new(9, BASE);
        let body = span_body(&mut g, 200, true).expect("pool body");
        let compressed = body.body(5, BASE);
        let mut dec = flate2::read::GzDecoder::new(&compressed[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut dec, &mut raw).expect("gunzip");
        assert_eq!(span_count(&decode(&raw)), 200);
        assert_eq!(body.items(), 200);
    }

    #[test]
    fn hex_patching_keeps_digits_hex_and_distinct() {
        let text = b"req=0123456789abcdef req=0123456789abcdef".to_vec();
        let sites = PatchSites {
            hex_ids: vec![4, 25],
            ..Default::default()
        };
        let mut seen = HashSet::new();
        for n in 0..1_000u64 {
            let mut buf = text.clone();
            sites.apply(&mut buf, mix(n), 0);
            assert_eq!(buf[4..20], buf[25..41], "equal ids stay equal");
            assert!(
                buf[4..20]
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(
                seen.insert(buf[4..20].to_vec()),
                "distinct nonces, distinct ids"
            );
        }
        let mut unchanged = text.clone();
        sites.apply(&mut unchanged, 0, 0);
        assert_eq!(unchanged, text);
    }

    #[test]
    fn timestamps_are_set_from_send_time() {
        let mut buf = vec![0u8; 16];
        let sites = PatchSites {
            timestamps: vec![(0, 0), (8, 1_000)],
            ..Default::default()
        };
        sites.apply(&mut buf, 7, 5_000);
        assert_eq!(buf[..8], 5_000u64.to_le_bytes());
        assert_eq!(buf[8..], 4_000u64.to_le_bytes());
    }

    #[test]
    fn mix_is_injective_on_small_range() {
        let set: HashSet<u64> = (0..10_000).map(mix).collect();
        assert_eq!(set.len(), 10_000);
    }
}
