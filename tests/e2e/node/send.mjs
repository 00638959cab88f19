// Deterministic OTLP client for Vispyr's end-to-end tests.
//
// Sends exactly one trace (3 spans), 3 log records and one metrics export
// (4 instruments) using the real OpenTelemetry JS SDK, then prints ONE line of
// JSON to stdout describing the ids it generated. Everything else goes to
// stderr.
//
// Environment:
//   OTLP_ENDPOINT  base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:43180
//                  (the exporters post to ${OTLP_ENDPOINT}/v1/{traces,metrics,logs})
//   OTLP_PROTOCOL  "http/json" (the *-otlp-http exporters, JSON bodies) or
//                  "http/protobuf" (the *-otlp-proto exporters). Default http/protobuf.
//   SERVICE_NAME   service.name resource attribute. Default "node-e2e".
//   OTLP_TIMEOUT_MS  per-export timeout (default 10000).
//   E2E_DEBUG=1    turn the SDK's diagnostic logger up to DEBUG (stderr).
//
// Exit code: 0 only if every export succeeded and exactly the expected number
// of spans / log records / metrics were accepted by the server; non-zero
// otherwise (export failure, partial-success rejection, timeout, crash).

// --- Determinism: ignore any ambient OTEL_* configuration. -----------------
// The SDK reads OTEL_* variables (sampler, limits, exporters, resource, even
// OTEL_SDK_DISABLED) when components are *constructed*, which happens below,
// after this runs; ESM imports only load the modules.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('OTEL_')) delete process.env[key];
}

import {
  context,
  diag,
  DiagLogLevel,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  ValueType,
} from '@opentelemetry/api';
import { logs, SeverityNumber } from '@opentelemetry/api-logs';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationType,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as OTLPMetricExporterJson,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';

// --- Configuration ------------------------------------------------------------
const endpoint = (process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4318').replace(/\/+$/, '');
const protocol = process.env.OTLP_PROTOCOL || 'http/protobuf';
const serviceName = process.env.SERVICE_NAME || 'node-e2e';
const timeoutMillis = Number(process.env.OTLP_TIMEOUT_MS || 10000);

if (protocol !== 'http/json' && protocol !== 'http/protobuf') {
  console.error(`send.mjs: unsupported OTLP_PROTOCOL ${JSON.stringify(protocol)} (want http/json or http/protobuf)`);
  process.exit(2);
}
const json = protocol === 'http/json';

// Hard deadline so a hung export can never hang the calling test.
const watchdog = setTimeout(() => {
  console.error('send.mjs: timed out waiting for exports');
  process.exit(3);
}, timeoutMillis * 3 + 5000);
watchdog.unref();

// --- Failure detection ----------------------------------------------------------
// The SDK never throws on export failure: it reports through the exporters'
// result callbacks and the diag logger. We watch both.
const failures = [];
const exported = {
  traces: { requests: 0, items: 0 },
  logs: { requests: 0, items: 0 },
  metrics: { requests: 0, items: 0 },
};

// Diag logger -> stderr. Errors count as failures; so does a partial-success
// response that rejected something (the exporter reports that as SUCCESS and
// only logs a warning).
diag.setLogger(
  {
    error: (msg, ...args) => {
      console.error('[otel error]', msg, ...args);
      failures.push(`diag error: ${msg}`);
    },
    warn: (msg, ...args) => {
      console.error('[otel warn]', msg, ...args);
      if (String(msg).includes('Partial Success')) {
        let rejected = 1;
        try {
          const ps = JSON.parse(args[0]);
          rejected = Number(ps.rejectedSpans ?? ps.rejectedLogRecords ?? ps.rejectedDataPoints ?? 0);
        } catch {
          /* unparsable: treat as a rejection */
        }
        if (rejected > 0) failures.push(`partial success rejected ${rejected} item(s): ${args[0]}`);
      }
    },
    info: (msg, ...args) => console.error('[otel info]', msg, ...args),
    debug: (msg, ...args) => console.error('[otel debug]', msg, ...args),
    verbose: (msg, ...args) => console.error('[otel verbose]', msg, ...args),
  },
  process.env.E2E_DEBUG ? DiagLogLevel.DEBUG : DiagLogLevel.WARN,
);

// Wrap an exporter's export() so each result is checked and counted.
// `countItems` maps the exported batch to the number of items it carries.
const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core
function tracked(signal, exporter, countItems) {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, resultCallback) => {
    const n = countItems(items);
    original(items, (result) => {
      exported[signal].requests += 1;
      if (result.code === EXPORT_SUCCESS) {
        exported[signal].items += n;
        console.error(`send.mjs: exported ${n} ${signal} item(s) OK`);
      } else {
        failures.push(`${signal} export failed: ${result.error?.message ?? result.error ?? 'unknown error'}`);
      }
      resultCallback(result);
    });
  };
  return exporter;
}

