// The dashboard's intel import takes the partner's public key, as `warden intel import
// --public-key` does: only what that key signed is taken in, the rest skipped with the reason, and
// a malformed key is refused before anything is imported. Before, the form had no such field: an
// operator importing from the dashboard took in forged objects along with the partner's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { keyedHash } from '../detect/index.ts';
import { IntelSigner } from '../cases/index.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const KEY = 'dashboard-import-key-sharing-0001';

const indicator = (n: string, value: string) => ({
  type: 'indicator', spec_version: '2.1', id: `indicator--00000000-0000-4000-8000-0000000000${n}`, pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
  created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z',
  pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', value)}']`,
});

test('dashboard intel import: with the partner\'s public key, only what it signed is taken in; a bad key is refused', { skip: browserSkip(CHROMIUM), timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-intel-key-'));
  const w = await startWarden(parseConfig({
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, ledger: { enabled: false },
    cases: { sharing_key: KEY, provider: 'Provider B' },
  }), { log: () => {}, demo: false });
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const partner = IntelSigner.generate();
    const mallory = IntelSigner.generate();
    const signed = partner.sign(indicator('b1', 'signed by the partner'));
    const forged = mallory.sign(indicator('b2', 'forged in its name'));
    const bundle = { type: 'bundle', id: 'bundle--00000000-0000-4000-8000-0000000000b0', objects: [signed, forged] };

    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { name: 'analyst' });
    await page.getByRole('link', { name: 'Cases' }).click();
    const intel = page.locator('section', { has: page.getByRole('heading', { name: 'Indicators shared by other providers' }) });
    await intel.getByLabel('STIX 2.1 bundle from a partner').waitFor();

    // A malformed key: refused, nothing imported.
    await intel.getByLabel('STIX 2.1 bundle from a partner').fill(JSON.stringify(bundle));
    await intel.getByLabel('Partner’s public key (only what it signed)').fill('ed25519:not-a-key');
    await intel.getByRole('button', { name: 'Import' }).click();
    await page.locator('#toast', { hasText: /public key/i }).waitFor();
    const held = async () => ((await (await fetch(`${w.url}/admin/intel`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json()) as any).indicators.map((i: any) => i.id);
    assert.deepEqual(await held(), [], 'a bad key imports nothing');

    await intel.getByLabel('Partner’s public key (only what it signed)').fill(partner.publicKey.toString());
    await intel.getByRole('button', { name: 'Import' }).click();
    await page.locator('#toast', { hasText: '1 indicators imported' }).waitFor();
    assert.match(await page.locator('#toast').textContent() ?? '', new RegExp(`1 skipped \\(signed with key ${mallory.keyId}, not the key pinned`), 'the forged one is skipped with why');
    assert.deepEqual(await held(), [signed.id], 'only what the partner signed is matched');
    assert.deepEqual(problems.filter((p) => !/400/.test(p)), [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
