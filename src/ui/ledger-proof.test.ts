// Checking, from the dashboard, that an operator's verdict is in the signed ledger: a real Warden
// (ledger on, as by default), a verdict set through the admin API, then in a real browser the
// Ledger page's "Check proof" on its entry: the proof is checked in the browser (leaf hash, path,
// root, the checkpoint's signature) and said to hold; the same entry served with its text changed
// (a tampered proof, through request interception) is said not to hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();

test('dashboard: the ledger proof of a verdict is checked in the browser, and a tampered one fails', { skip: browserSkip(CHROMIUM), timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-proof-'));
  const config = parseConfig({
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
  });
  const w = await startWarden(config, { log: () => {} });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${w.url}${path}`, { method, headers: { authorization: `Bearer ${w.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    assert.ok(res.ok, `${method} ${path}: ${res.status}`);
    return res.headers.get('content-type')?.includes('json') ? res.json() as any : res.text();
  };
  const account = await call('POST', '/admin/accounts', { name: 'Complaining customer', email: 'ops@customer.example' });
  await call('POST', '/admin/detect/verdicts', { kind: 'account', id: account.id, level: 'none', note: 'their evaluation harness, confirmed by their account manager' });
  // The verdict is a ledger entry once a checkpoint covers it.
  let index = -1;
  for (let i = 0; i < 100 && index < 0; i++) {
    const size = Number(String(await fetch(`${w.url}/ledger/v1/checkpoint`, { headers: { authorization: `Bearer ${w.adminToken}` } }).then((r) => (r.ok ? r.text() : ''))).split('\n')[1] ?? 0);
    if (size > 0) {
      const entries = (await call('GET', `/ledger/v1/entries?start=0&end=${size}`)).entries as Array<{ index: number; leaf: string }>;
      index = entries.find((e) => JSON.parse(e.leaf).kind === 'verdict' && e.leaf.includes(account.id))?.index ?? -1;
    }
    if (index < 0) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(index >= 0, 'the operator verdict reached a signed checkpoint');
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: '#/ledger' });
    const entries = page.locator('section', { has: page.getByRole('heading', { name: 'Newest entries' }) });
    await entries.getByRole('button', { name: `Check the proof of entry ${index}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: `Entry ${index} is in the signed log` }).waitFor();
    const key = String(await call('GET', '/ledger/v1/key')).trim();
    assert.match(await dialog.textContent() ?? '', new RegExp(`Signed with${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), 'the key it was checked with is shown, to compare with the published one');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Check proof', 'the focus returns to the button');

    // The same proof with the entry's text changed (its level raised): the browser's check fails.
    await page.route('**/ledger/v1/proof/inclusion?*', async (route) => {
      const real = await route.fetch();
      const body = await real.json();
      await route.fulfill({ response: real, json: { ...body, leaf: body.leaf.replace('"level":"none"', '"level":"suspend"') } });
    });
    await entries.getByRole('button', { name: `Check the proof of entry ${index}` }).click();
    await dialog.getByRole('heading', { name: `Entry ${index}: the proof does not hold` }).waitFor();
    assert.match(await dialog.getByRole('alert').textContent() ?? '', /does not lead to the root hash the checkpoint signs/, 'the failing step is named');
    assert.deepEqual(problems, [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
