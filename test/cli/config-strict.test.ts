// A mistyped configuration key is an error naming its path, in the file or the environment, for
// `warden config check` and for `warden serve` at start: a silently ignored key would leave its
// default in force (a limit, a ledger, a webhook the operator believes configured).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, checkEnvSettings, loadConfig, parseConfig, strayEnvNames, unsetEnvSettings } from '../../src/config/index.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string, env: Record<string, string> = {}) => runWarden(args, { cwd, timeout: 30_000, env });

const problems = (fn: () => unknown): string[] => {
  try { fn(); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e.message.split('\n').slice(1).map((l) => l.trim()); }
  assert.fail('the configuration was accepted');
};

test('unknown keys are errors naming their full path, at every depth', () => {
  assert.deepEqual(problems(() => parseConfig({ servr: { port: 9000 }, server: { prot: 9000 } })).sort(), ['server.prot: unknown key', 'servr: unknown key']);
  assert.deepEqual(problems(() => parseConfig({ ledger: { key_fil: 'x' } })), ['ledger.key_fil: unknown key']);
  assert.deepEqual(problems(() => parseConfig({ detect: { thresholds: { bogus: 1 } } })), ['detect.thresholds.bogus: unknown key']);
  assert.deepEqual(problems(() => parseConfig({ limits: { concurency: {} } })), ['limits.concurency: unknown key']);
  assert.deepEqual(problems(() => parseConfig({ notify: { webhooks: [{ name: 'ops', url: 'https://h.example/x', secrett: 'env:S' }] } })), ['notify.webhooks.0.secrett: unknown key']);
  assert.deepEqual(problems(() => parseConfig({ upstreams: [{ name: 'u', base_url: 'https://u.example', models: ['*'], header_timeout_ms: 5 }] })), ['upstreams.0.header_timeout_ms: unknown key']);
  assert.deepEqual(problems(() => loadConfig(undefined, { WARDEN_CONFIG: '', WARDEN_SERVER__PROT: '1' })), ['server.prot: unknown key (set by WARDEN_SERVER__PROT)']);
  // What `warden config defaults` prints is a valid configuration, key for key.
  const defaults = parseConfig({});
  assert.deepEqual(parseConfig(parse(stringify(defaults))), defaults);
});

