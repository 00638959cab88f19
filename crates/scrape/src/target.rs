//! Turning `static_configs` into scrape targets with Prometheus's labels.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{ScrapeConfig, validate_address};
use crate::duration::PromDuration;
use crate::relabel::{LabelMap, RelabelConfig, relabel};

/// One endpoint to scrape, with its labels resolved. Two targets are equal
/// when everything that shapes their scrapes is.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    job: String,
    /// Labels before `relabel_configs` (Prometheus's "discovered labels").
    discovered_labels: Vec<(String, String)>,
    /// Labels after relabelling without the `__`-prefixed ones, sorted.
    labels: Vec<(String, String)>,
    url: String,
    interval: Duration,
    timeout: Duration,
    pub(crate) honor_labels: bool,
    pub(crate) honor_timestamps: bool,
    pub(crate) body_size_limit: u64,
    pub(crate) metric_relabel_configs: Arc<[RelabelConfig]>,
}

impl Target {
    /// Resolves every static target of `config`. Targets dropped by
    /// relabelling are left out; targets whose labels are unusable (no
    /// address, bad interval) come back as errors, one line each.
    pub fn from_config(config: &ScrapeConfig) -> (Vec<Target>, Vec<String>) {
        let metric_relabel: Arc<[RelabelConfig]> = config.metric_relabel_configs.clone().into();
        let mut targets: Vec<Target> = Vec::new();
        let mut errors = Vec::new();
        for group in &config.static_configs {
            for address in &group.targets {
                let mut labels: LabelMap = group.labels.clone().into_iter().collect();
                labels.insert("__address__".to_string(), address.clone());
                match populate(config, labels, &metric_relabel) {
                    Ok(Some(target)) => {
                        let duplicate = targets
                            .iter()
                            .any(|t| t.labels == target.labels && t.url == target.url);
                        if !duplicate {
                            targets.push(target);
                        }
                    }
                    Ok(None) => {}
                    Err(err) => errors.push(format!(
                        "job {:?}, target {address:?}: {err}",
                        config.job_name
                    )),
                }
            }
        }
        (targets, errors)
    }

    /// The scrape config's job name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The `instance` label.
    pub fn instance(&self) -> &str {
        self.label("instance").unwrap_or("")
    }

    /// A label's value after relabelling.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Labels attached to every series of this target, sorted by name.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// Labels before relabelling, including the `__` ones.
    pub fn discovered_labels(&self) -> &[(String, String)] {
        &self.discovered_labels
    }

