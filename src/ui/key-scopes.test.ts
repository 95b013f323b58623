// The dashboard's key form offers every scope a key can carry, from the identity module's table (a
// scope added there is offered without a change to the form): an operator creates a usage-only key
// (`usage:read`, `usage:read:org`) for a customer's billing tool, which reads its usage and calls no
// model. In a real browser (Debian chromium driven by playwright-core) against a real Warden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { DEFAULT_KEY_SCOPES, KEY_SCOPES, identitySchemas } from '../identity/index.ts';
import { features } from './routes.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();

test('the dashboard is told every scope a key can carry, with what it grants, and the admin API takes each', () => {
  const offered = features(undefined).key_scopes;
  assert.deepEqual(offered.map((s) => s.scope), [...KEY_SCOPES], 'every scope of the identity table, in its order');
  for (const s of offered) assert.ok(s.grants.length > 10, `${s.scope} says what it grants: "${s.grants}"`);
  assert.deepEqual(offered.filter((s) => s.default).map((s) => s.scope), [...DEFAULT_KEY_SCOPES]);
  assert.deepEqual(identitySchemas.KeyScope.options, [...KEY_SCOPES], 'the admin API validates the same list');
});

test('key form: every scope is offered; a usage-only key is created, reads usage and calls no model', { skip: browserSkip(CHROMIUM), timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-scopes-'));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  const w = await startWarden(config, { log: () => {} });
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const accounts = await (await fetch(`${w.url}/admin/accounts?limit=5`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as { data: { id: string; email: string }[] };
    const demo = accounts.data.find((a) => a.email === 'demo@example.com');
    assert.ok(demo, `the demo account: ${JSON.stringify(accounts.data)}`);

    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `#/accounts/${encodeURIComponent(demo.id)}` });
    const keysPanel = page.locator('section', { has: page.getByRole('heading', { name: 'API keys' }) });
    await keysPanel.getByLabel('inference', { exact: true }).waitFor();
    for (const scope of KEY_SCOPES) {
      const box = keysPanel.getByLabel(scope, { exact: true });
      assert.equal(await box.count(), 1, `the form offers ${scope}`);
      assert.equal(await box.isChecked(), DEFAULT_KEY_SCOPES.includes(scope), `${scope} starts ${DEFAULT_KEY_SCOPES.includes(scope) ? 'checked' : 'unchecked'}`);
    }

    // A key for a billing tool: usage only, its organisation's too.
    await keysPanel.getByLabel('Name').fill('billing export');
    for (const scope of DEFAULT_KEY_SCOPES) await keysPanel.getByLabel(scope, { exact: true }).uncheck();
    await keysPanel.getByLabel('usage:read', { exact: true }).check();
    await keysPanel.getByLabel('usage:read:org', { exact: true }).check();
    await keysPanel.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.waitFor();
    const secret = (await dialog.locator('#new-key-secret').textContent())!.trim();
    await dialog.getByRole('button', { name: 'I have copied it' }).click();
    const row = keysPanel.locator('tbody tr', { hasText: 'billing export' });
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /usage:read, usage:read:org/, 'the table shows the key\'s scopes');
    // The form is ready for the next key: the usual scopes checked again.
    for (const scope of KEY_SCOPES) assert.equal(await keysPanel.getByLabel(scope, { exact: true }).isChecked(), DEFAULT_KEY_SCOPES.includes(scope), `${scope} reset`);

    const usage = await fetch(`${w.url}/v1/warden/usage`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(usage.status, 200, `the key reads its usage: ${await usage.clone().text()}`);
    const call = await fetch(`${w.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(call.status, 403, `and calls no model: ${await call.clone().text()}`);
    // The account page asks for the detector's routes, which this server may lack (404, shown as such).
    assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script or console errors');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
