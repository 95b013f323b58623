// One detector for several nodes when Redis goes away: a private redis-server (own port, no
// persistence) is killed and started again empty, or is not there when the replica starts, or is
// flushed under a running worker. Each time the replica ends up enforcing what the worker
// publishes, operator suspensions included, and says in its log that it reloaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, RedisVerdictView, startSharedWorker, streamEventsHooks, VerdictPublisher, type DetectLog } from './index.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { until } from '../../test/helpers/shared-detector.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';

const keys = sharedKeys('warden:test:outage:');

/** A worker publishing every 100 ms, with operator verdicts set on its engine. */
async function worker(url: string) {
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  await redisReady(client);
  const shared = await startSharedWorker({ engine, client, url, keys, publishMs: 100, startId: '$', onEvent: () => {} });
  return {
    set: (id: string, level: 'watch' | 'verify' | 'suspend' | null) => engine.setManualVerdict({ kind: 'account', id }, level, 'operator'),
    async close() { await shared.close(); client.disconnect(); },
  };
}

test('Redis restarted without its data: the replica enforces what the worker publishes next, though the sequence starts again lower', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedis(port);
  const w = await worker(url);
  // The connection the replica reads the hashes through comes back 1.5 s after its subscriber
  // (ioredis retries each connection on its own schedule): its first load after the restart fails.
  const slow = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => 1500 });
  slow.on('error', () => {});
  const lines: string[] = [];
  const view = new RedisVerdictView(slow, url, keys, { log: (l) => lines.push(l) });
  try {
    assert.equal(await view.start(), true);
    // A few changes: the replica's sequence number is well past what the worker numbers from after the restart.
    for (let i = 0; i < 4; i++) {
      w.set('acct_churn', 'watch');
      await until('watch reaches the replica', () => view.forAccount('acct_churn').level === 'watch');
      w.set('acct_churn', null);
      await until('and its removal', () => view.forAccount('acct_churn').level === 'none');
    }
    w.set('acct_old', 'suspend');
    await until('the first suspension reaches the replica', () => view.forAccount('acct_old').level === 'suspend');
    const before = view.version;
    assert.ok(before >= 9, `sequence ${before}`);

    await stopRedis(server);
    server = await startRedis(port);
    // The worker writes everything again (its sequence 1), then the operator suspends another account.
    w.set('acct_new', 'suspend');
    await until('the new suspension reaches the replica', () => view.forAccount('acct_new').level === 'suspend');
    assert.equal(view.forAccount('acct_old').level, 'suspend', 'the earlier one still holds');
    assert.ok(view.version < before, `the replica follows the new sequence (${view.version})`);
    w.set('acct_old', null);
    await until('lifting a suspension reaches the replica too', () => view.forAccount('acct_old').level === 'none');
    assert.ok(lines.some((l) => /^detect: verdicts not loaded from Redis \(not connected\); trying again every 500 ms, enforcing the verdicts held meanwhile \(1 account\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^detect: verdicts reloaded from Redis after .+: 2 accounts \(epoch [0-9a-f]{12}, change \d+\)$/.test(l)), lines.join('\n'));
  } finally {
    await view.close();
    await w.close();
    await stopRedis(server);
  }
});

test('a replica started while Redis is down loads the verdicts once it is up, and follows every change after', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const lines: string[] = [];
  const view = new RedisVerdictView(sharedRedis(url), url, keys, { log: (l) => lines.push(l) });
  assert.equal(await view.start(200), false, 'start says Redis was not reached');
  const server = await startRedis(port);
  const w = await worker(url);
  try {
    w.set('acct_held', 'verify');
    await until('the replica loads what the worker published', () => view.forAccount('acct_held').level === 'verify');
    w.set('acct_later', 'suspend');
    await until('and receives what it publishes next', () => view.forAccount('acct_later').level === 'suspend');
    assert.ok(lines.some((l) => /^detect: verdicts loaded from Redis: /.test(l)), lines.join('\n'));
  } finally {
    await view.close();
    await w.close();
    await stopRedis(server);
  }
});

test('Redis flushed under a running worker: it notices its publication is gone and writes everything again', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const server = await startRedis(port);
  const w = await worker(url);
  const admin = new Redis(url);
  const view = new RedisVerdictView(sharedRedis(url), url, keys);
  try {
    assert.equal(await view.start(), true);
    for (const id of ['acct_a', 'acct_b', 'acct_c']) w.set(id, 'suspend');
    await until('three suspensions reach the replica', () => view.size === 3);
    await admin.flushall();
    w.set('acct_d', 'verify');
    await until('the new verdict reaches the replica', () => view.forAccount('acct_d').level === 'verify');
    await until('Redis holds every verdict again', () => view.size === 4);
    assert.equal(await admin.hlen(keys.accounts), 4);
    for (const id of ['acct_a', 'acct_b', 'acct_c']) assert.equal(view.forAccount(id).level, 'suspend', id);
  } finally {
    admin.disconnect();
    await view.close();
    await w.close();
    await stopRedis(server);
  }
});

