// The detector's verdicts in the ledger, wired as `warden serve` wires them: a cluster verdict's
// signed entry names the accounts it covers, and the audit query by cluster finds those accounts'
// traffic, including what they sent before they were linked (recorded without the cluster's id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, type PromptPool } from '../detect/index.ts';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner } from './note.ts';
import { ledgerHooks, ledgerMergeSink, ledgerVerdictSink } from './hooks.ts';
import { twoCampaignsThenBridge } from '../../test/helpers/two-campaigns.ts';
import { parseLeaf } from './records.ts';
import { queryLedger } from './query.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';

test('a cluster verdict is recorded with its accounts; the query by cluster finds their interactions', async () => {
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, { seed: 5, days: 1, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 16 }] });
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    const engine = new DetectorEngine();
    engine.onVerdict(ledgerVerdictSink(ledger, (err) => assert.fail(String(err))));
    const hooks = ledgerHooks(ledger, { verdicts: engine, closeOnShutdown: false });
    for (const ev of scenario.events) {
      engine.ingest(ev);
      hooks.onEvent!(ev as never);
    }
    engine.flush();
    await ledger.flush();

    const campaign = engine.campaigns()[0];
    assert.ok(campaign, 'the hydra is a named campaign');
    const size = await ledger.storage.size();
    const leaves = (await ledger.storage.entries(0, size, size)).map((r) => parseLeaf(r.leaf));
    const clusterVerdicts = leaves.filter((l) => l.kind === 'verdict' && l.subject.kind === 'cluster' && l.subject.id === campaign.cluster_id);
    assert.ok(clusterVerdicts.length > 0, 'the cluster\'s verdicts are in the log');
    for (const v of clusterVerdicts) {
      assert.ok(v.kind === 'verdict' && v.accounts.length >= 2, `a cluster verdict names the accounts it covers (got ${JSON.stringify(v.kind === 'verdict' && v.accounts)})`);
    }
    const latest = clusterVerdicts.at(-1)!;
    assert.ok(latest.kind === 'verdict');
    assert.deepEqual(latest.accounts, [...latest.accounts].sort());
    assert.ok(latest.accounts.every((a) => campaign.members.includes(a)), 'only the cluster\'s members');

    // Their traffic is found by cluster, before the link too (those entries carry no cluster id).
    const result = await queryLedger(ledger.storage, { clusterId: campaign.cluster_id });
    const found = new Set(result.interactions.map((r) => r.id));
    const theirs = scenario.events.filter((e) => latest.accounts.includes(e.account_id!));
    assert.ok(theirs.some((e) => !result.interactions.find((r) => r.id === e.id)?.cluster_id), 'some of it was recorded before the link');
    assert.deepEqual(theirs.filter((e) => !found.has(e.id)).length, 0, 'every interaction of the accounts a verdict names');
    assert.ok(result.verdicts.some((v) => v.subject_id === campaign.cluster_id && v.accounts.length === latest.accounts.length));
  } finally {
    await ledger.close();
  }
});

test('the query by cluster also finds what an account sent before its interactions carried the cluster\'s id', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    // acct_3 alone, then linked into clu_1 (no verdict names it: the cluster's last change came before it joined).
    const before = await ledger.appendInteraction(sampleEvent(3), { clusterId: null });
    const after = await ledger.appendInteraction(sampleEvent(10), { clusterId: 'clu_1' });
    await ledger.appendInteraction(sampleEvent(4), { clusterId: null });
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'clu_1' }), { accounts: ['acct_1'] });
    await ledger.appendInteraction(sampleEvent(1), { clusterId: null });
    const result = await queryLedger(ledger.storage, { clusterId: 'clu_1' });
    assert.deepEqual(result.interactions.map((r) => r.account_id).sort(), ['acct_1', 'acct_3', 'acct_3']);
    assert.deepEqual(result.interactions.filter((r) => r.account_id === 'acct_3').map((r) => r.index), [before.index, after.index]);
  } finally {
    await ledger.close();
  }
});

