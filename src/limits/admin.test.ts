// Runtime overrides: the same contract on the SQLite, PostgreSQL and memory stores; the admin
// routes over real HTTP (Fastify on port 0) change what the limiter decides at once, and a second
// node sharing the PostgreSQL store picks the change up on its next refresh.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { openPostgres, openSqlite } from '../store/index.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import { limitsAdminRoutes } from './admin.ts';
import { mountAdminRoutes } from '../admin/router.ts';
import { MemoryLimitOverridesStore, PostgresLimitOverridesStore, SqliteLimitOverridesStore, type LimitOverridesStore } from './overrides.ts';
import { testConfig } from '../../test/helpers/limits.ts';

const TABLE = `limit_overrides_t${process.pid}_${Date.now() % 1e6}`;
const pool = openPostgres('postgres://postgres@127.0.0.1:5432/test', { max: 4 });
after(async () => {
  await pool.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await pool.query(`DELETE FROM schema_migrations WHERE component = $1`, [`limits:${TABLE}`]).catch(() => {});
  await pool.end();
});

async function contract(store: LimitOverridesStore) {
  const a = await store.create({ scope: 'account', subject: 'acc_1', model: null, limits: { rpm: 5 }, note: 'trial', expires_at: null });
  assert.match(a.id, /^lo_/);
  assert.equal(a.source, 'runtime');
  const b = await store.create({ scope: 'ip', subject: '10.0.0.0/8', model: 'gpt-*', limits: { concurrency: 0 }, note: null, expires_at: '2030-01-01T00:00:00.000Z' });
  assert.deepEqual((await store.list()).map((o) => o.id), [a.id, b.id]);
  assert.deepEqual((await store.get(b.id))?.limits, { concurrency: 0 });
  assert.equal(new Date((await store.get(b.id))!.expires_at!).toISOString(), '2030-01-01T00:00:00.000Z');
  const updated = await store.update(a.id, { scope: 'account', subject: 'acc_1', model: null, limits: { rpm: 50, burst: 10 }, note: null, expires_at: null });
  assert.deepEqual(updated?.limits, { rpm: 50, burst: 10 });
  assert.equal(await store.update('lo_missing', { scope: 'key', subject: 'k', model: null, limits: {}, note: null, expires_at: null }), null);
  assert.equal(await store.delete(a.id), true);
  assert.equal(await store.delete(a.id), false);
  assert.equal(await store.get(a.id), null);
  await assert.rejects(store.create({ scope: 'account', subject: 'x', model: null, limits: { rmp: 5 } as never, note: null, expires_at: null }));
  await store.delete(b.id);
}

test('overrides store contract: memory', async () => { await contract(new MemoryLimitOverridesStore()); });
test('overrides store contract: sqlite', async () => { await contract(new SqliteLimitOverridesStore(openSqlite(':memory:'))); });
test('overrides store contract: postgres', async () => {
  const store = new PostgresLimitOverridesStore(pool, { table: TABLE });
  await store.migrate();
  await contract(store);
});

const REQ: LimitRequest = {
  keyId: 'key_a', accountId: 'acc_a', orgId: null, tier: 'email_verified', programme: 'none', ip: '198.51.100.4', asn: null,
  clusterId: null, model: 'gpt-x', verdictLevel: 'none', inputTokens: 1, outputTokens: 1,
};

