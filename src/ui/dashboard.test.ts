// The dashboard in a real browser (Debian chromium driven by playwright-core) against a real
// Warden: traffic through the gateway, then sign in, read the overview, open an account, create a
// key (secret shown once), revoke it and see the gateway refuse it. Skips only when no chromium
// binary exists at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();

async function chat(url: string, key: string, content: string, model = 'gpt-4o-mini'): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'user-agent': 'dashboard-test/1.0' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
}

test('dashboard: sign in, overview shows traffic, account page, key created once, revoked and refused', { skip: browserSkip(CHROMIUM), timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-'));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  const w = await startWarden(config, { log: () => {} });
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    assert.ok(w.demoKey && w.adminToken);
    // Traffic: served requests on two models, an Anthropic call, and a refused bad key.
    for (let i = 0; i < 6; i++) assert.equal((await chat(w.url, w.demoKey!, `Summarise item ${i} of the quarterly report`)).status, 200);
    assert.equal((await chat(w.url, w.demoKey!, 'Translate to French: good morning', 'claude-sonnet-4')).status, 200);
    assert.equal((await chat(w.url, 'wk_live_not_a_real_key', 'hello')).status, 401);
    await w.gateway.recorder.flush();

    const page = await context.newPage();
    const foreign: string[] = [];
    const problems: string[] = [];
    const urls: string[] = [];
    page.on('request', (r) => { urls.push(r.url()); if (!r.url().startsWith(w.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));

    // Sign in: a wrong token is refused, the right one opens the overview.
    await page.goto(`${w.url}/dashboard`);
    await page.getByLabel('Admin token').fill('definitely-not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The server refused this token.').waitFor();
    await page.getByLabel('Admin token').fill(w.adminToken!);
    await page.getByLabel('Your name (optional)').fill('ops-test');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

    // The overview shows the traffic: 8 requests, 7 served, one unauthenticated, the demo account on top.
    const kpi = (label: string) => page.locator('.kpi', { has: page.locator('.kpi-label', { hasText: label }) }).locator('.kpi-value');
    await kpi('Requests').waitFor();
    assert.equal(await kpi('Requests').textContent(), '8');
    assert.equal(await kpi('Accounts').textContent(), '1');
    // The error rate counts client and server errors, as its subtitle and the tables' Errors say;
    // the refused bad key is unauthenticated, counted apart.
    const kpiSub = (label: string) => page.locator('.kpi', { has: page.locator('.kpi-label', { hasText: label }) }).locator('.kpi-sub');
    assert.equal(await kpiSub('Error rate').textContent(), '0 client, 0 server; 1 unauthenticated apart');
    const models = page.locator('section', { has: page.getByRole('heading', { name: 'Models' }) });
    const miniRow = models.locator('tbody tr', { hasText: 'gpt-4o-mini' });
    const headers = await models.locator('thead th').allTextContents();
    const cells = await miniRow.locator('td').allTextContents();
    assert.equal(cells[headers.indexOf('Errors')], '0', 'the bad key\'s request is not an error of gpt-4o-mini');
    // Its key was refused before its body was read, so it names no model: counted apart, not as gpt-4o-mini's.
    assert.equal(cells[headers.indexOf('Unauth.')], '0', 'the refused request is not counted as gpt-4o-mini\'s');
    const unauth = await models.locator('tbody tr').evaluateAll((rows, at) => rows.reduce((n, r) => n + Number(r.querySelectorAll('td')[at]?.textContent ?? 0), 0), headers.indexOf('Unauth.'));
    assert.equal(unauth, 1, 'it is counted as unauthenticated in the models table');
    const topAccounts = page.locator('section', { has: page.getByRole('heading', { name: 'Top accounts' }) });
    assert.match(await topAccounts.locator('tbody tr').first().textContent() ?? '', /demo.*7/);
    const outcomes = page.locator('section', { has: page.getByRole('heading', { name: 'Outcomes' }) });
    assert.match(await outcomes.textContent() ?? '', /WARDEN_INVALID_API_KEY/);
    assert.equal(await page.locator('svg.chart').count(), 2);
    assert.match(await page.locator('svg.chart').first().getAttribute('aria-label') ?? '', /8 requests/);
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-overview.png'), fullPage: true });

    // The token is kept for this tab only, and never travels in a URL.
    assert.equal(await page.evaluate("sessionStorage.getItem('warden.admin.token')"), w.adminToken);
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.ok(!urls.some((u) => u.includes(w.adminToken!)), 'admin token never in a URL');

    // Open the account from the top accounts table.
    await topAccounts.getByRole('link', { name: /demo/ }).click();
    await page.getByRole('heading', { name: 'demo', level: 1 }).waitFor();
    const factsPanel = page.locator('section', { has: page.getByRole('heading', { name: 'Signup facts' }) });
    assert.match(await factsPanel.textContent() ?? '', /demo@example\.com/);
    // When the account was first used (recorded with the batched key use, so it may not be yet).
    assert.match(await factsPanel.textContent() ?? '', /First used(not recorded yet| ?\S)/);
    const recent = page.locator('section', { has: page.getByRole('heading', { name: 'Recent interactions' }) });
    await recent.locator('tbody tr').first().waitFor();
    assert.equal(await recent.locator('tbody tr').count(), 7);
    assert.match(await recent.textContent() ?? '', /Translate to French/);
    const keysPanel = page.locator('section', { has: page.getByRole('heading', { name: 'API keys' }) });
    await keysPanel.locator('tbody tr').first().waitFor();
    assert.equal(await keysPanel.locator('tbody tr').count(), 1, 'the demo key');

    // Create a key: the secret is shown once, works at the gateway, and is gone when the dialog closes.
    await keysPanel.getByLabel('Name').fill('ui-test key');
    await keysPanel.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.waitFor();
    const secret = (await dialog.locator('#new-key-secret').textContent())!.trim();
    assert.match(secret, /^wk_/);
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-new-key.png') });
    await dialog.getByRole('button', { name: 'I have copied it' }).click();
    await dialog.waitFor({ state: 'detached' });
    await keysPanel.locator('tbody tr', { hasText: 'ui-test key' }).waitFor();
    assert.ok(!(await page.content()).includes(secret), 'the secret is not left in the page');
    assert.equal((await chat(w.url, secret, 'first call with the new key')).status, 200);

    // Revoke it from the table: the gateway refuses it at once.
    const row = keysPanel.locator('tbody tr', { hasText: 'ui-test key' });
    await row.getByRole('button', { name: /^Revoke key/ }).click();
    const confirm = page.getByRole('dialog', { name: /Revoke key/ });
    await confirm.getByLabel(/Reason/).fill('dashboard test');
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await keysPanel.locator('tbody tr', { hasText: 'ui-test key' }).waitFor({ state: 'detached' });
    const refused = await chat(w.url, secret, 'after revocation');
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: { warden_code: string } }).error.warden_code, 'WARDEN_REVOKED_API_KEY');
    await page.getByLabel('Show revoked and expired keys').check();
    await keysPanel.locator('tbody tr', { hasText: 'ui-test key' }).getByText('revoked').waitFor();
    const history = page.locator('section', { has: page.getByRole('heading', { name: 'Change history' }) });
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-account.png'), fullPage: true });
    const revocation = history.locator('tbody tr', { hasText: 'dashboard test' });
    await revocation.waitFor();
    assert.match(await revocation.textContent() ?? '', /revoke.*dashboard:ops-test/, 'the revocation is recorded with the operator and reason');

    // The other pages load without errors; the detector and ledger pages say what is mounted.
    for (const [hash, heading] of [['#/usage?by=network', 'Usage'], ['#/keys', 'API keys'], ['#/limits', 'Limits'], ['#/detector', 'Detector'], ['#/ledger', 'Ledger'], ['#/accounts?q=example.com', 'Accounts']] as const) {
      await page.goto(`${w.url}/dashboard/${hash}`);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.locator('.loading').first().waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
      assert.equal(await page.locator('.error-box').count(), 0, `no error on ${hash}: ${await page.locator('.error-box').allTextContents()}`);
    }
    assert.match(await page.locator('main').textContent() ?? '', /demo@example\.com/);
    await page.goto(`${w.url}/dashboard/#/limits`);
    await page.getByText('Overrides in force').waitFor();
    // The limiter's backend arrives with its own request, after the page's headings. (A locator,
    // not waitForFunction: a predicate that has to be polled is evaluated as a string in the page,
    // which the dashboard's CSP refuses, and the refusal reads as a script error below.)
    await page.locator('main', { hasText: 'memory' }).waitFor({ timeout: 5000 }).catch(() => {});
    assert.match(await page.locator('main').textContent() ?? '', /memory/);

    // Sign out forgets the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('warden.admin.token')"), null);

    assert.deepEqual(foreign, [], 'nothing fetched from another origin');
    assert.deepEqual(problems.filter((p) => !/401 \(Unauthorized\)/.test(p)), [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

