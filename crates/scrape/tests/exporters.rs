//! The scrape manager against real exporters: Debian's node_exporter and the
//! synthetic exporter in testdata. Missing binaries fail the tests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use vispyr_scrape::{ScrapeBatch, ScrapeConfig, ScrapeManager, TargetHealth};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

fn config(job: &str, port: u16, interval: &str) -> ScrapeConfig {
    let yaml = format!(
        "job_name: {job}\nscrape_interval: {interval}\nstatic_configs: [{{targets: ['127.0.0.1:{port}']}}]"
    );
    let config: ScrapeConfig = serde_norway::from_str(&yaml).unwrap();
    config.validate().unwrap();
    config
}

fn successful(batches: &[ScrapeBatch]) -> Vec<&ScrapeBatch> {
    batches
        .iter()
        .filter(|b| up_value(b) == Some(1.0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_scrape_then_staleness_after_kill() {
    let binary = require_binary(NODE_EXPORTER);
    let port = free_port();
    let mut exporter = spawn(&binary, &[format!("--web.listen-address=127.0.0.1:{port}")]);
    wait_for_port(port, Duration::from_secs(15));

    let collector = Collector::new();
    let manager = ScrapeManager::start(vec![config("node", port, "1s")], collector.clone());
    collector
        .wait_until(
            Duration::from_secs(20),
            "a successful node_exporter scrape",
            |b| !successful(b).is_empty(),
        )
        .await;

    let batches = collector.batches();
    let good = successful(&batches)[0].clone();
    let instance = format!("127.0.0.1:{port}");
    assert_eq!(good.job, "node");
    assert_eq!(good.instance, instance);
    for sample in &good.samples {
        assert_eq!(label(sample, "job"), Some("node"), "{sample:?}");
        assert_eq!(
            label(sample, "instance"),
            Some(instance.as_str()),
            "{sample:?}"
        );
        let mut names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted, "labels sorted by name");
        names.dedup();
        assert_eq!(names.len(), sample.labels.len());
    }
    let cpu: Vec<_> = good
        .samples
        .iter()
        .filter(|s| name_of(s) == "node_cpu_seconds_total")
        .collect();
    assert!(!cpu.is_empty(), "node_cpu_seconds_total missing");
    assert!(
        cpu.iter()
            .all(|s| label(s, "cpu").is_some() && label(s, "mode").is_some())
    );
    assert!(
        cpu.iter()
            .any(|s| label(s, "mode") == Some("idle") && s.v > 0.0)
    );
    for name in ["node_memory_MemAvailable_bytes", "node_load1"] {
        let found: Vec<_> = good.samples.iter().filter(|s| name_of(s) == name).collect();
        assert_eq!(found.len(), 1, "{name}");
        assert!(found[0].v.is_finite());
    }
    for name in REPORT_SERIES {
        assert_eq!(
            good.samples.iter().filter(|s| name_of(s) == name).count(),
            1,
            "{name}"
        );
    }
    let scraped = good
        .samples
        .iter()
        .find(|s| name_of(s) == "scrape_samples_scraped")
        .unwrap()
        .v;
    assert!(
        scraped > 100.0,
        "node_exporter exposes hundreds of samples, got {scraped}"
    );
    let kinds: BTreeMap<&str, &str> = good
        .metadata
        .iter()
        .map(|m| (m.metric.as_str(), m.kind.as_str()))
        .collect();
    assert_eq!(kinds.get("node_cpu_seconds_total"), Some(&"counter"));
    assert_eq!(kinds.get("node_load1"), Some(&"gauge"));
    assert_eq!(kinds.get("node_memory_MemAvailable_bytes"), Some(&"gauge"));
    let help = good
        .metadata
        .iter()
        .find(|m| m.metric == "node_load1")
        .unwrap();
    assert!(!help.help.is_empty());

    let status = manager.targets();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].scrape_url, format!("http://{instance}/metrics"));
    assert_eq!(status[0].job, "node");

    // Kill the exporter: the next scrape fails, reports up 0, and marks every
    // series of the last successful scrape stale.
    let successes_before_kill = successful(&collector.batches()).len();
    exporter.kill();
    collector
        .wait_until(
            Duration::from_secs(10),
            "a failed scrape after the kill",
            |b| b.iter().any(|x| up_value(x) == Some(0.0)),
        )
        .await;
    let batches = collector.batches();
    let failed_index = batches
        .iter()
        .position(|b| up_value(b) == Some(0.0))
        .unwrap();
    let last_good = batches[..failed_index]
        .iter()
        .rev()
        .find(|b| up_value(b) == Some(1.0))
        .unwrap();
    assert!(successful(&batches[..failed_index]).len() >= successes_before_kill);
    let failed = &batches[failed_index];
    let previous: BTreeSet<_> = last_good
        .samples
        .iter()
        .filter(|s| !REPORT_SERIES.contains(&name_of(s)))
        .map(|s| s.labels.clone())
        .collect();
    let stale: BTreeSet<_> = failed
        .samples
        .iter()
        .filter(|s| is_stale(s))
        .map(|s| s.labels.clone())
        .collect();
    assert_eq!(
        stale, previous,
        "every previous series, and nothing else, is marked stale"
    );
    let up = failed.samples.iter().find(|s| name_of(s) == "up").unwrap();
    assert!(
        failed
            .samples
            .iter()
            .filter(|s| is_stale(s))
            .all(|s| s.t == up.t),
        "markers carry the scrape time"
    );

    let status = manager.targets();
    assert_eq!(status[0].health, TargetHealth::Down);
    assert!(
        status[0].last_error.contains("http request failed"),
        "{}",
        status[0].last_error
    );
    assert!(status[0].last_scrape.is_some());

    // A later failed scrape does not repeat the markers.
    let count = collector.batches().len();
    collector
        .wait_until(Duration::from_secs(10), "another scrape", |b| {
            b.len() > count + 1
        })
        .await;
    let batches = collector.batches();
    assert!(
        batches[failed_index + 1..].iter().all(|b| b
            .samples
            .iter()
            .filter(|s| is_stale(s))
            .count()
            == 0)
    );
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_exporter_flapping_series_gets_stale_marker() {
    for format in ["auto", "text"] {
        let (_exporter, port) = start_synthetic_exporter(2.0, format);
        let collector = Collector::new();
        let manager =
            ScrapeManager::start(vec![config("synthetic", port, "500ms")], collector.clone());
        let flapping = "batch_last_success_timestamp_seconds";
        let has_live = |b: &ScrapeBatch| {
            b.samples
                .iter()
                .any(|s| name_of(s) == flapping && !is_stale(s))
        };
        collector
            .wait_until(
                Duration::from_secs(15),
                "the flapping series to appear and vanish",
                |batches| {
                    let first_live = batches.iter().position(has_live);
                    first_live.is_some_and(|i| {
                        batches[i..]
                            .iter()
                            .any(|b| up_value(b) == Some(1.0) && !has_live(b))
                    })
                },
            )
            .await;
        let manager_targets = manager.targets();
        assert_eq!(manager_targets[0].health, TargetHealth::Up, "{format}");
        manager.stop().await;

        let batches = collector.batches();
        let first_live = batches.iter().position(has_live).unwrap();
        let vanished = first_live
            + batches[first_live..]
                .iter()
                .position(|b| up_value(b) == Some(1.0) && !has_live(b))
                .unwrap();
        let markers: Vec<_> = batches[vanished]
            .samples
            .iter()
            .filter(|s| is_stale(s))
            .collect();
        assert_eq!(
            markers.len(),
            1,
            "{format}: exactly the flapping series goes stale: {markers:?}"
        );
        assert_eq!(name_of(markers[0]), flapping);
        assert_eq!(label(markers[0], "batch"), Some("nightly"));

        // Format-specific content.
        let good = successful(&batches)[0];
        let created = good
            .samples
            .iter()
            .any(|s| name_of(s) == "http_requests_created");
        assert_eq!(
            created,
            format == "auto",
            "{format}: _created series only in OpenMetrics"
        );
        let escaped = good
            .samples
            .iter()
            .find(|s| name_of(s) == "escaped_info")
            .unwrap();
        assert_eq!(label(escaped, "path"), Some("C:\\\\temp"));
        assert_eq!(label(escaped, "note"), Some("say \"hi\"\nbye"));
        let buckets = good
            .samples
            .iter()
            .filter(|s| name_of(s) == "request_duration_seconds_bucket")
            .count();
        assert_eq!(buckets, 12);
        let kinds: BTreeMap<&str, &str> = good
            .metadata
            .iter()
            .map(|m| (m.metric.as_str(), m.kind.as_str()))
            .collect();
        assert_eq!(kinds["request_duration_seconds"], "histogram");
        assert_eq!(kinds["rpc_latency_seconds"], "summary");
        let counter_family = if format == "auto" {
            "http_requests"
        } else {
            "http_requests_total"
        };
        assert_eq!(kinds[counter_family], "counter", "{format}");

        // Stopping writes end-of-run markers for the series and report series.
        let last = batches.last().unwrap();
        assert!(
            last.samples.iter().all(is_stale),
            "{format}: the final batch holds only stale markers"
        );
        for name in REPORT_SERIES {
            assert!(
                last.samples.iter().any(|s| name_of(s) == name),
                "{format}: {name} marked stale at stop"
            );
        }
        assert!(last.samples.iter().any(|s| name_of(s) == "queue_depth"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_body_limit_are_reported() {
    // A listener that accepts and never answers: the scrape must time out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let (_exporter, port) = start_synthetic_exporter(30.0, "text");
    let mut slow = config("slow", silent_port, "1s");
    slow.scrape_timeout = Some(vispyr_scrape::PromDuration::parse("300ms").unwrap());
    let mut limited = config("limited", port, "1s");
    limited.body_size_limit = Some(vispyr_scrape::ByteSize(100));
    let collector = Collector::new();
    let manager = ScrapeManager::start(vec![slow, limited], collector.clone());
    collector
        .wait_until(Duration::from_secs(10), "both targets to fail", |b| {
            let down: BTreeSet<_> = b
                .iter()
                .filter(|x| up_value(x) == Some(0.0))
                .map(|x| x.job.clone())
                .collect();
            down.len() == 2
        })
        .await;
    let status = manager.targets();
    let slow_status = status.iter().find(|s| s.job == "slow").unwrap();
    assert!(
        slow_status.last_error.contains("timed out after 300ms"),
        "{}",
        slow_status.last_error
    );
    assert!(
        slow_status.last_scrape_duration < Duration::from_millis(900),
        "{:?}",
        slow_status.last_scrape_duration
    );
    let limited_status = status.iter().find(|s| s.job == "limited").unwrap();
    assert_eq!(
        limited_status.last_error,
        "body size limit of 100 bytes exceeded"
    );
    manager.stop().await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_removing_a_target_writes_stale_markers() {
    let (_kept_exporter, kept_port) = start_synthetic_exporter(30.0, "text");
    let (_removed_exporter, removed_port) = start_synthetic_exporter(30.0, "text");
    let kept_instance = format!("127.0.0.1:{kept_port}");
    let removed_instance = format!("127.0.0.1:{removed_port}");
    let collector = Collector::new();
    let both = vec![
        config("kept", kept_port, "500ms"),
        config("removed", removed_port, "500ms"),
    ];
    let mut manager = ScrapeManager::start(both, collector.clone());
    collector
        .wait_until(Duration::from_secs(10), "both targets up", |b| {
            let up: BTreeSet<_> = b
                .iter()
                .filter(|x| up_value(x) == Some(1.0))
                .map(|x| x.job.clone())
                .collect();
            up.len() == 2
        })
        .await;
    let kept_before = manager
        .targets()
        .into_iter()
        .find(|t| t.job == "kept")
        .unwrap();

    manager
        .reload(vec![config("kept", kept_port, "500ms")])
        .await;
    let status = manager.targets();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].job, "kept");
    assert!(
        status[0].last_scrape >= kept_before.last_scrape,
        "the unchanged target keeps its loop and state"
    );

    let batches = collector.batches();
    let removed_last = batches
        .iter()
        .rev()
        .find(|b| b.instance == removed_instance)
        .unwrap();
    assert!(
        removed_last.samples.iter().all(is_stale),
        "the removed target's last batch is all stale markers"
    );
    assert!(removed_last.samples.iter().any(|s| name_of(s) == "up"));
    assert!(
        removed_last
            .samples
            .iter()
            .any(|s| name_of(s) == "queue_depth")
    );
    let count = batches.len();
    collector
        .wait_until(
            Duration::from_secs(5),
            "more scrapes of the kept target",
            |b| b.len() > count + 1,
        )
        .await;
    assert!(
        collector.batches()[count..]
            .iter()
            .all(|b| b.instance == kept_instance)
    );
    manager.stop().await;
}
