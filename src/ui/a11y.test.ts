// The dashboard as a keyboard and screen reader user, and a low-vision user at 200 % zoom or in a
// high-contrast (forced colours) mode, meet it: in a real browser against a real Warden whose
// detector was seeded with past logs holding a campaign. Each test checks what such a user would
// notice: where the focus is and whether it can be seen, what is announced, what is cut off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import type { RunningWarden } from '../cli/serve.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { signedInPage, startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);

let dash: Dashboard;
let w: RunningWarden;
let context: BrowserContext;
let campaign: any;
const problems: string[][] = [];

/** A signed-in tab (each tab has its own session), optionally with a fake clock installed before the dashboard loads. */
async function openTab({ clock = false, path = '' } = {}): Promise<Page> {
  const tab = await signedInPage(context, w.url, w.adminToken!, { name: 'operator', clock });
  problems.push(tab.problems);
  const page = tab.page;
  if (path) await page.goto(`${w.url}/dashboard#${path}`);
  return page;
}

/** Wait, from here, until `expr` is true in the page (its own timers may be a fake clock's). */
async function until(page: Page, expr: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await page.evaluate(expr)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${expr}`);
}

/** The focused element, described for a failure message. */
const focused = (page: Page) => page.evaluate(`(() => { const e = document.activeElement; return e ? (e.tagName + ' ' + (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40)).replace(/\\s+/g, ' ').trim() : 'nothing'; })()`) as Promise<string>;

// WCAG contrast of two CSS colours, the first laid over the element's own background (ancestors'
// translucent backgrounds blended onto white).
const CONTRAST = `
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null; const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return { rgb: p.slice(0, 3), a: p[3] ?? 1 }; };
  const backdrop = (el) => { const layers = []; for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let rgb = [255, 255, 255]; for (const l of layers.reverse()) rgb = rgb.map((v, i) => v * (1 - l.a) + l.rgb[i] * l.a); return rgb; };
  const lum = (rgb) => rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const over = (c, bg) => { const p = parse(c); return p.rgb.map((v, i) => v * p.a + bg[i] * (1 - p.a)); };
