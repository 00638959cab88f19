//! Configuration of the connectors, with Tempo metrics-generator defaults
//! unless noted. Every field has a default, so an empty YAML mapping is a
//! valid config; unknown fields are refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Span metrics (RED) connector: `traces_spanmetrics_*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Whether the pipeline runs this connector at all.
    pub enabled: bool,
    /// Span or resource attributes added as labels; the label name is the
    /// attribute sanitized for Prometheus (`http.method` → `http_method`).
    /// Looked up in resource attributes first, then span attributes, as Tempo
    /// does. A span without the attribute gets no such label.
    pub dimensions: Vec<String>,
    /// Which fixed labels (from span fields, not attributes) are added.
    pub intrinsic_dimensions: IntrinsicDimensions,
    /// Upper bounds of the `traces_spanmetrics_latency` histogram, in seconds
    /// (`+Inf` is implicit). The default is Prometheus' default buckets with
    /// 2 ms in front: 0.002 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10.
    pub histogram_buckets: Vec<f64>,
    /// How often the pipeline collects the metrics ("15s").
    #[serde(with = "vispyr_common::units::duration_text")]
    pub flush_interval: Duration,
    /// A series not updated for this long is dropped ("15m").
    #[serde(with = "vispyr_common::units::duration_text")]
    pub stale_duration: Duration,
    /// Most Prometheus series held (one label set holds one
    /// `calls_total`, one `size_total` and the latency buckets, `+Inf`,
    /// `_sum`, `_count`). New label sets past the limit are counted into the
    /// series labelled only `metric_overflow="true"`. 0 means no limit.
    pub max_series: usize,
    /// Emit `traces_target_info` (one series per resource with its attributes)
    /// and add `job` (`<service.namespace>/<service.name>`) and `instance`
    /// (`service.instance.id`) labels to every span metric.
    pub enable_target_info: bool,
    /// Resource attributes left out of `traces_target_info`.
    pub target_info_excluded_dimensions: Vec<String>,
    /// Add the `instance` label (only when `enable_target_info` is on).
    pub enable_instance_label: bool,
    /// A span or resource double attribute holding the sampling ratio; each
    /// span then counts `1 / ratio` calls. Empty disables it.
    pub span_multiplier_key: String,
}

/// Tempo's `intrinsic_dimensions`: `service`, `span_name`, `span_kind` and
/// `status_code` are on by default, `status_message` is opt-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrinsicDimensions {
    /// `service` label from the resource's `service.name`.
    pub service: bool,
    /// `span_name` label.
    pub span_name: bool,
    /// `span_kind` label (`SPAN_KIND_SERVER`, ...).
    pub span_kind: bool,
    /// `status_code` label (`STATUS_CODE_UNSET|OK|ERROR`).
    pub status_code: bool,
    /// `status_message` label (high cardinality, off by default).
    pub status_message: bool,
}

impl Default for IntrinsicDimensions {
    fn default() -> Self {
        Self {
            service: true,
            span_name: true,
            span_kind: true,
            status_code: true,
            status_message: false,
        }
    }
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dimensions: vec![
                "http.method".to_string(),
                "http.request.method".to_string(),
                "http.route".to_string(),
            ],
            intrinsic_dimensions: IntrinsicDimensions::default(),
            histogram_buckets: vec![
                0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
            flush_interval: Duration::from_secs(15),
            stale_duration: Duration::from_secs(15 * 60),
            max_series: 100_000,
            enable_target_info: false,
            target_info_excluded_dimensions: Vec::new(),
            enable_instance_label: true,
            span_multiplier_key: String::new(),
        }
    }
}

impl SpanMetricsConfig {
    /// Checks what serde cannot: bucket order, non-empty names, intervals.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_buckets("span_metrics.histogram_buckets", &self.histogram_buckets)?;
        validate_names("span_metrics.dimensions", &self.dimensions)?;
        validate_positive("span_metrics.flush_interval", self.flush_interval)?;
        validate_positive("span_metrics.stale_duration", self.stale_duration)?;
        Ok(())
    }
}

