// Several processes, each its own limiter client on the shared Redis, hammer one account at once.
// Bound reached: exact. Every decision any process made, replayed in Redis-time order through the
// reference model, gets the same answer; so the total admitted is exactly what the limit allows.
// Concurrency: an independent in-flight counter never exceeds the cap; a crashed holder's slot
// comes back when its lease expires; a live holder's lease is renewed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { LIMIT_FIELDS, limitsConfigSchema } from './config.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import { MeterPlanner, meterOp } from './meter-plan.ts';
import { ReferenceModel } from './reference-model.ts';
import { nodeArgs } from '../../test/helpers/node-args.ts';

// The worker module (compiled or .ts) and the flags it needs (tsx's from source).
const WORKER = nodeArgs(new URL('./testdata/worker.ts', import.meta.url));
const RUN = `wtest:limits-mp:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

function configFor(prefix: string, account: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
  const tier = { key: unlimited, org: unlimited, account: { ...unlimited, ...account } };
  return {
    backend: 'redis',
    // Generous timeouts: this checks exactness on a busy test machine, not latency.
    redis: { url: 'redis://127.0.0.1:6379', key_prefix: prefix, command_timeout_ms: 5000, connect_timeout_ms: 5000 },
    on_backend_failure: 'closed',
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: unlimited, subnet: unlimited, asn: unlimited },
    cluster: unlimited,
    ...extra,
  };
}

const REQUEST: LimitRequest = {
  keyId: 'k', accountId: 'acc_shared', orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'm', verdictLevel: 'none', inputTokens: 0, outputTokens: 0,
};

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string }) => { if (m.type === type) { child.off('message', onMsg); resolve(m as T); } };
    child.on('message', onMsg);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before ${type}`)));
  });
}

