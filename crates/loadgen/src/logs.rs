//! The `logs` workload: pooled batches of generated log lines (see
//! [`crate::log_generator`]) sent by the closed loop of [`crate::load`].
//!
//! Uncompressed bodies are patched on every request (see [`crate::pool`]):
//! `time_unix_nano` becomes the send time minus the line's age (under two
//! seconds), `observed_time_unix_nano` the send time, and trace ids and the
//! 16-hex-digit request ids in the text are XORed with the request's nonce,
//! so they stay high-cardinality however small the pool. Timestamps written
//! inside the text (the JSON `ts`, the prefix of file-style lines) keep the
//! pool's generation time.
//!
//! # Rare term planting
//!
//! With a [`RareTerm`], line *k* of the run (counting every line sent, from
//! 0, in request order and in encoded order within a request) carries the
//! term as a whole word exactly when `k % every == every - 1`, so
//! `⌊lines_sent / every⌋` lines carry it. Request `seq` holds lines
//! `seq × batch …`, so which of its lines are planted follows from `seq`
//! alone. A planted request is rebuilt from the pooled batch it is based on:
//! the term is inserted at the end of the line's message text (inside the
//! `msg` string of JSON lines), the batch re-encoded, patched and, with
//! `--gzip`, compressed. That costs about one batch encode per planted
//! request, so keep `every` well above `batch` for full-speed runs.

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

use crate::load::{Outgoing, Signal, Workload};
use crate::log_generator::{LineMeta, LogBatch, LogGenerator};
use crate::pool::{self, HEX_ID_LEN, PatchSites, PooledBody, gzip_bytes};
use crate::wire::{self, FIXED64, LEN};

/// `LogRecord` field numbers.
const TIME_UNIX_NANO: u32 = 1;
const BODY: u32 = 5;
const TRACE_ID: u32 = 9;
const OBSERVED_TIME_UNIX_NANO: u32 = 11;
/// `AnyValue.string_value`.
const STRING_VALUE: u32 = 1;

/// A word planted into one line out of every `every` lines sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RareTerm {
    term: String,
    every: u64,
}

impl RareTerm {
    /// The term must be one word of ASCII letters and digits with at least
    /// one letter after `f`, so that no tokenizer splits it and it can never
    /// match a (patched) hex id or a number.
    pub fn new(term: String, every: u64) -> Result<Self> {
        ensure!(every >= 1, "--rare-every must be at least 1");
        ensure!(
            !term.is_empty() && term.bytes().all(|b| b.is_ascii_alphanumeric()),
            "--rare-term must be one word of ASCII letters and digits, got {term:?}"
        );
        ensure!(
            term.bytes()
                .any(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit()),
            "--rare-term {term:?} could match a hex id; use a letter after 'f'"
        );
        Ok(Self { term, every })
    }

    /// Which of the `count` lines starting at line `first` of the run carry
    /// the term, as offsets from `first`, ascending.
    fn lines_in(&self, first: u64, count: u64) -> Vec<usize> {
        let end = first.saturating_add(count);
        let mut planted = Vec::new();
        let mut line = first + (self.every - 1 - first % self.every);
        while line < end {
            planted.push(usize::try_from(line - first).unwrap_or(usize::MAX));
            line = line.saturating_add(self.every);
        }
        planted
    }

    /// Fails when the term already occurs (case-insensitively) anywhere in
    /// an encoded batch, which would make the planted count wrong.
    fn check_absent(&self, encoded: &[u8]) -> Result<()> {
        let needle = self.term.to_ascii_lowercase().into_bytes();
        let found = encoded
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(&needle));
        if found {
            bail!(
                "--rare-term {:?} occurs in the generated lines; pick a rarer word",
                self.term
            );
        }
        Ok(())
    }
}

/// The `logs` workload: `pool` batches cycled round robin, with an optional
/// rare term.
pub struct LogPool {
    bodies: Vec<LogBody>,
    batch: usize,
    gzip: bool,
    rare: Option<RareTerm>,
}

