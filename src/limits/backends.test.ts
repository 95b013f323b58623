// Property tests: for random arrival sequences (decisions over several meters, settlements,
// lease renewals, time jumps across day and month boundaries, rate limits changed between
// requests), both backends answer exactly what
// the reference model answers, field by field. Redis runs against the real server on 6379 with a
// unique key prefix per run and the script's time override.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { MemoryBackend } from './memory.ts';
import { RedisBackend } from './redis.ts';
import { ReferenceModel } from './reference-model.ts';
import { budgetWindow, PEEK_LEASE, type LimitsBackend, type MeterOp, type SettleOp } from './meters.ts';
import { TEST_COMMAND_TIMEOUT_MS } from '../../test/helpers/limits.ts';

const RUN = `wtest:limits:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
after(async () => {
  const keys = await redis.keys(`${RUN}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  await redis.quit();
});

interface MeterShape { key: string; kind: 'gcra' | 'concurrency' | 'budget'; interval: number; tolerance: number; limit: number; window: 'day' | 'month' }

const meterShapes = fc.tuple(
  fc.integer({ min: -1, max: 2_000_000 }).map((i) => (i === 0 ? 1 : i)), // gcra A interval (-1: limit 0)
  fc.integer({ min: 1, max: 6 }), // gcra A burst
  fc.integer({ min: 1, max: 50_000 }), // gcra B interval (token meter)
  fc.integer({ min: 1, max: 5_000 }), // gcra B capacity
  fc.integer({ min: 0, max: 3 }), // concurrency limit
  fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 10_000 })), // day budget
  fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 30_000 })), // month budget
).map(([ia, ba, ib, cb, cl, bd, bm]): MeterShape[] => [
  { key: 'ga', kind: 'gcra', interval: ia, tolerance: ia < 0 ? 0 : ia * ba, limit: 0, window: 'day' },
  { key: 'gb', kind: 'gcra', interval: ib, tolerance: ib * cb, limit: 0, window: 'day' },
  { key: 'cc', kind: 'concurrency', interval: 0, tolerance: 0, limit: cl, window: 'day' },
  { key: 'bd', kind: 'budget', interval: 0, tolerance: 0, limit: bd, window: 'day' },
  { key: 'bm', kind: 'budget', interval: 0, tolerance: 0, limit: bm, window: 'month' },
]);

type Step =
  | { t: 'advance'; us: number }
  | { t: 'decide'; mask: number; cost: number }
  /** A decision that only asks (PEEK_LEASE): answered as a decision, charging nothing. */
  | { t: 'peek'; mask: number; cost: number }
  | { t: 'settle'; pick: number; actual: number }
  | { t: 'renew' }
  /** The limit of rate meter ga (0) or gb (1) changes: a new interval and burst. */
  | { t: 'retune'; meter: 0 | 1; interval: number; burst: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 0, max: 40 * 86_400_000_000 })).map((us) => ({ t: 'advance' as const, us })) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('decide' as const), mask: fc.integer({ min: 1, max: 31 }), cost: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3_000 })) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('peek' as const), mask: fc.integer({ min: 1, max: 31 }), cost: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('settle' as const), pick: fc.nat(), actual: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 4_000 })) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'renew' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('retune' as const),
      meter: fc.constantFrom(0 as const, 1 as const),
      interval: fc.oneof(fc.integer({ min: -1, max: 2_000_000 }), fc.integer({ min: 1, max: 50_000 })).map((i) => (i === 0 ? 1 : i)),
      burst: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5_000 })),
    }),
  },
);

const startArb = fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) }).map((ms) => ms * 1000 + 123);

const LEASE_TTL = 5_000_000;

function opsFor(shapes: MeterShape[], mask: number, cost: number, prefix: string): MeterOp[] {
  const ops: MeterOp[] = [];
  shapes.forEach((s, i) => {
    if (!(mask & (1 << i))) return;
    const key = prefix + s.key;
    if (s.kind === 'gcra') ops.push({ type: 'gcra', key, intervalUs: s.interval, toleranceUs: s.tolerance, cost: s.key === 'ga' ? 1 : cost });
    else if (s.kind === 'concurrency') ops.push({ type: 'concurrency', key, limit: s.limit });
    else ops.push({ type: 'budget', key, window: s.window, limit: s.limit, cost });
  });
  return ops;
}

const tally = { allowed: 0, refused: 0 };

