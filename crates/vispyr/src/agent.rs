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
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let instance = args
        .instance
        .unwrap_or_else(|| rustix_hostname().unwrap_or_else(|| "localhost".to_string()));
    let config = vispyr_agent::AgentConfig {
        server: args.server,
        data_dir: args.data_dir,
        interval: args.interval,
        instance,
        proc_root: args.proc_root,
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
