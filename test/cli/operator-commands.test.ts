// Operator commands against a running Warden, as an operator meets them during an incident: a case
// on an unknown campaign is refused with the server's error alone (exit 2, bad input); the intel
// list shows the level an indicator can actually impose; an account's history includes the
// operator's detector decisions on it (allow-list, operator verdicts), as the dashboard lists them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { runCasesCli, runIntelCli } from '../../src/cli/cases-cmd.ts';
import { runAdminCommand } from '../../src/admin/index.ts';
import { exchangeValue, keyedHash } from '../../src/detect/index.ts';
import { WARDEN } from '../helpers/node-args.ts';

const KEY = 'consortium-key-for-the-operator-test';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => { out.push(t); }, err: (t: string) => { err.push(t); }, env: {} } };
}

test('operator commands: unknown campaign, intel levels, account history with detector decisions', { timeout: 120_000 }, async () => {
  const t = await startTestWarden({ cases: { sharing_key: KEY, provider: 'Provider B' }, detect: { tick_seconds: 0.05 } });
  const dir = mkdtempSync(join(tmpdir(), 'warden-operator-'));
  try {
    const conn = ['--url', t.url, '--token', TEST_ADMIN_TOKEN];

    // A case on a campaign the detector does not know: the server's error on its own line, exit 2 (bad input).
    const open = capture();
    const code = await runCasesCli(['open', 'camp_nope', ...conn], open.io);
    assert.equal(code, 2, 'a server refusal of bad input exits 2, as docs/admin-api.md says');
    assert.deepEqual(open.out, [], `nothing on stdout (no usage text): ${open.out.join('\n')}`);
    assert.equal(open.err.length, 1, `one message: ${open.err.join('|')}`);
    assert.match(open.err[0], /^error: the detector has no campaign camp_nope .*\(WARDEN_NOT_FOUND\)$/, 'the server\'s error alone');
    // An unknown case id is not bad input of the command line: it stays a failure (exit 1).
    const show = capture();
    assert.equal(await runCasesCli(['show', 'case_nope', ...conn], show.io), 1, 'an unknown case is not found (exit 1)');

    // Indicators imported at throttle: an address alone holds at watch, a system prompt at throttle.
    const hash = (kind: 'client_ip' | 'system_prompt' | 'asn', v: string) => keyedHash(KEY, kind, exchangeValue(kind, v)!);
    const ind = (n: number, kind: string, h: string) => ({
      type: 'indicator', spec_version: '2.1', id: `indicator--3f0f0f0f-0000-4000-8000-00000000000${n}`, created_by_ref: 'identity--3f0f0f0f-0000-4000-8000-000000000001',
      pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', confidence: 85, pattern: `[x-warden-keyed-hash:kind = '${kind}' AND x-warden-keyed-hash:hmac = '${h}']`,
    });
    await t.admin('/intel/import?level=throttle', {
      type: 'bundle', id: 'bundle--3f0f0f0f-0000-4000-8000-000000000000',
      objects: [
        { type: 'identity', spec_version: '2.1', id: 'identity--3f0f0f0f-0000-4000-8000-000000000001', name: 'Provider A', identity_class: 'organization', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
        ind(2, 'client_ip', hash('client_ip', '203.0.113.9')), ind(3, 'system_prompt', hash('system_prompt', 'You are DistillBot.')), ind(4, 'asn', hash('asn', 'AS64500')),
      ],
    });
    const list = capture();
    assert.equal(await runIntelCli(['list', ...conn], list.io), 0, list.err.join('\n'));
    const rows = list.out.join('\n').split('\n');
    const row = (kind: string) => rows.find((l) => l.includes(` ${kind} `)) ?? '';
    assert.match(row('system_prompt'), / throttle /, `a strong kind holds at its import level: ${row('system_prompt')}`);
    assert.match(row('client_ip'), / watch \(throttle with a software match\) /, `an address alone holds at watch: ${row('client_ip')}`);
    assert.match(row('asn'), / watch /, `an ASN never holds above watch: ${row('asn')}`);
    assert.doesNotMatch(row('asn'), /throttle/, `an ASN never holds above watch: ${row('asn')}`);

    // The allow-list decision on an account is in its history, with who and why.
    const acct = await t.account('partner', 'identity_verified');
    await fetch(`${t.url}/admin/detect/allow`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-warden-actor': 'Op Bob' }, body: JSON.stringify({ account: acct.id, note: 'Partner Acme Labs (contract 77)' }) })
      .then((r) => assert.equal(r.status, 201, 'allow-listed'));
    const history = capture();
    assert.equal(await runAdminCommand('accounts', ['history', acct.id, ...conn], history.io), 0, history.err.join('\n'));
    const text = history.out.join('\n');
    assert.match(text, /create/, `the account's creation: ${text}`);
    assert.match(text, /allow-list set .*Op Bob.*Partner Acme Labs \(contract 77\)/, `the allow-list decision with who and why: ${text}`);
    const json = capture();
    assert.equal(await runAdminCommand('accounts', ['history', acct.id, '--json', ...conn], json.io), 0, json.err.join('\n'));
    const data = JSON.parse(json.out.join('\n')).data as Array<{ action: string; subject_type: string }>;
    assert.ok(data.some((c) => c.action === 'allow-list set' && c.subject_type === 'detector'), `--json too: ${JSON.stringify(data)}`);

    // On the local store (no --url), as the command runs by default beside the server's database.
    const sqlitePath = (t.w.stores.sqlite as unknown as { name: string }).name;
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store:\n  sqlite_path: ${sqlitePath}\n`);
    const local = await promisify(execFile)(process.execPath, [...WARDEN, 'accounts', 'history', acct.id, '-c', config], { env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', WARDEN_ADMIN_URL: '' } });
    assert.match(local.stdout, /allow-list set .*Op Bob.*Partner Acme Labs/, `local history lists the allow-list decision: ${local.stdout}${local.stderr}`);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
