// The ESM twin of init-app.cjs for the end-to-end test of `vispyr init node`
// (crates/vispyr/tests/init_e2e.rs): Express and pino come in through `import`,
// which only the ESM loader hook that the generated instrumentation registers
// under `node --import` can patch.
//
//   node --import <dir>/instrumentation.js tests/e2e/node/init-app-esm.mjs
//
// GET /esm/:n logs one pino line; the app calls itself REQUESTS times (default 2)
// with fetch, prints ONE line of JSON and waits for SIGTERM:
//
//   {"requests": [{"n": 1, "status": 200, "trace_id": "<32 hex>"}, ...]}

import { trace } from '@opentelemetry/api';
import express from 'express';
import pino from 'pino';

const REQUESTS = Number(process.env.REQUESTS || 2);
const logger = pino({ level: 'info' }, pino.destination(2));
const app = express();

app.get('/esm/:n', (req, res) => {
  logger.info({ n: Number(req.params.n) }, 'esm working');
  res.json({ trace_id: trace.getActiveSpan()?.spanContext().traceId });
});

const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const requests = [];
  for (let n = 1; n <= REQUESTS; n += 1) {
    const response = await fetch(`http://127.0.0.1:${port}/esm/${n}`);
    const body = await response.json();
    requests.push({ n, status: response.status, trace_id: body.trace_id });
  }
  process.stdout.write(`${JSON.stringify({ requests })}\n`);
});
