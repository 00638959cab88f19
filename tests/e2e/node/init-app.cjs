// A tiny Express app for the end-to-end test of `vispyr init node`
// (crates/vispyr/tests/init_e2e.rs). It has no telemetry code of its own: the test
// starts it with the generated instrumentation,
//
//   node --require <dir>/instrumentation.js tests/e2e/node/init-app.cjs
//
// GET /work/:n logs one pino line inside the request and burns CPU for BURN_MS.
// Once listening, the app calls itself REQUESTS times (one at a time, over
// node:http, so the client spans carry the trace context to the server), prints
// ONE line of JSON to stdout and waits for SIGTERM, which the instrumentation
// turns into a flush of every exporter and exit code 0:
//
//   {"port": 12345, "requests": [{"n": 1, "status": 200, "trace_id": "<32 hex>"}, ...]}
//
// Environment: REQUESTS (default 5), BURN_MS (default 600).

'use strict';

const http = require('node:http');
const { trace } = require('@opentelemetry/api');
const express = require('express');
const pino = require('pino');

const REQUESTS = Number(process.env.REQUESTS || 5);
const BURN_MS = Number(process.env.BURN_MS || 600);

const logger = pino({ level: 'info' }, pino.destination(2));
const app = express();

app.get('/work/:n', (req, res) => {
  logger.info({ n: Number(req.params.n) }, 'working');
  const checksum = burnCpu(BURN_MS);
  const traceId = trace.getActiveSpan()?.spanContext().traceId;
  res.json({ n: Number(req.params.n), checksum, trace_id: traceId });
});

/** Busy work the wall profiler sees on the stack. */
function burnCpu(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 10000; i += 1) x = (x * 31 + i) % 1000003;
  }
  return x;
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(body) }));
      })
      .on('error', reject);
  });
}

const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const requests = [];
  for (let n = 1; n <= REQUESTS; n += 1) {
    const { status, body } = await get(port, `/work/${n}`);
    requests.push({ n, status, trace_id: body.trace_id });
  }
  process.stdout.write(`${JSON.stringify({ port, requests })}\n`);
});
