//! The `spans-file` and `logs-file` subcommands: generated spans or log
//! lines as length-prefixed OTLP protobuf messages (each preceded by its
//! length as a little-endian `u32`) and, for logs, as the raw text an app
//! would write to a log file, to compare storage size with these baselines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use prost::Message;

use crate::generator::{Generator, span_count};
use crate::log_generator::{LogGenerator, body_text, line_count, log_records};
use crate::pool::gzip_bytes;

/// Sizes of a run of length-prefixed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageStats {
    pub messages: u64,
    /// Sum of the encoded message sizes.
    pub protobuf_bytes: u64,
    /// `protobuf_bytes` plus the 4-byte length prefixes.
    pub file_bytes: u64,
    /// Sum of the messages' sizes gzipped one by one (default level), when asked for.
    pub gzip_bytes: Option<u64>,
}

/// Length-prefixed messages going to a file (or only measured).
struct MessageSink {
    out: Option<(BufWriter<File>, PathBuf)>,
    stats: MessageStats,
}

impl MessageSink {
    fn create(path: Option<&Path>, with_gzip: bool) -> Result<Self> {
        let out = match path {
            Some(path) => Some((create(path)?, path.to_path_buf())),
            None => None,
        };
        Ok(Self {
            out,
            stats: MessageStats {
                gzip_bytes: with_gzip.then_some(0),
                ..MessageStats::default()
            },
        })
    }

    fn write(&mut self, encoded: &[u8]) -> Result<()> {
        let len = u32::try_from(encoded.len()).context("message larger than 4 GiB")?;
        if let Some((w, path)) = self.out.as_mut() {
            w.write_all(&len.to_le_bytes())
                .and_then(|()| w.write_all(encoded))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if let Some(gz) = self.stats.gzip_bytes.as_mut() {
            *gz += gzip_bytes(encoded)?.len() as u64;
        }
        self.stats.messages += 1;
        self.stats.protobuf_bytes += encoded.len() as u64;
        self.stats.file_bytes += 4 + encoded.len() as u64;
        Ok(())
    }

    fn finish(self) -> Result<MessageStats> {
        if let Some((mut w, path)) = self.out {
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(self.stats)
    }
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// How many items the next message of at most `batch` holds when `done` of
/// `total` are written.
fn next_batch(total: u64, done: u64, batch: usize) -> usize {
    usize::try_from(total - done).map_or(batch, |left| left.min(batch))
}

/// Sizes of what `write_spans_file` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    pub spans: u64,
    pub messages: MessageStats,
}

/// Writes `spans` spans to `out` as messages of at most `batch` spans.
pub fn write_spans_file(
    out: &Path,
    spans: u64,
    batch: usize,
    seed: u64,
    base_time_ns: u64,
    with_gzip: bool,
) -> Result<FileStats> {
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    let mut sink = MessageSink::create(Some(out), with_gzip)?;
    let mut generator = Generator::new(seed, base_time_ns);
    let mut written = 0;
    let mut buf = Vec::new();
    while written < spans {
        let request = generator.batch(next_batch(spans, written, batch));
        buf.clear();
        request.encode(&mut buf).context("encoding request")?;
        sink.write(&buf)?;
        written += span_count(&request) as u64;
    }
    Ok(FileStats {
        spans: written,
        messages: sink.finish()?,
    })
}

/// One-line JSON summary of `stats`.
pub fn stats_json(stats: &FileStats) -> String {
    let m = &stats.messages;
    let per_span = |bytes: u64| per_item(bytes, stats.spans);
    let mut line = format!(
        "{{\"spans\":{},\"messages\":{},\"protobuf_bytes\":{},\"file_bytes\":{},\"bytes_per_span\":{:.2}",
        stats.spans,
        m.messages,
        m.protobuf_bytes,
        m.file_bytes,
        per_span(m.protobuf_bytes),
    );
    if let Some(gz) = m.gzip_bytes {
        line.push_str(&format!(
            ",\"gzip_bytes\":{gz},\"gzip_bytes_per_span\":{:.2}",
            per_span(gz)
        ));
    }
    line.push('}');
    line
}

fn per_item(bytes: u64, items: u64) -> f64 {
    if items == 0 {
        0.0
    } else {
        bytes as f64 / items as f64
    }
}

/// Sizes of what `write_logs_file` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFileStats {
    pub lines: u64,
    /// The raw text: every body plus its newline.
    pub raw_bytes: u64,
    /// The raw text gzipped message by message, when asked for.
    pub raw_gzip_bytes: Option<u64>,
    pub messages: MessageStats,
}

/// What `write_logs_file` generates and where it goes.
pub struct LogFileConfig<'a> {
    /// The raw text, one line per log line.
    pub raw_out: &'a Path,
    /// The length-prefixed protobuf messages, if wanted (their size is
    /// measured either way).
    pub protobuf_out: Option<&'a Path>,
    pub lines: u64,
    pub batch: usize,
    pub services: usize,
    pub seed: u64,
    pub base_time_ns: u64,
    pub with_gzip: bool,
}

