// Deterministic pino -> OpenTelemetry logs client for Vispyr's end-to-end tests.
//
// A real application logger (pino) instrumented by the real
// @opentelemetry/instrumentation-pino, inside the real OpenTelemetry JS SDK:
// one trace with a root span and a child span, one pino log line in each, and
// one line outside any span. The instrumentation does two things with every
// line: it injects trace_id/span_id/trace_flags into pino's own JSON output
// ("log correlation", checked here) and forwards the record to the OTel Logs
// SDK ("log sending"), which exports it over OTLP/HTTP protobuf next to the
// spans. The Rust test then checks that Vispyr joins the two.
//
// Prints ONE line of JSON to stdout:
//   {"trace_id": "<32 hex>", "spans": {"root": "<16 hex>", "child": "<16 hex>"},
//    "service_name": "...",
//    "logs": [{"body": "...", "span": "root" | "child" | null, "level": "info" | "warn" | "error"}]}
// `logs` is in emission order; `level` is pino's level label. Pino's own JSON
// lines and everything else go to stderr.
//
// Environment:
//   OTLP_ENDPOINT    base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:43180
//                    (the exporters post protobuf to ${OTLP_ENDPOINT}/v1/{traces,logs})
//   SERVICE_NAME     service.name resource attribute. Default "node-pino-e2e".
//   OTLP_TIMEOUT_MS  per-export timeout (default 10000).
//   E2E_DEBUG=1      turn the SDK's diagnostic logger up to DEBUG (stderr).
//
// Exit code: 0 only if both exports succeeded, the server accepted exactly 2
// spans and 3 log records, and pino's own output carried the expected trace
// context; non-zero otherwise.

// --- Determinism: ignore any ambient OTEL_* configuration. -----------------
// The SDK reads OTEL_* variables when components are *constructed*, which
// happens below, after this runs; ESM imports only load the modules.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('OTEL_')) delete process.env[key];
}

import { createRequire } from 'node:module';

import { diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';

// --- Configuration ------------------------------------------------------------
const endpoint = (process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4318').replace(/\/+$/, '');
const serviceName = process.env.SERVICE_NAME || 'node-pino-e2e';
const timeoutMillis = Number(process.env.OTLP_TIMEOUT_MS || 10000);

// Hard deadline so a hung export can never hang the calling test.
const watchdog = setTimeout(() => {
  console.error('logs.mjs: timed out waiting for exports');
  process.exit(3);
}, timeoutMillis * 3 + 5000);
watchdog.unref();

// --- Failure detection ----------------------------------------------------------
// Same approach as send.mjs: the SDK never throws on export failure, so watch
// the diag logger and every exporter result.
const failures = [];
const exported = {
  traces: { requests: 0, items: 0 },
  logs: { requests: 0, items: 0 },
};

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
          rejected = Number(ps.rejectedSpans ?? ps.rejectedLogRecords ?? 0);
        } catch {
          /* unparsable: treat as a rejection */
        }
        if (rejected > 0) failures.push(`partial success rejected ${rejected} item(s): ${args[0]}`);
      }
      // The pino instrumentation reports a line it could not forward this way.
      if (String(msg).includes('could not send pino log line')) failures.push(`pino: ${msg}`);
    },
    info: (msg, ...args) => console.error('[otel info]', msg, ...args),
    debug: (msg, ...args) => console.error('[otel debug]', msg, ...args),
    verbose: (msg, ...args) => console.error('[otel verbose]', msg, ...args),
  },
  process.env.E2E_DEBUG ? DiagLogLevel.DEBUG : DiagLogLevel.WARN,
);

const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core
function tracked(signal, exporter) {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, resultCallback) => {
    const n = items.length;
    original(items, (result) => {
      exported[signal].requests += 1;
      if (result.code === EXPORT_SUCCESS) {
        exported[signal].items += n;
        console.error(`logs.mjs: exported ${n} ${signal} item(s) OK`);
      } else {
        failures.push(`${signal} export failed: ${result.error?.message ?? result.error ?? 'unknown error'}`);
      }
      resultCallback(result);
    });
  };
  return exporter;
}

