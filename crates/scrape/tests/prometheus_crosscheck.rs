//! Cross-check against the real Prometheus 2.42: both scrape the same two
//! synthetic exporters (one negotiating OpenMetrics, one forced to the text
//! format); the series Prometheus stores (`/api/v1/series`) must equal the
//! series the scrape manager produced, and the metadata types must agree.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use vispyr_scrape::{ScrapeConfig, ScrapeManager};

const PROMETHEUS: &str = "/usr/bin/prometheus";

type LabelSet = BTreeMap<String, String>;

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {url}: {err}: {text}"))
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_match_prometheus() {
    let prometheus = require_binary(PROMETHEUS);
    let (_om_exporter, om_port) = start_synthetic_exporter(2.0, "auto");
    let (_text_exporter, text_port) = start_synthetic_exporter(2.0, "text");
    let targets = format!("['127.0.0.1:{om_port}', '127.0.0.1:{text_port}']");
    // The same job as Prometheus config and as ours; relabelling and
    // metric relabelling exercise both code paths on both sides.
    let job = format!(
        "job_name: synthetic\n\
         scrape_interval: 1s\n\
         scrape_timeout: 900ms\n\
         static_configs:\n  - targets: {targets}\n    labels: {{env: test}}\n\
         relabel_configs:\n  - {{source_labels: [__address__], regex: '.*:(.*)', target_label: port, replacement: 'p$1'}}\n\
         metric_relabel_configs:\n  - {{action: drop, source_labels: [__name__, quantile], regex: 'rpc_latency_seconds;0.99'}}\n  - {{action: labeldrop, regex: note}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let indented: String = job
        .lines()
        .map(|line| format!("  {line}\n"))
        .collect::<String>()
        .replacen("  job_name", "- job_name", 1);
    let prometheus_yaml = format!("scrape_configs:\n{indented}");
    std::fs::write(dir.path().join("prometheus.yml"), &prometheus_yaml).unwrap();
    let web_port = free_port();
    let _server = spawn(
        &prometheus,
        &[
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{web_port}"),
        ],
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{web_port}");
    wait_ready(&client, &base).await;

    let config: ScrapeConfig = serde_norway::from_str(&job).unwrap();
    vispyr_scrape::validate_all(std::slice::from_ref(&config)).unwrap();
    let collector = Collector::new();
    let manager = ScrapeManager::start(vec![config], collector.clone());
    // Long enough for both sides to see the flapping series come and go.
    tokio::time::sleep(Duration::from_secs(7)).await;
    manager.stop().await;
    // Let Prometheus finish its in-flight scrapes.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let ours: BTreeSet<LabelSet> = collector
        .batches()
        .iter()
        .flat_map(|b| b.samples.iter())
        .map(|s| s.labels.iter().cloned().collect())
        .collect();
    let series = get_json(
        &client,
        &format!("{base}/api/v1/series?match[]=%7Bjob%3D%22synthetic%22%7D"),
    )
    .await;
    assert_eq!(series["status"], "success", "{series}");
    let theirs: BTreeSet<LabelSet> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            entry
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .collect();
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only ours: {only_ours:#?}\nonly prometheus: {only_theirs:#?}"
    );
    assert!(
        ours.len() > 60,
        "expected a realistic series count, got {}",
        ours.len()
    );
    assert!(
        ours.iter()
            .any(|s| s["__name__"] == "http_requests_created"),
        "OpenMetrics _created kept like 2.42"
    );
    assert!(
        ours.iter()
            .any(|s| s["__name__"] == "batch_last_success_timestamp_seconds")
    );
    assert!(
        ours.iter()
            .all(|s| s.get("port").is_some_and(|p| p.starts_with('p')))
    );

    // Metadata types as Prometheus reports them.
    let metadata = get_json(&client, &format!("{base}/api/v1/metadata")).await;
    let theirs_meta: BTreeMap<String, String> = metadata["data"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| {
            !name.starts_with("prometheus_")
                && !name.starts_with("go_")
                && !name.starts_with("net_")
                && !name.starts_with("process_")
                && !name.starts_with("promhttp_")
        })
        .map(|(name, entries)| {
            (
                name.clone(),
                entries[0]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut ours_meta = BTreeMap::new();
    for batch in collector.batches() {
        for meta in batch.metadata {
            ours_meta.insert(meta.metric, meta.kind);
        }
    }
    for (name, kind) in &ours_meta {
        assert_eq!(theirs_meta.get(name), Some(kind), "metadata type of {name}");
    }
}
