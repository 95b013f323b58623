// An operator on call reads `warden detect account ID` for a customer refused as suspended: an
// account suspended in the account store (not by a verdict) says so there, with who suspended it,
// when and why, and how to lift it; the detector's own "none" alone sent them looking elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { runDetectCli } from '../../src/cli/detect-cmd.ts';

test('warden detect account: an account suspended in the account store says who suspended it, when, why and how to lift it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-detect-suspended-'));
  const w = await startWarden(parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } }), { log: () => {} });
  try {
    const env = { ...process.env, WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: w.adminToken! };
    const run = async (...argv: string[]) => {
      let out = ''; let err = '';
      const code = await runDetectCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env });
      return { code, out, err };
    };
    const headers = { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'day shift' };
    const acct = await (await fetch(`${w.url}/admin/accounts`, { method: 'POST', headers, body: JSON.stringify({ name: 'Ana Night' }) })).json() as { id: string };
    const { secret } = await (await fetch(`${w.url}/admin/accounts/${acct.id}/keys`, { method: 'POST', headers, body: '{}' })).json() as { secret: string };
    // One interaction, so the detector knows the account.
    const chat = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });
    assert.equal(chat.status, 200);
    await chat.arrayBuffer();
    for (let t = 0; t < 100 && (await run('account', acct.id)).code !== 0; t++) await new Promise((res) => setTimeout(res, 20));
    const before = await run('account', acct.id);
    assert.equal(before.code, 0, before.err);
    assert.ok(!/suspended/.test(before.out), `an active account says nothing of a suspension (${before.out})`);

    const s = await fetch(`${w.url}/admin/accounts/${acct.id}/suspend`, { method: 'POST', headers, body: JSON.stringify({ reason: 'chargeback fraud suspected, ticket 4411' }) });
    assert.equal(s.status, 200);
    const r = await run('account', acct.id);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${acct.id}: none$`, 'm'), 'the detector still holds it at none');
    assert.match(r.out, /^account status: suspended \d{4}-\S+ by day shift: chargeback fraud suspected, ticket 4411$/m, `who, when and why (${r.out})`);
    assert.match(r.out, new RegExp(`warden accounts reactivate ${acct.id} --reason`), 'and how to lift it');
    assert.equal(JSON.parse((await run('account', acct.id, '--json')).out).level, 'none', 'the JSON answer is the detector\'s, unchanged');
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
