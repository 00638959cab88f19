//! `vispyr serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info};
use vispyr_api::ApiState;
use vispyr_config::{Overrides, RawConfig, defaults};
use vispyr_pipeline::OtlpPipeline;
use vispyr_query::QueryEngine;
use vispyr_receivers::IngestHandler;
use vispyr_storage::{Storage, otlp_decoder};

/// Flags of `vispyr serve`; each also reads `VISPYR_<NAME>` and has a config key.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file; when not given, `vispyr.yaml` is read if it exists.
    #[arg(long, env = "VISPYR_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for the WAL, catalog and segments [default: ./vispyr-data].
    #[arg(long, env = "VISPYR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP address of the UI, APIs and Pyroscope ingest [default: 0.0.0.0:4040].
    #[arg(long, env = "VISPYR_HTTP_ADDR")]
    http_addr: Option<String>,
    /// OTLP/gRPC address [default: 0.0.0.0:4317].
    #[arg(long, env = "VISPYR_OTLP_GRPC_ADDR")]
    otlp_grpc_addr: Option<String>,
    /// OTLP/HTTP address [default: 0.0.0.0:4318].
    #[arg(long, env = "VISPYR_OTLP_HTTP_ADDR")]
    otlp_http_addr: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::init_logging();
    let (path, required) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(defaults::CONFIG_FILE), false),
    };
    let overrides = Overrides {
        data_dir: args.data_dir,
        http_addr: args.http_addr,
        otlp_grpc_addr: args.otlp_grpc_addr,
        otlp_http_addr: args.otlp_http_addr,
    };
    let config = RawConfig::load(&path, required)?.build_and_validate(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vispyr")
        // Flushes, compactions and file I/O run on blocking threads; a few are enough,
        // and each thread keeps its own allocator caches.
        .max_blocking_threads(8)
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(config))
}

/// Collapses repeated slashes in the request path (`//ingest` → `/ingest`).
fn collapse_slashes(mut request: axum::extract::Request) -> axum::extract::Request {
    let uri = request.uri();
    if !uri.path().contains("//") {
        return request;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind the {name} address {addr}"))?;
    info!(listener = name, address = %listener.local_addr()?, "listening");
    Ok(listener)
}

async fn serve(config: vispyr_config::Config) -> anyhow::Result<()> {
    info!(data_dir = %config.data_dir.display(), "starting vispyr");
    let storage = Storage::open(&config, otlp_decoder)
        .await
        .context("failed to open the storage engine")?;
    let query = QueryEngine::new(
        storage.clone(),
        config.query.sql_row_limit,
        config.query.timeout,
    )?;
    let rules = vispyr_api::profiles::rules_store::RulesStore::open(
        &config.data_dir,
        config.view_rules.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let metadata = Arc::new(vispyr_model::MetadataStore::default());
    let exemplars = Arc::new(vispyr_model::ExemplarStore::default());
    let api_state = ApiState::new(query, rules, Arc::clone(&metadata), Arc::clone(&exemplars));
    let connectors = vispyr_pipeline::connectors::Connectors::new(
        config.connectors.span_metrics.clone(),
        config.connectors.service_graph.clone(),
    );
    let pipeline = Arc::new(OtlpPipeline::new(storage.clone()).with_connectors(
        connectors,
        Arc::clone(&metadata),
        exemplars,
    ));
    let handler: Arc<dyn IngestHandler> = Arc::clone(&pipeline) as Arc<dyn IngestHandler>;

    let http_listener = bind("http", config.http_addr).await?;
    let otlp_http_listener = bind("otlp_http", config.otlp_http_addr).await?;
    let otlp_grpc_listener = bind("otlp_grpc", config.otlp_grpc_addr).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut receiver: watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };

    let api_router = vispyr_api::app(Arc::clone(&api_state))
        .merge(vispyr_receivers::pyroscope::router(
            Arc::clone(&handler),
            config.limits.max_request_body,
        ))
        .merge(vispyr_receivers::prometheus::router(
            Arc::clone(&handler),
            Arc::clone(&metadata),
            config.limits.max_request_body,
        ))
        .merge(vispyr_receivers::loki::router(
            Arc::clone(&handler),
            config.limits.max_request_body,
        ));
    let api_router = vispyr_api::ui::finish(api_router);
    // SDKs configured with a trailing slash send `//ingest`: route it as `/ingest`.
    let api_service = tower::Layer::layer(
        &tower::util::MapRequestLayer::new(collapse_slashes),
        api_router,
    );
    let api_server = tokio::spawn(
        axum::serve(
            http_listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(api_service),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );
    let otlp_router =
        vispyr_receivers::otlp::http::router(Arc::clone(&handler), config.limits.max_request_body);
    let otlp_http_server = tokio::spawn(
        axum::serve(otlp_http_listener, otlp_router)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    let otlp = vispyr_receivers::otlp::grpc::services(
        Arc::clone(&handler),
        config.limits.max_request_body,
    );
    let grpc_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(otlp.traces)
            .add_service(otlp.metrics)
            .add_service(otlp.logs)
            .add_service(otlp.profiles)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(otlp_grpc_listener),
                stopped(stop_rx.clone()),
            ),
    );
    let scrapes = (!config.scrape_configs.is_empty()).then(|| {
        let appender = vispyr_receivers::prometheus::ScrapeAppender::new(
            Arc::clone(&handler),
            Arc::clone(&metadata),
        );
        vispyr_scrape::ScrapeManager::start(config.scrape_configs.clone(), Arc::new(appender))
    });
    let connector_flush = pipeline.connector_flush_interval().map(|interval| {
        let pipeline = Arc::clone(&pipeline);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
                let now_ms = vispyr_common::now_unix_nanos().div_euclid(1_000_000);
                if let Err(error) = pipeline.flush_connectors(now_ms).await {
                    tracing::warn!(%error, "connector series not stored");
                }
            }
        })
    });
    api_state.ready.store(true, Ordering::Release);
    info!("vispyr is ready");

    shutdown_signal().await;
    info!("shutting down: draining requests and flushing the memtable");
    api_state.ready.store(false, Ordering::Release);
    if let Some(scrapes) = scrapes {
        scrapes.stop().await;
    }
    let _ = stop_tx.send(true);
    for (name, result) in [
        (
            "http",
            api_server.await.map(|r| r.map_err(anyhow::Error::from)),
        ),
        (
            "otlp_http",
            otlp_http_server
                .await
                .map(|r| r.map_err(anyhow::Error::from)),
        ),
        (
            "otlp_grpc",
            grpc_server.await.map(|r| r.map_err(anyhow::Error::from)),
        ),
    ] {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => error!(server = name, %error, "server stopped with an error"),
            Err(error) => error!(server = name, %error, "server task failed"),
        }
    }
    if let Some(task) = connector_flush {
        let _ = task.await;
    }
    storage.shutdown().await.context("final flush failed")?;
    info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    error!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
