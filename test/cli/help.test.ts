// `--help` anywhere prints the usage on stdout, exits 0 and does nothing else: no account is
// created, no file is read as a policy, no database is opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { WARDEN } from '../helpers/node-args.ts';

const run = promisify(execFile);

async function warden(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [...WARDEN, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '', WARDEN_ADMIN_URL: '' } });
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
      ['accounts', 'create', '--name', 'x', '--help'], ['ledger', '--help'], ['config', '--help'], ['store', '--help'], ['store', 'compact', '--help'], ['limits', '--help'], ['limits', 'explain', '--help'],
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

test('the top-level help and the README name every sub-command each family accepts', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'warden-help-'));
  try {
    const top = (await warden(cwd, ['--help'])).stdout;
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const families = ['detect', 'cases', 'intel', 'notify', 'limits', 'batches', 'policy', 'watermark', 'ledger', 'config', 'store', 'orgs', 'accounts', 'keys'];
    const helps = await Promise.all(families.map((f) => warden(cwd, [f, '--help'])));
    families.forEach((family, i) => {
      const usage = helps[i].stdout;
      const subs = new Set([...usage.matchAll(new RegExp(`warden ${family} ([a-z][a-z-]*)`, 'g'))].map((m) => m[1]));
      // The ledger's usage lists its commands one per line under "usage: warden ledger <command>".
      if (family === 'ledger') for (const m of usage.matchAll(/^ {2}([a-z]+)\b/gm)) subs.add(m[1]);
      assert.ok(subs.size > 0, `${family}: no sub-command found in its usage`);
      const summary = new RegExp(`^ {2}${family} +${family} ([a-z|-]+)`, 'm').exec(top)?.[1].split('|') ?? [];
      assert.deepEqual([...subs].filter((s) => !summary.includes(s)), [], `warden --help, ${family}: ${summary.join('|')}`);
      const row = new RegExp(`\\| \`warden ${family} ([a-z\\\\|-]+)`).exec(readme);
      if (row) assert.deepEqual([...subs].filter((s) => !row[1].split('\\|').includes(s)), [], `README, warden ${family}: ${row[1]}`);
    });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('warden --version is found from the source and from the compiled build (dist/src/cli/)', async () => {
  const { packageVersion } = await import('../../src/cli/index.ts');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { pathToFileURL } = await import('node:url');
  const own = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  assert.equal(await packageVersion(pathToFileURL(resolve(import.meta.dirname, '../../src/cli/index.ts')).href), own.version);
  // An installed package: package.json at its root, the code in dist/src/cli/, and a package.json
  // of something else further up that must not be taken.
  const root = mkdtempSync(join(tmpdir(), 'warden-version-'));
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'someone-elses-app', version: '9.9.9' }));
    const pkg = join(root, 'node_modules', 'warden-gateway');
    mkdirSync(join(pkg, 'dist', 'src', 'cli'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'warden-gateway', version: '1.2.3' }));
    assert.equal(await packageVersion(pathToFileURL(join(pkg, 'dist', 'src', 'cli', 'index.js')).href), '1.2.3');
  } finally { rmSync(root, { recursive: true, force: true }); }
});