test('admin routes: create, list, explain, update, delete; decisions follow; a second node picks the change up', async () => {
  const store = new PostgresLimitOverridesStore(pool, { table: TABLE });
  await store.migrate();
  const config = testConfig({ overrides: [{ scope: 'org', subject: 'org_static', limits: { rpm: 1 } }], overrides_refresh_ms: 50 });
  const limiter = new Limiter({ config, overrides: store });
  const otherNode = new Limiter({ config, overrides: new PostgresLimitOverridesStore(pool, { table: TABLE }) });
  await limiter.ready();
  await otherNode.ready();
  const app = Fastify();
  mountAdminRoutes(app, [limitsAdminRoutes({ limiter, overrides: store, prefix: '/admin/limits' })], { validateResponses: true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/admin/limits`;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field below
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, json: res.status === 204 ? null : await res.json() };
  };
  try {
    const list0 = await call('GET', '/overrides');
    assert.equal(list0.status, 200);
    assert.deepEqual(list0.json.data.map((o: { id: string }) => o.id), ['config:0']);

    const bad = await call('POST', '/overrides', { scope: 'account', subject: 'acc_a', limits: { rpm: -1 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'WARDEN_INVALID_REQUEST');
    assert.match(bad.json.error.message, /limits\.rpm/);
    assert.equal(bad.json.error.param, 'limits.rpm', 'the admin error format names the field');

    // Block acc_a entirely.
    const created = await call('POST', '/overrides', { scope: 'account', subject: 'acc_a', limits: { rpm: 0 }, note: 'abuse case 17' });
    assert.equal(created.status, 201);
    const id = created.json.id as string;
    assert.equal((await limiter.decide(REQ)).allowed, false, 'this node: at once');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await otherNode.decide(REQ)).allowed, false, 'other node: after its refresh');

    const explained = await call('POST', '/explain', { account_id: 'acc_a', key_id: 'key_a', ip: '198.51.100.4', tier: 'email_verified', model: 'gpt-x' });
    assert.equal(explained.status, 200);
    const acct = explained.json.meters.find((m: { scope: string; kind: string }) => m.scope === 'account' && m.kind === 'requests');
    assert.equal(acct.limit, 0);
    assert.ok(explained.json.meters.some((m: { scope: string; subject: string }) => m.scope === 'subnet' && m.subject === '198.51.100.0/24'));

    const put = await call('PUT', `/overrides/${id}`, { scope: 'account', subject: 'acc_a', limits: { rpm: 600 } });
    assert.equal(put.status, 200);
    assert.equal((await limiter.decide(REQ)).allowed, true);
    assert.equal((await call('GET', `/overrides/${id}`)).json.limits.rpm, 600);
    assert.equal((await call('PUT', '/overrides/config:0', { scope: 'org', subject: 'x', limits: {} })).status, 400);

    assert.equal((await call('DELETE', `/overrides/${id}`)).status, 204);
    assert.equal((await call('DELETE', `/overrides/${id}`)).status, 404);
    assert.equal((await call('GET', `/overrides/${id}`)).status, 404);

    const status = await call('GET', '/status');
    assert.deepEqual(status.json, { enabled: true, backend: 'memory', on_backend_failure: 'local', circuit: 'closed', in_flight: 1 });
  } finally {
    await app.close();
    await limiter.close();
    await otherNode.close();
  }
});

test('an override stops applying when it expires', async () => {
  const config = testConfig({ overrides: [{ scope: 'account', subject: 'acc_a', limits: { rpm: 0 }, expires_at: new Date(Date.now() + 150).toISOString() }] });
  const limiter = new Limiter({ config });
  assert.equal((await limiter.decide(REQ)).allowed, false);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await limiter.decide(REQ)).allowed, true);
  await limiter.close();
});

test('a refresh that read the overrides before a deletion does not bring the deleted override back when it ends last', async () => {
  const store = new MemoryLimitOverridesStore();
  const limiter = new Limiter({ config: testConfig({ overrides_refresh_ms: 3_600_000 }), overrides: store });
  try {
    const created = await store.create({ scope: 'account', subject: 'acc_a', model: null, limits: { rpm: 0 }, note: null, expires_at: null });
    await limiter.refreshOverrides();
    // The periodic refresh reads the list, then stalls (a slow database) until the deletion's own refresh is done.
    const list = store.list.bind(store);
    let release!: () => void;
    const stalled = new Promise<void>((r) => { release = r; });
    store.list = async () => { const read = await list(); store.list = list; await stalled; return read; };
    const periodic = limiter.refreshOverrides();
    await store.delete(created.id);
    await limiter.refreshOverrides();
    release();
    await periodic;
    assert.ok(!limiter.planner.overrides().some((o) => o.id === created.id), 'the deleted override stays deleted');
    assert.equal((await limiter.decide(REQ)).allowed, true, 'and no longer refuses the account');
  } finally {
    await limiter.close();
  }
});
