// The SRE watching the detector nodes while Redis stalls: the connection stays open and nothing
// answers (a network path that drops packets, a hung Redis), so no command fails and no
// connection closes; the kernel may keep such a connection for a quarter of an hour. The worker
// and the replicas must still say, within moments, that Redis does not answer (as the limits do),
// count what they miss, and say how long it lasted once it answers again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, startSharedWorker, streamEventsHooks } from './index.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { until as waitUntil } from '../../test/helpers/until.ts';

const keys = sharedKeys('warden:test:stall:');

const until = (what: string, ok: () => unknown, ms = 10_000) => waitUntil(what, ok, ms);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a stalled Redis: the worker says it cannot publish, counts the publications and reads it misses, and says how long it lasted', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startTcpProxy(port);
  const url = `redis://127.0.0.1:${proxy.port}`;
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  const direct = new Redis({ port, host: '127.0.0.1' });
  await redisReady(client);
  const lines: { line: string; code?: string }[] = [];
  const shared = await startSharedWorker({ engine, client, url, keys, publishMs: 100, leaseMs: 1000, startId: '$', onEvent: () => {}, log: (line, meta) => lines.push({ line, code: meta?.code }) });
  const down = () => lines.filter((l) => l.code === 'DETECT_WORKER_REDIS_UNREACHABLE');
  const up = () => lines.filter((l) => l.code === 'DETECT_WORKER_REDIS_RECOVERED');
  try {
    await until('the worker publishes', async () => (await direct.get(keys.epoch)) !== null);
    const before = shared.stats();
    await proxy.stall();
    engine.setManualVerdict({ kind: 'account', id: 'acct_during_stall' }, 'suspend', 'operator');
    await until(`the worker says Redis does not answer: ${lines.map((l) => l.line).join(' | ')}`, () => down().length === 1);
    assert.match(down()[0]!.line, /^detect: Redis unreachable from the detector worker \(no answer from Redis within \d+ ms on an open connection/, 'the line says what happened');
    await until('the publications it skips are counted', () => shared.stats().leaseLost > before.leaseLost);
    await until('the stream reads that get no answer are counted', () => shared.stats().streamReadErrors > before.streamReadErrors);
    assert.equal(up().length, 0, 'not recovered while nothing answers');
    // Stalled a while longer: the recovery line counts from the start of the outage.
    await sleep(3000);
    await proxy.start();
    await until('the end of the stall is logged', () => up().length === 1);
    const seconds = Number(/after ([\d.]+) s/.exec(up()[0]!.line)?.[1]);
    assert.ok(seconds >= 3, `the recovery line gives the outage its length, not the moments since the connection was cut: ${up()[0]!.line}`);
    await until('the verdict set during the stall is published', async () => (await direct.hexists(keys.accounts, 'acct_during_stall')) === 1);
    assert.equal(down().length, 1, 'one outage line');
  } finally {
    await proxy.start().catch(() => {});
    await shared.close();
    client.disconnect();
    direct.disconnect();
    await proxy.stop();
    await stopRedis(server);
  }
});

test('a stalled Redis: a replica says its events are held and the verdicts not received, then sends each held event once', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startTcpProxy(port);
  const url = `redis://127.0.0.1:${proxy.port}`;
  const client = sharedRedis(url);
  const direct = new Redis({ port, host: '127.0.0.1' });
  await redisReady(client);
  await direct.del(keys.events);
  const lines: { line: string; code?: string }[] = [];
  const stream = streamEventsHooks(client, keys, { log: (line, meta) => lines.push({ line, code: meta?.code }) });
  const event = (i: number) => ({ id: `ev_stall_${i}`, account_id: 'acct_stall', ts: new Date().toISOString() }) as never;
  const streamed = async () => (await direct.xrange(keys.events, '-', '+')).flatMap(([, f]) => JSON.parse(f[f.indexOf('b') + 1]!) as { id: string }[]).map((e) => e.id);
  try {
    stream.onEvent(event(0));
    await until('the first event is streamed', async () => (await streamed()).length === 1);
    await proxy.stall();
    let i = 1;
    await until(`the replica says Redis does not answer: ${lines.map((l) => l.line).join(' | ')}`, async () => {
      stream.onEvent(event(i++));
      await sleep(100);
      return lines.some((l) => l.code === 'DETECT_STREAM_UNAVAILABLE');
    });
    const line = lines.find((l) => l.code === 'DETECT_STREAM_UNAVAILABLE')!.line;
    assert.match(line, /no answer from Redis within \d+ ms on an open connection/, `the line says what happened: ${line}`);
    assert.ok(stream.stats().backlog > 0, 'events are held meanwhile');
    await proxy.start();
    await until('the end is logged', () => lines.some((l) => l.code === 'DETECT_STREAM_RECOVERED'));
    await until('every held event reaches the stream', async () => (await streamed()).length >= i);
    const ids = await streamed();
    assert.equal(new Set(ids).size, ids.length, `each event once: ${ids.join(',')}`);
    assert.equal(ids.length, i, 'none lost');
  } finally {
    await proxy.start().catch(() => {});
    await stream.close();
    direct.disconnect();
    await proxy.stop();
    await stopRedis(server);
  }
});
