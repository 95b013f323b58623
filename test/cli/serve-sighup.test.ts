// SIGHUP to `warden serve` reloads the denied-party lists and screens existing accounts with
// them; it used to end the process (Node's default), taking the node down for an operator who
// sent the usual reload signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServe } from '../helpers/serve-process.ts';

const TOKEN = 'sighup-test-admin-token-0123456789';

test('SIGHUP reloads the lists and holds an existing customer the new list names; the server keeps serving', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sighup-'));
  let child: ChildProcess | null = null;
  try {
    const list = join(dir, 'own.csv');
    writeFileSync(list, 'name,type,aliases,program,source,id\nZephyr Quantlabs,entity,,TEST-PROG,internal,Z1\n');
    writeFileSync(join(dir, 'w.yaml'), [
      'server: {port: 0}', 'store: {sqlite_path: ./data/warden.db}', 'admin: {token: env:SIGHUP_TEST_ADMIN}', 'log: {level: info}', 'ledger: {enabled: false}',
      `policy: {watch: false, screening: {sanctions: [{format: generic, path: ${JSON.stringify(list)}}]}}`, '',
    ].join('\n'));
    const running = spawnServe(['-c', 'w.yaml', '--no-demo'], { cwd: dir, env: { SIGHUP_TEST_ADMIN: TOKEN } });
    child = running.proc;
    const url = await running.listening();
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return await res.json() as any;
    };
    const acct = await admin('POST', '/accounts', { name: 'Maria Testova', tier: 'email_verified' });
    const before = (await admin('GET', '/policy/sanctions')).lists.digest;

    appendFileSync(list, 'Maria Testova,individual,,TEST-PROG,internal,Z2\n');
    child.kill('SIGHUP');
    // Wait on the condition, not a time: the run ends when the account is held.
    let status = 'active';
    for (let i = 0; i < 600 && status !== 'suspended'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(child.exitCode, null, `the server is still running after SIGHUP: ${running.output()}`);
      status = (await admin('GET', `/accounts/${acct.id}`)).status;
    }
    assert.equal(status, 'suspended', `the account the new entry names is held: ${running.output()}`);
    const after = await admin('GET', '/policy/sanctions');
    assert.notEqual(after.lists.digest, before, 'the reloaded lists are in force');
    assert.ok(after.last_screening.matches.some((m: any) => m.account_id === acct.id && m.outcome === 'held'));
    // The log is written off the event loop's turn: wait for the line, not a time.
    for (let i = 0; i < 300 && !/SCREENING_RUN/.test(running.output()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(running.output(), /SCREENING_RUN/, 'the run is logged with its code');
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((done) => child!.once('exit', done));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP reloads the network lists: the new Tor exit list is in force and logged with its hash; a bad file is logged with file and line and the lists in force stay', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sighup-net-'));
  let child: ChildProcess | null = null;
  try {
    const tor = join(dir, 'tor.txt');
    writeFileSync(tor, '192.0.2.10\n');
    writeFileSync(join(dir, 'w.yaml'), [
      'server: {port: 0}', 'store: {sqlite_path: ./data/warden.db}', 'admin: {token: env:SIGHUP_TEST_ADMIN}', 'log: {level: info}', 'ledger: {enabled: false}',
      `policy: {watch: false, networks: {tor_exits_file: ${JSON.stringify(tor)}}}`, '',
    ].join('\n'));
    const running = spawnServe(['-c', 'w.yaml', '--no-demo'], { cwd: dir, env: { SIGHUP_TEST_ADMIN: TOKEN } });
    child = running.proc;
    const url = await running.listening();
    const torList = async () => {
      const res = await fetch(`${url}/admin/policy/networks`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as any).files.find((f: any) => f.list === 'tor_exits');
    };
    const before = await torList();
    assert.equal(before.entries, 1, 'the Tor list read at start-up is shown');

    appendFileSync(tor, '192.0.2.11\n');
    child.kill('SIGHUP');
    let now = before;
    for (let i = 0; i < 600 && now.sha256 === before.sha256; i++) {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(child.exitCode, null, `the server is still running after SIGHUP: ${running.output()}`);
      now = await torList();
    }
    assert.equal(now.entries, 2, `the reloaded Tor list is in force: ${running.output()}`);
    assert.ok(running.output().includes(now.sha256), `the reload is logged with the file's SHA-256: ${running.output()}`);

    appendFileSync(tor, '999.1.1.1\n');
    child.kill('SIGHUP');
    for (let i = 0; i < 600 && !/POLICY_NETWORK_LISTS_REJECTED/.test(running.output()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(running.output(), new RegExp(`POLICY_NETWORK_LISTS_REJECTED.*${tor.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3`), 'the bad file is logged with file and line');
    assert.equal((await torList()).sha256, now.sha256, 'the lists in force stay');
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((done) => child!.once('exit', done));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
