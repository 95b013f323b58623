// The dashboard's everyday use in a real browser (Debian chromium driven by playwright-core)
// against a real Warden: a narrow screen without sideways scrolling, long names that keep the
// actions in view, a search that pages past its first page with its filters applied by the
// server, chart ticks for small counts, keyboard focus kept across a re-render (and not carried
// to another page), a titled "Not found" page, and recent interactions paged both ways. Skips
// only when no chromium binary exists at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { parseConfig } from '../config/index.ts';
import { KEY_SCOPES } from '../identity/index.ts';
import { startWarden, type RunningWarden } from '../cli/serve.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium, offLeft } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);
const LONG_NAME = `build_${'x'.repeat(180)}_key`;

let dir = '';
let w: RunningWarden;
let context: BrowserContext;
let demoId = '';
let loneId = '';
let longEmailId = '';
const LONG_EMAIL = 'firstname.lastname.department@research-subdivision.university.example.edu';

async function admin<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${w.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${w.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? (null as T) : ((await res.json()) as T);
}

async function chat(key: string, content: string): Promise<number> {
  const res = await fetch(`${w.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** A signed-in page at `path`, with the given viewport. */
async function open(path: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; problems: string[] }> {
  return signedInPage(context, w.url, w.adminToken!, { path: `/${path}`, viewport });
}

async function settled(page: Page): Promise<void> {
  await page.locator('.loading').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
}

const scrollWidth = (page: Page) => page.evaluate('document.documentElement.scrollWidth') as Promise<number>;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'warden-ui-layout-'));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
    limits: { tiers: { email_verified: { account: { rpm: 6000, burst: 100 } }, unverified: { account: { rpm: 6000, burst: 100 } } } } });
  w = await startWarden(config, { log: () => {} });
  context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  // The demo account: 60 interactions (three pages of 25: 25, 25 and 10) and a key with a long name.
  for (let i = 0; i < 60; i++) assert.equal(await chat(w.demoKey!, `question number ${i}`), 200);
  const demo = (await admin<{ data: { id: string; email: string }[] }>('GET', '/accounts?limit=5')).data.find((a) => a.email === 'demo@example.com')!;
  demoId = demo.id;
  // 100 older keys, so that the Keys page (100 a page) has a Next page.
  const keyring = await admin<{ id: string }>('POST', '/accounts', { name: 'Keyring', email: 'keys@keyring.example' });
  for (let i = 0; i < 100; i++) await admin('POST', `/accounts/${keyring.id}/keys`, { name: `ring ${i}`, scopes: ['inference'] });
  await admin('POST', `/accounts/${demoId}/keys`, { name: LONG_NAME, scopes: ['inference'] });
  // 130 accounts matching one search, every tenth at tier enterprise, three of the oldest suspended.
  const bulk: string[] = [];
  for (let i = 0; i < 130; i++) {
    const a = await admin<{ id: string }>('POST', '/accounts', { name: `bulk ${String(i).padStart(3, '0')}`, email: `user${i}@bulk.example`, tier: i % 10 === 0 ? 'enterprise' : 'unverified' });
    bulk.push(a.id);
  }
  for (const id of bulk.slice(0, 3)) await admin('POST', `/accounts/${id}/suspend`, { reason: 'test' });
  // An account without a name: its page's title is its long email.
  longEmailId = (await admin<{ id: string }>('POST', '/accounts', { email: LONG_EMAIL })).id;
  // One request, so that the detector knows it (it answers 404 for an account it has not seen).
  assert.equal(await chat((await admin<{ secret: string }>('POST', `/accounts/${longEmailId}/keys`, { scopes: ['inference'] })).secret, 'hello'), 200);
  // An account with exactly one request.
  const lone = await admin<{ id: string }>('POST', '/accounts', { name: 'Lone', email: 'lone@example.org' });
  loneId = lone.id;
  const key = await admin<{ secret: string }>('POST', `/accounts/${loneId}/keys`, { scopes: ['inference'] });
  assert.equal(await chat(key.secret, 'only once'), 200);
  await w.gateway.recorder.flush();
});

after(async () => {
  if (skip) return;
  await context?.close();
  await w?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('at 390 px, no page scrolls sideways or puts anything left of the screen; wide tables scroll in their own box', { skip, timeout: 90_000 }, async () => {
  const { page, problems } = await open('#/keys', { width: 390, height: 844 });
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  await settled(page);
  await page.locator('tbody tr', { hasText: 'build_' }).waitFor();
  assert.equal(await scrollWidth(page), 390, 'Keys page');
  assert.deepEqual(await offLeft(page), [], 'Keys page');
  // Every scope checkbox is on screen (all the scopes a key can carry, wrapped).
  await page.getByLabel('inference', { exact: true }).waitFor();
  for (const scope of KEY_SCOPES) {
    const box = (await page.getByLabel(scope, { exact: true }).boundingBox())!;
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `${scope} is on screen (${box.x})`);
  }
  await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-390-keys.png'), fullPage: true });

  await page.goto(`${w.url}/dashboard/#/accounts/${demoId}`);
  await page.getByRole('heading', { name: 'demo', level: 1 }).waitFor();
  await settled(page);
  await page.getByRole('heading', { name: 'From where' }).waitFor();
  assert.equal(await scrollWidth(page), 390, 'account page');
  assert.deepEqual(await offLeft(page), [], 'account page');
  await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-390-account.png'), fullPage: true });

  // An account titled by a long email: the title wraps, and the actions stay on screen.
  await page.goto(`${w.url}/dashboard/#/accounts/${longEmailId}`);
  await page.getByRole('heading', { name: LONG_EMAIL, level: 1 }).waitFor();
  await settled(page);
  assert.equal(await scrollWidth(page), 390, 'account page titled by a long email');
  assert.deepEqual(await offLeft(page), [], 'account page titled by a long email');

  // Overview, Usage and Limits, each once its data is in.
  for (const [hash, heading, ready] of [['#/', 'Overview', 'Top accounts'], ['#/usage', 'Usage', /^By /], ['#/limits', 'Limits', null]] as const) {
    await page.goto(`${w.url}/dashboard/${hash}`);
    await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    if (ready) await page.getByRole('heading', { name: ready }).first().waitFor();
    await settled(page);
    assert.equal(await scrollWidth(page), 390, `${heading} page`);
    assert.deepEqual(await offLeft(page), [], `${heading} page`);
    await page.screenshot({ path: join(tmpdir(), `warden-dashboard-390-${heading.toLowerCase()}.png`), fullPage: true });
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('a long key name wraps: the key\'s actions stay on screen at 1280 px', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/keys');
  const row = page.locator('tbody tr', { hasText: 'build_' });
  await row.waitFor();
  const revoke = (await row.getByRole('button', { name: /^Revoke key/ }).boundingBox())!;
  assert.ok(revoke.x + revoke.width <= 1280, `Revoke is on screen (right edge ${revoke.x + revoke.width})`);
  assert.equal(await scrollWidth(page), 1280);
  await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-1280-keys.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

/** A pattern matching exactly `text` (names of the form "bulk 007"). */
const exactly = (text: string) => new RegExp('^' + text.replace(/[^\w ]/g, (c) => '\\' + c) + '$');

test('account search pages past its first page, with status and tier applied by the server', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/accounts?q=bulk.example');
  const results = page.locator('section', { has: page.getByRole('heading', { name: /Accounts matching/ }) });
  const row = (name: string) => results.locator('tbody tr', { has: page.locator('td:first-child', { hasText: exactly(name) }) });
  const names = new Set<string>();
  let rows = 0;
  for (let pages = 1; ; pages++) {
    await results.locator('tbody tr').first().waitFor();
    await settled(page);
    const texts = await results.locator('tbody tr td:first-child').allTextContents();
    rows += texts.length;
    for (const t of texts) names.add(t);
    const next = results.getByRole('button', { name: 'Next page' });
    if (!(await next.count())) break;
    assert.ok(pages < 10, 'the pages end');
    await next.click();
    // The old page's first row goes: what is read next is the new page.
    await row(texts[0]).waitFor({ state: 'detached' });
  }
  assert.equal(names.size, 130, 'every matching account is reachable');
  assert.equal(rows, 130, 'each of them once');
  assert.match(page.url(), /cursor=/, 'the page is in the URL');
  await results.getByRole('link', { name: 'First page' }).click();
  await row('bulk 129').waitFor();

  // Filters: all 13 enterprise accounts (three of them, bulk 000, 010 and 020, are older than the
  // newest 100 matches), then the 3 suspended ones. Each wait is on a row the previous results
  // do not have, and on one of theirs going.
  await page.goto(`${w.url}/dashboard/#/accounts?q=bulk.example&tier=enterprise`);
  await row('bulk 000').waitFor();
  await row('bulk 129').waitFor({ state: 'detached' });
  await settled(page);
  assert.equal(await results.locator('tbody tr').count(), 13);
  assert.equal(await results.getByRole('button', { name: 'Next page' }).count(), 0);
  await page.goto(`${w.url}/dashboard/#/accounts?q=bulk.example&status=suspended`);
  await row('bulk 001').waitFor();
  await row('bulk 120').waitFor({ state: 'detached' });
  assert.equal(await results.locator('tbody tr').count(), 3);
  assert.deepEqual((await results.locator('tbody tr td:first-child').allTextContents()).sort(), ['bulk 000', 'bulk 001', 'bulk 002']);

  // Exactly 100 matches (bulk 000 to 099), with older accounts that do not match: the second page
  // is the last, and says so (no Next page, no promise of more).
  await page.goto(`${w.url}/dashboard/#/accounts?q=${encodeURIComponent('bulk 0')}`);
  await row('bulk 099').waitFor();
  await results.getByText('there are more on the next page').waitFor();
  await results.getByRole('button', { name: 'Next page' }).click();
  await row('bulk 000').waitFor();
  await settled(page);
  assert.equal(await results.locator('tbody tr').count(), 50);
  assert.equal(await results.getByRole('button', { name: 'Next page' }).count(), 0);
  assert.equal(await results.getByText(/more on the next page|may match/).count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the chart of an account with one request labels its axis 0 and 1, each once', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open(`#/accounts/${loneId}`);
  await page.getByRole('heading', { name: 'Lone', level: 1 }).waitFor();
  const chart = page.locator('svg.chart').first();
  await chart.waitFor();
  const labels = await chart.locator('text.axis-y').allTextContents();
  assert.deepEqual(labels, ['0', '1']);
  assert.deepEqual(problems, []);
  await page.close();
});

test('an arrow key in the range picker changes the range and keeps the focus there', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await settled(page);
  await page.getByRole('radio', { name: '24 hours' }).focus();
  await page.keyboard.press('ArrowRight');
  await page.locator('main', { hasText: 'Top accounts' }).waitFor();
  await settled(page);
  await page.waitForURL(/range=7d/);
  assert.equal(await page.evaluate('document.activeElement && document.activeElement.value'), '7d');
  await page.keyboard.press('ArrowRight');
  await page.waitForURL(/range=30d/);
  await settled(page);
  assert.equal(await page.evaluate('document.activeElement && document.activeElement.value'), '30d');
  assert.ok(await page.getByRole('radio', { name: '30 days' }).isChecked());
  assert.deepEqual(problems, []);
  await page.close();
});

test('after suspending from the keyboard, the focus is on the button that took its place', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open(`#/accounts/${loneId}`);
  await page.getByRole('button', { name: 'Suspend' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Suspend this account?' }).getByLabel(/Reason/).fill('keyboard test');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Reactivate' }).waitFor();
  await page.locator('main', { hasText: 'Recent interactions' }).waitFor();
  await settled(page);
  assert.equal(await page.evaluate('document.activeElement && document.activeElement.textContent'), 'Reactivate');
  await admin('POST', `/accounts/${loneId}/reactivate`, { reason: 'test over' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the Not found page has its own title', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/cases');
  await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor();
  assert.equal(await page.title(), 'Cases · Warden');
  await page.goto(`${w.url}/dashboard/#/nosuch`);
  await page.getByRole('heading', { name: 'Not found', level: 1 }).waitFor();
  assert.equal(await page.title(), 'Not found · Warden');
  assert.deepEqual(problems, []);
  await page.close();
});

test('recent interactions page older, then newer, with the page in the URL (reload and Back work)', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open(`#/accounts/${demoId}`);
  const recent = page.locator('section', { has: page.getByRole('heading', { name: 'Recent interactions' }) });
  // The row of question n, and not of 10n..., n0...: waits on a row the page shown before lacks.
  const question = (n: number) => recent.locator('tbody tr', { hasText: new RegExp(`question number ${n}(?!\\d)`) });
  const rows = () => recent.locator('tbody tr').count();
  const pager = (name: string) => recent.getByRole('button', { name, exact: true });
  const focused = () => page.evaluate('document.activeElement && document.activeElement.textContent');

  // 60 interactions: pages of 25 (59-35), 25 (34-10) and 10 (9-0).
  await question(59).waitFor();
  assert.equal(await rows(), 25);
  assert.match(await recent.locator('tbody tr').first().textContent() ?? '', /question number 59(?!\d)/);
  assert.equal(await pager('Newer').count(), 0);
  assert.equal(await pager('Newest').count(), 0);

  await pager('Older').click();
  await question(34).waitFor();
  assert.equal(await rows(), 25);
  assert.match(page.url(), /before=/);
  assert.doesNotMatch(page.url(), /newer=/);
  assert.equal(await focused(), 'Older', 'focus stays on Older');
  assert.equal(await pager('Newest').count(), 0, 'the newest page is the newer one');

  await pager('Older').click();
  await question(9).waitFor();
  assert.equal(await rows(), 10);
  assert.match(page.url(), /newer=/);
  assert.equal(await pager('Older').count(), 0);
  assert.ok(['Newest', 'Newer'].includes(String(await focused())), 'focus stays in the pager');
  // A reload shows the same page.
  await page.reload();
  await question(0).waitFor();
  assert.equal(await rows(), 10);

  await pager('Newer').click();
  await question(34).waitFor();
  assert.equal(await rows(), 25);
  assert.match(page.url(), /before=/);
  assert.doesNotMatch(page.url(), /newer=/);
  // Back returns to the oldest page, which still knows its way up.
  await page.goBack();
  await page.waitForURL(/newer=/);
  await question(9).waitFor();
  assert.equal(await rows(), 10);
  await pager('Newest').click();
  await question(59).waitFor();
  assert.equal(await rows(), 25);
  assert.doesNotMatch(page.url(), /before=/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a pager button\'s focus is not carried to another page', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/keys');
  const next = page.getByRole('button', { name: 'Next page' });
  await next.waitFor();
  // Hold the next page of keys back, so the Keys page is still loading when the user moves on.
  let release = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  await page.route(/\/admin\/keys\?.*cursor=/, async (route) => { await held; await route.continue().catch(() => {}); });
  await next.click();
  await page.getByRole('navigation').getByRole('link', { name: 'Accounts' }).click();
  await page.getByRole('heading', { name: 'Newest accounts' }).waitFor();
  await page.getByRole('button', { name: 'Next page' }).waitFor();
  await settled(page);
  release();
  await page.waitForTimeout(300);
  assert.notEqual(await page.evaluate('document.activeElement && document.activeElement.textContent'), 'Next page');
  assert.equal(await page.evaluate('window.scrollY'), 0, 'the page stays at its top');
  assert.deepEqual(problems, []);
  await page.close();
});

test('after a rotation, the focus is on the rotated key\'s Revoke now', { skip, timeout: 60_000 }, async () => {
  const rotor = await admin<{ id: string }>('POST', '/accounts', { name: 'Rotor', email: 'rotor@rotor.example' });
  const key = await admin<{ key: { prefix: string } }>('POST', `/accounts/${rotor.id}/keys`, { scopes: ['inference'] });
  const { page, problems } = await open(`#/keys?account_id=${rotor.id}`);
  await page.getByRole('button', { name: `Rotate key ${key.key.prefix}` }).click();
  const ask = page.getByRole('dialog', { name: /^Rotate key/ });
  await ask.getByLabel('Grace period for the old key').selectOption('3600');
  await ask.getByRole('button', { name: 'Rotate' }).click();
  await page.getByRole('dialog', { name: 'Rotated API key' }).getByRole('button', { name: 'I have copied it' }).click();
  const revokeNow = page.getByRole('button', { name: `Revoke key ${key.key.prefix} now` });
  await revokeNow.waitFor();
  await settled(page);
  await page.waitForFunction('document.activeElement && document.activeElement.textContent === "Revoke now"', null, { timeout: 5_000 });
  assert.equal(await page.evaluate('document.activeElement.getAttribute("aria-label")'), `Revoke key ${key.key.prefix} now`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('short JSON keeps its own width; a reasoning count reads as part of the output', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await open('#/');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  const widths = await page.evaluate(`(async () => {
    const { scalar } = await import('./lib/json.js');
    const box = document.createElement('div');
    document.body.append(box);
    const short = scalar('x', {});
    const long = scalar('x', { a: 'a fairly long value', b: 'and another one', c: 3 });
    box.append(short, ' ', long);
    const ch = parseFloat(getComputedStyle(short).fontSize) * 0.5;
    const out = { short: short.getBoundingClientRect().width, long: long.className, ch };
    box.remove();
    return out;
  })()`) as { short: number; long: string; ch: number };
  assert.ok(widths.short < 8 * widths.ch, `{} is narrow (${widths.short} px)`);
  assert.match(widths.long, /cell-text/);
  const cell = await page.evaluate(`(async () => {
    const { interactionsTable } = await import('./lib/widgets.js');
    const row = { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', ts: new Date().toISOString(), model: 'm', account_id: null, client_ip: '203.0.113.1', country: null, asn: null,
      user_agent: null, status: 200, error_code: null, input_tokens: 12, output_tokens: 340, reasoning_tokens: 100, tools: 0, prompt_preview: null,
      enforcement: { limit: null, verdict: null, shaping: [], policy: [], watermark: null } };
    const t = interactionsTable([row], {});
    return [...t.querySelectorAll('td')].map((td) => td.textContent).find((x) => x.includes('340'));
  })()`) as string;
  assert.equal(cell, '12 / 340of which 100 reasoning');
  assert.deepEqual(problems, []);
  await page.close();
});
