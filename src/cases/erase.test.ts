// A deletion request in the case files: an open case holds the account; once erased (the hold
// overridden), the cases naming it keep its id and verdict but not its signup facts, nor the values
// only it used; values the campaign's other accounts shared stay. SQLite and PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../store/index.ts';
import { casesHolding, eraseAccountFromCases, publishCase, stixToIndicators, SqliteCaseStore, PostgresCaseStore, PUBLISHED_COLLECTION, type CaseStore } from './index.ts';
import { keyedHash } from '../detect/index.ts';
import { campaignFixture } from '../../test/helpers/case-campaign.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';

const { scenario, dir, events, built, KEY_A } = await campaignFixture();
test.after(async () => { await events.close(); rmSync(dir, { recursive: true, force: true }); });

/** A member with a value of its own among the case's observables, and every value it used. */
function subject() {
  const mine = scenario.events.filter((e) => e.account_id === built.members[0].account_id);
  const a = mine[0].account!;
  return {
    id: built.members[0].account_id,
    values: { email_domain: a.email_domain, signup_ip: a.signup_ip, payment_fp: a.payment_fp, client_ips: [...new Set(mine.map((e) => e.client.ip!).filter(Boolean))], user_agents: [...new Set(mine.map((e) => e.client.user_agent!).filter(Boolean))] },
  };
}

async function run(store: CaseStore): Promise<void> {
  const s = subject();
  // One observable only this account held: its own signup address, as a case can record it.
  const own = { kind: 'client_ip' as const, value: s.values.signup_ip!, holders: 1, others: 0, shareable: true, why: 'only campaign accounts used it' };
  await store.putCase({ ...built, status: 'open', observables: [...built.observables, own] });
  assert.deepEqual(await casesHolding(store, s.id), [built.id], 'an open case holds its members');
  const before = (await store.getCase(built.id))!;
  assert.ok(before.members.find((m) => m.account_id === s.id)!.signup_ip, 'the case held the member\'s signup address');

  const erased = await eraseAccountFromCases(store, s.id, s.values, null);
  assert.equal(erased.cases, 1, 'one case changed');
  assert.equal(erased.members, 1, 'its member row was blanked');
  assert.ok(erased.values >= 1, `the values only it held went: ${JSON.stringify(erased)}`);
  const after = (await store.getCase(built.id))!;
  const m = after.members.find((x) => x.account_id === s.id)!;
  assert.deepEqual([m.email_domain, m.claimed_country, m.signup_ip], [null, null, null], 'no signup facts of the account are left');
  assert.ok(after.campaign.members.includes(s.id), 'it stays a member by id (the case\'s evidence)');
  assert.ok(!after.observables.some((o) => o.kind === 'client_ip' && o.value === s.values.signup_ip), 'the value only it held is gone');
  assert.equal(after.observables.length, before.observables.length - erased.values, 'only those');
  const others = after.members.filter((x) => x.account_id !== s.id);
  assert.deepEqual(others, before.members.filter((x) => x.account_id !== s.id), 'the other members are untouched');
  assert.deepEqual(await eraseAccountFromCases(store, s.id, s.values, null), { cases: 0, members: 0, values: 0, shared_values_kept: erased.shared_values_kept, published_indicators: 0, withdrawn_indicators: 0, withdrawn_kept: 0, sighting_accounts: 0 }, 'a second run changes nothing');

  // A dismissed case does not hold it.
  await store.putCase({ ...after, status: 'dismissed' });
  assert.deepEqual(await casesHolding(store, s.id), [], 'a dismissed case holds nobody');
}

/**
 * A published case: the indicator made from the account's own address is revoked in the TAXII
 * collection (partners polling since their last cursor read the revocation), the campaign's prompt
 * template stays in force; partner indicators' sightings keep their counts, not the account's id.
 */
