// A stream left open by a killed node, recorded at the next start: its reservation (made when it was
// admitted, on Redis, never settled) stays counted, and what the recovered usage holds beyond it
// is charged to the account's daily tokens and budget, once. The recovery is run again after a
// crash that came after the ledger entry and the charge but before the event was written (the open
// record is still there): one ledger entry, one event, one charge.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OpenStreams } from '../../src/gateway/open-streams.ts';
import { EventRecorder } from '../../src/gateway/recorder.ts';
import type { PipelineDeps } from '../../src/gateway/interaction-state.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { LIMIT_FIELDS } from '../../src/limits/config.ts';
import { limitsHooks } from '../../src/limits/hooks.ts';
import { Limiter, type ReservationNote } from '../../src/limits/limiter.ts';
import { RedisBackend } from '../../src/limits/redis.ts';
import { Ledger, SqliteLedgerStorage, generateSigner, ledgerHooks } from '../../src/ledger/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { fakeCtx, fakeEvent, testConfig, TEST_COMMAND_TIMEOUT_MS } from '../helpers/limits.ts';

const RUN = `wtest:interrupted:${process.pid}:${Date.now()}:`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
after(async () => {
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
/** The account's daily tokens and budget only ($1 per Mtok in and out, so tokens and micro-USD read alike). */
const CONFIG = {
  backend: 'redis',
  tiers: Object.fromEntries(['unverified', 'email_verified', 'identity_verified', 'enterprise'].map((t) => [t, { key: unlimited, org: unlimited, account: { ...unlimited, tpd: 100_000, daily_budget_usd: 1 } }])),
  network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
  cluster: { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null },
  prices: [{ model: '*', input_per_mtok: 1, output_per_mtok: 1 }],
};

const backend = () => new RedisBackend({ client: redis, keyPrefix: RUN, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });

function limiterOn(): Limiter {
  return new Limiter({ config: testConfig(CONFIG), backend: backend() });
}

/** What the account's daily budget has spent today, micro-USD (a token is a micro-USD at these prices). */
async function budgetSpent(note: ReservationNote): Promise<number> {
  const meter = note.meters.find((m) => m.kind === 'daily_budget');
  assert.ok(meter, 'the note names the daily budget');
  return (await backend().readBudgets([{ key: meter.key, window: 'day' }])).used[0];
}

/** The account's daily tokens left, as a one-token request after them finds them. */
async function accountState(limiter: Limiter, accountId: string): Promise<{ tokensLeft: number }> {
  const d = await limiter.decide({ keyId: 'key_probe', accountId, orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null, clusterId: null, model: 'gpt-4o-mini', verdictLevel: 'none', inputTokens: 0, outputTokens: 1 });
  assert.ok(d.allowed, 'the probe is admitted');
  const tpd = d.meters.find((m) => m.meter.kind === 'tokens_per_day');
  assert.ok(tpd, 'the account has a daily token meter');
  // The probe itself is given back (settled to nothing).
  await limiter.settle(d.reservation!, { inputTokens: 0, outputTokens: 0 });
  return { tokensLeft: tpd.outcome.remaining + 1 };
}

test('a killed node\'s stream: its tokens beyond the reservation are charged at recovery, once, and it is one event and one ledger entry even when the recovery itself was cut', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-interrupted-'));
  const db = openSqlite(join(dir, 'events.db'));
  const store = new SqliteEventStore(db);
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'ledger.db')), origin: 'warden.test/interrupted', signers: [generateSigner('warden.test/interrupted')], checkpointIntervalMs: 50 });
  const accountId = `acc_${process.pid}_${Date.now()}`;
  try {
    // The first run: admitted with 100 output tokens reserved; the stream is noted as open with the
    // hooks' notes, checkpointed at 900 output tokens, and the node is killed.
    const first = limiterOn();
    const limits = limitsHooks({ config: testConfig(CONFIG), limiter: first });
    const ctx = fakeCtx({ accountId, model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Tell me a long story.' }] } });
    await limits.limits!(ctx);
    assert.ok(typeof limits.openNote === 'function', 'the limits keep a note with an open stream');
    const note = limits.openNote(ctx);
    assert.ok(note, 'the reservation is noted');
    const begun = fakeEvent(ctx, { input: 0, output: 0 });
    begun.request.stream = true;
    begun.response.finish_reason = null;
    await store.appendBatch([], {
      opened: [{ id: ctx.id, node: 'n1', ts: begun.ts, input_tokens: 20, event: begun, notes: { limits: note } }],
      progress: [{ id: ctx.id, at: new Date(ctx.startedAt + 4000).toISOString(), input_tokens: 20, output_tokens: 900, reasoning_tokens: 0, output_chars: 3600, reasoning_chars: 0 }],
    });
    const reserved = await accountState(first, accountId);
    const spentReserved = await budgetSpent(note as ReservationNote);
    assert.ok(spentReserved >= 100, `the reservation's price stays counted in the daily budget (${spentReserved} micro-USD)`);
    assert.ok(reserved.tokensLeft <= 100_000 - 100, `the reservation stays counted after the kill (${reserved.tokensLeft} left)`);

    // The second run: the recovery charges and writes the ledger entry, then the node dies before
    // the event is written (its recorder never writes).
    const deps = (record: (e: InteractionEvent) => void, hooks: GatewayHooks[]) => ({ hooks, record, running: new Set() }) as unknown as PipelineDeps;
    const second = limiterOn();
    const hooks2 = [limitsHooks({ config: testConfig(CONFIG), limiter: second }), ledgerHooks(ledger, { closeOnShutdown: false })];
    const unwritten = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10 });
    const cut = new OpenStreams(store, unwritten, deps(() => {}, hooks2), { node: 'n1', checkpointIntervalMs: 0, streamMaxDurationMs: 600_000 });
    assert.equal(await cut.recover(), 1, 'the open stream is recovered');
    await ledger.flush();
    const charged = await accountState(second, accountId);
    // 20 in + 900 out recovered against 100 out and the prompt's estimate reserved: about 800 more.
    const extra = reserved.tokensLeft - charged.tokensLeft;
    assert.ok(extra >= 790 && extra <= 830, `the tokens beyond the reservation are charged to the daily quota (${extra})`);
    const spentCharged = await budgetSpent(note as ReservationNote);
    assert.ok(spentCharged - spentReserved >= 790 && spentCharged - spentReserved <= 830, `and the price beyond it to the daily budget (${spentReserved} -> ${spentCharged} micro-USD)`);
    assert.equal(await store.count(), 0, 'the crash came before the event was written');

    // The third run: the open record is still there; recovered again, recorded this time.
    const third = limiterOn();
    const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10 });
    const hooks3 = [limitsHooks({ config: testConfig(CONFIG), limiter: third }), ledgerHooks(ledger, { closeOnShutdown: false })];
    const again = new OpenStreams(store, recorder, deps((e) => recorder.record(e), hooks3), { node: 'n1', checkpointIntervalMs: 0, streamMaxDurationMs: 600_000 });
    assert.equal(await again.recover(), 1, 'recovered again');
    await recorder.flush();
    await ledger.flush();
    // The daily quota refills by about 1.2 tokens a second meanwhile; a second charge would be some 800.
    const after = (await accountState(third, accountId)).tokensLeft;
    assert.ok(Math.abs(after - charged.tokensLeft) <= 10, `charged once: the second recovery charges nothing more (${charged.tokensLeft} -> ${after} left)`);
    assert.equal(await budgetSpent(note as ReservationNote), spentCharged, 'the budget is charged once too');
    const events = [];
    for await (const e of store.iterate()) events.push(e);
    assert.deepEqual(events.map((e) => [e.id, e.response.finish_reason, e.response.output_tokens]), [[ctx.id, 'interrupted_by_restart', 900]], 'one event');
    assert.equal(ledger.size, 1, 'one ledger entry for the interaction');
    assert.deepEqual(await store.takeOpenInteractions!('n1', new Date(0).toISOString()), [], 'nothing left open');
    await recorder.close();
    await unwritten.close();
    for (const l of [first, second, third]) await l.close().catch(() => {});
  } finally {
    await ledger.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reservation on a node\'s own counters (memory backend) died with it: nothing is charged at recovery; a record without a note is recorded uncharged', async () => {
  const config = testConfig({ ...CONFIG, backend: 'memory' });
  const limiter = new Limiter({ config });
  const limits = limitsHooks({ config, limiter });
  const ctx = fakeCtx({ accountId: 'acc_memory', model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] } });
  await limits.limits!(ctx);
  const note = limits.openNote!(ctx) as ReservationNote;
  assert.equal(note.backend, 'memory');
  const usage = { inputTokens: 20, outputTokens: 900 };
  assert.deepEqual(await limiter.chargeInterrupted(note, usage), { charged: false, why: 'counters_gone', tokens: 0, microUsd: 0 });
  assert.deepEqual(await limiter.chargeInterrupted(null, usage), { charged: false, why: 'no_reservation', tokens: 0, microUsd: 0 });
  assert.deepEqual(await limiter.chargeInterrupted({ lease: 'x' }, usage), { charged: false, why: 'no_reservation', tokens: 0, microUsd: 0 }, 'a note that is not one (a store edited by hand) charges nothing');
  await limiter.close();
});