test('the query by cluster finds the accounts that came in when another flagged cluster merged into it', async () => {
  const { before, bridge } = twoCampaignsThenBridge();
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    const engine = new DetectorEngine();
    engine.onVerdict(ledgerVerdictSink(ledger, (err) => assert.fail(String(err))));
    engine.onClusterMerge(ledgerMergeSink(ledger, (err) => assert.fail(String(err))));
    const hooks = ledgerHooks(ledger, { verdicts: engine, closeOnShutdown: false });
    for (const ev of [...before, ...bridge]) { engine.ingest(ev); hooks.onEvent!(ev as never); }
    engine.flush();
    await ledger.flush();
    const [campaign] = engine.campaigns();
    assert.equal(engine.campaigns().length, 1, 'the two campaigns merged into one');
    const result = await queryLedger(ledger.storage, { clusterId: campaign.cluster_id });
    const accounts = new Set(result.interactions.map((r) => r.account_id));
    const missing = campaign.members.filter((m) => !accounts.has(m));
    assert.deepEqual(missing, [], 'every account the cluster holds, those that came by the merge included');
    const theirs = [...before, ...bridge].filter((e) => campaign.members.includes(e.account_id!));
    assert.equal(result.interactions.length, theirs.length, 'all their interactions');
    assert.ok(result.verdicts.some((v) => v.reasons.some((r) => (r as { signal?: string }).signal === 'clusters_merged')), 'the merge is on record');
  } finally {
    await ledger.close();
  }
});

test('usage per account: the verdict in force is the one enforced (a cluster\'s suspend over a later watch of its own), refusals apart from errors', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    // acct_1 is in clu_9, suspended; its own account verdict (watch) is logged after the cluster's.
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'clu_9' }, 'suspend'), { accounts: ['acct_1'] });
    await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_1' }, 'watch'));
    const at = (n: number, status: number, verdict: string | null) => {
      const ev = sampleEvent(n * 7 + 1);
      return ledger.appendInteraction({ ...ev, ts: new Date(Date.now() + n * 1000).toISOString(), response: { ...ev.response, status }, enforcement: { ...ev.enforcement, verdict: verdict as never } }, { clusterId: 'clu_9' });
    };
    await at(1, 200, null);
    await at(2, 403, 'suspend');
    await at(3, 429, 'suspend');
    await at(4, 500, 'suspend');
    await at(5, 403, 'suspend');
    const { usage } = await queryLedger(ledger.storage, { accountId: 'acct_1' });
    assert.equal(usage.length, 1);
    const u = usage[0];
    assert.equal(u.requests, 5);
    assert.equal(u.refused, 3, 'denied (403) and limited (429) are refusals');
    assert.equal(u.errors, 1, 'only the 5xx is an error, as the dashboard counts');
    assert.equal(u.latest_verdict?.level, 'watch', 'the latest logged verdict is the account\'s own');
    assert.deepEqual({ level: u.verdict_in_force?.level, subject: u.verdict_in_force?.subject }, { level: 'suspend', subject: 'cluster:clu_9' }, 'the verdict in force is the cluster\'s suspend');
  } finally {
    await ledger.close();
  }
});

test('the clusters merged into a cluster before it was flagged are recorded when it is flagged, and the query by cluster names them', async () => {
  const { before, bridge } = twoCampaignsThenBridge();
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    const engine = new DetectorEngine();
    const unflaggedMerges: string[] = [];
    engine.onClusterMerge((m) => { if (m.level === 'none') unflaggedMerges.push(m.merged); });
    engine.onVerdict(ledgerVerdictSink(ledger, (err) => assert.fail(String(err)), engine));
    engine.onClusterMerge(ledgerMergeSink(ledger, (err) => assert.fail(String(err)), engine));
    const hooks = ledgerHooks(ledger, { verdicts: engine, closeOnShutdown: false });
    for (const ev of [...before, ...bridge]) { engine.ingest(ev); hooks.onEvent!(ev as never); }
    engine.flush();
    await ledger.flush();
    assert.ok(unflaggedMerges.length > 0, 'clusters merged before anything was flagged (the case under test)');
    const [campaign] = engine.campaigns();
    const result = await queryLedger(ledger.storage, { clusterId: campaign.cluster_id });
    const named = new Set<string>();
    for (const v of result.verdicts) for (const r of v.reasons as Array<{ signal?: string; value?: unknown }>) if (r.signal === 'clusters_merged') named.add(String(r.value));
    const history = engine.mergedFrom(campaign.cluster_id).filter((id) => id.startsWith('clu_'));
    assert.deepEqual(history.filter((id) => !named.has(id)), [], `every cluster merged into ${campaign.cluster_id} is on record, those merged before it was flagged included (named: ${[...named].join(', ')})`);
    assert.ok(unflaggedMerges.every((id) => named.has(id)), 'the merges made while nobody was flagged are among them');
    // One history entry per flagged cluster, not one per merge.
    const historyEntries = result.verdicts.filter((v) => v.reasons.some((r) => (r as { detail?: string }).detail?.includes('before it was flagged')));
    assert.ok(historyEntries.length <= engine.campaigns().length + 1, `the merge history is written once per flagged cluster (${historyEntries.length} entries)`);
  } finally {
    await ledger.close();
  }
});

