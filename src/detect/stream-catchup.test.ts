// A replica records events while Redis is away (PostgreSQL keeps them; the stream does not take
// them). Once Redis is back the detector worker catches up on them within seconds, without a
// restart, each event once: the replica held them and sends them in order, and a worker that was
// restarted meanwhile (and replayed them from the store) does not count them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { InteractionEvent } from '../events/index.ts';
import { parseConfig } from '../config/index.ts';
import { PostgresEventStore } from '../store/index.ts';
import { setUpDetector } from '../cli/detector.ts';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, startSharedWorker, streamEventsHooks } from './index.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { until as waitUntil } from '../../test/helpers/until.ts';

const until = (what: string, ok: () => unknown, ms = 30_000) => waitUntil(what, ok, ms);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const recent = (n: number): InteractionEvent => sampleEvent(n, { ts: new Date().toISOString() });

test('events a replica recorded while Redis was down reach the running worker once Redis is back, each once', { timeout: 120_000 }, async () => {
  await withPgSchema('catchup', async (pool) => {
    const store = new PostgresEventStore(pool);
    await store.migrate();
    const keys = sharedKeys('warden:test:catchup:');
    const port = await freePort();
    let server = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    const seen = new Map<string, number>();
    const client = sharedRedis(url);
    await redisReady(client);
    const worker = await startSharedWorker({ engine: new DetectorEngine(), client, url, keys, publishMs: 100, startId: '$', onEvent: (ev) => seen.set(ev.id, (seen.get(ev.id) ?? 0) + 1) });
    const codes: string[] = [];
    const stream = streamEventsHooks(sharedRedis(url), keys, { log: (_, meta) => codes.push(meta?.code ?? '') });
    const record = async (events: InteractionEvent[]) => { await store.appendBatch(events); for (const ev of events) stream.onEvent(ev); };
    try {
      const before = Array.from({ length: 5 }, (_, i) => recent(i));
      await record(before);
      await until('the worker reads the events recorded before the outage', () => before.every((ev) => seen.has(ev.id)));

      await stopRedis(server);
      const during = Array.from({ length: 150 }, (_, i) => recent(100 + i));
      for (let i = 0; i < during.length; i += 25) { await record(during.slice(i, i + 25)); await sleep(60); }
      await until('the replica says it cannot append', () => codes.includes('DETECT_STREAM_UNAVAILABLE'));
      assert.equal(stream.stats().backlog + stream.stats().sent, 155, 'the outage\'s events are held, not dropped');
      // Redis comes back empty (restarted without its data).
      server = await startRedis(port);
      await until('the worker has every event of the outage, without a restart', () => during.every((ev) => seen.has(ev.id)));
      const after = recent(999);
      await record([after]);
      await until('and what is recorded after it', () => seen.has(after.id));
      assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'no event counted twice');
      assert.equal(seen.size, 156, 'every event counted');
      assert.deepEqual([stream.stats().backlog, stream.stats().dropped], [0, 0], 'nothing held, nothing dropped');
      assert.ok(codes.includes('DETECT_STREAM_RECOVERED'), `the end of the outage is logged: ${codes.join(', ')}`);
      assert.equal(await store.count(), 156, 'the store has them all too');
    } finally {
      await stream.close();
      await worker.close();
      client.disconnect();
      await stopRedis(server);
    }
  });
});

