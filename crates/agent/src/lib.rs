//! `vispyr agent`: runs on every host next to the apps and sends what the
//! server cannot see by itself. This part collects host metrics with
//! node_exporter's names and labels (so dashboards built for node_exporter
//! work unchanged) and pushes them with Prometheus remote write.

pub mod host;
pub mod outgoing;
pub mod push;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// What `vispyr agent` was asked to do.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The server's HTTP address, e.g. `http://vispyr:4040`.
    pub server: String,
    /// Holds the forwarding queue and log checkpoints.
    pub data_dir: PathBuf,
    /// How often host metrics are collected and sent.
    pub interval: Duration,
    /// The `instance` label of the host series (default: the host name).
    pub instance: String,
    /// Where procfs is mounted (`/proc`; a container may mount the host's elsewhere).
    pub proc_root: PathBuf,
}

/// Collects and pushes host metrics every `interval` until `stop` resolves.
pub async fn run(
    config: AgentConfig,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let urls = outgoing::ServerUrls::new(&config.server, None)?;
    let sink: Box<dyn outgoing::Sink> = Box::new(outgoing::DirectSender::new(urls)?);
    let collector = host::Collector::new(config.proc_root.clone(), config.instance.clone());
    tracing::info!(server = %config.server, instance = %config.instance,
        interval = ?config.interval, "agent started: host metrics");
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let collector = collector.clone();
        let samples = tokio::task::spawn_blocking(move || collector.collect()).await?;
        let sent = match push::request(&samples) {
            Ok(request) => sink.send(request).await.map_err(anyhow::Error::from),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, samples = samples.len(), "pushing host metrics failed");
        }
    }
    Ok(())
}