`;

before(async () => {
  if (skip) return;
  let past: Awaited<ReturnType<typeof scanPastLogs>>;
  dash = await startDashboard(requireChromium(CHROMIUM), {
    name: 'a11y', config: { cases: { sharing_key: 'a11y-test-sharing-key-0004', provider: 'Provider B' } },
    prepare: async (dir) => { past = await scanPastLogs(dir, { seed: 7, days: 2, organic: { hobbyist: 20, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 30 }] }); },
  });
  ({ w, context } = dash);
  await w.stores.events.appendBatch(past!.events);
  campaign = (await dash.admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign && campaign.members.length >= 20, 'the seeded hydra is a campaign');
  await dash.admin('/admin/accounts', { name: 'Lumen Labs', email: 'ops@lumen.example' });
});

after(async () => {
  if (skip) return;
  await dash?.close();
  // The key refused for an unknown account is logged by the browser as a failed resource, not a script error.
  assert.deepEqual(problems.flat().filter((p) => !/status of 404/.test(p)), [], 'no script or console errors');
});

test('the keyboard focus is drawn in a high-contrast (forced colours) mode, and at 3:1 against the page otherwise', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: '/detector' });
  try {
    const flagged = page.locator('section', { has: page.getByRole('heading', { name: 'Flagged accounts', level: 2 }) });
    await flagged.locator('tbody tr').first().waitFor();
    // What draws the focus of the focused element: its outline (the range picker's radio is hidden, its label shows it).
    const ring = `(() => { ${CONTRAST}
      let e = document.activeElement; if (e.matches('.segmented input')) e = e.nextElementSibling;
      const cs = getComputedStyle(e);
      const width = cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth);
      const bg = backdrop(e.parentElement);
      return { width, contrast: width ? ratio(over(cs.outlineColor, bg), bg) : 0 }; })()`;
    for (const scheme of ['light', 'dark'] as const) {
      for (const forced of [false, true]) {
        await page.emulateMedia({ colorScheme: scheme, forcedColors: forced ? 'active' : 'none' });
        await page.evaluate('document.activeElement?.blur(); scrollTo(0, 0)');
        // Skip link, the nav, Sign out, the range picker, the level filter, the sort buttons, the first accounts.
        for (let i = 0; i < 20; i++) {
          await page.keyboard.press('Tab');
          const r = await page.evaluate(ring) as { width: number; contrast: number };
          const what = `${await focused(page)} (${scheme}${forced ? ', forced colours' : ''})`;
          assert.ok(r.width >= 2, `the focus of ${what} is drawn (outline ${r.width}px)`);
          if (!forced) assert.ok(r.contrast >= 3, `the focus of ${what} stands out at 3:1 (${r.contrast.toFixed(2)})`);
        }
      }
    }
    // The chosen range still looks chosen when forced colours drop the backgrounds.
    await page.emulateMedia({ colorScheme: 'light', forcedColors: 'active' });
    const [chosen, other] = await page.evaluate(`['#range-24h + label', '#range-7d + label'].map((s) => getComputedStyle(document.querySelector(s)).backgroundColor)`) as string[];
    assert.notEqual(chosen, other, 'the chosen range differs from the others in forced colours');
    // So does the current page in the navigation (its underline; the others have none).
    const [current, another] = await page.evaluate(`['nav a[aria-current="page"]', 'nav a:not([aria-current])'].map((s) => getComputedStyle(document.querySelector(s)).borderBottomColor)`) as string[];
    const [navBg] = await page.evaluate(`[getComputedStyle(document.querySelector('.topbar')).backgroundColor]`) as string[];
    assert.notEqual(current, another, 'the current page\'s link is underlined differently from the others in forced colours');
    assert.equal(another, navBg, 'the other links have no visible underline in forced colours');
  } finally {
    await page.close();
  }
});

test('at 200 % zoom the focused control never hides under the top bar, going back with Shift+Tab', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: `/clusters/${campaign.cluster_id}` });
  try {
    const members = page.locator('section', { has: page.getByRole('heading', { name: /^Accounts \(/, level: 2 }) });
    await members.getByRole('link', { name: campaign.members[12], exact: true }).waitFor();
    // 1280×720 at 200 % is 640×360 CSS pixels; 1360×500 keeps the sticky bar of a wide window.
    for (const [width, height] of [[640, 360], [1360, 500]]) {
      await page.setViewportSize({ width, height });
      await page.evaluate('document.activeElement?.blur(); scrollTo(0, 0)');
      for (let i = 0; i < 28; i++) await page.keyboard.press('Tab');
      for (let i = 0; i < 14; i++) {
        await page.keyboard.press('Shift+Tab');
        // The element at the focused control's centre is the control (not the top bar over it).
        const seen = await page.evaluate(`(() => { const e = document.activeElement; const r = e.getBoundingClientRect();
          const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); return !!at && (at === e || e.contains(at)); })()`);
        assert.ok(seen, `at ${width}×${height}, ${await focused(page)} is in view, not under the top bar`);
      }
    }
  } finally {
    await page.close();
  }
});

test('at 320 px (400 % zoom) no page scrolls sideways, and the range picker is whole on screen', { skip, timeout: 300_000 }, async () => {
  const page = await openTab();
  try {
    await page.setViewportSize({ width: 320, height: 700 });
    const paths = ['/', '/usage', '/accounts', '/keys', '/limits', '/detector', `/campaigns/${campaign.id}`, `/clusters/${campaign.cluster_id}`, '/cases', '/partners', '/ledger'];
    for (const path of paths) {
      await page.goto(`${w.url}/dashboard#${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await until(page, `!document.querySelector('main .loading')`);
      // Tables wider than the screen scroll inside their own box (allowed for data tables); the page does not.
      assert.equal(await page.evaluate('document.documentElement.scrollWidth'), 320, `${path} does not scroll sideways`);
      if (!['/', '/usage', '/detector'].includes(path)) continue;
      const right = await page.evaluate(`document.querySelector('#range-30d + label').getBoundingClientRect().right`) as number;
      assert.ok(right <= 320, `${path}: the last range (30 days) is on screen (right edge ${right})`);
    }
  } finally {
    await page.close();
  }
});

