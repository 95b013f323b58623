// Case files on the detector's campaigns, their reports, and threat-intel exchange between two
// providers: what provider A shares about a campaign lets provider B hold the same campaign's
// accounts from their first request, and never anything organic customers use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, SharedIndicators, buildLabelledEvents, eventObservables, keyedHash, sharingKeyId, verdictRank, type PromptPool } from '../detect/index.ts';
import { openSqlite, openPostgres, SqliteEventStore } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import {
  casesWithGoneIds,
  buildCaseFile, findCaseCampaign, caseReportMarkdown, caseToStix, stixToIndicators, sightingsToStix, registerCasesAdminRoutes, casesAdminRoutes, StixError,
  MemoryCaseStore, SqliteCaseStore, PostgresCaseStore, DEFAULT_CASE_LIMITS, type CaseStore, type CaseFile, type StixBundle,
} from './index.ts';
import { runCasesCli, runIntelCli } from '../cli/cases-cmd.ts';
import { runScan } from '../cli/scan-cmd.ts';
import { atProviderB, campaignFixture, firstRequestsAtProviderB } from '../../test/helpers/case-campaign.ts';
import { Writable } from 'node:stream';

const { scenario, campaignAccounts, KEY_A, dir, engine, events, campaign, built } = await campaignFixture();

test.after(async () => { await events.close(); rmSync(dir, { recursive: true, force: true }); });

test('a case freezes the campaign, its members\' facts and the values only its accounts used', () => {
  assert.ok(campaign && campaign.members.length >= 28, 'the hydra is a named campaign');
  assert.deepEqual(built.members.map((m) => m.account_id).sort(), [...campaign.members].sort());
  assert.ok(built.members.every((m) => m.requests > 0 && m.tier && m.created_at), 'every member has its signup facts and usage');
  assert.equal(built.usage.requests, built.events_read);
  assert.ok(built.window_events_scanned >= scenario.events.length - 100);
  const shared = built.observables.filter((o) => o.shareable);
  const kinds = new Set(shared.map((o) => o.kind));
  assert.ok(kinds.has('payment_fp'), `shared kinds: ${[...kinds].join(', ')}`);
  // Nothing shareable was used by an organic account, and free-mail domains are held back.
  const organicValues = new Set(scenario.events.filter((e) => !campaignAccounts.has(e.account_id!)).flatMap((e) => eventObservables(e).map(([k, v]) => `${k}\n${v}`)));
  for (const o of shared) assert.ok(!organicValues.has(`${o.kind}\n${o.value}`), `${o.kind} ${o.value} is used by organic accounts`);
  const gmail = built.observables.find((o) => o.kind === 'email_domain' && o.value === 'gmail.com');
  assert.ok(gmail && !gmail.shareable && /other accounts over the same days/.test(gmail.why));
});

test('reading is bounded, and says so', async () => {
  const small = (await buildCaseFile({ engine, events }, campaign.cluster_id, { limits: { ...DEFAULT_CASE_LIMITS, maxMembers: 5, maxEventsPerMember: 3, maxWindowEvents: 100 } }))!;
  assert.equal(small.campaign_id, campaign.id, 'a cluster id finds its campaign');
  assert.equal(small.events_read, 15);
  assert.equal(small.window_events_scanned, 100);
  assert.ok(small.events_truncated && small.window_truncated);
  // Every member read, but not all of each one's events: still cut short, and it says so.
  const perMember = (await buildCaseFile({ engine, events }, campaign.id, { limits: { ...DEFAULT_CASE_LIMITS, maxEventsPerMember: 3 } }))!;
  assert.equal(perMember.events_read, 3 * campaign.members.length);
  assert.ok(perMember.events_truncated && !perMember.window_truncated);
  assert.ok(!built.events_truncated, 'the default bounds hold this campaign whole');
  assert.ok(small.observables.filter((o) => o.shareable).every((o) => o.kind === 'payment_fp' || o.kind === 'system_prompt'), 'weak kinds are not shared from a cut scan');
  assert.equal(await buildCaseFile({ engine, events }, 'camp_missing'), null);
});

test('the report explains the campaign: targets, evidence with thresholds, accounts, shared values', () => {
  const md = caseReportMarkdown({ ...built, notes: [{ at: '2026-03-04T00:00:00.000Z', text: 'confirmed with the payments team', status: 'confirmed' }] });
  for (const heading of ['## What it did', '## Why it was flagged', `## Accounts (${built.members.length})`, '## What its accounts shared', '## What the ledger proves', '## Notes']) assert.ok(md.includes(heading), heading);
  for (const r of campaign.evidence) assert.ok(md.includes(`| ${r.signal} | ${r.value} |`), r.signal);
  assert.ok(md.includes('confirmed with the payments team'));
  assert.ok(md.includes('The ledger was off'));
});