const exporterOptions = (signal) => ({ url: `${endpoint}/v1/${signal}`, timeoutMillis });
const traceExporter = tracked('traces', new OTLPTraceExporter(exporterOptions('traces')));
const logExporter = tracked('logs', new OTLPLogExporter(exporterOptions('logs')));

// --- SDK ---------------------------------------------------------------------------
// Batch processors with a 1 h delay: nothing leaves before shutdown, so each
// signal goes out in exactly one request.
const HOUR = 3_600_000;
const sdk = new NodeSDK({
  autoDetectResources: false,
  resource: defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      [ATTR_SERVICE_VERSION]: '1.2.3',
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
  // An explicit empty list: without it NodeSDK builds a default OTLP metric
  // exporter aimed at localhost:4318.
  metricReaders: [],
  instrumentations: [new PinoInstrumentation()],
});
sdk.start();

// pino is CommonJS: require it only now, after sdk.start() installed the
// require hook, so the instrumentation patches it. (A static `import` would be
// hoisted above sdk.start() and load the unpatched module.)
const require = createRequire(import.meta.url);
const pino = require('pino');

// pino's own JSON lines: kept to check log correlation, echoed to stderr.
// A plain { write } object is a valid synchronous pino destination.
const pinoLines = [];
const destination = {
  write(line) {
    pinoLines.push(JSON.parse(line));
    process.stderr.write(line);
  },
};
const logger = pino({ level: 'info' }, destination);

// --- Trace + logs ------------------------------------------------------------------
const tracer = trace.getTracer('e2e-tracer', '1.0.0');
const spanIds = {};
const sentLogs = [];
let traceId;

tracer.startActiveSpan('checkout', (root) => {
  traceId = root.spanContext().traceId;
  spanIds.root = root.spanContext().spanId;
  logger.info('checkout started');
  sentLogs.push({ body: 'checkout started', span: 'root', level: 'info' });

  tracer.startActiveSpan('charge card', (child) => {
    spanIds.child = child.spanContext().spanId;
    // The object's fields travel as structured data next to the message.
    logger.warn({ orderId: 42 }, 'payment slow');
    sentLogs.push({ body: 'payment slow', span: 'child', level: 'warn' });
    child.end();
  });
  root.end();
});

// Outside any span: no trace context.
logger.error('inventory sync failed');
sentLogs.push({ body: 'inventory sync failed', span: null, level: 'error' });

// Log correlation: pino's own output must carry the active span's ids.
if (pinoLines.length !== sentLogs.length) {
  failures.push(`pino wrote ${pinoLines.length} line(s), expected ${sentLogs.length}`);
}
sentLogs.forEach((sent, i) => {
  const line = pinoLines[i] ?? {};
  const wantSpan = sent.span === null ? undefined : spanIds[sent.span];
  const wantTrace = sent.span === null ? undefined : traceId;
  if (line.msg !== sent.body || line.trace_id !== wantTrace || line.span_id !== wantSpan) {
    failures.push(`pino line ${i} lacks the expected trace context: ${JSON.stringify(line)}`);
  }
});

// --- Flush exactly once, verify, report -------------------------------------------
async function main() {
  // Shuts down both providers; each batch processor flushes its queue once.
  try {
    await sdk.shutdown();
  } catch (err) {
    failures.push(`shutdown failed: ${err?.stack ?? err}`);
  }

  const expect = { traces: 2, logs: sentLogs.length };
  for (const [signal, n] of Object.entries(expect)) {
    if (exported[signal].items !== n) {
      failures.push(`expected ${n} ${signal} item(s) accepted, got ${exported[signal].items} in ${exported[signal].requests} request(s)`);
    }
  }

  if (failures.length > 0) {
    for (const f of failures) console.error(`logs.mjs: FAILURE: ${f}`);
    process.exit(1);
  }

  const summary = { trace_id: traceId, spans: spanIds, service_name: serviceName, logs: sentLogs };
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

main().catch((err) => {
  console.error('logs.mjs: unexpected error:', err);
  process.exit(1);
});
