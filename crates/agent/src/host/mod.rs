//! Host metrics with node_exporter's names, labels and units, read from procfs
//! and `statvfs`. The default collectors of node_exporter 1.5 (Debian 12's)
//! that dashboards use are covered: cpu, meminfo, loadavg, filesystem,
//! diskstats, netdev, stat, filefd, time and uname — including their device
//! and mount point filters, so the same series exist.

mod filesystem;
mod procfs;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use vispyr_scrape::Sample;

/// Collects one snapshot of the host's metrics.
#[derive(Debug, Clone)]
pub struct Collector {
    proc_root: PathBuf,
    instance: String,
}

impl Collector {
    pub fn new(proc_root: PathBuf, instance: String) -> Collector {
        Collector {
            proc_root,
            instance,
        }
    }

    /// Every series, labelled `job="node"` and `instance`, stamped now. A
    /// collector whose source cannot be read is skipped (logged once per
    /// collection), like node_exporter's `node_scrape_collector_success`.
    pub fn collect(&self) -> Vec<Sample> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut out = Out::new(now.as_millis() as i64, &self.instance);
        let read = |name: &str| std::fs::read_to_string(self.proc_root.join(name));
        let run = |name: &str, result: std::io::Result<()>| {
            if let Err(error) = result {
                tracing::debug!(collector = name, %error, "collector skipped");
            }
        };
        run(
            "cpu+stat",
            read("stat").map(|text| procfs::stat(&text, &mut out)),
        );
        run(
            "meminfo",
            read("meminfo").map(|text| procfs::meminfo(&text, &mut out)),
        );
        run(
            "loadavg",
            read("loadavg").map(|text| procfs::loadavg(&text, &mut out)),
        );
        run(
            "diskstats",
            read("diskstats").map(|text| procfs::diskstats(&text, &mut out)),
        );
        run(
            "netdev",
            read("net/dev").map(|text| procfs::netdev(&text, &mut out)),
        );
        run(
            "filefd",
            read("sys/fs/file-nr").map(|text| procfs::filefd(&text, &mut out)),
        );
        // node_exporter reads pid 1's mounts: the host's, even from a container
        // sharing the host's pid namespace.
        let mounts = read("1/mounts").or_else(|_| read("self/mounts"));
        run(
            "filesystem",
            mounts.map(|text| filesystem::collect(&text, &mut out)),
        );
        run("uname", procfs::uname(&self.proc_root, &mut out));
        out.gauge("node_time_seconds", &[], now.as_secs_f64());
        out.samples
    }
}

/// The samples of one collection, with the common labels added.
pub(crate) struct Out {
    t: i64,
    instance: String,
    samples: Vec<Sample>,
}

impl Out {
    fn new(t: i64, instance: &str) -> Out {
        Out {
            t,
            instance: instance.to_string(),
            samples: Vec::new(),
        }
    }

    /// Adds `name{labels, job, instance} value`.
    pub(crate) fn gauge(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut all: Vec<(String, String)> = Vec::with_capacity(labels.len() + 3);
        all.push(("__name__".to_string(), name.to_string()));
        all.push(("instance".to_string(), self.instance.clone()));
        all.push(("job".to_string(), "node".to_string()));
        all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all.sort();
        self.samples.push(Sample {
            labels: all,
            t: self.t,
            v: value,
        });
    }
}

#[cfg(test)]
pub(crate) fn test_out() -> Out {
    Out::new(0, "test")
}

#[cfg(test)]
pub(crate) fn values(out: &Out) -> std::collections::BTreeMap<String, f64> {
    out.samples
        .iter()
        .map(|sample| {
            let name = &sample
                .labels
                .iter()
                .find(|(k, _)| k == "__name__")
                .unwrap()
                .1;
            let labels: Vec<String> = sample
                .labels
                .iter()
                .filter(|(k, _)| k != "__name__" && k != "job" && k != "instance")
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            (format!("{name}{{{}}}", labels.join(",")), sample.v)
        })
        .collect()
}
