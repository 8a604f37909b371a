// The product in a real browser (Debian's Chromium through playwright-core), as its users use
// it: sign in through the OpenID provider and with a local account, create a repository, add a
// member, edit a mock config, upload an SRPM and watch its progress bar, see the build turn
// green while its log fills live, a packager without admin controls, a description with
// <script> shown as text, the site admin's view of agents at work, keyboard-only sign-in, an
// accessibility audit (axe-core) of every page in light and dark, pages without JavaScript,
// groups and a private repo with a read token (without JavaScript), and the pages at 375 px
// wide.
// Usage: node e2e.mjs BASE_URL SCREENSHOT_DIR SRPM_PATH
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const [base, shots, srpm] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const step = (s) => console.log(`step: ${s}`);
const fail = async (msg) => { console.error(`FAILED: ${msg}`); await browser.close(); process.exit(1); };
const expect = async (cond, msg) => { if (!cond) await fail(msg); };
const shot = async (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...opts });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  return page;
}

// axe-core's WCAG 2.1 A/AA rules (contrast included) on the page as it is now: every
// violation is reported, none is tolerated.
async function audit(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const found = result.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  await expect(found.length === 0, `accessibility of ${label}:\n  ${found.join('\n  ')}`);
  return result.passes.length;
}

async function hydrated(page) {
  // The copy buttons appear once the page is interactive.
  await page.waitForFunction(() => document.readyState === 'complete');
  await page.waitForTimeout(300);
}

async function localSignIn(page, user) {
  await page.goto(`${base}/login`);
  await page.fill('#username', user);
  await page.fill('#password', `password-${user}`);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/auth/login"] button[type=submit]')]);
  await page.waitForSelector(`header.site a.who:has-text("${user}")`);
}

