// TAXII 2.1 between two providers over real sockets: A publishes a case, B polls A's collection
// with the key A issued it and holds the campaign's accounts from their first request; A's later
// revocations reach B the same way. B can also push its own indicators into A's inbox. Every
// refusal is a TAXII error message with the status the specification names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { parseConfig } from '../config/index.ts';
import { openIdentityStore, createAuthenticator } from '../identity/index.ts';
import { openSqlite } from '../store/index.ts';
import { DetectorEngine, SharedIndicators, exchangeValue, keyedHash, verdictRank } from '../detect/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { FeedPoller, IntelSigner, MemoryCaseStore, SqliteCaseStore, registerCasesAdminRoutes, registerTaxiiServer, stixId, DEFAULT_CASE_LIMITS, TAXII_MEDIA_TYPE, PUBLISHED_COLLECTION, type FeedSpec, type PublishedObject } from './index.ts';
import { campaignFixture, firstRequestsAtProviderB } from '../../test/helpers/case-campaign.ts';

const { scenario, campaignAccounts, KEY_A: KEY, dir, engine, events, campaign, built } = await campaignFixture();

// Provider A: its identity store (the partner's keys), its cases, the TAXII server and its admin routes.
const config = parseConfig({ store: { sqlite_path: join(dir, 'a.db') }, log: { level: 'silent' } });
const identity = openIdentityStore(config);
const authenticator = createAuthenticator(identity, config);
const partnerOrg = await identity.createOrg({ name: 'Provider B', tier: 'enterprise' });
const partner = await identity.createAccount({ org_id: partnerOrg.id, name: 'intel desk' });
const readKey = (await identity.createKey(partner.id, { name: 'taxii read', scopes: ['intel:read'] })).secret;
const writeKey = (await identity.createKey(partner.id, { name: 'taxii write', scopes: ['intel:write'] })).secret;
const inferenceKey = (await identity.createKey(partner.id, { name: 'chat', scopes: ['inference'] })).secret;
const storeA = new SqliteCaseStore(openSqlite(join(dir, 'a-cases.db')));
// A signs what it serves; B's feed of A pins A's public key.
const signerA = IntelSigner.generate();
const intelA = new SharedIndicators(KEY);
await storeA.putCase(built);
const app = Fastify();
await app.register(async (s) => registerTaxiiServer(s, {
  store: storeA, intel: intelA, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 64 * 1024, requestsPerMinute: 6000,
  authenticate: (secret) => authenticator.authenticate(secret), signer: signerA,
}), { prefix: '/taxii2' });
await app.register(async (s) => registerCasesAdminRoutes(s, {
  store: storeA, intel: intelA, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90, sources: { engine, events }, limits: DEFAULT_CASE_LIMITS,
}), { prefix: '/admin' });
const base = await app.listen({ port: 0, host: '127.0.0.1' });

test.after(async () => {
  await app.close();
  await authenticator.close();
  await identity.close();
  await events.close();
  rmSync(dir, { recursive: true, force: true });
});

