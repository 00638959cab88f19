//! A pool of pre-encoded request bodies, so that span generation and
//! protobuf encoding cost nothing while the benchmark runs.
//!
//! Uncompressed bodies get fresh trace ids on every request: while encoding
//! the pool we record the byte offset of every `Span.trace_id` field, and each
//! request copies the body and XORs a per-request 64-bit nonce into the last 8
//! bytes of every trace id. XOR with one value is a bijection, so the traces
//! inside a request stay distinct and parent/child links (which only use span
//! ids) stay intact, while distinct nonces give distinct ids across requests.
//!
//! Gzip bodies are compressed once up front and sent as they are: their trace
//! ids repeat every `pool size` requests. For an ingest-throughput benchmark
//! that is harmless (nothing deduplicates), and it keeps compression off the
//! load generator's CPU budget.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use crate::generator::{Generator, span_count, spans};

/// Protobuf key of `Span.trace_id` (field 1, length-delimited) and its length.
const TRACE_ID_PREFIX: [u8; 2] = [0x0A, 16];

/// One pre-encoded `ExportTraceServiceRequest`.
pub struct PooledBody {
    bytes: Bytes,
    /// Offsets of each span's 16 trace-id bytes; empty for gzip bodies.
    trace_id_offsets: Vec<usize>,
    spans: usize,
    gzip: bool,
}

impl PooledBody {
    /// Encodes (and optionally gzips) one batch from `generator`.
    pub fn new(generator: &mut Generator, batch: usize, gzip: bool) -> Result<Self> {
        let request = generator.batch(batch);
        let spans_in = span_count(&request);
        let encoded = request.encode_to_vec();
        if gzip {
            let mut enc = GzEncoder::new(
                Vec::with_capacity(encoded.len() / 4),
                Compression::default(),
            );
            enc.write_all(&encoded).context("gzip")?;
            let compressed = enc.finish().context("gzip")?;
            return Ok(Self {
                bytes: Bytes::from(compressed),
                trace_id_offsets: Vec::new(),
                spans: spans_in,
                gzip,
            });
        }
        let ids: HashSet<[u8; 16]> = spans(&request)
            .filter_map(|s| <[u8; 16]>::try_from(s.trace_id.as_slice()).ok())
            .collect();
        let trace_id_offsets = find_trace_ids(&encoded, &ids);
        anyhow::ensure!(
            trace_id_offsets.len() == spans_in,
            "found {} trace ids for {} spans in encoded batch",
            trace_id_offsets.len(),
            spans_in
        );
        Ok(Self {
            bytes: Bytes::from(encoded),
            trace_id_offsets,
            spans: spans_in,
            gzip,
        })
    }

    /// Spans in this body.
    pub fn spans(&self) -> usize {
        self.spans
    }

    /// The body to send for the request numbered by `nonce`: uncompressed
    /// bodies get their trace ids XORed with `nonce` (a copy; cheap compared
    /// with the request), gzip bodies are shared as they are.
    pub fn body(&self, nonce: u64) -> Bytes {
        if self.gzip || self.trace_id_offsets.is_empty() {
            return self.bytes.clone();
        }
        let mut buf = self.bytes.to_vec();
        let mask = nonce.to_le_bytes();
        for &off in &self.trace_id_offsets {
            for (b, m) in buf[off + 8..off + 16].iter_mut().zip(mask) {
                *b ^= m;
            }
        }
        Bytes::from(buf)
    }
}

/// Offsets of the 16 id bytes of every `Span.trace_id` field in `encoded`
/// whose value is one of `ids`. A random 16-byte id preceded by the exact
/// field key does not occur by chance anywhere else in the message.
fn find_trace_ids(encoded: &[u8], ids: &HashSet<[u8; 16]>) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut i = 0;
    while i + 18 <= encoded.len() {
        if encoded[i..i + 2] == TRACE_ID_PREFIX
            && let Ok(id) = <[u8; 16]>::try_from(&encoded[i + 2..i + 18])
            && ids.contains(&id)
        {
            offsets.push(i + 2);
            i += 18;
        } else {
            i += 1;
        }
    }
    offsets
}

/// SplitMix64: a bijective 64-bit mixer, so distinct request numbers give
/// distinct, well-spread nonces.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    const BASE: u64 = 1_750_000_000_000_000_000;

    fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(bytes).expect("decodes")
    }

    #[test]
    fn patching_changes_only_trace_ids() {
        let mut g = Generator::new(9, BASE);
        let body = PooledBody::new(&mut g, 500, false).expect("pool body");
        let original = decode(&body.body(0));
        let patched = decode(&body.body(mix(1)));
        let other = decode(&body.body(mix(2)));
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
        let body = PooledBody::new(&mut g, 200, true).expect("pool body");
        let compressed = body.body(5);
        let mut dec = flate2::read::GzDecoder::new(&compressed[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut dec, &mut raw).expect("gunzip");
        assert_eq!(span_count(&decode(&raw)), 200);
        assert_eq!(body.spans(), 200);
    }

    #[test]
    fn mix_is_injective_on_small_range() {
        let set: HashSet<u64> = (0..10_000).map(mix).collect();
        assert_eq!(set.len(), 10_000);
    }
}
