// A decision sent to Redis whose connection is lost before Redis answers may still have run there
// (Redis had the script and runs it, e.g. once a busy script ends), while the limiter, not knowing,
// decided the request on the node's own counters. What Redis charged for it is refunded once it is
// back, exactly once: the subject is not charged twice for one request across a failover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { LIMIT_FIELDS } from './config.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import { registerLimitsMetrics } from './metrics.ts';
import { testConfig } from '../../test/helpers/limits.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const request = (accountId: string): LimitRequest => ({
  keyId: `k_${accountId}`, accountId, orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'm', verdictLevel: 'none', inputTokens: 10, outputTokens: 10,
});

test('a decision whose Redis connection was lost before the answer is not charged twice (Redis and the node\'s own counters)', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startTcpProxy(port);
  const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
  // Three requests of burst, one more a minute: nothing comes back during the test.
  const tier = { key: unlimited, org: unlimited, account: { ...unlimited, rpm: 1, burst: 3, tpd: 100, concurrency: 10 } };
  const config = testConfig({
    backend: 'redis',
    redis: { url: `redis://127.0.0.1:${proxy.port}`, key_prefix: 'lost:', command_timeout_ms: 100, connect_timeout_ms: 500 },
    on_backend_failure: 'local',
    breaker: { failure_threshold: 5, open_ms: 200 },
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: unlimited, subnet: unlimited, asn: unlimited },
    cluster: unlimited,
  });
  const limiter = new Limiter({ config, metrics: registerLimitsMetrics(new Registry()) });
  const direct = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  try {
    await limiter.ready(5000);
    const first = await limiter.decide(request('acc_1'));
    assert.equal(first.mode, 'backend', 'decided in Redis');
    assert.equal(first.allowed, true);
    await limiter.settle(first.reservation!, { inputTokens: 10, outputTokens: 10 });

    // Redis is busy (a long script on another connection): the next decision reaches it and waits.
    const busy = direct.eval('local i = 0 while i < 40000000 do i = i + 1 end return i', 0);
    await sleep(100);
    const lost = await limiter.decide(request('acc_1'));
    assert.equal(lost.mode, 'local', 'not answered in time: decided on the node\'s own counters');
    assert.equal(lost.allowed, true);
    // The connection is lost before Redis answers; Redis still runs the script it had.
    await proxy.stop();
    await busy;
    await limiter.settle(lost.reservation!, { inputTokens: 10, outputTokens: 10 });
    await sleep(200);
    await proxy.start();

    // Back on Redis (another account probes, so acc_1's meters are only what it sent).
    for (let i = 0; ; i++) {
      assert.ok(i < 100, 'the limiter decides in Redis again');
      if ((await limiter.decide(request(`probe_${i}`))).mode === 'backend') break;
      await sleep(50);
    }
    await sleep(300);
    // acc_1 sent one request Redis decided, and one the node decided: two of its three remain.
    let admitted = 0;
    for (let i = 0; i < 5; i++) {
      const d = await limiter.decide(request('acc_1'));
      assert.equal(d.mode, 'backend');
      if (!d.allowed) break;
      admitted++;
      await limiter.settle(d.reservation!, { inputTokens: 10, outputTokens: 10 });
    }
    assert.equal(admitted, 2, `after the failover acc_1 has the two requests of its burst it did not use in Redis (admitted ${admitted})`);
    const tokens = await direct.keys('lost:*');
    assert.ok(tokens.length > 0, 'the meters are in Redis');
  } finally {
    direct.disconnect();
    await limiter.close();
    await proxy.stop();
    await stopRedis(server);
  }
});
