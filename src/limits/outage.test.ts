// Redis unreachable mid-run: a private redis-server (own port, no persistence) is killed and
// restarted under a live limiter. For each configured mode (open, closed, local) the decisions
// during the outage follow the mode, nothing throws or crashes, the circuit opens and the metric
// shows it, and decisions return to Redis by themselves once it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { WardenError } from '../errors/index.ts';
import { LIMIT_FIELDS } from './config.ts';
import { limitsHooks } from './hooks.ts';
import { Limiter, type LimiterOptions, type LimitRequest } from './limiter.ts';
import { registerLimitsMetrics } from './metrics.ts';
import { fakeCtx, testConfig } from '../../test/helpers/limits.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const REQUEST: LimitRequest = {
  keyId: 'k', accountId: 'acc_1', orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'm', verdictLevel: 'none', inputTokens: 10, outputTokens: 10,
};

type FailureMode = 'open' | 'closed' | 'local';

function rawConfig(port: number, mode: FailureMode, opts: { commandTimeoutMs?: number; burst?: number; concurrency?: number } = {}) {
  const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
  const tier = { key: unlimited, org: unlimited, account: { ...unlimited, rpm: 60, burst: opts.burst ?? 3, concurrency: opts.concurrency ?? 10 } };
  return {
    backend: 'redis',
    redis: { url: `redis://127.0.0.1:${port}`, key_prefix: 'w:', command_timeout_ms: opts.commandTimeoutMs ?? 500, connect_timeout_ms: 500 },
    on_backend_failure: mode,
    breaker: { failure_threshold: 2, open_ms: 200 },
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: unlimited, subnet: unlimited, asn: unlimited },
    cluster: unlimited,
  };
}

/**
 * A limiter on a private redis-server of its own, ready to decide. `restart` starts Redis again
 * empty on the same port; `close` closes the limiter and kills Redis (resuming it first if stopped).
 */
async function limiterOnPrivateRedis(mode: FailureMode, opts: Parameters<typeof rawConfig>[2] & Pick<LimiterOptions, 'metrics' | 'log'> = {}) {
  const port = await freePort();
  let server = await startRedis(port);
  const config = testConfig(rawConfig(port, mode, opts));
  const limiter = new Limiter({ config, metrics: opts.metrics, log: opts.log });
  const redis = {
    port, config, limiter,
    get server() { return server; },
    async restart() { server = await startRedis(port); },
    async close() {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGCONT');
      await limiter.close();
      await stopRedis(server).catch(() => {});
    },
  };
  try {
    await limiter.ready(5000);
  } catch (err) {
    await redis.close();
    throw err;
  }
  return redis;
}

async function untilBackendServes(limiter: Limiter, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const d = await limiter.decide(REQUEST);
    if (d.mode === 'backend') return d;
    await sleep(50);
  }
  throw new Error('limiter did not return to the backend');
}