    /// The full scrape URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Scrape interval (after relabelling of `__scrape_interval__`).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Scrape timeout (after relabelling of `__scrape_timeout__`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long to wait before the first scrape so that targets spread
    /// over the interval: like Prometheus, a hash of the target picks a
    /// fixed phase within the interval, measured from the wall clock.
    pub(crate) fn first_scrape_delay(&self, now: SystemTime) -> Duration {
        let interval_ns = u64::try_from(self.interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let now_ns = u64::try_from(
            now.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        )
        .unwrap_or(0);
        let base = interval_ns - now_ns % interval_ns;
        let offset = self.hash() % interval_ns;
        let mut next = base + offset;
        if next > interval_ns {
            next -= interval_ns;
        }
        Duration::from_nanos(next)
    }

    /// FNV-1a over the labels and URL, identifying the target.
    fn hash(&self) -> u64 {
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET_BASIS;
        let mut feed = |bytes: &[u8]| {
            for &byte in bytes {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        for (name, value) in &self.labels {
            feed(name.as_bytes());
            feed(&[0xff]);
            feed(value.as_bytes());
            feed(&[0xff]);
        }
        feed(self.url.as_bytes());
        hash
    }
}

/// Sets `name` unless the target already carries a non-empty value.
fn set_default(labels: &mut LabelMap, name: &str, value: String) {
    let present = labels.get(name).is_some_and(|v| !v.is_empty());
    if !present {
        labels.insert(name.to_string(), value);
    }
}

/// Whether `address` already ends in `:port` (IPv6 literals must be bracketed).
fn has_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let numeric_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    numeric_port && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
}

/// Prometheus's `populateLabels` for one target.
fn populate(
    config: &ScrapeConfig,
    mut labels: LabelMap,
    metric_relabel: &Arc<[RelabelConfig]>,
) -> Result<Option<Target>, String> {
    set_default(&mut labels, "job", config.job_name.clone());
    set_default(
        &mut labels,
        "__scrape_interval__",
        config.scrape_interval.to_string(),
    );
    set_default(
        &mut labels,
        "__scrape_timeout__",
        config.effective_timeout().to_string(),
    );
    set_default(&mut labels, "__metrics_path__", config.metrics_path.clone());
    set_default(
        &mut labels,
        "__scheme__",
        config.scheme.as_str().to_string(),
    );
    for (name, values) in &config.params {
        if let Some(first) = values.first() {
            set_default(&mut labels, &format!("__param_{name}"), first.clone());
        }
    }
    let discovered_labels: Vec<(String, String)> = labels.clone().into_iter().collect();
    if !relabel(&mut labels, &config.relabel_configs) {
        return Ok(None);
    }
    let Some(address) = labels.get("__address__").cloned() else {
        return Err("no address".to_string());
    };
    validate_address(&address)?;
    let scheme = labels
        .get("__scheme__")
        .cloned()
        .unwrap_or_else(|| "http".to_string());
    let address = if has_port(&address) {
        address
    } else {
        let port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            other => return Err(format!("invalid scheme: {other:?}")),
        };
        format!("{address}:{port}")
    };
    labels.insert("__address__".to_string(), address.clone());
    let interval = parse_duration_label(&labels, "__scrape_interval__")?;
    let timeout = parse_duration_label(&labels, "__scrape_timeout__")?;
    if interval.is_zero() || timeout.is_zero() {
        return Err("scrape interval and timeout must be greater than 0".to_string());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout {timeout:?} greater than scrape interval {interval:?}"
        ));
    }
    let url = build_url(config, &labels, &scheme, &address)?;

    let mut public: LabelMap = labels
        .iter()
        .filter(|(name, _)| !name.starts_with("__"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    set_default(&mut public, "instance", address);
    Ok(Some(Target {
        job: config.job_name.clone(),
        discovered_labels,
        labels: public.into_iter().collect(),
        url,
        interval,
        timeout,
        honor_labels: config.honor_labels,
        honor_timestamps: config.honor_timestamps,
        body_size_limit: config.effective_body_size_limit(),
        metric_relabel_configs: Arc::clone(metric_relabel),
    }))
}

fn parse_duration_label(labels: &LabelMap, name: &str) -> Result<Duration, String> {
    let text = labels.get(name).map(String::as_str).unwrap_or("");
    PromDuration::parse(text)
        .map(PromDuration::as_duration)
        .map_err(|err| format!("error parsing {name}: {err}"))
}

/// `scheme://address/path?params`, where `__param_<name>` labels replace the
/// first value of (or add) the config's `params`.
fn build_url(
    config: &ScrapeConfig,
    labels: &LabelMap,
    scheme: &str,
    address: &str,
) -> Result<String, String> {
    let path = labels
        .get("__metrics_path__")
        .map(String::as_str)
        .unwrap_or("/metrics");
    // Kept as written (an explicit default port stays, as in Prometheus's
    // scrape URL); parsing only checks that the result is a usable URL.
    let mut url = format!("{scheme}://{address}{path}");
    reqwest::Url::parse(&url).map_err(|err| format!("invalid scrape url {url:?}: {err}"))?;
    let mut params = config.params.clone();
    for (name, value) in labels {
        let Some(param) = name.strip_prefix("__param_") else {
            continue;
        };
        let values = params.entry(param.to_string()).or_default();
        match values.first_mut() {
            Some(first) => first.clone_from(value),
            None => values.push(value.clone()),
        }
    }
    if !params.is_empty() {
        let mut encoder =
            reqwest::Url::parse("http://query.invalid/").map_err(|err| err.to_string())?;
        {
            let mut query = encoder.query_pairs_mut();
            for (name, values) in &params {
                for value in values {
                    query.append_pair(name, value);
                }
            }
        }
        url.push('?');
        url.push_str(encoder.query().unwrap_or(""));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(yaml: &str) -> (Vec<Target>, Vec<String>) {
        let config: ScrapeConfig = serde_norway::from_str(yaml).unwrap();
        config.validate().unwrap();
        Target::from_config(&config)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_labels_and_url() {
        let (found, errors) = targets(
            "job_name: node\nstatic_configs: [{targets: ['localhost:9100'], labels: {env: dev}}]",
        );
        assert!(errors.is_empty());
        let target = &found[0];
        assert_eq!(
            target.labels(),
            pairs(&[
                ("env", "dev"),
                ("instance", "localhost:9100"),
                ("job", "node")
            ])
        );
        assert_eq!(target.url(), "http://localhost:9100/metrics");
        assert_eq!(target.interval(), Duration::from_secs(15));
        assert_eq!(target.timeout(), Duration::from_secs(10));
        let discovered: LabelMap = target.discovered_labels().iter().cloned().collect();
        assert_eq!(discovered["__address__"], "localhost:9100");
        assert_eq!(discovered["__scheme__"], "http");
        assert_eq!(discovered["__metrics_path__"], "/metrics");
        assert_eq!(discovered["__scrape_interval__"], "15s");
        assert_eq!(discovered["__scrape_timeout__"], "10s");
        assert_eq!(discovered["job"], "node");
    }

    #[test]
    fn default_port_follows_scheme() {
        let (found, _) = targets(
            "job_name: web\nscheme: https\nstatic_configs: [{targets: ['example.com', '[::1]:8080']}]",
        );
        assert_eq!(found[0].url(), "https://example.com:443/metrics");
        assert_eq!(found[0].instance(), "example.com:443");
        assert_eq!(found[1].instance(), "[::1]:8080");
    }

    #[test]
    fn params_and_param_labels_build_query() {
        let yaml = "job_name: blackbox\nmetrics_path: /probe\nparams: {module: [http_2xx, extra]}\n\
                    static_configs: [{targets: ['prober:9115']}]\n\
                    relabel_configs:\n  - {source_labels: [__address__], target_label: __param_target}\n  - {target_label: __param_module, replacement: icmp}";
        let (found, _) = targets(yaml);
        assert_eq!(
            found[0].url(),
            "http://prober:9115/probe?module=icmp&module=extra&target=prober%3A9115"
        );
    }

    #[test]
    fn relabelling_can_drop_and_rewrite_targets() {
        let yaml = "job_name: j\nstatic_configs: [{targets: ['a:1', 'b:2']}]\nrelabel_configs:\n\
                    \x20 - {action: drop, source_labels: [__address__], regex: 'b:.*'}\n\
                    \x20 - {source_labels: [__address__], regex: '(.*):.*', target_label: instance, replacement: '$1'}\n\
                    \x20 - {target_label: __scrape_interval__, replacement: 30s}";
        let (found, _) = targets(yaml);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].instance(), "a");
        assert_eq!(found[0].url(), "http://a:1/metrics");
        assert_eq!(found[0].interval(), Duration::from_secs(30));
    }

    #[test]
    fn unusable_targets_are_reported() {
        let yaml = "job_name: j\nstatic_configs: [{targets: ['a:1']}]\nrelabel_configs:\n  - {action: labeldrop, regex: __address__}";
        let (found, errors) = targets(yaml);
        assert!(found.is_empty());
        assert!(errors[0].contains("no address"), "{errors:?}");
    }

    #[test]
    fn first_scrape_delay_is_within_interval_and_stable() {
        let (found, _) = targets(
            "job_name: j\nscrape_interval: 10s\nstatic_configs: [{targets: ['a:1', 'b:1']}]",
        );
        let now = SystemTime::now();
        for target in &found {
            let delay = target.first_scrape_delay(now);
            assert!(delay <= Duration::from_secs(10));
            // The phase is fixed: one interval later the delay is the same.
            assert_eq!(
                target.first_scrape_delay(now + Duration::from_secs(10)),
                delay
            );
        }
        assert_ne!(
            found[0].first_scrape_delay(now),
            found[1].first_scrape_delay(now)
        );
    }
}
