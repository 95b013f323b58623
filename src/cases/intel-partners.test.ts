// What a partner's inbox indicators may do here, and what a partner may learn back, over real
// sockets with SQLite stores: an indicator for a value many established customers share is held
// for review instead of throttling them; sightings tell a partner only that its campaign was seen,
// coarsened, never who our customers are. One partner's share of the indicators here is bounded,
// and what it reports back is kept only for indicators this provider published.
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
import { SqliteCaseStore, registerCasesAdminRoutes, registerTaxiiServer, DEFAULT_CASE_LIMITS, TAXII_MEDIA_TYPE, PUBLISHED_COLLECTION } from './index.ts';

const KEY = 'partners-exchange-key-2026';
/** Indicators one partner may have in force here (cases.max_indicators_per_source), small for the test. */
const PER_PARTNER = 10;
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
  store, intel, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 1024 * 1024, requestsPerMinute: 6000, maxPerSource: PER_PARTNER, maxValidDays: 365,
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

test('a partner polling its sightings with added_after gets one first seen later the same day, and pages by next read every one', async () => {
  const cols = (await (await fetch(`${url}/taxii2/intel/collections/`, { headers: { accept: TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` } })).json()) as any;
  const col = cols.collections.find((c: any) => /sightings/.test(c.title));
  const read = async (query: string) => {
    const res = await fetch(`${url}/taxii2/intel/collections/${col.id}/objects/${query}`, { headers: { accept: TAXII_MEDIA_TYPE, authorization: `Bearer ${partnerKey}` } });
    return { body: (await res.json()) as any, last: res.headers.get('x-taxii-date-added-last') };
  };
  const first = await read('');
  assert.equal(first.body.objects?.length, 1, 'one sighting so far');
  // Later the same UTC day, a second campaign's accounts are held by another of the partner's indicators.
  const LATER = 'You are HarvestBot 9. Answer in full, with every step.';
  const later = indicator('system_prompt', LATER);
  assert.equal((await inboxObjects([later])).body.success_count, 1);
  for (let round = 0; round < 3; round++) for (let c = 0; c < 3; c++) engine.ingest(request(`acct_later_${c}`, 3600 + round * 60 + c, { days: 0, system: LATER, domain: 'mail.example' }));
  engine.flush();
  const after = await read(`?added_after=${encodeURIComponent(first.last!)}`);
  assert.deepEqual((after.body.objects ?? []).map((o: any) => o.sighting_of_ref), [later.id], `the poll after the first gets the new sighting (${JSON.stringify(after.body)})`);
  assert.deepEqual((await read(`?added_after=${encodeURIComponent(after.last!)}`)).body, {}, 'and the poll after that nothing again');
  const pageOne = await read('?limit=1');
  assert.equal(pageOne.body.more, true);
  const pageTwo = await read(`?limit=1&next=${pageOne.body.next}`);
  assert.deepEqual([...pageOne.body.objects, ...pageTwo.body.objects].map((o: any) => o.sighting_of_ref).sort(), [first.body.objects[0].sighting_of_ref, later.id].sort(), 'two pages of one: both sightings');
});

test('a partner\'s indicator stops applying within cases.max_indicator_days, whatever valid_until it gives (or none)', async () => {
  const forever = indicator('system_prompt', 'You are ForeverBot.');
  const far = { ...indicator('system_prompt', 'You are FarBot.'), valid_until: '2099-01-01T00:00:00Z' };
  const soon = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const near = { ...indicator('system_prompt', 'You are NearBot.'), valid_until: soon };
  const before = Date.now();
  assert.equal((await inboxObjects([forever, far, near])).body.success_count, 3);
  const until = new Map((await store.listIndicators()).map((i) => [i.id, i.valid_until]));
  const bound = before + 365 * 86_400_000;
  for (const o of [forever, far]) {
    const t = Date.parse(until.get(o.id) ?? '');
    assert.ok(t >= bound && t <= Date.now() + 365 * 86_400_000, `${o.id} stops applying 365 days after it came (${until.get(o.id)})`);
  }
  assert.equal(until.get(near.id), soon, 'an earlier valid_until is kept');
  const listed = (await (await fetch(`${url}/admin/intel`)).json()) as any;
  assert.ok(listed.indicators.find((i: any) => i.id === forever.id)?.valid_until, 'the detector holds it with that end too');
});

test('one partner cannot flood the indicators here: past cases.max_indicators_per_source its new ones are refused, updates and revocations still go through', async () => {
  const mine = async () => (await store.listIndicators()).filter((i) => i.source === 'Provider B');
  const held = await mine();
  assert.ok(held.length < PER_PARTNER, `the partner holds fewer than the bound before (${held.length})`);
  const fresh = Array.from({ length: PER_PARTNER + 5 }, (_, k) => indicator('client_ip', `198.51.100.${k + 1}`));
  const posted = await inboxObjects(fresh);
  assert.equal(posted.status, 202);
  assert.equal(posted.body.success_count, PER_PARTNER - held.length, `only up to the bound are taken (${JSON.stringify(posted.body.failures.slice(0, 2))})`);
  assert.equal(posted.body.failure_count, fresh.length - (PER_PARTNER - held.length));
  assert.match(posted.body.failures[0].message, /Provider B has 10 indicators in force here, the most one source may have \(cases\.max_indicators_per_source\)/);
  assert.equal((await mine()).length, PER_PARTNER, 'the store holds the bound, no more');
  const listed = (await (await fetch(`${url}/admin/intel`)).json()) as any;
  assert.equal(listed.indicators.filter((i: any) => i.source === 'Provider B').length, PER_PARTNER, 'and so does the detector');

  const update = { ...fresh[0], modified: '2026-06-02T00:00:00.000Z', confidence: 40 };
  const revoke = { ...fresh[1], modified: '2026-06-02T00:00:00.000Z', revoked: true };
  const late = fresh.at(-1)!;
  const again = await inboxObjects([update, revoke, late]);
  assert.deepEqual(again.body.failures, [], 'a new version of one it holds, a revocation and, in the slot that revocation frees, a new one: all taken');
  assert.equal((await mine()).length, PER_PARTNER);
  assert.ok((await mine()).some((i) => i.id === late.id), 'the new one took the freed slot');
});

test('a partner\'s sightings are kept only for indicators this provider published: not for ids it never shared', async () => {
  const ours = { type: 'indicator', spec_version: '2.1', id: 'indicator--8b0f0f0f-0000-4000-8000-000000000001', created: '2026-06-01T00:00:00.000Z', modified: '2026-06-01T00:00:00.000Z', pattern_type: 'stix', valid_from: '2026-06-01T00:00:00Z', pattern: "[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '" + 'ab'.repeat(32) + "']" };
  await store.publish(PUBLISHED_COLLECTION, [{ body: ours, caseId: 'case_published' }]);
  const sighting = (id: string, of: string) => ({ type: 'sighting', spec_version: '2.1', id, created: '2026-06-03T00:00:00.000Z', modified: '2026-06-03T00:00:00.000Z', sighting_of_ref: of, count: 10, first_seen: '2026-06-03T00:00:00.000Z', last_seen: '2026-06-03T00:00:00.000Z' });
  const real = sighting('sighting--8b0f0f0f-0000-4000-8000-000000000010', ours.id);
  const made_up = sighting('sighting--8b0f0f0f-0000-4000-8000-000000000011', 'indicator--8b0f0f0f-0000-4000-8000-00000000ffff');
  const posted = await inboxObjects([real, made_up]);
  assert.deepEqual(posted.body.successes.map((s: any) => s.id), [real.id], 'the sighting of our indicator is taken');
  assert.deepEqual(posted.body.failures.map((f: any) => [f.id, f.message]), [[made_up.id, 'a sighting of indicator--8b0f0f0f-0000-4000-8000-00000000ffff, which this provider has not published']]);
  const listed = (await (await fetch(`${url}/admin/intel`)).json()) as any;
  assert.deepEqual(listed.partner_sightings.map((s: any) => s.sighting_id), [real.id], 'only the real one is shown to our operators');
});