test('config check and serve refuse a mistyped key, naming it', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-'));
  try {
    writeFileSync(join(dir, 'typo.yaml'), 'servr:\n  port: 9000\nserver:\n  prot: 9000\n');
    // `-c` is `--config` here too, as for the other commands
    // Five processes of their own, none writing anything: run at once.
    const [check, short, serve, env, ok] = await Promise.all([
      warden(['config', 'check', '--config', 'typo.yaml'], dir), warden(['config', 'check', '-c', 'typo.yaml'], dir), warden(['serve', '--config', 'typo.yaml'], dir),
      warden(['config', 'check'], dir, { WARDEN_LEDGER__ORIGN: 'x' }), warden(['config', 'check'], dir),
    ]);
    for (const r of [check, short, serve]) {
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stdout, /configuration is valid|listening/);
      assert.match(r.stderr, /server\.prot: unknown key/);
      assert.match(r.stderr, /servr: unknown key/);
    }
    assert.notEqual(env.code, 0);
    assert.match(env.stderr, /ledger\.orign: unknown key/);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /configuration is valid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every command that reads the configuration takes it as -c FILE too', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-c-'));
  try {
    writeFileSync(join(dir, 'typo.yaml'), 'server:\n  prot: 9000\n');
    writeFileSync(join(dir, 'notes.txt'), 'Some notes.\n');
    writeFileSync(join(dir, 'events.jsonl'), '');
    const [scan, scanEq, ...runs] = await Promise.all([
      warden(['scan', 'events.jsonl', '-c', 'missing.yaml'], dir), warden(['scan', 'events.jsonl', '--config=missing.yaml'], dir),
      warden(['serve', '-c', 'typo.yaml'], dir), warden(['config', 'check', '-c', 'typo.yaml'], dir),
      warden(['documents', 'read', 'notes.txt', '-c', 'typo.yaml'], dir), warden(['policy', 'explain', '-c', 'typo.yaml', '--tier', 'unverified'], dir),
    ]);
    for (const r of runs) {
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stderr, /unknown option|Unknown option/i);
      assert.match(r.stderr, /server\.prot: unknown key/, 'the file named by -c was read');
    }
    // scan reads its detector settings from the file: one that is not there is named.
    assert.equal(scan.code, 2);
    assert.match(scan.stderr, /cannot read config missing\.yaml/);
    assert.match(scanEq.stderr, /cannot read config missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an env:NAME setting whose variable is not set is an error naming the path and the variable; defaults may stay unset', () => {
  const upstream = { name: 'up', base_url: 'http://127.0.0.1:9', models: ['*'] };
  const config = parseConfig({
    upstreams: [{ ...upstream, api_key: 'env:UPSTREAM_KEY_NOT_SET' }, { ...upstream, name: 'nokey', api_key: null }],
    admin: { token: 'env:OPS_ADMIN_NOT_SET' },
    notify: { webhooks: [{ name: 'ops', url: 'env:HOOK_URL_SET', secret: 'env:HOOK_SECRET_EMPTY' }] },
  });
  assert.deepEqual(unsetEnvSettings(config, { HOOK_URL_SET: 'https://hooks.example/x', HOOK_SECRET_EMPTY: '' }), [
    'upstreams.0.api_key: environment variable UPSTREAM_KEY_NOT_SET is not set',
    'admin.token: environment variable OPS_ADMIN_NOT_SET is not set',
    'notify.webhooks.0.secret: environment variable HOOK_SECRET_EMPTY is not set',
  ]);
  // Left at their defaults (env:WARDEN_ADMIN_TOKEN, env:WARDEN_LEDGER_KEY, ...), unset variables select the documented fallback.
  assert.deepEqual(unsetEnvSettings(parseConfig({}), {}), []);
  assert.doesNotThrow(() => checkEnvSettings(config, { UPSTREAM_KEY_NOT_SET: 'sk-1', OPS_ADMIN_NOT_SET: 'a'.repeat(20), HOOK_URL_SET: 'https://hooks.example/x', HOOK_SECRET_EMPTY: 's' }));
});

