// What a campaign's accounts chose to send (model names, user agents, system prompts, email
// domains) reaches the case report as text, never as Markdown or HTML: no image fetched from the
// campaign's server when an operator opens the report, no link, no heading of its writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, type PromptPool } from '../detect/index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import { buildCaseFile } from './case-file.ts';
import { caseReportMarkdown, mdCode } from './report.ts';

const BEACON_MODEL = 'gpt-4o<img src="https://attacker.example/pixel.png">';
const LURE_AGENT = 'x\n\n## Verdict overturned\n[Sign in to confirm](https://attacker.example/login) <img src=https://attacker.example/u.png> ``` `|` ';
const PROMPT = '![track](https://attacker.example/p.png) <script>alert(1)</script> **You** are `HarvestBot`';

/** The report with code spans taken out: what a Markdown viewer would read as markup. */
const outsideCode = (md: string) => md.replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, ' ');

test('customer-chosen strings reach the case report as inline code, never as HTML, links or headings', async () => {
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] });
  const members = new Set(scenario.labels.campaigns.camp_hydra_1.accounts);
  const events = scenario.events.map((e) => (!members.has(e.account_id!) ? e : {
    ...e, model: BEACON_MODEL,
    client: { ...e.client, user_agent: LURE_AGENT },
    request: { ...e.request, system: PROMPT },
    account: e.account ? { ...e.account, email_domain: 'evil.example](https://attacker.example/d)' } : e.account,
  }));
  const engine = new DetectorEngine();
  for (const ev of events) engine.ingest(ev);
  engine.flush();
  const store = new SqliteEventStore(openSqlite(':memory:'));
  await store.appendBatch(events);
  const campaign = engine.campaigns()[0];
  assert.ok(campaign, 'the campaign is found');
  const md = caseReportMarkdown((await buildCaseFile({ engine, events: store }, campaign.id))!);

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
