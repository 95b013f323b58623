// The demo organisation and key: created on an empty store only in the demo configuration (SQLite
// with the built-in mock model) or when asked; a deployment (PostgreSQL, real upstreams) gets no
// working key printed in its logs, and the start log says why there is or is not one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { createMockUpstream } from '../../src/mock/index.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../helpers/postgres.ts';

const quiet = { log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, server: { port: 0 } } as const;

async function accounts(url: string, token: string): Promise<unknown[]> {
  const r = await fetch(`${url}/admin/accounts`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, 'the admin API lists accounts');
  return ((await r.json()) as { data: unknown[] }).data;
}

test('a configured upstream means a deployment: no demo key unless --demo, and the log says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-demo-'));
  const upstream = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  try {
    const config = parseConfig({ ...quiet, store: { sqlite_path: join(dir, 'w.db') }, upstreams: [{ name: 'provider', base_url: upstream.url, api_key: null, models: ['*'] }] });
    const lines: string[] = [];
    const w = await startWarden(config, { log: (l) => lines.push(l) });
    try {
      assert.equal(w.demoKey, null, 'no demo key beside a real upstream');
      assert.ok(!lines.some((l) => l.includes('wk_live_')), `no key secret in the log: ${lines.join('\n')}`);
      assert.ok(lines.some((l) => /no demo key \(upstreams are configured; --demo creates one anyway\)/.test(l)), `the log says why: ${lines.join('\n')}`);
      assert.equal((await accounts(w.url, w.adminToken!)).length, 0, 'no demo account created');
    } finally { await w.close(); }

    const asked: string[] = [];
    const again = await startWarden(config, { demo: true, log: (l) => asked.push(l) });
    try {
      assert.ok(again.demoKey?.startsWith('wk_live_'), 'asked for, the demo key is created');
      assert.ok(asked.some((l) => l.includes('asked for (--demo)')), `the log says it was asked for: ${asked.join('\n')}`);
    } finally { await again.close(); }
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PostgreSQL store gets no demo key, even with the built-in mock model', async () => {
  await withPgSchema('demo_key', async (pool) => {
    const schema = (await pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
    const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const config = parseConfig({ ...quiet, admin: { token: 'adm_demo_key_test_token_0123' }, store: { driver: 'postgres', postgres_url: url }, ledger: { enabled: false } });
    const lines: string[] = [];
    const w = await startWarden(config, { log: (l) => lines.push(l) });
    try {
      assert.equal(w.demoKey, null, 'no demo key on PostgreSQL');
      assert.ok(!lines.some((l) => l.includes('wk_live_')), `no key secret in the log: ${lines.join('\n')}`);
      assert.ok(lines.some((l) => l.includes('no demo key (the store is postgres; --demo creates one anyway)')), `the log says why: ${lines.join('\n')}`);
      assert.equal((await accounts(w.url, 'adm_demo_key_test_token_0123')).length, 0, 'no demo account in the shared store');
    } finally { await w.close(); }
  });
});

test('the demo configuration still prints a working demo key, and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-demo-'));
  try {
    const lines: string[] = [];
    const w = await startWarden(parseConfig({ ...quiet, store: { sqlite_path: join(dir, 'w.db') } }), { log: (l) => lines.push(l) });
    try {
      assert.ok(w.demoKey?.startsWith('wk_live_'), 'a demo key');
      assert.ok(lines.some((l) => l.includes('demo configuration: embedded SQLite store and the built-in mock model')), `the log says why: ${lines.join('\n')}`);
      const r = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${w.demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal(r.status, 200, 'the demo key works');
    } finally { await w.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