async function runPublished(store: CaseStore): Promise<void> {
  const s = subject();
  const own = { kind: 'client_ip' as const, value: s.values.signup_ip!, holders: 1, others: 0, shareable: true, why: 'only campaign accounts used it' };
  const template = { kind: 'system_prompt' as const, value: 'you are a data generator. answer in json only.', holders: 1, others: 0, shareable: true, why: 'only campaign accounts used it' };
  const c = { ...built, id: 'case_published', status: 'open' as const, observables: [own, template] };
  await store.putCase(c);
  await publishCase(store, c, { provider: 'Provider A', sharingKey: KEY_A, validDays: 90 });
  const before = await store.published({ collection: PUBLISHED_COLLECTION, versions: 'all', limit: 10_000 });
  const cursor = before.at(-1)!.added_us;
  const ipHash = keyedHash(KEY_A, 'client_ip', s.values.signup_ip!);
  const promptHash = keyedHash(KEY_A, 'system_prompt', template.value);
  const ipBefore = before.find((o) => o.type === 'indicator' && String(o.body.pattern).includes(ipHash));
  assert.ok(ipBefore && !ipBefore.body.revoked, 'the address was published as an indicator');
  // A partner indicator matched by the account and by another one.
  const t0 = '2026-01-01T00:00:00.000Z';
  await store.addSightings([{ indicator_id: 'indicator--00000000-0000-5000-8000-000000000001', count: 7, first_seen: t0, last_seen: t0, accounts: [s.id, 'acct_bystander'] }]);

  const erased = await eraseAccountFromCases(store, s.id, s.values, KEY_A);
  assert.equal(erased.published_indicators, 1, `one published indicator was made from the account's data: ${JSON.stringify(erased)}`);
  assert.equal(erased.withdrawn_indicators, 1, `it is withdrawn: ${JSON.stringify(erased)}`);
  // What a partner polling from its cursor reads (the TAXII server serves these rows).
  const since = await store.published({ collection: PUBLISHED_COLLECTION, addedAfterUs: cursor, limit: 1000 });
  const ipAfter = since.find((o) => o.type === 'indicator' && String(o.body.pattern).includes(ipHash));
  assert.ok(ipAfter, `partners polling since their last cursor get a new version of the address's indicator: ${JSON.stringify(since.map((o) => o.id))}`);
  assert.equal(ipAfter.body.revoked, true, 'revoked');
  assert.ok(String(ipAfter.body.modified) > String(ipBefore.body.modified), 'with a newer modified');
  assert.ok(since.some((o) => o.type === 'relationship' && o.body.source_ref === ipAfter.id && o.body.revoked === true), 'its relationship to the campaign is revoked too');
  const read = stixToIndicators({ type: 'bundle', objects: since.map((o) => o.body) }, { sharingKey: KEY_A, level: 'throttle' });
  assert.deepEqual(read.revoked, [ipAfter.id], 'a partner reading it removes the indicator');
  const latest = await store.published({ collection: PUBLISHED_COLLECTION, versions: 'last', limit: 1000 });
  const prompt = latest.find((o) => o.type === 'indicator' && String(o.body.pattern).includes(promptHash));
  assert.ok(prompt && prompt.body.revoked !== true, 'the campaign\'s prompt template (not personal data) stays in force');
  // Sightings: the account's id is gone, the counts stay.
  assert.equal(erased.sighting_accounts, 1, 'one sighting named the account');
  const sighting = (await store.listSightings()).find((x) => x.indicator_id.endsWith('000000000001'))!;
  assert.equal(sighting.count, 7, 'requests counted stay');
  assert.equal(sighting.accounts.length, 2, 'accounts counted stay');
  assert.ok(!sighting.accounts.includes(s.id) && sighting.accounts.includes('acct_bystander'), `the account's id is replaced, another's is not: ${sighting.accounts}`);

  const again = await eraseAccountFromCases(store, s.id, s.values, KEY_A);
  assert.deepEqual([again.withdrawn_indicators, again.sighting_accounts], [0, 0], 'a second run withdraws nothing more');
  assert.equal((await store.published({ collection: PUBLISHED_COLLECTION, addedAfterUs: since.at(-1)!.added_us, limit: 1000 })).length, 0, 'and publishes nothing');
}

test('case files: an open case holds the account; erasure blanks its facts and its own values (SQLite)', async () => {
  await run(new SqliteCaseStore(openSqlite(join(dir, 'cases.db'))));
});

test('published indicators of the account\'s data are withdrawn, sightings keep counts, not its id (SQLite)', async () => {
  await runPublished(new SqliteCaseStore(openSqlite(join(dir, 'cases-published.db'))));
});

test('published indicators withdrawn, sightings pseudonymised (PostgreSQL)', async () => {
  await withPgSchema('erase_published', async (pool) => {
    const store = new PostgresCaseStore(pool);
    await store.migrate();
    await runPublished(store);
  });
});

test('case files: the same on PostgreSQL', async () => {
  await withPgSchema('erase_cases', async (pool) => {
    const store = new PostgresCaseStore(pool);
    await store.migrate();
    await run(store);
  });
});
