// Two warden nodes on PostgreSQL and Redis, the detector worker reaching Redis through a path that
// stalls (connections stay open, nothing answers: a network dropping packets). The operator
// suspends an account on the worker meanwhile: the answer says the replica does not enforce it
// yet, the replica still serves the account, and refuses it within moments of Redis answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startChild, type ChildServer } from '../../bench/lib.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const PG = process.env.WARDEN_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_PORT = Number(new URL(process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379').port || 6379);
const schema = `mns_${randomBytes(4).toString('hex')}`;
const token = `adm_${randomBytes(16).toString('hex')}`;
const nodes: ChildServer[] = [];
const admin = new pg.Client({ connectionString: PG });
let upstream: MockUpstream;
let proxy: TcpProxy;

before(async () => {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  upstream = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  proxy = await startTcpProxy(REDIS_PORT);
  const config = (mode: string, redis: string) => ({
    server: { port: 0 },
    store: { driver: 'postgres', postgres_url: `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}` },
    redis: { url: redis },
    admin: { token },
    log: { level: 'silent' },
    upstreams: [{ name: 'provider', base_url: upstream.url, api_key: null, models: ['*'] }],
    ledger: { enabled: false },
    limits: { backend: 'redis', redis: { key_prefix: `warden:test:${schema}:` } },
    detect: { mode, shared: { key_prefix: `warden:test:${schema}:detect:`, publish_ms: 200 } },
  });
  const script = new URL('./node.ts', import.meta.url).pathname;
  nodes.push(await startChild(script, [JSON.stringify(config('worker', `redis://127.0.0.1:${proxy.port}`))]));
  nodes.push(await startChild(script, [JSON.stringify(config('replica', `redis://127.0.0.1:${REDIS_PORT}`))]));
});

after(async () => {
  await proxy.start().catch(() => {});
  const exited = nodes.map((n) => (n.proc.exitCode !== null || n.proc.signalCode !== null ? Promise.resolve() : new Promise((r) => n.proc.once('exit', r))));
  for (const n of nodes) n.proc.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 8000))]);
  await proxy.stop();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  await admin.end();
  await upstream.close();
});

async function adminPost(url: string, path: string, body: object) {
  const r = await fetch(`${url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
  return (await r.json()) as any;
}

const eventually = async (what: string, ok: () => Promise<boolean>, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

test('a suspension set on the worker while its Redis stalls says the replica does not enforce it yet; the replica does once Redis answers', { timeout: 90_000 }, async () => {
  const [worker, replica] = nodes;
  const account = await adminPost(worker.url, '/accounts', { name: 'stall', email: 'stall@example.org', tier: 'email_verified' });
  const { secret } = await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' });
  const call = async (url: string) => {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    await r.arrayBuffer();
    return r.status;
  };
  const lost = async () => Number(/^warden_detect_worker_lease_lost_total (\d+)$/m.exec(await (await fetch(`${worker.url}/metrics`)).text())?.[1] ?? NaN);
  assert.equal(await call(replica.url), 200);
  const before = await lost();

  await proxy.stall();
  await eventually('the worker counts the publications it cannot make', async () => await lost() > before);
  const set = await adminPost(worker.url, '/detect/verdicts', { kind: 'account', id: account.id, level: 'suspend', note: 'during a stall' });
  assert.equal(set.level, 'suspend');
  assert.match(set.not_published ?? '', /Redis is unreachable from the detector worker since .+: verdicts are not published meanwhile/, `the answer says the replica does not have it: ${JSON.stringify(set)}`);
  assert.equal(await call(replica.url), 200, 'the replica serves the account meanwhile, as the answer said');

  await proxy.start();
  await eventually('the replica refuses the suspended account', async () => (await call(replica.url)) === 403);
  const again = await adminPost(worker.url, '/detect/verdicts', { kind: 'account', id: account.id, level: 'suspend', note: 'after the stall' });
  assert.equal(again.not_published, undefined, 'nothing to say once the worker publishes');
});
