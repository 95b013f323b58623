// A node died holding an account's concurrency slots: they come back when its leases expire
// (concurrency.lease_ms). Until then a refusal tells the client how long that is, not "retry
// after 1s" thirty times over (SDKs give up after 2 retries). Slots held by live requests (leases
// renewed every third of lease_ms) still say their end is unknown.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryBackend } from './memory.ts';
import { RedisBackend } from './redis.ts';
import { ReferenceModel } from './reference-model.ts';
import { RETRY_UNKNOWN, type LimitsBackend } from './meters.ts';
import { TEST_COMMAND_TIMEOUT_MS } from '../../test/helpers/limits.ts';

const RUN = `wtest:deadlease:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
after(async () => {
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const TTL = 30_000_000;
const T0 = Date.UTC(2026, 0, 1) * 1000;

const backends: [string, () => Pick<LimitsBackend, 'decide' | 'renew'>][] = [
  ['memory', () => new MemoryBackend()],
  ['redis', () => new RedisBackend({ client: redis, keyPrefix: RUN, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS })],
  ['reference model', () => new ReferenceModel() as unknown as LimitsBackend],
];

for (const [name, make] of backends) {
  test(`${name}: a concurrency refusal behind leases nobody renews says when they expire; behind live ones, unknown`, async () => {
    const b = make();
    const key = `${name}:acct`;
    const op = [{ type: 'concurrency' as const, key, limit: 2 }];
    assert.equal((await b.decide(op, 'l1', TTL, T0)).allowed, true);
    assert.equal((await b.decide(op, 'l2', TTL, T0)).allowed, true);
    const live = await b.decide(op, 'l3', TTL, T0 + 1_000_000);
    assert.equal(live.allowed, false);
    assert.equal(live.outcomes[0]!.retryUs, RETRY_UNKNOWN, 'slots of live requests: when one ends is unknown');
    // 20 s later, never renewed (their node died): they expire at T0 + 30 s.
    const dead = await b.decide(op, 'l4', TTL, T0 + 20_000_000);
    assert.equal(dead.allowed, false);
    assert.equal(dead.outcomes[0]!.retryUs, 10_000_000, 'the refusal says when the dead node\'s lease expires (10 s)');
    // One of the two renewed (a live request), the other not: the stale one frees first.
    await b.renew([{ key, leaseId: 'l1' }], TTL, T0 + 20_000_000);
    const mixed = await b.decide(op, 'l5', TTL, T0 + 21_000_000);
    assert.equal(mixed.outcomes[0]!.retryUs, 9_000_000, 'the slot a dead node holds frees in 9 s');
  });
}

for (const [name, make] of backends) {
  // The memory backend scans a meter's leases only once the earliest may have expired: renewals
  // (which move an expiry later) and settlements in between must not hide one that did.
  test(`${name}: leases expire exactly at their expiry, whatever was renewed or settled before`, async () => {
    const b = make() as Pick<LimitsBackend, 'decide' | 'renew' | 'settle'>;
    const key = `${name}:bound`;
    const op = [{ type: 'concurrency' as const, key, limit: 10 }];
    const held = async (at: number): Promise<number> => {
      const d = await b.decide(op, `probe${at}`, TTL, at);
      assert.equal(d.allowed, true, 'the probe is admitted');
      await b.settle([{ type: 'concurrency', key }], `probe${at}`, at);
      return 10 - 1 - d.outcomes[0]!.remaining;
    };
    await b.decide(op, 'a', TTL, T0); // expires T0 + 30 s
    await b.decide(op, 'b', TTL, T0 + 10_000_000); // T0 + 40 s
    await b.decide(op, 'c', TTL, T0 + 12_000_000); // T0 + 42 s
    await b.renew([{ key, leaseId: 'a' }], TTL, T0 + 20_000_000); // a: T0 + 50 s
    await b.settle([{ type: 'concurrency', key }], 'c', T0 + 21_000_000);
    assert.equal(await held(T0 + 30_000_000), 2, 'a was renewed, b is live: both held at 30 s');
    assert.equal(await held(T0 + 39_999_999), 2, 'b is held until its expiry');
    assert.equal(await held(T0 + 40_000_000), 1, 'b (never renewed) is dropped at 40 s');
    await b.decide(op, 'd', TTL, T0 + 41_000_000); // T0 + 71 s
    assert.equal(await held(T0 + 49_999_999), 2, 'a and d held');
    assert.equal(await held(T0 + 50_000_000), 1, 'a is dropped at its renewed expiry, 50 s');
    assert.equal(await held(T0 + 71_000_000), 0, 'd is dropped at 71 s');
    // A lease taken with a shorter lease time (lease_ms lowered by a reload) expires before those held already.
    await b.decide(op, 'e', 2 * TTL, T0 + 80_000_000); // T0 + 140 s
    await b.decide(op, 'f', TTL / 3, T0 + 81_000_000); // T0 + 91 s
    assert.equal(await held(T0 + 90_999_999), 2, 'e and f held');
    assert.equal(await held(T0 + 91_000_000), 1, 'f is dropped at 91 s, before e');
    // Renewed with a shorter lease time: e's expiry moves earlier than it was.
    await b.renew([{ key, leaseId: 'e' }], TTL / 3, T0 + 95_000_000); // T0 + 105 s
    assert.equal(await held(T0 + 104_999_999), 1, 'e held until its renewed expiry');
    assert.equal(await held(T0 + 105_000_000), 0, 'e is dropped at 105 s, not at 140 s');
  });
}
