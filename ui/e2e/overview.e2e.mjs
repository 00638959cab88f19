// End-to-end checks of the Overview, Services, Metrics and SQL pages against
// the real system's span metrics, service graph and node_exporter series.
import { assert, check, screenshot, url, waitForCount } from './harness.mjs';

/** A chart inside `container` that has at least one series. */
function chartWithData(container) {
  return `[data-testid="${container}"] [data-testid="chart"]:not([data-series="0"]) canvas`;
}

export async function overviewChecks(page, expect) {
  await check('overview', async () => {
    // The last 5 minutes: steps of about a second, so the newest rates count.
    await page.goto(url('/?service=frontend&from=now-5m'));
    for (const panel of [
      'overview-request-rate',
      'overview-error-rate',
      'overview-latency-p50',
      'overview-latency-p99',
      'overview-host-cpu',
      'overview-host-memory',
    ]) {
      await waitForCount(page, chartWithData(panel), 1, panel);
    }
    await waitForCount(page, '[data-testid="overview-traces"] [data-testid="trace-row"]', 1, 'trace table');
    await waitForCount(page, '[data-testid="overview-trace-scatter"] canvas', 1, 'trace scatter');
    await waitForCount(page, '[data-testid="overview-flamegraph"] [data-testid="flamegraph-canvas"]', 1, 'flamegraph');
    await screenshot(page, 'overview');
  });

  await check('overview-zoom', async () => {
    // The data is minutes old: zoom within the last 5 minutes so every panel keeps data.
    await page.goto(url('/?service=frontend&from=now-5m'));
    await waitForCount(page, chartWithData('overview-request-rate'), 1, 'request rate');
    const over = page.locator('[data-testid="overview-request-rate"] .u-over').first();
    const box = await over.boundingBox();
    assert(box, 'the request rate chart has no plot area');
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 8 });
    await page.mouse.move(box.x + box.width * 0.99, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    await page.waitForURL((u) => /^\d+$/.test(new URL(u).searchParams.get('from') ?? ''), { timeout: 10_000 });
    const params = new URL(page.url()).searchParams;
    const from = Number(params.get('from'));
    const to = Number(params.get('to'));
    assert(to > from, `zoomed to an empty range ${from}..${to}`);
    // Every chart on the page follows the new range.
    const deadline = Date.now() + 15_000;
    let ranges = [];
    while (Date.now() < deadline) {
      ranges = await page.$$eval('[data-testid="chart"][data-from]', (charts) =>
        charts.map((c) => [Number(c.dataset.from), Number(c.dataset.to)]),
      );
      if (ranges.length >= 6 && ranges.every(([f, t]) => f === from && t === to)) break;
      await page.waitForTimeout(250);
    }
    assert(ranges.length >= 6, `only ${ranges.length} charts show a range`);
    const stale = ranges.filter(([f, t]) => f !== from || t !== to);
    assert(stale.length === 0, `charts still on another range: ${JSON.stringify(stale)} (want ${from}..${to})`);
  });

  await check('services', async () => {
    await page.goto(url('/services'));
    for (const service of expect.services) {
      await waitForCount(page, `[data-testid="service-row"][data-service="${service}"]`, 1, `service ${service}`);
    }
    const text = await page.textContent(`[data-testid="service-row"][data-service="frontend"]`);
    assert(/\d/.test(text), `no numbers in frontend's row: ${text}`);
  });

  await check('service-map', async () => {
    for (const node of [...expect.services, ...expect.virtual_nodes]) {
      await waitForCount(page, `[data-testid="service-map-node"][data-node="${node}"]`, 1, `map node ${node}`);
    }
    await waitForCount(
      page,
      '[data-testid="service-map-edge"][data-client="frontend"][data-server="inventory"]',
      1,
      'edge frontend → inventory',
    );
    const database = page.locator('[data-testid="service-map-node"][data-kind="database"]');
    assert((await database.count()) >= 1, 'no database node on the map');
    await screenshot(page, 'services');
  });

  await check('metrics', async () => {
    const query = 'sum by (mode) (rate(node_cpu_seconds_total[1m]))';
    await page.goto(url(`/explore?q0=${encodeURIComponent(query)}`));
    await waitForCount(page, chartWithData('metrics-result-chart'), 1, 'PromQL result chart');
    // Autocomplete offers metric names as one types.
    const editor = page.locator('[data-testid="promql-editor"]').first();
    await editor.click();
    await editor.fill('');
    await editor.type('node_memory_MemAv');
    await page.waitForSelector('[data-testid="promql-suggestion"][data-value="node_memory_MemAvailable_bytes"]', {
      timeout: 10_000,
    });
    await screenshot(page, 'metrics');
  });

  await check('metrics-system', async () => {
    await page.goto(url('/explore?preset=system'));
    for (const panel of ['cpu', 'memory', 'load', 'disk', 'network', 'filesystem']) {
      await waitForCount(page, chartWithData(`system-panel-${panel}`), 1, `System panel ${panel}`);
    }
  });

  await check('sql', async () => {
    await page.goto(url('/sql'));
    await waitForCount(page, '[data-testid="sql-table"][data-table="spans"]', 1, 'spans in the schema sidebar');
    const editor = page.locator('[data-testid="sql-editor"]');
    await editor.fill("select service_name, count(*) as n from spans group by service_name order by n desc");
    await page.click('[data-testid="sql-run"]');
    await waitForCount(page, '[data-testid="sql-results"] tbody tr', 2, 'SQL result rows');
    const text = await page.textContent('[data-testid="sql-results"]');
    for (const service of expect.services) assert(text.includes(service), `${service} missing from the SQL result`);
    await screenshot(page, 'sql');
  });
}
