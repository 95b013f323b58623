// The subdivision a customer claimed (`claimed_subdivision`, ISO 3166-2) is kept in a case file
// beside the claimed country: in each member's facts, in the report's accounts table as its last
// column (the columns before it read as before), and erased with the other signup facts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite } from '../store/index.ts';
import { caseReportMarkdown, eraseAccountFromCases, SqliteCaseStore, type CaseFile } from './index.ts';
import { smallCampaignCase } from '../../test/helpers/case-campaign.ts';

const { caseFile } = await smallCampaignCase((e) => ({ ...e, account: e.account && { ...e.account, claimed_country: 'UA', claimed_subdivision: 'UA-30' } }));

/** The accounts table of a report: its header cells and each row's cells. */
function accountsTable(md: string): { head: string[]; rows: string[][] } {
  const lines = md.split('\n');
  const at = lines.findIndex((l) => l.startsWith('| account |'));
  const cells = (l: string) => l.slice(2, -2).split(' | ');
  const rows: string[][] = [];
  for (let i = at + 2; i < lines.length && lines[i].startsWith('|'); i++) rows.push(cells(lines[i]));
  return { head: cells(lines[at]), rows };
}

test('a case file keeps each member\'s claimed subdivision beside its claimed country', () => {
  assert.ok(caseFile, 'the fixture campaign is found');
  assert.ok(caseFile.members.length > 0);
  for (const m of caseFile.members) {
    assert.equal(m.claimed_country, 'UA');
    assert.equal(m.claimed_subdivision, 'UA-30', `member ${m.account_id} keeps its claimed subdivision`);
  }
});

test('the report\'s accounts table names the claimed subdivision in a last column, the columns before it unchanged', () => {
  const { head, rows } = accountsTable(caseReportMarkdown(caseFile));
  assert.deepEqual(head, ['account', 'org', 'level', 'tier', 'programme', 'signed up', 'email domain', 'country', 'signup IP', 'requests read', 'subdivision']);
  assert.ok(rows.length > 0 && rows.every((r) => r[7] === 'UA' && r.at(-1) === 'UA-30'), `each row: country then, last, subdivision: ${JSON.stringify(rows[0])}`);
  // A case file built before the subdivision was recorded has no such field: its cell is empty.
  const old: CaseFile = { ...caseFile, members: caseFile.members.map(({ claimed_subdivision: _, ...m }) => m) };
  const before = accountsTable(caseReportMarkdown(old));
  assert.ok(before.rows.every((r) => r.length === head.length && r[7] === 'UA' && r.at(-1) !== 'UA-30'), `an older case file still renders: ${JSON.stringify(before.rows[0])}`);
});

test('erasing an account from the case files blanks its claimed subdivision with its other signup facts', async () => {
  const store = new SqliteCaseStore(openSqlite(':memory:'));
  await store.putCase({ ...caseFile, status: 'open' });
  const id = caseFile.members[0].account_id;
  const erased = await eraseAccountFromCases(store, id, { email_domain: null, signup_ip: null, payment_fp: null }, null);
  assert.equal(erased.members, 1);
  const m = (await store.getCase(caseFile.id))!.members.find((x) => x.account_id === id)!;
  assert.deepEqual([m.claimed_country, m.claimed_subdivision], [null, null], 'no claimed place is left');
  const other = (await store.getCase(caseFile.id))!.members.find((x) => x.account_id !== id)!;
  assert.equal(other.claimed_subdivision, 'UA-30', 'the other members keep theirs');
});
