//! node_filesystem_* from the mount table and statvfs(3), with the default
//! mount point and file system type exclusions of Debian's node_exporter 1.5.

use std::sync::LazyLock;

use regex::Regex;

use super::Out;

static MOUNT_EXCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    )
    .expect("valid regex")
});

static FS_TYPE_EXCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
    )
    .expect("valid regex")
});

/// A mount table line's fields, with the octal escapes (`\040` for a space)
/// of /proc/mounts undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\'
            && let Some(digits) = octal.filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
        {
            let code = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
            out.push(code as u8);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The (device, mount point, type, read-only) of the mounts node_exporter reports;
/// a mount point mounted twice is reported once.
pub(crate) fn mounts(text: &str) -> Vec<(String, String, String, bool)> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [device, mountpoint, fstype, options, ..] = fields[..] else {
                return None;
            };
            let mountpoint = unescape(mountpoint);
            if MOUNT_EXCLUDE.is_match(&mountpoint) || FS_TYPE_EXCLUDE.is_match(fstype) {
                return None;
            }
            let readonly = options.split(',').any(|option| option == "ro");
            seen.insert(mountpoint.clone())
                .then(|| (unescape(device), mountpoint, fstype.to_string(), readonly))
        })
        .collect()
}

pub(crate) fn collect(mount_table: &str, out: &mut Out) {
    for (device, mountpoint, fstype, readonly) in mounts(mount_table) {
        let labels = [
            ("device", device.as_str()),
            ("fstype", fstype.as_str()),
            ("mountpoint", mountpoint.as_str()),
        ];
        let Ok(stat) = rustix::fs::statvfs(mountpoint.as_str()) else {
            out.gauge("node_filesystem_device_error", &labels, 1.0);
            continue;
        };
        let block = stat.f_frsize as f64;
        out.gauge(
            "node_filesystem_size_bytes",
            &labels,
            stat.f_blocks as f64 * block,
        );
        out.gauge(
            "node_filesystem_free_bytes",
            &labels,
            stat.f_bfree as f64 * block,
        );
        out.gauge(
            "node_filesystem_avail_bytes",
            &labels,
            stat.f_bavail as f64 * block,
        );
        out.gauge("node_filesystem_files", &labels, stat.f_files as f64);
        out.gauge("node_filesystem_files_free", &labels, stat.f_ffree as f64);
        out.gauge(
            "node_filesystem_readonly",
            &labels,
            f64::from(u8::from(readonly)),
        );
        out.gauge("node_filesystem_device_error", &labels, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_pseudo_file_systems_and_unescapes() {
        let table = "proc /proc proc rw 0 0\n\
                     /dev/vda / ext4 rw,relatime 0 0\n\
                     tmpfs /dev/shm tmpfs rw 0 0\n\
                     cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n\
                     /dev/vdb /data/my\\040disk ext4 ro 0 0\n\
                     /dev/vda / ext4 rw 0 0\n";
        let mounts = mounts(table);
        assert_eq!(
            mounts,
            vec![
                ("/dev/vda".into(), "/".into(), "ext4".into(), false),
                (
                    "/dev/vdb".into(),
                    "/data/my disk".into(),
                    "ext4".into(),
                    true
                ),
            ]
        );
    }

    #[test]
    fn statvfs_of_root() {
        let mut out = crate::host::test_out();
        collect("/dev/root / ext4 rw 0 0\n", &mut out);
        let v = crate::host::values(&out);
        let key = r#"node_filesystem_size_bytes{device="/dev/root",fstype="ext4",mountpoint="/"}"#;
        assert!(v[key] > 0.0, "{v:?}");
    }
}
