//! `vispyr agent`: runs on every host next to the apps and sends what the
//! server cannot see by itself: host metrics with node_exporter's names
//! ([`host`]), log files ([`logs`]), CPU profiles ([`profiler`]) and the
//! apps' own OTLP and Pyroscope traffic ([`forward`]), all delivered through
//! one on-disk queue (docs/agent.md).

pub mod forward;
pub mod host;
pub mod logs;
pub mod outgoing;
pub mod profiler;
pub mod push;

use std::path::PathBuf;
use std::sync::Arc;
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
    /// The server's OTLP/HTTP URL (default: port 4318 on `server`'s host).
    pub otlp_http: Option<String>,
    /// The local OTLP and Pyroscope listeners for apps on this host.
    pub listen: forward::listen::ListenConfig,
    /// The bounds of the on-disk queue in `<data_dir>/queue`.
    pub queue: forward::QueueConfig,
    /// The CPU profiler (`None`: off).
    pub profiler: Option<profiler::ProfilerConfig>,
    /// The log files to tail (no sources: off).
    pub logs: logs::LogsConfig,
}

/// Until `stop` resolves: serves the local OTLP and Pyroscope listeners,
/// collects host metrics every `interval`, and forwards all of it to the
/// server through the on-disk queue ([`forward`]).
pub async fn run(
    config: AgentConfig,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let urls = outgoing::ServerUrls::new(&config.server, config.otlp_http.as_deref())?;
    let sender = outgoing::DirectSender::new(urls)?;
    // Every producer sends through the on-disk queue; `delivery` empties it.
    let (forwarder, delivery) = forward::Forwarder::open(
        &config.data_dir.join("queue"),
        config.queue.clone(),
        forward::DeliveryConfig::default(),
    )?;
    let sink: Arc<dyn outgoing::Sink> = forwarder.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let listeners =
        forward::listen::start(&config.listen, Arc::clone(&sink), stop_rx.clone()).await?;
    let delivery = tokio::spawn(delivery.run(sender, stopped(stop_rx.clone())));
    let profiler = config.profiler.clone().map(|profiler_config| {
        let (sink, stop) = (Arc::clone(&sink), stopped(stop_rx.clone()));
        tokio::spawn(async move {
            if let Err(error) = profiler::run(profiler_config, sink, stop).await {
                tracing::error!(error = format!("{error:#}"), "the CPU profiler stopped");
            }
        })
    });
    let log_tailer = config.logs.is_enabled().then(|| {
        let (sink, stop) = (Arc::clone(&sink), stopped(stop_rx.clone()));
        let (logs_config, data_dir) = (config.logs.clone(), config.data_dir.clone());
        let host_name = config.instance.clone();
        tokio::spawn(async move {
            if let Err(error) = logs::run(logs_config, &data_dir, &host_name, sink, stop).await {
                tracing::error!(%error, "log tailing stopped");
            }
        })
    });
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
    // Listeners first (requests in flight are queued and answered), then
    // delivery; what is still queued is delivered after the next start.
    let _ = stop_tx.send(true);
    listeners.join().await;
    if let Some(profiler) = profiler {
        let _ = profiler.await; // its last profile goes into the queue
    }
    if let Some(log_tailer) = log_tailer {
        let _ = log_tailer.await; // a batch being sent goes into the queue
    }
    let _ = delivery.await;
    forwarder.close();
    Ok(())
}
