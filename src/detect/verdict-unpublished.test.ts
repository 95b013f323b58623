// The operator suspending an account on the detector worker while the worker cannot reach Redis:
// the verdict is set and stored, but the replicas serve the account until the worker publishes it.
// The answer says so (and the CLI prints it as a warning), rather than look like any other success.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, detectAdminRoutes, sharedKeys, sharedRedis, redisReady, startSharedWorker } from './index.ts';
import { freePort, startRedis, stopRedis } from '../../test/helpers/redis-server.ts';
import { until } from '../../test/helpers/shared-detector.ts';

const keys = sharedKeys('warden:test:unpublished:');

test('a verdict set while the worker cannot reach Redis answers not_published, naming since when; once Redis is back, it does not', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedis(port);
  const engine = new DetectorEngine();
  const client = sharedRedis(url);
  await redisReady(client);
  const shared = await startSharedWorker({ engine, client, url, keys, publishMs: 100, startId: '$', onEvent: () => {} });
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect', unpublished: () => shared.unpublished() })], { validateResponses: true });
  const suspend = async (id: string) => {
    const r = await app.inject({ method: 'POST', url: '/admin/detect/verdicts', payload: { kind: 'account', id, level: 'suspend', note: 'operator' } });
    assert.equal(r.statusCode, 201, r.body);
    return r.json() as { level: string; not_published?: string };
  };
  try {
    assert.equal((await suspend('acct_before')).not_published, undefined, 'nothing to say while the worker publishes');
    await stopRedis(server);
    await until('the worker finds Redis gone', () => shared.stats().leaseLost > 0);
    const during = await suspend('acct_during');
    assert.equal(during.level, 'suspend', 'the verdict is set all the same');
    assert.match(during.not_published ?? '', /^Redis is unreachable from the detector worker since \d{4}-\d\d-\d\dT[\d:.]+Z: verdicts are not published meanwhile, so replicas go on enforcing the ones published before/, `the answer says the replicas do not have it: ${JSON.stringify(during)}`);
    server = await startRedis(port);
    await until('the worker publishes again', () => shared.unpublished() === null, 10_000);
    assert.equal((await suspend('acct_after')).not_published, undefined, 'nothing to say once it publishes again');
  } finally {
    await app.close();
    await shared.close();
    client.disconnect();
    await stopRedis(server);
  }
});
