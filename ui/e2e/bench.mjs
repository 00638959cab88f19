// UI benchmarks (BENCHMARKS.md), in headless Chromium against a running
// server that has data (see BENCHMARKS.md for how it is filled):
//   1. first load: compressed JavaScript transferred for `/`;
//   2. the Overview of a service fully rendered (every panel with data);
//   3. a 50,000-node flamegraph: layout + paint of the canvas, with the
//      flamegraph API answered by a synthetic tree (page.route).
//
//   VISPYR_URL=http://127.0.0.1:4040 BENCH_SERVICE=frontend node e2e/bench.mjs
import { launch, url } from './harness.mjs';

const service = process.env.BENCH_SERVICE ?? 'frontend';
const runs = Number(process.env.BENCH_RUNS ?? 5);

/** A deterministic random tree of exactly `count` nodes. */
function syntheticTree(count) {
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const root = { name: 'total', self: 0, total: 0, children: [] };
  const nodes = [root];
  for (let i = 1; i < count; i++) {
    // Prefer recent nodes as parents: deep stacks like real profiles.
    const parent = nodes[Math.max(0, nodes.length - 1 - Math.floor(random() * Math.min(nodes.length, 64)))];
    const node = { name: `module${i % 97}/file${i % 389}.js:function_${i}`, self: 1 + Math.floor(random() * 1000), total: 0, children: [] };
    parent.children.push(node);
    nodes.push(node);
  }
  const fill = (node) => {
    node.total = node.self + node.children.reduce((sum, child) => sum + fill(child), 0);
    return node.total;
  };
  fill(root);
  return root;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const browser = await launch();
const results = {};
try {
  // 1. First load.
  {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url(`/?service=${encodeURIComponent(service)}`), { waitUntil: 'networkidle' });
    const js = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((entry) => entry.name.endsWith('.js'))
        .map((entry) => ({ name: entry.name.split('/').pop(), transfer: entry.transferSize, encoded: entry.encodedBodySize })),
    );
    results.first_load_js_kb = Math.round(js.reduce((sum, entry) => sum + entry.encoded, 0) / 102.4) / 10;
    results.first_load_js_files = js.length;
    await page.close();
  }

  // 2. Overview fully rendered.
  {
    const times = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const started = Date.now();
      await page.goto(url(`/?service=${encodeURIComponent(service)}`));
      for (const panel of ['request-rate', 'error-rate', 'latency-p50', 'latency-p99', 'host-cpu', 'host-memory']) {
        await page.waitForSelector(`[data-testid="overview-${panel}"] [data-testid="chart"]:not([data-series="0"]) canvas`, { timeout: 30_000 });
      }
      await page.waitForSelector('[data-testid="overview-traces"] [data-testid="trace-row"]', { timeout: 30_000 });
      await page.waitForSelector('[data-testid="overview-flamegraph"] [data-testid="flamegraph-canvas"][data-render-ms]', { timeout: 30_000 });
      times.push(Date.now() - started);
      await context.close();
    }
    results.overview_rendered_ms = { median: median(times), runs: times };
  }

  // 3. 50,000-node flamegraph.
  {
    const tree = syntheticTree(50_000);
    const body = JSON.stringify({
      profile_type: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
      from: 0,
      until: 0,
      approximate: false,
      note: null,
      missing_stacks: 0,
      flamegraph: { summary: { total: tree.total, node_count: 50_000, pruned_value: 0 }, tags: [], root: tree },
    });
    const times = [];
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.route('**/api/v1/profiles/flamegraph**', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body }),
      );
      const query = `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="bench"}`;
      await page.goto(url(`/profiles?query=${encodeURIComponent(query)}&view=flamegraph`));
      const canvas = await page.waitForSelector('[data-testid="flamegraph-canvas"][data-render-ms]', { timeout: 30_000 });
      times.push({
        render: Number(await canvas.getAttribute('data-render-ms')),
        layout: Number(await canvas.getAttribute('data-layout-ms')),
        paint: Number(await canvas.getAttribute('data-paint-ms')),
      });
      await page.close();
    }
    results.flamegraph_50k_ms = {
      median_render: median(times.map((t) => t.render)),
      median_layout: median(times.map((t) => t.layout)),
      median_paint: median(times.map((t) => t.paint)),
      runs: times.map((t) => t.render),
    };
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results, null, 2));