const basic = (secret: string) => `Basic ${Buffer.from(`provider-b:${secret}`).toString('base64')}`;
async function taxii(path: string, opts: { auth?: string; accept?: string; method?: string; body?: string; type?: string } = {}) {
  const headers: Record<string, string> = { accept: opts.accept ?? TAXII_MEDIA_TYPE };
  if (opts.auth) headers.authorization = opts.auth;
  if (opts.type) headers['content-type'] = opts.type;
  const res = await fetch(`${base}/taxii2${path}`, { method: opts.method ?? 'GET', headers, body: opts.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}/admin${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() as any };
};

test('partners are let in by their key\'s scopes, and told why not in TAXII error messages', async () => {
  const none = await taxii('/');
  assert.equal(none.status, 401);
  assert.match(none.headers.get('content-type')!, /^application\/taxii\+json;\s*version=2\.1/);
  assert.match(none.headers.get('www-authenticate')!, /Basic/);
  assert.equal(none.body.http_status, '401');
  assert.match(none.body.description, /partner API key/);
  assert.equal((await taxii('/', { auth: 'Bearer wk_not_a_key' })).status, 401);
  const chat = await taxii('/', { auth: `Bearer ${inferenceKey}` });
  assert.equal(chat.status, 403);
  assert.match(chat.body.description, /intel:read/);
  assert.equal((await taxii('/', { auth: basic(readKey), accept: 'text/html' })).status, 406);
  assert.equal((await taxii('/', { auth: basic(readKey), accept: 'application/taxii+json;version=2.0' })).status, 406);
  assert.equal((await taxii('/', { auth: basic(readKey), accept: 'application/taxii+json; version="2.1"' })).status, 200, 'a quoted version is the same version (HTTP media type parameters)');
  assert.equal((await taxii('/', { auth: basic(readKey), accept: 'application/taxii+json; version="2.0"' })).status, 406);

  const discovery = await taxii('/', { auth: basic(readKey) });
  assert.equal(discovery.status, 200);
  assert.deepEqual(discovery.body.api_roots, [`${base}/taxii2/intel/`]);
  const root = await taxii('/intel/', { auth: basic(readKey) });
  assert.deepEqual(root.body.versions, [TAXII_MEDIA_TYPE]);
  assert.equal(root.body.max_content_length, 64 * 1024);
  // A read key sees the published collection and its sightings; a write key the inbox only.
  const readCols = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections;
  assert.deepEqual(readCols.map((c: any) => [c.title.split(': ')[1], c.can_read, c.can_write]), [['distillation campaign indicators', true, false], ['sightings of your indicators', true, false]]);
  const writeCols = (await taxii('/intel/collections', { auth: `Bearer ${writeKey}` })).body.collections;
  assert.deepEqual(writeCols.map((c: any) => [c.can_read, c.can_write]), [[false, true]]);
  assert.equal((await taxii(`/intel/collections/${writeCols[0].id}/objects/`, { auth: basic(readKey) })).status, 404, 'a collection the key may not use is not there');
  assert.equal((await taxii(`/intel/collections/${writeCols[0].id}/objects/`, { auth: `Bearer ${writeKey}` })).status, 403);
  const missing = await taxii('/intel/nothing-here/', { auth: basic(readKey) });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.title, 'Not Found');
  assert.equal((await taxii(`/intel/collections/${readCols[0].id}/objects/?added_after=yesterday`, { auth: basic(readKey) })).status, 400);
  assert.equal((await taxii(`/intel/collections/${readCols[0].id}/objects/?limit=0`, { auth: basic(readKey) })).status, 400);
  assert.deepEqual((await taxii(`/intel/collections/${readCols[0].id}/objects/`, { auth: basic(readKey) })).body, {}, 'nothing published yet: an empty envelope');
});

