//! `scrape_configs` entries, field for field as Prometheus names them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{ByteSize, PromDuration};
use crate::relabel::{RelabelConfig, is_valid_label_name};

/// Default `scrape_interval` (Prometheus's global default).
pub const DEFAULT_SCRAPE_INTERVAL: PromDuration = PromDuration::from_secs(15);
/// Default `scrape_timeout`, capped at the interval when that is shorter.
pub const DEFAULT_SCRAPE_TIMEOUT: PromDuration = PromDuration::from_secs(10);
/// Default body size limit. Prometheus has none by default; an unbounded
/// read is a memory hazard for a server that also stores the data.
pub const DEFAULT_BODY_SIZE_LIMIT: ByteSize = ByteSize(64 << 20);

fn default_interval() -> PromDuration {
    DEFAULT_SCRAPE_INTERVAL
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_true() -> bool {
    true
}

/// URL scheme used to scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP (default).
    #[default]
    Http,
    /// HTTPS. Accepted by the config; this build's HTTP client has no TLS,
    /// so scrapes of such targets fail with a clear error.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A group of static targets sharing labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses; each becomes a target's `__address__`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels attached to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `scrape_configs` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Job name: the `job` label of every target; unique across configs.
    pub job_name: String,
    /// How often each target is scraped. Default `15s`.
    #[serde(default = "default_interval")]
    pub scrape_interval: PromDuration,
    /// Per-scrape timeout; must not exceed the interval. When absent it is
    /// `10s`, or the interval if that is shorter (as Prometheus resolves it);
    /// see [`ScrapeConfig::effective_timeout`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    /// HTTP path of the metrics endpoint. Default `/metrics`.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// URL query parameters; each also becomes a `__param_<name>` label
    /// (first value) that relabelling may change.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// When true, labels exposed by the target win over target labels;
    /// when false, conflicting exposed labels are renamed `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    /// When true (default), timestamps in the exposition are kept;
    /// when false, every sample gets the scrape time.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Largest accepted (decompressed) body, e.g. `64MiB`. Default 64 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    /// Static target groups.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Rules applied to target labels before scraping; a dropped target is
    /// not scraped.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rules applied to each scraped sample's labels before it is appended.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl ScrapeConfig {
    /// A config with every default and no targets.
    pub fn new(job_name: impl Into<String>) -> Self {
        Self {
            job_name: job_name.into(),
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: None,
            metrics_path: default_metrics_path(),
            scheme: Scheme::Http,
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            body_size_limit: None,
            static_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }

    /// The timeout in force: the configured one, else `min(10s, interval)`.
    pub fn effective_timeout(&self) -> PromDuration {
        self.scrape_timeout
            .unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval))
    }

    /// The body size limit in force, in bytes.
    pub fn effective_body_size_limit(&self) -> u64 {
        match self.body_size_limit {
            Some(ByteSize(0)) | None => DEFAULT_BODY_SIZE_LIMIT.0,
            Some(ByteSize(limit)) => limit,
        }
    }

    /// Checks one config; the message names the job and the problem.
    pub fn validate(&self) -> Result<(), String> {
        let job = &self.job_name;
        if job.is_empty() {
            return Err("scrape config is missing 'job_name'".to_string());
        }
        let context = |problem: String| format!("scrape config {job:?}: {problem}");
        if self.scrape_interval.0 == Duration::ZERO {
            return Err(context(
                "scrape_interval must be greater than 0".to_string(),
            ));
        }
        let timeout = self.effective_timeout();
        if timeout.0 == Duration::ZERO {
            return Err(context("scrape_timeout must be greater than 0".to_string()));
        }
        if timeout > self.scrape_interval {
            return Err(context(format!(
                "scrape_timeout {timeout} greater than scrape_interval {}",
                self.scrape_interval
            )));
        }
        if !self.metrics_path.starts_with('/') {
            return Err(context(format!(
                "metrics_path {:?} must start with '/'",
                self.metrics_path
            )));
        }
        for group in &self.static_configs {
            for target in &group.targets {
                validate_address(target).map_err(&context)?;
            }
            for name in group.labels.keys() {
                if !is_valid_label_name(name) {
                    return Err(context(format!("{name:?} is not a valid label name")));
                }
            }
        }
        for (index, rule) in self.relabel_configs.iter().enumerate() {
            rule.validate()
                .map_err(|err| context(format!("relabel_configs[{index}]: {err}")))?;
        }
        for (index, rule) in self.metric_relabel_configs.iter().enumerate() {
            rule.validate()
                .map_err(|err| context(format!("metric_relabel_configs[{index}]: {err}")))?;
        }
        Ok(())
    }
}