test('Redis flushed and nothing changes after: the worker writes everything again at its next publication, and a replica started then enforces it', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const server = await startRedis(port);
  const w = await worker(url);
  const admin = new Redis(url);
  const first = new RedisVerdictView(sharedRedis(url), url, keys);
  let later: RedisVerdictView | null = null;
  try {
    assert.equal(await first.start(), true);
    for (const id of ['acct_a', 'acct_b']) w.set(id, 'suspend');
    await until('two suspensions reach the replica', () => first.size === 2);
    await admin.flushall();
    // No verdict changes from here on: the worker alone notices that Redis holds nothing.
    const end = Date.now() + 3000;
    while (await admin.hlen(keys.accounts) < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await admin.hlen(keys.accounts), 2, 'the verdicts are written again without any change');
    later = new RedisVerdictView(sharedRedis(url), url, keys);
    assert.equal(await later.start(), true);
    for (const id of ['acct_a', 'acct_b']) assert.equal(later.forAccount(id).level, 'suspend', `a replica started after the flush enforces ${id}`);
    assert.equal(first.forAccount('acct_a').level, 'suspend', 'the replica running through it still does');
  } finally {
    admin.disconnect();
    await later?.close();
    await first.close();
    await w.close();
    await stopRedis(server);
  }
});

test('the publication gone from Redis while the lease stays: the next publication, with nothing changed, writes everything again', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const server = await startRedis(port);
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  const admin = new Redis(url);
  try {
    await redisReady(client);
    const publisher = new VerdictPublisher(client, keys, engine);
    engine.setManualVerdict({ kind: 'account', id: 'acct_kept' }, 'verify', 'operator');
    assert.equal(await publisher.publish(), 1);
    assert.equal(await publisher.publish(), 0, 'nothing changed, nothing written');
    // A failover to a Redis replica that had not received the publication yet, say.
    await admin.del(keys.accounts, keys.clusters, keys.epoch, keys.seq);
    assert.equal(await publisher.publish(), 1, 'written again');
    assert.equal(JSON.parse((await admin.hget(keys.accounts, 'acct_kept'))!).level, 'verify');
    assert.ok(await admin.get(keys.epoch), 'under a new epoch');
    assert.equal(await publisher.publish(), 0, 'then nothing again while it holds');
  } finally {
    admin.disconnect();
    client.disconnect();
    await stopRedis(server);
  }
});

test('a worker does not start without Redis, and says so: the URL (no password) and the setting, not "another node is the worker"', async () => {
  const port = await freePort();
  const url = `redis://:s3cret@127.0.0.1:${port}`;
  const client = sharedRedis(url);
  try {
    await assert.rejects(startSharedWorker({ engine: new DetectorEngine(), client, url, keys, publishMs: 100, leaseMs: 200, startId: '$', onEvent: () => {} }), {
      message: `detect.mode is worker: Redis at redis://:***@127.0.0.1:${port} (redis.url) not reachable, and the worker takes its lease there (Redis key warden:test:outage:worker) before it starts; start it again once Redis answers (replicas keep enforcing the verdicts published last)`,
    });
  } finally {
    client.disconnect();
  }
});

// The SRE watching the detector node during a Redis outage: the worker says once that it cannot
// publish or read, counts what it missed (lost lease renewals, failed stream reads), and says
// once when Redis answers again; every line carries a stable code.
test('the worker logs a Redis outage once and its end once, with codes, and counts lost lease renewals and failed stream reads', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedis(port);
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  await redisReady(client);
  const lines: { line: string; meta?: { level: string; code: string } }[] = [];
  const shared = await startSharedWorker({ engine, client, url, keys, publishMs: 100, startId: '$', onEvent: () => {}, log: (line, meta) => lines.push({ line, meta }) });
  try {
    await stopRedis(server);
    await until('lease renewals fail and are counted', () => shared.stats().leaseLost >= 3);
    await until('failed stream reads are counted', () => shared.stats().streamReadErrors >= 1);
    const down = lines.filter((l) => l.meta?.code === 'DETECT_WORKER_REDIS_UNREACHABLE');
    assert.equal(down.length, 1, `one outage line: ${JSON.stringify(lines)}`);
    assert.equal(down[0]!.meta!.level, 'warn');
    assert.match(down[0]!.line, /^detect: /, 'the line names its component');
    server = await startRedis(port);
    await until('the end of the outage is logged', () => lines.some((l) => l.meta?.code === 'DETECT_WORKER_REDIS_RECOVERED'), 8000);
    assert.equal(lines.filter((l) => l.meta?.code === 'DETECT_WORKER_REDIS_UNREACHABLE').length, 1, 'still one outage line');
  } finally {
    await shared.close();
    client.disconnect();
    await stopRedis(server);
  }
});

