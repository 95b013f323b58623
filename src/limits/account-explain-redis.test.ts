// Two nodes on one PostgreSQL store and one Redis: a customer refused on one node is explained on
// the other, from its account id alone, with the meter that refuses it (the shared counters) and
// the refusal counted (each node adds its counts to Redis).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';

const REDIS = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const TOKEN = 'adm_limit_explain_redis_0123';

test('refused on one node, explained on the other: the account rpm meter of the shared counters, and the refusal counted in Redis', async () => {
  await withPgSchema('limit_explain', async (pool) => {
    const schema = (await pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
    const prefix = `warden:test:${schema}:${randomBytes(3).toString('hex')}:`;
    const base = {
      server: { port: 0 }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, ledger: { enabled: false },
      admin: { token: TOKEN }, redis: { url: REDIS },
      store: { driver: 'postgres', postgres_url: `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` },
      limits: { backend: 'redis', redis: { key_prefix: `${prefix}limits:` }, tiers: { unverified: { account: { rpm: 2, burst: 2 } } } },
    };
    const shared = { key_prefix: `${prefix}detect:`, publish_ms: 200 };
    const a = await startWarden(parseConfig({ ...base, detect: { mode: 'worker', shared } }), { demo: false, log: () => {} });
    const b = await startWarden(parseConfig({ ...base, detect: { mode: 'replica', shared } }), { demo: false, log: () => {} });
    try {
      const admin = async (url: string, path: string, body?: object) => {
        const r = await fetch(`${url}/admin${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
        return { status: r.status, body: await r.json() as any };
      };
      const acct = (await admin(a.url, '/accounts', { name: 'shared', email: 'shared@example.org', tier: 'unverified' })).body;
      const key = (await admin(a.url, `/accounts/${acct.id}/keys`, { name: 'k' })).body;
      const chat = () => fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      });
      assert.equal((await chat()).status, 200);
      assert.equal((await chat()).status, 200);
      assert.equal((await chat()).status, 429, 'the third request on node A is refused by the account limit');

      // Node A adds its count to Redis within a second; node B reads it from there.
      let x: any = null;
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        const r = await admin(b.url, `/limits/accounts/${acct.id}?ip=127.0.0.1`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        x = r.body;
        if (x.refusals.account.last_hour.total >= 1) break;
      }
      assert.equal(x.refusing?.scope, 'account', `node B names the account scope from the shared counters: ${JSON.stringify(x.refusing)}`);
      assert.equal(x.refusing.kind, 'requests');
      const rpm = x.meters.find((m: any) => m.scope === 'account' && m.kind === 'requests');
      assert.deepEqual([rpm.limit, rpm.burst, rpm.used, rpm.remaining], [2, 2, 2, 0], `with its numbers: ${JSON.stringify(rpm)}`);
      assert.deepEqual(x.refusals.account.last_hour.by, [{ scope: 'account', kind: 'requests', subject: acct.id, model: null, count: 1 }], `the refusal on node A counted in Redis: ${JSON.stringify(x.refusals)}`);
    } finally {
      await b.close();
      await a.close();
      const redis = new Redis(REDIS);
      const left = await redis.keys(`${prefix}*`);
      if (left.length) await redis.del(...left);
      redis.disconnect();
    }
  });
});
