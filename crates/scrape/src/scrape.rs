//! One target's scrapes: fetching, labelling, staleness and report series.
//!
//! [`SeriesState`] is the I/O-free part (Prometheus's scrape cache): it turns
//! a parsed exposition or a failure into a [`ScrapeBatch`], remembering which
//! series the previous scrape produced so that vanished ones get a stale
//! marker. [`fetch`] is the HTTP part.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use flate2::read::GzDecoder;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};

use crate::parse::{Parsed, parse};
use crate::relabel::{LabelMap, relabel};
use crate::target::Target;
use crate::{STALE_NAN_BITS, Sample, ScrapeBatch, ScrapeError};

/// The `Accept` header Prometheus 2.42 sends (without native histograms).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const USER_AGENT_VALUE: &str = concat!("Vispyr/", env!("CARGO_PKG_VERSION"));

type Labels = Vec<(String, String)>;

/// Names of the series every scrape reports about itself.
const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// What one target remembers between scrapes.
pub(crate) struct SeriesState {
    target: Arc<Target>,
    /// Series of the last scrape that are subject to staleness (those
    /// without an exposed timestamp).
    staleness_tracked: HashSet<Labels>,
    /// Series of the last successful scrape, to count `scrape_series_added`.
    known: HashSet<Labels>,
    /// Whether report series have been written (and need end-of-run markers).
    reported: bool,
}