/// Checks a `host:port` target address the way Prometheus rejects obvious
/// mistakes (a scheme or path in the address).
pub(crate) fn validate_address(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Err("empty target address".to_string());
    }
    if address.contains('/') || address.chars().any(char::is_whitespace) {
        return Err(format!("{address:?} is not a valid hostname or host:port"));
    }
    Ok(())
}

/// Validates every config and rejects duplicate job names.
pub fn validate_all(configs: &[ScrapeConfig]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for config in configs {
        config.validate()?;
        if !seen.insert(config.job_name.as_str()) {
            return Err(format!(
                "found multiple scrape configs with job name {:?}",
                config.job_name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_yaml(yaml: &str) -> ScrapeConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_match_prometheus() {
        let config = from_yaml("job_name: node");
        assert_eq!(config, ScrapeConfig::new("node"));
        assert_eq!(config.scrape_interval.0, Duration::from_secs(15));
        assert_eq!(config.effective_timeout().0, Duration::from_secs(10));
        assert_eq!(config.metrics_path, "/metrics");
        assert_eq!(config.scheme, Scheme::Http);
        assert!(!config.honor_labels);
        assert!(config.honor_timestamps);
        assert_eq!(config.effective_body_size_limit(), 64 << 20);
        config.validate().unwrap();
    }

    #[test]
    fn default_timeout_is_capped_at_interval() {
        let config = from_yaml("job_name: fast\nscrape_interval: 5s");
        assert_eq!(config.effective_timeout().0, Duration::from_secs(5));
        config.validate().unwrap();
    }

    #[test]
    fn good_fixture_parses_and_round_trips() {
        let text = include_str!("../testdata/config/good.yml");
        let configs: Vec<ScrapeConfig> = serde_norway::from_str(text).unwrap();
        validate_all(&configs).unwrap();
        let full = &configs[0];
        assert_eq!(full.scrape_interval.0, Duration::from_secs(90));
        assert_eq!(full.effective_timeout().0, Duration::from_millis(1500));
        assert_eq!(full.scheme, Scheme::Https);
        assert_eq!(full.params["module"], vec!["http_2xx".to_string()]);
        assert_eq!(full.static_configs[0].labels["env"], "prod");
        assert_eq!(full.relabel_configs.len(), 2);
        assert_eq!(
            full.metric_relabel_configs[0].action,
            crate::RelabelAction::Drop
        );
        let rendered = serde_norway::to_string(&configs).unwrap();
        let reparsed: Vec<ScrapeConfig> = serde_norway::from_str(&rendered).unwrap();
        assert_eq!(reparsed, configs);
    }

    #[test]
    fn broken_fixtures_are_rejected() {
        let fixtures = [
            (
                "bad_unknown_field.yml",
                include_str!("../testdata/config/bad_unknown_field.yml"),
                "unknown field",
            ),
            (
                "bad_timeout.yml",
                include_str!("../testdata/config/bad_timeout.yml"),
                "greater than scrape_interval",
            ),
            (
                "bad_duplicate_job.yml",
                include_str!("../testdata/config/bad_duplicate_job.yml"),
                "multiple scrape configs",
            ),
            (
                "bad_duration.yml",
                include_str!("../testdata/config/bad_duration.yml"),
                "not a valid duration",
            ),
            (
                "bad_relabel.yml",
                include_str!("../testdata/config/bad_relabel.yml"),
                "target_label",
            ),
            (
                "bad_target.yml",
                include_str!("../testdata/config/bad_target.yml"),
                "not a valid hostname",
            ),
        ];
        for (name, text, fragment) in fixtures {
            let outcome = serde_norway::from_str::<Vec<ScrapeConfig>>(text)
                .map_err(|err| err.to_string())
                .and_then(|configs| validate_all(&configs));
            let err = outcome.expect_err(name);
            assert!(err.contains(fragment), "{name}: {err}");
        }
    }
}
