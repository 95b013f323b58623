// The operator routes answer under their own spelling only. The router decodes percent-encoding,
// so `/%6detrics` was /metrics and `/%61dmin/orgs` the admin API: a client-facing proxy whose rule
// blocking /admin, /dashboard and /metrics matches the raw path (as docs/production.md asks
// operators to block them) let those through. A percent-encoded first segment is an unknown route.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';

const t = await startTestWarden();
after(async () => { await t.close(); });
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

test('a percent-encoded first path segment is an unknown route, even with the admin token', async () => {
  for (const path of ['/%6detrics', '/metric%73', '/%61dmin/orgs', '/admi%6e/orgs', '/%64ashboard/', '/%68ealthz', '/%761/models']) {
    const r = await fetch(`${t.url}${path}`, { headers: admin });
    const body = await r.json() as { error: { warden_code: string; message: string } };
    assert.equal(r.status, 404, `${path}: ${JSON.stringify(body)}`);
    assert.equal(body.error.warden_code, 'WARDEN_NOT_FOUND', path);
    assert.match(body.error.message, /Unknown route/, path);
  }
});

test('the routes under their own spelling, and encodings further down the path, are served as before', async () => {
  assert.equal((await fetch(`${t.url}/metrics`)).status, 200);
  assert.equal((await fetch(`${t.url}/admin/orgs`, { headers: admin })).status, 200);
  assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
  const key = (await t.account('alice', 'identity_verified')).key;
  const models = await fetch(`${t.url}/v1/models?after=%20`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(models.status, 200, 'a query string may be encoded');
  const unknown = await fetch(`${t.url}/v1/responses/resp_%41bc`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(unknown.status, 404, 'an encoded id is looked up as usual (here: not found)');
  assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /Response with id/, 'answered by the route, not as an unknown route');
});