for (const mode of ['open', 'closed', 'local'] as const) {
  test(`redis killed and restarted mid-run, mode ${mode}`, async () => {
    const registry = new Registry();
    const redis = await limiterOnPrivateRedis(mode, { metrics: registerLimitsMetrics(registry) });
    const { config, limiter } = redis;
    const hooks = limitsHooks({ config, limiter });
    try {
      const before = await limiter.decide(REQUEST);
      assert.equal(before.mode, 'backend');
      assert.equal(before.allowed, true);

      await stopRedis(redis.server);
      const during = [];
      for (let i = 0; i < 6; i++) during.push(await limiter.decide(REQUEST));
      assert.equal(limiter.circuit, 'open');
      // A reservation made before the outage settles without throwing.
      await limiter.settle(before.reservation!, { inputTokens: 1, outputTokens: 1 });

      if (mode === 'open') {
        assert.ok(during.every((d) => d.allowed && d.mode === 'fail_open'));
        const ctx = fakeCtx();
        await hooks.limits!(ctx);
        assert.equal(ctx.enforcement.limit?.scope, 'backend');
        assert.match(ctx.enforcement.limit!.limit, /fail-open/);
      } else if (mode === 'closed') {
        assert.ok(during.every((d) => !d.allowed && d.mode === 'fail_closed'));
        const ctx = fakeCtx();
        await assert.rejects(async () => hooks.limits!(ctx), (err: unknown) => {
          assert.ok(err instanceof WardenError);
          assert.equal(err.code, 'WARDEN_LIMITS_UNAVAILABLE');
          assert.equal(err.status, 503);
          assert.equal(err.headers['retry-after'], '1');
          return true;
        });
      } else {
        // Local counters take over with the same limits: burst 3 on this node.
        assert.ok(during.every((d) => d.mode === 'local'));
        assert.deepEqual(during.map((d) => d.allowed), [true, true, true, false, false, false]);
        assert.match((await (async () => { const c = fakeCtx({ accountId: 'acc_2' }); await hooks.limits!(c); return c.enforcement.limit!.limit; })()), /local_fallback/);
      }
      const text = await registry.metrics();
      assert.match(text, /warden_limits_circuit_state\{backend="redis"\} 1/);
      assert.match(text, /warden_limits_backend_errors_total\{backend="redis",operation="decide"\} [1-9]/);
      assert.match(text, /warden_limits_settlements_total\{outcome="error"\} 1/);

      await redis.restart();
      const back = await untilBackendServes(limiter, 5000);
      assert.equal(back.allowed, true, 'fresh Redis (no persistence): the account starts again');
      assert.equal(limiter.circuit, 'closed');
      assert.match(await registry.metrics(), /warden_limits_circuit_state\{backend="redis"\} 0/);
      // Decisions after recovery follow Redis again: burst 3 in total, counting the one above.
      const after = [];
      for (let i = 0; i < 3; i++) after.push(await limiter.decide(REQUEST));
      assert.deepEqual(after.map((d) => [d.mode, d.allowed]), [['backend', true], ['backend', true], ['backend', false]]);
    } finally {
      await hooks.close!();
      await redis.close();
    }
  });
}

test('redis hung (SIGSTOP): decisions time out once, then the open circuit answers at once; SIGCONT recovers', async () => {
  const redis = await limiterOnPrivateRedis('open', { commandTimeoutMs: 150 });
  const { limiter, server } = redis;
  try {
    assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
    server.kill('SIGSTOP');
    const timings: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const d = await limiter.decide(REQUEST);
      timings.push(performance.now() - t);
      assert.equal(d.mode, 'fail_open');
    }
    // Two timeouts open the circuit; the rest are answered without waiting.
    assert.ok(timings[0] >= 140 && timings[1] >= 140, `timeouts ${timings}`);
    assert.ok(timings.slice(2).every((ms) => ms < 100), `circuit open: ${timings}`);
    server.kill('SIGCONT');
    const back = await untilBackendServes(limiter, 5000);
    assert.equal(back.mode, 'backend');
  } finally {
    await redis.close();
  }
});

test('a Redis pause under a second leaves no concurrency lease and no charge behind for the decisions taken locally meanwhile', async () => {
  const redis = await limiterOnPrivateRedis('local', { commandTimeoutMs: 100, burst: 10, concurrency: 2 });
  const { limiter } = redis;
  const { Redis } = await import('ioredis');
  const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  try {
    // A stall (a slow command, a fork, a failover): the script is sent, Redis runs it only after the node gave up.
    await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
    const during = await Promise.all([limiter.decide(REQUEST), limiter.decide(REQUEST)]);
    assert.deepEqual(during.map((d) => [d.mode, d.allowed]), [['local', true], ['local', true]], 'decided on the node\'s own counters during the stall');
    for (const d of during) await limiter.settle(d.reservation!, { inputTokens: 10, outputTokens: 10 });
    await sleep(900);
    const keys = await admin.keys('w:*conc*');
    let leases = 0;
    for (const k of keys) leases += await admin.zcard(k);
    assert.equal(leases, 0, `no concurrency lease is left in Redis for requests that ended (${keys.join(', ')})`);
    const after = [];
    for (let i = 0; i < 3; i++) {
      const d = await untilBackendServes(limiter, 5000);
      after.push(d.allowed);
      await limiter.settle(d.reservation!, { inputTokens: 10, outputTokens: 10 });
    }
    assert.deepEqual(after, [true, true, true], 'the account is not locked out after the stall');
    const rate = (await limiter.decide(REQUEST)).meters.find((m) => m.meter.kind === 'requests');
    assert.ok(rate && rate.outcome.remaining >= 10 - 4 - 1, `Redis charged only the requests it decided (remaining ${rate?.outcome.remaining})`);
  } finally {
    admin.disconnect();
    await redis.close();
  }
});