test('B polls A\'s collection: the campaign\'s accounts are held at B from their first request, and A\'s revocations reach B', async () => {
  const collection = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections[0];
  const storeB = new MemoryCaseStore();
  const intelB = new SharedIndicators(KEY);
  const said: string[] = [];
  const feed: FeedSpec = { name: 'Provider A', url: `${base}/taxii2/intel/collections/${collection.id}/`, token: readKey, username: 'provider-b', level: 'throttle', everyMs: 60_000, timeoutMs: 5_000, publicKey: signerA.publicKey };
  const poller = new FeedPoller({ store: storeB, intel: intelB, sharingKey: KEY }, [feed], (l) => said.push(l));

  const published = await admin('POST', `/cases/${built.id}/publish`);
  assert.equal(published.status, 201, JSON.stringify(published.body));
  const shareable = built.observables.filter((o) => o.shareable).length;
  assert.deepEqual(published.body, { versions: 2 + 2 * shareable, indicators: shareable, revoked: 0, kept: 0 });
  assert.match((await storeA.getCase(built.id))!.notes.at(-1)!.text, new RegExp(`published to partners: ${shareable} indicators`));

  const first = await poller.pull('Provider A')!;
  assert.equal(first.last_error, null, first.last_error!);
  assert.equal(first.imported, shareable);
  assert.ok(first.cursor && /\.\d{6}Z$/.test(first.cursor), 'the cursor is the server\'s microsecond timestamp');
  assert.ok(intelB.list().every((i) => i.source === 'Provider A' && i.level === 'throttle'));
  assert.deepEqual((await storeB.listIndicators()).map((i) => i.id).sort(), intelB.list().map((i) => i.id).sort(), 'stored as well as matched');

  // Provider B sees each account's first request only.
  const { engine: b, firsts } = firstRequestsAtProviderB(scenario.events, intelB);
  const held = [...firsts.keys()].filter((id) => campaignAccounts.has(id.slice(2)) && verdictRank(b.forAccount(id).level) >= verdictRank('throttle'));
  assert.equal(held.length, campaign.members.length);
  assert.deepEqual([...firsts.keys()].filter((id) => !campaignAccounts.has(id.slice(2)) && b.forAccount(id).level !== 'none'), []);

  // Nothing new: nothing taken in again. Paging by `next` walks the whole collection once.
  assert.equal((await poller.pull('Provider A'))!.imported, shareable);
  // An operator removed the partner's indicators: a poll takes in only what is new, one from the start all again.
  intelB.remove(await storeB.removeIndicators({ source: 'Provider A' }));
  assert.equal((await poller.pull('Provider A'))!.imported, shareable, 'after the cursor: nothing new, nothing taken in');
  assert.equal(intelB.list().length, 0, 'the removed indicators stay removed');
  const reread = (await poller.pull('Provider A', { fromStart: true }))!;
  assert.equal(reread.imported, 2 * shareable, `from the start: the whole collection read again (${reread.imported})`);
  assert.equal(intelB.list().length, shareable, 'every indicator in force again');
  assert.equal(reread.cursor, first.cursor, 'and the cursor where it was');
  const objectsPath = `/intel/collections/${collection.id}/objects/`;
  const seen: string[] = [];
  let next: string | undefined;
  let pages = 0;
  do {
    const page = await taxii(`${objectsPath}?limit=3${next ? `&next=${next}` : ''}`, { auth: basic(readKey) });
    assert.equal(page.status, 200);
    assert.ok(page.headers.get('x-taxii-date-added-first') && page.headers.get('x-taxii-date-added-last'));
    seen.push(...page.body.objects.map((o: any) => o.id));
    next = page.body.more ? page.body.next : undefined;
    pages++;
  } while (next);
  assert.equal(pages, Math.ceil((2 + 2 * shareable) / 3));
  assert.equal(new Set(seen).size, 2 + 2 * shareable, 'every object once');
  const manifest = (await taxii(`/intel/collections/${collection.id}/manifest/?match[type]=indicator`, { auth: basic(readKey) })).body;
  assert.equal(manifest.objects.length, shareable);
  assert.ok(manifest.objects.every((m: any) => m.media_type === 'application/stix+json;version=2.1' && /\.\d{6}Z$/.test(m.date_added)));
  // A filter given twice reads as the comma-separated list TAXII writes (before: a 500).
  const twice = await taxii(`/intel/collections/${collection.id}/manifest/?match[type]=indicator&match[type]=campaign&match[version]=last&match[version]=all&match[spec_version]=2.1&match[spec_version]=2.0`, { auth: basic(readKey) });
  assert.equal(twice.status, 200, JSON.stringify(twice.body));
  assert.equal(twice.body.objects.length, shareable + 1, 'the indicators and the campaign');
  const byId = await taxii(`${objectsPath}?match[id]=${manifest.objects[0].id}&match[id]=${manifest.objects[1]?.id ?? manifest.objects[0].id}`, { auth: basic(readKey) });
  assert.equal(byId.status, 200, JSON.stringify(byId.body));
  assert.equal((await taxii(`${objectsPath}?limit=1&limit=2`, { auth: basic(readKey) })).status, 400, 'two limits are no limit');

  // B reports back that one of A's indicators matched at B; A's case shows it beside what it published.
  const reportedId = manifest.objects[0].id as string;
  const report = await admin('POST', '/intel/import?source=Provider%20B', { type: 'bundle', id: 'bundle--5e0f0f0f-0000-4000-8000-0000000000aa', objects: [
    { type: 'sighting', spec_version: '2.1', id: 'sighting--5e0f0f0f-0000-4000-8000-0000000000ab', sighting_of_ref: reportedId, count: 9, x_warden_accounts: 3, first_seen: '2026-03-05T00:00:00Z', last_seen: '2026-03-06T00:00:00Z' },
  ] });
  assert.equal(report.status, 201);
  const exchanged = (await admin('GET', `/cases/${built.id}/exchange`)).body;
  assert.equal(exchanged.published.length, shareable);
  assert.ok(exchanged.published.every((p: any) => !p.revoked && p.kind));
  assert.deepEqual(exchanged.partner_sightings.map((p: any) => [p.source, p.indicator_id, p.count, p.accounts]), [['Provider B', reportedId, 9, 3]]);
  assert.equal((await admin('GET', '/cases/case_missing/exchange')).status, 404);
  const md = await (await fetch(`${base}/admin/cases/${built.id}/report`)).text();
  assert.match(md, new RegExp(`## Shared with partners\\n\\n${shareable} indicators in force in the TAXII collection partners poll, 0 revoked\\.`));
  assert.match(md, /Partners report seeing them:[\s\S]*\| `Provider B` \| \w+ \| 9 \| 3 \|/);

  // A's refresh leaves one value no longer shareable: republishing revokes it; B removes it.
  const gone = built.observables.find((o) => o.shareable)!;
  const changed = { ...built, observables: built.observables.map((o) => (o === gone ? { ...o, shareable: false, why: 'now used by others' } : o)) };
  await storeA.putCase(changed);
  const again = await admin('POST', `/cases/${built.id}/publish?valid_days=30`);
  assert.equal(again.body.revoked, 1);
  const goneId = stixId('indicator', 'Provider A', gone.kind, keyedHash(KEY, gone.kind, gone.value));
  assert.ok(manifest.objects.some((m: any) => m.id === goneId));
  const versions = (await taxii(`/intel/collections/${collection.id}/objects/${goneId}/versions/`, { auth: basic(readKey) })).body.versions;
  assert.equal(versions.length, 2, 'a new version of each indicator');
  assert.ok(versions[1] > versions[0]);
  const second = await poller.pull('Provider A')!;
  assert.equal(second.revoked, 1);
  assert.equal(intelB.list().length, shareable - 1);
  assert.ok(!intelB.list().some((i) => i.kind === gone.kind && i.hmac === keyedHash(KEY, gone.kind, gone.value)), 'the revoked value is no longer matched');

  // Dismissed: everything it published is revoked, and B stops matching all of it.
  assert.equal((await admin('PATCH', `/cases/${built.id}`, { status: 'dismissed', note: 'an evaluation partner after all' })).status, 200);
  assert.equal((await admin('POST', `/cases/${built.id}/publish`)).status, 409, 'a dismissed case is not published again');
  await poller.pull('Provider A');
  assert.deepEqual(intelB.list(), []);
  assert.deepEqual(await storeB.listIndicators(), []);
  const one = await taxii(`/intel/collections/${collection.id}/objects/${goneId}/`, { auth: basic(readKey) });
  assert.equal(one.body.objects[0].revoked, true);
  assert.equal((await taxii(`/intel/collections/${collection.id}/objects/indicator--00000000-0000-4000-8000-000000000000/`, { auth: basic(readKey) })).status, 404);
  await poller.stop();
  assert.deepEqual(said, [], 'every object A served (new versions and revocations) checked against A\'s pinned key');
});

