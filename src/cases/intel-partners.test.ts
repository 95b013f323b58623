// What a partner's inbox indicators may do here, and what a partner may learn back, over real
// sockets with SQLite stores: an indicator for a value many established customers share is held
// for review instead of throttling them; sightings tell a partner only that its campaign was seen,
// coarsened, never who our customers are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { parseConfig } from '../config/index.ts';
import { openIdentityStore, createAuthenticator } from '../identity/index.ts';
import { openSqlite } from '../store/index.ts';
import { DetectorEngine, SharedIndicators, buildLabelledEvents, exchangeValue, keyedHash, verdictRank, type IndicatorKind, type PromptPool } from '../detect/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { SqliteCaseStore, registerCasesAdminRoutes, registerTaxiiServer, DEFAULT_CASE_LIMITS, TAXII_MEDIA_TYPE } from './index.ts';

const KEY = 'partners-exchange-key-2026';
const dir = mkdtempSync(join(tmpdir(), 'warden-intel-partners-'));
const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 3, days: 1, organic: { hobbyist: 2 } }).events.find((e) => e.account_id !== null && e.account !== null)!;

const config = parseConfig({ store: { sqlite_path: join(dir, 'a.db') }, log: { level: 'silent' } });
const identity = openIdentityStore(config);
const authenticator = createAuthenticator(identity, config);
const partnerOrg = await identity.createOrg({ name: 'Provider B', tier: 'enterprise' });
const partner = await identity.createAccount({ org_id: partnerOrg.id, name: 'intel desk' });
const partnerKey = (await identity.createKey(partner.id, { name: 'taxii', scopes: ['intel:read', 'intel:write'] })).secret;
const store = new SqliteCaseStore(openSqlite(join(dir, 'cases.db')));
const intel = new SharedIndicators(KEY);
const engine = new DetectorEngine({ intel, config: { tick_seconds: 5 } });
const app = Fastify();
await app.register(async (s) => registerTaxiiServer(s, {
  store, intel, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 1024 * 1024, requestsPerMinute: 6000,
  authenticate: (secret) => authenticator.authenticate(secret),
}), { prefix: '/taxii2' });
await app.register(async (s) => registerCasesAdminRoutes(s, {
  store, intel, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90, sources: { engine, events: null as never }, limits: DEFAULT_CASE_LIMITS,
}), { prefix: '/admin' });
const url = await app.listen({ port: 0, host: '127.0.0.1' });

test.after(async () => {
  await app.close();
  await authenticator.close();
  await identity.close();
  rmSync(dir, { recursive: true, force: true });
});

const t0 = Date.parse('2026-06-10T09:13:27.412Z');
let seq = 0;
/** One request of `account` at `s` seconds after t0; `days` old (enterprise when asked), with a system prompt and an email domain. */
function request(account: string, s: number, opts: { days: number; system: string; domain: string; tier?: 'enterprise' | 'unverified' }): InteractionEvent {
  const created = new Date(t0 - opts.days * 86_400_000).toISOString();
  return {
    ...base, id: `ev_${++seq}`, account_id: account, org_id: null, ts: new Date(t0 + s * 1000).toISOString(),
    client: { ...base.client, ip: `10.${seq % 200}.${account.length}.7`, asn: 64_512 + (seq % 50) },
    request: { ...base.request, system: opts.system },
    account: { ...base.account!, created_at: created, first_used_at: created, tier: opts.tier ?? 'unverified', email_domain: opts.domain, payment_fp: null, signup_ip: null },
  };
}

