// One detector for several nodes, through a real Redis: what the worker publishes, a replica
// enforces (the same effective verdict for every account), changes arrive within moments, and
// events a replica appends reach the worker once each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, VerdictPublisher, RedisVerdictView, streamEventsHooks, consumeEventStream, latestStreamId, startSharedWorker } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { TEST_REDIS_URL as URL_, sharedDetectorRedis, labelledScenario, until } from '../../test/helpers/shared-detector.ts';

const { prefix, keys, admin } = sharedDetectorRedis('shared');
const scenario = labelledScenario({ seed: 5, days: 2, organic: { hobbyist: 40, startup: 3, researcher: 2, batch: 2 }, campaigns: [{ kind: 'hydra', accounts: 40 }] });

test('a replica enforces exactly the verdicts the worker\'s engine gives, and follows their changes', async () => {
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const pubClient = sharedRedis(URL_);
  // Connected before the first publication: a client without an offline queue fails commands until then (slow on a loaded machine).
  await redisReady(pubClient, 30_000);
  const publisher = new VerdictPublisher(pubClient, keys, engine);
  assert.ok(await publisher.publish() > 0);
  const view = new RedisVerdictView(sharedRedis(URL_), URL_, keys);
  assert.equal(await view.start(), true);
  try {
    const ids = engine.accountIds();
    const flagged = ids.filter((id) => engine.forAccount(id).level !== 'none');
    assert.ok(flagged.length >= 30, `the hydra is flagged (${flagged.length} accounts)`);
    for (const id of ids) assert.deepEqual(view.forAccount(id), engine.forAccount(id), id);
    assert.equal(view.size, ids.filter((id) => engine.forAccount(id).level !== 'none' || engine.forAccount(id).clusterId !== null).length);

    // An operator verdict on the worker reaches the replica with the next publication.
    const organic = ids.find((id) => scenario.labels.accounts[id]?.startsWith('organic') && engine.forAccount(id).level === 'none')!;
    engine.setManualVerdict({ kind: 'account', id: organic }, 'suspend', 'chargeback fraud');
    assert.equal(await publisher.publish(), 1, 'only the change is published');
    await until('the suspension reaches the replica', () => view.forAccount(organic).level === 'suspend');
    assert.equal(view.forAccount(organic).verdict?.reasons[0].detail, 'chargeback fraud');
    engine.setManualVerdict({ kind: 'account', id: organic }, null);
    await publisher.publish();
    await until('the lifted suspension reaches the replica', () => view.forAccount(organic).level === 'none');
    // The allow-list comes first on replicas too: a partner allow-listed before its first request
    // (so unknown to the detector) is not held by an operator verdict that names it.
    engine.allow({ account: 'acct_partner_new' });
    engine.setManualVerdict({ kind: 'account', id: 'acct_partner_new' }, 'suspend', 'older decision');
    assert.equal(engine.forAccount('acct_partner_new').level, 'none', 'the worker exempts the allow-listed partner');
    await publisher.publish();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(view.forAccount('acct_partner_new').level, 'none', 'the replica exempts it as the worker does');
    engine.setManualVerdict({ kind: 'account', id: 'acct_partner_new' }, null);
    engine.disallow({ account: 'acct_partner_new' });
    await publisher.publish();
    assert.equal(await publisher.publish(), 0, 'nothing changed, nothing published');

    // A replica started later loads the same state from the hashes.
    const late = new RedisVerdictView(sharedRedis(URL_), URL_, keys);
    try {
      await late.start();
      for (const id of flagged) assert.deepEqual(late.forAccount(id), engine.forAccount(id));
    } finally {
      await late.close();
    }

    // A missed message (a gap in the sequence) makes the replica reload.
    const reloads = view.reloads;
    await admin.incr(keys.seq);
    engine.setManualVerdict({ kind: 'account', id: organic }, 'verify');
    await publisher.publish();
    await until('the replica reloads after the gap', () => view.forAccount(organic).level === 'verify');
    assert.ok(view.reloads > reloads);
  } finally {
    await view.close();
    pubClient.disconnect();
  }
});

