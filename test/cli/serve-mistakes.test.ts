// The mistakes a newcomer makes starting `warden serve`: a port another process holds, a port
// that is no port, a mistyped option. Each is answered with what went wrong and what to do, and
// the ones on the command line as usage errors (exit 2) before anything is created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnServe } from '../helpers/serve-process.ts';
import { WARDEN } from '../helpers/node-args.ts';

const run = promisify(execFile);

async function exited(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  const s = spawnServe(args, { cwd, env: { WARDEN_LOG_LEVEL: '' } });
  const [code] = await once(s.proc, 'exit');
  // The last lines may still be in the reader after the exit.
  await new Promise((r) => setImmediate(r));
  return { code: code as number | null, stderr: s.err.join('\n') };
}

test('a port another process listens on: says so and how to choose another, before anything is created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-port-busy-'));
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as AddressInfo).port;
  try {
    // The defaults: the database, the keys and the admin token would go to ./data.
    const r = await exited(['--port', String(port)], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: another process is already listening there`));
    assert.match(r.stderr, /--port/, 'names the option that picks another port');
    assert.match(r.stderr, /WARDEN_SERVER__PORT/, 'and the override');
    assert.deepEqual(readdirSync(dir), [], 'no database, key or token file was written');
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a probes port (server.health_listen) another process holds: said, and nothing created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-health-busy-'));
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as AddressInfo).port;
  try {
    const s = spawnServe(['--port', '0'], { cwd: dir, env: { WARDEN_LOG_LEVEL: '', WARDEN_SERVER__HEALTH_LISTEN: `127.0.0.1:${port}` } });
    const [code] = await once(s.proc, 'exit');
    await new Promise((r) => setImmediate(r));
    const stderr = s.err.join('\n');
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`server\\.health_listen \\(127\\.0\\.0\\.1:${port}\\): cannot listen: .*EADDRINUSE`), stderr);
    assert.deepEqual(readdirSync(dir), [], 'no database, key or token file was written');
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an address of no interface here: said, and nothing created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-host-bad-'));
  try {
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is no interface's address.
    const r = await exited(['--host', '192.0.2.1', '--port', '0'], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine/, r.stderr);
    assert.deepEqual(readdirSync(dir), [], 'no database, key or token file was written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--port that is not a port number is a usage error before anything is created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-port-bad-'));
  try {
    for (const bad of ['abc', '99999', '80.5', '-1']) {
      const r = await exited([`--port=${bad}`, '--db', join(dir, 'warden.db')], dir);
      assert.equal(r.code, 2, `--port ${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--port ${bad.replace('.', '\\.')} is not a port number: give 0 to 65535`), r.stderr);
      assert.doesNotMatch(r.stderr, /options\.port/, 'no raw Node.js message');
    }
    assert.deepEqual(readdirSync(dir), [], 'no database, key or token file was written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown option of serve and of config check is a usage error (exit 2) that shows the usage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-opt-'));
  try {
    const r = await exited(['--prot', '9000'], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Unknown option '--prot'/);
    assert.match(r.stderr, /usage: warden serve/, 'the usage follows the error');
    assert.deepEqual(readdirSync(dir), [], 'nothing was written');

    const check = await run(process.execPath, [...WARDEN, 'config', 'check', '--bogus'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '' } }).then(() => null, (e) => e as { code: number; stderr: string });
    assert.ok(check, 'config check --bogus fails');
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /Unknown option '--bogus'/);
    assert.match(check.stderr, /usage: warden config check/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
