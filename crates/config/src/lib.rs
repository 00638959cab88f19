//! Vispyr's configuration: the YAML file (`vispyr.yaml`), its defaults and its
//! validation.
//!
//! Raw serde structs ([`RawConfig`]) reject unknown keys; [`RawConfig::build_and_validate`]
//! turns them into the resolved [`Config`] every component reads. Command-line flags and
//! `VISPYR_*` environment variables are applied by the binary on top of the file
//! ([`Overrides`]): flag > environment > file > default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod units;

pub use units::{parse_bytes, parse_duration};

/// Errors raised while loading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config value for `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The raw YAML document. Every section is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Directory that holds the WAL, catalog and (in single-node mode) segments.
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP server: UI, APIs, Pyroscope ingest (default `0.0.0.0:4040`).
    pub http_addr: Option<String>,
    /// Address of the OTLP/gRPC receiver (default `0.0.0.0:4317`).
    pub otlp_grpc_addr: Option<String>,
    /// Address of the OTLP/HTTP receiver (default `0.0.0.0:4318`).
    pub otlp_http_addr: Option<String>,
    /// Ingest limits.
    pub limits: RawLimits,
    /// Storage engine tuning.
    pub storage: RawStorage,
    /// How long each signal is kept.
    pub retention: RawRetention,
    /// Query limits.
    pub query: RawQuery,
    /// Profiles: the flamegraph view rules.
    pub profiles: RawProfiles,
    /// Prometheus scrape jobs, written as in `prometheus.yml`.
    pub scrape_configs: Vec<vispyr_scrape::ScrapeConfig>,
    /// Traces → metrics connectors.
    pub connectors: Connectors,
}

/// `connectors:` section: span metrics and service graph (both on by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connectors {
    pub span_metrics: vispyr_connectors::SpanMetricsConfig,
    pub service_graph: vispyr_connectors::ServiceGraphConfig,
}

/// `profiles:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProfiles {
    /// View rules every flamegraph applies (presets, hide/collapse/rename/tag
    /// rules); rules added through the API come after them.
    pub view_rules: vispyr_flamegraph::RuleSet,
}

/// `limits:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Largest accepted request body after decompression, e.g. `16MiB`.
    pub max_request_body: Option<ByteSizeValue>,
    /// Memory bound for buffered data; past it ingest answers 429 / RESOURCE_EXHAUSTED.
    pub max_memory: Option<ByteSizeValue>,
}

/// `storage:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    /// fsync the WAL before acknowledging a write (default true). Turn off only for benchmarks.
    pub wal_fsync: Option<bool>,
    /// Flush the memtable to a segment when it holds this many bytes (default `64MiB`).
    pub flush_max_bytes: Option<ByteSizeValue>,
    /// Flush the memtable when its oldest data is this old (default `60s`).
    pub flush_max_age: Option<String>,
    /// How often the compactor looks for small segments (default `60s`).
    pub compaction_interval: Option<String>,
    /// Segments smaller than this are merged by compaction (default `32MiB`).
    pub compaction_small_segment: Option<ByteSizeValue>,
    /// Compact a partition once it has at least this many small segments (default 4).
    pub compaction_min_segments: Option<usize>,
    /// Most rows one merge reads into memory (default 262144); bounds compaction memory.
    pub compaction_max_rows: Option<u64>,
}

/// `retention:` section: durations such as `30d`, `12h`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetention {
    /// Retention of spans (default `30d`).
    pub traces: Option<String>,
    /// Retention of metric points (default `30d`).
    pub metrics: Option<String>,
    /// Retention of logs (default `30d`).
    pub logs: Option<String>,
    /// Retention of profiles, samples and stacks alike (default `30d`).
    pub profiles: Option<String>,
    /// How often retention runs (default `10m`).
    pub check_interval: Option<String>,
}

/// `query:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQuery {
    /// Maximum rows a SQL response returns (default 10000); more sets `truncated`.
    pub sql_row_limit: Option<usize>,
    /// Query timeout (default `60s`).
    pub timeout: Option<String>,
}

/// A size written either as a number of bytes or as a string like `16MiB`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByteSizeValue {
    Bytes(u64),
    Text(String),
}

