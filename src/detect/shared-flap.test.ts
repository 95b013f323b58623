// The SRE watching the detector worker while Redis flaps (connections cut for a fraction of a
// second, again and again): the log gets the first outage and its end, not one line pair per
// flap; an outage that lasts after them is logged, naming how many short ones it followed. The
// same damping as the limits' outage lines (src/gateway/outage-log.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, startSharedWorker } from './index.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { until as waitUntil } from '../../test/helpers/until.ts';

const keys = sharedKeys('warden:test:flap:');

const until = (what: string, ok: () => unknown, ms = 8000) => waitUntil(what, ok, ms);

test('a flapping Redis: the worker logs its first outage pair, not one pair per flap; a lasting outage after them names the short ones', { timeout: 90_000 }, async () => {
  const port = await freePort();
  const server = await startRedis(port);
  const proxy = await startTcpProxy(port);
  const url = `redis://127.0.0.1:${proxy.port}`;
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  const direct = new Redis({ port, host: '127.0.0.1' });
  await redisReady(client);
  const lines: { line: string; code?: string }[] = [];
  const shared = await startSharedWorker({ engine, client, url, keys, publishMs: 100, startId: '$', onEvent: () => {}, log: (line, meta) => lines.push({ line, code: meta?.code }) });
  const down = () => lines.filter((l) => l.code === 'DETECT_WORKER_REDIS_UNREACHABLE');
  const up = () => lines.filter((l) => l.code === 'DETECT_WORKER_REDIS_RECOVERED');
  try {
    for (let flap = 0; flap < 4; flap++) {
      const lost = shared.stats().leaseLost;
      await proxy.stop();
      await until('the worker notices', () => shared.stats().leaseLost > lost);
      // A verdict set while Redis is away: published once the worker reaches it again.
      engine.setManualVerdict({ kind: 'account', id: `acct_flap_${flap}` }, 'watch', 'operator');
      await proxy.start();
      await until(`flap ${flap}: the worker publishes again`, async () => (await direct.hexists(keys.accounts, `acct_flap_${flap}`)) === 1);
    }
    assert.equal(down().length, 1, `one outage line for 4 flaps, not 4: ${lines.map((l) => l.line).join(' | ')}`);
    assert.equal(up().length, 1, `one recovery line for 4 flaps: ${lines.map((l) => l.line).join(' | ')}`);
    // A lasting outage: logged once it has lasted 2 s, with the short ones it followed.
    await proxy.stop();
    await until('the lasting outage is logged', () => down().length === 2, 10_000);
    assert.match(down()[1]!.line, /after \d+ shorter outages not logged since the last line/);
    await proxy.start();
    await until('and its end', () => up().length === 2, 10_000);
  } finally {
    await proxy.start().catch(() => {});
    await shared.close();
    client.disconnect();
    direct.disconnect();
    await proxy.stop();
    await stopRedis(server);
  }
});
