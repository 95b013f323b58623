// A case report's figures add up: the day table sums to the requests it reports, and refused
// requests are told apart from answered ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseReportMarkdown } from './report.ts';
import { smallCampaignCase } from '../../test/helpers/case-campaign.ts';

test('the report says how many requests were answered and refused, and its day table sums to its total', async () => {
  // From its second day, most of the campaign's requests are refused (denied or limited).
  let n = 0;
  const { events, campaign, caseFile: c } = await smallCampaignCase((e, first) => {
    if (Date.parse(e.ts) < Date.parse(first.ts) + 86_400_000) return e;
    const status = ++n % 3 === 0 ? 429 : n % 3 === 1 ? 403 : 200;
    return { ...e, response: { ...e.response, status, output_tokens: status === 200 ? e.response.output_tokens : 0 } };
  });
  assert.ok(campaign, 'a campaign');
  const theirs = events.filter((e) => campaign.members.includes(e.account_id!));
  const refused = theirs.filter((e) => e.response.status === 403 || e.response.status === 429).length;
  assert.ok(refused > 0, 'some were refused');
  assert.equal(c.usage.requests, theirs.length, 'every request of its accounts is read');
  assert.equal(c.usage.refused, refused, 'refused ones counted');
  assert.equal(c.usage.served, theirs.length - refused, 'answered ones counted');

  const md = caseReportMarkdown(c);
  const num = (x: number) => x.toLocaleString('en-GB');
  assert.ok(md.includes(`${num(theirs.length)} requests, of which ${num(theirs.length - refused)} were answered, ${num(refused)} refused`), `the report says how many were answered and refused:\n${md.slice(0, 1500)}`);
  const dayRows = md.split('\n').filter((l) => /^\| \d{4}-\d{2}-\d{2} \|/.test(l));
  assert.ok(dayRows.length >= 2, 'a row per day');
  const sum = dayRows.reduce((a, l) => a + Number(l.split('|')[2].trim().replace(/,/g, '')), 0);
  assert.equal(sum, theirs.length, 'the day table sums to the requests the report gives');
});