/// Values given on the command line or in `VISPYR_*` variables; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<String>,
    pub otlp_grpc_addr: Option<String>,
    pub otlp_http_addr: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub limits: Limits,
    pub storage: StorageConfig,
    pub retention: Retention,
    pub query: QueryConfig,
    /// View rules from the config file, already checked to compile.
    pub view_rules: vispyr_flamegraph::RuleSet,
    /// Prometheus scrape jobs, validated.
    pub scrape_configs: Vec<vispyr_scrape::ScrapeConfig>,
    /// Connector settings, validated.
    pub connectors: Connectors,
}

/// Resolved ingest limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_body: usize,
    pub max_memory: usize,
}

/// Resolved storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub wal_fsync: bool,
    pub flush_max_bytes: usize,
    pub flush_max_age: Duration,
    pub compaction_interval: Duration,
    pub compaction_small_segment: u64,
    pub compaction_min_segments: usize,
    pub compaction_max_rows: u64,
}

/// Resolved retention per signal.
#[derive(Debug, Clone)]
pub struct Retention {
    pub traces: Duration,
    pub metrics: Duration,
    pub logs: Duration,
    pub profiles: Duration,
    pub check_interval: Duration,
}

/// Resolved query limits.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    pub sql_row_limit: usize,
    pub timeout: Duration,
}

/// Defaults, in one place.
pub mod defaults {
    pub const DATA_DIR: &str = "./vispyr-data";
    pub const HTTP_ADDR: &str = "0.0.0.0:4040";
    pub const OTLP_GRPC_ADDR: &str = "0.0.0.0:4317";
    pub const OTLP_HTTP_ADDR: &str = "0.0.0.0:4318";
    pub const CONFIG_FILE: &str = "vispyr.yaml";
    pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
    pub const MAX_MEMORY: usize = 256 * 1024 * 1024;
    pub const FLUSH_MAX_BYTES: usize = 64 * 1024 * 1024;
    pub const FLUSH_MAX_AGE: &str = "60s";
    pub const COMPACTION_INTERVAL: &str = "60s";
    pub const COMPACTION_SMALL_SEGMENT: u64 = 32 * 1024 * 1024;
    pub const COMPACTION_MIN_SEGMENTS: usize = 4;
    pub const COMPACTION_MAX_ROWS: u64 = 256 * 1024;
    pub const RETENTION: &str = "30d";
    pub const RETENTION_CHECK_INTERVAL: &str = "10m";
    pub const SQL_ROW_LIMIT: usize = 10_000;
    pub const QUERY_TIMEOUT: &str = "60s";
}

