// An instrumented Express service of the e2e system (see system.mjs): the real
// OpenTelemetry Node SDK with the http, express and pg auto-instrumentations,
// exporting OTLP/HTTP protobuf to Vispyr.
//
//   node system-service.mjs frontend   (service.name "frontend")
//     GET /checkout/:id  inventory GET /stock/:id, then legacy GET /price/:id -> 200
//     GET /health        -> 200, no downstream call
//     GET /fail          inventory GET /stock/999 (answers 404) -> 500
//   node system-service.mjs inventory  (service.name "inventory")
//     GET /stock/:id     SELECT from PostgreSQL through a pg Pool -> 200, or 404
//                        when the id is not in the table
//
// Every frontend answer carries the trace id in `x-trace-id`, so the driver,
// which has no SDK, knows which trace each request made.
//
// Started by system.mjs with child_process.fork; environment:
//   OTLP_ENDPOINT   base URL of the OTLP/HTTP receiver (required)
//   OTLP_TIMEOUT_MS per-export timeout (default 10000)
//   INVENTORY_URL, LEGACY_URL   (frontend) base URLs of the services it calls
//   PG_HOST, PG_PORT, PG_DATABASE, PG_USER   (inventory) where PostgreSQL is
//   E2E_DEBUG=1     SDK diagnostics at DEBUG level on stderr
// It listens on 127.0.0.1 on a free port and reports {"ready": port} over IPC.
// On {"shutdown": true} it waits for spans still open (a response just sent
// ends its server span a moment later), shuts the SDK down (one export with
// every span: a batch processor with a 1 h delay), and reports
// {"stopped": true, "spans": {"ended", "exported"}, "failures": [...]}.

// --- Determinism: ignore any ambient OTEL_* configuration. -----------------
for (const key of Object.keys(process.env)) {
  if (key.startsWith('OTEL_')) delete process.env[key];
}

import { createRequire } from 'node:module';

import { diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';

const role = process.argv[2];
if (role !== 'frontend' && role !== 'inventory') {
  console.error(`system-service.mjs: unknown role ${JSON.stringify(role)}`);
  process.exit(2);
}
const endpoint = (process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4318').replace(/\/+$/, '');
const timeoutMillis = Number(process.env.OTLP_TIMEOUT_MS || 10000);

// --- Failure detection (as in send.mjs) ----------------------------------------
const failures = [];
diag.setLogger(
  {
    error: (msg, ...args) => {
      console.error(`[${role} otel error]`, msg, ...args);
      failures.push(`diag error: ${msg}`);
    },
    warn: (msg, ...args) => {
      console.error(`[${role} otel warn]`, msg, ...args);
      if (String(msg).includes('Partial Success')) failures.push(`partial success: ${args[0]}`);
    },
    info: (msg, ...args) => console.error(`[${role} otel info]`, msg, ...args),
    debug: (msg, ...args) => console.error(`[${role} otel debug]`, msg, ...args),
    verbose: (msg, ...args) => console.error(`[${role} otel verbose]`, msg, ...args),
  },
  process.env.E2E_DEBUG ? DiagLogLevel.DEBUG : DiagLogLevel.WARN,
);

const spans = { started: 0, ended: 0, exported: 0 };
const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core
const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, timeoutMillis });
const originalExport = exporter.export.bind(exporter);
exporter.export = (items, resultCallback) => {
  originalExport(items, (result) => {
    if (result.code === EXPORT_SUCCESS) {
      spans.exported += items.length;
    } else {
      failures.push(`trace export failed: ${result.error?.message ?? result.error ?? 'unknown error'}`);
    }
    resultCallback(result);
  });
};