test('a worker restarted while a replica could not reach Redis replays its events from the store, and does not count them again when the replica sends them', { timeout: 120_000 }, async () => {
  await withPgSchema('catchup', async (pool) => {
    const store = new PostgresEventStore(pool);
    await store.migrate();
    const prefix = 'warden:test:catchup-restart:';
    const keys = sharedKeys(prefix);
    const port = await freePort();
    const server = await startRedis(port);
    // The replica reaches Redis through a proxy: cut, it is this replica alone that cannot.
    const proxy = await startTcpProxy(port);
    const stream = streamEventsHooks(sharedRedis(`redis://127.0.0.1:${proxy.port}`), keys);
    const record = async (events: InteractionEvent[]) => { await store.appendBatch(events); for (const ev of events) stream.onEvent(ev); };
    let detector: Awaited<ReturnType<typeof setUpDetector>> | null = null;
    try {
      await proxy.stop();
      // Recorded minutes before the worker starts, as in a long outage (their requests began then).
      const during = Array.from({ length: 30 }, (_, i) => sampleEvent(i, { ts: new Date(Date.now() - 5 * 60_000).toISOString() }));
      await record(during);
      await until('the replica holds the events', () => stream.stats().backlog === 30);
      // The worker starts a while after the replica first tried to send them (the store has them).
      await sleep(2500);
      const config = parseConfig({
        store: { driver: 'postgres', postgres_url: 'postgres://unused@127.0.0.1:5432/test' },
        redis: { url: `redis://127.0.0.1:${port}` },
        detect: { mode: 'worker', shared: { key_prefix: prefix, publish_ms: 100 } },
      });
      detector = await setUpDetector(config, { driver: 'postgres', sqlite: null, pg: pool, events: store, close: async () => {} }, new Registry(), () => {});
      const engine = detector.engine!;
      assert.equal(engine.stats().events, 30, 'the worker replayed the outage\'s events from the store');

      await proxy.start();
      await until('the replica sends what it held', () => stream.stats().backlog === 0 && stream.stats().sent === 30);
      const after = recent(999);
      await record([after]);
      await until('the worker reads what the replica records next', () => engine.stats().events >= 31);
      await detector.drained?.();
      await sleep(300);
      assert.equal(engine.stats().events, 31, 'the held events were not counted a second time');
    } finally {
      await stream.close();
      await detector?.close();
      await proxy.stop();
      await stopRedis(server);
    }
  });
});

test('a replica holds at most its backlog bound while Redis is away: the oldest batches are dropped and counted, the newest sent when it is back', { timeout: 120_000 }, async () => {
  const keys = sharedKeys(`warden:test:catchup-bound:${process.pid}:`);
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startTcpProxy(port);
  const stream = streamEventsHooks(sharedRedis(`redis://127.0.0.1:${proxy.port}`), keys, { backlogEvents: 40 });
  const reader = sharedRedis(`redis://127.0.0.1:${port}`);
  try {
    await proxy.stop();
    const events = Array.from({ length: 100 }, (_, i) => recent(i));
    // Ten batches of ten (a batch is sealed when the replica's timer fires).
    for (let i = 0; i < 100; i += 10) {
      for (const ev of events.slice(i, i + 10)) stream.onEvent(ev);
      await until(`batch ${i / 10 + 1} sealed`, () => stream.stats().backlog + stream.stats().dropped === i + 10);
    }
    const { backlog, dropped } = stream.stats();
    assert.ok(backlog <= 40 && backlog >= 30, `held within the bound of 40 events, whole batches: ${backlog}`);
    assert.equal(backlog + dropped, 100, 'what is not held is counted as dropped');

    await proxy.start();
    await until('the replica sends what it held', () => stream.stats().backlog === 0 && stream.stats().sent === backlog);
    const entries = await reader.xrange(keys.events, '-', '+');
    const sentIds = entries.flatMap(([, fields]) => (JSON.parse(fields[fields.indexOf('b') + 1]!) as InteractionEvent[]).map((ev) => ev.id));
    const order = sentIds.map((id) => events.findIndex((ev) => ev.id === id));
    assert.equal(sentIds.length, backlog, 'each held event sent once');
    assert.ok(order.every((at, k) => at >= 0 && (k === 0 || at > order[k - 1]!)), `sent in the order recorded: ${order.join(',')}`);
    // The batch in flight when Redis went away is kept (its fate is unknown); the others dropped are the oldest.
    assert.deepEqual(sentIds.slice(-30), events.slice(70).map((ev) => ev.id), 'the newest events reach the stream');
  } finally {
    await stream.close();
    reader.disconnect();
    await proxy.stop();
    await stopRedis(server);
  }
});
