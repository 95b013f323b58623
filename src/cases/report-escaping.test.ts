// What a campaign's accounts chose to send (model names, user agents, system prompts, email
// domains) reaches the case report as text, never as Markdown or HTML: no image fetched from the
// campaign's server when an operator opens the report, no link, no heading of its writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseReportMarkdown, mdCode } from './report.ts';
import { smallCampaignCase } from '../../test/helpers/case-campaign.ts';

const BEACON_MODEL = 'gpt-4o<img src="https://attacker.example/pixel.png">';
const LURE_AGENT = 'x\n\n## Verdict overturned\n[Sign in to confirm](https://attacker.example/login) <img src=https://attacker.example/u.png> ``` `|` ';
const PROMPT = '![track](https://attacker.example/p.png) <script>alert(1)</script> **You** are `HarvestBot`';

/** The report with code spans taken out: what a Markdown viewer would read as markup. */
const outsideCode = (md: string) => md.replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, ' ');

test('customer-chosen strings reach the case report as inline code, never as HTML, links or headings', async () => {
  const { campaign, caseFile } = await smallCampaignCase((e) => ({
    ...e, model: BEACON_MODEL,
    client: { ...e.client, user_agent: LURE_AGENT },
    request: { ...e.request, system: PROMPT },
    account: e.account ? { ...e.account, email_domain: 'evil.example](https://attacker.example/d)' } : e.account,
  }));
  assert.ok(campaign, 'the campaign is found');
  const md = caseReportMarkdown(caseFile);

  assert.ok(md.includes(`Models: ${mdCode(BEACON_MODEL)} (`), `the model name is shown as code:\n${md.split('\n').find((l) => l.startsWith('Models:'))}`);
  const markup = outsideCode(md);
  for (const bad of ['<img', '<script', '](https://attacker.example', 'attacker.example']) {
    assert.ok(!markup.includes(bad), `"${bad}" appears only inside code spans:\n${markup.split('\n').filter((l) => l.includes(bad)).join('\n')}`);
  }
  assert.ok(!md.split('\n').some((l) => l.startsWith('## Verdict overturned')), 'no heading of the campaign\'s writing');
  const headings = md.split('\n').filter((l) => l.startsWith('#'));
  assert.ok(headings.every((h) => !/attacker|Verdict overturned/.test(h)), `headings are the report's own: ${headings.join(' / ')}`);
  // Every table row keeps its columns: a pipe in a value does not open a new cell.
  for (const table of md.split('\n\n').filter((b) => b.startsWith('| '))) {
    const rows = table.split('\n');
    const cols = (l: string) => l.replace(/\\\|/g, '').split('|').length;
    assert.ok(rows.every((r) => cols(r) === cols(rows[0])), `every row has the header's columns:\n${rows.filter((r) => cols(r) !== cols(rows[0])).join('\n')}`);
  }
});

test('a code span holds any backticks: its fence is longer than the longest run inside', () => {
  assert.equal(String(mdCode('a`b')), '``a`b``');
  assert.equal(String(mdCode('```')), '```` ``` ````');
  assert.equal(String(mdCode('x\n\ny')), '`x y`', 'one line');
  assert.equal(String(mdCode('')), '-');
});