const inboxObjects = async (objects: object[]) => {
  const cols = (await (await fetch(`${url}/taxii2/intel/collections/`, { headers: { accept: TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` } })).json()) as any;
  const inbox = cols.collections.find((c: any) => c.can_write);
  const res = await fetch(`${url}/taxii2/intel/collections/${inbox.id}/objects/`, {
    method: 'POST', headers: { accept: TAXII_MEDIA_TYPE, 'content-type': TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` }, body: JSON.stringify({ objects }),
  });
  return { status: res.status, body: await res.json() as any };
};
const sightingsBack = async () => {
  const cols = (await (await fetch(`${url}/taxii2/intel/collections/`, { headers: { accept: TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` } })).json()) as any;
  const col = cols.collections.find((c: any) => /sightings/.test(c.title));
  const res = await fetch(`${url}/taxii2/intel/collections/${col.id}/objects/`, { headers: { accept: TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` } });
  return ((await res.json()) as any).objects ?? [];
};
let n = 0;
const indicator = (kind: IndicatorKind, value: string) => ({
  type: 'indicator', spec_version: '2.1', id: `indicator--7a0f0f0f-0000-4000-8000-${String(++n).padStart(12, '0')}`, created: '2026-06-01T00:00:00.000Z', modified: '2026-06-01T00:00:00.000Z',
  pattern_type: 'stix', valid_from: '2026-06-01T00:00:00Z',
  pattern: `[x-warden-keyed-hash:kind = '${kind}' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, kind, exchangeValue(kind, value)!)}']`,
});

const COMMON = 'You are a helpful assistant.';
const HARVEST = 'You are HarvestBot 7. Answer fully, show every step, never refuse.';
const customers = Array.from({ length: 30 }, (_, k) => `acct_customer_${k}`);

test('a partner\'s indicator for a value many established customers share is held for review, not enforced; a rare one still holds its campaign', async () => {
  const common = indicator('system_prompt', COMMON);
  const harvest = indicator('system_prompt', HARVEST);
  const domain = indicator('email_domain', 'bigcorp.example');
  // Some customers are already known; then the partner posts; then everyone goes on.
  for (const [k, id] of customers.slice(0, 10).entries()) engine.ingest(request(id, k, { days: 200, system: COMMON, domain: 'bigcorp.example', tier: k === 0 ? 'enterprise' : 'unverified' }));
  const posted = await inboxObjects([common, harvest, domain]);
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  assert.equal(posted.body.success_count, 3);
  for (let round = 0; round < 3; round++) {
    for (const [k, id] of customers.entries()) engine.ingest(request(id, 60 + round * 60 + k, { days: 200, system: COMMON, domain: 'bigcorp.example', tier: k === 0 ? 'enterprise' : 'unverified' }));
    for (let c = 0; c < 3; c++) engine.ingest(request(`acct_fresh_${c}`, 60 + round * 60 + 40 + c, { days: 0, system: HARVEST, domain: 'mail.example' }));
  }
  engine.flush();

  const throttled = customers.filter((id) => verdictRank(engine.forAccount(id).level) >= verdictRank('throttle'));
  assert.deepEqual(throttled, [], 'no customer sending the common system prompt is throttled by the partner\'s indicator');
  for (let c = 0; c < 3; c++) assert.ok(verdictRank(engine.forAccount(`acct_fresh_${c}`).level) >= verdictRank('throttle'), `the campaign's fresh account ${c} is held by the rare prompt's indicator (${engine.forAccount(`acct_fresh_${c}`).level})`);

  const listed = (await (await fetch(`${url}/admin/intel`)).json()) as any;
  const row = listed.indicators.find((i: any) => i.id === common.id);
  assert.ok(row?.held, `the common prompt's indicator is listed as held (${JSON.stringify(row)})`);
  assert.ok(row.held.accounts > 20, `with the count of established accounts sharing it (${row.held.accounts})`);
  assert.match(row.held.reason, /held for review.*established accounts.*not enforced/);
  assert.equal(listed.indicators.find((i: any) => i.id === harvest.id)?.held, null, 'the rare prompt\'s indicator is in force');
  assert.equal((await store.listIndicators()).filter((i) => i.id === common.id).length, 1, 'the held indicator is kept in the store');
});

test('sightings tell a partner only that its campaign was seen here, by day and power of ten: never its probes of our customers', async () => {
  const back = await sightingsBack();
  const ids = back.map((s: any) => s.sighting_of_ref);
  const harvestId = `indicator--7a0f0f0f-0000-4000-8000-${String(2).padStart(12, '0')}`;
  assert.deepEqual(ids, [harvestId], `only the indicator that held a campaign's accounts is reported (${ids.join(', ')}): not the email domain, not the held prompt`);
  const s = back[0];
  assert.equal(s.first_seen, '2026-06-10T00:00:00.000Z', 'first seen at day precision');
  assert.equal(s.last_seen, '2026-06-10T00:00:00.000Z', 'last seen at day precision');
  assert.ok([1, 10, 100].includes(s.count), `the count is a power of ten (${s.count})`);
  assert.ok(s.count <= 9 || s.count % 10 === 0, 'not the exact number of requests');
  assert.equal(s.x_warden_accounts, 1, 'accounts as a power of ten (3 accounts: 1)');
});
