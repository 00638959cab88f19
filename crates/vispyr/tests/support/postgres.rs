//! A throwaway PostgreSQL server for the end-to-end tests that run real apps
//! against a database (system_e2e, ui_e2e): initdb into the test's temp dir,
//! trust authentication, loopback only. PostgreSQL refuses to run as root, so
//! under root it runs as `nobody` through `setpriv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Guard;

/// The uid and gid PostgreSQL runs as when the test runs as root: `nobody`.
const NOBODY: u32 = 65534;

/// A throwaway PostgreSQL cluster; fast shutdown (SIGINT) when dropped.
pub struct Postgres {
    pub port: u16,
    server: Guard,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.server.terminate("INT", Duration::from_secs(10));
    }
}

/// The directory with `initdb` and `postgres`: on `PATH` (a source build, or
/// links in /usr/local/bin), else Debian's `/usr/lib/postgresql/<version>/bin`,
/// newest version first.
fn postgres_bin_dir() -> PathBuf {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    Some((version, entry.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .into_iter()
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb and postgres are neither on PATH nor in \
                 /usr/lib/postgresql/*/bin: run `bash tests/e2e/install.sh` first"
            )
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// `program` run as the user PostgreSQL accepts: ourselves, or `nobody` when
/// we are root (`setpriv` execs, so the child's pid is PostgreSQL's own).
fn postgres_command(program: &Path, as_nobody: bool) -> Command {
    if !as_nobody {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(program);
    command
}

/// initdb into `dir/data` (superuser `postgres`, trust authentication), then
/// `postgres` on 127.0.0.1:<free port> with its socket in `dir`; waits until
/// it accepts connections. `dir`'s parent must be the test's temp dir.
pub fn start_postgres(dir: &Path) -> Postgres {
    let bin = postgres_bin_dir();
    let as_nobody = running_as_root();
    std::fs::create_dir_all(dir).unwrap();
    if as_nobody {
        use std::os::unix::fs::{PermissionsExt, chown};
        // nobody must reach `dir` through the temp dir (mode 0700, ours).
        let parent = dir.parent().unwrap();
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let data = dir.join("data");
    let log_path = dir.join("postgres.log");
    let log = || std::fs::File::create(&log_path).unwrap();

    let initdb = postgres_command(&bin.join("initdb"), as_nobody)
        .arg("--pgdata")
        .arg(&data)
        .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
        .args(["--no-locale", "--no-sync"])
        .stdout(log())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|error| panic!("cannot run initdb (as nobody: {as_nobody}): {error}"));
    assert!(
        initdb.status.success(),
        "initdb failed ({}): {}",
        initdb.status,
        String::from_utf8_lossy(&initdb.stderr)
    );

    let port = super::free_port();
    let mut command = postgres_command(&bin.join("postgres"), as_nobody);
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "max_connections=20"])
        .stderr(log());
    let mut server = Guard::spawn("postgres", command);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("database system is ready to accept connections") {
            break;
        }
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "postgres did not start; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Postgres { port, server }
}
