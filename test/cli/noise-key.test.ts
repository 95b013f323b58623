// Embedding noise keyed per process (no shared seal secret) differs on every node and after every
// restart, which lets an account average it away: said at start and by `warden config check`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { createPolicyRuntime } from '../../src/policy/hooks.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  runWarden(args, { cwd, timeout: 30_000, env: { WARDEN_REASONING_SECRET: '', ...env } });

test('with embedding noise on and no seal secret, start logs a WARNING; with a secret, or no noise, it does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-noise-'));
  try {
    const quiet = join(dir, 'quiet.yaml');
    writeFileSync(quiet, 'version: 1\n');
    const start = (file: string | null, env: Record<string, string>) => {
      const lines: string[] = [];
      const at = (level: string) => (_obj: object, msg: string) => { lines.push(`${level} ${msg}`); };
      const config = parseConfig({ policy: { file, watch: false } });
      createPolicyRuntime(config, { env, log: { info: at('info'), warn: at('warn'), error: at('error') } }).close();
      // The shipped policy's placeholder contacts have a warning of their own (src/policy/placeholder-messages.test.ts).
      return lines.filter((l) => l.startsWith('warn') && !/placeholders at an example domain/.test(l));
    };
    const shipped = start(null, {});
    assert.equal(shipped.length, 1, `the shipped policy (noise at the shape verdict) without a secret: one warning (${shipped.join(' | ')})`);
    assert.match(shipped[0], /WARNING.*embedding noise.*per process.*restarts/, shipped[0]);
    assert.deepEqual(start(null, { WARDEN_REASONING_SECRET: 'a-secret-shared-by-every-node' }), [], 'with a shared secret: no warning');
    assert.deepEqual(start(quiet, {}), [], 'a policy without noise: no warning');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('config check says so too for PostgreSQL nodes, and still passes the configuration; one SQLite server keeps its key and is not warned', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-noise-'));
  try {
    writeFileSync(join(dir, 'sqlite.yaml'), 'server:\n  port: 21000\n');
    const sqlite = await warden(['config', 'check', '-c', join(dir, 'sqlite.yaml')], dir);
    assert.equal(sqlite.code, 0, sqlite.stderr);
    assert.doesNotMatch(sqlite.stderr, /WARNING/, `one SQLite server generates the key once and keeps it (${sqlite.stderr})`);
    writeFileSync(join(dir, 'warden.yaml'), 'server:\n  port: 21000\nstore:\n  driver: postgres\n  postgres_url: postgres://127.0.0.1:5432/test\n');
    const without = await warden(['config', 'check', '-c', join(dir, 'warden.yaml')], dir);
    assert.equal(without.code, 0, without.stderr);
    assert.match(without.stderr, /WARNING.*embedding noise.*per process.*restarts/, `the warning (${without.stderr})`);
    const withSecret = await warden(['config', 'check', '-c', join(dir, 'warden.yaml')], dir, { WARDEN_REASONING_SECRET: 'a-secret-shared-by-every-node' });
    assert.equal(withSecret.code, 0, withSecret.stderr);
    assert.doesNotMatch(withSecret.stderr, /WARNING/, withSecret.stderr);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
