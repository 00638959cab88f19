//! The `spans-file` subcommand: realistic spans as length-prefixed OTLP
//! protobuf messages on disk, to compare storage size with wire size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use crate::generator::{Generator, span_count};

/// Sizes of what `write_spans_file` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    pub spans: u64,
    pub messages: u64,
    /// Sum of the encoded `ExportTraceServiceRequest` sizes.
    pub protobuf_bytes: u64,
    /// `protobuf_bytes` plus the 4-byte length prefixes.
    pub file_bytes: u64,
    /// Sum of the messages' sizes gzipped one by one (default level), when asked for.
    pub gzip_bytes: Option<u64>,
}

/// Writes `spans` spans to `out` as messages of at most `batch` spans, each
/// preceded by its length as a little-endian `u32`.
pub fn write_spans_file(
    out: &Path,
    spans: u64,
    batch: usize,
    seed: u64,
    base_time_ns: u64,
    with_gzip: bool,
) -> Result<FileStats> {
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut generator = Generator::new(seed, base_time_ns);
    let mut stats = FileStats {
        spans: 0,
        messages: 0,
        protobuf_bytes: 0,
        file_bytes: 0,
        gzip_bytes: with_gzip.then_some(0),
    };
    let mut buf = Vec::new();
    while stats.spans < spans {
        let n = usize::try_from(spans - stats.spans).map_or(batch, |left| left.min(batch));
        let request = generator.batch(n);
        buf.clear();
        request.encode(&mut buf).context("encoding request")?;
        let len = u32::try_from(buf.len()).context("message larger than 4 GiB")?;
        w.write_all(&len.to_le_bytes())
            .and_then(|()| w.write_all(&buf))
            .with_context(|| format!("writing {}", out.display()))?;
        if let Some(gz) = stats.gzip_bytes.as_mut() {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(&buf).context("gzip")?;
            *gz += enc.finish().context("gzip")?.len() as u64;
        }
        stats.spans += span_count(&request) as u64;
        stats.messages += 1;
        stats.protobuf_bytes += buf.len() as u64;
        stats.file_bytes += 4 + buf.len() as u64;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(stats)
}

/// One-line JSON summary of `stats`.
pub fn stats_json(stats: &FileStats) -> String {
    let per_span = |bytes: u64| {
        if stats.spans == 0 {
            0.0
        } else {
            bytes as f64 / stats.spans as f64
        }
    };
    let mut line = format!(
        "{{\"spans\":{},\"messages\":{},\"protobuf_bytes\":{},\"file_bytes\":{},\"bytes_per_span\":{:.2}",
        stats.spans,
        stats.messages,
        stats.protobuf_bytes,
        stats.file_bytes,
        per_span(stats.protobuf_bytes),
    );
    if let Some(gz) = stats.gzip_bytes {
        line.push_str(&format!(
            ",\"gzip_bytes\":{gz},\"gzip_bytes_per_span\":{:.2}",
            per_span(gz)
        ));
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn file_is_length_prefixed_messages() {
        let dir = std::env::temp_dir().join(format!("vispyr-loadgen-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("spans.bin");
        let stats =
            write_spans_file(&path, 1_234, 500, 1, 1_750_000_000_000_000_000, true).expect("write");
        assert_eq!(stats.spans, 1_234);
        assert_eq!(stats.messages, 3);

        let data = std::fs::read(&path).expect("read back");
        assert_eq!(data.len() as u64, stats.file_bytes);
        let (mut off, mut spans) = (0, 0);
        while off < data.len() {
            let len_bytes: [u8; 4] = data[off..off + 4].try_into().expect("prefix");
            let len = u32::from_le_bytes(len_bytes) as usize;
            off += 4;
            let req = ExportTraceServiceRequest::decode(&data[off..off + len]).expect("decode");
            spans += span_count(&req);
            off += len;
        }
        assert_eq!(spans, 1_234);
        let json: serde_json::Value = serde_json::from_str(&stats_json(&stats)).expect("json");
        assert_eq!(json["spans"], 1_234);
        assert!(json["gzip_bytes"].as_u64().unwrap_or(0) > 0);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