test('the overview\'s automatic refresh keeps the focus and the opened table of numbers', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ clock: true, path: '/?range=30d&live=on' });
  try {
    const all = page.getByRole('link', { name: 'All accounts by usage' });
    await all.waitFor();
    await page.getByText('Show the numbers').first().click();
    await all.focus();
    await page.evaluate(`document.querySelector('main .kpis').dataset.before = 'refresh'`);
    await page.clock.runFor(31_000);
    await until(page, `!document.querySelector('main [data-before]') && !!document.querySelector('main .kpis')`);
    assert.equal(await focused(page), 'A All accounts by usage', 'the focus is where it was before the refresh');
    assert.equal(await page.locator('main details.chart-data').first().evaluate((d) => (d as any).open), true, 'the opened numbers stay open');
  } finally {
    await page.close();
  }
});

test('an error is announced at once (an alert) and stays on screen long enough to read', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ clock: true, path: '/cases' });
  try {
    await page.getByLabel('STIX 2.1 bundle from a partner').fill('{ not json');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByRole('alert').filter({ hasText: 'The bundle is not valid JSON.' }).waitFor({ state: 'attached' });
    await page.clock.runFor(10_000);
    assert.ok(await page.locator('#toast').isVisible(), 'the error is still shown 10 s later');
    assert.equal(await page.locator('#toast').textContent(), 'The bundle is not valid JSON.');
  } finally {
    await page.close();
  }
});

test('a key that cannot be created: the error is an alert and the focus stays on Create key', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: '/keys' });
  try {
    await page.getByRole('textbox', { name: 'Account id' }).fill('acct_nobody');
    await page.getByRole('button', { name: 'Create key' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Could not create the key' }).waitFor();
    await page.waitForFunction(`!document.querySelector('[data-focus="create-key"]').disabled`);
    assert.equal(await focused(page), 'BUTTON Create key', 'the keyboard goes on from the button, not from the top of the page');
  } finally {
    await page.close();
  }
});

test('tables: every column header has a name, the sorted one says its order, row buttons name their row', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: '/detector' });
  try {
    const flagged = page.locator('section', { has: page.getByRole('heading', { name: 'Flagged accounts', level: 2 }) });
    await flagged.locator('tbody tr').first().waitFor();
    await flagged.getByRole('button', { name: 'Requests' }).click();
    await flagged.getByRole('status').filter({ hasText: 'by requests' }).waitFor();
    const header = flagged.getByRole('columnheader', { name: 'Requests', exact: true });
    assert.equal(await header.getAttribute('aria-sort'), 'descending', 'the header is read as sorted descending');
    // Read as "Requests", a button: no arrow character, no "pressed" that says nothing of the order.
    const button = header.getByRole('button', { name: 'Requests', exact: true });
    assert.equal(await button.count(), 1, 'the sort button is named by its column alone');
    assert.equal(await button.getAttribute('aria-pressed'), null, 'the sort button is not a toggle');

    await page.goto(`${w.url}/dashboard#/cases`);
    const campaigns = page.locator('section', { has: page.getByRole('heading', { name: 'Campaigns the detector names' }) });
    await campaigns.locator('tbody tr').first().waitFor();
    const names = await campaigns.getByRole('columnheader').allInnerTexts();
    const accessible = await campaigns.locator('thead th').evaluateAll((ths) => ths.map((t) => (t.textContent ?? '').trim()));
    assert.ok(accessible.every((t) => t.length > 0), `every column header has a name (${accessible.join(' | ')}; shown: ${names.join(' | ')})`);
    assert.equal(await campaigns.getByRole('button', { name: `Open a case on ${campaign.id}` }).count(), 1, 'the row\'s button names its campaign');
    // Every table of the page has a caption and column headers with a scope.
    const bare = await page.locator('main table').evaluateAll((ts) => ts.filter((t) => !(t as any).caption?.textContent || !t.querySelector('th') || t.querySelector('th:not([scope])')).length);
    assert.equal(bare, 0, 'every table has a caption and scoped headers');
  } finally {
    await page.close();
  }
});

