// Deterministic profiling workload for Vispyr's end-to-end tests.
//
// Runs the real Pyroscope Node.js SDK (@pyroscope/nodejs, wall + heap
// profilers) against a Pyroscope-compatible server, with a known CPU-hot
// function (`burnCpuHot`, ~75% of the time, under the dynamic label
// route=/hot) and a known light function (`lightWork`, the rest, which also
// allocates and retains memory so it shows up in the heap profile). Then it
// stops the profiler (which uploads the last wall profile), prints ONE line of
// JSON to stdout describing what it did, and exits 0. Everything else goes to
// stderr.
//
// What the SDK sends (see crates/receivers/testdata/pyroscope/README.md):
//   POST ${VISPYR_PYROSCOPE_URL}/ingest?format=pprof&from=..&name=APP{tags}&spyName=nodespy&until=..[&sampleRate=..]
//   body: gzipped pprof, Content-Type: application/octet-stream
//   one request per profiler (wall, heap) per flush interval.
//
// Environment:
//   VISPYR_PYROSCOPE_URL  server address, e.g. http://127.0.0.1:4040 (default)
//   APP_NAME              application name (default "node-profile-e2e")
//   DURATION_MS           total workload time (default 12000)
//   FLUSH_INTERVAL_MS     upload interval of the SDK (default 1000; SDK default 60000)
//   HOT_RATIO             fraction of each slice spent in burnCpuHot (default 0.75)
//   SLICE_MS              length of one hot+light slice (default 20; the event loop
//                         runs between slices, and the SDK drops a profile when the
//                         previous upload has not finished by the next flush)
//   COLLECT_CPU_TIME      "1" to add the cpu/nanoseconds sample type to the wall
//                         profile (wall.collectCpuTime; default "0")
//   PYROSCOPE_AUTH_TOKEN / E2E_BASIC_AUTH_USER+E2E_BASIC_AUTH_PASSWORD / E2E_TENANT_ID
//                         optional auth (Authorization: Bearer|Basic, X-Scope-OrgID)
//   E2E_DEBUG=1           SDK debug logging (stderr)
//
// Exit code: 0 when the workload ran and the profiler stopped cleanly. Upload
// failures are only logged by the SDK (it never reports them to the caller),
// so the test must check what the server received.

// --- Determinism: ignore ambient PYROSCOPE_* configuration. -------------------
// getEnv() is read inside init(); PYROSCOPE_ADHOC_SERVER_ADDRESS would even
// override serverAddress. Keep PYROSCOPE_AUTH_TOKEN (documented above).
for (const key of Object.keys(process.env)) {
  if (key.startsWith('PYROSCOPE_') && key !== 'PYROSCOPE_AUTH_TOKEN') delete process.env[key];
}
if (process.env.E2E_DEBUG === '1') {
  process.env.DEBUG = 'pyroscope*';
}

const { default: Pyroscope } = await import('@pyroscope/nodejs');

const serverAddress = (process.env.VISPYR_PYROSCOPE_URL || 'http://127.0.0.1:4040').replace(/\/+$/, '');
const appName = process.env.APP_NAME || 'node-profile-e2e';
const durationMs = intEnv('DURATION_MS', 12000);
const flushIntervalMs = intEnv('FLUSH_INTERVAL_MS', 1000);
const sliceMs = intEnv('SLICE_MS', 20);
const hotRatio = Number(process.env.HOT_RATIO || '0.75');
const collectCpuTime = process.env.COLLECT_CPU_TIME === '1' || process.env.COLLECT_CPU_TIME === 'true';
const tags = { region: 'eu-north', env: 'e2e' };
const hotLabels = { route: '/hot' };

function intEnv(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const config = {
  appName,
  serverAddress,
  flushIntervalMs,
  tags,
  wall: {
    // SDK defaults, spelled out: 100 Hz sampling (10 ms). samplingDurationMs is
    // also what 0.6.x (wrongly) uses to compute the `sampleRate` query param:
    // sampleRate = ceil(1e6 / samplingDurationMs) = 17 for 60000.
    samplingIntervalMicros: 10000,
    samplingDurationMs: 60000,
    collectCpuTime,
  },
  heap: {
    // Sample every 32 KiB allocated (SDK default 512 KiB) so the short run
    // yields heap samples.
    samplingIntervalBytes: 32 * 1024,
    stackDepth: 64,
  },
};
if (process.env.PYROSCOPE_AUTH_TOKEN) config.authToken = process.env.PYROSCOPE_AUTH_TOKEN;
if (process.env.E2E_BASIC_AUTH_USER) {
  config.basicAuthUser = process.env.E2E_BASIC_AUTH_USER;
  config.basicAuthPassword = process.env.E2E_BASIC_AUTH_PASSWORD || '';
}
if (process.env.E2E_TENANT_ID) config.tenantID = process.env.E2E_TENANT_ID;

// --- Workload -----------------------------------------------------------------
// Retained allocations (a bounded ring) so the heap profile's in-use samples
// point at lightWork.
const retained = new Array(64).fill(null);
let retainedIdx = 0;
let hotChecksum = 0;
let lightChecksum = 0;
const counts = { burnCpuHot: 0, lightWork: 0 };

// The CPU-hot function: a busy loop for `ms` milliseconds.
function burnCpuHot(ms) {
  const end = performance.now() + ms;
  let x = hotChecksum || 1;
  while (performance.now() < end) {
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x ^ (x >>> 15), 2246822519) + i) | 0;
    }
  }
  hotChecksum = x;
  counts.burnCpuHot++;
}

// The light function: a little math plus one retained allocation per call.
function lightWork(ms) {
  const end = performance.now() + ms;
  const chunk = new Array(256);
  for (let i = 0; i < chunk.length; i++) chunk[i] = { i, v: i * 0.5 };
  retained[retainedIdx] = chunk;
  retainedIdx = (retainedIdx + 1) % retained.length;
  let s = 0;
  while (performance.now() < end) {
    for (let i = 1; i < 500; i++) s += Math.sqrt(i) / i;
  }
  lightChecksum += s;
  counts.lightWork++;
}

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

Pyroscope.init(config);
Pyroscope.start();
const startedAt = Date.now();

const hotMs = Math.max(1, Math.round(sliceMs * hotRatio));
const lightMs = Math.max(1, sliceMs - hotMs);
while (Date.now() - startedAt < durationMs) {
  Pyroscope.wrapWithLabels(hotLabels, () => burnCpuHot(hotMs));
  lightWork(lightMs);
  // Let the SDK's flush timer and upload run.
  await yieldToEventLoop();
}
const workEndedAt = Date.now();

await Pyroscope.stop();
const stoppedAt = Date.now();

process.stdout.write(
  JSON.stringify({
    app_name: appName,
    server_address: serverAddress,
    tags,
    dynamic_labels: hotLabels,
    hot_function: 'burnCpuHot',
    light_function: 'lightWork',
    flush_interval_ms: flushIntervalMs,
    collect_cpu_time: collectCpuTime,
    started_at_ms: startedAt,
    work_ended_at_ms: workEndedAt,
    stopped_at_ms: stoppedAt,
    iterations: counts,
    checksum: (hotChecksum >>> 0) + Math.round(lightChecksum) % 1000,
  }) + '\n',
);
