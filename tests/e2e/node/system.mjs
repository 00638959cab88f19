// A small instrumented system driven by a fixed request script, for Vispyr's
// end-to-end test of span metrics, the service graph, search, TraceQL and the
// Tempo API (crates/vispyr/tests/system_e2e.rs).
//
//   driver (this script, no SDK)
//     │ 5× GET /checkout/1..5, 3× GET /health, 2× GET /fail, one at a time
//     ▼
//   frontend (Express, instrumented) ──► inventory (Express, instrumented) ──► PostgreSQL (pg)
//     │ /checkout also calls
//     ▼
//   legacy (plain node:http, no SDK; answers after 300 ms)
//
// The driver creates database `shop` with table `stock` (ids 1..5) through
// pg — without an SDK, so this makes no spans — then forks
// system-legacy.mjs and system-service.mjs (inventory, frontend), sends the
// script, shuts the services down (each exports all its spans in one request)
// and prints ONE line of JSON to stdout:
//
//   {"requests": [{"path": "/checkout/1", "status": 200, "trace_id": "<32 hex>"}, ...],
//    "spans": {"frontend": <exported>, "inventory": <exported>}}
//
// `requests` is in script order. Everything else goes to stderr.
//
// Environment:
//   OTLP_ENDPOINT   base URL of Vispyr's OTLP/HTTP receiver (required)
//   PG_PORT         PostgreSQL port (required); PG_HOST (default 127.0.0.1),
//                   PG_USER (default postgres, trust authentication)
//   PRICE_DELAY_MS  legacy's delay (default 300)
//   E2E_DEBUG=1     SDK diagnostics at DEBUG level on stderr
//
// Exit code 0 only if every request got its expected status and every span
// ended in the services was accepted by the server.

import { fork } from 'node:child_process';
import { createRequire } from 'node:module';

// Determinism: pg reads PG* variables as defaults (password, SSL mode, ...).
for (const key of Object.keys(process.env)) {
  if (key.startsWith('PG') && key !== 'PG_PORT' && key !== 'PG_HOST' && key !== 'PG_USER') {
    delete process.env[key];
  }
}

const require = createRequire(import.meta.url);
const pg = require('pg');

const endpoint = process.env.OTLP_ENDPOINT;
const pgPort = process.env.PG_PORT;
if (!endpoint || !pgPort) {
  console.error('system.mjs: OTLP_ENDPOINT and PG_PORT are required');
  process.exit(2);
}
const pgHost = process.env.PG_HOST || '127.0.0.1';
const pgUser = process.env.PG_USER || 'postgres';
const DATABASE = 'shop';

const watchdog = setTimeout(() => {
  console.error('system.mjs: timed out');
  process.exit(3);
}, 60_000);
watchdog.unref();

/** The fixed request script: path and the status the system must answer. */
const SCRIPT = [
  ...[1, 2, 3, 4, 5].map((id) => ({ path: `/checkout/${id}`, status: 200 })),
  ...[1, 2, 3].map(() => ({ path: '/health', status: 200 })),
  ...[1, 2].map(() => ({ path: '/fail', status: 500 })),
];

async function setUpDatabase() {
  const admin = new pg.Client({ host: pgHost, port: Number(pgPort), user: pgUser, database: 'postgres' });
  await admin.connect();
  const existing = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
  if (existing.rows.length === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const shop = new pg.Client({ host: pgHost, port: Number(pgPort), user: pgUser, database: DATABASE });
  await shop.connect();
  await shop.query('CREATE TABLE IF NOT EXISTS stock (id integer PRIMARY KEY, name text NOT NULL, quantity integer NOT NULL)');
  await shop.query(
    `INSERT INTO stock VALUES (1, 'anvil', 3), (2, 'rope', 12), (3, 'lamp', 0), (4, 'map', 7), (5, 'tent', 1)
     ON CONFLICT (id) DO NOTHING`,
  );
  await shop.end();
}

/** Forks a service; resolves {child, port} once it reports ready. */
function start(script, args, env) {
  const url = new URL(script, import.meta.url);
  const child = fork(url, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: message.ready }));
    child.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
}

/** Asks a service to flush and exit; resolves its report. */
function stop(name, child) {
  return new Promise((resolve, reject) => {
    let report;
    child.on('message', (message) => {
      if (message.stopped) report = message;
    });
    child.once('exit', (code) => {
      if (code === 0 && report) resolve(report);
      else reject(new Error(`${name} exited with ${code} without a report`));
    });
    child.send({ shutdown: true });
  });
}

async function main() {
  await setUpDatabase();
  const common = { OTLP_ENDPOINT: endpoint };
  const legacy = await start('./system-legacy.mjs', [], common);
  const inventory = await start('./system-service.mjs', ['inventory'], {
    ...common,
    PG_HOST: pgHost,
    PG_PORT: pgPort,
    PG_USER: pgUser,
    PG_DATABASE: DATABASE,
  });
  // legacy is called as "localhost" and PostgreSQL as "127.0.0.1": two hosts
  // as far as the client spans' server.address goes, so two virtual nodes.
  const frontend = await start('./system-service.mjs', ['frontend'], {
    ...common,
    INVENTORY_URL: `http://127.0.0.1:${inventory.port}`,
    LEGACY_URL: `http://localhost:${legacy.port}`,
  });

  const failures = [];
  const requests = [];
  for (const step of SCRIPT) {
    const response = await fetch(`http://127.0.0.1:${frontend.port}${step.path}`);
    await response.arrayBuffer();
    const traceId = response.headers.get('x-trace-id');
    requests.push({ path: step.path, status: response.status, trace_id: traceId });
    if (response.status !== step.status) {
      failures.push(`${step.path}: status ${response.status}, expected ${step.status}`);
    }
    if (!/^[0-9a-f]{32}$/.test(traceId ?? '')) failures.push(`${step.path}: no x-trace-id`);
  }

  const reports = await Promise.all([
    stop('frontend', frontend.child),
    stop('inventory', inventory.child),
    stop('legacy', legacy.child),
  ]);
  const [frontendReport, inventoryReport] = reports;
  for (const [name, report] of [
    ['frontend', frontendReport],
    ['inventory', inventoryReport],
  ]) {
    for (const failure of report.failures) failures.push(`${name}: ${failure}`);
  }

  if (failures.length > 0) {
    for (const failure of failures) console.error(`system.mjs: FAILURE: ${failure}`);
    process.exit(1);
  }
  const summary = {
    requests,
    spans: { frontend: frontendReport.spans.exported, inventory: inventoryReport.spans.exported },
  };
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

main().catch((err) => {
  console.error('system.mjs: unexpected error:', err?.stack ?? err);
  process.exit(1);
});