async function runScenario(backend: LimitsBackend, prefix: string, initialShapes: MeterShape[], start: number, steps: Step[]): Promise<void> {
  const model = new ReferenceModel();
  const shapes = initialShapes.map((s) => ({ ...s }));
  let now = start;
  let seq = 0;
  const open: { lease: string; ops: MeterOp[]; at: number }[] = [];
  for (const step of steps) {
    if (step.t === 'advance') { now += step.us; continue; }
    if (step.t === 'retune') {
      // Reservations still open settle with the interval they were made under.
      const g = shapes[step.meter];
      g.interval = step.meter === 1 && step.interval < 0 ? 1 : step.interval;
      g.tolerance = g.interval < 0 ? 0 : g.interval * step.burst;
      continue;
    }
    if (step.t === 'peek') {
      // Answered as the reference answers; charging nothing shows in every decision after it.
      const ops = opsFor(shapes, step.mask, step.cost, prefix);
      const { reclaimedSlots: _reclaimed, ...decision } = await backend.decide(ops, PEEK_LEASE, LEASE_TTL, now);
      assert.deepEqual(decision, model.decide(ops, PEEK_LEASE, LEASE_TTL, now), `peek at ${now}`);
      continue;
    }
    if (step.t === 'decide') {
      const ops = opsFor(shapes, step.mask, step.cost, prefix);
      const lease = `l${++seq}`;
      const expected = model.decide(ops, lease, LEASE_TTL, now);
      const got = await backend.decide(ops, lease, LEASE_TTL, now);
      // Only the Redis backend counts the expired slots it removed (a metric: dead-slots-metric.test.ts).
      const { reclaimedSlots: _reclaimed, ...decision } = got;
      assert.deepEqual(decision, expected, `decision ${seq} at ${now}`);
      if (got.allowed) open.push({ lease, ops, at: now });
      tally[got.allowed ? 'allowed' : 'refused']++;
    } else if (step.t === 'settle') {
      if (open.length === 0) continue;
      const [res] = open.splice(step.pick % open.length, 1);
      const settle: SettleOp[] = res.ops.map((op): SettleOp => {
        if (op.type === 'gcra') return { type: 'gcra', key: op.key, intervalUs: op.intervalUs, delta: op.key.endsWith('ga') ? 0 : step.actual - op.cost };
        if (op.type === 'concurrency') return { type: 'concurrency', key: op.key };
        return { type: 'budget', key: op.key, windowId: budgetWindow(res.at, op.window).id, delta: step.actual - op.cost };
      });
      model.settle(settle, res.lease, now);
      await backend.settle(settle, res.lease, now);
    } else {
      const leases = open.flatMap((r) => r.ops.filter((o) => o.type === 'concurrency').map((o) => ({ key: o.key, leaseId: r.lease })));
      model.renew(leases, LEASE_TTL, now);
      await backend.renew(leases, LEASE_TTL, now);
    }
  }
}

test('budget windows: day and month boundaries in UTC', () => {
  const jan31 = Date.UTC(2026, 0, 31, 23, 59, 59) * 1000;
  assert.equal(budgetWindow(jan31, 'month').endUs, Date.UTC(2026, 1, 1) * 1000);
  assert.equal(budgetWindow(jan31, 'day').endUs, Date.UTC(2026, 1, 1) * 1000);
  const feb29 = Date.UTC(2028, 1, 29, 12) * 1000;
  assert.equal(budgetWindow(feb29, 'month').endUs, Date.UTC(2028, 2, 1) * 1000);
  assert.equal(budgetWindow(Date.UTC(2026, 11, 31, 23) * 1000, 'month').endUs, Date.UTC(2027, 0, 1) * 1000);
});

test('memory backend equals the reference model on random arrival sequences', async () => {
  await fc.assert(
    fc.asyncProperty(meterShapes, startArb, fc.array(stepArb, { minLength: 10, maxLength: 120, size: 'max' }), async (shapes, start, steps) => {
      await runScenario(new MemoryBackend({ clockUs: () => { throw new Error('clock must not be read'); } }), 'm:', shapes, start, steps);
    }),
    { numRuns: 400 },
  );
});

test('redis backend equals the reference model on random arrival sequences', async () => {
  tally.allowed = tally.refused = 0;
  const backend = new RedisBackend({ client: redis, keyPrefix: RUN, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(meterShapes, startArb, fc.array(stepArb, { minLength: 10, maxLength: 80, size: 'max' }), async (shapes, start, steps) => {
      await runScenario(backend, `r${++run}:`, shapes, start, steps);
    }),
    { numRuns: 120 },
  );
  assert.ok(tally.allowed > 300 && tally.refused > 300, `both outcomes exercised: ${JSON.stringify(tally)}`);
});

test('redis backend takes time from Redis TIME: decisions replay exactly in the reference model', async () => {
  const backend = new RedisBackend({ client: redis, keyPrefix: RUN + 'time:', commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
  const model = new ReferenceModel();
  // 5 requests/s with a burst of 3, hammered for ~700 ms of real time.
  const ops: MeterOp[] = [{ type: 'gcra', key: 'rate', intervalUs: 200_000, toleranceUs: 600_000, cost: 1 }];
  let admitted = 0;
  const deadline = Date.now() + 700;
  let last = 0;
  while (Date.now() < deadline) {
    const got = await backend.decide(ops, 'x', LEASE_TTL);
    assert.ok(got.nowUs >= last, 'redis time is monotonic here');
    last = got.nowUs;
    assert.deepEqual(got, model.decide(ops, 'x', LEASE_TTL, got.nowUs));
    if (got.allowed) admitted++;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(admitted >= 3 && admitted <= 3 + 4, `admitted ${admitted}`);
});

test('redis: a rate meter stored as a bare TAT (an earlier version) is read as counted in the interval in force', async () => {
  const backend = new RedisBackend({ client: redis, keyPrefix: RUN + 'legacy:', commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
  const now = Date.UTC(2026, 5, 18, 12) * 1000;
  await redis.set(`${RUN}legacy:g`, String(now + 3_000_000), 'PX', 3_600_000);
  const op: MeterOp = { type: 'gcra', key: 'g', intervalUs: 1_000_000, toleranceUs: 5_000_000, cost: 1 };
  const first = await backend.decide([op], 'l1', LEASE_TTL, now);
  assert.deepEqual(first.outcomes[0], { ok: true, remaining: 1, resetUs: 4_000_000, retryUs: 0 });
  assert.equal(await redis.get(`${RUN}legacy:g`), `${now + 4_000_000}:1000000`);
});
