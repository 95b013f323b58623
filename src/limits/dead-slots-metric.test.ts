// A node died holding concurrency slots in Redis: the node that next finds their leases expired
// takes them back, and its /metrics says how many (warden_limits_dead_slots_reclaimed_total), so
// that an operator can tell "requests refused for a while after a crash" from a cap set too low.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { LIMIT_FIELDS } from './config.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import { registerLimitsMetrics } from './metrics.ts';
import { testConfig } from '../../test/helpers/limits.ts';

const RUN = `wtest:deadslots:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
after(async () => {
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
const tier = { key: unlimited, org: unlimited, account: { ...unlimited, concurrency: 2 } };
const config = testConfig({
  backend: 'redis', redis: { url: 'redis://127.0.0.1:6379', key_prefix: RUN },
  concurrency: { lease_ms: 1000 },
  tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
  network: { ip: unlimited, subnet: unlimited, asn: unlimited }, cluster: unlimited,
});
const request: LimitRequest = {
  keyId: 'k_dead', accountId: 'acc_dead', orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'm', verdictLevel: 'none', inputTokens: 10, outputTokens: 10,
};

async function reclaimed(registry: Registry): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'warden_limits_dead_slots_reclaimed_total');
  assert.ok(metric, 'the metric is registered');
  return (metric.values as { value: number }[]).reduce((s, v) => s + v.value, 0);
}

test('slots a dead node held are counted in warden_limits_dead_slots_reclaimed_total when another node takes them back', async () => {
  const t0 = Date.now() * 1000;
  const dying = new Limiter({ config });
  const registry = new Registry();
  const survivor = new Limiter({ config, metrics: registerLimitsMetrics(registry) });
  try {
    await dying.ready(3000);
    await survivor.ready(3000);
    for (let i = 0; i < 2; i++) assert.equal((await dying.decide(request, t0)).allowed, true, `slot ${i + 1} taken on the node that dies`);
    // The node dies: its requests never end and their leases are never renewed.
    await dying.close();
    assert.equal((await survivor.decide(request, t0 + 100_000)).allowed, false, 'while the leases run, the cap holds');
    assert.equal(await reclaimed(registry), 0, 'nothing reclaimed while the leases run');
    // Past the lease (1 s), the survivor's next decision finds both expired and takes one slot.
    const later = await survivor.decide(request, t0 + 2_000_000);
    assert.equal(later.allowed, true, 'the dead node\'s slots are free again');
    assert.equal(await reclaimed(registry), 2, 'both slots of the dead node are counted as reclaimed');
  } finally {
    await dying.close();
    await survivor.close();
  }
});