try {
  // 1. OpenID Connect: the provider's own login form, then back in Kiln as that user.
  step('oidc login');
  {
    const page = await newPage();
    await page.goto(`${base}/login`);
    await shot(page, 'login');
    await Promise.all([page.waitForNavigation(), page.click('text=Sign in with Test SSO')]);
    for (let i = 0; i < 5 && !page.url().startsWith(base); i++) {
      if (await page.locator('input[name="login"]').count()) {
        await page.fill('input[name="login"]', 'carol');
        await page.fill('input[name="password"]', 'any');
      }
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    }
    await expect(page.url().startsWith(base), `OIDC login ended at ${page.url()}`);
    await page.waitForSelector('header.site a.who:has-text("carol")');
  }

  // 2. Local account; create a repo whose description holds a script.
  step('local login and new repo');
  const alice = await newPage();
  await localSignIn(alice, 'alice');
  await alice.goto(`${base}/new`);
  await alice.fill('#repo-name', 'web');
  await alice.fill('#repo-description', '<script>window.__xss = 1</script> Web tools');
  await alice.check('#chroot-fedora-44-x86_64');
  await shot(alice, 'new-repo');
  await Promise.all([alice.waitForNavigation(), alice.click('text=Create repository')]);
  await expect(alice.url() === `${base}/r/alice/web`, `after creation: ${alice.url()}`);
  await alice.waitForSelector('p.description');
  const desc = await alice.textContent('p.description');
  await expect(desc.includes('<script>window.__xss = 1</script>'), `description shown as text: ${desc}`);
  await expect(await alice.evaluate(() => window.__xss) === undefined, 'the description ran as a script');
  await hydrated(alice);
  await alice.waitForSelector('button:has-text("Copy")');

  // 3. Add bob as a packager.
  step('add member');
  await alice.goto(`${base}/r/alice/web/settings`);
  await alice.fill('#member-username', 'bob');
  await alice.selectOption('#member-role', 'packager');
  await Promise.all([alice.waitForNavigation(), alice.click('text=Add member')]);
  await alice.waitForSelector('text=bob is now packager.');
  await alice.waitForSelector('#members ~ table td:has-text("bob")');

  // 4. Edit the mock config; the rendered preview follows.
  step('edit mock config');
  await alice.fill('#config-fedora-44-x86_64-macros', '%vendor Kiln E2E\n%slow_seconds 6');
  await Promise.all([alice.waitForNavigation(), alice.click('text=Save fedora-44-x86_64')]);
  await alice.waitForSelector('text=Saved the mock config fedora-44-x86_64.');
  const rendered = await alice.textContent('#config-fedora-44-x86_64 pre.rendered');
  await expect(rendered.includes("config_opts['macros']['%vendor'] = 'Kiln E2E'"), 'the rendered config has the macro');
  await shot(alice, 'settings');

  const root = await newPage();
  await localSignIn(root, 'root');

  // 5. Upload by drag and drop: two files, a real SRPM and a broken one; each has its own
  // progress bar and its own result or error.
  step('upload');
  await alice.goto(`${base}/r/alice/web/upload`);
  await hydrated(alice);
  const srpmName = basename(srpm);
  const dropped = await alice.evaluateHandle(([name, bytes]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name, { type: 'application/x-rpm' }));
    dt.items.add(new File(['this is not an rpm'.repeat(100)], 'broken-1-1.src.rpm', { type: 'application/x-rpm' }));
    return dt;
  }, [srpmName, [...readFileSync(srpm)]]);
  await alice.dispatchEvent('.drop', 'dragover', { dataTransfer: dropped });
  await alice.dispatchEvent('.drop', 'drop', { dataTransfer: dropped });
  await alice.waitForSelector('li.file[data-file="broken-1-1.src.rpm"] progress');
  await expect(await alice.locator('li.file').count() === 2, 'both dropped files are listed');
  const seen = [];
  const watcher = setInterval(async () => {
    try { seen.push(await alice.$eval('li.file progress', (p) => p.value)); } catch (_) { /* navigating */ }
  }, 20);
  await alice.click('text=Upload and build');
  const link = await alice.waitForSelector(`li.file[data-file="${srpmName}"] a:has-text("build #")`, { timeout: 30000 });
  // The broken file's error is shown next to it; the good one went through regardless.
  const refused = await alice.waitForSelector('li.file[data-file="broken-1-1.src.rpm"] .field-error', { timeout: 30000 });
  const why = await refused.textContent();
  await expect(/not an RPM/i.test(why), `the broken file's error: ${why}`);
  // Chromium logs the refused upload's 400 as a console error: expected, not a fault.
  alice.errors = alice.errors.filter((e) => !e.includes('status of 400'));
  clearInterval(watcher);
  const final = await alice.$eval('li.file progress', (p) => p.value);
  await expect(final === 100, `the progress bar ended at ${final}`);
  console.log(`progress values seen: ${[...new Set(seen)].join(',')}`);
  await shot(alice, 'upload');

  // 6. The build page: the log fills live and the build turns green.
  step('build page');
  await Promise.all([alice.waitForURL(/\/builds\/\d+$/), link.click()]);
  // The build (kiln-slow, 6 s by the config's macro) is still running: its log is followed.
  await alice.waitForSelector('#build-log[data-following="true"]', { timeout: 30000 });
  await alice.waitForFunction(() => document.querySelector('#build-log').textContent.includes('kiln-slow: tick 2'), null, { timeout: 60000 });
  const stateWhileLive = await alice.getAttribute('h2.build-title .state', 'data-state');
  await expect(stateWhileLive !== 'succeeded', 'the log should fill while the build runs');
  await shot(alice, 'build-running');
  const buildPath = new URL(alice.url()).pathname;

  // The site admin sees the agent at work: its state, the build it runs, when it was last seen.
  step('site admin');
  await root.goto(`${base}/admin`);
  const row = root.locator('tr[data-agent="e2e"]');
  await expect(await row.count() === 1, 'the agent is listed');
  const rowText = await row.textContent();
  await expect(rowText.includes('online') && rowText.includes('x86_64'), `agent row: ${rowText}`);
  await expect(await row.locator(`td.work a[href="${buildPath}"]`).count() === 1, `the agent's current build links to ${buildPath}: ${rowText}`);
  await expect(rowText.includes(`${srpmName} on fedora-44-x86_64`), `the agent's current work: ${rowText}`);
  const lastSeen = await row.locator('time').getAttribute('datetime');
  await expect(Math.abs(Date.now() - Date.parse(lastSeen)) < 120000, `last seen ${lastSeen}`);
  await shot(root, 'admin');
  await alice.waitForSelector('h2.build-title .state[data-state="succeeded"]', { timeout: 120000 });
  await expect((await alice.textContent('#build-log')).includes('kiln-slow: tick 6'), 'the whole log is there');
  const log = await alice.textContent('#build-log');
  await expect(log.length > 20, 'the log is empty');
  await alice.waitForSelector('ul.artifacts a[href$=".rpm"]');
  // What built it, and the whole log as text.
  const backend = await alice.textContent('p.backend');
  await expect(backend.startsWith('rpmbuild (RPM version'), `the backend shown: ${backend}`);
  await expect(await alice.locator('a:has-text("The whole log as plain text")').count() === 1, 'a link to the whole log');
  await shot(alice, 'build');
  await alice.goto(`${base}/r/alice/web/builds`);
  await alice.waitForSelector('table.builds .state[data-state="succeeded"]');
  await shot(alice, 'builds');
  // Publishing follows the build within moments.
  for (let i = 0; i < 20; i++) {
    await alice.goto(`${base}/r/alice/web`);
    if (await alice.locator('#packages ~ table td:has-text("kiln-slow")').count()) break;
    await alice.waitForTimeout(250);
  }
  await alice.waitForSelector('#packages ~ table td:has-text("kiln-slow")', { timeout: 1000 });
  await shot(alice, 'repo');
  await expect(alice.errors.length === 0, `browser errors: ${alice.errors.join(' | ')}`);

  // 7. A packager: upload yes, settings and admin controls no.
  step('packager');
  const bob = await newPage();
  await localSignIn(bob, 'bob');
  await bob.goto(`${base}/r/alice/web`);
  await expect(await bob.locator('nav.tabs a:has-text("Upload")').count() === 1, 'bob sees Upload');
  await expect(await bob.locator('nav.tabs a:has-text("Settings")').count() === 0, 'bob sees Settings');
  await bob.goto(`${base}/r/alice/web/settings`);
  await expect(await bob.locator('text=Danger zone').count() === 0, 'bob sees the danger zone');
  await expect(await bob.locator('text=Add member').count() === 0, 'bob can add members');

  // 7b. Groups and private repos, without JavaScript: the site admin makes a group and adds
  // alice; alice creates a private repo owned by it, makes a read token (shown once with the
  // lines that use it) and revokes it.
  step('groups and private repos');
  {
    const admin = await newPage({ javaScriptEnabled: false });
    await localSignIn(admin, 'root');
    await admin.goto(`${base}/admin`);
    await admin.fill('#group-name', 'web-team');
    await Promise.all([admin.waitForNavigation(), admin.click('text=Create group')]);
    await expect(admin.url() === `${base}/groups/web-team`, `after the group: ${admin.url()}`);
    await admin.fill('#group-member', 'alice');
    await Promise.all([admin.waitForNavigation(), admin.click('text=Add to the group')]);
    await admin.waitForSelector('text=alice is in @web-team.');
    const owner = await newPage({ javaScriptEnabled: false });
    await localSignIn(owner, 'alice');
    await owner.goto(`${base}/new`);
    await owner.selectOption('#repo-owner', '@web-team');
    await owner.fill('#repo-name', 'secret');
    await owner.check('#repo-private');
    await owner.check('#chroot-fedora-44-x86_64');
    await Promise.all([owner.waitForNavigation(), owner.click('text=Create repository')]);
    await expect(owner.url() === `${base}/r/@web-team/secret`, `after the private repo: ${owner.url()}`);
    await expect(await owner.locator('.tag:has-text("private")').count() > 0, 'the private badge');
    await expect(await owner.getAttribute('a.owner', 'href') === '/groups/web-team', 'the owner links to the group');
    await owner.goto(`${base}/account`);
    await expect(await owner.locator('a[href="/groups/web-team"]').count() === 1, 'the account page lists the group');
    await owner.goto(`${base}/r/@web-team/secret/settings`);
    await owner.fill('#read-token-name', 'laptop');
    await Promise.all([owner.waitForNavigation(), owner.click('text=Create a read token')]);
    const secret = await owner.textContent('.secret');
    await expect(/kiln_rt_/.test(secret) && secret.includes('dnf install') && secret.includes('@web-team-secret-release.noarch.rpm'),
      `the new token and its dnf line: ${secret}`);
    await owner.waitForSelector('#read-tokens ~ table td:has-text("laptop")');
    await shot(owner, 'read-token');
    await owner.reload();
    await expect(await owner.locator('.secret').count() === 0, 'the token is shown once');
    await Promise.all([owner.waitForNavigation(), owner.click('button[aria-label="Revoke the read token laptop"]')]);
    await owner.waitForSelector('text=Revoked the read token');
    await expect(await owner.locator('#read-tokens ~ table td:has-text("laptop")').count() === 0, 'revoked tokens leave the list');
    // A stranger finds nothing there.
    const stranger = await newPage({ javaScriptEnabled: false });
    const resp = await stranger.goto(`${base}/r/@web-team/secret`);
    await expect(resp.status() === 404, `a stranger got ${resp.status()}`);
    // The group's page lists its members and the repo for alice.
    await owner.goto(`${base}/groups/web-team`);
    await expect((await owner.content()).includes('@web-team/secret'), 'the group page lists its repo');
  }

  // 8. Keyboard only: the skip link comes first, then the sign-in form works with Tab and Enter.
  step('keyboard');
  {
    const kb = await newPage();
    await kb.goto(`${base}/login`);
    await kb.keyboard.press('Tab');
    await expect(await kb.evaluate(() => document.activeElement.textContent) === 'Skip to content', 'the skip link is focused first');
    let focused = '';
    for (let i = 0; i < 25 && focused !== 'username'; i++) {
      await kb.keyboard.press('Tab');
      focused = await kb.evaluate(() => document.activeElement.id);
    }
    await expect(focused === 'username', 'Tab reaches the user name field');
    await kb.keyboard.type('bob');
    await kb.keyboard.press('Tab');
    await expect(await kb.evaluate(() => document.activeElement.id) === 'password', 'Tab goes on to the password');
    await kb.keyboard.type('password-bob');
    await Promise.all([kb.waitForNavigation(), kb.keyboard.press('Enter')]);
    await kb.waitForSelector('header.site a.who:has-text("bob")');
    const outline = await kb.evaluate(() => { document.querySelector('a.who').focus(); return getComputedStyle(document.activeElement).outlineStyle; });
    await expect(outline !== 'none', 'focus is visible');
  }

  // 9. Accessibility audit of every page, in the light and the dark scheme; screenshots of
  // the dark one.
  step('accessibility');
  {
    // The audit can fail: an image without alt text and a control without a label are caught.
    const bad = await newPage();
    await bad.setContent('<html lang="en"><title>t</title><main><img src="x.png"><input id="q"></main></html>');
    await bad.evaluate(axeSource);
    const ids = await bad.evaluate(async () => (await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } })).violations.map((v) => v.id));
    await expect(ids.includes('image-alt') && ids.includes('label'), `axe on a bad page found ${ids}`);
  }
  const pages = ['/', '/login', '/account', '/new', '/r/alice/web', '/r/alice/web/builds', buildPath,
    '/r/alice/web/upload', '/r/alice/web/settings', '/r/alice/web/packages', '/admin',
    '/groups/web-team', '/r/@web-team/secret/settings'];
  for (const scheme of ['light', 'dark']) {
    const a11y = await newPage({ colorScheme: scheme });
    await localSignIn(a11y, 'root');
    let rules = 0;
    for (const path of pages) {
      await a11y.goto(`${base}${path}`);
      await hydrated(a11y);
      rules += await audit(a11y, `${path} (${scheme})`);
    }
    // Signed out too: the sign-in page with its providers, and the published repo's indexes.
    const anon = await newPage({ colorScheme: scheme });
    await anon.goto(`${base}/login`);
    rules += await audit(anon, `/login signed out (${scheme})`);
    const indexes = ['/repos/alice/web/', '/repos/alice/web/fedora-44-x86_64/'];
    for (const path of indexes) {
      await anon.goto(`${base}${path}`);
      await expect((await anon.title()) === `Index of ${path}`, `the index page ${path}`);
      rules += await audit(anon, `${path} (${scheme})`);
    }
    console.log(`accessibility ${scheme}: ${pages.length + 1 + indexes.length} pages, ${rules} rule checks passed, no violations`);
    if (scheme === 'dark') {
      for (const [path, name] of [['/r/alice/web', 'repo-dark'], [buildPath, 'build-dark'], ['/r/alice/web/settings', 'settings-dark']]) {
        await a11y.goto(`${base}${path}`);
        await shot(a11y, name);
      }
    }
  }

  // 10. Without JavaScript every page is whole.
  step('no javascript');
  const nojs = await newPage({ javaScriptEnabled: false });
  for (const [path, marker] of [['/', 'alice/web'], ['/r/alice/web', 'kiln-slow'], ['/r/alice/web/builds', 'succeeded'], ['/r/alice/web/packages', 'No packages keep']]) {
    await nojs.goto(`${base}${path}`);
    await expect((await nojs.content()).includes(marker), `${path} without JavaScript lacks ${marker}`);
  }

  // 11. At 375 px wide nothing overflows sideways.
  step('narrow screen');
  const phone = await newPage({ viewport: { width: 375, height: 800 } });
  await localSignIn(phone, 'alice');
  for (const path of ['/', '/r/alice/web', '/r/alice/web/builds', buildPath, '/r/alice/web/settings', '/r/alice/web/packages', '/r/alice/web/upload', '/account', '/repos/alice/web/fedora-44-x86_64/']) {
    await phone.goto(`${base}${path}`);
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) {
      // Name the widest elements that stick out, for the failure message.
      const wide = await phone.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 376)
        .slice(-5).map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`));
      await shot(phone, 'overflow');
      await fail(`${path} is ${width} px wide at 375: ${wide.join(', ')}`);
    }
  }
  await phone.goto(`${base}/r/alice/web`);
  await shot(phone, 'repo-375px');
  console.log('e2e ok');
} catch (e) {
  await fail(e.stack || String(e));
}
await browser.close();
