// Usage aggregations checked against a reference computed in JavaScript over the same events, on
// SQLite and on a real PostgreSQL server (private schema per run); plus the admin routes' input
// checks, the route catalog and the static file server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { openSqlite, openPostgres, SqliteEventStore, PostgresEventStore } from '../store/index.ts';
import { subnetOf } from '../events/index.ts';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { sqliteUsageStore, postgresUsageStore, chooseBucket, type UsageStore, type UsageCounts, type UsageDimension } from './usage.ts';
import { countEvent, zeroCounts } from '../../test/helpers/usage-counts.ts';
import { RouteCatalog, features, resolveRange, dashboardPlugin, DASHBOARD_CSP, search } from './index.ts';
import { openIdentityStore, PostgresIdentityStore, type IdentityStore } from '../identity/index.ts';

const T0 = Date.parse('2026-03-02T09:00:00.000Z');

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeEvents(count: number): InteractionEvent[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const accounts = [['acct_a', 'org_1'], ['acct_b', 'org_1'], ['acct_c', 'org_2'], ['acct_d', null], [null, null]] as const;
  const ips = ['203.0.113.5', '203.0.113.77', '198.51.100.9', '2001:db8:1:2::10', '2001:db8:1:2::99'];
  const statuses = [200, 200, 200, 200, 200, 429, 403, 401, 500, 400, 499];
  const out: InteractionEvent[] = [];
  for (let i = 0; i < count; i++) {
    const [account, org] = pick(accounts);
    const status = account === null ? 401 : pick(statuses);
    const ts = new Date(T0 + Math.floor(r() * 3 * 3600_000)).toISOString();
    const ok = status < 400;
    out.push({
      schema: EVENT_SCHEMA, id: `01EV${String(i).padStart(22, '0')}`, ts, duration_ms: 5, flavour: pick(['openai.chat', 'anthropic.messages'] as const),
      model: pick(['gpt-4o-mini', 'claude-sonnet-4']), upstream: 'mock', account_id: account, org_id: org, key_id: account ? `key_${account}` : null,
      client: { ip: pick(ips), user_agent: 'test', country: pick(['GB', 'US', null]), asn: pick([64500, 64501, null]) },
      request: { stream: false, system: null, messages: [{ role: 'user', text: `question ${i}`, chars: 10 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
      response: {
        status, error_code: ok ? null : `WARDEN_E${status}`, input_tokens: ok ? 1 + Math.floor(r() * 50) : 0, output_tokens: ok ? Math.floor(r() * 400) : 0,
        reasoning_tokens: ok && r() < 0.3 ? Math.floor(r() * 100) : 0, usage_source: 'upstream', tool_calls: 0, finish_reason: ok ? 'stop' : null,
        ttfb_ms: 3, output_chars: 0, reasoning_chars: 0,
      },
      account: null,
      enforcement: { ...emptyEnforcement(), verdict: account === 'acct_c' ? 'throttle' : null },
    });
  }
  // Some answers read their input from the prompt cache, some wrote it there.
  out.forEach((e, i) => {
    if (e.response.status >= 400) return;
    if (i % 3 === 0) e.response.cached_input_tokens = Math.floor(e.response.input_tokens / 2);
    if (i % 5 === 0) e.response.cache_write_tokens = Math.ceil(e.response.input_tokens / 4);
  });
  // Like the gateway's ULIDs, ids sort in arrival order.
  out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  out.forEach((e, i) => { e.id = `01EV${String(i).padStart(22, '0')}`; });
  return out;
}

const EVENTS = makeEvents(700);

function countsOf(events: InteractionEvent[]): UsageCounts {
  const c = zeroCounts();
  for (const e of events) countEvent(c, e);
  return c;
}

const KEY_OF: Record<UsageDimension, (e: InteractionEvent) => string | null> = {
  account: (e) => e.account_id, org: (e) => e.org_id, key: (e) => e.key_id, model: (e) => e.model, ip: (e) => e.client.ip,
  network: (e) => subnetOf(e.client.ip, 24, 64), country: (e) => e.client.country, asn: (e) => (e.client.asn === null ? null : String(e.client.asn)),
  flavour: (e) => e.flavour, verdict: (e) => e.enforcement.verdict, service_tier: (e) => e.response.service_tier ?? null,
};

function reference(dimension: UsageDimension, events: InteractionEvent[]) {
  const groups = new Map<string | null, InteractionEvent[]>();
  for (const e of events) { const k = KEY_OF[dimension](e); groups.set(k, [...(groups.get(k) ?? []), e]); }
  return new Map([...groups].map(([k, evs]) => [k, { ...countsOf(evs), accounts: new Set(evs.map((e) => e.account_id).filter(Boolean)).size, ips: new Set(evs.map((e) => e.client.ip)).size }]));
}

const FROM = new Date(T0 - 60_000).toISOString();
const TO = new Date(T0 + 4 * 3600_000).toISOString();

async function checkStore(usage: UsageStore, append: (events: InteractionEvent[]) => Promise<void>) {
  // Summary: totals, a continuous series whose buckets add up, outcomes.
  const s = await usage.summary({ from: FROM, to: TO }, 900);
  const all = countsOf(EVENTS);
  const { accounts: _a, ips: _i, ...totals } = s.totals;
  assert.deepEqual(totals, all);
  assert.equal(s.totals.accounts, 4);
  assert.equal(s.totals.ips, 5);
  assert.equal(s.series.length, Math.floor((Date.parse(TO) - 1) / 900_000) - Math.floor(Date.parse(FROM) / 900_000) + 1);
  for (const p of s.series) {
    const inBucket = EVENTS.filter((e) => Date.parse(e.ts) >= Date.parse(p.t) && Date.parse(e.ts) < Date.parse(p.t) + 900_000);
    const { t: _t, ...c } = p;
    assert.deepEqual(c, countsOf(inBucket), `bucket ${p.t}`);
  }
  assert.equal(s.outcomes.reduce((a, o) => a + o.requests, 0), EVENTS.length);
  assert.equal(s.outcomes.find((o) => o.status === 200)?.code, null);

  // Top by every dimension equals the reference, ordered by requests.
  for (const dim of ['account', 'org', 'key', 'model', 'ip', 'network', 'country', 'asn', 'flavour', 'verdict', 'service_tier'] as const) {
    const rows = await usage.top(dim, { from: FROM, to: TO }, { limit: 100 });
    const ref = reference(dim, EVENTS);
    assert.equal(rows.length, ref.size, dim);
    for (const row of rows) {
      const { key, first_ts, last_ts, ...rest } = row;
      assert.deepEqual(rest, ref.get(key), `${dim} ${key}`);
      assert.ok(first_ts <= last_ts);
    }
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].requests >= rows[i].requests, `${dim} ordered`);
  }
  const byTokens = await usage.top('account', { from: FROM, to: TO }, { sort: 'tokens', limit: 2 });
  assert.equal(byTokens.length, 2);
  assert.ok(byTokens[0].input_tokens + byTokens[0].output_tokens >= byTokens[1].input_tokens + byTokens[1].output_tokens);
  assert.deepEqual((await usage.top('network', { from: FROM, to: TO })).map((r) => r.key).sort(), ['198.51.100.0/24', '2001:db8:1:2:0:0:0:0/64', '203.0.113.0/24']);

  // Filters narrow every aggregation.
  const onlyC = await usage.summary({ from: FROM, to: TO, accountId: 'acct_c' }, 3600);
  const { accounts: _ac, ips: _ic, ...cTotals } = onlyC.totals;
  assert.deepEqual(cTotals, countsOf(EVENTS.filter((e) => e.account_id === 'acct_c')));
  const ipRows = await usage.top('account', { from: FROM, to: TO, ip: '198.51.100.9' });
  assert.deepEqual(new Set(ipRows.map((r) => r.key)), new Set(EVENTS.filter((e) => e.client.ip === '198.51.100.9').map((e) => e.account_id)));

  // Per UTC day and model (a customer's own view), for one organisation: each row equals the reference.
  const daily = await usage.daily({ from: FROM, to: TO, orgId: 'org_1' });
  const ofOrg = EVENTS.filter((e) => e.org_id === 'org_1');
  const dayModels = new Set(ofOrg.map((e) => `${e.ts.slice(0, 10)} ${e.model}`));
  assert.equal(daily.length, dayModels.size, 'one row per day and model');
  for (const row of daily) {
    const { date, model, ...c } = row;
    assert.deepEqual(c, countsOf(ofOrg.filter((e) => e.ts.slice(0, 10) === date && e.model === model)), `${date} ${model}`);
  }
  for (let i = 1; i < daily.length; i++) assert.ok(daily[i - 1].date < daily[i].date || daily[i - 1].requests >= daily[i].requests, 'by day, then requests');

  // Interactions: newest first, paged with `before`, filtered.
  const page1 = await usage.interactions({ limit: 50 });
  const sortedIds = EVENTS.map((e) => e.id).sort().reverse();
  assert.deepEqual(page1.map((i) => i.id), sortedIds.slice(0, 50));
  const page2 = await usage.interactions({ limit: 50, before: page1[49].id });
  assert.deepEqual(page2.map((i) => i.id), sortedIds.slice(50, 100));
  const forB = await usage.interactions({ accountId: 'acct_b', limit: 500 });
  assert.equal(forB.length, EVENTS.filter((e) => e.account_id === 'acct_b').length);
  assert.ok(forB.every((i) => i.account_id === 'acct_b'));
  assert.match(forB[0].prompt_preview ?? '', /^question \d+$/);

  // Events written after a query (a later batch, a little older than the newest row) are counted by the next one.
  const late = makeEvents(40).map((e, i) => ({ ...e, id: `01EZ${String(i).padStart(22, '0')}`, ts: new Date(T0 + 3 * 3600_000 - 120_000 + i * 1000).toISOString() }));
  await append(late);
  const again = await usage.summary({ from: FROM, to: TO }, 900);
  assert.equal(again.totals.requests, EVENTS.length + late.length);
  assert.equal(again.totals.output_tokens, all.output_tokens + countsOf(late).output_tokens);

  // An empty range is all zeros, not an error.
  const empty = await usage.summary({ from: '2020-01-01T00:00:00.000Z', to: '2020-01-01T01:00:00.000Z' });
  assert.equal(empty.totals.requests, 0);
  assert.equal(empty.series.length, 60);
}

test('usage aggregations on SQLite equal the reference', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteEventStore(db);
  await store.appendBatch(EVENTS);
  await checkStore(sqliteUsageStore(db), (evs) => store.appendBatch(evs));
  db.close();
});