// Counts spans so shutdown can wait for open ones and check all were exported.
const countingProcessor = {
  onStart: () => {
    spans.started += 1;
  },
  onEnd: () => {
    spans.ended += 1;
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};

// --- SDK -------------------------------------------------------------------------
// No resource detectors: the resource is exactly service.name/version,
// deployment.environment.name and the SDK's telemetry.sdk.* attributes.
// The default propagator (W3C trace context) carries the trace to inventory.
const HOUR = 3_600_000;
const sdk = new NodeSDK({
  autoDetectResources: false,
  resource: defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: role,
      [ATTR_SERVICE_VERSION]: '1.0.0',
      'deployment.environment.name': 'e2e',
    }),
  ),
  sampler: new AlwaysOnSampler(),
  spanProcessors: [
    countingProcessor,
    new BatchSpanProcessor(exporter, {
      scheduledDelayMillis: HOUR,
      maxQueueSize: 10_000,
      maxExportBatchSize: 10_000,
      exportTimeoutMillis: timeoutMillis,
    }),
  ],
  metricReaders: [],
  instrumentations: [
    new HttpInstrumentation(),
    new ExpressInstrumentation(),
    // Queries outside a request (the pool's warm-up) make no spans.
    new PgInstrumentation({ requireParentSpan: true }),
  ],
});
sdk.start();

// CommonJS modules loaded only now, after sdk.start() installed the require
// hook, so the instrumentations patch them (static imports are hoisted).
const require = createRequire(import.meta.url);
const http = require('http');
const express = require('express');

function traceIdHeader(res) {
  const active = trace.getActiveSpan();
  if (active) res.set('x-trace-id', active.spanContext().traceId);
}

/** GET `url` with node:http (instrumented: a CLIENT span); resolves {status, body}. */
function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

async function frontendApp() {
  const inventoryUrl = process.env.INVENTORY_URL;
  const legacyUrl = process.env.LEGACY_URL;
  const app = express();
  app.get('/checkout/:id', async (req, res) => {
    traceIdHeader(res);
    const stock = await getJson(`${inventoryUrl}/stock/${req.params.id}`);
    const price = await getJson(`${legacyUrl}/price/${req.params.id}`);
    res.json({ item: stock.body, price: price.body.price });
  });
  app.get('/health', (req, res) => {
    traceIdHeader(res);
    res.json({ status: 'ok' });
  });
  app.get('/fail', async (req, res) => {
    traceIdHeader(res);
    const stock = await getJson(`${inventoryUrl}/stock/999`);
    res.status(500).json({ error: `inventory answered ${stock.status}` });
  });
  return app;
}

async function inventoryApp() {
  const pg = require('pg');
  // One connection, opened now and kept: every request then makes exactly a
  // pg-pool.connect span and a pg.query span, never a pg.connect.
  const pool = new pg.Pool({
    host: process.env.PG_HOST,
    port: Number(process.env.PG_PORT),
    database: process.env.PG_DATABASE,
    user: process.env.PG_USER,
    max: 1,
    idleTimeoutMillis: 0,
  });
  await pool.query('SELECT 1');
  const app = express();
  app.get('/stock/:id', async (req, res) => {
    const { rows } = await pool.query('SELECT id, name, quantity FROM stock WHERE id = $1', [
      Number(req.params.id),
    ]);
    if (rows.length === 0) {
      res.status(404).json({ error: 'unknown item' });
      return;
    }
    res.json(rows[0]);
  });
  return { app, close: () => pool.end() };
}

async function main() {
  let app;
  let close = async () => {};
  if (role === 'frontend') {
    app = await frontendApp();
  } else {
    ({ app, close } = await inventoryApp());
  }
  const server = app.listen(0, '127.0.0.1', () => {
    process.send({ ready: server.address().port });
  });

  process.on('message', async (message) => {
    if (!message?.shutdown) return;
    const deadline = Date.now() + 5000;
    while (spans.started !== spans.ended && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (spans.started !== spans.ended) {
      failures.push(`${spans.started - spans.ended} span(s) still open at shutdown`);
    }
    server.close();
    await close();
    try {
      await sdk.shutdown();
    } catch (err) {
      failures.push(`shutdown failed: ${err?.stack ?? err}`);
    }
    if (spans.exported !== spans.ended) {
      failures.push(`${spans.ended} span(s) ended but ${spans.exported} exported`);
    }
    process.send(
      { stopped: true, spans: { ended: spans.ended, exported: spans.exported }, failures },
      () => process.exit(0),
    );
  });
}

main().catch((err) => {
  console.error(`system-service.mjs ${role}: ${err?.stack ?? err}`);
  process.exit(1);
});
