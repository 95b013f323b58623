// A deletion request on several nodes: the Redis stream that carries replicas' events to the
// detector worker keeps recent entries, prompts and addresses included. The erasure rewrites the
// account's events there without their personal data; other accounts' events stay, and neither the
// running worker nor one reading the stream afresh reads any event twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedRedis, redisReady, streamEventsHooks, consumeEventStream, eraseAccountFromStream, sharedKeys } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { TEST_REDIS_URL as URL_, sharedDetectorRedis, labelledScenario, until } from '../../test/helpers/shared-detector.ts';

const { prefix, keys, admin } = sharedDetectorRedis('stream-erase');
const scenario = labelledScenario({ seed: 7, days: 1, organic: { hobbyist: 40, startup: 3, researcher: 2, batch: 2 }, campaigns: [{ kind: 'hydra', accounts: 10 }] });

async function streamEvents(): Promise<InteractionEvent[]> {
  const entries = await admin.xrange(keys.events, '-', '+');
  return entries.flatMap(([, fields]) => JSON.parse(fields[fields.indexOf('b') + 1]) as InteractionEvent[]);
}

test('an erased account\'s events in the stream lose their personal data; others stay; no consumer reads an event twice', { timeout: 60_000 }, async () => {
  const events = (scenario.events as InteractionEvent[]).filter((e) => e.account_id).slice(0, 400);
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.account_id!, (counts.get(e.account_id!) ?? 0) + 1);
  const subject = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const mine = events.filter((e) => e.account_id === subject);
  const texts = mine.flatMap((e) => e.request.messages.map((m) => m.text).filter((t): t is string => !!t && t.length > 20));
  assert.ok(mine.length >= 5 && texts.length > 0, 'the account sent several prompts');

  const sender = sharedRedis(URL_);
  await redisReady(sender);
  const hooks = streamEventsHooks(sender, keys);
  // The worker, reading from the start.
  const got: InteractionEvent[] = [];
  const worker = consumeEventStream(URL_, keys, (evs) => got.push(...evs), { startId: '0-0', blockMs: 100 });
  try {
    for (const ev of events.slice(0, 200)) hooks.onEvent(ev);
    await until('the worker read the first half', () => got.length >= 200);
    // The second half is appended and not yet read by anyone when the erasure runs.
    await worker.close();
    const sender2 = sharedRedis(URL_);
    await redisReady(sender2);
    const hooks2 = streamEventsHooks(sender2, keys);
    for (const ev of events.slice(200)) hooks2.onEvent(ev);
    await hooks2.close();
    const held = JSON.stringify(await streamEvents());
    assert.ok(texts.some((t) => held.includes(JSON.stringify(t).slice(1, -1))), 'before the erasure the stream holds the account\'s prompts');

    const erased = await eraseAccountFromStream(admin, keys, subject);
    assert.equal(erased.events, mine.length, `each of its events was rewritten: ${JSON.stringify(erased)}`);
    const after = await streamEvents();
    const text = JSON.stringify(after);
    for (const t of texts) assert.ok(!text.includes(JSON.stringify(t).slice(1, -1)), 'no prompt of the account is left in the stream');
    const left = after.filter((e) => e.account_id === subject);
    assert.equal(left.length, mine.length, 'its events stay, counted');
    assert.ok(left.every((e) => e.erased_at && e.client.ip === '' && e.client.user_agent === null), 'without address or user agent');
    const others = after.filter((e) => e.account_id !== subject).map((e) => e.id).sort();
    assert.deepEqual(others, events.filter((e) => e.account_id !== subject).map((e) => e.id).sort(), 'the other accounts\' events are all there, once each');
    assert.deepEqual(await eraseAccountFromStream(admin, keys, subject), { entries: 0, events: 0 }, 'a second run rewrites nothing');

    // One reading the whole stream afresh reads every event once.
    const fresh: InteractionEvent[] = [];
    const reader = consumeEventStream(URL_, keys, (evs) => fresh.push(...evs), { startId: '0-0', blockMs: 100 });
    await until('a fresh reader reads everything', () => fresh.length >= events.length);
    await reader.close();
    assert.equal(new Set(fresh.map((e) => e.id)).size, fresh.length, 'no event read twice');
    assert.equal(fresh.length, events.length, 'every event read');
    assert.ok(fresh.filter((e) => e.account_id === subject).every((e) => e.erased_at), 'the account\'s events read erased');
  } finally {
    await hooks.close();
  }
});

test('the running worker: an entry it read and the copy the erasure made of it are read once', { timeout: 60_000 }, async () => {
  const p = sharedKeys(`${prefix}live:`);
  const events = (scenario.events as InteractionEvent[]).filter((e) => e.account_id).slice(0, 100);
  const subject = events[0].account_id!;
  const got: InteractionEvent[] = [];
  const worker = consumeEventStream(URL_, p, (evs) => got.push(...evs), { startId: '0-0', blockMs: 100 });
  const sender = sharedRedis(URL_);
  await redisReady(sender);
  const hooks = streamEventsHooks(sender, p);
  try {
    for (const ev of events) hooks.onEvent(ev);
    await until('the worker read them all', () => got.length >= events.length);
    const erased = await eraseAccountFromStream(admin, p, subject);
    assert.ok(erased.entries > 0, 'entries were rewritten');
    // A marker after the copies: once the worker reads it, it has passed them.
    const marker = { ...events[1], id: 'marker', account_id: 'acct_marker' };
    hooks.onEvent(marker);
    await until('the worker reads the marker', () => got.some((e) => e.id === 'marker'));
    assert.equal(got.length, events.length + 1, `the copies were not read again: ${got.length}`);
  } finally {
    await hooks.close();
    await worker.close();
  }
});
