//! Parsers of procfs files, each feeding node_exporter's series for it.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::Out;

/// `/proc/stat`: node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total,
/// interrupts, context switches, boot time, forks and process counts.
pub(crate) fn stat(text: &str, out: &mut Out) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    const MODES: [&str; 8] = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let numbers: Vec<f64> = fields.map_while(|f| f.parse().ok()).collect();
        if let Some(cpu) = key.strip_prefix("cpu").filter(|cpu| !cpu.is_empty()) {
            for (mode, value) in MODES.iter().zip(&numbers) {
                out.gauge(
                    "node_cpu_seconds_total",
                    &[("cpu", cpu), ("mode", mode)],
                    value / ticks,
                );
            }
            for (mode, value) in ["user", "nice"].iter().zip(numbers.iter().skip(8)) {
                out.gauge(
                    "node_cpu_guest_seconds_total",
                    &[("cpu", cpu), ("mode", mode)],
                    value / ticks,
                );
            }
            continue;
        }
        let name = match key {
            "intr" => "node_intr_total",
            "ctxt" => "node_context_switches_total",
            "btime" => "node_boot_time_seconds",
            "processes" => "node_forks_total",
            "procs_running" => "node_procs_running",
            "procs_blocked" => "node_procs_blocked",
            _ => continue,
        };
        if let Some(value) = numbers.first() {
            out.gauge(name, &[], *value);
        }
    }
}

/// `/proc/meminfo`: `node_memory_<Field>_bytes` (kB fields) or
/// `node_memory_<Field>` (counts), with `Active(anon)` → `Active_anon`.
pub(crate) fn meminfo(text: &str, out: &mut Out) {
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<f64>) else {
            continue;
        };
        let key = key.replace('(', "_").replace(')', "");
        match parts.next() {
            Some("kB") => out.gauge(&format!("node_memory_{key}_bytes"), &[], value * 1024.0),
            _ => out.gauge(&format!("node_memory_{key}"), &[], value),
        }
    }
}

