'use strict';
// Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init node`.
//
// Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}}
// and wall-clock + heap profiles to {{SERVER}}. Load it before the app:
//
//   CommonJS app:  node --require ./instrumentation.js app.js
//   ESM app:       node --import ./instrumentation.js app.mjs
//
// (In a package with "type": "module", rename this file to instrumentation.cjs.)
//
// Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
// base URL), VISPYR_URL (where profiles go), OTEL_METRIC_EXPORT_INTERVAL (ms),
// OTEL_NODE_DISABLED_INSTRUMENTATIONS (e.g. "net,dns"), OTEL_LOG_LEVEL=debug.

const SERVICE = process.env.OTEL_SERVICE_NAME || '{{SERVICE}}';
const OTLP = trimSlash(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || '{{OTLP}}');
const VISPYR_URL = trimSlash(process.env.VISPYR_URL || '{{SERVER}}');
const METRIC_INTERVAL_MS = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL) || 15000;
const SHUTDOWN_TIMEOUT_MS = 10000;

// ESM apps: modules loaded with `import` are only patched through this loader hook.
if (loadedWithImport()) {
  const { register } = require('node:module');
  const { pathToFileURL } = require('node:url');
  register(pathToFileURL(require.resolve('@opentelemetry/instrumentation/hook.mjs')));
}

const { NodeSDK, logs, metrics } = require('@opentelemetry/sdk-node');
const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const Pyroscope = require('@pyroscope/nodejs');

// Traces, metrics and logs. The auto-instrumentations cover http, express, fastify,
// koa, pg, mysql, redis, mongodb, undici (fetch), grpc, ... and bridge pino, winston
// and bunyan records into OpenTelemetry logs stamped with the current trace and span.
const sdk = new NodeSDK({
  serviceName: SERVICE,
  traceExporter: new OTLPTraceExporter({ url: `${OTLP}/v1/traces` }),
  metricReaders: [
    new metrics.PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: `${OTLP}/v1/metrics` }),
      exportIntervalMillis: METRIC_INTERVAL_MS,
    }),
  ],
  logRecordProcessors: [
    new logs.BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${OTLP}/v1/logs` }) }),
  ],
  instrumentations: [getNodeAutoInstrumentations()],
});
sdk.start();

// Profiles: wall-clock time and heap, pushed every 15 s to Vispyr's Pyroscope endpoint.
// Span-profile linking: Pyroscope has no OpenTelemetry integration for Node.js (there
// is no such package on npm), so profiles and traces are matched by service and time.
Pyroscope.init({
  serverAddress: VISPYR_URL,
  appName: SERVICE,
  flushIntervalMs: 15000,
});
Pyroscope.start();

let stopping;

/** Flushes every exporter and stops the profiler (which uploads its last profile). */
function shutdown() {
  if (!stopping) {
    const timeout = new Promise((resolve) => {
      setTimeout(resolve, SHUTDOWN_TIMEOUT_MS, [{ status: 'rejected', reason: 'timed out' }]).unref();
    });
    const flushed = Promise.allSettled([sdk.shutdown(), Pyroscope.stop()]);
    stopping = Promise.race([flushed, timeout]).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') {
          console.error(`vispyr instrumentation: shutdown: ${result.reason}`);
        }
      }
    });
  }
  return stopping;
}

// SIGTERM / SIGINT: flush, then exit — unless the app handles the signal itself,
// in which case it decides when to exit (call `shutdown()` from this module first).
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    shutdown().finally(() => {
      if (process.listenerCount(signal) === 0) process.exit(0);
    });
  });
}
// A script that simply runs to its end flushes too.
process.once('beforeExit', () => shutdown());

module.exports = { shutdown };

function trimSlash(url) {
  return url.replace(/\/+$/, '');
}

function loadedWithImport() {
  const options = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)];
  return options.some((option) => option === '--import' || option.startsWith('--import='));
}