impl RawConfig {
    /// Parses a YAML document; `origin` names it in error messages.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<RawConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(RawConfig::default());
        }
        serde_norway::from_str(text).map_err(|error| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: error.to_string(),
        })
    }

    /// Reads and parses `path`. A missing file is an error only when `required`.
    pub fn load(path: &Path, required: bool) -> Result<RawConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => RawConfig::from_yaml(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(RawConfig::default())
            }
            Err(source) => Err(ConfigError::ReadFile {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Applies overrides and defaults, checks every value and returns the resolved config.
    pub fn build_and_validate(self, overrides: &Overrides) -> Result<Config, ConfigError> {
        let data_dir = overrides
            .data_dir
            .clone()
            .or(self.data_dir)
            .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR));
        let http_addr = resolve_addr(
            "http_addr",
            overrides.http_addr.as_deref(),
            self.http_addr.as_deref(),
            defaults::HTTP_ADDR,
        )?;
        let otlp_grpc_addr = resolve_addr(
            "otlp_grpc_addr",
            overrides.otlp_grpc_addr.as_deref(),
            self.otlp_grpc_addr.as_deref(),
            defaults::OTLP_GRPC_ADDR,
        )?;
        let otlp_http_addr = resolve_addr(
            "otlp_http_addr",
            overrides.otlp_http_addr.as_deref(),
            self.otlp_http_addr.as_deref(),
            defaults::OTLP_HTTP_ADDR,
        )?;

        let limits = Limits {
            max_request_body: resolve_bytes(
                "limits.max_request_body",
                self.limits.max_request_body,
                defaults::MAX_REQUEST_BODY as u64,
            )? as usize,
            max_memory: resolve_bytes(
                "limits.max_memory",
                self.limits.max_memory,
                defaults::MAX_MEMORY as u64,
            )? as usize,
        };
        if limits.max_request_body == 0 {
            return Err(invalid("limits.max_request_body", "must be greater than 0"));
        }

        let storage = StorageConfig {
            wal_fsync: self.storage.wal_fsync.unwrap_or(true),
            flush_max_bytes: resolve_bytes(
                "storage.flush_max_bytes",
                self.storage.flush_max_bytes,
                defaults::FLUSH_MAX_BYTES as u64,
            )? as usize,
            flush_max_age: resolve_duration(
                "storage.flush_max_age",
                self.storage.flush_max_age.as_deref(),
                defaults::FLUSH_MAX_AGE,
            )?,
            compaction_interval: resolve_duration(
                "storage.compaction_interval",
                self.storage.compaction_interval.as_deref(),
                defaults::COMPACTION_INTERVAL,
            )?,
            compaction_small_segment: resolve_bytes(
                "storage.compaction_small_segment",
                self.storage.compaction_small_segment,
                defaults::COMPACTION_SMALL_SEGMENT,
            )?,
            compaction_min_segments: self
                .storage
                .compaction_min_segments
                .unwrap_or(defaults::COMPACTION_MIN_SEGMENTS),
            compaction_max_rows: self
                .storage
                .compaction_max_rows
                .unwrap_or(defaults::COMPACTION_MAX_ROWS),
        };
        if storage.flush_max_bytes == 0 {
            return Err(invalid("storage.flush_max_bytes", "must be greater than 0"));
        }
        if storage.compaction_max_rows == 0 {
            return Err(invalid(
                "storage.compaction_max_rows",
                "must be greater than 0",
            ));
        }
        if storage.compaction_min_segments < 2 {
            return Err(invalid(
                "storage.compaction_min_segments",
                "must be at least 2",
            ));
        }
        if limits.max_memory < storage.flush_max_bytes {
            return Err(invalid(
                "limits.max_memory",
                "must be at least storage.flush_max_bytes",
            ));
        }

        let retention = Retention {
            traces: resolve_duration(
                "retention.traces",
                self.retention.traces.as_deref(),
                defaults::RETENTION,
            )?,
            metrics: resolve_duration(
                "retention.metrics",
                self.retention.metrics.as_deref(),
                defaults::RETENTION,
            )?,
            logs: resolve_duration(
                "retention.logs",
                self.retention.logs.as_deref(),
                defaults::RETENTION,
            )?,
            profiles: resolve_duration(
                "retention.profiles",
                self.retention.profiles.as_deref(),
                defaults::RETENTION,
            )?,
            check_interval: resolve_duration(
                "retention.check_interval",
                self.retention.check_interval.as_deref(),
                defaults::RETENTION_CHECK_INTERVAL,
            )?,
        };

        self.profiles
            .view_rules
            .compile()
            .map_err(|error| invalid("profiles.view_rules", &error.to_string()))?;

        vispyr_scrape::validate_all(&self.scrape_configs)
            .map_err(|error| invalid("scrape_configs", &error))?;
        self.connectors
            .span_metrics
            .validate()
            .map_err(|error| invalid("connectors.span_metrics", &error.to_string()))?;
        self.connectors
            .service_graph
            .validate()
            .map_err(|error| invalid("connectors.service_graph", &error.to_string()))?;

        let query = QueryConfig {
            sql_row_limit: self.query.sql_row_limit.unwrap_or(defaults::SQL_ROW_LIMIT),
            timeout: resolve_duration(
                "query.timeout",
                self.query.timeout.as_deref(),
                defaults::QUERY_TIMEOUT,
            )?,
        };
        if query.sql_row_limit == 0 {
            return Err(invalid("query.sql_row_limit", "must be greater than 0"));
        }

        Ok(Config {
            data_dir,
            http_addr,
            otlp_grpc_addr,
            otlp_http_addr,
            limits,
            storage,
            retention,
            query,
            view_rules: self.profiles.view_rules.clone(),
            scrape_configs: self.scrape_configs.clone(),
            connectors: self.connectors.clone(),
        })
    }
}

impl Config {
    /// The defaults with every value resolved; handy in tests.
    pub fn default_for(data_dir: &Path) -> Config {
        let overrides = Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            ..Overrides::default()
        };
        RawConfig::default()
            .build_and_validate(&overrides)
            .expect("defaults are valid")
    }
}

