// `--help` anywhere prints the usage on stdout, exits 0 and does nothing else: no account is
// created, no file is read as a policy, no database is opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

async function warden(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '', WARDEN_ADMIN_URL: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--help on any command family and sub-command prints help and exits 0, never acts', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'warden-help-'));
  try {
    const commands = [
      ['policy', '--help'], ['policy', 'check', '--help'], ['policy', 'explain', '--help'], ['policy', 'screen', '--help'],
      ['watermark', '--help'], ['watermark', 'embed', '--help'], ['watermark', 'vectors', '--help'],
      ['orgs', 'get', '--help'], ['keys', 'rotate', '--help'], ['accounts', 'suspend', '-h'], ['accounts', 'create', '--help'],
      ['accounts', 'create', '--name', 'x', '--help'], ['ledger', '--help'], ['config', '--help'],
    ];
    const results = await Promise.all(commands.map((args) => warden(cwd, args)));
    commands.forEach((args, i) => {
      const r = results[i];
      assert.equal(r.code, 0, `warden ${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
      assert.match(r.stdout, /usage/i, `warden ${args.join(' ')} prints its usage on stdout`);
      assert.doesNotMatch(r.stderr, /error/i, `warden ${args.join(' ')}: ${r.stderr}`);
    });
    // `accounts create --help` must not have opened the store, let alone created an account.
    assert.deepEqual(readdirSync(cwd), [], 'nothing was written');
    assert.equal(existsSync(join(cwd, 'data')), false);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