test('config check and serve refuse an upstream api_key naming an unset variable, before creating anything', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-env-'));
  try {
    writeFileSync(join(dir, 'w4.yaml'), 'server: {port: 0}\nstore: {sqlite_path: ./data4/warden.db}\n' +
      'upstreams:\n  - {name: up, base_url: "http://127.0.0.1:18853", flavours: [openai], api_key: env:UPSTREAM_KEY_NOT_SET, models: ["*"]}\n');
    const cmds = [['config', 'check'], ['serve', '--no-demo']];
    const results = await Promise.all(cmds.map((cmd) => warden([...cmd, '-c', 'w4.yaml'], dir)));
    for (const [i, cmd] of cmds.entries()) {
      const r = results[i];
      assert.equal(r.code, 1, `${cmd[0]} exits 1: ${r.stdout}`);
      assert.match(r.stderr, /upstreams\.0\.api_key: environment variable UPSTREAM_KEY_NOT_SET is not set/, r.stderr);
      assert.doesNotMatch(r.stdout, /configuration is valid|Warden listening/);
    }
    assert.ok(!existsSync(join(dir, 'data4')), 'serve created no file before refusing');
    const ok = await warden(['config', 'check', '-c', 'w4.yaml'], dir, { UPSTREAM_KEY_NOT_SET: 'sk-test' });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('environment overrides are read as the key\'s type: strings stay strings, lists take commas or JSON, null where allowed', () => {
  const load = (env: Record<string, string>) => loadConfig(undefined, { WARDEN_CONFIG: '', ...env });
  const c = load({
    WARDEN_ADMIN__TOKEN: '12345678901234567890123', WARDEN_IDENTITY__KEY_PREFIX: 'true', WARDEN_LEDGER__ORIGIN: '1234e567',
    WARDEN_SERVER__PORT: '9000', WARDEN_SERVER__V8_PRETENURING: 'true', WARDEN_SERVER__TRUSTED_PROXIES: 'loopback, 10.0.0.0/8',
    WARDEN_REDIS__URL: 'null',
  });
  assert.equal(c.admin.token, '12345678901234567890123', 'a digits-only token stays a string');
  assert.equal(c.identity.key_prefix, 'true', 'a string key takes "true" as text');
  assert.equal(c.ledger.origin, '1234e567', 'a hex string that looks like a number stays a string');
  assert.equal(c.server.port, 9000);
  assert.equal(c.server.v8_pretenuring, true);
  assert.deepEqual(c.server.trusted_proxies, ['loopback', '10.0.0.0/8'], 'a list takes comma-separated items');
  assert.equal(c.redis.url, null);
  assert.deepEqual(load({ WARDEN_SERVER__TRUSTED_PROXIES: '["loopback"]' }).server.trusted_proxies, ['loopback'], 'or JSON');
  assert.deepEqual(load({ WARDEN_SERVER__TRUSTED_PROXIES: '' }).server.trusted_proxies, [], 'an empty value is an empty list');
  // A value the type cannot read is still named by the schema, with the variable that set it (no file says "eighty").
  assert.deepEqual(problems(() => load({ WARDEN_SERVER__PORT: 'eighty' })), ['server.port: Invalid input: expected number, received string (set by WARDEN_SERVER__PORT)']);
  assert.deepEqual(problems(() => load({ WARDEN_SERVER__V8_PRETENURING: 'yes' })), ['server.v8_pretenuring: Invalid input: expected boolean, received string (set by WARDEN_SERVER__V8_PRETENURING)']);
  // A problem in the file is not put on the environment.
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-env-'));
  try {
    writeFileSync(join(dir, 'w.yaml'), 'server: {port: 99999}\n');
    assert.deepEqual(problems(() => loadConfig(join(dir, 'w.yaml'), { WARDEN_SERVER__HOST: '127.0.0.1' })), ['server.port: Too big: expected number to be <=65535']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('environment overrides: a JSON-quoted string is that string, a number is decimal only', () => {
  const load = (env: Record<string, string>) => loadConfig(undefined, { WARDEN_CONFIG: '', ...env });
  assert.equal(load({ WARDEN_ADMIN__TOKEN: '"12345678901234567890123"' }).admin.token, '12345678901234567890123', 'the documented way to force a string keeps working: quotes stripped');
  assert.equal(load({ WARDEN_LEDGER__ORIGIN: '"warden.example/\\u006cog"' }).ledger.origin, 'warden.example/log', 'read as JSON');
  assert.equal(load({ WARDEN_LEDGER__ORIGIN: '"half' }).ledger.origin, '"half', 'a value that is not a quoted string stays as it is');
  assert.equal(load({ WARDEN_SERVER__PORT: ' 9000 ' }).server.port, 9000, 'spaces around a number are fine');
  for (const port of ['0x1F90', '0b1', 'Infinity', '1_000']) {
    assert.deepEqual(problems(() => load({ WARDEN_SERVER__PORT: port })), ['server.port: Invalid input: expected number, received string (set by WARDEN_SERVER__PORT)'], `${port} is not a decimal number`);
  }
});

test('an admin token under 16 characters is refused by the schema (config check) and when read from the environment', async () => {
  assert.deepEqual(problems(() => parseConfig({ admin: { token: 'short' } })), ['admin.token: must be at least 16 characters (use a random value, e.g. openssl rand -hex 32)']);
  assert.doesNotThrow(() => parseConfig({ admin: { token: '' } }), 'empty: the admin API is off');
  assert.doesNotThrow(() => parseConfig({ admin: { token: 'x'.repeat(16) } }));
  const fromEnv = parseConfig({ admin: { token: 'env:OPS_ADMIN' } });
  assert.throws(() => checkEnvSettings(fromEnv, { OPS_ADMIN: 'short' }), /admin\.token: OPS_ADMIN must be at least 16 characters/);
  assert.doesNotThrow(() => checkEnvSettings(fromEnv, { OPS_ADMIN: 'x'.repeat(16) }));
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-token-'));
  try {
    writeFileSync(join(dir, 'w.yaml'), 'admin: {token: short}\nstore: {sqlite_path: ./data/warden.db}\n');
    const r = await warden(['config', 'check', '-c', 'w.yaml'], dir);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /admin\.token: must be at least 16 characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys that did nothing are gone from the schema: setting one is ignored with a warning naming it', () => {
  const defaults = parseConfig({});
  assert.ok(!('prompts' in defaults.log), 'log.prompts is not a default');
  assert.ok(!('tail_ms' in defaults.detect.shared) && !('tail_lag_seconds' in defaults.detect.shared), 'detect.shared.tail_* are not defaults');
  const warnings: string[] = [];
  const config = parseConfig({ log: { prompts: true }, detect: { shared: { tail_ms: 500, tail_lag_seconds: 30 } } }, (line) => warnings.push(line));
  assert.ok(!('prompts' in config.log) && !('tail_ms' in config.detect.shared), 'they are dropped');
  assert.deepEqual(warnings.map((w) => w.split(' ')[1]), ['log.prompts', 'detect.shared.tail_ms', 'detect.shared.tail_lag_seconds'], 'each is named');
});

test('a WARDEN_ variable spelled with single underscores is named at start with the override meant', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-stray-'));
  try {
    const r = await warden(['config', 'check'], dir, { WARDEN_SERVER_PORT: '9000', WARDEN_DETECT_MODE: 'worker', WARDEN_LOG_LEVEL: 'warn', WARDEN_SOMETHING_ELSE_ENTIRELY: 'x' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARDEN_SERVER_PORT sets nothing .* for server\.port write WARDEN_SERVER__PORT/, r.stderr);
    assert.match(r.stderr, /WARDEN_DETECT_MODE sets nothing .* for detect\.mode write WARDEN_DETECT__MODE/, r.stderr);
    assert.doesNotMatch(r.stderr, /WARDEN_LOG_LEVEL|WARDEN_SOMETHING_ELSE_ENTIRELY/, 'names Warden reads, and names like no key, are left alone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A variable the configuration references (`env:`) is not stray, even named like a key.
  const referencing = parseConfig({ notify: { webhooks: [{ name: 'ops', url: 'https://hooks.example/x', secret: 'env:WARDEN_NOTIFY_WEBHOOKS' }] } });
  assert.deepEqual(strayEnvNames(referencing, { WARDEN_NOTIFY_WEBHOOKS: 's' }), []);
  assert.equal(strayEnvNames(referencing, { WARDEN_SERVER_HOST: '0.0.0.0' }).length, 1, 'a typo beside it is named');
});

test('an unset webhook secret is named without the upstream key hint', () => {
  const config = parseConfig({ notify: { webhooks: [{ name: 'ops', url: 'https://hooks.example/x', secret: 'env:WEBHOOK_SECRET_NOT_SET' }] } });
  const message = (() => { try { checkEnvSettings(config, {}); } catch (e) { return (e as Error).message; } return ''; })();
  assert.match(message, /notify\.webhooks\.0\.secret: environment variable WEBHOOK_SECRET_NOT_SET is not set/);
  assert.doesNotMatch(message, /upstream/, `no hint about upstream keys: ${message}`);
});
