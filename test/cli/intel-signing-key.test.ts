// The key a provider signs its shared indicators with: written at first start beside the database
// (mode 0600), its public key shown to the operator to give partners, the private key never logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';

test('the intel signing key is written once at first start (0600) and its public key is shown by GET /admin/intel', async () => {
  const said: string[] = [];
  const t = await startTestWarden({}, { log: (l) => said.push(l) });
  try {
    const file = join(dirname(t.config.store.sqlite_path), 'intel-signing.key');
    assert.equal(statSync(file).mode & 0o777, 0o600, `mode of ${file}`);
    assert.match(readFileSync(file, 'utf8'), /^ed25519-private:[\w-]{43}\n$/);
    const intel = await (await fetch(`${t.url}/admin/intel`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as any;
    assert.match(intel.signing?.public_key ?? '', /^ed25519:[\w-]{43}$/, JSON.stringify(intel.signing));
    assert.ok(said.some((l) => l.includes('wrote a new intel signing key') && l.includes(intel.signing.public_key)), `the start-up log names the public key: ${said.join(' | ')}`);
    assert.ok(!said.some((l) => l.includes(readFileSync(file, 'utf8').trim())), 'the private key is never logged');
  } finally {
    await t.close();
  }
});
