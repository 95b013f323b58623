// The account page's Limits panel in a real browser against a real Warden: a customer pushed over
// its own requests per minute is shown refused by that limit, with its numbers, and the refusal is
// counted under it. Skips only when no chromium binary exists at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../../test/helpers/warden.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();

test('dashboard: an account refused by its requests per minute shows that limit refusing, its numbers and the refusal counted', { skip: browserSkip(CHROMIUM), timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-limits-'));
  const t = await startTestWarden({ ledger: { enabled: false }, server: { port: 0, host: '127.0.0.1' } });
  const launching = launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const a = await t.account('limited', 'email_verified');
    await t.admin('/limits/overrides', { scope: 'account', subject: a.id, limits: { rpm: 1, burst: 1 } });
    const chat = () => fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${a.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    assert.equal((await chat()).status, 200);
    assert.equal((await chat()).status, 429, 'the second request is refused by the account limit');
    await t.w.gateway.recorder.flush();

    const { page, problems } = await signedInPage((await launching), t.url, TEST_ADMIN_TOKEN, { path: `#/accounts/${a.id}` });
    const panel = page.locator('section', { has: page.getByRole('heading', { name: 'Limits', exact: true }) });
    const verdict = panel.locator('.limits-refusing');
    await verdict.waitFor();
    assert.match(await verdict.textContent() ?? '', /would be refused by the account Requests \/ min limit \(acct_\w+\): it would pass in \d+ s\./, await verdict.textContent() ?? '');
    const meters = panel.locator('table', { has: page.locator('caption', { hasText: 'Every limit on its requests' }) });
    const headers = await meters.locator('thead th').allTextContents();
    const row = meters.locator('tbody tr', { hasText: 'Requests / min' }).filter({ hasText: a.id });
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[headers.indexOf('Limit')], '1 (burst 1)', `the limit: ${cells.join(' | ')}`);
    assert.equal(cells[headers.indexOf('Used')], '1');
    assert.equal(cells[headers.indexOf('Left')], '0');
    assert.match(cells[headers.indexOf('Next request')], /refused, \d+ s/);
    const refusals = panel.locator('table', { has: page.locator('caption', { hasText: 'Refusals by the limit that refused' }) });
    assert.match(await refusals.locator('caption').textContent() ?? '', /1 in the last hour, 1 in the last day/);
    const refusal = await refusals.locator('tbody tr').first().locator('td').allTextContents();
    assert.deepEqual(refusal, ['account', a.id, 'Requests / min', '1', '1'], 'counted under the account rpm limit');
    assert.deepEqual(problems, [], 'no errors in the page');
    await page.close();
  } finally {
    await (await launching.catch(() => null))?.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