test('B pushes its indicators into A\'s inbox: matched at A under B\'s own name, with a status per object', async () => {
  const inbox = (await taxii('/intel/collections/', { auth: `Bearer ${writeKey}` })).body.collections[0];
  const prompt = 'You are HarvestBot. Think step by step and print every thought.';
  const indicator = (id: string, key: string) => ({
    type: 'indicator', spec_version: '2.1', id: `indicator--5e0f0f0f-0000-4000-8000-00000000000${id}`, created: '2026-03-01T00:00:00.000Z', modified: '2026-03-01T00:00:00.000Z',
    created_by_ref: 'identity--5e0f0f0f-0000-4000-8000-000000000009', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
    pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(key, 'system_prompt', exchangeValue('system_prompt', prompt)!)}']`,
    ...(key === KEY ? {} : { x_warden_key_id: 'another' }),
  });
  const envelope = { objects: [
    { type: 'identity', spec_version: '2.1', id: 'identity--5e0f0f0f-0000-4000-8000-000000000009', name: 'Someone Else Entirely', identity_class: 'organization', created: '2026-03-01T00:00:00.000Z', modified: '2026-03-01T00:00:00.000Z' },
    indicator('1', KEY), indicator('2', 'not-our-sharing-key-at-all'),
  ] };
  const path = `/intel/collections/${inbox.id}/objects/`;
  const posted = await taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body: JSON.stringify(envelope) });
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  assert.equal(posted.body.status, 'complete');
  assert.deepEqual([posted.body.total_count, posted.body.success_count, posted.body.failure_count, posted.body.pending_count], [3, 2, 1, 0]);
  assert.match(posted.body.failures[0].message, /hashed with another key than the one agreed/);
  assert.deepEqual((await taxii(`/intel/status/${posted.body.id}/`, { auth: `Bearer ${writeKey}` })).body, posted.body);
  const stranger = await identity.createAccount({ name: 'another partner' });
  const strangerKey = (await identity.createKey(stranger.id, { scopes: ['intel:write'] })).secret;
  assert.equal((await taxii(`/intel/status/${posted.body.id}/`, { auth: `Bearer ${strangerKey}` })).status, 404, 'no partner reads another\'s status');
  // Nor revokes or replaces what another partner shared.
  // Each of these posts takes nothing in: a 422 whose details carry the status.
  const hostile = async (object: object) => {
    const r = await taxii(path, { auth: `Bearer ${strangerKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body: JSON.stringify({ objects: [object] }) });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    return r.body.details.status;
  };
  const revoking = await hostile({ ...envelope.objects[1], revoked: true, modified: '2026-03-02T00:00:00.000Z' });
  assert.deepEqual([revoking.success_count, revoking.failures[0]?.message], [0, 'Provider B shared this indicator; another partner cannot revoke it']);
  const replacing = await hostile({ ...indicator('1', KEY), modified: '2026-03-03T00:00:00.000Z', pattern: `[x-warden-keyed-hash:kind = 'user_agent' AND x-warden-keyed-hash:hmac = '${'ab'.repeat(32)}']` });
  assert.deepEqual([replacing.success_count, replacing.failures[0]?.message], [0, 'Provider B shared an indicator with this id; another partner cannot replace it']);
  assert.equal(intelA.list().find((i) => i.id === envelope.objects[1].id)?.kind, 'system_prompt', 'still Provider B\'s, still matched');
  const held = intelA.list().find((i) => i.id === envelope.objects[1].id)!;
  assert.equal(held.source, 'Provider B', 'the partner is who its key says, not what its objects claim');
  assert.equal((await storeA.listIndicators()).filter((i) => i.source === 'Provider B').length, 1);

  // A's detector matches B's indicator; B reads the sighting back from A's sightings collection, and
  // takes it in as a feed would: B learns that its indicator matched at A. Another partner sees none.
  const a = new DetectorEngine({ intel: intelA });
  const seenAt = '2026-03-02T10:00:00.000Z';
  a.ingest({ ...scenario.events[0], id: 'evt_seen', account_id: 'acct_at_a', ts: seenAt, request: { ...scenario.events[0].request, system: prompt } } as InteractionEvent);
  a.flush();
  const sightingsCol0 = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections[1];
  assert.deepEqual((await taxii(`/intel/collections/${sightingsCol0.id}/objects/`, { auth: basic(readKey) })).body, {},
    'the first match, before the account is held, is not reported: partners hear of accounts held here');
  const heldAt = '2026-03-02T10:05:00.000Z';
  a.ingest({ ...scenario.events[0], id: 'evt_seen_held', account_id: 'acct_at_a', ts: heldAt, request: { ...scenario.events[0].request, system: prompt } } as InteractionEvent);
  a.flush();
  const sightingsCol = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections[1];
  const back = await taxii(`/intel/collections/${sightingsCol.id}/objects/`, { auth: basic(readKey) });
  assert.equal(back.body.objects.length, 1);
  assert.deepEqual([back.body.objects[0].type, back.body.objects[0].sighting_of_ref, back.body.objects[0].count, back.body.objects[0].x_warden_accounts], ['sighting', held.id, 1, 1]);
  // Times are told by the day only.
  const day = '2026-03-02T00:00:00.000Z';
  const addedLast = back.headers.get('x-taxii-date-added-last')!;
  assert.match(addedLast, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'date_added: when the sighting was added as it reads, in microseconds');
  assert.deepEqual((await taxii(`/intel/collections/${sightingsCol.id}/objects/?added_after=${addedLast}`, { auth: basic(readKey) })).body, {}, 'nothing newer');
  // Each report a version of one sighting: created when first seen, every time; modified when last seen.
  assert.deepEqual([back.body.objects[0].created, back.body.objects[0].modified, back.body.objects[0].first_seen], [day, day, day]);
  const laterAt = '2026-03-02T11:30:00.000Z';
  a.ingest({ ...scenario.events[0], id: 'evt_seen_again', account_id: 'acct_at_a', ts: laterAt, request: { ...scenario.events[0].request, system: prompt } } as InteractionEvent);
  a.flush();
  await new Promise((r) => setTimeout(r, 5));
  const again = (await taxii(`/intel/collections/${sightingsCol.id}/objects/`, { auth: basic(readKey) })).body.objects[0];
  assert.deepEqual([again.id, again.created, again.modified, again.count], [back.body.objects[0].id, day, day, 1], 'two requests: told as "1" (a power of ten)');
  const strangerRead = (await identity.createKey((await identity.createAccount({ name: 'a third provider' })).id, { scopes: ['intel:read'] })).secret;
  assert.deepEqual((await taxii(`/intel/collections/${sightingsCol.id}/objects/`, { auth: `Bearer ${strangerRead}` })).body, {}, 'no partner sees another\'s sightings');
  const storeB = new MemoryCaseStore();
  // B published the indicator it pushed (sightings are kept only of indicators one published).
  await storeB.publish(PUBLISHED_COLLECTION, [{ body: envelope.objects[1] as PublishedObject['body'], caseId: 'case_at_b' }]);
  const poller = new FeedPoller({ store: storeB, intel: new SharedIndicators(KEY), sharingKey: KEY }, [{ name: 'Provider A sightings', url: `${base}/taxii2/intel/collections/${sightingsCol.id}/`, token: readKey, level: 'throttle', everyMs: 60_000, timeoutMs: 5_000 }], () => {});
  assert.equal((await poller.pull('Provider A sightings'))!.last_error, null);
  const reported = await storeB.listRecords<{ source: string; indicator_id: string; count: number; accounts: number; last_seen: string }>('partner-sighting');
  assert.deepEqual(reported.map((r) => [r.source, r.indicator_id, r.count, r.accounts, r.last_seen]), [['Provider A sightings', held.id, 1, 1, day]]);

  assert.equal((await taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: 'application/json', body: JSON.stringify(envelope) })).status, 415);
  const notJson = await taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body: '{"objects": [' });
  assert.equal(notJson.status, 400);
  assert.match(notJson.body.description, /not valid JSON/);
  assert.equal((await taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body: '{"type": "bundle"}' })).status, 400);
  const big = await taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body: JSON.stringify({ objects: [{ pad: 'x'.repeat(70 * 1024) }] }) });
  assert.equal(big.status, 413);
  assert.equal(big.body.http_status, '413');
  assert.equal((await taxii(path, { auth: basic(readKey), method: 'POST', type: TAXII_MEDIA_TYPE, body: JSON.stringify(envelope) })).status, 404, 'a read key has no inbox');
  assert.equal((await taxii(path, { method: 'POST', type: TAXII_MEDIA_TYPE, body: JSON.stringify(envelope) })).status, 401);
});

test('a feed that fails says why: a refused key, an unreachable server', async () => {
  const collection = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections[0];
  const said: string[] = [];
  const store = new MemoryCaseStore();
  const changes: string[] = [];
  const spec = (name: string, url: string, token: string | null): FeedSpec => ({ name, url, token, level: 'throttle', everyMs: 60_000, timeoutMs: 2_000 });
  const poller = new FeedPoller({ store, intel: new SharedIndicators(KEY), sharingKey: KEY }, [
    spec('refused', `${base}/taxii2/intel/collections/${collection.id}/`, inferenceKey),
    spec('down', 'http://127.0.0.1:9/taxii2/intel/collections/x/', readKey),
    spec('no token', `${base}/taxii2/intel/collections/${collection.id}/`, null),
  ], (l) => said.push(l), (state, wasFailing) => changes.push(`${state.name}: ${wasFailing ? 'failing' : 'ok'} -> ${state.last_error ? 'failing' : 'ok'}`));
  const refused = await poller.pull('refused')!;
  assert.match(refused.last_error!, /answered 403: Forbidden: this API key has neither/);
  assert.match((await poller.pull('down'))!.last_error!, /fetch failed|ECONNREFUSED/);
  assert.match((await poller.pull('no token'))!.last_error!, /no token/);
  assert.equal(poller.pull('unknown'), null);
  assert.equal(said.length, 3);
  await poller.pull('refused');
  assert.deepEqual(changes, ['refused: ok -> failing', 'down: ok -> failing', 'no token: ok -> failing', 'refused: failing -> failing'], 'each poll says whether the one before failed (notifications go out on a change only)');
  assert.ok(!said.join('\n').includes(readKey) && !said.join('\n').includes(inferenceKey), 'keys are never printed');
  assert.deepEqual((await poller.states()).map((s) => [s.name, s.polls, !!s.last_error]), [['refused', 2, true], ['down', 1, true], ['no token', 1, true]]);
  assert.deepEqual((await store.getRecord<{ polls: number }>('feed', 'refused'))!.polls, 2, 'the state is stored');
});

test('a feed\'s error answer reaches the log and its state on one line, without control characters', async () => {
  const bad = Fastify();
  bad.get('/*', async (_req, reply) => reply.code(500).type('text/plain').send('bad gateway\nwarden: admin token rotated, new token: x\r\u001b[2Kdone'));
  const at = await bad.listen({ port: 0, host: '127.0.0.1' });
  try {
    const said: string[] = [];
    const poller = new FeedPoller({ store: new MemoryCaseStore(), intel: new SharedIndicators(KEY), sharingKey: KEY },
      [{ name: 'partner', url: `${at}/taxii/collections/x/`, token: 'tok', level: 'throttle', everyMs: 60_000, timeoutMs: 2_000 }], (l) => said.push(l));
    const state = (await poller.pull('partner'))!;
    assert.ok(!/[\u0000-\u001f\u007f]/.test(state.last_error!), `no line break or escape in the error: ${JSON.stringify(state.last_error)}`);
    assert.match(state.last_error!, /answered 500: bad gateway warden: admin token rotated, new token: x \[2Kdone$/);
    assert.ok(said.every((l) => !/[\u0000-\u001f\u007f]/.test(l)), `one log line each: ${JSON.stringify(said)}`);
  } finally { await bad.close(); }
});

test('a partner\'s key is held to its request rate: 429 with Retry-After, other keys unaffected', async () => {
  const slow = Fastify();
  await slow.register(async (s) => registerTaxiiServer(s, {
    store: storeA, intel: intelA, sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 1024, requestsPerMinute: 4,
    authenticate: (secret) => authenticator.authenticate(secret),
  }), { prefix: '/taxii2' });
  const at = await slow.listen({ port: 0, host: '127.0.0.1' });
  try {
    const get = (key: string) => fetch(`${at}/taxii2/`, { headers: { authorization: `Bearer ${key}`, accept: TAXII_MEDIA_TYPE } });
    assert.deepEqual([(await get(readKey)).status, (await get(readKey)).status], [200, 200], 'a burst of half the minute\'s requests');
    const third = await get(readKey);
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
    assert.match(((await third.json()) as any).description, /4 requests a minute/);
    assert.equal((await get(writeKey)).status, 200, 'another key has its own allowance');
  } finally { await slow.close(); }
});

test('a feed whose state cannot be stored says so and keeps its schedule (the process stays up)', async () => {
  class BrokenStore extends MemoryCaseStore {
    override async getRecord<T>(): Promise<T | null> { throw new Error('the database is down'); }
  }
  const said: string[] = [];
  const poller = new FeedPoller({ store: new BrokenStore(), intel: new SharedIndicators(KEY), sharingKey: KEY },
    [{ name: 'A', url: `${base}/taxii2/intel/collections/x/`, token: readKey, level: 'throttle', everyMs: 30, timeoutMs: 1000 }], (l) => said.push(l));
  poller.start(0);
  // Two polls prove the schedule survived the first failure; waited for, not timed (a loaded
  // machine may take longer than two 30 ms periods).
  for (let waited = 0; said.length < 2 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  await poller.stop();
  assert.ok(said.length >= 2 && said.every((l) => l === 'intel feed A: the database is down'), said.join('\n'));
});

test('cases sharing indicators: one live case per campaign; what one withdraws stays in force while another publishes it; every version keeps its first created', async () => {
  const collection = (await taxii('/intel/collections/', { auth: basic(readKey) })).body.collections[0];
  const objects = async (q = '') => (await taxii(`/intel/collections/${collection.id}/objects/${q}`, { auth: basic(readKey) })).body.objects as any[];
  const opened = await admin('POST', '/cases', { campaign_id: campaign.id });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  const first = opened.body.id as string;
  assert.equal((await admin('POST', `/cases/${first}/publish`)).status, 201);
  const exported = async (id: string) => (await fetch(`${base}/admin/cases/${id}/stix`)).json() as Promise<{ objects: any[] }>;
  const once = await exported(first);
  await new Promise((r) => setTimeout(r, 5));
  const twice = await exported(first);
  assert.deepEqual(twice.objects.map((o) => [o.id, o.created]), once.objects.map((o) => [o.id, o.created]), 'exported again, every object keeps its created');
  const published = new Map((await objects()).map((o) => [o.id, o.created]));
  assert.ok(once.objects.every((o) => published.get(o.id) === o.created), 'the export and the collection agree');

  // Confirmed, the case is still the campaign's: a second one is refused.
  assert.equal((await admin('PATCH', `/cases/${first}`, { status: 'confirmed' })).status, 200);
  const refused = await admin('POST', '/cases', { campaign_id: campaign.id });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, new RegExp(`already has a confirmed case, ${first}`));

  // Closed (its indicators stay published), a new case may be opened; it publishes the same indicators.
  assert.equal((await admin('PATCH', `/cases/${first}`, { status: 'closed' })).status, 200);
  const second = (await admin('POST', '/cases', { campaign_id: campaign.id })).body.id as string;
  assert.ok(second && second !== first);
  await new Promise((r) => setTimeout(r, 5));
  const republished = await admin('POST', `/cases/${second}/publish`);
  assert.equal(republished.status, 201);
  const shared = (await objects('?match[type]=indicator')).map((o) => o.id as string);
  assert.equal(shared.length, republished.body.indicators);
  const all = await objects('?match[version]=all');
  const created = new Map<string, Set<string>>();
  for (const o of all) created.set(o.id, (created.get(o.id) ?? new Set()).add(o.created));
  assert.deepEqual([...created].filter(([, c]) => c.size > 1).map(([id]) => id), [], 'no object has versions with different created');
  assert.ok(all.every((o) => o.modified >= o.created), 'modified never before created');
  assert.equal(all.filter((o) => o.type === 'identity').length, 1, 'the provider\'s identity is published once');

  // Withdrawing the second case leaves what the first still publishes in force, and says so.
  const withdrawn = await admin('DELETE', `/cases/${second}/publish`);
  assert.equal(withdrawn.status, 200);
  assert.deepEqual([withdrawn.body.revoked, withdrawn.body.kept], [0, shared.length]);
  assert.ok((await objects('?match[type]=indicator')).every((o) => o.revoked !== true), 'partners still read them in force');
  const exchange = (await admin('GET', `/cases/${first}/exchange`)).body;
  assert.ok(exchange.published.length === shared.length && exchange.published.every((p: any) => !p.revoked));
  assert.equal((await admin('DELETE', `/cases/${second}/publish`)).status, 404, 'nothing left to withdraw');
  // The first case withdrawn too: now they are revoked, and both cases say so.
  const last = await admin('DELETE', `/cases/${first}/publish`);
  assert.deepEqual([last.body.revoked, last.body.kept], [shared.length, 0]);
  assert.ok((await objects('?match[type]=indicator')).every((o) => o.revoked === true));
  assert.ok((await admin('GET', `/cases/${second}/exchange`)).body.published.every((p: any) => p.revoked));
});

test('the inbox refuses a body nested too deep with 400, and lists what is not a STIX object under failures', async () => {
  const inbox = (await taxii('/intel/collections/', { auth: `Bearer ${writeKey}` })).body.collections[0];
  const path = `/intel/collections/${inbox.id}/objects/`;
  const post = (body: string) => taxii(path, { auth: `Bearer ${writeKey}`, method: 'POST', type: TAXII_MEDIA_TYPE, body });
  const depth = 30_000;
  const deep = await post(`{"objects":[{"type":"campaign","id":"campaign--x","name":${'['.repeat(depth)}${']'.repeat(depth)}}]}`);
  assert.equal(deep.status, 400, `a body 30,000 levels deep is refused, not a 500: ${JSON.stringify(deep.body)?.slice(0, 200)}`);
  assert.equal(deep.body.http_status, '400', 'in TAXII\'s error format');
  assert.match(deep.body.description, /128 levels/);
  // Nested as deep as the gateway accepts elsewhere, in an object's name: no 500, and not a success.
  const nested = await post(`{"objects":[${'['.repeat(100)}${']'.repeat(100)}, "text", 7, null, {"type":"campaign","name":${'['.repeat(100)}${']'.repeat(100)}}]}`);
  // Nothing taken in: TAXII's 422, not a 202 that reads as accepted; the status rides in `details`.
  assert.equal(nested.status, 422, `a post of which nothing was taken in does not look accepted: ${JSON.stringify(nested.body)?.slice(0, 300)}`);
  assert.equal(nested.body.http_status, '422', 'in TAXII\'s error format');
  assert.match(nested.body.description, /none of the 5 objects was taken in/);
  const status = nested.body.details?.status;
  assert.equal(status?.success_count, 0, `nothing there is a STIX object with an id: ${JSON.stringify(status?.successes)}`);
  assert.equal(status?.failure_count, 5, 'each is listed under failures');
  assert.ok(status.failures.every((f: any) => typeof f.message === 'string' && f.message.length > 0), 'each failure says why');
  const kept = await taxii(`/intel/status/${status.id}/`, { auth: `Bearer ${writeKey}` });
  assert.equal(kept.status, 200, 'the status of the refused post can be read back');
  assert.equal(kept.body.failure_count, 5);
});