test('usage aggregations on SQLite, in the query thread (a database file), equal the reference', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-usage-'));
  const db = openSqlite(join(dir, 'events.db'));
  const usage = sqliteUsageStore(db);
  try {
    assert.equal(usage.thread, 'worker');
    const store = new SqliteEventStore(db);
    await store.appendBatch(EVENTS);
    await checkStore(usage, (evs) => store.appendBatch(evs));
  } finally {
    await usage.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Run `fn` with a pool on a fresh PostgreSQL schema (dropped after), or skip when PostgreSQL is not reachable. */
async function inPostgresSchema(t: { skip(msg: string): void }, prefix: string, fn: (pool: ReturnType<typeof openPostgres>, schema: string) => Promise<void>): Promise<void> {
  const base = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(base, { max: 1 });
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    await admin.end();
    t.skip(`PostgreSQL not reachable at ${base}: ${(err as Error).message}`);
    return;
  }
  const pool = openPostgres(`${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 4 });
  try {
    await fn(pool, schema);
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

test('usage aggregations on PostgreSQL equal the reference', async (t) => {
  await inPostgresSchema(t, 'ui_usage', async (pool) => {
    const store = new PostgresEventStore(pool);
    await store.appendBatch(EVENTS);
    await checkStore(postgresUsageStore(pool), (evs) => store.appendBatch(evs));
  });
});

test('bucket choice and range resolution', () => {
  assert.equal(chooseBucket(0, 3600_000), 60);
  assert.equal(chooseBucket(0, 86400_000), 900);
  assert.equal(chooseBucket(0, 7 * 86400_000), 6 * 3600);
  assert.equal(chooseBucket(0, 365 * 86400_000), 4 * 86400);
  const now = Date.parse('2026-03-02T12:00:00.000Z');
  assert.deepEqual(resolveRange({ range: '1h' }, now), { from: '2026-03-02T11:00:00.000Z', to: '2026-03-02T12:00:00.000Z' });
  assert.deepEqual(resolveRange({}, now).from, '2026-03-01T12:00:00.000Z');
  assert.throws(() => resolveRange({ from: '2026-03-02T12:00:00Z', to: '2026-03-02T11:00:00Z' }, now), /before/);
  assert.throws(() => resolveRange({ from: '2020-01-01T00:00:00Z' }, now), /400 days/);
});

test('features: found from the route catalog and from routes registered before it', async () => {
  const app = Fastify();
  app.get('/admin/ledger/v1/checkpoint', async () => 'cp');          // before the catalog watches
  const catalog = new RouteCatalog();
  await app.register(dashboardPlugin, { catalog });
  await app.register(async (admin) => {
    admin.get('/detect/verdicts', async () => []);
    admin.get('/detect/accounts/:id', async () => ({}));
    admin.get('/limits/status', async () => ({}));
    admin.get('/ledger/v1/query', async () => ({}));
  }, { prefix: '/admin' });
  await app.ready();
  const f = features(catalog, '/admin', (m, url) => app.hasRoute({ method: m as 'GET', url }));
  assert.deepEqual(f.ledger, { base: '/admin/ledger/v1', query: '/admin/ledger/v1/query' });
  assert.equal(f.limits.status, '/admin/limits/status');
  assert.equal(f.limits.overrides, null);
  assert.deepEqual(f.detect.routes.map((r) => r.path), ['/admin/detect/accounts/:id', '/admin/detect/verdicts']);
  assert.deepEqual(features(undefined).detect.routes, []);
  await app.close();
});

test('routes over HTTP: token required, inputs checked, static files with a strict CSP', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-routes-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  const w = await startWarden(config, { log: () => {} });
  try {
    const auth = { authorization: `Bearer ${w.adminToken}` };
    assert.equal((await fetch(`${w.url}/admin/usage/summary`)).status, 401);
    assert.equal((await fetch(`${w.url}/admin/dashboard/features`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    const bad = await fetch(`${w.url}/admin/usage/top?by=planet`, { headers: auth });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'by');
    assert.equal((await fetch(`${w.url}/admin/usage/summary?from=2026-03-02T12:00:00Z&to=2026-03-01T12:00:00Z`, { headers: auth })).status, 400);
    assert.equal((await fetch(`${w.url}/admin/usage/interactions?ip=not-an-ip`, { headers: auth })).status, 400);
    const ok = await fetch(`${w.url}/admin/usage/summary?range=1h`, { headers: auth });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    const doc = (await (await fetch(`${w.url}/admin/openapi.json`, { headers: auth })).json()) as { paths: Record<string, unknown> };
    for (const p of ['/admin/usage/summary', '/admin/usage/top', '/admin/usage/interactions', '/admin/dashboard/search', '/admin/dashboard/features']) assert.ok(doc.paths[p], p);
    const search = (await (await fetch(`${w.url}/admin/dashboard/search?q=DEMO@example`, { headers: auth })).json()) as { accounts: { email: string }[] };
    assert.deepEqual(search.accounts.map((a) => a.email), ['demo@example.com']);

    const redirect = await fetch(`${w.url}/dashboard`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/dashboard/');
    const index = await fetch(`${w.url}/dashboard/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-security-policy'), DASHBOARD_CSP);
    assert.equal(index.headers.get('x-frame-options'), 'DENY');
    const html = await index.text();
    assert.ok(!/https?:\/\//.test(html.replace(/<!doctype[^>]*>/i, '')), 'no absolute URLs in the page');
    const js = await fetch(`${w.url}/dashboard/app.js`);
    assert.match(js.headers.get('content-type') ?? '', /text\/javascript/);
    const etag = js.headers.get('etag')!;
    assert.equal((await fetch(`${w.url}/dashboard/app.js`, { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await fetch(`${w.url}/dashboard/nope.js`)).status, 404);
    assert.equal((await fetch(`${w.url}/dashboard/..%2f..%2fpackage.json`)).status, 404);
    assert.equal((await fetch(`${w.url}/dashboard/accounts`, { redirect: 'manual' })).status, 302);
  } finally {
    await w.close();
  }
});

/** Account search over an identity store holding no accounts yet. */
async function checkSearch(identity: IdentityStore): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    ids.push((await identity.createAccount({ name: `Shop ${i}`, email: `owner${i}@shop.example`, tier: i % 3 === 0 && i > 0 ? 'enterprise' : 'unverified', signup_ip: i < 7 ? '203.0.113.9' : '198.51.100.1' })).id);
  }
  // Every match, newest first, five at a time.
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 5; pages++) {
    const r = await search(identity, 'shop.example', { limit: 5, cursor });
    seen.push(...r.accounts.map((a) => a.id));
    assert.equal(r.truncated, false);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  assert.deepEqual(seen, [...ids].reverse());
  // Filters apply before the limit: the three enterprise accounts (ids 9, 6, 3), over two pages
  // of two. The oldest accounts (0, 1, 2) do not match: a full last page still says it is last.
  const first = await search(identity, 'shop', { limit: 2, tier: 'enterprise' });
  assert.deepEqual(first.accounts.map((a) => a.id), [ids[9], ids[6]]);
  assert.ok(first.next_cursor);
  const second = await search(identity, 'shop', { limit: 2, tier: 'enterprise', cursor: first.next_cursor! });
  assert.deepEqual(second.accounts.map((a) => a.id), [ids[3]]);
  assert.equal(second.next_cursor, null);
  const exactlyFull = await search(identity, 'shop', { limit: 3, tier: 'enterprise' });
  assert.deepEqual(exactlyFull.accounts.map((a) => a.id), [ids[9], ids[6], ids[3]]);
  assert.equal(exactlyFull.next_cursor, null, 'no more matches, though older accounts are left');
  assert.equal(exactlyFull.scanned, 12, 'every account visited counts, matching or not');
  // An exact id comes first, once, and fills a page of one.
  const exact = await search(identity, ids[2], { limit: 5 });
  assert.deepEqual(exact.accounts.map((a) => a.id), [ids[2]]);
  const one = await search(identity, ids[2], { limit: 1 });
  assert.deepEqual(one.accounts.map((a) => a.id), [ids[2]]);
  assert.equal(one.next_cursor, null);
  const byName = await search(identity, 'Shop 1', { limit: 1 });
  assert.deepEqual(byName.accounts.map((a) => a.id), [ids[11]]);
  assert.deepEqual((await search(identity, 'Shop 1', { limit: 1, cursor: byName.next_cursor! })).accounts.map((a) => a.id), [ids[10]]);
  // A signup IP: every account from it, paged, with the filters.
  const ip = await search(identity, '203.0.113.9', { limit: 5 });
  assert.equal(ip.accounts.length, 5);
  const ipRest = await search(identity, '203.0.113.9', { limit: 5, cursor: ip.next_cursor! });
  assert.deepEqual([...ip.accounts, ...ipRest.accounts].map((a) => a.id), ids.slice(0, 7).reverse());
  assert.deepEqual((await search(identity, '203.0.113.9', { tier: 'enterprise' })).accounts.map((a) => a.id), [ids[6], ids[3]]);
  // Another account naming that id: a page of one holds the exact match alone, and pages on to it.
  const mention = (await identity.createAccount({ name: `Reseller of ${ids[2]}`, email: 'reseller@elsewhere.example' })).id;
  const exactFirst = await search(identity, ids[2], { limit: 1 });
  assert.deepEqual(exactFirst.accounts.map((a) => a.id), [ids[2]]);
  assert.ok(exactFirst.next_cursor);
  const then = await search(identity, ids[2], { limit: 1, cursor: exactFirst.next_cursor! });
  assert.deepEqual(then.accounts.map((a) => a.id), [mention]);
  assert.equal(then.next_cursor, null);
  // An API key: by its prefix, its id or the whole key, the key is named and its account comes first.
  const created = await identity.createKey(ids[4], { name: 'ci' });
  for (const q of [created.key.prefix, created.key.id, created.secret]) {
    const byKey = await search(identity, q, { limit: 5 });
    assert.equal(byKey.key?.id, created.key.id, `the key is named for ${q.slice(0, 24)}`);
    assert.equal(byKey.key?.status, 'active');
    assert.deepEqual(byKey.accounts.map((a) => a.id), [ids[4]], `its account alone for ${q.slice(0, 24)}`);
  }
  assert.equal((await search(identity, created.key.prefix, { limit: 5, status: 'suspended' })).accounts.length, 0, 'the filters apply to the key\'s account');
  assert.equal((await search(identity, 'wk_live_AAAAAAAAAAAA', { limit: 5 })).key, null, 'a prefix no key has names none');
  assert.equal((await search(identity, 'shop', { limit: 5 })).key, null, 'a text names no key');
}

test('account search: status and tier filter before the page is cut, next_cursor only when another match exists, exact id first, signup IP by index', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-search-'));
  const db = openSqlite(join(dir, 's.db'));
  const identity = openIdentityStore(parseConfig({ store: { sqlite_path: join(dir, 's.db') }, log: { level: 'silent' } }), { sqlite: db });
  try {
    await checkSearch(identity);
  } finally {
    await identity.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('account search on PostgreSQL', async (t) => {
  await inPostgresSchema(t, 'ui_search', async (pool, schema) => {
    const identity = new PostgresIdentityStore(pool, { channel: schema, notify: false });
    try {
      await identity.ready();
      await checkSearch(identity);
    } finally {
      await identity.close();
    }
  });
});

test('account search: the scan bound counts every account visited, with filters too', async () => {
  // 25,000 accounts, newest first; none is suspended, the two newest are enterprise.
  const all = Array.from({ length: 25_000 }, (_, i) => ({
    id: `acct_${String(25_000 - i).padStart(26, '0')}`, name: `user ${i}`, email: `u${i}@big.example`, org_id: null,
    tier: i < 2 ? 'enterprise' : 'unverified', status: 'active', created_at: '2026-03-01T00:00:00.000Z',
  }));
  let visited = 0;
  const identity = {
    getAccount: async () => null,
    getOrg: async () => null,
    listOrgs: async () => ({ data: [], next_cursor: null }),
    listAccounts: async (q: { limit: number; cursor?: string; status?: string; tier?: string }) => {
      assert.equal(q.status ?? q.tier, undefined, 'the filters are not left to an unindexed query');
      const start = q.cursor ? all.findIndex((a) => a.id < q.cursor!) : 0;
      const data = start < 0 ? [] : all.slice(start, start + q.limit);
      visited += data.length;
      const more = start >= 0 && start + q.limit < all.length;
      return { data, next_cursor: more ? data[data.length - 1].id : null };
    },
  } as unknown as Parameters<typeof search>[0];
  const none = await search(identity, 'big.example', { limit: 50, status: 'suspended' });
  assert.deepEqual(none.accounts, []);
  assert.equal(none.scanned, 20_000);
  assert.equal(visited, 20_000);
  assert.equal(none.truncated, true);
  assert.equal(none.next_cursor, all[19_999].id);
  const rest = await search(identity, 'big.example', { limit: 50, status: 'suspended', cursor: none.next_cursor! });
  assert.equal(rest.scanned, 5_000);
  assert.equal(rest.next_cursor, null);
  // A full page whose look for one more match runs out of budget: more may match, from after its last row.
  const full = await search(identity, 'big.example', { limit: 2, tier: 'enterprise' });
  assert.deepEqual(full.accounts.map((a) => a.id), [all[0].id, all[1].id]);
  assert.equal(full.truncated, true);
  assert.equal(full.next_cursor, all[1].id);
});

test('search and interactions: paging ids are checked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-ids-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  const w = await startWarden(config, { log: () => {} });
  try {
    const auth = { authorization: `Bearer ${w.adminToken}` };
    const status = async (path: string) => (await fetch(`${w.url}/admin${path}`, { headers: auth })).status;
    assert.equal(await status('/dashboard/search?q=demo&cursor=acct_01ARZ3NDEKTSV4RRFFQ69G5FAV'), 200);
    assert.equal(await status('/dashboard/search?q=demo&cursor=acct_01ARZ3NDEKTSV4RRFFQ69G5FAU'), 400, 'U is not a ULID character');
    assert.equal(await status('/dashboard/search?q=demo&cursor=org_01ARZ3NDEKTSV4RRFFQ69G5FAV'), 400);
    assert.equal(await status('/dashboard/search?q=demo&cursor=x'), 400);
    assert.equal(await status('/dashboard/search?q=demo&tier=gold'), 400);
    assert.equal(await status('/usage/interactions?before=01ARZ3NDEKTSV4RRFFQ69G5FAV'), 200);
    assert.equal(await status('/usage/interactions?before=01ARZ3NDEKTSV4RRFFQ69G5FA'), 400);
    assert.equal(await status('/usage/interactions?before=acct_01ARZ3NDEKTSV4RRFFQ69G5FAV'), 400);
  } finally {
    await w.close();
  }
});

test('SQLite: rows the dashboard copied before the prompt cache\'s split was kept are copied again with it', async () => {
  const { migrateSqlite } = await import('../store/index.ts');
  const { SQLITE_USAGE_MIGRATIONS } = await import('./usage.ts');
  const db = openSqlite(':memory:');
  try {
    const events = new SqliteEventStore(db);
    const cached = EVENTS.filter((e) => (e.response.cached_input_tokens ?? 0) > 0).slice(0, 20);
    await events.appendBatch(cached);
    // usage_rows as the release before made it, already holding these events (without the split).
    migrateSqlite(db, 'ui_usage', SQLITE_USAGE_MIGRATIONS.slice(0, 2));
    const copy = db.prepare(`INSERT INTO usage_rows (id, ts, account_id, org_id, key_id, model, client_ip, status, error_code, input_tokens, output_tokens, reasoning_tokens, country, asn, flavour, verdict)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, NULL, ?, NULL)`);
    for (const e of cached) copy.run(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, e.response.input_tokens, e.response.output_tokens, e.response.reasoning_tokens, e.flavour);
    const usage = sqliteUsageStore(db, { thread: 'inline' });
    const s = await usage.summary({ from: FROM, to: TO }, 3600);
    assert.equal(s.totals.requests, cached.length, 'every event counted once');
    assert.equal(s.totals.cached_input_tokens, cached.reduce((a, e) => a + (e.response.cached_input_tokens ?? 0), 0), `the cache reads of rows copied before the upgrade are counted: ${JSON.stringify(s.totals)}`);
    assert.ok(s.totals.cached_input_tokens > 0);
  } finally {
    db.close();
  }
});