test('exchange: provider B imports A\'s bundle and holds the campaign\'s accounts from their first request; organic ones stay clear', () => {
  const { bundle, indicators } = caseToStix(built, { provider: 'Provider A', sharingKey: KEY_A, validDays: 30, now: new Date('2026-03-04T00:00:00Z') });
  assert.equal(indicators, built.observables.filter((o) => o.shareable).length);
  const json = JSON.stringify(bundle);
  for (const o of built.observables.filter((x) => x.kind === 'payment_fp')) assert.ok(!json.includes(o.value), 'values travel only as keyed hashes');
  assert.ok(bundle.objects.every((o) => /^[a-z-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(o.id)), 'STIX ids');
  const again = caseToStix(built, { provider: 'Provider A', sharingKey: KEY_A, validDays: 30, now: new Date('2026-03-09T00:00:00Z') }).bundle;
  assert.deepEqual(again.objects.map((o) => o.id), bundle.objects.map((o) => o.id), 'exporting again names the same objects');
  // ... as new versions of them: each keeps its created (STIX 2.1 section 3.6), and none is modified before it was created.
  assert.deepEqual(again.objects.map((o) => o.created), bundle.objects.map((o) => o.created), 'created is kept from export to export');
  assert.ok([...bundle.objects, ...again.objects].every((o) => String(o.modified) >= String(o.created)));
  assert.ok(bundle.objects.filter((o) => o.type === 'indicator').every((o) => o.created === built.campaign.first_seen), 'an indicator dates from its campaign\'s start');
  assert.equal(sightingsToStix([], 'Provider A').objects[0].created, bundle.objects[0].created, 'one identity, one created, in every bundle');

  const imported = stixToIndicators(JSON.parse(json), { sharingKey: KEY_A, level: 'throttle', now: new Date('2026-03-05T00:00:00Z') });
  assert.equal(imported.indicators.length, indicators);
  assert.deepEqual(imported.skipped, []);
  assert.ok(imported.indicators.every((i) => i.source === 'Provider A' && i.campaign === built.title));

  const intel = new SharedIndicators(KEY_A);
  intel.add(imported.indicators);
  // Provider B sees each account's first request only.
  const { engine: b, firsts } = firstRequestsAtProviderB(scenario.events, intel);
  const held = [...firsts.keys()].filter((id) => campaignAccounts.has(id.slice(2)) && verdictRank(b.forAccount(id).level) >= verdictRank('throttle'));
  assert.equal(held.length, campaign.members.length, 'every account of the campaign is held at throttle on its first request');
  const organicHeld = [...firsts.keys()].filter((id) => !campaignAccounts.has(id.slice(2)) && b.forAccount(id).level !== 'none');
  assert.deepEqual(organicHeld, []);
  // Its own verdict names the indicator (the verdict in force may be the cluster's, as B links them too).
  const reason = b.accountVerdict([...firsts.keys()].find((id) => campaignAccounts.has(id.slice(2)))!)!.reasons[0];
  assert.equal(reason.signal, 'shared_indicator');
  assert.match(reason.detail!, /shared by Provider A \(not a listed partner\) for campaign/);

  // B reports its sightings back; A can read them against its own indicator ids.
  const back = sightingsToStix(intel.sightings(), 'Provider B');
  const ids = new Set(bundle.objects.filter((o) => o.type === 'indicator').map((o) => o.id));
  const sightings = back.objects.filter((o) => o.type === 'sighting');
  assert.ok(sightings.length > 0 && sightings.every((s) => ids.has(s.sighting_of_ref as string)));
  assert.ok(sightings.every((s) => s.created === s.first_seen && s.modified === s.last_seen && String(s.modified) >= String(s.created)), 'a sighting dates from its first match');
});

test('import refuses what it cannot use, each with its reason', () => {
  const now = new Date('2026-03-05T00:00:00Z');
  const { bundle } = caseToStix(built, { provider: 'Provider A', sharingKey: KEY_A, validDays: 30, now: new Date('2026-03-04T00:00:00Z') });
  const otherKey = stixToIndicators(bundle, { sharingKey: 'a-different-key-of-provider-c', level: 'throttle', now });
  assert.equal(otherKey.indicators.length, 0);
  assert.match(otherKey.skipped[0].reason, /hashed with another key than the one agreed/);
  const expired = stixToIndicators(bundle, { sharingKey: KEY_A, level: 'throttle', now: new Date('2026-05-01T00:00:00Z') });
  assert.equal(expired.indicators.length, 0);
  assert.match(expired.skipped[0].reason, /^expired at /);

  const plain = (id: string, pattern: string, extra: object = {}) => ({ type: 'indicator', spec_version: '2.1', id: `indicator--${id}`, pattern, pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', ...extra });
  const mixed = {
    type: 'bundle', id: 'bundle--1',
    objects: [
      plain('00000000-0000-4000-8000-000000000001', "[ipv4-addr:value = '203.0.113.7']"),
      plain('00000000-0000-4000-8000-000000000002', "[ipv4-addr:value = '203.0.113.0/24']"),
      plain('00000000-0000-4000-8000-000000000003', '[autonomous-system:number = 64500]'),
      plain('00000000-0000-4000-8000-000000000004', "[ipv4-addr:value = '10.0.0.0/8']"),
      plain('00000000-0000-4000-8000-000000000005', "[file:hashes.'SHA-256' = 'aa']"),
      plain('00000000-0000-4000-8000-000000000006', 'rule x {}', { pattern_type: 'yara' }),
      plain('00000000-0000-4000-8000-000000000007', "[ipv4-addr:value = '203.0.113.9']", { revoked: true }),
      { type: 'indicator', id: 'not-an-id', pattern: '[x]', pattern_type: 'stix' },
    ],
  };
  const r = stixToIndicators(mixed, { sharingKey: KEY_A, level: 'shape', source: 'feed-x', now });
  assert.deepEqual(r.indicators.map((i) => [i.kind, i.hmac, i.level, i.source]), [
    ['client_ip', keyedHash(KEY_A, 'client_ip', '203.0.113.7'), 'shape', 'feed-x'],
    ['client_subnet', keyedHash(KEY_A, 'client_subnet', '203.0.113.0/24'), 'shape', 'feed-x'],
    ['asn', keyedHash(KEY_A, 'asn', 'AS64500'), 'shape', 'feed-x'],
  ]);
  assert.deepEqual(r.revoked, ['indicator--00000000-0000-4000-8000-000000000007']);
  assert.deepEqual(r.skipped.map((s) => s.reason.split(':')[0].split(',')[0]), ['only single addresses and /24 networks can be matched', 'a pattern Warden cannot match (it matches keyed hashes', 'pattern_type yara', 'not a STIX indicator id (indicator--<uuid>)']);
  // A partner's names reach verdict explanations: one line, bounded.
  const named = stixToIndicators({ ...mixed, objects: [{ type: 'identity', id: 'identity--x', name: `Evil\nCorp ${'x'.repeat(5000)}` }, { ...mixed.objects[0], created_by_ref: 'identity--x' }] }, { sharingKey: KEY_A, level: 'watch', now });
  assert.match(named.indicators[0].source, /^Evil Corp x+$/);
  assert.equal(named.indicators[0].source.length, 200);
  assert.throws(() => stixToIndicators({ objects: [] }, { sharingKey: KEY_A, level: 'watch' }), StixError);
  assert.throws(() => stixToIndicators({ type: 'bundle' }, { sharingKey: KEY_A, level: 'watch' }), /no "objects" array/);
});

/** The one-live-case check: a case on the campaign's id, its cluster's, or more than half of whose accounts it holds. */
async function liveCaseSuite(name: string, store: CaseStore) {
  const acct = (...k: number[]) => k.map((n) => `${name}_acct_${n}`);
  const caseOn = (id: string, status: CaseFile['status'], members: string[], day: number): CaseFile => ({
    ...built, id: `case_${name}_${id}`, status, opened_at: `2026-03-${day}T00:00:00.000Z`, campaign_id: `camp_${name}_${id}`, cluster_id: `clu_${name}_${id}`,
    campaign: { ...built.campaign, members }, notes: [],
  });
  const open = caseOn('live', 'open', acct(1, 2, 3, 4), 10);
  const dismissed = caseOn('dismissed', 'dismissed', acct(5, 6, 7), 11);
  await store.putCase(open);
  await store.putCase(dismissed);
  const live = async (k: { campaignId?: string; clusterId?: string; members?: string[] }) =>
    (await store.liveCaseOn({ campaignId: 'camp_none', clusterId: 'clu_none', members: [], ...k }))?.id ?? null;
  assert.equal(await live({ campaignId: open.campaign_id }), open.id, 'by the campaign\'s id');
  assert.equal(await live({ clusterId: open.cluster_id }), open.id, 'by the cluster\'s id');
  assert.equal(await live({ members: acct(1, 2, 3, 9) }), open.id, 'three of its four accounts');
  assert.equal(await live({ members: acct(1, 2, 9) }), null, 'two of its four: not more than half');
  assert.equal(await live({ campaignId: dismissed.campaign_id, members: acct(5, 6, 7) }), null, 'a dismissed case is not live');
  // A refresh that changed the accounts: the check follows them.
  await store.putCase({ ...open, status: 'confirmed', campaign: { ...open.campaign, members: acct(8, 10) } });
  assert.equal(await live({ members: acct(1, 2, 3) }), null, 'not the accounts it had');
  assert.equal(await live({ members: acct(8, 10, 9) }), open.id, 'the accounts it has now, confirmed');
  // Two live cases on it: the newest.
  await store.putCase(caseOn('newer', 'open', acct(8, 10), 12));
  assert.equal(await live({ members: acct(8, 10) }), `case_${name}_newer`);
  // Only the case's accounts the detector still holds count, and at least 2 of them.
  const knows = (id: string) => !id.endsWith('_acct_10');
  assert.equal((await store.liveCaseOn({ campaignId: 'camp_none', clusterId: 'clu_none', members: acct(8, 10), knows }))?.id ?? null, null, 'one known account is not enough');
  await store.putCase(caseOn('churned', 'open', acct(11, 12, 13, 14, 15), 13));
  const gone = (id: string) => !/_acct_1[345]$/.test(id);
  assert.equal(await live({ members: acct(11, 12, 16, 17) }), null, 'two of its five accounts');
  assert.equal((await store.liveCaseOn({ campaignId: 'camp_none', clusterId: 'clu_none', members: acct(11, 12, 16, 17), knows: gone }))?.id, `case_${name}_churned`, 'both of the two the detector still holds');
}

async function storeSuite(name: string, store: CaseStore) {
  const c1: CaseFile = { ...built, id: `case_${name}_1`, opened_at: '2026-03-04T00:00:00.000Z', notes: [] };
  const c2: CaseFile = { ...built, id: `case_${name}_2`, opened_at: '2026-03-05T00:00:00.000Z', status: 'confirmed', campaign_id: 'camp_other' };
  await store.putCase(c1);
  await store.putCase(c2);
  assert.deepEqual((await store.getCase(c1.id))!.observables, built.observables);
  assert.equal(await store.getCase('case_missing'), null);
  const mine = (await store.listCases({ limit: 1000 })).filter((s) => s.id.startsWith(`case_${name}_`));
  assert.deepEqual(mine.map((s) => s.id), [c2.id, c1.id], 'newest first');
  assert.deepEqual((await store.listCases({ status: 'confirmed', campaignId: 'camp_other', limit: 1000 })).filter((s) => s.id.startsWith(`case_${name}_`)).map((s) => s.id), [c2.id]);
  await store.putCase({ ...c1, status: 'dismissed', notes: [{ at: '2026-03-06T00:00:00.000Z', text: 'a partner\'s evaluation' }] });
  assert.equal((await store.getCase(c1.id))!.status, 'dismissed');
  await liveCaseSuite(name, store);
  const ind = { id: `indicator--${name}`, kind: 'payment_fp' as const, hmac: 'ab'.repeat(32), level: 'throttle' as const, source: `src-${name}`, campaign: 'op', confidence: 70, valid_until: '2027-01-01T00:00:00.000Z', created_at: '2026-03-04T00:00:00.000Z' };
  await store.putIndicators([ind, { ...ind, id: `indicator--${name}-2`, confidence: null, valid_until: null, campaign: null }]);
  await store.putIndicators([{ ...ind, level: 'suspend' }]);
  const listed = (await store.listIndicators()).filter((i) => i.source === `src-${name}`);
  assert.deepEqual(listed.map((i) => [i.id, i.level, i.valid_until]), [[ind.id, 'suspend', ind.valid_until], [`${ind.id}-2`, 'throttle', null]]);
  assert.deepEqual(await store.removeIndicators({ id: ind.id }), [ind.id]);
  assert.deepEqual(await store.removeIndicators({ source: `src-${name}` }), [`${ind.id}-2`]);
  assert.deepEqual(await store.removeIndicators({ source: `src-${name}` }), []);
  // Sightings add up: requests summed, accounts united, first and last widened.
  const sid = `indicator--${name}-seen`;
  await store.addSightings([{ indicator_id: sid, count: 3, first_seen: '2026-03-04T10:00:00.000Z', last_seen: '2026-03-04T11:00:00.000Z', accounts: ['acct_a', 'acct_b'] }]);
  await store.addSightings([{ indicator_id: sid, count: 2, first_seen: '2026-03-04T09:00:00.000Z', last_seen: '2026-03-04T10:30:00.000Z', accounts: ['acct_b', 'acct_c'] }]);
  const seen = (await store.listSightings()).find((x) => x.indicator_id === sid)!;
  assert.deepEqual({ ...seen, accounts: seen.accounts.sort() }, { indicator_id: sid, count: 5, first_seen: '2026-03-04T09:00:00.000Z', last_seen: '2026-03-04T11:00:00.000Z', accounts: ['acct_a', 'acct_b', 'acct_c'] });

  // A TAXII collection: versions in the order added, each with its own added_us, filtered as clients ask.
  const col = `col-${name}`;
  const obj = (type: string, id: string, modified: string, extra: object = {}) => ({ type, id: `${type}--${name}-${id}`, created: '2026-03-04T00:00:00.000Z', modified, ...extra });
  const first = await store.publish(col, [
    { body: obj('identity', 'i', '2026-03-04T00:00:00.000Z'), caseId: c1.id },
    { body: obj('indicator', 'x', '2026-03-04T00:00:00.000Z'), caseId: c1.id },
    { body: obj('campaign', 'c', '2026-03-04T00:00:00.000Z'), caseId: c1.id },
  ]);
  const second = await store.publish(col, [{ body: obj('indicator', 'x', '2026-03-05T00:00:00.000Z', { revoked: true }), caseId: c1.id }]);
  const added = [...first, ...second].map((o) => o.added_us);
  assert.ok(added.every((a, i) => i === 0 || a > added[i - 1]), 'added_us only grows');
  const ids = (rows: Array<{ id: string; version: string }>) => rows.map((r) => `${r.id.split('-').at(-1)}@${r.version.slice(8, 10)}`);
  assert.deepEqual(ids(await store.published({ collection: col, limit: 10 })), ['i@04', 'c@04', 'x@05'], 'the latest version of each, by when it was added');
  assert.deepEqual(ids(await store.published({ collection: col, limit: 10, versions: 'all' })), ['i@04', 'x@04', 'c@04', 'x@05']);
  assert.deepEqual(ids(await store.published({ collection: col, limit: 10, versions: 'first', types: ['indicator'] })), ['x@04']);
  assert.deepEqual(ids(await store.published({ collection: col, limit: 10, versions: ['2026-03-05T00:00:00.000Z'] })), ['x@05']);
  assert.deepEqual(ids(await store.published({ collection: col, limit: 10, addedAfterUs: first[1].added_us })), ['c@04', 'x@05']);
  assert.deepEqual(ids(await store.published({ collection: col, limit: 2, ids: [`campaign--${name}-c`, `identity--${name}-i`] })), ['i@04', 'c@04']);
  assert.deepEqual(await store.published({ collection: `${col}-other`, limit: 10 }), []);
  const ofCase = await store.publishedOfCase(c1.id);
  assert.deepEqual(ids(ofCase), ['i@04', 'c@04', 'x@05']);
  assert.equal(ofCase[2].body.revoked, true);
  await store.putRecord('feed', `f-${name}`, { cursor: 'a' });
  await store.putRecord('feed', `f-${name}`, { cursor: 'b' });
  assert.deepEqual(await store.getRecord('feed', `f-${name}`), { cursor: 'b' });
  assert.equal(await store.getRecord('feed', `g-${name}`), null);
  assert.ok((await store.listRecords<{ cursor: string }>('feed')).some((r) => r.cursor === 'b'));

  // A case file names its format; one stored before case files did gets it when read.
  assert.equal((await store.getCase(c1.id))!.schema, 'warden.case/1', 'a case file names its format');
  const { schema: _unnamed, ...older } = { ...c1, id: `older-case-${name}`, status: 'closed' as const };
  await store.putCase(older as CaseFile);
  assert.equal((await store.getCase(older.id))!.schema, 'warden.case/1', 'a case stored without `schema` reads with it');
}

test('case stores: memory, SQLite and PostgreSQL keep cases and indicators alike', async () => {
  await storeSuite('memory', new MemoryCaseStore());
  await storeSuite('sqlite', new SqliteCaseStore(openSqlite(join(dir, 'cases.db'))));
  const pg = openPostgres(process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { max: 2 });
  try {
    const store = new PostgresCaseStore(pg);
    await store.migrate();
    const run = `pg${Date.now().toString(36)}`;
    await storeSuite(run, store);
    await pg.query('DELETE FROM cases WHERE id LIKE $1', [`case_${run}_%`]);
    await pg.query('DELETE FROM case_members WHERE case_id LIKE $1', [`case_${run}_%`]);
    await pg.query('DELETE FROM intel_sightings WHERE indicator_id LIKE $1', [`indicator--${run}%`]);
    await pg.query('DELETE FROM intel_sighting_accounts WHERE indicator_id LIKE $1', [`indicator--${run}%`]);
    await pg.query('DELETE FROM taxii_objects WHERE collection = $1', [`col-${run}`]);
    await pg.query('DELETE FROM intel_records WHERE id = $1', [`f-${run}`]);
  } finally { await pg.end(); }
});

test('case stores: cases stored before the one-live-case check had its index are found by their cluster and accounts after the upgrade', async () => {
  // The store as it was: no cluster column, no member table, the migration that adds them not applied.
  const before = [
    'DROP INDEX cases_by_campaign', 'DROP INDEX cases_by_cluster', 'DROP TABLE case_members', 'ALTER TABLE cases DROP COLUMN cluster_id',
    "DELETE FROM schema_migrations WHERE component = 'cases' AND version = 6",
  ];
  const old: CaseFile = { ...built, id: 'case_stored_before', campaign_id: 'camp_0oldid0', cluster_id: 'clu_0oldid0' };
  const check = async (store: CaseStore) => {
    assert.equal((await store.liveCaseOn({ campaignId: 'camp_none', clusterId: 'clu_0oldid0', members: [] }))?.id, old.id, 'by its cluster');
    assert.equal((await store.liveCaseOn({ campaignId: 'camp_none', clusterId: 'clu_none', members: campaign.members }))?.id, old.id, 'by its accounts');
  };
  const db = openSqlite(join(dir, 'upgrade.db'));
  new SqliteCaseStore(db);
  for (const sql of before) db.exec(sql);
  db.prepare('INSERT INTO cases (id, status, campaign_id, opened_at, body) VALUES (?, ?, ?, ?, ?)').run(old.id, old.status, old.campaign_id, old.opened_at, JSON.stringify(old));
  await check(new SqliteCaseStore(db));
  db.close();
  // PostgreSQL, in a schema of its own.
  const url = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `cases_upgrade_${process.pid}_${Date.now().toString(36)}`;
  const admin = openPostgres(url, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pg = openPostgres(`${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 2 });
  try {
    await new PostgresCaseStore(pg).migrate();
    for (const sql of before) await pg.query(sql);
    await pg.query('INSERT INTO cases (id, status, campaign_id, opened_at, body) VALUES ($1, $2, $3, $4, $5)', [old.id, old.status, old.campaign_id, old.opened_at, JSON.stringify(old)]);
    const store = new PostgresCaseStore(pg);
    await store.migrate();
    await check(store);
  } finally {
    await pg.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});

test('admin API and CLI: open, list, report, decide, export, import, sightings; bad input gets clear errors', async () => {
  const store = new SqliteCaseStore(openSqlite(join(dir, 'admin.db')));
  const intel = new SharedIndicators(KEY_A);
  const app = Fastify();
  // Every answer is checked against the schema the OpenAPI document shows.
  await app.register(async (admin) => { mountAdminRoutes(admin, [casesAdminRoutes({
    store, intel, sharingKey: KEY_A, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90,
    sources: { engine, events }, limits: DEFAULT_CASE_LIMITS,
  })], { validateResponses: true }); }, { prefix: '/admin' });
  const keyless = Fastify();
  await keyless.register(async (admin) => registerCasesAdminRoutes(admin, {
    store, intel: new SharedIndicators(null), sharingKey: null, provider: 'P', importLevel: 'throttle', exportValidDays: 90, sources: { engine, events }, limits: DEFAULT_CASE_LIMITS,
  }), { prefix: '/admin' });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const keylessBase = await keyless.listen({ port: 0, host: '127.0.0.1' });
  const out: string[] = [];
  const err: string[] = [];
  const env = { WARDEN_ADMIN_URL: base, WARDEN_ADMIN_TOKEN: 'unused-here' };
  const cli = (f: typeof runCasesCli, ...argv: string[]) => { out.length = 0; err.length = 0; return f(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env }); };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, at = base) => {
    const res = await fetch(at + path, { method, headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text, body: (() => { try { return JSON.parse(text); } catch { return null; } })() };
  };
  try {
    assert.equal(await cli(runCasesCli, 'open', campaign.id, '--note', 'spotted by the payments team'), 0, err.join('\n'));
    const caseId = /^(case_\w+): opened on campaign/.exec(out[0])![1];
    assert.match(out[0], new RegExp(`${campaign.members.length} accounts`));
    assert.equal(await cli(runCasesCli, 'open', campaign.id), 1);
    assert.match(err[0], new RegExp(`already has an open case, ${caseId}`));
    assert.equal(await cli(runCasesCli, 'list'), 0);
    assert.match(out[0], new RegExp(caseId));
    assert.equal(await cli(runCasesCli, 'report', caseId), 0);
    assert.match(out[0], /## Why it was flagged/);
    assert.match(out[0], /spotted by the payments team/);
    assert.equal(await cli(runCasesCli, 'note', caseId, '--status', 'confirmed', '--text', 'chargebacks match'), 0, err.join('\n'));
    assert.equal((await call('GET', `/admin/cases/${caseId}`)).body.status, 'confirmed');
    const report = await call('GET', `/admin/cases/${caseId}/report`);
    assert.match(report.type, /^text\/markdown/);
    assert.match(report.text, /- .* \[confirmed\] \(cli:[^)]+\): chargebacks match/, 'the report says who confirmed it');
    // Who wrote each note and made each decision is kept with it, as for the detector's overrides.
    const notes = (await call('GET', `/admin/cases/${caseId}`)).body.notes as Array<{ text: string; by?: string }>;
    assert.match(notes.find((n) => n.text === 'chargebacks match')?.by ?? '', /^cli:/, 'the status change names who made it');
    assert.equal((await call('PATCH', `/admin/cases/${caseId}`, { note: 'second look' }, { 'x-warden-actor': 'dashboard:alice' })).status, 200);
    assert.equal(((await call('GET', `/admin/cases/${caseId}`)).body.notes as Array<{ text: string; by?: string }>).at(-1)?.by, 'dashboard:alice', 'a note names who wrote it');
    assert.equal(await cli(runCasesCli, 'refresh', caseId), 0, err.join('\n'));
    assert.match(out[0], /refreshed: 30 -> 30 accounts/);
    assert.equal(await cli(runCasesCli, 'export', caseId), 0, err.join('\n'));
    const bundle = JSON.parse(out[0]) as StixBundle;
    assert.equal(bundle.type, 'bundle');
    const stix = await call('GET', `/admin/cases/${caseId}/stix?valid_days=7`);
    assert.match(stix.type, /^application\/stix\+json/);

    // Another provider's bundle, sent with STIX's own media type, then listed, reported back, removed.
    const file = join(dir, 'partner.json');
    writeFileSync(file, JSON.stringify(caseToStix(built, { provider: 'Provider C', sharingKey: KEY_A, validDays: 30 }).bundle));
    assert.equal(await cli(runIntelCli, 'import', file, '--level', 'shape'), 0, err.join('\n'));
    assert.match(out[0], /^\d+ indicators imported, 0 revoked, 0 skipped/);
    const sent = await call('POST', '/admin/intel/import?source=partner-c', readFileSync(file, 'utf8'), { 'content-type': 'application/stix+json;version=2.1' });
    assert.equal(sent.status, 201, sent.text);
    assert.ok(intel.size > 0 && intel.list().every((i) => i.source === 'partner-c' && i.level === 'throttle'));
    assert.equal((await store.listIndicators()).length, intel.size, 'stored as matched');
    assert.equal(await cli(runIntelCli, 'list'), 0);
    assert.match(out[0], /^sharing key: [0-9a-f]{16}/);
    assert.equal(await cli(runIntelCli, 'sightings'), 0);
    assert.equal(JSON.parse(out[0]).type, 'bundle');
    // Each partner is sent the sightings of its own indicators only.
    intel.add([{ id: 'indicator--from-d', kind: 'user_agent', hmac: keyedHash(KEY_A, 'user_agent', 'ua-d'), level: 'watch', source: 'partner-d', campaign: null, confidence: null, valid_until: null, created_at: new Date().toISOString() }]);
    const d = built.campaign.members[0];
    const dMatch = intel.match({ ...scenario.events.find((e) => e.account_id === d)!, client: { ip: '192.0.2.1', user_agent: 'ua-d', country: null, asn: null } }, Date.now());
    // Partners hear of matches by accounts held at throttle or above (the detector confirms them).
    intel.confirm(dMatch!.ids, d, Date.now());
    const forC = JSON.parse((await call('GET', '/admin/intel/sightings?source=partner-c')).text);
    const forD = JSON.parse((await call('GET', '/admin/intel/sightings?source=partner-d')).text);
    const refs = (b: StixBundle) => b.objects.filter((o) => o.type === 'sighting').map((o) => o.sighting_of_ref as string);
    assert.deepEqual(refs(forD), ['indicator--from-d']);
    assert.ok(!refs(forC).includes('indicator--from-d'));
    assert.equal((await call('GET', '/admin/intel/sightings?source=nobody')).status, 404);
    intel.remove(['indicator--from-d']);
    assert.equal(await cli(runIntelCli, 'remove', '--source', 'partner-c'), 0, err.join('\n'));
    assert.equal(intel.size, 0);
    assert.equal((await store.listIndicators()).length, 0);

    // Bad input: each a 4xx with the reason, in OpenAI error JSON.
    const bad: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/admin/cases', {}, 400, /campaign_id/],
      ['POST', '/admin/cases', { campaign_id: 'camp_missing' }, 404, /no campaign camp_missing/],
      ['POST', '/admin/cases', { campaign_id: campaign.id, extra: 1 }, 400, /Unrecognized key/],
      ['GET', '/admin/cases/case_missing', undefined, 404, /no case case_missing/],
      ['PATCH', `/admin/cases/${caseId}`, { status: 'maybe' }, 400, /status/],
      ['PATCH', `/admin/cases/${caseId}`, {}, 400, /give a status, a note or both/],
      ['GET', `/admin/cases/${caseId}/report?format=pdf`, undefined, 400, /format: Invalid option: expected one of "markdown"\|"json"/],
      ['GET', `/admin/cases/${caseId}/stix?valid_days=0`, undefined, 400, /valid_days/],
      ['GET', '/admin/cases?status=nope', undefined, 400, /status/],
      ['POST', '/admin/intel/import', { type: 'report' }, 400, /not a STIX 2.1 bundle/],
      ['POST', '/admin/intel/import?level=none', { type: 'bundle', objects: [] }, 400, /level/],
      ['DELETE', '/admin/intel?source=nobody', undefined, 404, /no indicator from nobody/],
      ['DELETE', '/admin/intel', undefined, 400, /exactly one of source, id or stale=true/],
    ];
    for (const [method, path, body, status, message] of bad) {
      const r = await call(method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.match(r.body.error.message, message, `${method} ${path}`);
      // The admin API's error format, naming the field when one is to blame.
      assert.equal(r.body.error.code, status === 404 ? 'WARDEN_NOT_FOUND' : 'WARDEN_INVALID_REQUEST', `${method} ${path}`);
    }
    const notJson = await call('POST', '/admin/intel/import', '{"type":', { 'content-type': 'application/stix+json' });
    assert.equal(notJson.status, 400);
    const noKey = await call('GET', `/admin/cases/${caseId}/stix`, undefined, {}, keylessBase);
    assert.equal(noKey.status, 409);
    assert.match(noKey.body.error.message, /no sharing key: set cases.sharing_key/);
    assert.equal((await call('POST', '/admin/intel/import', bundle, {}, keylessBase)).status, 409);
    assert.equal(await cli(runIntelCli, 'import', join(dir, 'missing.json')), 2, 'a missing file is bad input, as in warden scan --intel');
    assert.match(err[0], /missing\.json: ENOENT/);
    assert.equal(await cli(runCasesCli, 'note', caseId), 2);
    assert.equal(await cli(runIntelCli, 'import', file, '--level', 'none'), 2);
    // Usage errors exit 2 and say what is missing, whether the CLI or the server finds them.
    assert.equal(await cli(runCasesCli, 'open'), 2);
    assert.match(err[0], /open: give the campaign id/);
    assert.equal(await cli(runCasesCli, 'frob', caseId), 2);
    assert.match(err[0], /unknown command: cases frob/);
    assert.equal(await cli(runCasesCli, 'frob'), 2);
    assert.match(err[0], /unknown command: cases frob/);
    assert.equal(await cli(runCasesCli, 'list', '--status', 'bogus'), 2);
    assert.match(err[0], /status/);
    assert.equal(await cli(runIntelCli, 'import'), 2);
    assert.match(err[0], /import: give the bundle file/);
    // Bad input is a usage error (2) whichever way it is bad: no file (above), not JSON, not a bundle.
    const notJsonFile = join(dir, 'not-json.txt');
    writeFileSync(notJsonFile, 'indicators, one a line');
    assert.equal(await cli(runIntelCli, 'import', notJsonFile), 2);
    const notBundle = join(dir, 'not-bundle.json');
    writeFileSync(notBundle, '{"objects": []}');
    assert.equal(await cli(runIntelCli, 'import', notBundle), 2);
  } finally {
    await app.close();
    await keyless.close();
  }
});

test('warden scan --intel: past logs hunted for a partner\'s campaign', async () => {
  const logs = join(dir, 'past.jsonl');
  writeFileSync(logs, atProviderB(scenario.events).map((e) => JSON.stringify(e)).join('\n') + '\n');
  const bundle = join(dir, 'from-a.json');
  writeFileSync(bundle, JSON.stringify(caseToStix(built, { provider: 'Provider A', sharingKey: KEY_A, validDays: 30, now: new Date() }).bundle));
  const sink = () => { const chunks: string[] = []; return { chunks, w: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) }; };
  const out = sink(); const err = sink();
  assert.equal(await runScan([logs, '--intel', bundle, '--intel-level', 'verify', '--json'], { stdout: out.w, stderr: err.w, env: { WARDEN_INTEL_KEY: KEY_A } }), 0, err.chunks.join(''));
  const r = JSON.parse(out.chunks.join(''));
  assert.equal(r.intel.indicators, built.observables.filter((o) => o.shareable).length);
  const payment = built.observables.filter((o) => o.kind === 'payment_fp' && o.shareable).length;
  assert.ok(r.intel.matched >= payment && r.intel.matched <= r.intel.indicators);
  const accounts = Math.max(...r.intel.sightings.map((x: { accounts: number }) => x.accounts));
  assert.equal(accounts, campaign.members.length, 'the campaign\'s user agent is seen on every one of its accounts');
  const text = sink();
  assert.equal(await runScan([logs, '--intel', bundle], { stdout: text.w, stderr: sink().w, env: { WARDEN_INTEL_KEY: KEY_A } }), 0);
  assert.match(text.chunks.join(''), /shared indicators: \d+ of \d+ seen\n  indicator--/);
  const noKey = sink();
  assert.equal(await runScan([logs, '--intel', bundle], { stdout: sink().w, stderr: noKey.w, env: {} }), 2);
  assert.match(noKey.chunks.join(''), /--intel needs the sharing key/);
  const bad = sink();
  assert.equal(await runScan([logs, '--intel', logs], { stdout: sink().w, stderr: bad.w, env: { WARDEN_INTEL_KEY: KEY_A } }), 2);
  assert.match(bad.chunks.join(''), /cannot read indicators/);
  // What the bundle names is printed inert: an object id with ESC and C1 controls is shown as escapes.
  const hostile = join(dir, 'hostile.json');
  writeFileSync(hostile, JSON.stringify({ type: 'bundle', id: 'bundle--x', objects: [{ type: 'indicator', id: 'indicator--\u001b]0;pwned\u0007\u009b2J' }] }));
  const empty = join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  const inert = sink();
  assert.equal(await runScan([empty, '--intel', hostile], { stdout: sink().w, stderr: inert.w, env: { WARDEN_INTEL_KEY: KEY_A } }), 0, inert.chunks.join(''));
  assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(inert.chunks.join('')), `no control character printed: ${JSON.stringify(inert.chunks.join(''))}`);
  assert.match(inert.chunks.join(''), /skipped indicator--\\x1b\]0;pwned\\x07\\x9b2J: not a STIX indicator id/);
});

test('warden scan --cases: a case file, a report and a bundle per campaign found in the logs', async () => {
  const logs = join(dir, 'past-for-cases.jsonl');
  writeFileSync(logs, scenario.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const out = join(dir, 'cases-out');
  const sink = () => { const chunks: string[] = []; return { chunks, w: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) }; };
  const stdout = sink(); const stderr = sink();
  assert.equal(await runScan([logs, '--cases', out, '--json'], { stdout: stdout.w, stderr: stderr.w, env: { WARDEN_INTEL_KEY: KEY_A } }), 0, stderr.chunks.join(''));
  assert.equal(JSON.parse(stdout.chunks.join('')).campaigns, 1, 'stdout holds the JSON alone');
  assert.match(stderr.chunks.join(''), /1 cases written to .*cases-out \(case file, report, STIX bundle[^)]*\)? per campaign\)/);
  const files = readdirSync(out).sort();
  assert.equal(files.length, 3);
  const id = files[0].split('.')[0];
  assert.deepEqual(files, [`${id}.json`, `${id}.md`, `${id}.stix.json`]);
  const kase = JSON.parse(readFileSync(join(out, `${id}.json`), 'utf8')) as CaseFile;
  assert.deepEqual(kase.members.map((m) => m.account_id).sort(), [...campaignAccounts].sort());
  assert.ok(kase.members.every((m) => m.requests > 0));
  assert.match(readFileSync(join(out, `${id}.md`), 'utf8'), /## Why it was flagged/);
  const bundle = JSON.parse(readFileSync(join(out, `${id}.stix.json`), 'utf8')) as StixBundle;
  assert.equal(stixToIndicators(bundle, { sharingKey: KEY_A, level: 'watch' }).indicators.length, kase.observables.filter((o) => o.shareable).length);
  const noKey = join(dir, 'cases-no-key');
  assert.equal(await runScan([logs, '--cases', noKey], { stdout: sink().w, stderr: sink().w, env: {} }), 0);
  assert.deepEqual(readdirSync(noKey).map((f) => f.split('.').slice(1).join('.')).sort(), ['json', 'md'], 'no sharing key: no bundle');
  const piped = sink();
  assert.equal(await runScan(['-', '--cases', out], { stdout: sink().w, stderr: piped.w, env: {} }), 2);
  assert.match(piped.chunks.join(''), /give a file, not stdin/);

  // The sharing key is the one the server uses: the configured cases.sharing_key, at least 16 characters.
  const configured = join(dir, 'scan-key.yaml');
  writeFileSync(configured, 'cases:\n  sharing_key: config-key-abcdefghijkl\n');
  const byConfig = join(dir, 'cases-config-key');
  assert.equal(await runScan([logs, '--cases', byConfig, '--config', configured], { stdout: sink().w, stderr: sink().w, env: { WARDEN_INTEL_KEY: 'some-other-env-key-123456' } }), 0);
  const keyIds = (folder: string) => new Set(readdirSync(folder).filter((f) => f.endsWith('.stix.json'))
    .flatMap((f) => (JSON.parse(readFileSync(join(folder, f), 'utf8')) as StixBundle).objects.filter((o) => o.type === 'indicator').map((o) => o.x_warden_key_id)));
  assert.deepEqual([...keyIds(byConfig)], [sharingKeyId('config-key-abcdefghijkl')]);
  const short = join(dir, 'cases-short-key');
  const shortErr = sink();
  assert.equal(await runScan([logs, '--cases', short], { stdout: sink().w, stderr: shortErr.w, env: { WARDEN_INTEL_KEY: 'short' } }), 0);
  assert.deepEqual(readdirSync(short).filter((f) => f.endsWith('.stix.json')), [], 'no bundle under a short key');
  assert.match(shortErr.chunks.join(''), /sharing key is shorter than 16 characters: no STIX bundle/);
  const shortIntel = sink();
  const partnerBundle = join(dir, 'from-a-short.json');
  writeFileSync(partnerBundle, JSON.stringify(caseToStix(built, { provider: 'Provider A', sharingKey: KEY_A, validDays: 30 }).bundle));
  assert.equal(await runScan([logs, '--intel', partnerBundle], { stdout: sink().w, stderr: shortIntel.w, env: { WARDEN_INTEL_KEY: 'short' } }), 2);
  assert.match(shortIntel.chunks.join(''), /shorter than 16 characters/);

  // Another tool's log, joined with the provider's account table: the case holds the same facts.
  const bare = join(dir, 'past-for-cases-bare.jsonl');
  writeFileSync(bare, scenario.events.map((e) => JSON.stringify({ ...e, account: null })).join('\n') + '\n');
  const rows = new Map<string, string>();
  for (const e of scenario.events) {
    if (!e.account_id || !e.account || rows.has(e.account_id)) continue;
    const a = e.account;
    rows.set(e.account_id, JSON.stringify({ account_id: e.account_id, org_id: e.org_id, ...a }));
  }
  const table = join(dir, 'accounts-for-cases.jsonl');
  writeFileSync(table, [...rows.values()].join('\n') + '\n');
  const joined = join(dir, 'cases-joined');
  const joinedErr = sink();
  assert.equal(await runScan([bare, '--accounts', table, '--cases', joined], { stdout: sink().w, stderr: joinedErr.w, env: { WARDEN_INTEL_KEY: KEY_A } }), 0, joinedErr.chunks.join(''));
  const fromTable = JSON.parse(readFileSync(join(joined, `${id}.json`), 'utf8')) as CaseFile;
  const facts = (k: CaseFile) => k.members.map((m) => [m.account_id, m.tier, m.created_at, m.email_domain, m.signup_ip]).sort();
  assert.deepEqual(facts(fromTable), facts(kase), 'the members\' signup facts, from the table');
  const kinds = (k: CaseFile) => [...new Set(k.observables.filter((o) => o.shareable).map((o) => o.kind))].sort();
  assert.deepEqual(kinds(fromTable), kinds(kase), 'the same kinds of indicators for partners (the card among them)');
});

/** The cases admin API over a new SQLite case store, on a real port: its store, server and a caller. */
async function casesApi(db: string, sources: { engine: DetectorEngine; events: SqliteEventStore }) {
  const store = new SqliteCaseStore(openSqlite(join(dir, db)));
  const app = Fastify();
  await app.register(async (admin) => { mountAdminRoutes(admin, [casesAdminRoutes({
    store, intel: new SharedIndicators(KEY_A), sharingKey: KEY_A, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90,
    sources, limits: DEFAULT_CASE_LIMITS,
  })], { validateResponses: true }); }, { prefix: '/admin' });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  return { store, app, call };
}

/** An engine fed every event, and one restarted without a snapshot: fed the last 72 hours only (detect.replay_hours). */
function liveAndRestarted(events: InteractionEvent[]): { live: DetectorEngine; restarted: DetectorEngine } {
  const live = new DetectorEngine();
  for (const ev of events) live.ingest(ev);
  live.flush();
  const lastMs = Date.parse(events.at(-1)!.ts);
  const restarted = new DetectorEngine();
  for (const ev of events) if (Date.parse(ev.ts) >= lastMs - 72 * 3600_000) restarted.ingest(ev);
  restarted.flush();
  return { live, restarted };
}

test('a restart without a snapshot names the same campaigns: its cases refresh, and a second live case is refused', async () => {
  // The live engine also saw an earlier campaign, older than what a restart replays (detect.replay_hours);
  // the rebuilt engine (the fixture's) replays only the recent events. A campaign's id does not
  // depend on what else was flagged before it.
  const early = buildLabelledEvents(JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool,
    { seed: 9, days: 1, start: '2026-01-20T00:00:00Z', organic: { hobbyist: 5 }, campaigns: [{ kind: 'agentic', accounts: 12 }] });
  const live = new DetectorEngine();
  for (const ev of early.events) live.ingest({ ...ev, id: `early_${ev.id}`, account_id: `early_${ev.account_id}`, org_id: ev.org_id ? `early_${ev.org_id}` : null });
  for (const ev of scenario.events) live.ingest(ev);
  live.flush();
  assert.equal(live.campaigns().length, 2, 'the live engine names the earlier campaign too');
  assert.equal(live.campaign(campaign.cluster_id)?.id, campaign.id, 'the same id for the same cluster after the rebuild');
  // And an engine rebuilt from exactly the same events names every campaign alike.
  const same = new DetectorEngine();
  for (const ev of scenario.events) same.ingest(ev);
  same.flush();
  const ids = (e: DetectorEngine) => e.campaigns().map((c) => `${c.cluster_id}=${c.id}`).sort();
  assert.deepEqual(ids(same), ids(engine));

  const { store, app, call } = await casesApi('restart.db', { engine, events });
  try {
    // A case opened before the restart refreshes from the rebuilt engine, and stays the campaign's live case.
    const before = (await buildCaseFile({ engine: live, events }, campaign.id))!;
    await store.putCase(before);
    const refreshed = await call('POST', `/admin/cases/${before.id}/refresh`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.campaign_id, campaign.id);
    const opened = await call('POST', '/admin/cases', { campaign_id: campaign.id });
    assert.equal(opened.status, 409, JSON.stringify(opened.body));
    assert.match(opened.body.error.message, new RegExp(`already has an open case, ${before.id}`));
    await call('PATCH', `/admin/cases/${before.id}`, { status: 'dismissed' });

    // A case opened under an id an earlier detector gave the same cluster is found by its cluster:
    // it refreshes (taking the campaign's id now), and it still counts as the cluster's live case.
    const older: CaseFile = { ...built, id: 'case_before_restart', campaign_id: 'camp_0oldid0', status: 'confirmed', notes: [] };
    await store.putCase(older);
    const again = await call('POST', '/admin/cases', { campaign_id: campaign.id });
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.match(again.body.error.message, /already has a confirmed case, case_before_restart/);
    const renamed = await call('POST', '/admin/cases/case_before_restart/refresh');
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.campaign_id, campaign.id);
    assert.match(renamed.body.notes.at(-1).text, new RegExp(`now named ${campaign.id} \\(was camp_0oldid0\\)`));
    assert.deepEqual((await store.listCases({ campaignId: campaign.id, status: 'confirmed' })).map((c) => c.id), ['case_before_restart'], 'listed under the campaign\'s id now');
  } finally {
    await app.close();
  }
});

test('a restart whose replay starts after a campaign\'s first day: its case refreshes, and a second live case is refused', async () => {
  // Four days of a campaign; the restarted engine is rebuilt from the last 72 hours only
  // (detect.replay_hours, without a snapshot), so it links the campaign's accounts in another order.
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const long = buildLabelledEvents(pool, { seed: 5, days: 4, organic: { hobbyist: 20 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const stored = new SqliteEventStore(openSqlite(join(dir, 'long-events.db')));
  await stored.appendBatch(long.events);
  const { live, restarted } = liveAndRestarted(long.events);
  const [before] = live.campaigns();
  const [after] = restarted.campaigns();
  assert.deepEqual([...after.members].sort(), [...before.members].sort(), 'the same accounts');
  assert.equal(after.cluster_id, before.cluster_id, 'the same cluster id: named after its smallest account id, not after the union order');

  const { store, app, call } = await casesApi('long-cases.db', { engine: restarted, events: stored });
  try {
    const kase = (await buildCaseFile({ engine: live, events: stored }, before.id))!;
    await store.putCase(kase);
    const refreshed = await call('POST', `/admin/cases/${kase.id}/refresh`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.cluster_id, before.cluster_id);
    assert.equal(refreshed.body.campaign_id, after.id);
    const second = await call('POST', '/admin/cases', { campaign_id: after.id });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.match(second.body.error.message, new RegExp(`already has an open case, ${kase.id}`));
    await call('PATCH', `/admin/cases/${kase.id}`, { status: 'dismissed' });

    // A case that knows neither id (opened under the names an earlier version gave, say) is found
    // by its accounts: the campaign holding more than half of them. It refreshes, taking the
    // campaign's ids (noted), and it is the campaign's live case meanwhile.
    const renamed: CaseFile = { ...kase, id: 'case_unknown_ids', campaign_id: 'camp_0oldid0', cluster_id: 'clu_0oldid0', status: 'confirmed', notes: [] };
    await store.putCase(renamed);
    const refused = await call('POST', '/admin/cases', { campaign_id: after.id });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.error.message, /already has a confirmed case, case_unknown_ids/);
    const found = await call('POST', '/admin/cases/case_unknown_ids/refresh');
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual([found.body.campaign_id, found.body.cluster_id], [after.id, after.cluster_id]);
    assert.match(found.body.notes.at(-1).text, new RegExp(`found by its accounts \\(campaign ${after.id} on cluster ${after.cluster_id} holds 30 of the case's 30\\), was campaign camp_0oldid0 on cluster clu_0oldid0`));
    // A case most of whose accounts (of those the detector holds) are in no campaign is not taken
    // for one; accounts the detector does not hold are not counted either way.
    const organic = Object.entries(long.labels.accounts).filter(([id, l]) => !l.startsWith('campaign:') && restarted.knows(id)).map(([id]) => id);
    assert.ok(organic.length >= 16, `organic accounts the detector holds: ${organic.length}`);
    const strangers: CaseFile = { ...renamed, id: 'case_strangers', campaign: { ...renamed.campaign, members: [...renamed.campaign.members.slice(0, 15), ...organic.slice(0, 16), ...Array.from({ length: 40 }, (_, k) => `acct_gone_${k}`)] } };
    await store.putCase(strangers);
    const gone = await call('POST', '/admin/cases/case_strangers/refresh');
    assert.equal(gone.status, 409, JSON.stringify(gone.body));
    assert.match(gone.body.error.message, /no campaign holds most of the case's accounts/);
  } finally {
    await app.close();
    await stored.close();
  }
});

test('a campaign that rotates its accounts: after a restart its case is found by the accounts the detector still holds', async () => {
  // A 7-day hydra campaign of 40 accounts: the first 20 active on days 0-3.5, the next 20 on days
  // 3-7, their payment fingerprints linking the two. The restarted engine replays the last 72 hours
  // (detect.replay_hours, no snapshot), so it never sees the first 20: the campaign it rebuilds
  // holds half the case's accounts, but all of those it knows.
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const sc = buildLabelledEvents(pool, { seed: 5, days: 7, organic: { hobbyist: 20 }, campaigns: [{ kind: 'hydra', accounts: 40 }] });
  const accounts = Object.values(sc.labels.campaigns)[0].accounts;
  const generation = new Map(accounts.map((a, i) => [a, i < 20 ? 1 : 2]));
  const t0 = Date.parse(sc.events[0].ts); const DAY = 86_400_000;
  const rotating = sc.events.filter((ev) => {
    const g = generation.get(ev.account_id!); const day = (Date.parse(ev.ts) - t0) / DAY;
    return !g || (g === 1 ? day < 3.5 : day >= 3);
  });
  const stored = new SqliteEventStore(openSqlite(join(dir, 'churn-events.db')));
  await stored.appendBatch(rotating);
  const { live, restarted } = liveAndRestarted(rotating);
  const [before] = live.campaigns();
  const [after] = restarted.campaigns();
  assert.equal(before.members.length, 40, 'the live engine holds both generations');
  assert.ok(after.members.every((m) => generation.get(m) === 2), 'the rebuilt campaign holds only the second generation');
  assert.ok(2 * after.members.length <= before.members.length, `not more than half of all the case's accounts: ${after.members.length} of 40`);

  const { store, app, call } = await casesApi('churn-cases.db', { engine: restarted, events: stored });
  try {
    const kase = (await buildCaseFile({ engine: live, events: stored }, before.id))!;
    await store.putCase(kase);
    const second = await call('POST', '/admin/cases', { campaign_id: after.id });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.match(second.body.error.message, new RegExp(`already has an open case, ${kase.id}`));
    const refreshed = await call('POST', `/admin/cases/${kase.id}/refresh`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.deepEqual([refreshed.body.campaign_id, refreshed.body.cluster_id], [after.id, after.cluster_id]);
    assert.match(refreshed.body.notes.at(-1).text, new RegExp(`holds ${after.members.length} of the case's 40, ${after.members.length} of them known to the detector`));
  } finally {
    await app.close();
    await stored.close();
  }
});

test('a case whose ids name a campaign holding few of its accounts goes to the campaign holding most of them', () => {
  // After a split, a small fragment can carry the case's old names: the id match counts only when
  // that campaign also holds at least half of the case's accounts the detector knows.
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const early = buildLabelledEvents(pool, { seed: 9, days: 1, start: '2026-01-20T00:00:00Z', organic: { hobbyist: 5 }, campaigns: [{ kind: 'agentic', accounts: 12 }] });
  const engine = new DetectorEngine();
  for (const ev of early.events) engine.ingest({ ...ev, id: `early_${ev.id}`, account_id: `early_${ev.account_id}`, org_id: ev.org_id ? `early_${ev.org_id}` : null });
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const campaigns = engine.campaigns();
  assert.ok(campaigns.length >= 2, `the engine names ${campaigns.length} campaigns`);
  const [big, small] = [...campaigns].sort((a, b) => b.members.length - a.members.length);
  const kase = { campaign_id: small.id, cluster_id: small.cluster_id, campaign: { ...built.campaign, members: [...small.members.slice(0, 2), ...big.members] } };
  const found = findCaseCampaign(engine, kase);
  assert.deepEqual([found?.campaign.id, found?.by], [big.id, 'members'], 'the campaign holding most of the case\'s accounts');
  const mostlySmall = { ...kase, campaign: { ...built.campaign, members: [...small.members, ...big.members.slice(0, small.members.length)] } };
  assert.deepEqual([findCaseCampaign(engine, mostlySmall)?.campaign.id, findCaseCampaign(engine, mostlySmall)?.by], [small.id, 'campaign_id'], 'half of them: the id match stands');
});

test('the one-live-case check is exact: a campaign\'s case behind a thousand newer live cases still counts', async () => {
  const store = new SqliteCaseStore(openSqlite(join(dir, 'many.db')));
  const app = Fastify();
  await app.register(async (admin) => { mountAdminRoutes(admin, [casesAdminRoutes({
    store, intel: new SharedIndicators(KEY_A), sharingKey: KEY_A, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90,
    sources: { engine, events }, limits: DEFAULT_CASE_LIMITS,
  })], { validateResponses: true }); }, { prefix: '/admin' });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    await store.putCase({ ...built, id: 'case_oldest', opened_at: '2026-01-01T00:00:00.000Z' });
    const small = { ...built, members: [], observables: [], campaign: { ...built.campaign, timeline: [], evidence: [] } };
    for (let k = 0; k < 1001; k++) {
      const at = new Date(Date.parse('2026-02-01T00:00:00.000Z') + k * 60_000).toISOString();
      await store.putCase({ ...small, id: `case_other_${k}`, status: 'open', opened_at: at, campaign_id: `camp_other_${k}`, cluster_id: `clu_other_${k}`, campaign: { ...small.campaign, members: [`acct_other_${k}`] } });
    }
    const res = await fetch(`${base}/admin/cases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ campaign_id: campaign.id }) });
    const body = await res.json() as any;
    assert.equal(res.status, 409, JSON.stringify(body));
    assert.match(body.error.message, /already has an open case, case_oldest/);
  } finally {
    await app.close();
  }
});

test('a case counts models named like Object.prototype members (constructor, toString, __proto__) as any other', async () => {
  const member = campaign.members[0];
  const last = scenario.events.filter((e) => e.account_id === member).at(-1)!;
  const odd = ['constructor', 'toString', '__proto__', 'toString'].map((model, i) => ({ ...last, id: `${last.id.slice(0, -2)}Z${i}`, model }));
  const d = mkdtempSync(join(tmpdir(), 'warden-cases-models-'));
  const store = new SqliteEventStore(openSqlite(join(d, 'events.db')));
  try {
    await store.appendBatch([...scenario.events, ...odd]);
    const kase = (await buildCaseFile({ engine, events: store }, campaign.id))!;
    const models = JSON.parse(JSON.stringify(kase.usage.models)) as Record<string, unknown>;
    assert.equal(models.constructor, 1, `constructor counted: ${JSON.stringify(models)}`);
    assert.equal(models.toString, 2, `toString counted: ${JSON.stringify(models)}`);
    assert.equal(models.__proto__, 1, `__proto__ counted: ${JSON.stringify(models)}`);
    assert.ok(Object.values(models).every((n) => typeof n === 'number'), 'every count is a number');
    assert.equal(Object.values(models).reduce((a: number, n) => a + (n as number), 0), kase.usage.requests, 'the counts add up to the requests');
    assert.ok(caseReportMarkdown(kase).includes('`toString` (2)'), 'the report gives the count');
  } finally {
    await store.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('casesWithGoneIds: a live case whose campaign and cluster ids name nothing the detector holds is named; live ones and closed ones are not', async () => {
  const { engine, built, campaign } = await campaignFixture();
  const store = new MemoryCaseStore();
  await store.putCase({ ...built, id: 'case_current', status: 'open' });
  await store.putCase({ ...built, id: 'case_renamed', status: 'confirmed', campaign_id: 'camp_066uqrz', cluster_id: 'clu_0pd7u7o' });
  await store.putCase({ ...built, id: 'case_dismissed', status: 'dismissed', campaign_id: 'camp_0aaaaaa', cluster_id: 'clu_0aaaaaa' });
  await store.putCase({ ...built, id: 'case_by_cluster', status: 'open', campaign_id: 'camp_0bbbbbb', cluster_id: campaign.cluster_id });
  assert.deepEqual(await casesWithGoneIds(store, engine), ['case_renamed'], 'only the live case whose ids are both gone');
});
