// The uninstrumented service of the e2e system (see system.mjs): a plain
// node:http server with no OpenTelemetry at all, so traces only see it as the
// far end of `frontend`'s client spans (a virtual node in the service graph).
//
//   GET /price/:id  -> 200 {"id", "price"} after a fixed PRICE_DELAY_MS (300 ms),
//                      which gives every /checkout a known minimum duration
//   anything else   -> 404
//
// Started by system.mjs with child_process.fork: it listens on 127.0.0.1 on a
// free port, reports {"ready": port} over IPC and exits on {"shutdown": true}.

import http from 'node:http';

const PRICE_DELAY_MS = Number(process.env.PRICE_DELAY_MS || 300);

const server = http.createServer((req, res) => {
  const match = /^\/price\/(\d+)$/.exec(req.url);
  if (req.method !== 'GET' || !match) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
    return;
  }
  setTimeout(() => {
    const id = Number(match[1]);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id, price: 100 + id }));
  }, PRICE_DELAY_MS);
});

server.listen(0, '127.0.0.1', () => {
  process.send({ ready: server.address().port });
});

process.on('message', (message) => {
  if (message?.shutdown) {
    server.close();
    process.send({ stopped: true, spans: { ended: 0, exported: 0 } }, () => process.exit(0));
  }
});
