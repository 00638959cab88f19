// Every page of the UI in headless Chromium against a filled server: run by
// crates/vispyr/tests/ui_e2e.rs, which fills the server with real SDK clients
// and passes what they sent in E2E_EXPECT. Prints one JSON line per check;
// exits non-zero if any check failed.
//
//   VISPYR_URL=http://127.0.0.1:4040 E2E_EXPECT='{...}' node e2e/pages.e2e.mjs
import { assert, check, failures, launch, newPage, url } from './harness.mjs';
import { overviewChecks } from './overview.e2e.mjs';
import { profileChecks } from './profiles.e2e.mjs';
import { traceChecks } from './traces.e2e.mjs';

const expect = JSON.parse(process.env.E2E_EXPECT ?? '{}');
const browser = await launch();
try {
  const page = await newPage(browser);

  await check('spa-deep-link', async () => {
    // A deep link loads the app (the server answers with index.html) and
    // the page the path names, in the theme chosen before.
    await page.goto(url('/sql'));
    await page.click('[data-testid="theme-toggle"]');
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.goto(url('/traces?service=frontend'));
    const title = await page.title();
    assert(title.startsWith('Traces'), `deep link title ${title}`);
    const after = await page.evaluate(() => document.documentElement.dataset.theme);
    assert(after === theme, `the theme did not survive a reload: ${theme} → ${after}`);
    await page.click('[data-testid="theme-toggle"]');
  });

  await overviewChecks(page, expect);
  await traceChecks(page, expect);
  await profileChecks(page, expect);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(`${failures.length} check(s) failed:\n${failures.join('\n')}`);
  process.exit(1);
}
