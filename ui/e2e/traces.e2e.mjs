// End-to-end checks of the Traces and Logs pages and the links between
// traces, logs and profiles, against data sent by real SDK clients (the Rust
// test ui_e2e.rs passes what they sent in E2E_EXPECT).
import { assert, check, screenshot, url, waitForCount } from './harness.mjs';

const PATH_TIMEOUT = 15_000;

async function waitForPath(page, test, what) {
  await page.waitForURL((u) => test(new URL(u)), { timeout: PATH_TIMEOUT }).catch(() => {
    throw new Error(`expected ${what}, the page is at ${page.url()}`);
  });
}

export async function traceChecks(page, expect) {
  const checkout = expect.checkout_trace;
  const logTrace = expect.log_trace;
  const inSpans = expect.log_lines.filter((line) => line.span !== null);

  await check('traces-search', async () => {
    await page.goto(url('/traces?service=frontend'));
    await waitForCount(page, '[data-testid="trace-row"]', 2, 'search results');
    const row = page.locator(`[data-testid="trace-row"][data-trace-id="${checkout}"]`);
    assert((await row.count()) === 1, `the checkout trace ${checkout} is not in the results`);
    await waitForCount(page, '[data-testid="trace-scatter"] canvas', 1, 'scatter plot');
    await screenshot(page, 'traces');
  });

  await check('trace-waterfall', async () => {
    await page.click(`[data-testid="trace-row"][data-trace-id="${checkout}"]`);
    await waitForPath(page, (u) => u.pathname === `/traces/${checkout}`, `/traces/${checkout}`);
    // frontend's server span, its client spans to inventory and legacy,
    // inventory's server span and its database spans.
    const rows = await waitForCount(page, '[data-testid="waterfall-row"]', 5, 'waterfall rows');
    const text = await page.textContent('[data-testid="waterfall"]');
    assert(/frontend/.test(text) && /inventory/.test(text), `the waterfall misses a service: ${text.slice(0, 300)}`);
    await page.locator('[data-testid="waterfall-row"]').nth(Math.min(2, rows - 1)).click();
    await page.waitForSelector('[data-testid="span-details"] [data-testid="span-attributes"]', { timeout: 10_000 });
    await screenshot(page, 'trace');
  });

  await check('trace-to-logs', async () => {
    await page.goto(url(`/traces/${logTrace}`));
    await waitForCount(page, '[data-testid="waterfall-row"]', 2, 'the logged trace');
    await page.click('[data-testid="trace-logs"]');
    await waitForPath(page, (u) => u.pathname === '/logs' && u.searchParams.get('trace_id') === logTrace, '/logs?trace_id=…');
    const rows = await waitForCount(page, '[data-testid="log-row"]', inSpans.length, "the trace's logs");
    assert(rows === inSpans.length, `${rows} log lines for the trace, sent ${inSpans.length}`);
    const text = await page.textContent('[data-testid="log-list"]');
    for (const line of inSpans) assert(text.includes(line.body), `the trace's log line ${JSON.stringify(line.body)} is missing`);
    await screenshot(page, 'logs');
  });

  await check('log-to-trace', async () => {
    await page.locator('[data-testid="view-trace-link"]').first().click();
    await waitForPath(page, (u) => u.pathname === `/traces/${logTrace}`, `/traces/${logTrace}`);
    await page.waitForSelector(`[data-testid="trace-view"][data-trace-id="${logTrace}"]`, { timeout: 10_000 });
    await waitForCount(page, '[data-testid="waterfall-row"]', 2, 'the trace of the log line');
  });

  await check('trace-to-profile', async () => {
    await page.goto(url(`/traces/${checkout}`));
    await waitForCount(page, '[data-testid="waterfall-row"]', 5, 'waterfall rows');
    await page.click('[data-testid="trace-profile"]');
    await waitForPath(
      page,
      (u) => u.pathname === '/profiles' && u.searchParams.get('trace_id') === checkout,
      '/profiles?trace_id=…',
    );
    await waitForCount(page, '[data-testid="profile-table"] tbody td.profile-symbol', 1, "the trace's profile");
  });

  await check('logs', async () => {
    await page.goto(url('/logs?service=frontend'));
    await waitForCount(page, '[data-testid="log-row"]', expect.log_lines.length, 'log lines of frontend');
    await waitForCount(page, '[data-testid="logs-volume"] canvas', 1, 'volume histogram');
    // Expanding a line shows its attributes.
    await page.locator('[data-testid="log-row"]').first().click();
    await page.waitForSelector('[data-testid="log-row-details"]', { timeout: 10_000 });
  });
}
