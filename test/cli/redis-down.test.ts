// `warden serve` while Redis is down (a restart, a deploy, an autoscaled node during an outage):
// the node starts in its configured failure mode and says so, naming the URL and the setting, and
// once Redis is up it uses it without a restart: shared limits, and a replica's verdicts from the
// detector worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { DetectorEngine, sharedKeys, sharedRedis, redisReady, startSharedWorker } from '../../src/detect/index.ts';
import { startTestWarden } from '../helpers/warden.ts';
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.ts';

const eventually = async (what: string, ok: () => Promise<boolean>, ms = 6000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

test('a node started while Redis is down serves in its failure mode and uses Redis once it is up, without a restart', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const tiers = { email_verified: { account: { rpm: 6, burst: 2 } } };
  const replicaLog: string[] = [];
  const closedLog: string[] = [];
  // A detector replica deciding limits locally meanwhile, and a node that refuses meanwhile.
  const [replica, closed] = await Promise.all([
    startTestWarden({ redis: { url }, limits: { backend: 'redis', on_backend_failure: 'local', tiers }, detect: { mode: 'replica' } }, { log: (l) => replicaLog.push(l) }),
    startTestWarden({ limits: { backend: 'redis', on_backend_failure: 'closed', redis: { url }, tiers } }, { log: (l) => closedLog.push(l) }),
  ]);
  let server: Awaited<ReturnType<typeof startRedis>> | null = null;
  let worker: Awaited<ReturnType<typeof startSharedWorker>> | null = null;
  const workerClient = sharedRedis(url);
  try {
    assert.ok(replicaLog.includes(`limits: Redis at ${url} (redis.url) not reachable within 2000 ms; deciding on this node's own counters (limits hold per node) until it is (limits.on_backend_failure: local)`), replicaLog.join('\n'));
    assert.ok(replicaLog.includes(`detect: Redis at ${url} not reachable; no verdicts are enforced until it is`), replicaLog.join('\n'));
    assert.ok(closedLog.includes(`limits: Redis at ${url} (limits.redis.url) not reachable within 2000 ms; refusing requests with 503 WARDEN_LIMITS_UNAVAILABLE until it is (limits.on_backend_failure: closed)`), closedLog.join('\n'));

    const chat = async (node: typeof replica, key: string) => {
      const r = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
      return { status: r.status, body: await r.json() as any };
    };
    const onReplica = await replica.account('replica-user', 'email_verified');
    const onClosed = await closed.account('closed-user', 'email_verified');
    // Meanwhile: the replica's own counters (burst 2), the other node's 503.
    assert.deepEqual([(await chat(replica, onReplica.key)).status, (await chat(replica, onReplica.key)).status, (await chat(replica, onReplica.key)).status], [200, 200, 429]);
    const refused = await chat(closed, onClosed.key);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.warden_code, 'WARDEN_LIMITS_UNAVAILABLE');
    // A node that refuses every request is not ready: the load balancer takes it out of rotation.
    const ready = async (node: typeof replica) => (await fetch(`${node.url}/readyz`)).status;
    assert.equal(await ready(closed), 503, 'closed, with Redis away: not ready');
    assert.equal(await ready(replica), 200, 'deciding on its own counters: ready');

    server = await startRedis(port);
    // Redis decides again (its counters are fresh: the account is admitted), on both nodes.
    await eventually('the replica\'s limits return to Redis', async () => (await chat(replica, onReplica.key)).status === 200);
    await eventually('the closed node admits again', async () => (await chat(closed, onClosed.key)).status === 200);
    assert.equal(await ready(closed), 200, 'ready again once Redis answers');
    const admin = new Redis(url);
    assert.ok((await admin.keys('warden:limits:*')).length > 0, 'the counters are in Redis');
    admin.disconnect();

    // The detector worker publishes a suspension: the replica, started without Redis, enforces it.
    const engine = new DetectorEngine();
    engine.setManualVerdict({ kind: 'account', id: onReplica.id }, 'suspend', 'chargebacks');
    await redisReady(workerClient);
    worker = await startSharedWorker({ engine, client: workerClient, url, keys: sharedKeys('warden:detect:'), publishMs: 100, startId: '$', onEvent: () => {} });
    let last = { status: 0, body: null as any };
    await eventually('the replica refuses the suspended account', async () => { last = await chat(replica, onReplica.key); return last.status === 403; });
    assert.equal(last.body.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED');
  } finally {
    await worker?.close();
    workerClient.disconnect();
    await replica.close();
    await closed.close();
    if (server) await stopRedis(server);
  }
});
