// A partner rotates its signing key: the operator pins the new key in warden.yaml
// (cases.partners[].public_key) and sends SIGHUP, or POST /admin/intel/pins/reload; what the
// partner signs with the new key is taken in without a restart, the change is logged, and
// `warden intel partners` shows the pinned key ids. A pin that is not a key changes nothing.
// Before, a pin changed only with a restart: the partner's posts were refused until then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServe } from '../helpers/serve-process.ts';
import { IntelSigner } from '../../src/cases/index.ts';
import { runIntelCli } from '../../src/cli/cases-cmd.ts';
import { systemPromptIndicator } from '../helpers/intel.ts';

const TOKEN = 'pins-reload-test-admin-token-0123456789';
const KEY = 'pins-reload-sharing-key-0123456789';

const config = (pin: string) => [
  'server: {port: 0}', 'store: {sqlite_path: ./data/warden.db}', 'admin: {token: env:PINS_TEST_ADMIN}', 'log: {level: info}', 'ledger: {enabled: false}',
  `cases: {sharing_key: ${KEY}, provider: Provider B, partners: [{name: Provider A, trust: high, public_key: ${JSON.stringify(pin)}}]}`, '',
].join('\n');

const indicator = (value: string) => systemPromptIndicator(KEY, value);

const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 300; i++) { if (await cond()) return; await new Promise((r) => setTimeout(r, 100)); }
  assert.fail(`waited for ${what}`);
};

test('a partner\'s new signing key pinned in the configuration is in force after SIGHUP or POST /admin/intel/pins/reload, without a restart', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pins-'));
  let child: ChildProcess | null = null;
  const before = IntelSigner.generate();
  const after = IntelSigner.generate();
  try {
    writeFileSync(join(dir, 'w.yaml'), config(before.publicKey.toString()));
    const running = spawnServe(['-c', 'w.yaml', '--no-demo'], { cwd: dir, env: { PINS_TEST_ADMIN: TOKEN } });
    child = running.proc;
    const url = await running.listening();
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: await res.json() as any };
    };
    const org = (await admin('POST', '/orgs', { name: 'Provider A', tier: 'enterprise' })).body;
    const acct = (await admin('POST', '/accounts', { org_id: org.id, name: 'intel desk' })).body;
    const writeKey = (await admin('POST', `/accounts/${acct.id}/keys`, { scopes: ['intel:write'] })).body.secret as string;
    const taxii = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${url}/taxii2${path}`, { ...init, headers: { accept: 'application/taxii+json;version=2.1', authorization: `Bearer ${writeKey}`, ...(init.body ? { 'content-type': 'application/taxii+json;version=2.1' } : {}) } });
      return { status: res.status, body: await res.json() as any };
    };
    const inbox = (await taxii('/intel/collections/')).body.collections.find((c: any) => c.can_write);
    const push = (o: object) => taxii(`/intel/collections/${inbox.id}/objects/`, { method: 'POST', body: JSON.stringify({ objects: [o] }) });

    assert.equal((await push(before.sign(indicator('one')))).status, 202, 'signed with the key pinned: taken in');
    const refused = await push(after.sign(indicator('two')));
    assert.equal(refused.status, 422, `signed with the partner's new key, not yet pinned: refused (${JSON.stringify(refused.body)})`);
    const listed = (await admin('GET', '/intel/partners')).body.partners[0];
    assert.deepEqual(listed.pinned_keys, [before.keyId], 'the listing shows the pinned key id');

    // The partner rotates: the operator pins both keys, and sends SIGHUP.
    writeFileSync(join(dir, 'w.yaml'), config('').replace('public_key: ""', `public_key: [${before.publicKey.toString()}, ${after.publicKey.toString()}]`));
    child.kill('SIGHUP');
    await until(() => /INTEL_PINS_RELOADED/.test(running.output()), `the reload's log line: ${running.output()}`);
    assert.equal(child.exitCode, null, 'the server still runs');
    assert.match(running.output(), new RegExp(`partner Provider A: ${before.keyId} -> ${before.keyId}, ${after.keyId}`), 'the log line names the keys before and after');
    assert.equal((await push(after.sign(indicator('three')))).status, 202, 'signed with the new key: taken in, no restart');

    // The key before dropped, through the admin route this time; a bad pin first changes nothing.
    writeFileSync(join(dir, 'w.yaml'), config('ed25519:not-a-key'));
    const bad = await admin('POST', '/intel/pins/reload');
    assert.equal(bad.status, 409, `a configuration that does not parse is refused: ${JSON.stringify(bad.body)}`);
    assert.match(bad.body.error.message, /public_key.*the pins in force are unchanged/);
    assert.equal((await push(before.sign(indicator('four')))).status, 202, 'the pins in force stay');
    writeFileSync(join(dir, 'w.yaml'), config(after.publicKey.toString()));
    const done = await admin('POST', '/intel/pins/reload');
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(done.body.changed, [{ kind: 'partner', name: 'Provider A', before: [before.keyId, after.keyId], after: [after.keyId] }]);
    assert.equal((await push(before.sign(indicator('five')))).status, 422, 'the dropped key is refused at once');

    const out: string[] = [];
    const code = await runIntelCli(['partners'], { out: (t) => out.push(t), err: (t) => out.push(t), env: { WARDEN_ADMIN_URL: url, WARDEN_ADMIN_TOKEN: TOKEN } });
    assert.equal(code, 0, out.join('\n'));
    assert.match(out.join('\n'), new RegExp(`pinned_keys[\\s\\S]*${after.keyId}`, 'i'), `warden intel partners shows the pinned key id: ${out.join('\n')}`);
    assert.ok(!out.join('\n').includes(after.publicKey.toString().slice(8)), 'ids, not keys');
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((done) => child!.once('exit', done));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