/// Service graph connector: `traces_service_graph_*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceGraphConfig {
    /// Whether the pipeline runs this connector at all.
    pub enabled: bool,
    /// How long a client or server span waits for its other half ("10s");
    /// then it becomes a virtual-node edge or is counted as unpaired.
    #[serde(with = "vispyr_common::units::duration_text")]
    pub wait: Duration,
    /// Most unpaired edges held; spans that would need a new one beyond it
    /// are dropped and counted in `traces_service_graph_dropped_spans_total`.
    pub max_items: usize,
    /// Upper bounds of the latency histograms in seconds; Tempo's default
    /// 0.1 · 2ⁿ for n in 0..8 (0.1 … 12.8).
    pub histogram_buckets: Vec<f64>,
    /// Resource or span attributes added as labels to every edge series.
    pub dimensions: Vec<String>,
    /// Add each dimension twice, as `client_<dim>` and `server_<dim>`, taken
    /// from the span of that side.
    pub enable_client_server_prefix: bool,
    /// Add `virtual_node="client"|"server"` to edges with an uninstrumented side.
    pub enable_virtual_node_label: bool,
    /// Emit `traces_service_graph_request_messaging_system_seconds` (producer
    /// end to consumer start) for `messaging_system` edges.
    pub enable_messaging_system_latency_histogram: bool,
    /// Span attributes naming the other side of an edge whose other half never
    /// arrives, searched in order (Tempo's `peer_attributes`).
    pub peer_attributes: Vec<String>,
    /// Vispyr addition: attributes consulted after `peer_attributes`, on
    /// CLIENT and PRODUCER spans only, so an uninstrumented HTTP service called
    /// by address appears as a node. Server spans never use them because
    /// there they describe the server itself. Set to `[]` for Tempo's exact
    /// behaviour.
    pub client_peer_attributes: Vec<String>,
    /// Attributes that mark a client span as a database call and name the
    /// database when nothing better is known (Tempo's
    /// `database_name_attributes`).
    pub database_name_attributes: Vec<String>,
    /// A span or resource double attribute holding the sampling ratio; each
    /// edge then counts `1 / ratio` requests. Empty disables it.
    pub span_multiplier_key: String,
    /// How often the pipeline collects the metrics ("15s").
    #[serde(with = "vispyr_common::units::duration_text")]
    pub flush_interval: Duration,
    /// A series not updated for this long is dropped ("15m").
    #[serde(with = "vispyr_common::units::duration_text")]
    pub stale_duration: Duration,
    /// Most Prometheus series held by the edge metrics; 0 means no limit.
    pub max_series: usize,
}

impl Default for ServiceGraphConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            wait: Duration::from_secs(10),
            max_items: 10_000,
            histogram_buckets: (0..8).map(|n| 0.1 * f64::from(1u32 << n)).collect(),
            dimensions: Vec::new(),
            enable_client_server_prefix: false,
            enable_virtual_node_label: false,
            enable_messaging_system_latency_histogram: false,
            peer_attributes: strings(&["peer.service", "db.name", "db.system", "db.system.name"]),
            client_peer_attributes: strings(&["server.address", "net.peer.name"]),
            database_name_attributes: strings(&[
                "db.namespace",
                "db.name",
                "db.system",
                "db.system.name",
            ]),
            span_multiplier_key: String::new(),
            flush_interval: Duration::from_secs(15),
            stale_duration: Duration::from_secs(15 * 60),
            max_series: 100_000,
        }
    }
}

impl ServiceGraphConfig {
    /// Checks what serde cannot: bucket order, non-empty names, intervals.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_buckets("service_graph.histogram_buckets", &self.histogram_buckets)?;
        validate_names("service_graph.dimensions", &self.dimensions)?;
        validate_names("service_graph.peer_attributes", &self.peer_attributes)?;
        validate_names(
            "service_graph.client_peer_attributes",
            &self.client_peer_attributes,
        )?;
        validate_names(
            "service_graph.database_name_attributes",
            &self.database_name_attributes,
        )?;
        validate_positive("service_graph.wait", self.wait)?;
        validate_positive("service_graph.flush_interval", self.flush_interval)?;
        validate_positive("service_graph.stale_duration", self.stale_duration)?;
        if self.max_items == 0 {
            return Err(ConfigError::Invalid {
                field: "service_graph.max_items",
                reason: "must be at least 1".to_string(),
            });
        }
        Ok(())
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_string()).collect()
}

