// One `warden serve` per SQLite data dir: a second one on the same files is refused at start,
// naming the first; the read commands still work beside the running server, and a server killed
// with SIGKILL leaves no lock behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WARDEN } from '../helpers/node-args.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const ENV = { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', LOCK_TEST_ADMIN: 'lock-test-admin-token-0123456789' };
const warden = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => runWarden(args, { cwd, timeout: 60_000, env: { ...ENV, ...env } });

/** Start `warden serve` and wait for its listening line (start-up lines go to stderr; stdout is the JSON log); `port`: where it listens. */
async function serve(cwd: string): Promise<ChildProcess & { port: string }> {
  const child = spawn(process.execPath, [...WARDEN, 'serve', '-c', 'w.yaml', '--no-demo'], { cwd, env: ENV });
  let out = '';
  await new Promise<void>((ready, fail) => {
    child.stdout!.on('data', (c) => { out += c; });
    child.stderr!.on('data', (c) => { out += c; if (/Warden listening on \S+:\d+/.test(out)) ready(); });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code}: ${out}`)));
  });
  return Object.assign(child, { port: /Warden listening on \S+:(\d+)/.exec(out)![1]! });
}

test('a second warden serve on the same SQLite data dir exits non-zero naming the first', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-lock-'));
  let first: (ChildProcess & { port: string }) | null = null;
  try {
    writeFileSync(join(dir, 'w.yaml'), 'server: {port: 0}\nstore: {sqlite_path: ./data/warden.db}\nadmin: {token: env:LOCK_TEST_ADMIN}\nlog: {level: error}\n');
    first = await serve(dir);

    const second = await warden(['serve', '-c', 'w.yaml', '--no-demo'], dir, { WARDEN_SERVER__PORT: '0' });
    assert.notEqual(second.code, 0, 'the second server does not start');
    assert.match(second.stderr, new RegExp(`another warden serve \\(pid ${first.pid}, started [^)]+\\) is using the SQLite database \\S+warden\\.db`), second.stderr);
    assert.match(second.stderr, /PostgreSQL/, 'the message says how to run several nodes');
    assert.doesNotMatch(second.stdout + second.stderr, /Warden listening/);
    // On the first one's port too (the same configuration started twice): named as the holder of
    // the database, not as a process on the port.
    const again = await warden(['serve', '-c', 'w.yaml', '--no-demo'], dir, { WARDEN_SERVER__PORT: first.port });
    assert.notEqual(again.code, 0, 'the second server does not start');
    assert.match(again.stderr, new RegExp(`another warden serve \\(pid ${first.pid}, started [^)]+\\) is using the SQLite database`), again.stderr);

    // Reading beside the running server still works.
    const verify = await warden(['ledger', 'verify', '-c', 'w.yaml'], dir);
    assert.equal(verify.code, 0, `ledger verify while serve runs: ${verify.stderr}`);
    const exported = await warden(['events', 'export', '-c', 'w.yaml'], dir);
    assert.equal(exported.code, 0, `events export while serve runs: ${exported.stderr}`);

    // SIGKILL: the operating system drops the lock with the process; the next server starts.
    first.kill('SIGKILL');
    await new Promise((done) => first!.once('exit', done));
    first = await serve(dir);
    assert.ok(existsSync(join(dir, 'data', 'warden.db.lock')), 'the lock marker sits beside the database');
  } finally {
    if (first && first.exitCode === null) {
      first.kill('SIGTERM');
      await new Promise((done) => first!.once('exit', done));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