// --- Exporters (explicit URLs; JSON vs protobuf chosen by OTLP_PROTOCOL) ------
const exporterOptions = (signal) => ({ url: `${endpoint}/v1/${signal}`, timeoutMillis });
const TraceExporter = json ? OTLPTraceExporterJson : OTLPTraceExporterProto;
const MetricExporter = json ? OTLPMetricExporterJson : OTLPMetricExporterProto;
const LogExporter = json ? OTLPLogExporterJson : OTLPLogExporterProto;

const traceExporter = tracked('traces', new TraceExporter(exporterOptions('traces')), (spans) => spans.length);
const logExporter = tracked('logs', new LogExporter(exporterOptions('logs')), (records) => records.length);
const metricExporter = tracked(
  'metrics',
  new MetricExporter({
    ...exporterOptions('metrics'),
    // Cumulative is the OTLP default; set explicitly so it can't drift.
    temporalityPreference: AggregationTemporalityPreference.CUMULATIVE,
  }),
  // items = number of metrics (instruments) in the ResourceMetrics batch
  (rm) => rm.scopeMetrics.reduce((n, sm) => n + sm.metrics.length, 0),
);

// --- SDK ---------------------------------------------------------------------------
// Batch processors with a long delay: nothing is exported until shutdown, so
// each signal goes out in exactly one request. The metric reader likewise never
// fires on its own (1 h interval); shutdown performs the single collect+export.
const HOUR = 3_600_000;
const sdk = new NodeSDK({
  // No resource detectors (host/process/env): only the attributes below plus
  // the SDK's default telemetry.sdk.* attributes.
  autoDetectResources: false,
  resource: defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      [ATTR_SERVICE_VERSION]: '1.2.3',
      'deployment.environment.name': 'test',
      'host.cpu.count': 2, // integer-valued JS number -> OTLP intValue
    }),
  ),
  sampler: new AlwaysOnSampler(),
  textMapPropagator: null,
  spanProcessors: [
    new BatchSpanProcessor(traceExporter, {
      scheduledDelayMillis: HOUR,
      maxExportBatchSize: 512,
      exportTimeoutMillis: timeoutMillis,
    }),
  ],
  logRecordProcessors: [
    new BatchLogRecordProcessor({
      exporter: logExporter,
      scheduledDelayMillis: HOUR,
      maxExportBatchSize: 512,
      exportTimeoutMillis: timeoutMillis,
    }),
  ],
  metricReaders: [
    new PeriodicExportingMetricReader({
      exporter: metricExporter,
      exportIntervalMillis: HOUR,
      exportTimeoutMillis: timeoutMillis,
    }),
  ],
  views: [
    {
      instrumentName: 'http.server.request.duration',
      aggregation: {
        type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
        options: { boundaries: [0.1, 0.5, 1] },
      },
    },
  ],
});
sdk.start();

const tracer = trace.getTracer('e2e-tracer', '1.0.0');
const logger = logs.getLogger('e2e-logger', '1.0.0');
const meter = metrics.getMeter('e2e-meter', '1.0.0');

