// A deletion request in the case files: an open case holds the account; once erased (the hold
// overridden), the cases naming it keep its id and verdict but not its signup facts, nor the values
// only it used; values the campaign's other accounts shared stay. SQLite and PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../store/index.ts';
import { casesHolding, eraseAccountFromCases, SqliteCaseStore, PostgresCaseStore, type CaseStore } from './index.ts';
import { campaignFixture } from '../../test/helpers/case-campaign.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';

const { scenario, dir, events, built } = await campaignFixture();
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
  assert.deepEqual(await eraseAccountFromCases(store, s.id, s.values, null), { cases: 0, members: 0, values: 0, shared_values_kept: erased.shared_values_kept, published_indicators: 0 }, 'a second run changes nothing');

  // A dismissed case does not hold it.
  await store.putCase({ ...after, status: 'dismissed' });
  assert.deepEqual(await casesHolding(store, s.id), [], 'a dismissed case holds nobody');
}

test('case files: an open case holds the account; erasure blanks its facts and its own values (SQLite)', async () => {
  await run(new SqliteCaseStore(openSqlite(join(dir, 'cases.db'))));
});

test('case files: the same on PostgreSQL', async () => {
  await withPgSchema('erase_cases', async (pool) => {
    const store = new PostgresCaseStore(pool);
    await store.migrate();
    await run(store);
  });
});