struct LogBody {
    pooled: PooledBody,
    /// The generated batch, kept to rebuild planted requests; only with a
    /// rare term.
    source: Option<LogBatch>,
}

impl LogPool {
    /// `pool` bodies of `batch` lines from `services` services, from the
    /// generator seeded `seed` with its clock at `base_time_ns`.
    pub fn build(
        pool: usize,
        batch: usize,
        services: usize,
        seed: u64,
        base_time_ns: u64,
        gzip: bool,
        rare: Option<RareTerm>,
    ) -> Result<Self> {
        anyhow::ensure!(services > 0, "--services must be at least 1");
        let mut generator = LogGenerator::new(seed, services, base_time_ns);
        let bodies = pool::build(pool, batch, || {
            let generated = generator.batch(batch);
            let (encoded, sites) = encode(&generated)?;
            if let Some(rare) = &rare {
                rare.check_absent(&encoded)?;
            }
            Ok(LogBody {
                pooled: PooledBody::new(encoded, sites, batch, gzip)?,
                source: rare.is_some().then_some(generated),
            })
        })?;
        Ok(Self {
            bodies,
            batch,
            gzip,
            rare,
        })
    }
}

impl Workload for LogPool {
    fn signal(&self) -> Signal {
        Signal::Logs
    }

    fn batch(&self) -> usize {
        self.batch
    }

    fn pool_size(&self) -> (usize, usize) {
        let bytes = self.bodies.iter().map(|b| b.pooled.wire_len()).sum();
        (self.bodies.len(), bytes)
    }

    fn request(&self, seq: u64, nonce: u64, now_ns: u64) -> Result<Outgoing> {
        let body = &self.bodies[(seq % self.bodies.len() as u64) as usize];
        let items = self.batch as u64;
        let first_line = seq.saturating_mul(items);
        let planting = self
            .rare
            .as_ref()
            .map(|rare| (rare, rare.lines_in(first_line, items)));
        let (rare, planted) = match planting {
            Some((rare, planted)) if !planted.is_empty() => (rare, planted),
            _ => {
                return Ok(Outgoing {
                    body: body.pooled.body(nonce, now_ns),
                    items,
                    rare: 0,
                });
            }
        };
        let source = body
            .source
            .as_ref()
            .context("pooled log batch was not kept for planting")?;
        let (mut encoded, sites) = encode(&plant(source, &planted, &rare.term)?)?;
        sites.apply(&mut encoded, nonce, now_ns);
        let bytes = if self.gzip {
            gzip_bytes(&encoded)?
        } else {
            encoded
        };
        Ok(Outgoing {
            body: Bytes::from(bytes),
            items,
            rare: planted.len() as u64,
        })
    }
}

/// A batch encoded, with its patch sites.
fn encode(batch: &LogBatch) -> Result<(Vec<u8>, PatchSites)> {
    let encoded = batch.request.encode_to_vec();
    let sites = line_sites(&encoded, &batch.lines)?;
    Ok((encoded, sites))
}

/// A copy of `source` with ` {term}` inserted into the lines at `planted`
/// (ascending indexes in encoded order).
fn plant(source: &LogBatch, planted: &[usize], term: &str) -> Result<LogBatch> {
    let mut batch = source.clone();
    let records = batch
        .request
        .resource_logs
        .iter_mut()
        .flat_map(|rl| &mut rl.scope_logs)
        .flat_map(|sl| &mut sl.log_records);
    let mut next = planted.iter().copied().peekable();
    for ((index, record), meta) in records.enumerate().zip(&mut batch.lines) {
        if next.next_if_eq(&index).is_none() {
            continue;
        }
        let Some(any_value::Value::StringValue(text)) =
            record.body.as_mut().and_then(|b| b.value.as_mut())
        else {
            bail!("generated log line {index} has no string body");
        };
        meta.insert_word(text, term);
    }
    ensure!(next.peek().is_none(), "planted line index past the batch");
    Ok(batch)
}