// Processes start slowly on a busy 2-core machine: start them all at once, reuse the pool.
let pool: ChildProcess[] = [];
let spare: ChildProcess;
before(async () => {
  const list = Array.from({ length: 5 }, () => fork(WORKER.at(-1)!, [], { execArgv: WORKER.slice(0, -1), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  children.push(...list);
  await Promise.all(list.map((c) => once(c, 'started')));
  pool = list.slice(0, 4);
  spare = list[4];
});

async function prepare(list: ChildProcess[], run: Record<string, unknown>): Promise<ChildProcess[]> {
  await Promise.all(list.map((c) => { const r = once(c, 'ready'); c.send({ type: 'run', ...run }); return r; }));
  return list;
}

test('four processes admit in total exactly what the GCRA rate allows (replayed decision by decision)', async () => {
  const prefix = `${RUN}rate:`;
  // 100 requests/s steady with a burst of 20, shared by every process.
  const raw = configFor(prefix, { rpm: 6000, burst: 20 });
  const workers = await prepare(pool, { mode: 'rate', config: raw, request: REQUEST, durationMs: 400, loops: 3 });
  const results = workers.map((c) => once<{ decisions: [number, number][] }>(c, 'done'));
  for (const c of workers) c.send({ type: 'go' });
  const all = (await Promise.all(results)).flatMap((r) => r.decisions);
  // Redis runs scripts one at a time, so Redis-time order is execution order; within one
  // microsecond, admitted ones went first (equal costs: any order admits the same number).
  all.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const planner = new MeterPlanner(limitsConfigSchema.parse(raw));
  const ops = planner.plan(REQUEST).map((m) => meterOp(m, { inputTokens: 0, outputTokens: 0, microUsd: 0 }));
  assert.equal(ops.length, 1);
  const model = new ReferenceModel();
  let admitted = 0;
  let mismatches = 0;
  for (const [now, allowed] of all) {
    const expected = model.decide(ops, 'x', 1, now).allowed ? 1 : 0;
    if (expected !== allowed) mismatches++;
    admitted += allowed;
  }
  const spanUs = all[all.length - 1][0] - all[0][0];
  assert.equal(mismatches, 0, `decisions differing from the reference model (of ${all.length})`);
  assert.ok(all.length > 200, `enough contention: ${all.length} decisions`);
  // The textbook bound: burst + elapsed / interval (+1 for the first emission).
  assert.ok(admitted <= 20 + Math.floor(spanUs / 10_000) + 1, `admitted ${admitted} over ${spanUs} us`);
  assert.ok(admitted >= 20, `admitted ${admitted}`);
});

test('four processes never hold more than the concurrency cap', async () => {
  const prefix = `${RUN}conc:`;
  const raw = configFor(prefix, { concurrency: 3 });
  const oracleKey = `${RUN}oracle`;
  const workers = await prepare(pool, { mode: 'concurrency', config: raw, request: REQUEST, durationMs: 500, loops: 3, oracleKey });
  const results = workers.map((c) => once<{ decisions: [number, number][]; maxInFlight: number }>(c, 'done'));
  for (const c of workers) c.send({ type: 'go' });
  const out = await Promise.all(results);
  const maxInFlight = Math.max(...out.map((r) => r.maxInFlight));
  const admitted = out.reduce((n, r) => n + r.decisions.filter((d) => d[1] === 1).length, 0);
  const refused = out.reduce((n, r) => n + r.decisions.filter((d) => d[1] === 0).length, 0);
  assert.ok(maxInFlight <= 3, `in flight ${maxInFlight}`);
  assert.equal(maxInFlight, 3, 'the cap was reached under contention');
  assert.ok(admitted > 20 && refused > 20, `admitted ${admitted}, refused ${refused}`);
  assert.equal(await redis.zcard(`${prefix}account:acc_shared:conc`), 0, 'every slot released');
});

test('a crashed process does not leak its slot: the lease expires', async () => {
  const prefix = `${RUN}crash:`;
  const raw = configFor(prefix, { concurrency: 1 }, { concurrency: { lease_ms: 1000 } });
  const [holder] = await prepare([spare], { mode: 'hold', config: raw, request: REQUEST, durationMs: 0, loops: 1 });
  const held = once<{ allowed: boolean }>(holder, 'held');
  holder.send({ type: 'go' });
  assert.equal((await held).allowed, true);
  const limiter = new Limiter({ config: limitsConfigSchema.parse(raw) });
  await limiter.ready();
  try {
    assert.equal((await limiter.decide(REQUEST)).allowed, false, 'slot held by the other process');
    holder.kill('SIGKILL');
    const killedAt = Date.now();
    let freedAfter = -1;
    while (Date.now() - killedAt < 3000) {
      const d = await limiter.decide(REQUEST);
      if (d.allowed) { freedAfter = Date.now() - killedAt; await limiter.settle(d.reservation!, null); break; }
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(freedAfter >= 0 && freedAfter <= 1100, `slot freed ${freedAfter} ms after the crash`);
  } finally {
    await limiter.close();
  }
});

test('a live request keeps its slot past the lease time: leases are renewed', async () => {
  const raw = configFor(`${RUN}renew:`, { concurrency: 1 }, { concurrency: { lease_ms: 30_000 } });
  const limiter = new Limiter({ config: limitsConfigSchema.parse(raw) });
  await limiter.ready();
  const t0 = Date.UTC(2026, 0, 1) * 1000;
  try {
    const first = await limiter.decide(REQUEST, t0);
    assert.equal(first.allowed, true);
    await limiter.renewLeases(t0 + 20_000_000);
    assert.equal((await limiter.decide(REQUEST, t0 + 45_000_000)).allowed, false, 'renewed lease still held at 45 s');
    const later = await limiter.decide(REQUEST, t0 + 50_000_001);
    assert.equal(later.allowed, true, 'expired 30 s after the last renewal');
    await limiter.settle(first.reservation!, null, t0 + 50_000_002);
    await limiter.settle(later.reservation!, null, t0 + 50_000_003);
  } finally {
    await limiter.close();
  }
});