/// `/proc/loadavg`: node_load1, node_load5, node_load15.
pub(crate) fn loadavg(text: &str, out: &mut Out) {
    let loads: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect();
    for (name, value) in ["node_load1", "node_load5", "node_load15"]
        .iter()
        .zip(loads)
    {
        out.gauge(name, &[], value);
    }
}

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`:
/// partitions, RAM disks, loop devices and floppies.
static DISK_EXCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$").expect("valid regex")
});

/// `/proc/diskstats` (sectors are 512 bytes, times in ms).
pub(crate) fn diskstats(text: &str, out: &mut Out) {
    // (field index after major/minor/name, name, scale)
    const FIELDS: &[(usize, &str, f64)] = &[
        (0, "node_disk_reads_completed_total", 1.0),
        (1, "node_disk_reads_merged_total", 1.0),
        (2, "node_disk_read_bytes_total", 512.0),
        (3, "node_disk_read_time_seconds_total", 0.001),
        (4, "node_disk_writes_completed_total", 1.0),
        (5, "node_disk_writes_merged_total", 1.0),
        (6, "node_disk_written_bytes_total", 512.0),
        (7, "node_disk_write_time_seconds_total", 0.001),
        (8, "node_disk_io_now", 1.0),
        (9, "node_disk_io_time_seconds_total", 0.001),
        (10, "node_disk_io_time_weighted_seconds_total", 0.001),
        (11, "node_disk_discards_completed_total", 1.0),
        (12, "node_disk_discards_merged_total", 1.0),
        (13, "node_disk_discarded_sectors_total", 1.0),
        (14, "node_disk_discard_time_seconds_total", 0.001),
        (15, "node_disk_flush_requests_total", 1.0),
        (16, "node_disk_flush_requests_time_seconds_total", 0.001),
    ];
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 14 || DISK_EXCLUDE.is_match(fields[2]) {
            continue;
        }
        let device = fields[2];
        let numbers: Vec<f64> = fields[3..].iter().map_while(|f| f.parse().ok()).collect();
        for (index, name, scale) in FIELDS {
            if let Some(value) = numbers.get(*index) {
                out.gauge(name, &[("device", device)], value * scale);
            }
        }
    }
}

/// `/proc/net/dev`: receive and transmit counters per interface (node_exporter
/// 1.5 leaves out the loopback interface).
pub(crate) fn netdev(text: &str, out: &mut Out) {
    const RECEIVE: [&str; 8] = [
        "bytes",
        "packets",
        "errs",
        "drop",
        "fifo",
        "frame",
        "compressed",
        "multicast",
    ];
    const TRANSMIT: [&str; 8] = [
        "bytes",
        "packets",
        "errs",
        "drop",
        "fifo",
        "colls",
        "carrier",
        "compressed",
    ];
    for line in text.lines().skip(2) {
        let Some((device, counters)) = line.split_once(':') else {
            continue;
        };
        let device = device.trim();
        if device == "lo" {
            continue;
        }
        let numbers: Vec<f64> = counters
            .split_whitespace()
            .map_while(|f| f.parse().ok())
            .collect();
        if numbers.len() < 16 {
            continue;
        }
        for (i, field) in RECEIVE.iter().enumerate() {
            let name = format!("node_network_receive_{field}_total");
            out.gauge(&name, &[("device", device)], numbers[i]);
        }
        for (i, field) in TRANSMIT.iter().enumerate() {
            let name = format!("node_network_transmit_{field}_total");
            out.gauge(&name, &[("device", device)], numbers[8 + i]);
        }
    }
}

/// `/proc/sys/fs/file-nr`: allocated and maximum file descriptors.
pub(crate) fn filefd(text: &str, out: &mut Out) {
    let fields: Vec<f64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    if let [allocated, _, maximum] = fields[..] {
        out.gauge("node_filefd_allocated", &[], allocated);
        out.gauge("node_filefd_maximum", &[], maximum);
    }
}

/// node_uname_info, from `/proc/sys/kernel/*` (what uname(2) reports).
pub(crate) fn uname(proc_root: &Path, out: &mut Out) -> std::io::Result<()> {
    let read = |name: &str| -> std::io::Result<String> {
        Ok(
            std::fs::read_to_string(proc_root.join("sys/kernel").join(name))?
                .trim()
                .to_string(),
        )
    };
    let uname = rustix::system::uname();
    let machine = uname.machine().to_string_lossy().into_owned();
    let (sysname, release, version) = (read("ostype")?, read("osrelease")?, read("version")?);
    let (nodename, domainname) = (read("hostname")?, read("domainname")?);
    out.gauge(
        "node_uname_info",
        &[
            ("domainname", &domainname),
            ("machine", &machine),
            ("nodename", &nodename),
            ("release", &release),
            ("sysname", &sysname),
            ("version", &version),
        ],
        1.0,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{test_out, values};

    #[test]
    fn cpu_and_stat_lines() {
        let mut out = test_out();
        stat(
            "cpu  10 20 30 40 50 60 70 80 90 100\n\
             cpu0 100 200 300 400 500 600 700 800 900 1000\n\
             intr 12345 1 2 3\nctxt 999\nbtime 1700000000\nprocesses 42\n\
             procs_running 3\nprocs_blocked 1\nsoftirq 5 1 2\n",
            &mut out,
        );
        let v = values(&out);
        let hz = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(
            v[r#"node_cpu_seconds_total{cpu="0",mode="user"}"#],
            100.0 / hz
        );
        assert_eq!(
            v[r#"node_cpu_seconds_total{cpu="0",mode="steal"}"#],
            800.0 / hz
        );
        assert_eq!(
            v[r#"node_cpu_guest_seconds_total{cpu="0",mode="nice"}"#],
            1000.0 / hz
        );
        // The aggregate `cpu` line is not a cpu.
        assert!(!v.keys().any(|k| k.contains(r#"cpu="""#)));
        assert_eq!(v["node_intr_total{}"], 12345.0);
        assert_eq!(v["node_context_switches_total{}"], 999.0);
        assert_eq!(v["node_boot_time_seconds{}"], 1_700_000_000.0);
        assert_eq!(v["node_forks_total{}"], 42.0);
        assert_eq!(v["node_procs_running{}"], 3.0);
        assert_eq!(v["node_procs_blocked{}"], 1.0);
        assert_eq!(v.len(), 8 + 2 + 6);
    }

    #[test]
    fn meminfo_names_and_units() {
        let mut out = test_out();
        meminfo(
            "MemTotal:       16384 kB\nActive(anon):     100 kB\nHugePages_Total:       4\nbroken line\n",
            &mut out,
        );
        let v = values(&out);
        assert_eq!(v["node_memory_MemTotal_bytes{}"], 16384.0 * 1024.0);
        assert_eq!(v["node_memory_Active_anon_bytes{}"], 102400.0);
        assert_eq!(v["node_memory_HugePages_Total{}"], 4.0);
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn loadavg_diskstats_netdev_filefd() {
        let mut out = test_out();
        loadavg("0.52 0.58 0.59 1/467 12345\n", &mut out);
        diskstats(
            " 253       0 vda 10 1 8 4 20 2 16 30 0 40 50 0 0 0 0 3 7\n\
             253       1 vda1 10 1 8 4 20 2 16 30 0 40 50 0 0 0 0 3 7\n\
             7       0 loop0 1 1 1 1 1 1 1 1 0 1 1\n",
            &mut out,
        );
        netdev(
            "Inter-|   Receive\n face |bytes\n    lo: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n  eth0: 100 2 0 1 0 0 0 0 200 3 0 0 0 0 0 0\n",
            &mut out,
        );
        filefd("747\t0\t2466174\n", &mut out);
        let v = values(&out);
        assert_eq!(v["node_load1{}"], 0.52);
        assert_eq!(v["node_load15{}"], 0.59);
        assert_eq!(
            v[r#"node_disk_read_bytes_total{device="vda"}"#],
            8.0 * 512.0
        );
        assert_eq!(
            v[r#"node_disk_write_time_seconds_total{device="vda"}"#],
            0.03
        );
        assert_eq!(v[r#"node_disk_flush_requests_total{device="vda"}"#], 3.0);
        assert!(!v.keys().any(|k| k.contains("vda1") || k.contains("loop0")));
        assert_eq!(
            v[r#"node_network_receive_bytes_total{device="eth0"}"#],
            100.0
        );
        assert_eq!(v[r#"node_network_receive_drop_total{device="eth0"}"#], 1.0);
        assert_eq!(
            v[r#"node_network_transmit_packets_total{device="eth0"}"#],
            3.0
        );
        assert!(!v.keys().any(|k| k.contains(r#"device="lo""#)));
        assert_eq!(v["node_filefd_allocated{}"], 747.0);
        assert_eq!(v["node_filefd_maximum{}"], 2_466_174.0);
    }
}