/// Patch sites of every line of an encoded `ExportLogsServiceRequest`
/// whose lines' metadata is `lines` (in encoded order): both timestamps, the
/// trace id if any, and the request ids in the body text.
pub fn line_sites(encoded: &[u8], lines: &[LineMeta]) -> Result<PatchSites> {
    let records = wire::records(encoded)?;
    ensure!(
        records.len() == lines.len(),
        "{} encoded log records for {} generated lines",
        records.len(),
        lines.len()
    );
    let mut sites = PatchSites::default();
    for (record, meta) in records.into_iter().zip(lines) {
        for field in wire::fields(encoded, record)? {
            match (field.number, field.wire_type) {
                (TIME_UNIX_NANO, FIXED64) => {
                    sites.timestamps.push((field.value.start, meta.age_ns))
                }
                (OBSERVED_TIME_UNIX_NANO, FIXED64) => sites.timestamps.push((field.value.start, 0)),
                (TRACE_ID, LEN) if field.value.len() == 16 => {
                    sites.trace_ids.push(field.value.start);
                }
                (BODY, LEN) => {
                    let strings = wire::messages(encoded, field.value, STRING_VALUE)?;
                    let [text] = strings.as_slice() else {
                        bail!("log body is not a string");
                    };
                    for &off in &meta.hex_ids {
                        ensure!(off + HEX_ID_LEN <= text.len(), "hex id past the log body");
                        sites.hex_ids.push(text.start + off);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_generator::{body_text, line_count, log_records};
    use crate::pool::mix;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use std::collections::HashSet;
    use std::io::Read;

    const BASE: u64 = 1_750_000_000_000_000_000;
    const NOW: u64 = BASE + 60_000_000_000;
    const TERM: &str = "vispyrneedle";

    fn decode(body: &[u8], gzip: bool) -> ExportLogsServiceRequest {
        let raw = if gzip {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut raw)
                .expect("gunzip");
            raw
        } else {
            body.to_vec()
        };
        ExportLogsServiceRequest::decode(raw.as_slice()).expect("valid ExportLogsServiceRequest")
    }

    fn has_term(text: &str) -> bool {
        text.split([' ', '"']).any(|w| w == TERM)
    }

    fn pool(batch: usize, every: Option<u64>, gzip: bool) -> LogPool {
        let rare = every.map(|n| RareTerm::new(TERM.to_string(), n).expect("valid term"));
        LogPool::build(3, batch, 20, 1, BASE, gzip, rare).expect("pool")
    }

    #[test]
    fn bodies_decode_with_fresh_timestamps_and_ids() {
        let pool = pool(500, None, false);
        let first = decode(&pool.request(0, mix(0), NOW).expect("request").body, false);
        let again = decode(
            &pool.request(3, mix(3), NOW + 7).expect("request").body,
            false,
        );
        assert_eq!(line_count(&first), 500);
        assert_eq!(line_count(&again), 500);
        let mut ids = HashSet::new();
        for (a, b) in log_records(&first).zip(log_records(&again)) {
            assert!(a.time_unix_nano <= NOW && a.time_unix_nano >= NOW - 2_000_000_000);
            assert_eq!(a.observed_time_unix_nano, NOW);
            assert_eq!(b.observed_time_unix_nano, NOW + 7);
            assert_eq!(b.time_unix_nano - a.time_unix_nano, 7);
            assert_eq!(a.trace_id.is_empty(), b.trace_id.is_empty());
            if !a.trace_id.is_empty() {
                assert_ne!(a.trace_id, b.trace_id);
            }
            let (ta, tb) = (body_text(a).expect("text"), body_text(b).expect("text"));
            assert_eq!(ta.len(), tb.len());
            if let Some(id) = ta.split("req=").nth(1) {
                assert_ne!(Some(id), tb.split("req=").nth(1));
                ids.insert(id.to_string());
            }
            assert_eq!(a.attributes, b.attributes);
            assert_eq!(a.severity_number, b.severity_number);
        }
        assert!(ids.len() > 50);
    }

    #[test]
    fn gzip_bodies_decode() {
        let pool = pool(300, None, true);
        let out = pool.request(1, mix(1), NOW).expect("request");
        assert_eq!(line_count(&decode(&out.body, true)), 300);
        assert_eq!((out.items, out.rare), (300, 0));
    }

    /// Sends `requests` requests and checks that exactly lines
    /// `every-1, 2·every-1, …` of the run carry the term.
    fn check_planting(batch: usize, every: u64, requests: u64, gzip: bool) {
        let pool = pool(batch, Some(every), gzip);
        let mut rare_sent = 0;
        let mut found = 0;
        for seq in 0..requests {
            let out = pool.request(seq, mix(seq), NOW).expect("request");
            let request = decode(&out.body, gzip);
            assert_eq!(line_count(&request), batch);
            for (i, record) in log_records(&request).enumerate() {
                let line = seq * batch as u64 + i as u64;
                let text = body_text(record).expect("text");
                assert_eq!(
                    has_term(text),
                    line % every == every - 1,
                    "line {line}: {text}"
                );
                found += u64::from(has_term(text));
                if text.starts_with('{') {
                    serde_json::from_str::<serde_json::Value>(text).expect("json");
                }
            }
            rare_sent += out.rare;
        }
        assert_eq!(found, requests * batch as u64 / every);
        assert_eq!(rare_sent, found);
    }

    #[test]
    fn rare_term_planted_exactly_every_n() {
        check_planting(100, 37, 30, false);
        check_planting(100, 1, 3, false);
        check_planting(100, 100, 10, false);
        check_planting(50, 1_000, 61, false); // cycles the pool of 3 many times
        check_planting(100, 37, 12, true);
    }

    #[test]
    fn planted_requests_keep_fresh_ids() {
        let pool = pool(100, Some(100), false);
        let a = decode(&pool.request(0, mix(0), NOW).expect("request").body, false);
        let b = decode(&pool.request(3, mix(3), NOW).expect("request").body, false);
        let texts = |r: &ExportLogsServiceRequest| {
            log_records(r)
                .map(|l| body_text(l).unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        let (la, lb) = (texts(&a), texts(&b));
        let differing = la.iter().zip(&lb).filter(|(x, y)| x != y).count();
        assert!(
            differing > 50,
            "request ids are patched in planted requests too"
        );
        assert!(log_records(&a).all(|r| r.observed_time_unix_nano == NOW));
    }

    #[test]
    fn rare_term_is_validated() {
        assert!(RareTerm::new("vispyrneedle".into(), 1000).is_ok());
        assert!(RareTerm::new("needle42".into(), 0).is_err());
        assert!(RareTerm::new(String::new(), 10).is_err());
        assert!(RareTerm::new("two words".into(), 10).is_err());
        assert!(RareTerm::new("deadbeef".into(), 10).is_err());
        assert!(RareTerm::new("404".into(), 10).is_err());
        let common = RareTerm::new("Order".into(), 10).expect("well-formed");
        assert!(LogPool::build(1, 200, 20, 1, BASE, false, Some(common)).is_err());
    }

    #[test]
    fn lines_in_counts_from_run_start() {
        let rare = RareTerm::new(TERM.into(), 10).expect("term");
        assert_eq!(rare.lines_in(0, 25), [9, 19]);
        assert_eq!(rare.lines_in(25, 25), [4, 14, 24]);
        assert!(rare.lines_in(50, 9).is_empty());
        let every_line = RareTerm::new(TERM.into(), 1).expect("term");
        assert_eq!(every_line.lines_in(7, 3), [0, 1, 2]);
    }
}
