// A month's close: `warden usage export`, run beside the serving Warden, ties out per account with
// the signed ledger's usage rows (`/admin/ledger/v1/query`), the dashboard's usage
// (`/admin/usage/top`) and the recorded events, and all of them split the prompt cache out of the
// input as the upstream reported it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { WARDEN } from '../helpers/node-args.ts';

const SYSTEM = Array.from({ length: 200 }, (_, i) => `Rule ${i}: answer politely and cite the handbook section ${i}.`).join('\n');

test('usage export per account equals the ledger\'s usage rows, the dashboard\'s and the events\'; cache reads and writes are split out in each', { timeout: 180_000 }, async () => {
  const t = await startTestWarden({ ledger: { checkpoint_interval_ms: 50, key: '' } });
  try {
    const org = await t.admin('/orgs', { name: 'Acme' });
    const accounts = await Promise.all(['finance', 'research'].map(async (name) => {
      const a = await t.admin('/accounts', { name, email: `${name}@acme.example`, tier: 'identity_verified', org_id: org.id });
      return { id: a.id as string, key: (await t.admin(`/accounts/${a.id}/keys`, { name: 'k' })).secret as string };
    }));
    const call = async (key: string, path: string, body: object) => {
      const r = await fetch(`${t.url}${path}`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body),
      });
      await r.arrayBuffer();
      return r.status;
    };
    let sent = 0;
    for (const a of accounts) {
      // the account's own cached system prompt twice: written, then read (the upstream's cache is
      // shared by everyone behind Warden's upstream key, so another account's prompt would be a read)
      for (const q of ['Rule 3?', 'Rule 4?']) {
        assert.equal(await call(a.key, '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 60, system: [{ type: 'text', text: `${a.id}\n${SYSTEM}`, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: q }] }), 200);
        sent++;
      }
      assert.equal(await call(a.key, '/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a streamed answer' }] }), 200);
      assert.equal(await call(a.key, '/v1/embeddings', { model: 'text-embedding-3-small', input: ['one', 'two'] }), 200);
      assert.notEqual(await call(a.key, '/v1/chat/completions', { model: 'mock-fail-500', messages: [{ role: 'user', content: 'fails' }] }), 200);
      sent += 3;
    }
    // a request without a valid key: no account, in neither side's account rows
    assert.equal(await call('wk_live_not_a_key', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }), 401);
    const events = await t.events((e) => e.account_id !== null, sent, 20_000);

    const ledgerUsage = async (accountId: string) => {
      const r = await fetch(`${t.url}/admin/ledger/v1/query?account=${accountId}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
      assert.equal(r.status, 200);
      const q = await r.json() as { usage: Record<string, number | string>[]; usage_scope: string };
      assert.equal(q.usage_scope, 'all');
      return q.usage.find((u) => u.account_id === accountId);
    };
    // The ledger's writer commits after the events: wait until it holds every request.
    for (const a of accounts) {
      for (let i = 0; (await ledgerUsage(a.id))?.requests !== sent / 2; i++) {
        assert.ok(i < 200, 'the ledger recorded every request');
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    const configFile = join(dirname(t.config.store.sqlite_path), 'warden.yaml');
    writeFileSync(configFile, `store:\n  sqlite_path: ${JSON.stringify(t.config.store.sqlite_path)}\n`);
    const { stdout } = await promisify(execFile)(process.execPath, [...WARDEN, 'usage', 'export', '--by', 'month', '--format', 'jsonl', '--org', org.id, '-c', configFile],
      { env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '' } });
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const fields = ['requests', 'refused', 'errors', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const;
    const dashboard = await fetch(`${t.url}/admin/usage/top?by=account&org_id=${org.id}&range=1h`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    assert.equal(dashboard.status, 200);
    const dashRows = (await dashboard.json() as { data: Record<string, number | string | null>[] }).data;
    for (const a of accounts) {
      const mine = rows.filter((r) => r.account_id === a.id);
      assert.ok(mine.every((r) => r.org_id === org.id), 'every row names the organisation');
      const sums: Record<string, number> = Object.fromEntries(fields.map((f) => [f, mine.reduce((s, r) => s + r[f], 0)]));
      const ledger = await ledgerUsage(a.id);
      assert.deepEqual(sums, Object.fromEntries(fields.map((f) => [f, ledger![f]])), `the export ties out with the ledger for ${a.id}`);
      assert.equal(ledger!.cache_unrecorded, 0, 'every leaf records the cache split');
      // The dashboard's usage by account (its refused and errors are split by status: the same sums).
      const dash = dashRows.find((r) => r.key === a.id)!;
      assert.ok(dash, `the dashboard has a row for ${a.id}: ${JSON.stringify(dashRows)}`);
      const n = (k: string) => Number(dash[k]);
      const dashSums = Object.fromEntries(fields.map((f) => [f, f === 'refused' ? n('limited') + n('denied') : f === 'errors' ? n('client_errors') + n('server_errors') : n(f)]));
      assert.deepEqual(dashSums, sums, `the export ties out with the dashboard for ${a.id}`);
      // And with the events themselves.
      const own = events.filter((e) => e.account_id === a.id);
      assert.deepEqual([own.length, own.reduce((s, e) => s + (e.response.cached_input_tokens ?? 0), 0), own.reduce((s, e) => s + (e.response.cache_write_tokens ?? 0), 0)],
        [sums.requests, sums.cached_input_tokens, sums.cache_write_tokens], `the events hold what the export summed for ${a.id}`);
      assert.ok(sums.errors! >= 1 && sums.input_tokens! > 0, 'the failed request and the tokens are there to tie out');
      const claude = mine.find((r) => r.model === 'claude-sonnet-4-5');
      assert.ok(claude.cache_write_tokens >= 1024 && claude.cached_input_tokens === claude.cache_write_tokens,
        `the first turn wrote the system prompt to the cache, the second read it back: ${JSON.stringify(claude)}`);
      assert.ok(claude.input_tokens > claude.cached_input_tokens + claude.cache_write_tokens, 'input counts the cache\'s share and the rest');
    }
  } finally {
    await t.close();
  }
});