// --- Metrics -----------------------------------------------------------------------
// ValueType.INT so counters/gauges are exported as asInt (the JS default is
// DOUBLE); this matches what the Python SDK sends for integer adds.
const requests = meter.createCounter('http.server.requests', {
  unit: '{request}',
  description: 'Number of HTTP requests served',
  valueType: ValueType.INT,
});
requests.add(3, { 'http.route': '/users/:id' });
requests.add(2, { 'http.route': '/users/:id' });
requests.add(1, { 'http.route': '/health' });

const duration = meter.createHistogram('http.server.request.duration', {
  unit: 's',
  description: 'HTTP request duration',
});
for (const v of [0.05, 0.2, 0.7, 2.0]) duration.record(v, { 'http.route': '/users/:id' });

const queueSize = meter.createUpDownCounter('queue.size', {
  unit: '1',
  description: 'Items waiting in the queue',
  valueType: ValueType.INT,
});
queueSize.add(7);
queueSize.add(-2);

const memory = meter.createObservableGauge('process.memory.usage', {
  unit: 'By',
  description: 'Memory in use',
  valueType: ValueType.INT,
});
memory.addCallback((result) => result.observe(1048576));

// --- Traces + logs ---------------------------------------------------------------
const spanIds = {};
let traceId;

const root = tracer.startSpan('GET /users/:id', {
  kind: SpanKind.SERVER,
  attributes: {
    'http.request.method': 'GET',
    'http.route': '/users/:id',
    'http.response.status_code': 200, // int
    'sampling.ratio': 0.25, // double
    'cache.hit': true, // bool
    'user.roles': ['admin', 'dev'], // string array
  },
});
traceId = root.spanContext().traceId;
spanIds['GET /users/:id'] = root.spanContext().spanId;
const rootCtx = trace.setSpan(context.active(), root);

context.with(rootCtx, () => {
  root.addEvent('cache.lookup', { 'cache.key': 'user:42', attempt: 1 });

  // INFO log with the root span active -> carries trace_id/span_id of root.
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'user loaded',
    attributes: { 'user.id': 42 },
  });

  // Child CLIENT span that fails.
  const db = tracer.startSpan('SELECT users', {
    kind: SpanKind.CLIENT,
    attributes: { 'db.system.name': 'postgresql' },
  });
  spanIds['SELECT users'] = db.spanContext().spanId;
  context.with(trace.setSpan(context.active(), db), () => {
    // WARN log with "SELECT users" active.
    logger.emit({
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: 'slow query',
      attributes: { 'db.duration_ms': 12.5 },
    });
  });
  db.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
  db.end();

  // Child INTERNAL span linked to the DB span.
  const render = tracer.startSpan('render', {
    kind: SpanKind.INTERNAL,
    links: [{ context: db.spanContext(), attributes: { 'link.kind': 'follows' } }],
  });
  spanIds['render'] = render.spanContext().spanId;
  render.end();
});
root.end();

// ERROR log outside any span: explicitly use the root (empty) context.
context.with(trace.deleteSpan(context.active()), () => {
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'no trace context',
  });
});

// --- Flush exactly once, verify, report -------------------------------------------
async function main() {
  // NodeSDK.shutdown() shuts down all three providers; each batch processor
  // flushes its queue and the metric reader does its one collect+export.
  // (Calling forceFlush first would export metrics twice.)
  try {
    await sdk.shutdown();
  } catch (err) {
    failures.push(`shutdown failed: ${err?.stack ?? err}`);
  }

  const expect = { traces: 3, logs: 3, metrics: 4 };
  for (const [signal, n] of Object.entries(expect)) {
    if (exported[signal].items !== n) {
      failures.push(`expected ${n} ${signal} item(s) accepted, got ${exported[signal].items} in ${exported[signal].requests} request(s)`);
    }
  }

  if (failures.length > 0) {
    for (const f of failures) console.error(`send.mjs: FAILURE: ${f}`);
    process.exit(1);
  }

  const summary = { trace_id: traceId, spans: spanIds, service_name: serviceName };
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

main().catch((err) => {
  console.error('send.mjs: unexpected error:', err);
  process.exit(1);
});
