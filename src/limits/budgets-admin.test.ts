// Budgets seen from the admin API: an operator answering "why was this customer refused at 14:02"
// reads, per scope, what the budget has spent in its UTC day or month, its cap and when it
// resets. Both backends read the counters the decisions wrote (a settled overshoot included),
// without charging, and the explain route over real HTTP says the same as the limiter decided.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { Limiter, type LimitRequest } from './limiter.ts';
import { limitsAdminRoutes } from './admin.ts';
import { mountAdminRoutes } from '../admin/router.ts';
import { MemoryBackend } from './memory.ts';
import { RedisBackend } from './redis.ts';
import { MemoryLimitOverridesStore } from './overrides.ts';
import type { LimitsBackend } from './meters.ts';
import { TEST_COMMAND_TIMEOUT_MS, testConfig } from '../../test/helpers/limits.ts';

const RUN = `wtest:budgets:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
after(async () => {
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const NOON = Date.UTC(2026, 11, 6, 12) * 1000;
const DAY_US = 86_400_000_000;

async function backendReadsBudgets(backend: LimitsBackend) {
  const ops = [
    { type: 'budget' as const, key: 'b:day', window: 'day' as const, limit: 1_000_000, cost: 300_000 },
    { type: 'budget' as const, key: 'b:month', window: 'month' as const, limit: 5_000_000, cost: 300_000 },
  ];
  const reads = [{ key: 'b:day', window: 'day' as const }, { key: 'b:month', window: 'month' as const }, { key: 'b:never', window: 'day' as const }];
  assert.deepEqual((await backend.readBudgets!(reads, NOON)).used, [0, 0, 0], 'nothing spent yet');
  assert.equal((await backend.decide(ops, 'lease-1', 60_000_000, NOON)).allowed, true);
  // The request cost more than its reservation: settled past the daily cap.
  const windows = { day: Math.floor(NOON / DAY_US), month: 2026 * 12 + 11 };
  await backend.settle([{ type: 'budget', key: 'b:day', windowId: windows.day, delta: 900_000 }, { type: 'budget', key: 'b:month', windowId: windows.month, delta: 900_000 }], 'lease-1', NOON + 1);
  const read = await backend.readBudgets!(reads, NOON + 2);
  assert.equal(read.nowUs, NOON + 2);
  assert.deepEqual(read.used, [1_200_000, 1_200_000, 0], 'the spend as settled, past the cap too (a peek would say only "nothing left")');
  // A peek charged nothing, and neither did the reads.
  await backend.decide(ops.map((o) => ({ ...o, cost: 0 })), '', 60_000_000, NOON + 3);
  assert.deepEqual((await backend.readBudgets!(reads, NOON + 4)).used, [1_200_000, 1_200_000, 0]);
  // The next UTC day starts the daily budget again; the month goes on.
  assert.deepEqual((await backend.readBudgets!(reads, NOON + DAY_US)).used, [0, 1_200_000, 0]);
}

test('memory backend: readBudgets gives each budget\'s spend in its window, without charging', async () => {
  await backendReadsBudgets(new MemoryBackend({ clockUs: () => NOON }));
});

test('redis backend: readBudgets gives each budget\'s spend in its window, without charging', async () => {
  await backendReadsBudgets(new RedisBackend({ client: redis, keyPrefix: RUN, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS }));
});

const REQ: LimitRequest = {
  keyId: 'key_b', accountId: 'acc_b', orgId: 'org_b', tier: 'email_verified', programme: 'none', ip: '198.51.100.4', asn: null,
  clusterId: null, model: 'gpt-x', verdictLevel: 'none', inputTokens: 1000, outputTokens: 100,
};

for (const kind of ['memory', 'redis'] as const) {
  test(`${kind}: POST /admin/limits/explain gives each budget's spend, cap and reset, as the limiter charged it`, async () => {
    const config = testConfig({
      prices: [{ model: 'gpt-x', input_per_mtok: 2, output_per_mtok: 10 }],
      overrides: [
        { scope: 'account', subject: 'acc_b', limits: { daily_budget_usd: 1, monthly_budget_usd: 20 } },
        { scope: 'org', subject: 'org_b', limits: { monthly_budget_usd: 500 } },
      ],
    });
    const backend = kind === 'memory' ? new MemoryBackend() : new RedisBackend({ client: redis, keyPrefix: `${RUN}explain:`, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
    const limiter = new Limiter({ config, backend, overrides: new MemoryLimitOverridesStore() });
    await limiter.ready();
    const app = Fastify();
    mountAdminRoutes(app, [limitsAdminRoutes({ limiter, overrides: new MemoryLimitOverridesStore(), prefix: '/admin/limits' })], { validateResponses: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/admin/limits/explain`;
    try {
      // Two requests answered: 20,000 in and 2,000 out each, a quarter of the input read from the cache.
      for (let i = 0; i < 2; i++) {
        const d = await limiter.decide(REQ);
        assert.ok(d.allowed && d.reservation, `request ${i} admitted: ${JSON.stringify(d.binding?.meter)}`);
        await limiter.settle(d.reservation!, { inputTokens: 20_000, outputTokens: 2_000, cachedInputTokens: 5_000 });
      }
      const each = limiter.planner.priceMicroUsd('gpt-x', 20_000, 2_000, { read: 5_000, write: 0 });
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ account_id: 'acc_b', key_id: 'key_b', org_id: 'org_b', tier: 'email_verified', model: 'gpt-x' }) });
      assert.equal(res.status, 200);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answer, checked field by field
      const body = await res.json() as { read_at: string | null; meters: any[] };
      const meter = (scope: string, k: string) => body.meters.find((m) => m.scope === scope && m.kind === k);
      const day = meter('account', 'daily_budget');
      assert.ok(day?.budget, `the account's daily budget is explained with its state: ${JSON.stringify(body.meters)}`);
      const now = Date.now();
      const midnight = new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1)).toISOString();
      assert.deepEqual(day.budget, { window: 'day', spent_usd: (2 * each) / 1e6, limit_usd: 1, remaining_usd: Math.max(0, 1_000_000 - 2 * each) / 1e6, resets_at: midnight },
        'spent is the two requests at their price, the cap the override, the reset the next UTC midnight');
      const month = meter('account', 'monthly_budget');
      const firstOfNext = new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 1, 1)).toISOString();
      assert.deepEqual([month.budget.window, month.budget.spent_usd, month.budget.limit_usd, month.budget.resets_at], ['month', (2 * each) / 1e6, 20, firstOfNext]);
      assert.equal(meter('org', 'monthly_budget')?.budget?.spent_usd, (2 * each) / 1e6, 'the organisation\'s budget counted the same requests');
      assert.ok(body.meters.filter((m) => !m.kind.endsWith('budget')).every((m) => m.budget === null), 'meters that are not budgets carry none');
      assert.ok(body.read_at && Math.abs(Date.parse(body.read_at) - now) < 60_000, `read_at is the backend's time of the read: ${body.read_at}`);
      // Reading charged nothing.
      const again = await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ account_id: 'acc_b', org_id: 'org_b', tier: 'email_verified', model: 'gpt-x' }) })).json() as { meters: any[] };
      assert.equal(again.meters.find((m) => m.scope === 'account' && m.kind === 'daily_budget').budget.spent_usd, (2 * each) / 1e6);
    } finally {
      await app.close();
      await limiter.close();
    }
  });
}