impl SeriesState {
    pub(crate) fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            staleness_tracked: HashSet::new(),
            known: HashSet::new(),
            reported: false,
        }
    }

    fn empty_batch(&self) -> ScrapeBatch {
        ScrapeBatch {
            job: self.target.job().to_string(),
            instance: self.target.instance().to_string(),
            samples: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Builds the batch of a successful scrape taken at `t` (ms).
    pub(crate) fn on_success(&mut self, parsed: Parsed, t: i64, duration: Duration) -> ScrapeBatch {
        let mut batch = self.empty_batch();
        let scraped = parsed.samples.len();
        let mut post_relabel = 0usize;
        let mut seen: HashSet<Labels> = HashSet::with_capacity(scraped);
        let mut tracked: HashSet<Labels> = HashSet::with_capacity(scraped);
        let mut series_added = 0usize;
        for parsed_sample in parsed.samples {
            let Some(labels) = self.sample_labels(parsed_sample.sample.labels) else {
                continue;
            };
            post_relabel += 1;
            // A repeated series within one exposition keeps its first sample,
            // as Prometheus rejects the later ones as duplicates.
            if !seen.insert(labels.clone()) {
                continue;
            }
            let explicit = parsed_sample.explicit_timestamp && self.target.honor_timestamps;
            let sample_t = if explicit { parsed_sample.sample.t } else { t };
            if !self.known.contains(&labels) {
                series_added += 1;
            }
            if !explicit {
                tracked.insert(labels.clone());
            }
            batch.samples.push(Sample {
                labels,
                t: sample_t,
                v: parsed_sample.sample.v,
            });
        }
        for labels in self
            .staleness_tracked
            .iter()
            .filter(|labels| !tracked.contains(*labels))
        {
            batch.samples.push(stale(labels.clone(), t));
        }
        self.staleness_tracked = tracked;
        self.known = seen;
        let values = [
            1.0,
            duration.as_secs_f64(),
            scraped as f64,
            post_relabel as f64,
            series_added as f64,
        ];
        self.push_report(&mut batch, t, values);
        batch.metadata = parsed.metadata;
        batch
    }

    /// Builds the batch of a failed scrape: `up` 0 and every series of the
    /// previous scrape marked stale.
    pub(crate) fn on_failure(&mut self, t: i64, duration: Duration) -> ScrapeBatch {
        let mut batch = self.empty_batch();
        for labels in self.staleness_tracked.drain() {
            batch.samples.push(stale(labels, t));
        }
        self.push_report(&mut batch, t, [0.0, duration.as_secs_f64(), 0.0, 0.0, 0.0]);
        batch
    }

    /// Stale markers for every series, report series included, when the
    /// target goes away. `None` when there is nothing to mark.
    pub(crate) fn end_of_run(&mut self, t: i64) -> Option<ScrapeBatch> {
        if !self.reported && self.staleness_tracked.is_empty() {
            return None;
        }
        let mut batch = self.empty_batch();
        for labels in self.staleness_tracked.drain() {
            batch.samples.push(stale(labels, t));
        }
        if self.reported {
            for name in REPORT_SERIES {
                batch.samples.push(stale(self.report_labels(name), t));
            }
            self.reported = false;
        }
        Some(batch)
    }

    fn push_report(&mut self, batch: &mut ScrapeBatch, t: i64, values: [f64; 5]) {
        for (name, v) in REPORT_SERIES.into_iter().zip(values) {
            batch.samples.push(Sample {
                labels: self.report_labels(name),
                t,
                v,
            });
        }
        self.reported = true;
    }

    /// Report series carry the target labels and are not metric-relabelled.
    fn report_labels(&self, name: &str) -> Labels {
        let mut labels: LabelMap = self.target.labels().iter().cloned().collect();
        labels.insert("__name__".to_string(), name.to_string());
        labels.into_iter().collect()
    }

    /// Applies target labels (with `honor_labels` semantics) and
    /// `metric_relabel_configs`; `None` when the sample is dropped.
    fn sample_labels(&self, exposed: Labels) -> Option<Labels> {
        let exposed: LabelMap = exposed.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let mut labels =
            merge_target_labels(&exposed, self.target.labels(), self.target.honor_labels);
        if !relabel(&mut labels, &self.target.metric_relabel_configs) || labels.is_empty() {
            return None;
        }
        Some(labels.into_iter().collect())
    }
}

/// Prometheus's `mutateSampleLabels`: with `honor_labels` the exposed value
/// wins; otherwise the target label wins and the exposed value moves to
/// `exported_<name>` (prefixed again until the name is free).
pub(crate) fn merge_target_labels(
    exposed: &LabelMap,
    target: &[(String, String)],
    honor_labels: bool,
) -> LabelMap {
    let mut merged = exposed.clone();
    if honor_labels {
        for (name, value) in target {
            merged.entry(name.clone()).or_insert_with(|| value.clone());
        }
        return merged;
    }
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for (name, value) in target {
        if let Some(existing) = exposed.get(name) {
            conflicts.push((name.clone(), existing.clone()));
        }
        merged.insert(name.clone(), value.clone());
    }
    conflicts.sort_by_key(|(name, _)| name.len());
    let target_has = |name: &str| target.iter().any(|(n, _)| n == name);
    let mut resolved: Vec<(String, String)> = Vec::with_capacity(conflicts.len());
    for (name, value) in conflicts {
        let mut new_name = name;
        loop {
            new_name = format!("exported_{new_name}");
            let taken = exposed.contains_key(&new_name)
                || target_has(&new_name)
                || resolved.iter().any(|(n, _)| *n == new_name);
            if !taken {
                break;
            }
        }
        resolved.push((new_name, value));
    }
    merged.extend(resolved);
    merged
}

fn stale(labels: Labels, t: i64) -> Sample {
    Sample {
        labels,
        t,
        v: f64::from_bits(STALE_NAN_BITS),
    }
}

/// Scrapes `target` once: GET with Prometheus's headers, size limit and
/// timeout, then decompresses and parses off the async runtime.
pub(crate) async fn fetch_and_parse(
    client: &reqwest::Client,
    target: &Target,
    t: i64,
) -> Result<Parsed, ScrapeError> {
    let timeout = target.timeout();
    let limit = target.body_size_limit;
    let fetched = tokio::time::timeout(timeout, fetch(client, target.url(), timeout, limit)).await;
    let (body, content_type, gzip) = fetched.map_err(|_| ScrapeError::Timeout(timeout))??;
    let parsed = tokio::task::spawn_blocking(move || -> Result<Parsed, ScrapeError> {
        let body = if gzip { gunzip(&body, limit)? } else { body };
        Ok(parse(&body, &content_type, t)?)
    })
    .await
    .map_err(|err| ScrapeError::Request(format!("parse task failed: {err}")))??;
    Ok(parsed)
}

/// GETs `url`; returns the raw body, its content type, and whether it is gzip.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    limit: u64,
) -> Result<(Vec<u8>, String, bool), ScrapeError> {
    let request = client
        .get(url)
        .header(ACCEPT, ACCEPT_HEADER)
        .header(ACCEPT_ENCODING, "gzip")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", timeout.as_secs_f64()),
        );
    let mut response = request
        .send()
        .await
        .map_err(|err| ScrapeError::Request(error_chain(&err)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(ScrapeError::Status(response.status().to_string()));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header(CONTENT_TYPE);
    let gzip = header(CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(ScrapeError::BodyTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| ScrapeError::Request(error_chain(&err)))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(ScrapeError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type, gzip))
}

/// Decompresses at most `limit` bytes; more is an error, not a truncation.
fn gunzip(body: &[u8], limit: u64) -> Result<Vec<u8>, ScrapeError> {
    let mut out = Vec::new();
    let mut decoder = GzDecoder::new(body).take(limit.saturating_add(1));
    decoder
        .read_to_end(&mut out)
        .map_err(|err| ScrapeError::Decompress(err.to_string()))?;
    if out.len() as u64 > limit {
        return Err(ScrapeError::BodyTooLarge { limit });
    }
    Ok(out)
}

/// The error with its sources, so "connection refused" is not hidden.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScrapeConfig, is_stale_nan};

    fn target(yaml: &str) -> Arc<Target> {
        let config: ScrapeConfig = serde_norway::from_str(yaml).unwrap();
        let (mut targets, errors) = Target::from_config(&config);
        assert!(errors.is_empty(), "{errors:?}");
        Arc::new(targets.remove(0))
    }

    fn node_target() -> Arc<Target> {
        target("job_name: node\nstatic_configs: [{targets: ['h:9100']}]")
    }

    fn parsed(body: &str, t: i64) -> Parsed {
        parse(body.as_bytes(), "text/plain; version=0.0.4", t).unwrap()
    }

    fn find<'a>(batch: &'a ScrapeBatch, name: &str) -> Vec<&'a Sample> {
        batch
            .samples
            .iter()
            .filter(|s| s.labels.iter().any(|(n, v)| n == "__name__" && v == name))
            .collect()
    }

    fn value(batch: &ScrapeBatch, name: &str) -> f64 {
        let found = find(batch, name);
        assert_eq!(found.len(), 1, "{name} in {batch:?}");
        found[0].v
    }

    #[test]
    fn success_applies_target_labels_and_reports() {
        let mut state = SeriesState::new(node_target());
        let batch = state.on_success(
            parsed("a 1\nb{x=\"y\"} 2\n", 1000),
            1000,
            Duration::from_millis(250),
        );
        let a = find(&batch, "a")[0];
        assert_eq!(
            a.labels,
            vec![
                ("__name__".to_string(), "a".to_string()),
                ("instance".to_string(), "h:9100".to_string()),
                ("job".to_string(), "node".to_string()),
            ]
        );
        assert_eq!(a.t, 1000);
        assert_eq!(value(&batch, "up"), 1.0);
        assert_eq!(value(&batch, "scrape_duration_seconds"), 0.25);
        assert_eq!(value(&batch, "scrape_samples_scraped"), 2.0);
        assert_eq!(value(&batch, "scrape_samples_post_metric_relabeling"), 2.0);
        assert_eq!(value(&batch, "scrape_series_added"), 2.0);
        assert_eq!(batch.job, "node");
        assert_eq!(batch.instance, "h:9100");
    }

    #[test]
    fn vanished_series_get_stale_markers_at_scrape_time() {
        let mut state = SeriesState::new(node_target());
        state.on_success(parsed("a 1\nb 2\n", 1000), 1000, Duration::ZERO);
        let second = state.on_success(parsed("a 1\nc 3\n", 2000), 2000, Duration::ZERO);
        let b = find(&second, "b");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].v.to_bits(), STALE_NAN_BITS);
        assert_eq!(b[0].t, 2000);
        assert!(!is_stale_nan(find(&second, "a")[0].v));
        assert_eq!(value(&second, "scrape_series_added"), 1.0);
        // Marked once only.
        let third = state.on_success(parsed("a 1\nc 3\n", 3000), 3000, Duration::ZERO);
        assert!(find(&third, "b").is_empty());
    }

    #[test]
    fn failure_marks_everything_stale_once() {
        let mut state = SeriesState::new(node_target());
        state.on_success(parsed("a 1\nb 2\n", 1000), 1000, Duration::ZERO);
        let failed = state.on_failure(2000, Duration::from_millis(5));
        assert_eq!(value(&failed, "up"), 0.0);
        assert!(is_stale_nan(find(&failed, "a")[0].v));
        assert!(is_stale_nan(find(&failed, "b")[0].v));
        assert_eq!(value(&failed, "scrape_samples_scraped"), 0.0);
        let again = state.on_failure(3000, Duration::ZERO);
        assert!(find(&again, "a").is_empty());
        let recovered = state.on_success(parsed("a 1\n", 4000), 4000, Duration::ZERO);
        assert_eq!(
            value(&recovered, "scrape_series_added"),
            0.0,
            "series known from the last good scrape"
        );
    }

    #[test]
    fn end_of_run_marks_series_and_report_series() {
        let mut state = SeriesState::new(node_target());
        assert!(state.end_of_run(0).is_none());
        state.on_success(parsed("a 1\n", 1000), 1000, Duration::ZERO);
        let last = state.end_of_run(1500).unwrap();
        assert!(is_stale_nan(find(&last, "a")[0].v));
        for name in REPORT_SERIES {
            assert!(is_stale_nan(value(&last, name)), "{name}");
        }
        assert!(state.end_of_run(1600).is_none());
    }

    #[test]
    fn explicit_timestamps_are_honoured_and_not_tracked() {
        let mut state = SeriesState::new(node_target());
        let first = state.on_success(parsed("a 1 500\n", 1000), 1000, Duration::ZERO);
        assert_eq!(find(&first, "a")[0].t, 500);
        let second = state.on_success(parsed("", 2000), 2000, Duration::ZERO);
        assert!(
            find(&second, "a").is_empty(),
            "series with exposed timestamps get no stale marker"
        );

        let ignoring =
            target("job_name: j\nhonor_timestamps: false\nstatic_configs: [{targets: ['h:1']}]");
        let mut state = SeriesState::new(ignoring);
        let batch = state.on_success(parsed("a 1 500\n", 1000), 1000, Duration::ZERO);
        assert_eq!(find(&batch, "a")[0].t, 1000);
    }

    #[test]
    fn honor_labels_false_renames_conflicts() {
        let mut state = SeriesState::new(node_target());
        let batch = state.on_success(
            parsed("a{job=\"exp\",instance=\"i\",exported_job=\"x\"} 1\n", 0),
            0,
            Duration::ZERO,
        );
        let labels: LabelMap = find(&batch, "a")[0].labels.iter().cloned().collect();
        assert_eq!(labels["job"], "node");
        assert_eq!(labels["instance"], "h:9100");
        assert_eq!(labels["exported_instance"], "i");
        assert_eq!(labels["exported_job"], "x");
        assert_eq!(labels["exported_exported_job"], "exp");
    }

    #[test]
    fn honor_labels_true_keeps_exposed() {
        let honoring =
            target("job_name: node\nhonor_labels: true\nstatic_configs: [{targets: ['h:9100']}]");
        let mut state = SeriesState::new(honoring);
        let batch = state.on_success(
            parsed("a{job=\"exp\",instance=\"\"} 1\n", 0),
            0,
            Duration::ZERO,
        );
        let labels: LabelMap = find(&batch, "a")[0].labels.iter().cloned().collect();
        assert_eq!(labels["job"], "exp");
        assert_eq!(
            labels["instance"], "h:9100",
            "an empty exposed label counts as absent"
        );
        assert!(!labels.contains_key("exported_job"));
    }

    #[test]
    fn metric_relabelling_drops_and_counts() {
        let relabelled = target(
            "job_name: j\nstatic_configs: [{targets: ['h:1']}]\nmetric_relabel_configs:\n  - {action: drop, source_labels: [__name__], regex: 'go_.*'}",
        );
        let mut state = SeriesState::new(relabelled);
        let batch = state.on_success(
            parsed("go_x 1\ngo_y 1\nkeep 2\nkeep 3\n", 0),
            0,
            Duration::ZERO,
        );
        assert!(find(&batch, "go_x").is_empty());
        assert_eq!(
            find(&batch, "keep").len(),
            1,
            "duplicates keep the first sample"
        );
        assert_eq!(find(&batch, "keep")[0].v, 2.0);
        assert_eq!(value(&batch, "scrape_samples_scraped"), 4.0);
        assert_eq!(value(&batch, "scrape_samples_post_metric_relabeling"), 2.0);
        let up = find(&batch, "up");
        assert_eq!(up.len(), 1, "report series are not metric-relabelled");
    }

    #[test]
    fn gunzip_enforces_limit() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&[b'a'; 1000]).unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(gunzip(&compressed, 1000).unwrap().len(), 1000);
        let err = gunzip(&compressed, 999).unwrap_err();
        assert_eq!(err.to_string(), "body size limit of 999 bytes exceeded");
        assert!(matches!(
            gunzip(b"not gzip", 10),
            Err(ScrapeError::Decompress(_))
        ));
    }
}
