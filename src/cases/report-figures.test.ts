// A case report's figures add up: the day table sums to the requests it reports, and refused
// requests are told apart from answered ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCaseFile } from './case-file.ts';
import { caseReportMarkdown } from './report.ts';
import { campaignFixture, smallCampaignCase } from '../../test/helpers/case-campaign.ts';
import { Ledger } from '../ledger/ledger.ts';
import { SqliteLedgerStorage } from '../ledger/sqlite.ts';
import { generateSigner } from '../ledger/note.ts';

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

test('the ledger\'s usage for the cluster is split into the case\'s members and the accounts it does not count, so it reconciles with the events read', async () => {
  const { built } = await campaignFixture();
  const [m1, m2] = built.members.map((m) => m.account_id);
  const c = {
    ...built,
    decisions: [{ account_id: 'acct_partner', decision: 'allow_list' as const, entry: { kind: 'account' as const, id: 'acct_partner' }, level: null, excluded: true, by: 'cli:jane', at: '2026-12-06T01:30:52.396Z', note: 'evaluation partner' }],
    ledger: {
      checkpoint: null, verdicts: [], truncated: false,
      usage: [
        { account_id: m1, requests: 40, input_tokens: 1, output_tokens: 400, reasoning_tokens: 0, countries: [], asns: [] },
        { account_id: m2, requests: 20, input_tokens: 1, output_tokens: 200, reasoning_tokens: 0, countries: [], asns: [] },
        { account_id: 'acct_partner', requests: 7, input_tokens: 1, output_tokens: 70, reasoning_tokens: 0, countries: [], asns: [] },
      ],
    },
  };
  const md = caseReportMarkdown(c);
  assert.ok(md.includes('Usage the log records for the cluster: 67 requests, 670 output tokens, 3 accounts'), `the cluster's total:\n${md.slice(md.indexOf('## What the ledger proves'))}`);
  assert.ok(md.includes('Of them the case\'s members: 60 requests, 600 output tokens, 2 accounts'), 'the members\' share, to set beside the events read');
  assert.ok(md.includes('not counted as the campaign\'s: 7 requests, 70 output tokens, 1 account (`acct_partner`: allow-listed by cli:jane'), 'and who is left out, and why');
});

test('a case says how many entries the log held when its usage was read, beside the checkpoint it names', async () => {
  const { engine, events, campaign, scenario } = await campaignFixture();
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: 'warden.test/ledger', signers: [generateSigner('warden.test/ledger')], checkpointIntervalMs: 60_000 });
  try {
    const theirs = scenario.events.filter((e) => campaign.members.includes(e.account_id!));
    for (const e of theirs.slice(0, 5)) await ledger.appendInteraction(e);
    await ledger.checkpoint();
    // Recorded after the latest checkpoint: counted in the usage, not yet covered by a signature.
    for (const e of theirs.slice(5, 8)) await ledger.appendInteraction(e);
    const c = (await buildCaseFile({ engine, events, ledger }, campaign.id))!;
    assert.equal(c.ledger?.checkpoint?.size, 5);
    assert.equal((c.ledger as any)?.tree_size, 8, 'the log\'s size when the usage was read');
    const md = caseReportMarkdown(c);
    assert.ok(md.includes('read from the first 8 entries of the log; the checkpoint above covers the first 5'), `the report says which entries the usage covers:\n${md.slice(md.indexOf('## What the ledger proves'))}`);
  } finally {
    await ledger.close();
  }
});

test('a case copies the detector settings its logged verdicts were reached under, and its report shows them', async () => {
  const { engine, store: events, campaign } = await smallCampaignCase((e) => e);
  assert.ok(campaign, 'a campaign');
  const { detectorSettings } = await import('../ledger/settings.ts');
  const { detectConfig } = await import('../detect/config.ts');
  const settings = detectorSettings(detectConfig({ thresholds: { suspend: 0.8 } }), '9.9.9') as unknown as Record<string, unknown>;
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: 'warden.test/ledger', signers: [generateSigner('warden.test/ledger')], checkpointIntervalMs: 60_000, detectorSettings: settings, writer: 'inline' });
  try {
    const cluster = engine.cluster(campaign.cluster_id)!;
    const verdict = { subject: { kind: 'cluster' as const, id: cluster.id }, level: cluster.level, score: cluster.score, reasons: cluster.reasons, source: 'detector' as const, since: campaign.flagged_at, campaign_id: campaign.id };
    const logged = await ledger.appendVerdict(verdict, { accounts: campaign.members });
    await ledger.checkpoint();
    const c = (await buildCaseFile({ engine, events, ledger }, campaign.id))!;
    const cited = c.ledger!.verdicts.find((v) => v.index === logged.index);
    const digest = c.ledger!.settings?.[0]?.digest;
    assert.ok(digest && cited?.settings_digest === digest, `the cited verdict names its settings and the case copies them: ${JSON.stringify({ cited, settings: c.ledger!.settings?.map((x) => x.digest) })}`);
    assert.equal((c.ledger!.settings![0].settings as { detect: { thresholds: { suspend: number } } }).detect.thresholds.suspend, 0.8, 'with the settings themselves, as recorded');
    const md = caseReportMarkdown(c);
    const proves = md.slice(md.indexOf('## What the ledger proves'));
    assert.ok(proves.includes(`| ${logged.index} |`) && proves.includes(`${digest.slice(0, 16)}… (entry ${c.ledger!.settings![0].index})`), `the report names each verdict's settings:\n${proves.slice(0, 1500)}`);
    assert.ok(/reached under these settings[\s\S]*\| 9\.9\.9 \|/.test(proves), 'and lists the settings entries with their Warden version');
  } finally {
    await ledger.close();
  }
});
