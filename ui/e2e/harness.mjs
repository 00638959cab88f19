// Shared pieces of the UI's end-to-end scripts: Debian's Chromium driven by
// playwright-core, named checks reported as JSON lines on stdout (the Rust
// test requires every check it knows to be reported as passed), screenshots.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.VISPYR_URL ?? 'http://127.0.0.1:4040';
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? 'screenshots';

/** Headless Chromium as this machine runs it (no sandbox as root, no network chatter). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page at 1280×900 that fails the run on uncaught errors. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    failures.push(`uncaught error in the page: ${error.message}`);
    console.error(`[page error] ${error.stack ?? error.message}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`[console] ${message.text()}`);
  });
  return page;
}

export const failures = [];

/** Runs one named check; reports `{check, ok, ms, error?}` on stdout. */
export async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(JSON.stringify({ check: name, ok: true, ms: Date.now() - started }));
  } catch (error) {
    failures.push(`${name}: ${error.message}`);
    console.log(JSON.stringify({ check: name, ok: false, ms: Date.now() - started, error: error.message }));
    console.error(`[${name}] ${error.stack}`);
  }
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Throws `message` unless `condition`. */
export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** `/path?query` on the server under test. */
export function url(path) {
  return `${BASE}${path}`;
}

/** Waits until `selector` matches at least `minimum` elements; returns the count. */
export async function waitForCount(page, selector, minimum, what, timeoutMs = 25_000) {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    count = await page.locator(selector).count();
    if (count >= minimum) return count;
    await page.waitForTimeout(250);
  }
  throw new Error(`${what}: ${count} of ${selector}, wanted at least ${minimum}`);
}
