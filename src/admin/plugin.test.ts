import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { openSqlite, type SqliteDb } from '../store/index.ts';
import { SqliteIdentityStore, CachedAuthenticator } from '../identity/index.ts';
import { WardenError } from '../errors/index.ts';
import { adminPlugin, buildAdminRoutes } from './plugin.ts';
import { HttpAdminClient } from './client.ts';
import type { AdminRouteRegistrar } from './router.ts';

const TOKEN = 'test-admin-token-0123456789abcdef';

async function start(opts: { token: string | null; registrars?: AdminRouteRegistrar[] }) {
  const db: SqliteDb = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db, { fingerprintSecret: 'fp-secret-for-tests' });
  const app: FastifyInstance = Fastify({ logger: false });
  await app.register(adminPlugin, { prefix: '/admin', store, token: opts.token, registrars: opts.registrars, validateResponses: true });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, store, db, base: address, async close() { await app.close(); await store.close(); db.close(); } };
}

async function raw(base: string, method: string, path: string, opts: { token?: string | null; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  if (opts.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: opts.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WardenError, String(err));
    assert.equal(err.code, code);
    if (status) assert.equal(err.status, status);
    return true;
  });
}

describe('admin API', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let api: HttpAdminClient;
  const extra: AdminRouteRegistrar = (r) => {
    r.route({
      method: 'POST', path: '/limits/overrides', operationId: 'createOverride', tag: 'limits', summary: 'Example capability route', status: 201,
      body: z.strictObject({ account_id: z.string(), rpm: z.number().int().positive() }),
      response: z.object({ ok: z.literal(true), rpm: z.number() }),
      handler: ({ body }) => ({ ok: true as const, rpm: body.rpm }),
    });
  };

  before(async () => {
    s = await start({ token: TOKEN, registrars: [extra] });
    api = new HttpAdminClient(s.base, TOKEN, { actor: 'ops:alice' });
  });
  after(async () => { await s.close(); });

  it('requires the admin bearer token on every route, the OpenAPI document included', async () => {
    for (const path of ['/admin/orgs', '/admin/openapi.json', '/admin/keys/key_x', '/admin/nope']) {
      const none = await raw(s.base, 'GET', path, { token: null });
      assert.equal(none.status, 401, path);
      assert.equal(none.json.error.code, 'WARDEN_ADMIN_UNAUTHORIZED');
      assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
      const wrong = await raw(s.base, 'GET', path, { token: TOKEN.slice(0, -1) + 'X' });
      assert.equal(wrong.status, 401, path);
    }
    const basic = await raw(s.base, 'GET', '/admin/orgs', { token: null, headers: { authorization: `Basic ${TOKEN}` } });
    assert.equal(basic.status, 401);
    const ok = await raw(s.base, 'GET', '/admin/orgs');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
  });

  it('creates an org, an account with signup facts, and a key that authenticates', async () => {
    const org = await api.createOrg({ name: 'Acme', tier: 'identity_verified', programme: 'startup' });
    assert.match(org.id, /^org_/);
    const acct = await api.createAccount({
      org_id: org.id, email: 'ceo@Acme.example', signup_ip: '198.51.100.7', claimed_country: 'gb',
      payment_instrument: 'pm_card_fingerprint_abc', user_agent: 'Mozilla/5.0',
    });
    assert.equal(acct.email_domain, 'acme.example');
    assert.equal(acct.claimed_country, 'GB');
    assert.match(acct.payment_fp!, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(acct).includes('pm_card_fingerprint_abc'));
    const created = await api.createKey(acct.id, { name: 'prod', scopes: ['inference', 'models:read'], expires_in_s: 86400 });
    assert.equal(created.key.status, 'active');
    assert.match(created.secret, /^wk_live_/);
    const auth = await s.store.authenticate(created.secret);
    assert.equal(auth.account.id, acct.id);
    assert.equal(auth.tier, 'identity_verified');

    const listed = await raw(s.base, 'GET', `/admin/keys?account_id=${acct.id}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.json.data.length, 1);
    const text = JSON.stringify(listed.json);
    assert.ok(!text.includes(created.secret.slice(-40)), 'listing shows the secret');
    assert.ok(!text.includes('secret'), 'listing mentions a secret field');
    const one = await api.getKey(created.key.id);
    assert.equal(one.prefix, created.key.prefix);
    assert.ok(!('secret' in one));
  });

  it('revokes, rotates, suspends and changes tiers; the cache on this node drops at once; history names the actor', async () => {
    const acct = await api.createAccount({ email: 'x@y.example' });
    const k = await api.createKey(acct.id);
    const cached = new CachedAuthenticator(s.store, { flushMs: 3_600_000 });
    try {
      await cached.authenticate(k.secret);
      const rotated = await api.rotateKey(k.key.id, { grace_seconds: 0 });
      assert.equal(rotated.previous.status, 'revoked');
      assert.equal(rotated.previous.replaced_by, rotated.key.id);
      await rejectsWith(cached.authenticate(k.secret), 'WARDEN_REVOKED_API_KEY');
      await cached.authenticate(rotated.secret);
      const revoked = await api.revokeKey(rotated.key.id, 'leaked in a public repo');
      assert.equal(revoked.status, 'revoked');
      await rejectsWith(cached.authenticate(rotated.secret), 'WARDEN_REVOKED_API_KEY');
      await rejectsWith(api.rotateKey(rotated.key.id), 'WARDEN_CONFLICT', 409);

      const k2 = await api.createKey(acct.id);
      await cached.authenticate(k2.secret);
      const suspended = await api.suspendAccount(acct.id, 'linked to campaign C-12');
      assert.equal(suspended.status, 'suspended');
      await rejectsWith(cached.authenticate(k2.secret), 'WARDEN_ACCOUNT_SUSPENDED');
      await api.reactivateAccount(acct.id, 'false positive');
      await cached.authenticate(k2.secret);

      const tiered = await api.setAccountTier(acct.id, 'email_verified', 'verified email');
      assert.equal(tiered.tier, 'email_verified');
      assert.equal((await cached.authenticate(k2.secret)).tier, 'email_verified');
      const patched = await api.updateAccount(acct.id, { programme: 'education' });
      assert.equal(patched.programme, 'education');

      const history = await api.listChanges({ subject_id: acct.id });
      const suspend = history.data.find((c) => c.action === 'status' && c.new_value === 'suspended')!;
      assert.equal(suspend.actor, 'ops:alice');
      assert.equal(suspend.reason, 'linked to campaign C-12');
      const keyHistory = await api.listChanges({ subject_id: rotated.key.id });
      assert.ok(keyHistory.data.some((c) => c.action === 'revoke' && c.reason === 'leaked in a public repo'));
    } finally {
      await cached.close();
    }
  });

  it('records an operator name outside Latin-1 sent RFC 8187 style; plain ASCII names as they are; a malformed one is refused', async () => {
    const acct = await api.createAccount({ email: 'actor@names.example' });
    // The CLI's client encodes a name a header cannot carry as is.
    await new HttpAdminClient(s.base, TOKEN, { actor: 'cli:李雷' }).suspendAccount(acct.id, 'cjk operator');
    // A plain ASCII header (curl, scripts) is recorded unchanged; so is the encoded form of any name.
    const sent = [['ops:bob', 'plain ascii'], ["UTF-8''dashboard%3A%C5%81ukasz", 'encoded polish'], ["utf-8''%D0%98%D0%B2%D0%B0%D0%BD", 'encoded cyrillic']];
    for (const [header, reason] of sent) {
      const res = await raw(s.base, 'POST', `/admin/accounts/${acct.id}/${reason === 'plain ascii' || reason === 'encoded cyrillic' ? 'reactivate' : 'suspend'}`, { body: JSON.stringify({ reason }), headers: { 'x-warden-actor': header } });
      assert.equal(res.status, 200, `${header}: ${JSON.stringify(res.json)}`);
    }
    const actors = Object.fromEntries((await api.listChanges({ subject_id: acct.id })).data.map((c) => [c.reason, c.actor]));
    assert.equal(actors['cjk operator'], 'cli:李雷');
    assert.equal(actors['plain ascii'], 'ops:bob');
    assert.equal(actors['encoded polish'], 'dashboard:Łukasz');
    assert.equal(actors['encoded cyrillic'], 'Иван');
    const bad = await raw(s.base, 'POST', `/admin/accounts/${acct.id}/suspend`, { body: JSON.stringify({ reason: 'bad' }), headers: { 'x-warden-actor': "UTF-8''%E6%9D" } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'WARDEN_INVALID_REQUEST');
    assert.match(bad.json.error.message, /x-warden-actor/);
  });

  it('refuses control and bidirectional-control characters in the operator\'s name and the reason; a long name is cut where a character ends', async () => {
    const acct = await api.createAccount({ email: 'controls@names.example' });
    const suspend = (header: string, reason: string) => raw(s.base, 'POST', `/admin/accounts/${acct.id}/suspend`, { body: JSON.stringify({ reason }), headers: { 'x-warden-actor': header } });
    // Decoded, these would forge a row of `warden admin changes`, drive the terminal, fail PostgreSQL, or read backwards.
    for (const [header, char] of [["UTF-8''cli:alice%0A2026-01-01T00:00:00Z  acct_x  suspend  cli:root", 'U+000A'], ["UTF-8''%1B%5B2J%1B%5BHcli:root", 'U+001B'], ["UTF-8''a%00b", 'U+0000'], ["UTF-8''dashboard:%E2%80%AEecila", 'U+202E'], ["UTF-8''a%C2%85b", 'U+0085']]) {
      const res = await suspend(header, 'controls');
      assert.equal(res.status, 400, `${header}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.error.code, 'WARDEN_INVALID_REQUEST');
      assert.match(res.json.error.message, new RegExp(`^x-warden-actor: ${char.replace('+', '\\+')} is not allowed`), header);
    }
    for (const [reason, char] of [['clear \u001b[2J', 'U+001B'], ['\u202eesrever', 'U+202E'], ['nul \u0000', 'U+0000']]) {
      const res = await suspend('ops:bob', reason);
      assert.equal(res.status, 400, `${JSON.stringify(reason)}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.error.param, 'reason', char);
    }
    assert.deepEqual((await api.listChanges({ subject_id: acct.id })).data.map((c) => c.reason).filter(Boolean), [], 'nothing recorded');
    // Line breaks in a reason (a textarea) become spaces: one change, one row.
    const ok = await suspend('ops:bob', 'first line\r\nsecond\tline');
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    // 199 characters then an emoji (two UTF-16 units): cut before it, not through it.
    const long = `${'a'.repeat(199)}\u{1F600}`;
    assert.equal((await raw(s.base, 'POST', `/admin/accounts/${acct.id}/reactivate`, { body: JSON.stringify({ reason: 'long name' }), headers: { 'x-warden-actor': `UTF-8''${encodeURIComponent(long)}` } })).status, 200);
    const actors = Object.fromEntries((await api.listChanges({ subject_id: acct.id })).data.map((c) => [c.reason, c.actor]));
    assert.equal(actors['first line second line'], 'ops:bob', 'the reason on one line');
    assert.equal(actors['long name'], 'a'.repeat(199), 'no lone surrogate');
  });

  it('refuses control, bidirectional-control and invisible characters in organisation, account and key names, naming the character', async () => {
    const org = await api.createOrg({ name: 'Names Ltd' });
    const acct = await api.createAccount({ email: 'names@charnames.example' });
    // A line break forges a row of a listing, ESC drives the terminal, U+202E reads backwards, and a
    // zero-width space or a byte order mark makes two names look the same in the dashboard.
    const names: Array<[string, string]> = [
      ['Acme\nacct_01 active', 'U+000A'], ['\u001b[2JAcme', 'U+001B'], ['Acme\u0085', 'U+0085'], ['\u202eemcA', 'U+202E'],
      ['Ac\u200bme', 'U+200B'], ['Ac\ufeffme', 'U+FEFF'], ['Ac\u2060me', 'U+2060'], ['nul\u0000', 'U+0000'],
    ];
    const attempts: Array<[string, string, string, (name: string) => unknown]> = [
      ['POST', '/admin/orgs', 'name', (name) => ({ name })],
      ['PATCH', `/admin/orgs/${org.id}`, 'name', (name) => ({ name })],
      ['POST', '/admin/accounts', 'name', (name) => ({ name, email: 'other@charnames.example' })],
      ['PATCH', `/admin/accounts/${acct.id}`, 'name', (name) => ({ name })],
      ['POST', `/admin/accounts/${acct.id}/keys`, 'name', (name) => ({ name })],
    ];
    for (const [method, path, param, body] of attempts) {
      for (const [name, char] of names) {
        const res = await raw(s.base, method, path, { body: JSON.stringify(body(name)) });
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(name)}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.error.code, 'WARDEN_INVALID_REQUEST', `${method} ${path}`);
        assert.equal(res.json.error.param, param, `${method} ${path}`);
        assert.ok(res.json.error.message.includes(`${char} is not allowed in a name`), `${method} ${path} ${JSON.stringify(name)}: ${res.json.error.message}`);
      }
    }
    assert.equal((await api.getOrg(org.id)).name, 'Names Ltd', 'the organisation keeps its name');
    assert.equal((await api.listAccounts({ email_domain: 'charnames.example' })).data.length, 1, 'no account was created');
    // Joiners that scripts and emoji need stay: Persian with a zero-width non-joiner, a family emoji.
    for (const name of ['\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645', 'Team \u{1F468}\u200d\u{1F469}\u200d\u{1F467}', 'Zo\u00eb & Ji\u0159\u00ed']) {
      const res = await raw(s.base, 'PATCH', `/admin/accounts/${acct.id}`, { body: JSON.stringify({ name }) });
      assert.equal(res.status, 200, `${JSON.stringify(name)}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.name, name, 'recorded as given');
    }
  });

  it('answers 400 with the offending field for invalid input', async () => {
    const badTier = await raw(s.base, 'POST', '/admin/orgs', { body: JSON.stringify({ name: 'x', tier: 'gold' }) });
    assert.equal(badTier.status, 400);
    assert.equal(badTier.json.error.code, 'WARDEN_INVALID_REQUEST');
    assert.equal(badTier.json.error.param, 'tier');
    assert.equal(badTier.json.error.issues[0].path, 'tier');

    const unknownField = await raw(s.base, 'POST', '/admin/accounts', { body: JSON.stringify({ card_number: '4242' }) });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.json.error.message, /card_number/);
    // An unknown field is named in `param` like any other (zod reports it on its parent).
    assert.equal(unknownField.json.error.param, 'card_number');
    assert.deepEqual(unknownField.json.error.issues, [{ path: 'card_number', message: 'Unrecognized key: "card_number"' }]);
    const typo = await raw(s.base, 'POST', '/admin/orgs', { body: JSON.stringify({ name: 'X', tierr: 'enterprise' }) });
    assert.equal(typo.json.error.param, 'tierr');

    // An import is checked as a signup: a signup time in the future or an unassigned country is refused, by field.
    const future = await raw(s.base, 'POST', '/admin/accounts', { body: JSON.stringify({ name: 'imported', created_at: '2030-01-01T00:00:00Z' }) });
    assert.equal(future.status, 400);
    assert.equal(future.json.error.param, 'created_at');
    assert.match(future.json.error.message, /created_at: is in the future/);
    const zz = await raw(s.base, 'POST', '/admin/accounts', { body: JSON.stringify({ name: 'imported', claimed_country: 'zz' }) });
    assert.equal(zz.status, 400);
    assert.equal(zz.json.error.param, 'claimed_country');
    assert.match(zz.json.error.message, /ZZ is not an assigned ISO 3166-1 alpha-2 country code/);
    const past = await raw(s.base, 'POST', '/admin/accounts', { body: JSON.stringify({ name: 'imported', created_at: '2024-03-01T09:00:00Z', claimed_country: 'gb' }) });
    assert.equal(past.status, 201);
    assert.equal(past.json.claimed_country, 'GB');
    assert.equal(past.json.created_at, '2024-03-01T09:00:00.000Z');

    const missingReason = await raw(s.base, 'POST', '/admin/orgs/org_x/tier', { body: JSON.stringify({ tier: 'enterprise' }) });
    assert.equal(missingReason.status, 400);
    assert.equal(missingReason.json.error.param, 'reason');

    const badJson = await raw(s.base, 'POST', '/admin/orgs', { body: '{"name":' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error.code, 'WARDEN_INVALID_JSON');

    const badLimit = await raw(s.base, 'GET', '/admin/accounts?limit=100000');
    assert.equal(badLimit.status, 400);
    assert.equal(badLimit.json.error.param, 'limit');

    const badScope = await raw(s.base, 'POST', '/admin/accounts/acct_x/keys', { body: JSON.stringify({ scopes: ['root'] }) });
    assert.equal(badScope.status, 400);

    // A route that takes no query parameter refuses one by name too, before it does anything:
    // a capability route without a query schema creates no override, a read answers nothing.
    const stray = await raw(s.base, 'POST', '/admin/limits/overrides?dry_run=1', { body: JSON.stringify({ account_id: 'acct_x', rpm: 5 }) });
    assert.equal(stray.status, 400, 'a query parameter on a route that takes none is refused');
    assert.equal(stray.json.error.code, 'WARDEN_INVALID_REQUEST');
    assert.equal(stray.json.error.param, 'dry_run');
    assert.match(stray.json.error.message, /invalid query: dry_run/);
    for (const path of ['/admin/orgs/org_x?verbose=1', '/admin/openapi.json?verbose=1']) {
      const r = await raw(s.base, 'GET', path);
      assert.equal(r.status, 400, path);
      assert.equal(r.json.error.param, 'verbose', path);
    }
    const typoQuery = await raw(s.base, 'GET', '/admin/accounts?limt=5');
    assert.equal(typoQuery.json.error.param, 'limt');
  });

  it('answers 404 for unknown objects and routes', async () => {
    for (const path of ['/admin/orgs/org_missing', '/admin/accounts/acct_missing', '/admin/keys/key_missing', '/admin/not-a-route']) {
      const r = await raw(s.base, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json.error.code, 'WARDEN_NOT_FOUND');
    }
    const r = await raw(s.base, 'POST', '/admin/accounts/acct_missing/keys', { body: '{}' });
    assert.equal(r.status, 404);
    await rejectsWith(api.suspendAccount('acct_missing', 'x'), 'WARDEN_NOT_FOUND', 404);
  });

  it('pages listings with limit and cursor', async () => {
    const org = await api.createOrg({ name: 'Paged' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await api.createAccount({ org_id: org.id, name: `a${i}` })).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await api.listAccounts({ org_id: org.id, limit: 2, cursor });
      assert.ok(p.data.length <= 2);
      seen.push(...p.data.map((a) => a.id));
      cursor = p.next_cursor ?? undefined;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());
    // A malformed cursor (or one of another listing) is refused, not answered with an empty last page.
    for (const [path, cursor] of [['/admin/orgs', 'garbage'], ['/admin/accounts', org.id], ['/admin/keys', 'key_nope'], ['/admin/changes', "chg_' OR 1=1"]]) {
      const bad = await raw(s.base, 'GET', `${path}?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(bad.status, 400, `${path} cursor ${cursor}`);
      assert.equal(bad.json.error.param, 'cursor');
    }
  });

  it('serves an OpenAPI 3.1 document listing every route, with resolvable references', async () => {
    const r = await raw(s.base, 'GET', '/admin/openapi.json');
    assert.equal(r.status, 200);
    const doc = r.json;
    assert.equal(doc.openapi, '3.1.0');
    const table = buildAdminRoutes({ store: s.store, registrars: [extra] });
    const expected = table.routes.map((d) => `${d.method.toLowerCase()} /admin${d.path.replace(/:(\w+)/g, '{$1}')}`).sort();
    const actual: string[] = [];
    const opIds = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string; parameters?: { name: string; in: string }[] }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        actual.push(`${method} ${path}`);
        assert.ok(!opIds.has(op.operationId), `duplicate operationId ${op.operationId}`);
        opIds.add(op.operationId);
        for (const m of path.matchAll(/\{(\w+)\}/g)) {
          assert.ok(op.parameters?.some((p) => p.in === 'path' && p.name === m[1]), `${path} lacks path parameter ${m[1]}`);
        }
      }
    }
    assert.deepEqual(actual.sort(), expected);
    assert.ok(expected.includes('post /admin/limits/overrides'), 'extra registrar routes are documented');
    assert.ok(expected.length >= 19);
    // Every $ref points at an existing component.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]);
    assert.ok(refs.length > 10);
    for (const ref of refs) {
      assert.match(ref, /^#\/components\/schemas\//);
      assert.ok(doc.components.schemas[ref.split('/').pop()!], `dangling ${ref}`);
    }
    for (const name of ['Organisation', 'Account', 'ApiKey', 'CreatedKey', 'Error']) assert.ok(doc.components.schemas[name], name);
    assert.ok(!('secret' in doc.components.schemas.ApiKey.properties), 'ApiKey never carries a secret');
    assert.deepEqual(doc.paths['/admin/accounts'].post.requestBody.content['application/json'].schema.properties.tier.enum,
      ['unverified', 'email_verified', 'identity_verified', 'enterprise']);
  });

  it('mounts routes from other capabilities with the same validation', async () => {
    const ok = await raw(s.base, 'POST', '/admin/limits/overrides', { body: JSON.stringify({ account_id: 'a', rpm: 10 }) });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.json, { ok: true, rpm: 10 });
    const bad = await raw(s.base, 'POST', '/admin/limits/overrides', { body: JSON.stringify({ account_id: 'a', rpm: -1 }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'rpm');
  });
});

describe('admin API configuration', () => {
  it('is disabled without a token', async () => {
    const s = await start({ token: null });
    try {
      const r = await raw(s.base, 'GET', '/admin/orgs');
      assert.equal(r.status, 401);
      assert.match(r.json.error.message, /disabled/);
    } finally { await s.close(); }
  });

  it('refuses a short token', async () => {
    await assert.rejects(start({ token: 'short' }), /at least 16/);
  });
});
