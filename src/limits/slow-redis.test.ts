// A loaded node, or a Redis slow for a moment, is not a Redis that is down: a decision Redis
// answered while this node's event loop was busy is taken from Redis, and decisions slower than
// `limits.redis.command_timeout_ms` fall back one by one without opening the circuit or logging
// an outage while Redis still answers a PING. A Redis that answers nothing still opens it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMIT_FIELDS } from './config.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import type { BreakerState } from './breaker.ts';
import { NOOP_METRICS } from './metrics.ts';
import { testConfig } from '../../test/helpers/limits.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.ts';

const REQUEST: LimitRequest = {
  keyId: 'k', accountId: 'acc_1', orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'm', verdictLevel: 'none', inputTokens: 10, outputTokens: 10,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `direct`: to Redis itself (the proxy runs in this process: a busy event loop would hold the request too). */
async function limiterBehindProxy(commandTimeoutMs: number, direct = false) {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy: TcpProxy = await startTcpProxy(port);
  const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
  const tier = { key: unlimited, org: unlimited, account: { ...unlimited, rpm: 6000, burst: 1000 } };
  const config = testConfig({
    backend: 'redis', on_backend_failure: 'local',
    redis: { url: `redis://127.0.0.1:${direct ? port : proxy.port}`, key_prefix: 'w:', command_timeout_ms: commandTimeoutMs, connect_timeout_ms: 1000 },
    breaker: { failure_threshold: 3, open_ms: 1000 },
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: unlimited, subnet: unlimited, asn: unlimited }, cluster: unlimited,
  });
  const states: BreakerState[] = [];
  const lines: string[] = [];
  const limiter = new Limiter({ config, metrics: { ...NOOP_METRICS, breaker: (_b, s) => states.push(s) }, log: (line) => lines.push(line) });
  await limiter.ready(5000);
  // The scripts loaded and the connection warm: the first decision is not the one measured.
  assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
  return {
    limiter, proxy, states, lines,
    // The proxy first: quitting over a stalled connection would wait for ever.
    async close() { await proxy.stop(); await limiter.close(); await stopRedis(server).catch(() => {}); },
  };
}

test('a decision Redis answered while the event loop was busy past the command timeout is taken from Redis', async () => {
  const r = await limiterBehindProxy(100, true);
  try {
    const pending = r.limiter.decide(REQUEST);
    // The node is busy (a long synchronous task) for longer than the timeout; Redis answered long before.
    const until = performance.now() + 300;
    while (performance.now() < until) { /* busy */ }
    const d = await pending;
    assert.equal(d.mode, 'backend', 'the answer that was waiting is read before the timeout is judged');
    assert.equal(r.limiter.circuit, 'closed');
  } finally {
    await r.close();
  }
});

test('decisions slower than the command timeout fall back one by one, but a Redis that answers a PING is not counted down', async () => {
  const r = await limiterBehindProxy(100);
  try {
    r.proxy.delay(150);
    const during: string[] = [];
    for (let i = 0; i < 6; i++) during.push((await r.limiter.decide(REQUEST)).mode);
    assert.ok(during.includes('local'), `slow decisions were taken on the node's counters: ${during}`);
    r.proxy.delay(0);
    // The PING sent after the third slow decision is answered (150 ms each way, within connect_timeout_ms).
    await sleep(500);
    assert.equal((await r.limiter.decide(REQUEST)).mode, 'backend', 'back on Redis as soon as it is fast again');
    assert.deepEqual(r.states.filter((s) => s !== 'closed'), [], `the circuit never opened: ${r.states}`);
    assert.deepEqual(r.lines.filter((l) => /unreachable/.test(l)), [], `no outage logged: ${r.lines.join(' | ')}`);
  } finally {
    await r.close();
  }
});

test('a Redis that answers nothing, PING included, opens the circuit and is logged as unreachable', async () => {
  const r = await limiterBehindProxy(100);
  try {
    await r.proxy.stall();
    for (let i = 0; i < 4; i++) assert.equal((await r.limiter.decide(REQUEST)).mode, 'local');
    for (const end = Date.now() + 5000; r.limiter.circuit !== 'open' && Date.now() < end;) { await r.limiter.decide(REQUEST); await sleep(50); }
    assert.equal(r.limiter.circuit, 'open', 'the PING went unanswered: Redis is down for this node');
    for (const end = Date.now() + 5000; !r.lines.some((l) => /unreachable/.test(l)) && Date.now() < end;) { await r.limiter.decide(REQUEST); await sleep(50); }
    assert.ok(r.lines.some((l) => /unreachable/.test(l)), `the outage is logged: ${r.lines.join(' | ')}`);
  } finally {
    await r.close();
  }
});