test('an account search says how many matched while the focus stays in the search field', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: '/accounts' });
  try {
    const search = page.getByRole('searchbox', { name: 'Search accounts' });
    await search.fill('lumen');
    await search.press('Enter');
    await page.getByRole('status').filter({ hasText: '1 account matches “lumen”.' }).waitFor({ state: 'attached' });
    assert.equal(await focused(page), 'INPUT', 'the focus is still in the search field');
    await search.fill('nobody-here');
    await search.press('Enter');
    await page.getByRole('status').filter({ hasText: 'No accounts match “nobody-here”.' }).waitFor({ state: 'attached' });
  } finally {
    await page.close();
  }
});

test('text fields\' borders stand out at 3:1 and level badges\' text at 4.5:1, in light and dark', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: '/detector' });
  try {
    const flagged = page.locator('section', { has: page.getByRole('heading', { name: 'Flagged accounts', level: 2 }) });
    await flagged.locator('tbody tr').first().waitFor();
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme, forcedColors: 'none' });
      const badges = await page.evaluate(`(() => { ${CONTRAST}
        return [...document.querySelectorAll('main .badge')].map((b) => { const bg = backdrop(b); return [b.textContent, ratio(over(getComputedStyle(b).color, bg), bg)]; }); })()`) as [string, number][];
      assert.ok(badges.length > 0, 'the flagged accounts have level badges');
      for (const [text, r] of badges) assert.ok(r >= 4.5, `${scheme}: badge "${text}" at ${r.toFixed(2)}:1`);
      const fields = await page.evaluate(`(() => { ${CONTRAST}
        return [...document.querySelectorAll('main select, main input:not([type=radio]):not([type=checkbox])')].map((f) => { const bg = backdrop(f.parentElement); return [f.id, ratio(over(getComputedStyle(f).borderTopColor, bg), bg)]; }); })()`) as [string, number][];
      assert.ok(fields.length > 0, 'the page has fields');
      for (const [id, r] of fields) assert.ok(r >= 3, `${scheme}: the border of #${id} at ${r.toFixed(2)}:1 against the page`);
    }
  } finally {
    await page.close();
  }
});

test('a cluster\'s operator verdict set and cleared from the keyboard: the focus is on the button that now takes its place', { skip, timeout: 300_000 }, async () => {
  const page = await openTab({ path: `/clusters/${campaign.cluster_id}` });
  try {
    const set = page.getByRole('button', { name: 'Set operator verdict' });
    await set.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Level').selectOption('watch');
    await dialog.getByLabel('Reason (recorded with the verdict)').fill('watching the shared cards');
    await dialog.getByRole('button', { name: 'Set verdict' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Clear operator verdict' }).waitFor();
    await until(page, `document.activeElement?.textContent === 'Change operator verdict'`);

    await page.getByRole('button', { name: 'Clear operator verdict' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').getByLabel('Reason (recorded with the change)').fill('the cards were a test batch');
    await page.getByRole('dialog').getByRole('button', { name: 'Clear verdict' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Set operator verdict' }).waitFor();
    await until(page, `!document.querySelector('main .loading') && document.activeElement !== document.body`);
    assert.equal(await focused(page), 'BUTTON Set operator verdict', 'the focus is on Set operator verdict, where Clear was');
  } finally {
    await page.close();
  }
});