test('events a replica appends reach the worker once each, in order; those the worker already has are skipped', async () => {
  const sender = sharedRedis(URL_);
  await redisReady(sender, 30_000);
  const start = await latestStreamId(sender, keys);
  const hooks = streamEventsHooks(sender, keys);
  const events = scenario.events.slice(0, 150) as InteractionEvent[];
  const got: InteractionEvent[] = [];
  const skipped = new Set(events.slice(0, 10).map((e) => e.id));
  const consumer = consumeEventStream(URL_, keys, (evs) => got.push(...evs), { startId: start, skip: (ev) => skipped.has(ev.id), blockMs: 200 });
  try {
    for (const ev of events) hooks.onEvent(ev);
    await hooks.close();
    assert.deepEqual(hooks.stats(), { sent: 150, dropped: 0, backlog: 0 });
    await until('every event is read', () => got.length >= 140);
    assert.deepEqual(got.map((e) => e.id), events.slice(10).map((e) => e.id));
  } finally {
    await consumer.close();
  }
});

test('one worker per deployment: a second is refused, naming the holder, while the first runs; the next starts once it has stopped', async () => {
  const lease = sharedKeys(`${prefix}lease:`);
  const clients = [sharedRedis(URL_), sharedRedis(URL_), sharedRedis(URL_)];
  for (const c of clients) await redisReady(c);
  const start = (client: typeof clients[number]) => startSharedWorker({ engine: new DetectorEngine(), client, url: URL_, keys: lease, publishMs: 100, leaseMs: 600, startId: '$', onEvent: () => {} });
  try {
    const first = await start(clients[0]);
    const t0 = Date.now();
    await assert.rejects(start(clients[1]), /another node is the detector worker \(.+:\d+:[0-9a-f]{8}, Redis key warden:test:shared:[0-9a-f]+:lease:worker\): run one node with detect\.mode worker/);
    assert.ok(Date.now() - t0 >= 600, 'it waited out the lease before giving up');
    await first.close();
    const t1 = Date.now();
    const next = await start(clients[2]);
    assert.ok(Date.now() - t1 < 500, 'a released lease is taken at once');
    await next.close();
  } finally {
    for (const c of clients) c.disconnect();
  }
});

test('the worker\'s lease names the port its admin API listens on, so a replica can say which URL to call', async () => {
  const lease = sharedKeys(`${prefix}lease-port:`);
  const client = sharedRedis(URL_);
  await redisReady(client);
  try {
    const worker = await startSharedWorker({ engine: new DetectorEngine(), client, url: URL_, keys: lease, publishMs: 100, leaseMs: 600, startId: '$', onEvent: () => {}, port: 8080 });
    const holder = await client.get(lease.worker);
    await worker.close();
    assert.ok(holder !== null && /^.+:\d+:[0-9a-f]{8} port=8080$/.test(holder), `the lease holder carries the port: ${holder}`);
  } finally {
    client.disconnect();
  }
});

test('without Redis a replica keeps serving: events are held, and dropped and counted when it stops, verdict lookups answer none, start says it is not connected', async () => {
  const nowhere = 'redis://127.0.0.1:1';
  const lines: string[] = [];
  const hooks = streamEventsHooks(sharedRedis(nowhere), keys, { log: (line, meta) => { if (meta?.level !== 'debug') lines.push(line); } });
  const t0 = performance.now();
  for (const ev of scenario.events.slice(0, 100)) hooks.onEvent(ev);
  assert.ok(performance.now() - t0 < 50, 'appending never waits for Redis');
  await hooks.close();
  assert.deepEqual(hooks.stats(), { sent: 0, dropped: 100, backlog: 0 }, 'held until the node stopped, then dropped');
  assert.equal(lines.length, 2, `the outage is logged once, not per batch, and the stop says what it did not send: ${lines.join(' | ')}`);
  assert.match(lines[0], /^detect: Redis unreachable from this replica since .*its events are held here for the worker .* and sent when Redis is back/);
  assert.match(lines[1], /^detect: stopping with Redis unreachable: 100 events not sent to the detector worker \(they are in the event store/);
  const view = new RedisVerdictView(sharedRedis(nowhere), nowhere, keys);
  assert.equal(await view.start(300), false);
  assert.deepEqual(view.forAccount(scenario.events[0].account_id!), { level: 'none', verdict: null, clusterId: null });
  await view.close();
});