test('a replica\'s detector lines through a Redis outage each carry a level and a stable code', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedis(port);
  const lines: { line: string; meta?: { level: string; code: string } }[] = [];
  const log: DetectLog = (line, meta) => lines.push({ line, meta });
  const w = await worker(url);
  const view = new RedisVerdictView(sharedRedis(url), url, keys, { log });
  const stream = streamEventsHooks(sharedRedis(url), keys, { log });
  const event = (i: number) => ({ id: `ev_${i}`, account_id: 'acct_x', ts: new Date().toISOString() }) as never;
  try {
    assert.equal(await view.start(), true);
    await stopRedis(server);
    for (let i = 0; i < 3; i++) { stream.onEvent(event(i)); await new Promise((r) => setTimeout(r, 120)); }
    await until('the stream outage is logged', () => lines.some((l) => /Redis unreachable from this replica/.test(l.line)));
    server = await startRedis(port);
    await until('the replica reloads', () => lines.some((l) => /verdicts reloaded/.test(l.line)), 8000);
    for (let i = 3; i < 60 && !lines.some((l) => /takes events again/.test(l.line)); i++) { stream.onEvent(event(i)); await new Promise((r) => setTimeout(r, 100)); }
    const missing = lines.filter((l) => !l.meta?.code || !l.meta.level);
    assert.ok(lines.length >= 3, `lines were logged: ${JSON.stringify(lines)}`);
    assert.deepEqual(missing.map((l) => l.line), [], 'every detector line has a level and a code');
  } finally {
    await stream.close();
    await view.close();
    await w.close();
    await stopRedis(server);
  }
});

test('a replica reconnecting to Redis reloads its verdicts once, after subscribing, and says so in one line', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const w = await worker(`redis://127.0.0.1:${port}`);
  // Each of the replica's two connections on its own path: the one the hashes are read through,
  // and the subscriber's.
  const reads = await startTcpProxy(port);
  const subscriber = await startTcpProxy(port);
  const client = sharedRedis(`redis://127.0.0.1:${reads.port}`);
  const lines: { line: string; code?: string }[] = [];
  const view = new RedisVerdictView(client, `redis://127.0.0.1:${subscriber.port}`, keys, { log: (line, meta) => lines.push({ line, code: meta?.code }) });
  const sub = (view as unknown as { sub: Redis }).sub;
  try {
    assert.equal(await view.start(), true);
    w.set('acct_before', 'suspend');
    await until('a suspension reaches the replica', () => view.forAccount('acct_before').level === 'suspend');
    await reads.stop();
    await subscriber.stop();
    await until('both connections are down', () => client.status !== 'ready' && sub.status !== 'ready');
    // The subscriber is back first, on a slow path: its subscription is still under way when the
    // other connection is back (the order ioredis reconnects them in is its own).
    subscriber.delay(1500);
    await subscriber.start();
    await until('the subscriber is connected again', () => sub.status === 'ready', 20_000);
    await reads.start();
    await until('the other connection is back', () => client.status === 'ready', 20_000);
    w.set('acct_after', 'suspend');
    await until('a suspension set after the reconnection reaches the replica', () => view.forAccount('acct_after').level === 'suspend', 20_000);
    const reloaded = lines.filter((l) => l.code === 'DETECT_VERDICTS_RELOADED');
    assert.equal(reloaded.length, 1, `one reload line per reconnection: ${lines.map((l) => l.line).join(' | ')}`);
    assert.match(reloaded[0]!.line, /^detect: verdicts reloaded from Redis after reconnecting to Redis: \d+ accounts? \(epoch [0-9a-f]{12}, change \d+\)$/);
    assert.equal(view.forAccount('acct_before').level, 'suspend', 'what was held before still holds');
  } finally {
    subscriber.delay(0);
    await view.close();
    await w.close();
    await reads.stop();
    await subscriber.stop();
    await stopRedis(server);
  }
});