impl Retention {
    /// Retention of one signal.
    pub fn for_signal(&self, signal: vispyr_common::Signal) -> Duration {
        match signal {
            vispyr_common::Signal::Traces => self.traces,
            vispyr_common::Signal::Metrics => self.metrics,
            vispyr_common::Signal::Logs => self.logs,
            vispyr_common::Signal::Profiles | vispyr_common::Signal::ProfileStacks => self.profiles,
        }
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.to_string(),
    }
}

fn resolve_addr(
    key: &str,
    flag: Option<&str>,
    file: Option<&str>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = flag.or(file).unwrap_or(default);
    text.parse().map_err(|error| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("{text:?} is not a socket address like 0.0.0.0:4040 ({error})"),
    })
}

fn resolve_bytes(
    key: &str,
    value: Option<ByteSizeValue>,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(ByteSizeValue::Bytes(bytes)) => Ok(bytes),
        Some(ByteSizeValue::Text(text)) => {
            parse_bytes(&text).map_err(|message| ConfigError::Invalid {
                key: key.to_string(),
                message,
            })
        }
    }
}

fn resolve_duration(
    key: &str,
    value: Option<&str>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or(default);
    parse_duration(text).map_err(|message| ConfigError::Invalid {
        key: key.to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let config = Config::default_for(Path::new("/tmp/x"));
        assert_eq!(config.http_addr.to_string(), "0.0.0.0:4040");
        assert_eq!(config.otlp_grpc_addr.to_string(), "0.0.0.0:4317");
        assert_eq!(config.otlp_http_addr.to_string(), "0.0.0.0:4318");
        assert_eq!(config.limits.max_request_body, 16 * 1024 * 1024);
        assert!(config.storage.wal_fsync);
        assert_eq!(config.retention.traces, Duration::from_secs(30 * 86_400));
        assert_eq!(config.query.sql_row_limit, 10_000);
    }

    #[test]
    fn full_file_round_trips_into_resolved_values() {
        let text = include_str!("../testdata/full.yaml");
        let raw = RawConfig::from_yaml(text, Path::new("full.yaml")).unwrap();
        let config = raw.build_and_validate(&Overrides::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/vispyr"));
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:4040");
        assert_eq!(config.limits.max_request_body, 8 * 1024 * 1024);
        assert_eq!(config.limits.max_memory, 1024 * 1024 * 1024);
        assert!(!config.storage.wal_fsync);
        assert_eq!(config.storage.flush_max_bytes, 1_000_000);
        assert_eq!(config.storage.flush_max_age, Duration::from_secs(30));
        assert_eq!(config.retention.logs, Duration::from_secs(7 * 86_400));
        assert_eq!(config.retention.profiles, Duration::from_secs(3 * 86_400));
        assert_eq!(config.retention.metrics, Duration::from_secs(90 * 86_400));
        assert_eq!(config.query.sql_row_limit, 500);
        assert_eq!(config.view_rules.presets, vec!["nodejs".to_string()]);
        assert_eq!(config.view_rules.rules.len(), 2);
    }

    #[test]
    fn overrides_win_over_the_file() {
        let raw = RawConfig::from_yaml("http_addr: 127.0.0.1:1\n", Path::new("x.yaml")).unwrap();
        let overrides = Overrides {
            http_addr: Some("127.0.0.1:2".to_string()),
            ..Overrides::default()
        };
        let config = raw.build_and_validate(&overrides).unwrap();
        assert_eq!(config.http_addr.port(), 2);
    }

    #[test]
    fn unknown_key_is_named_in_the_error() {
        let text = include_str!("../testdata/broken_unknown_key.yaml");
        let error = RawConfig::from_yaml(text, Path::new("broken.yaml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("flush_max_bites"), "{message}");
        assert!(message.contains("broken.yaml"), "{message}");
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let raw = RawConfig::from_yaml("retention:\n  traces: forever\n", Path::new("x")).unwrap();
        let message = raw
            .build_and_validate(&Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("retention.traces"), "{message}");

        let raw = RawConfig::from_yaml("http_addr: nowhere\n", Path::new("x")).unwrap();
        let message = raw
            .build_and_validate(&Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("http_addr"), "{message}");
    }

    #[test]
    fn missing_optional_file_is_the_default() {
        let raw = RawConfig::load(Path::new("/nonexistent/vispyr.yaml"), false).unwrap();
        assert!(raw.data_dir.is_none());
        assert!(RawConfig::load(Path::new("/nonexistent/vispyr.yaml"), true).is_err());
    }
}
