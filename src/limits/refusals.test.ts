// Refusal counters: summed by the limit that refused over the last hour and day, kept for a day;
// counts a shared backend did not take are kept for its next flush, not lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from './memory.ts';
import { RefusalCounter } from './refusals.ts';
import type { RefusalAdd } from './meters.ts';

const RPM = { scope: 'account', kind: 'requests', subject: 'acct_a', model: null };
const IP = { scope: 'ip', kind: 'requests', subject: '203.0.113.9', model: null };
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0) * 1000;

test('counted by limit: the last hour and the last day, the org\'s with its accounts\', nothing past a day', async () => {
  let now = T0;
  const backend = new MemoryBackend({ clockUs: () => now });
  const c = new RefusalCounter(backend);
  c.note('acct_a', 'org_1', RPM, T0 - 3 * 3600e6);     // three hours ago: the day only
  c.note('acct_a', 'org_1', RPM, T0 - 60e6);
  c.note('acct_a', 'org_1', IP, T0 - 60e6);
  c.note('acct_b', 'org_1', { ...RPM, subject: 'acct_b' }, T0 - 30e6);
  c.note('acct_a', null, RPM, T0 - 26 * 3600e6);        // more than a day ago
  const a = await c.read('account', 'acct_a', T0);
  assert.equal(a.last_hour.total, 2, JSON.stringify(a.last_hour));
  assert.deepEqual(a.last_day.by.map((r) => [r.scope, r.subject, r.count]), [['account', 'acct_a', 2], ['ip', '203.0.113.9', 1]], 'the day: by limit, most first; not the refusal 26 hours ago');
  const org = await c.read('org', 'org_1', T0);
  assert.deepEqual(org.last_hour.by.map((r) => [r.scope, r.subject, r.count]), [['account', 'acct_a', 1], ['account', 'acct_b', 1], ['ip', '203.0.113.9', 1]], 'the org counts its accounts\' refusals');
  now = T0 + 25 * 3600e6;
  assert.equal((await c.read('account', 'acct_a', now)).last_day.total, 0, 'counters expire a day after their last count');
  await c.close();
});

test('counts a shared backend did not take are added with the next flush', async () => {
  const taken: RefusalAdd[] = [];
  let fail = true;
  const backend = {
    name: 'redis' as const,
    decide: () => { throw new Error('unused'); }, settle: () => {}, renew: () => {}, close: () => {},
    addRefusals: async (adds: readonly RefusalAdd[]) => { if (fail) throw new Error('Redis away'); taken.push(...adds); },
  };
  const c = new RefusalCounter(backend);
  c.note('acct_a', null, RPM, T0);
  c.note('acct_a', null, RPM, T0);
  await assert.rejects(c.flush(), /Redis away/);
  c.note('acct_a', null, RPM, T0);
  fail = false;
  await c.flush();
  assert.equal(taken.length, 1, 'one counter');
  assert.deepEqual([...taken[0].counts.values()], [3], 'the two kept from the failed flush and the one after');
  await c.close();
});
