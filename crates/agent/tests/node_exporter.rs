//! The agent's host metrics against the real node_exporter (Debian's
//! `prometheus-node-exporter`) on the same host: same series names and labels
//! for every family the agent collects, and the same values — counters read
//! between two node_exporter scrapes lie between them, gauges within a
//! tolerance that covers the time between reads.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vispyr_agent::host::Collector;

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Series = BTreeMap<String, f64>;

/// `name{k="v",...}` without `job`/`instance`, labels sorted.
fn key(labels: &[(String, String)]) -> String {
    let name = &labels.iter().find(|(k, _)| k == "__name__").unwrap().1;
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k != "__name__" && k != "job" && k != "instance")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

fn family(key: &str) -> &str {
    key.split('{').next().unwrap()
}

fn scrape(url: &str) -> Series {
    let body = reqwest::blocking::get(url).unwrap().bytes().unwrap();
    let parsed = vispyr_scrape::parse::parse(&body, "text/plain; version=0.0.4", 0).unwrap();
    parsed
        .samples
        .iter()
        .map(|s| (key(&s.sample.labels), s.sample.v))
        .collect()
}

fn start_exporter() -> (Exporter, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter from Debian: run `bash tests/e2e/install.sh` first");
    let exporter = Exporter(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(&url).is_err() {
        assert!(Instant::now() < deadline, "node_exporter did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (exporter, url)
}

/// Gauges that move between reads, with the tolerance allowed.
fn tolerance(family: &str, reference: f64) -> f64 {
    match family {
        "node_load1" | "node_load5" | "node_load15" => 0.5,
        "node_procs_running" | "node_procs_blocked" => 8.0,
        "node_filefd_allocated" => 200.0,
        "node_time_seconds" => 5.0,
        "node_disk_io_now" => 8.0,
        f if f.starts_with("node_memory_") => (reference * 0.05).max(64.0 * 1024.0 * 1024.0),
        f if f.starts_with("node_filesystem_") => (reference * 0.01).max(64.0 * 1024.0 * 1024.0),
        _ => 0.0,
    }
}

#[test]
fn host_metrics_match_node_exporter() {
    let (_exporter, url) = start_exporter();
    let collector = Collector::new("/proc".into(), "test".into());

    let before = scrape(&url);
    let ours: Series = collector
        .collect()
        .iter()
        .map(|s| (key(&s.labels), s.v))
        .collect();
    let after = scrape(&url);

    // Every family the issue names is collected.
    for family_name in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
    ] {
        assert!(
            ours.keys().any(|k| family(k) == family_name),
            "the agent has no {family_name}"
        );
    }

    let mut checked = 0;
    for (series, value) in &ours {
        let name = family(series);
        // Same series in node_exporter…
        let (Some(low), Some(high)) = (before.get(series), after.get(series)) else {
            panic!(
                "node_exporter has no {series}; its {name} series: {:?}",
                before
                    .keys()
                    .filter(|k| family(k) == name)
                    .collect::<Vec<_>>()
            );
        };
        // …with the same value.
        if name.ends_with("_total") {
            assert!(
                *low <= *value && *value <= *high,
                "{series}: agent {value} not within node_exporter's {low}..={high}"
            );
        } else {
            let (min, max) = (low.min(*high), low.max(*high));
            let slack = tolerance(name, max);
            assert!(
                min - slack <= *value && *value <= max + slack,
                "{series}: agent {value}, node_exporter {low} then {high} (tolerance {slack})"
            );
        }
        checked += 1;
    }
    // And node_exporter has no series of these families that the agent lacks.
    let families: std::collections::BTreeSet<&str> = ours.keys().map(|k| family(k)).collect();
    for series in before.keys().filter(|k| families.contains(family(k))) {
        assert!(
            ours.contains_key(series) || !after.contains_key(series),
            "node_exporter has {series}, the agent does not"
        );
    }
    assert!(checked > 50, "only {checked} series compared");
}
