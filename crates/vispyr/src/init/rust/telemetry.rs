//! Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init rust`.
//!
//! Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}}
//! and CPU profiles to {{SERVER}}. `tracing` spans become OpenTelemetry
//! spans and `tracing` events become OpenTelemetry logs stamped with the current
//! span. In main.rs:
//!
//! ```ignore
//! mod telemetry;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let _telemetry = telemetry::init()?; // flushes everything when dropped
//!     tracing::info!("started");
//!     // ...
//!     Ok(())
//! }
//! ```
//!
//! Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
//! base URL), VISPYR_URL (where profiles go), RUST_LOG (default `info`).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use pyroscope::PyroscopeAgent;
use pyroscope::backend::{BackendConfig, PprofConfig, pprof_backend};
use pyroscope::pyroscope::{PyroscopeAgentBuilder, PyroscopeAgentRunning};
use tracing_subscriber::{EnvFilter, Layer as _};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Keeps the exporters and the profiler running; dropping it flushes and stops them.
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: SdkLoggerProvider,
    profiler: Option<PyroscopeAgent<PyroscopeAgentRunning>>,
}

/// Starts tracing, metrics, logs and profiling, and installs the global
/// `tracing` subscriber (with a stderr formatter).
pub fn init() -> Result<Telemetry, Error> {
    let service = env_or("OTEL_SERVICE_NAME", "{{SERVICE}}");
    let otlp = env_or("OTEL_EXPORTER_OTLP_ENDPOINT", "{{OTLP}}");
    let otlp = otlp.trim_end_matches('/');
    let vispyr_url = env_or("VISPYR_URL", "{{SERVER}}");

    let resource = Resource::builder().with_service_name(service.clone()).build();

    let span_exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{otlp}/v1/traces"))
        .build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter)
        .with_resource(resource.clone())
        .build();
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let metric_exporter = MetricExporter::builder()
        .with_http()
        .with_endpoint(format!("{otlp}/v1/metrics"))
        .build()?;
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(metric_exporter)
                .with_interval(Duration::from_secs(15))
                .build(),
        )
        .with_resource(resource.clone())
        .build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());

    let log_exporter = LogExporter::builder()
        .with_http()
        .with_endpoint(format!("{otlp}/v1/logs"))
        .build()?;
    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(log_exporter)
        .with_resource(resource)
        .build();

    // The exporters' HTTP client and the profiler log through `tracing` too: keep
    // those events out of the bridge, or every export would log and export again.
    let bridge_filter = EnvFilter::new("info")
        .add_directive("hyper=off".parse()?)
        .add_directive("reqwest=off".parse()?)
        .add_directive("h2=off".parse()?)
        .add_directive("opentelemetry=off".parse()?)
        .add_directive("pyroscope=off".parse()?)
        .add_directive("Pyroscope=off".parse()?);
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer(service.clone())))
        .with(OpenTelemetryTracingBridge::new(&logger_provider).with_filter(bridge_filter))
        .try_init()?;

    // Profiles: CPU time sampled 100 times a second. Pyroscope has no
    // OpenTelemetry integration for Rust, so profiles and spans are matched by
    // service and time.
    let profiler = PyroscopeAgentBuilder::new(
        vispyr_url.trim_end_matches('/'),
        &service,
        100,
        "pyroscope-rs",
        env!("CARGO_PKG_VERSION"),
        pprof_backend(PprofConfig::default(), BackendConfig::default()),
    )
    .build()?
    .start()?;

    Ok(Telemetry {
        tracer_provider,
        meter_provider,
        logger_provider,
        profiler: Some(profiler),
    })
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(profiler) = self.profiler.take() {
            match profiler.stop() {
                Ok(ready) => ready.shutdown(),
                Err(error) => eprintln!("vispyr telemetry: stopping the profiler: {error}"),
            }
        }
        if let Err(error) = self.tracer_provider.shutdown() {
            eprintln!("vispyr telemetry: flushing spans: {error}");
        }
        if let Err(error) = self.meter_provider.shutdown() {
            eprintln!("vispyr telemetry: flushing metrics: {error}");
        }
        if let Err(error) = self.logger_provider.shutdown() {
            eprintln!("vispyr telemetry: flushing logs: {error}");
        }
    }
}

fn env_or(name: &str, fallback: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}
