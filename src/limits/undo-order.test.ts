// A decision given up on is undone in Redis exactly once, whatever order Redis gets the decision
// and its undo in: an undo that arrives first (a proxy holding the lost decision back) leaves a
// tombstone and the late decision charges nothing; an undo Redis does not answer while the
// connection stays up is tried again, not left until the next reconnection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { RedisBackend } from './redis.ts';
import { Limiter } from './limiter.ts';
import { registerLimitsMetrics } from './metrics.ts';
import { testConfig } from '../../test/helpers/limits.ts';
import type { MeterOp } from './meters.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { until as waitUntil } from '../../test/helpers/until.ts';

/**
 * A proxy to Redis that can hold back what clients send from now on (`hold`, until `pass`), in order, cut the
 * client side of every connection while their server side stays open (`cutClients`), and deliver
 * what it held on the connections it came from (`release`, `hold` again: `release(true)`).
 */
async function startCommandProxy(targetPort: number) {
  const pairs: { client: Socket; upstream: Socket }[] = [];
  let holding = false;
  let held: { upstream: Socket; data: Buffer }[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    pairs.push({ client, upstream });
    client.on('error', () => {});
    upstream.on('error', () => client.destroy());
    client.on('data', (data: Buffer) => {
      if (holding) held.push({ upstream, data });
      else upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => { if (!client.destroyed) client.write(data); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    hold() { holding = true; },
    /** Forward what clients send from now on; what was held stays held. */
    pass() { holding = false; },
    cutClients() { for (const p of pairs) p.client.destroy(); },
    release(holdAgain = false) {
      const out = held;
      held = [];
      holding = holdAgain;
      for (const h of out) h.upstream.write(h.data);
      return out.length;
    },
    async close() {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const until = (what: string, ok: () => unknown, ms = 10_000) => waitUntil(what, ok, ms);

/** One request of a subject with a concurrency limit and a daily budget of 100 tokens (10 a request). */
const ops = (subject: string): MeterOp[] => [
  { type: 'concurrency', key: `conc:${subject}`, limit: 5 },
  { type: 'budget', key: `tpd:${subject}`, window: 'day', limit: 100, cost: 10 },
];

test('a lost decision that reaches Redis after its undo charges nothing: no lease held, no tokens counted', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startCommandProxy(port);
  const direct = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  const backend = new RedisBackend({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: 'order:', commandTimeoutMs: 100 });
  try {
    await backend.ready(5000);
    const warm = await backend.decide(ops('warm'), 'lease-warm', 60_000_000);
    assert.equal(warm.allowed, true, 'the scripts are loaded');

    // The decision is held back by the proxy; the client gives up on it, then loses its connection.
    proxy.hold();
    await assert.rejects(backend.decide(ops('acc'), 'lease-lost', 60_000_000), /timed out/, 'no answer in time');
    proxy.pass();
    proxy.cutClients();
    // Once reconnected, the undo reaches Redis first: there is no mark, the decision has not run.
    await until('the undo has been to Redis', () => backend.late.never_ran === 1);
    // Then the proxy delivers the lost decision.
    assert.equal(proxy.release(), 1, 'the proxy held the decision');
    await new Promise((r) => setTimeout(r, 300));

    const leases = await direct.zrange('order:conc:acc', '0', '-1');
    assert.deepEqual(leases, [], 'the late decision holds no concurrency lease');
    const used = await direct.hget('order:tpd:acc', 'u');
    assert.ok(used === null || Number(used) === 0, `the late decision counted no tokens (used ${used})`);
    assert.equal(backend.late.refunded, 0, 'nothing was refunded, as nothing was charged');
  } finally {
    direct.disconnect();
    await backend.close();
    await proxy.close();
    await stopRedis(server);
  }
});

test('an undo Redis does not answer while the connection stays up is tried again until it refunds', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startCommandProxy(port);
  const direct = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  const backend = new RedisBackend({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: 'retry:', commandTimeoutMs: 100 });
  try {
    await backend.ready(5000);
    await backend.decide(ops('warm'), 'lease-warm', 60_000_000);

    // The decision reaches Redis late (after the client gave up): it runs and is answered, so it is undone.
    proxy.hold();
    await assert.rejects(backend.decide(ops('acc'), 'lease-late', 60_000_000), /timed out/, 'no answer in time');
    // Redis stalls again as the answer comes back: the undo, and the undo sent again at once, time out
    // while the connection stays up.
    proxy.release(true);
    await until('the late answer is seen', () => backend.late.undone === 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(backend.late.refunded, 0, 'not refunded while Redis stalls');
    assert.deepEqual(await direct.zrange('retry:conc:acc', '0', '-1'), ['lease-late'], 'Redis admitted the late decision');
    proxy.release();

    // No reconnection: the undo is tried again and tells the decision is refunded.
    await until('the undo is tried again and finds the decision refunded', () => backend.late.refunded === 1, 5_000);
    assert.deepEqual(await direct.zrange('retry:conc:acc', '0', '-1'), [], 'its concurrency lease is released');
    assert.equal(Number(await direct.hget('retry:tpd:acc', 'u')), 0, 'its tokens are refunded');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(backend.late.refunded, 1, 'refunded once');
  } finally {
    direct.disconnect();
    await backend.close();
    await proxy.close();
    await stopRedis(server);
  }
});

test('a Redis that evicts keys under maxmemory is named at start, with the setting to use', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const direct = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  const lines: string[] = [];
  const start = async () => {
    const config = testConfig({ backend: 'redis', redis: { url: `redis://127.0.0.1:${port}`, key_prefix: 'evict:', command_timeout_ms: 500, connect_timeout_ms: 500 } });
    const limiter = new Limiter({ config, metrics: registerLimitsMetrics(new Registry()), log: (l) => lines.push(l) });
    try { await limiter.ready(5000); } finally { await limiter.close(); }
  };
  try {
    await direct.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await start();
    assert.ok(lines.some((l) => /maxmemory-policy allkeys-lru.*maxmemory-policy noeviction/.test(l)), `the evicting policy is named with the fix:\n${lines.join('\n')}`);
    lines.length = 0;
    await direct.config('SET', 'maxmemory-policy', 'noeviction');
    await start();
    assert.deepEqual(lines.filter((l) => /maxmemory-policy/.test(l)), [], 'nothing said when Redis does not evict');
  } finally {
    direct.disconnect();
    await stopRedis(server);
  }
});