test('a Redis outage is logged once when the node starts deciding on its own, and once when Redis is back, with the count', async () => {
  const lines: string[] = [];
  const redis = await limiterOnPrivateRedis('local', { log: (line) => lines.push(line) });
  const { limiter } = redis;
  try {
    assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
    await stopRedis(redis.server);
    for (let i = 0; i < 6; i++) assert.equal((await limiter.decide(REQUEST)).mode, 'local');
    // Said once the client's first attempt to reconnect tells why (a moment after the connection closed).
    for (let i = 0; i < 100 && lines.length === 0; i++) { await limiter.decide(REQUEST); await sleep(20); }
    assert.equal(lines.length, 1, `one line for the outage, not one per decision: ${lines.join(' | ')}`);
    assert.match(lines[0], /limits: the shared backend \(redis\) is unreachable .*deciding on this node's own counters \(limits hold per node\)/);
    await redis.restart();
    await untilBackendServes(limiter, 5000);
    assert.equal(lines.length, 2, lines.join(' | '));
    assert.match(lines[1], /limits: the shared backend \(redis\) answers again after [\d.]+ s; \d+ decisions were taken on this node's own counters meanwhile/);
    assert.ok(Number(/; (\d+) decisions/.exec(lines[1])![1]) >= 6, lines[1]);
  } finally {
    await redis.close();
  }
});

test('a Redis outage\'s line says which Redis, since when, and the connection error, not the client\'s refusal of the command', async () => {
  const lines: { line: string; fields?: Record<string, unknown> }[] = [];
  const redis = await limiterOnPrivateRedis('local', { log: (line, meta) => lines.push({ line, fields: meta?.fields }) });
  const { limiter, port } = redis;
  try {
    assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
    const before = new Date().toISOString();
    await stopRedis(redis.server);
    for (let i = 0; i < 150 && lines.length === 0; i++) { assert.notEqual((await limiter.decide(REQUEST)).mode, 'backend'); await sleep(20); }
    assert.equal(lines.length, 1, 'the outage is logged');
    const { line, fields } = lines[0];
    assert.doesNotMatch(line, /enableOfflineQueue|Stream isn't writeable/, `the client's refusal of each command is not the cause: ${line}`);
    assert.match(line, new RegExp(`no connection to Redis at 127\\.0\\.0\\.1:${port} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`), `which Redis, since when, and the error connecting: ${line}`);
    assert.equal(fields?.redis, `127.0.0.1:${port}`, 'the Redis as a field');
    assert.match(String(fields?.error), /ECONNREFUSED/, 'the connection error as a field');
    assert.ok(String(fields?.since) >= before.slice(0, 19), `since the connection was lost: ${fields?.since} (killed after ${before})`);
    await redis.restart();
    await untilBackendServes(limiter, 5000);
    for (let i = 0; i < 5; i++) await limiter.decide(REQUEST);
    const recovered = lines.filter((l) => /answers again after/.test(l.line));
    assert.equal(recovered.length, 1, `the recovery is logged once: ${lines.map((l) => l.line).join(' | ')}`);
    assert.match(recovered[0].line, new RegExp(`\\(Redis at 127\\.0\\.0\\.1:${port}\\)$`), recovered[0].line);
  } finally {
    await redis.close();
  }
});

// A partition between the node and Redis closes nothing: the connection stays open, commands and
// the PING that follows them time out, and the circuit opens. The outage line names which Redis
// and since when, as for a connection closed, not "circuit open". Black-holed with a TCP proxy.
test('a Redis partition (connection open, nothing answered) is logged with which Redis and since when, as a closed connection is', async () => {
  const redisPort = await freePort();
  const server = await startRedis(redisPort);
  const proxy = await startTcpProxy(redisPort);
  const lines: { line: string; fields?: Record<string, unknown> }[] = [];
  const limiter = new Limiter({ config: testConfig(rawConfig(proxy.port, 'local', { commandTimeoutMs: 150 })), log: (line, meta) => lines.push({ line, fields: meta?.fields }) });
  const down = () => lines.filter((l) => /is unreachable/.test(l.line));
  try {
    await limiter.ready(5000);
    assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
    const before = new Date().toISOString();
    await proxy.stall();
    for (let i = 0; i < 100 && down().length === 0; i++) { assert.notEqual((await limiter.decide(REQUEST)).mode, 'backend'); await sleep(20); }
    assert.equal(limiter.circuit, 'open', 'the timeouts and the unanswered PING opened the circuit');
    assert.equal(down().length, 1, `the outage is logged once: ${lines.map((l) => l.line).join(' | ')}`);
    const { line, fields } = down()[0]!;
    assert.doesNotMatch(line, /circuit open/, `the breaker's state is not the cause: ${line}`);
    assert.match(line, new RegExp(`no answer from Redis at 127\\.0\\.0\\.1:${proxy.port} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: no answer within limits\\.redis\\.command_timeout_ms \\(150 ms\\)`), `which Redis, since when, and what happened: ${line}`);
    assert.equal(fields?.redis, `127.0.0.1:${proxy.port}`, 'the Redis as a field');
    assert.ok(typeof fields?.since === 'string' && fields.since >= before.slice(0, 19), `since the first command left unanswered: ${fields?.since} (stalled after ${before})`);
    assert.match(String(fields?.error), /open connection/, `the error as a field: ${fields?.error}`);
    await proxy.start();
    await untilBackendServes(limiter, 10_000);
    for (let i = 0; i < 3; i++) await limiter.decide(REQUEST);
    const recovered = lines.filter((l) => /answers again after/.test(l.line));
    assert.equal(recovered.length, 1, `the recovery is logged once: ${lines.map((l) => l.line).join(' | ')}`);
    assert.match(recovered[0]!.line, new RegExp(`\\(Redis at 127\\.0\\.0\\.1:${proxy.port}\\)$`), recovered[0]!.line);
  } finally {
    await proxy.stop();
    await limiter.close();
    await stopRedis(server).catch(() => {});
  }
});

// A flapping Redis (stalls of two seconds, again and again: each long enough for the PING that
// follows the timeouts to go unanswered, so each is an outage; a shorter one is only slow
// decisions, src/limits/slow-redis.test.ts): the on-call's log gets the first
// outage and its end, then nothing for the short ones that follow within a minute; an outage
// that lasts says so, naming how many short ones it followed.
test('a flapping Redis logs its first outage pair, not one pair per stall; a lasting outage after it is logged with the count of short ones', { timeout: 60_000 }, async () => {
  const lines: string[] = [];
  const redis = await limiterOnPrivateRedis('local', { log: (line) => lines.push(line) });
  const { limiter } = redis;
  try {
    assert.equal((await limiter.decide(REQUEST)).mode, 'backend');
    let modes = new Set<string>();
    for (let flap = 0; flap < 4; flap++) {
      redis.server.kill('SIGSTOP');
      for (const end = Date.now() + 2000; Date.now() < end;) { modes.add((await limiter.decide(REQUEST)).mode); await sleep(50); }
      redis.server.kill('SIGCONT');
      await untilBackendServes(limiter, 5000);
    }
    assert.ok(modes.has('local'), 'the stalls were outages for the limiter');
    const down = () => lines.filter((l) => /is unreachable/.test(l));
    assert.equal(down().length, 1, `one outage line for 4 stalls, not 4: ${lines.join(' | ')}`);
    assert.equal(lines.filter((l) => /answers again after/.test(l)).length, 1, `one recovery line: ${lines.join(' | ')}`);
    // A lasting outage: logged once it has lasted FLAP_MIN_MS, with the short ones it followed.
    await stopRedis(redis.server);
    for (const end = Date.now() + 2600; Date.now() < end;) { await limiter.decide(REQUEST); await sleep(50); }
    assert.equal(down().length, 2, `the lasting outage is logged: ${lines.join(' | ')}`);
    assert.match(down()[1]!, /after 3 shorter outages not logged/);
    await redis.restart();
    await untilBackendServes(limiter, 5000);
    assert.equal(lines.filter((l) => /answers again after/.test(l)).length, 2, lines.join(' | '));
    modes = new Set();
  } finally {
    await redis.close();
  }
});