fn validate_buckets(field: &'static str, buckets: &[f64]) -> Result<(), ConfigError> {
    for (index, bound) in buckets.iter().enumerate() {
        if !bound.is_finite() || *bound <= 0.0 {
            return Err(ConfigError::Invalid {
                field,
                reason: format!("bucket {bound} must be a positive finite number of seconds"),
            });
        }
        if index > 0 && *bound <= buckets[index - 1] {
            return Err(ConfigError::Invalid {
                field,
                reason: format!(
                    "must be strictly increasing: {bound} follows {}",
                    buckets[index - 1]
                ),
            });
        }
    }
    Ok(())
}

fn validate_names(field: &'static str, names: &[String]) -> Result<(), ConfigError> {
    if names.iter().any(|name| name.trim().is_empty()) {
        return Err(ConfigError::Invalid {
            field,
            reason: "attribute names must not be empty".to_string(),
        });
    }
    Ok(())
}

fn validate_positive(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            field,
            reason: "must be longer than 0s".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_yaml_gives_defaults() {
        let span: SpanMetricsConfig = serde_norway::from_str("{}").unwrap();
        assert_eq!(span, SpanMetricsConfig::default());
        let graph: ServiceGraphConfig = serde_norway::from_str("{}").unwrap();
        assert_eq!(graph, ServiceGraphConfig::default());
        assert_eq!(
            graph.histogram_buckets,
            vec![0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]
        );
        span.validate().unwrap();
        graph.validate().unwrap();
    }

    #[test]
    fn default_span_buckets_cover_required_bounds() {
        let buckets = SpanMetricsConfig::default().histogram_buckets;
        for required in [0.002, 0.05, 0.1, 0.25, 1.0, 5.0, 10.0] {
            assert!(buckets.contains(&required), "{required} missing");
        }
    }

    #[test]
    fn yaml_round_trip() {
        let text = "
enabled: true
dimensions: [http.route, deployment.environment]
intrinsic_dimensions: { status_message: true }
histogram_buckets: [0.01, 0.1, 1]
flush_interval: 30s
stale_duration: 1h
max_series: 500
";
        let config: SpanMetricsConfig = serde_norway::from_str(text).unwrap();
        assert_eq!(config.flush_interval, Duration::from_secs(30));
        assert_eq!(config.stale_duration, Duration::from_secs(3600));
        assert!(config.intrinsic_dimensions.status_message);
        assert!(config.intrinsic_dimensions.service);
        let written = serde_norway::to_string(&config).unwrap();
        let reread: SpanMetricsConfig = serde_norway::from_str(&written).unwrap();
        assert_eq!(reread, config);

        let graph_text = "wait: 1m30s\nmax_items: 5\nenable_virtual_node_label: true\n";
        let graph: ServiceGraphConfig = serde_norway::from_str(graph_text).unwrap();
        assert_eq!(graph.wait, Duration::from_secs(90));
        let written = serde_norway::to_string(&graph).unwrap();
        assert!(written.contains("wait: 1m30s"), "{written}");
        let reread: ServiceGraphConfig = serde_norway::from_str(&written).unwrap();
        assert_eq!(reread, graph);
    }

    #[test]
    fn broken_configs_are_refused() {
        let unknown = serde_norway::from_str::<SpanMetricsConfig>("dimension: [a]");
        assert!(unknown.is_err());
        let bad_duration = serde_norway::from_str::<ServiceGraphConfig>("wait: 10 seconds");
        assert!(bad_duration.is_err());
        let unsorted = SpanMetricsConfig {
            histogram_buckets: vec![1.0, 0.5],
            ..SpanMetricsConfig::default()
        };
        assert!(unsorted.validate().is_err());
        let no_items = ServiceGraphConfig {
            max_items: 0,
            ..ServiceGraphConfig::default()
        };
        assert!(no_items.validate().is_err());
    }
}