test('a cluster an operator flagged records the clusters that merge into it, so the query by cluster finds their accounts', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    const engine = new DetectorEngine();
    engine.onVerdict(ledgerVerdictSink(ledger, (err) => assert.fail(String(err)), engine));
    engine.onClusterMerge(ledgerMergeSink(ledger, (err) => assert.fail(String(err)), engine));
    const hooks = ledgerHooks(ledger, { verdicts: engine, closeOnShutdown: false });
    // Two pairs linked by their own facts (a card; an org), on their own addresses and software.
    const send = (n: number, account: string, card: string, org: string | null) => {
      const ev = sampleEvent(n, { account_id: account, org_id: org, key_id: `key_${account}` });
      ev.account = { ...ev.account!, created_at: '2026-05-31T00:00:00.000Z', tier: 'unverified', email_domain: `${account}.test`, payment_fp: card, signup_ip: `10.${n}.9.9` };
      ev.client = { ip: `10.${n}.0.1`, user_agent: `ua-${account}`, country: 'NL', asn: 64000 + n };
      ev.request = { ...ev.request, system: `system prompt of ${account}` };
      engine.ingest(ev); hooks.onEvent!(ev as never);
    };
    send(1, 'acct_a1', 'pf_a', null);
    send(2, 'acct_a2', 'pf_a', null);
    const suspended = engine.forAccount('acct_a1').clusterId!;
    assert.ok(suspended, 'the first pair is a cluster');
    engine.setManualVerdict({ kind: 'cluster', id: suspended }, 'suspend', 'linked signups');
    send(3, 'acct_b1', 'pf_b1', 'org_b');
    send(4, 'acct_b2', 'pf_b2', 'org_b');
    assert.notEqual(engine.forAccount('acct_b1').clusterId, suspended, 'the second pair is a cluster of its own');
    // One account with the first pair's card in the second pair's org: the second pair merges into
    // the suspended cluster. Its accounts send nothing afterwards.
    send(5, 'acct_c', 'pf_a', 'org_b');
    assert.equal(engine.forAccount('acct_b1').clusterId, suspended, 'the second pair merged into the suspended cluster');
    assert.equal(engine.forAccount('acct_b1').level, 'suspend', 'and is held at its suspension');
    await ledger.flush();
    const result = await queryLedger(ledger.storage, { clusterId: suspended });
    const accounts = [...new Set(result.interactions.map((r) => r.account_id))].sort();
    assert.deepEqual(accounts, ['acct_a1', 'acct_a2', 'acct_b1', 'acct_b2', 'acct_c'], 'the query by the suspended cluster finds the accounts that came in by the merge');
  } finally {
    await ledger.close();
  }
});

test('a campaign built of many merges into a flagged cluster: each merged id is recorded once, and each merge reads only what it brings', async () => {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50 });
  try {
    // The detector's history: every cluster merged away brings one cluster merged into it earlier.
    const into = new Map<string, string[]>();
    let idsRead = 0;
    const history = {
      mergedFrom(id: string): string[] {
        const out: string[] = [];
        const todo = [id];
        while (todo.length > 0) for (const from of into.get(todo.pop()!) ?? []) { out.push(from); todo.push(from); }
        idsRead += out.length;
        return out;
      },
    };
    const sink = ledgerMergeSink(ledger, (err) => assert.fail(String(err)), history);
    const MERGES = 2_000;
    for (let i = 0; i < MERGES; i++) {
      const merged = `clu_m${i}`;
      into.set(merged, [`clu_e${i}`]);
      into.set('clu_big', [...(into.get('clu_big') ?? []), merged]);
      sink({ cluster: 'clu_big', campaign_id: 'cmp_big', merged, merged_campaign_id: null, level: 'throttle', at: '2026-06-01T00:00:00.000Z', accounts: ['acct_1'] });
    }
    await ledger.flush();
    assert.ok(idsRead <= 4 * MERGES, `each merge reads the history it brings, not the whole campaign's again (${idsRead} ids read for ${MERGES} merges)`);
    const result = await queryLedger(ledger.storage, { clusterId: 'clu_big' });
    const named: string[] = [];
    for (const v of result.verdicts) for (const r of v.reasons as Array<{ signal?: string; value?: unknown }>) if (r.signal === 'clusters_merged') named.push(String(r.value));
    assert.equal(named.length, 2 * MERGES, `every merged cluster and the one it brought are on record (${named.length})`);
    assert.equal(new Set(named).size, named.length, 'each of them once');
  } finally {
    await ledger.close();
  }
});
