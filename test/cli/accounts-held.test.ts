// An operator on call reads `warden accounts get ID` for a customer refused as suspended while its
// record says `status active`: the detector holds it at suspend (here an operator verdict set by
// another operator). The command says so under the record, with what decided it, the verdict's
// reasons (the note and who set it) and the command that lifts it; through the admin API (--url)
// and on the local store, where the Warden serving the same configuration is asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { runAdminCommand } from '../../src/admin/index.ts';
import { runWarden } from '../helpers/warden-cli.ts';

test('warden accounts get: an account the detector holds at suspend says so, why, and the command that lifts it', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-accounts-held-'));
  const sqlite = join(dir, 'warden.db');
  const w = await startWarden(parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: sqlite }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } }), { log: () => {} });
  try {
    const env = { ...process.env, WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: w.adminToken! };
    const run = async (...argv: string[]) => {
      let out = ''; let err = '';
      const code = await runAdminCommand('accounts', argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env });
      return { code, out, err };
    };
    const headers = { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'day shift' };
    const acct = await (await fetch(`${w.url}/admin/accounts`, { method: 'POST', headers, body: JSON.stringify({ name: 'Ana Night' }) })).json() as { id: string };
    const { secret } = await (await fetch(`${w.url}/admin/accounts/${acct.id}/keys`, { method: 'POST', headers, body: '{}' })).json() as { secret: string };
    const chat = () => fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });
    const first = await chat();
    assert.equal(first.status, 200, 'served before any verdict');
    await first.arrayBuffer();

    const before = await run('get', acct.id);
    assert.equal(before.code, 0, before.err);
    assert.match(before.out, /^status\s+active$/m);
    assert.ok(!/held at suspend/.test(before.out), `an account nothing holds says nothing of it (${before.out})`);

    const set = await fetch(`${w.url}/admin/detect/verdicts`, { method: 'POST', headers, body: JSON.stringify({ kind: 'account', id: acct.id, level: 'suspend', note: 'card testing, ticket 5120' }) });
    assert.equal(set.status, 201, await set.clone().text());
    const refused = await chat();
    assert.equal(refused.status, 403, 'the customer is refused as suspended');
    await refused.arrayBuffer();

    const r = await run('get', acct.id);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^status\s+active$/m, 'the record still reads active');
    assert.match(r.out, /^detector: held at suspend; every key of the account is refused whatever its status reads$/m, `the hold is named (${r.out})`);
    assert.match(r.out, /decided by the operator's verdict on the account \(suspend\)/, 'with what decided it');
    assert.match(r.out, /^ {2}reasons: set by day shift: card testing, ticket 5120$/m, 'the verdict\'s reasons: who set it and why');
    assert.match(r.out, new RegExp(`^  lift it: warden detect verdict clear --account ${acct.id} --reason TEXT$`, 'm'), 'and the command that lifts it');
    assert.equal(JSON.parse((await run('get', acct.id, '--json')).out).id, acct.id, 'the JSON answer is the record, unchanged');

    // On the local store: the Warden serving the same configuration (its port, the token file beside the database) is asked.
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `server:\n  port: ${new URL(w.url).port}\nstore:\n  sqlite_path: ${sqlite}\n`);
    const local = await runWarden(['accounts', 'get', acct.id], { env: { WARDEN_CONFIG: config } });
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stdout, /^detector: held at suspend/m, `the local store's answer names the hold too (${local.stdout} ${local.stderr})`);
    assert.match(local.stdout, new RegExp(`warden detect verdict clear --account ${acct.id}`), 'and how to lift it');

    // With no Warden answering for the configuration, the record is printed and the detector said not asked (not silently left out).
    const free = await new Promise<number>((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => res(port)); }); });
    writeFileSync(config, `server:\n  port: ${free}\nstore:\n  sqlite_path: ${sqlite}\n`);
    const down = await runWarden(['accounts', 'get', acct.id], { env: { WARDEN_CONFIG: config } });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /^status\s+active$/m, 'the record is printed');
    assert.match(down.stdout, /^detector: not asked whether a verdict holds the account: .*nothing listens there/m, `and the detector said not asked, with why (${down.stdout})`);
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
