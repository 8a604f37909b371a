// Checks that a server-rendered Kiln page hydrates: the wasm bundle loads without errors and
// the client-side router then handles a link click (no full page load).
// Usage: node hydration.mjs BASE_URL SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const fail = async (msg) => { console.error(msg); await browser.close(); process.exit(1); };
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  const wasm = page.waitForResponse((r) => r.url().endsWith('/pkg/kiln_bg.wasm'), { timeout: 15000 });
  await page.goto(`${base}/`);
  const resp = await wasm;
  if (resp.status() !== 200) await fail(`wasm answered ${resp.status()}`);
  // Give hydration a moment to finish after the module instantiates.
  await page.waitForFunction(() => document.readyState === 'complete');
  await page.waitForTimeout(500);
  await page.evaluate(() => { window.__kilnMarker = 'still-here'; });
  await page.click('a[href="/r/alice/tools"]');
  await page.waitForURL(`${base}/r/alice/tools`);
  await page.waitForSelector('.repo-head h1:has-text("tools")');
  const marker = await page.evaluate(() => window.__kilnMarker);
  if (marker !== 'still-here') await fail('the link click reloaded the page: the app did not hydrate');
  if (errors.length) await fail(`browser errors: ${errors.join(' | ')}`);
  if (shots) await page.screenshot({ path: `${shots}/repo-page.png`, fullPage: true });
  console.log('hydrated');
} catch (e) {
  await fail(String(e));
}
await browser.close();
