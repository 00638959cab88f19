// The Profiles page's end-to-end checks: the flamegraph of a real Pyroscope
// Node.js SDK profile shows its hot function (in the table and on the canvas,
// found by hovering), the nodejs preset hides Node.js internals without
// changing the total, and a rule saved from the page applies after a reload.
//
// `profileChecks(page, expect)` runs them with the shared harness (the
// pages script calls it); `expect` names `profile_service` and
// `hot_function`. Run alone: VISPYR_URL=http://127.0.0.1:4040 node e2e/profiles.e2e.mjs
import { pathToFileURL } from 'node:url';
import { assert, check, failures, launch, newPage, screenshot, url } from './harness.mjs';

const TABLE_NAMES = '[data-testid="profile-table"] tbody td.profile-symbol';

/** Function names in the table, once it lists at least one. */
async function tableNames(page) {
  await page.waitForSelector(TABLE_NAMES, { timeout: 20_000 });
  return page.$$eval(TABLE_NAMES, (cells) => cells.map((cell) => cell.textContent ?? ''));
}

/** Waits until some table row satisfies `test` (names as of the last look in the error). */
async function waitForNames(page, what, test) {
  const deadline = Date.now() + 20_000;
  let names = [];
  while (Date.now() < deadline) {
    names = await tableNames(page).catch(() => []);
    if (test(names)) return names;
    await page.waitForTimeout(250);
  }
  throw new Error(`table never showed ${what}; rows: ${JSON.stringify(names.slice(0, 15))}`);
}

async function summaryTotal(page) {
  const text = await page.textContent('[data-testid="profile-summary"] strong');
  return text?.trim();
}

/** Hovers the flamegraph row by row until the tooltip names `name`. */
async function hoverFrame(page, name) {
  const canvas = await page.waitForSelector('[data-testid="flamegraph-canvas"]');
  const box = await canvas.boundingBox();
  assert(box && box.width > 0 && box.height > 0, 'the flamegraph canvas has no size');
  for (let y = 10; y < box.height; y += 20) {
    for (const fraction of [0.5, 0.3, 0.7, 0.15, 0.85, 0.05, 0.95]) {
      await page.mouse.move(box.x + box.width * fraction, box.y + y);
      const tooltip = await page.$('[data-testid="flame-tooltip"]');
      const text = tooltip ? await tooltip.textContent() : '';
      if (text?.includes(name)) return text;
    }
  }
  throw new Error(`no frame of the flamegraph shows ${name} when hovered`);
}

async function deleteRulesReplacingWith(replacement) {
  const listed = await (await fetch(url('/api/v1/profiles/rules'))).json();
  for (const rule of listed.rules) {
    if (rule.source === 'api' && rule.replacement === replacement) {
      await fetch(url(`/api/v1/profiles/rules/${encodeURIComponent(rule.id)}`), { method: 'DELETE' });
    }
  }
}

export async function profileChecks(page, expect) {
  const service = expect.profile_service;
  const hot = expect.hot_function;
  const base = `/profiles?service=${encodeURIComponent(service)}`;

  await check('profiles', async () => {
    await page.goto(url(base));
    const names = await waitForNames(page, hot, (rows) => rows.some((n) => n.includes(hot)));
    assert(names[0].includes(hot), `the top function by self time is ${names[0]}, not ${hot}`);
    const query = await page.inputValue('[data-testid="profile-query"]');
    assert(query.includes(`service_name="${service}"`), `the query does not select ${service}: ${query}`);
    const tooltip = await hoverFrame(page, hot);
    assert(/Total/.test(tooltip) && /%/.test(tooltip), `the tooltip has no values: ${tooltip}`);
    await page.mouse.move(0, 0);
    await screenshot(page, 'profiles');
  });

  await check('profiles-hide-node-internal', async () => {
    await page.goto(url(`${base}&rules=none`));
    const raw = await waitForNames(page, 'Node.js internals', (rows) => rows.some((n) => n.startsWith('node:')));
    const rawTotal = await summaryTotal(page);
    await page.selectOption('[data-testid="profile-rules"]', 'preset:nodejs');
    const viewed = await waitForNames(page, 'no Node.js internals', (rows) => rows.length > 0 && !rows.some((n) => n.startsWith('node:')));
    assert(viewed.some((n) => n.includes(hot)), `${hot} is gone with the nodejs preset`);
    assert(viewed.length < raw.length, 'hiding frames did not shorten the table');
    const viewedTotal = await summaryTotal(page);
    assert(viewedTotal === rawTotal, `the total changed from ${rawTotal} to ${viewedTotal}`);
  });

  await check('profiles-rule-survives-reload', async () => {
    const renamed = `hot: ${hot}`;
    await deleteRulesReplacingWith(renamed);
    try {
      await page.goto(url(base));
      await waitForNames(page, hot, (rows) => rows.some((n) => n.includes(hot)));
      await page.click('[data-testid="profile-edit-rules"]');
      await page.click('[data-testid="rule-new"]');
      await page.selectOption('[data-testid="rule-kind"]', 'rename');
      await page.fill('[data-testid="rule-pattern"]', `regex:^.*\\b${hot}\\b.*$`);
      await page.fill('[data-testid="rule-replacement"]', renamed);
      await page.click('[data-testid="rule-save"]');
      await waitForNames(page, renamed, (rows) => rows.includes(renamed));
      await page.reload();
      await waitForNames(page, `${renamed} after a reload`, (rows) => rows.includes(renamed));
      await page.click('[data-testid="profile-edit-rules"]');
      await page.waitForSelector(`[data-testid="rules-table"] td:has-text("${renamed}")`, { timeout: 10_000 });
    } finally {
      await deleteRulesReplacingWith(renamed);
    }
  });
}

// Alone: one browser, these checks, exit status from their failures.
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const expect = JSON.parse(process.env.E2E_EXPECT ?? '{"profile_service":"frontend","hot_function":"burnCpuHot"}');
  const browser = await launch();
  try {
    await profileChecks(await newPage(browser), expect);
  } finally {
    await browser.close();
  }
  if (failures.length > 0) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
}