/// Generates `lines` log lines in messages of at most `batch` and writes
/// their bodies, one per line, as raw text.
pub fn write_logs_file(cfg: &LogFileConfig<'_>) -> Result<LogFileStats> {
    anyhow::ensure!(cfg.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(cfg.services > 0, "--services must be at least 1");
    let mut raw = create(cfg.raw_out)?;
    let mut sink = MessageSink::create(cfg.protobuf_out, cfg.with_gzip)?;
    let mut generator = LogGenerator::new(cfg.seed, cfg.services, cfg.base_time_ns);
    let mut stats = LogFileStats {
        lines: 0,
        raw_bytes: 0,
        raw_gzip_bytes: cfg.with_gzip.then_some(0),
        messages: MessageStats::default(),
    };
    let (mut buf, mut text) = (Vec::new(), Vec::new());
    while stats.lines < cfg.lines {
        let batch = generator.batch(next_batch(cfg.lines, stats.lines, cfg.batch));
        buf.clear();
        batch.request.encode(&mut buf).context("encoding request")?;
        sink.write(&buf)?;
        text.clear();
        for record in log_records(&batch.request) {
            text.extend_from_slice(body_text(record).unwrap_or_default().as_bytes());
            text.push(b'\n');
        }
        raw.write_all(&text)
            .with_context(|| format!("writing {}", cfg.raw_out.display()))?;
        if let Some(gz) = stats.raw_gzip_bytes.as_mut() {
            *gz += gzip_bytes(&text)?.len() as u64;
        }
        stats.raw_bytes += text.len() as u64;
        stats.lines += line_count(&batch.request) as u64;
    }
    raw.flush()
        .with_context(|| format!("writing {}", cfg.raw_out.display()))?;
    stats.messages = sink.finish()?;
    Ok(stats)
}

/// One-line JSON summary of `stats`.
pub fn log_stats_json(stats: &LogFileStats) -> String {
    let m = &stats.messages;
    let per_line = |bytes: u64| per_item(bytes, stats.lines);
    let mut line = format!(
        "{{\"lines\":{},\"messages\":{},\"raw_bytes\":{},\"raw_bytes_per_line\":{:.2},\
         \"protobuf_bytes\":{},\"file_bytes\":{},\"protobuf_bytes_per_line\":{:.2}",
        stats.lines,
        m.messages,
        stats.raw_bytes,
        per_line(stats.raw_bytes),
        m.protobuf_bytes,
        m.file_bytes,
        per_line(m.protobuf_bytes),
    );
    if let (Some(raw_gz), Some(gz)) = (stats.raw_gzip_bytes, m.gzip_bytes) {
        line.push_str(&format!(
            ",\"raw_gzip_bytes\":{raw_gz},\"raw_gzip_bytes_per_line\":{:.2},\
             \"gzip_bytes\":{gz},\"gzip_bytes_per_line\":{:.2}",
            per_line(raw_gz),
            per_line(gz)
        ));
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    const BASE: u64 = 1_750_000_000_000_000_000;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vispyr-loadgen-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        dir
    }

    /// The messages of a length-prefixed file.
    fn messages(data: &[u8]) -> Vec<&[u8]> {
        let (mut off, mut out) = (0, Vec::new());
        while off < data.len() {
            let len_bytes: [u8; 4] = data[off..off + 4].try_into().expect("prefix");
            let len = u32::from_le_bytes(len_bytes) as usize;
            out.push(&data[off + 4..off + 4 + len]);
            off += 4 + len;
        }
        out
    }

    #[test]
    fn file_is_length_prefixed_messages() {
        let dir = temp_dir("spans");
        let path = dir.join("spans.bin");
        let stats = write_spans_file(&path, 1_234, 500, 1, BASE, true).expect("write");
        assert_eq!(stats.spans, 1_234);
        assert_eq!(stats.messages.messages, 3);

        let data = std::fs::read(&path).expect("read back");
        assert_eq!(data.len() as u64, stats.messages.file_bytes);
        let spans: usize = messages(&data)
            .into_iter()
            .map(|m| span_count(&ExportTraceServiceRequest::decode(m).expect("decode")))
            .sum();
        assert_eq!(spans, 1_234);
        let json: serde_json::Value = serde_json::from_str(&stats_json(&stats)).expect("json");
        assert_eq!(json["spans"], 1_234);
        assert!(json["gzip_bytes"].as_u64().unwrap_or(0) > 0);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn logs_file_has_raw_lines_and_messages() {
        let dir = temp_dir("logs");
        let (raw_path, pb_path) = (dir.join("logs.txt"), dir.join("logs.bin"));
        let stats = write_logs_file(&LogFileConfig {
            raw_out: &raw_path,
            protobuf_out: Some(&pb_path),
            lines: 2_345,
            batch: 1_000,
            services: 20,
            seed: 1,
            base_time_ns: BASE,
            with_gzip: true,
        })
        .expect("write");
        assert_eq!(stats.lines, 2_345);
        assert_eq!(stats.messages.messages, 3);

        let raw = std::fs::read_to_string(&raw_path).expect("raw text");
        assert_eq!(raw.len() as u64, stats.raw_bytes);
        assert_eq!(raw.lines().count(), 2_345);
        assert!(raw.lines().all(|l| !l.is_empty()));

        let data = std::fs::read(&pb_path).expect("protobuf");
        assert_eq!(data.len() as u64, stats.messages.file_bytes);
        let mut texts = Vec::new();
        for m in messages(&data) {
            let request = ExportLogsServiceRequest::decode(m).expect("decode");
            texts.extend(
                log_records(&request).map(|r| body_text(r).unwrap_or_default().to_string()),
            );
        }
        assert_eq!(
            texts,
            raw.lines().collect::<Vec<_>>(),
            "same lines, same order"
        );

        let json: serde_json::Value = serde_json::from_str(&log_stats_json(&stats)).expect("json");
        let raw_per_line = json["raw_bytes_per_line"].as_f64().unwrap_or(0.0);
        assert!((150.0..250.0).contains(&raw_per_line), "{raw_per_line}");
        assert!(json["protobuf_bytes_per_line"].as_f64().unwrap_or(0.0) > raw_per_line);
        assert!(json["raw_gzip_bytes"].as_u64().unwrap_or(0) > 0);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
