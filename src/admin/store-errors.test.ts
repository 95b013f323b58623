// An operator at the CLI or dashboard during an incident: when the database is unreachable or
// refuses writes (a full disk), the admin API says so, as a 503 with retry-after that names the
// cause, not a bare 500 "internal error".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from '../identity/index.ts';
import { identityAdminRoutes } from './identity-routes.ts';
import { mountAdminRoutes } from './router.ts';

async function adminWithFailingStore(err: Error) {
  const db = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db);
  store.createOrg = async () => { throw err; };
  store.listOrgs = async () => { throw err; };
  const logged: { level: string; obj: Record<string, unknown> }[] = [];
  const app = Fastify({ logger: false });
  const log = { error: (obj: object) => logged.push({ level: 'error', obj: obj as Record<string, unknown> }), warn: (obj: object) => logged.push({ level: 'warn', obj: obj as Record<string, unknown> }) };
  app.log.error = log.error as never; app.log.warn = log.warn as never;
  mountAdminRoutes(app, [identityAdminRoutes(store)]);
  await app.ready();
  return { app, logged, async close() { await app.close(); await store.close(); db.close(); } };
}

for (const [what, err, cause] of [
  ['SQLite disk full', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), /disk is full|refuses writes/],
  ['SQLite read-only', Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }), /refuses writes|read-only|readonly/],
  ['PostgreSQL unreachable', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), /unreachable/],
] as const) {
  test(`admin API with the store failing (${what}): 503 WARDEN_STORE_UNAVAILABLE with retry-after, naming the cause`, async () => {
    const h = await adminWithFailingStore(err);
    try {
      for (const req of [{ method: 'POST' as const, url: '/orgs', payload: { name: 'x' } }, { method: 'GET' as const, url: '/orgs' }]) {
        const r = await h.app.inject(req);
        assert.equal(r.statusCode, 503, `${req.method} ${req.url}: ${r.body}`);
        const body = r.json() as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'WARDEN_STORE_UNAVAILABLE');
        assert.match(body.error.message, cause, 'the message names the cause');
        assert.ok(Number(r.headers['retry-after']) >= 1, 'retry-after tells when to try again');
      }
      assert.ok(h.logged.every((l) => l.level === 'warn'), `logged as a warning, not an error with a stack: ${JSON.stringify(h.logged)}`);
    } finally {
      await h.close();
    }
  });
}

test('a fault that is not the store stays a 500 internal error', async () => {
  const h = await adminWithFailingStore(new TypeError('x is not a function'));
  try {
    const r = await h.app.inject({ method: 'GET', url: '/orgs' });
    assert.equal(r.statusCode, 500);
  } finally {
    await h.close();
  }
});
