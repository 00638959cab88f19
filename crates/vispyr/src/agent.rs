//! `vispyr agent --server URL`: the host agent (crates/agent).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vispyr_common::units::parse_duration;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The Vispyr server's HTTP address, e.g. http://vispyr:4040.
    #[arg(long, env = "VISPYR_SERVER")]
    server: String,
    /// Holds the forwarding queue and log checkpoints.
    #[arg(
        long,
        env = "VISPYR_AGENT_DATA_DIR",
        default_value = "./vispyr-agent-data"
    )]
    data_dir: PathBuf,
    /// How often host metrics are collected and sent.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    interval: std::time::Duration,
    /// The `instance` label of the host's series [default: the host name].
    #[arg(long)]
    instance: Option<String>,
    /// Where procfs is mounted (a container can mount the host's /proc elsewhere).
    #[arg(long, default_value = "/proc")]
    proc_root: PathBuf,
    /// The server's OTLP/HTTP URL [default: port 4318 on the --server host].
    #[arg(long, env = "VISPYR_OTLP_HTTP")]
    otlp_http: Option<String>,
    /// Local OTLP/gRPC listener for apps on this host (`off` to disable).
    #[arg(long, default_value = "0.0.0.0:4317", value_parser = parse_listen_addr)]
    otlp_grpc_addr: ListenAddr,
    /// Local OTLP/HTTP listener for apps on this host (`off` to disable).
    #[arg(long, default_value = "0.0.0.0:4318", value_parser = parse_listen_addr)]
    otlp_http_addr: ListenAddr,
    /// Local Pyroscope listener (`/ingest`) for apps on this host (`off` to
    /// disable). An agent on the server's host needs another port.
    #[arg(long, default_value = "0.0.0.0:4040", value_parser = parse_listen_addr)]
    pyroscope_addr: ListenAddr,
    /// How much undelivered data the on-disk queue holds before the listeners
    /// answer 503 (e.g. 1GiB, 500MB).
    #[arg(long, default_value = "1GiB", value_parser = vispyr_config::parse_bytes)]
    queue_max_bytes: u64,
    /// CPU-profile these processes (comma-separated pids). Profiling is off
    /// unless --profile-pids, --profile-process or --profile-all is given;
    /// it needs root (or CAP_PERFMON).
    #[arg(long, value_delimiter = ',')]
    profile_pids: Vec<u32>,
    /// CPU-profile the processes whose name or command line matches this
    /// regex (repeatable); new matching processes are picked up as they run.
    #[arg(long)]
    profile_process: Vec<String>,
    /// CPU-profile every process on the host.
    #[arg(long)]
    profile_all: bool,
    /// CPU profiler samples per second of CPU time.
    #[arg(long, default_value_t = vispyr_agent::profiler::DEFAULT_FREQUENCY_HZ)]
    profile_frequency: u64,
    /// How often CPU profiles are pushed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    profile_interval: std::time::Duration,
    /// Tail the log files matching this glob (repeatable); `api=/var/log/api/*.log`
    /// names the service, else it is the file name up to its first dot.
    #[arg(long = "logs", value_name = "[SERVICE=]GLOB")]
    logs: Vec<vispyr_agent::logs::LogSource>,
    /// How log lines are parsed: auto (per line), json, logfmt or plain.
    #[arg(long, default_value = "auto")]
    logs_format: vispyr_agent::logs::Format,
    /// Regex of the lines that start a new log record [default: every line
    /// except the continuation lines of Java, Node.js and Python stack traces].
    #[arg(long)]
    logs_multiline_start: Option<String>,
}

/// A listen address, or none (`off`).
#[derive(Debug, Clone, Copy)]
struct ListenAddr(Option<std::net::SocketAddr>);

fn parse_listen_addr(text: &str) -> Result<ListenAddr, String> {
    if matches!(text.trim(), "off" | "none" | "") {
        return Ok(ListenAddr(None));
    }
    text.trim()
        .parse()
        .map(|addr| ListenAddr(Some(addr)))
        .map_err(|error| format!("{text:?} is not host:port or `off`: {error}"))
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let instance = args
        .instance
        .unwrap_or_else(|| rustix_hostname().unwrap_or_else(|| "localhost".to_string()));
    let profile_targets = vispyr_agent::profiler::Targets::from_flags(
        &args.profile_pids,
        &args.profile_process,
        args.profile_all,
    )?;
    let profiler = profile_targets.map(|targets| vispyr_agent::profiler::ProfilerConfig {
        targets,
        frequency_hz: args.profile_frequency,
        interval: args.profile_interval,
        proc_root: args.proc_root.clone(),
    });
    let config = vispyr_agent::AgentConfig {
        server: args.server,
        data_dir: args.data_dir,
        interval: args.interval,
        instance,
        proc_root: args.proc_root,
        otlp_http: args.otlp_http,
        listen: vispyr_agent::forward::listen::ListenConfig {
            otlp_grpc: args.otlp_grpc_addr.0,
            otlp_http: args.otlp_http_addr.0,
            pyroscope: args.pyroscope_addr.0,
            ..Default::default()
        },
        queue: vispyr_agent::forward::QueueConfig {
            max_bytes: args.queue_max_bytes,
            ..Default::default()
        },
        profiler,
        logs: vispyr_agent::logs::LogsConfig::from_flags(
            args.logs,
            args.logs_format,
            args.logs_multiline_start.as_deref(),
        )?,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(vispyr_agent::run(config, crate::serve::shutdown_signal()))
}

fn rustix_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}
