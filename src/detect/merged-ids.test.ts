// Ids handed to operators (alerts, cases) keep resolving after their campaign merges into another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, detectAdminRoutes } from './index.ts';
import { twoCampaignsThenBridge } from '../../test/helpers/two-campaigns.ts';
import { runDetectCli } from '../cli/detect-cmd.ts';
import { casesAdminRoutes, DEFAULT_CASE_LIMITS, MemoryCaseStore } from '../cases/index.ts';
import { SharedIndicators } from './index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';

test('a campaign or cluster id that merged away resolves to the one it merged into (engine, snapshot, replay, admin API)', async () => {
  const { before, bridge } = twoCampaignsThenBridge();
  const engine = new DetectorEngine();
  for (const ev of before) engine.ingest(ev);
  engine.flush();
  const alerted = engine.campaigns();
  assert.equal(alerted.length, 2, 'two campaigns before the bridge');
  for (const ev of bridge) engine.ingest(ev);
  engine.flush();
  const now = engine.campaigns();
  assert.equal(now.length, 1, 'they merged into one');
  const survivor = now[0];
  const gone = alerted.find((c) => c.id !== survivor.id)!;
  assert.ok(gone, 'one campaign id went away');

  for (const e of [engine, (() => { const r = new DetectorEngine(); r.restoreState(engine.snapshotState()); return r; })(),
    (() => { const r = new DetectorEngine(); for (const ev of [...before, ...bridge]) r.ingest(ev); r.flush(); return r; })()]) {
    assert.equal(e.campaign(gone.id)?.id, survivor.id, 'the old campaign id answers with the surviving campaign');
    assert.equal(e.campaign(gone.cluster_id)?.id, survivor.id, 'the old cluster id answers with the surviving campaign');
    assert.equal(e.cluster(gone.cluster_id)?.id, survivor.cluster_id, 'the old cluster id answers with the surviving cluster');
    assert.equal(e.resolveMerged(gone.id), survivor.id, 'the merge is remembered');
    assert.equal(e.resolveMerged(survivor.id), null, 'a live id resolves to itself');
  }

  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect' })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const get = async (path: string) => { const res = await fetch(base + path); return { status: res.status, body: await res.json() as any }; };
    const cl = await get(`/admin/detect/clusters/${gone.cluster_id}`);
    assert.equal(cl.status, 200, 'the old cluster id is not a 404');
    assert.deepEqual(cl.body.merged, { from: gone.cluster_id, into: survivor.cluster_id }, 'the answer says it merged');
    const camp = await get(`/admin/detect/campaigns/${gone.id}`);
    assert.equal(camp.status, 200, 'the old campaign id is not a 404');
    assert.equal(camp.body.id, survivor.id, 'answered with the surviving campaign');
    assert.deepEqual(camp.body.merged, { from: gone.id, into: survivor.id }, 'saying it merged');
    const list = await get('/admin/detect/campaigns');
    assert.ok(list.body.data[0].merged_from.includes(gone.id), 'the campaign list names the campaigns merged into each');
    assert.equal((await get('/admin/detect/campaigns/camp_nothing')).status, 404, 'an unknown id is still a 404');

    // The command line says it too.
    const cli = async (...argv: string[]) => {
      let out = ''; let err = '';
      const code = await runDetectCli([...argv, '--url', base, '--token', 'test-token-not-checked-here'], { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env: {} });
      return { code, out, err };
    };
    const byCampaign = await cli('campaign', gone.id);
    assert.equal(byCampaign.code, 0, byCampaign.err);
    assert.ok(byCampaign.out.startsWith(`${gone.id} merged into ${survivor.id}:`), `warden detect campaign says where it went:\n${byCampaign.out.slice(0, 300)}`);
    const byCluster = await cli('cluster', gone.cluster_id);
    assert.equal(byCluster.code, 0, byCluster.err);
    assert.ok(byCluster.out.startsWith(`${gone.cluster_id} merged into ${survivor.cluster_id}:`), 'warden detect cluster says where it went');
  } finally { await app.close(); }
});

test('a case opened on a campaign id that merged away is opened on the surviving campaign, and says so', async () => {
  const { before, bridge } = twoCampaignsThenBridge();
  const engine = new DetectorEngine();
  for (const ev of before) engine.ingest(ev);
  engine.flush();
  const alerted = engine.campaigns().map((c) => c.id);
  for (const ev of bridge) engine.ingest(ev);
  engine.flush();
  const [survivor] = engine.campaigns();
  const gone = alerted.find((id) => id !== survivor.id)!;
  const events = new SqliteEventStore(openSqlite(':memory:'));
  await events.appendBatch([...before, ...bridge]);
  const app = Fastify();
  mountAdminRoutes(app, [casesAdminRoutes({
    store: new MemoryCaseStore(), intel: new SharedIndicators('partners-exchange-key-2026'), sharingKey: null, provider: 'Provider A', importLevel: 'throttle', exportValidDays: 90,
    sources: { engine, events }, limits: DEFAULT_CASE_LIMITS,
  })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const res = await fetch(`${base}/cases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ campaign_id: gone }) });
    const c = await res.json() as { campaign_id: string; notes: Array<{ text: string }> };
    assert.equal(res.status, 201, `the old id opens a case: ${JSON.stringify(c)}`);
    assert.equal(c.campaign_id, survivor.id, 'on the surviving campaign');
    assert.ok(c.notes.some((n) => n.text.includes(`opened as ${gone}, which merged into campaign ${survivor.id}`)), 'with a note saying so');
  } finally { await app.close(); }
});

test('a cluster id an operator verdict was re-attached from after a replay answers on the admin API with the cluster it names now', async () => {
  const { before } = twoCampaignsThenBridge();
  const engine = new DetectorEngine();
  for (const ev of before) engine.ingest(ev);
  engine.flush();
  const live = engine.campaigns()[0];
  assert.ok(live, 'a campaign formed');
  // What start-up does when a stored cluster verdict names an id the replayed engine calls otherwise.
  engine.aliasCluster('clu_0l7upyt', live.cluster_id);
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect' })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const cluster = await fetch(`${base}/admin/detect/clusters/clu_0l7upyt`);
    assert.equal(cluster.status, 200, `the old cluster id resolves: ${await cluster.clone().text()}`);
    assert.equal((await cluster.json() as any).id, live.cluster_id, 'answered with the live cluster');
    const campaign = await fetch(`${base}/admin/detect/campaigns/clu_0l7upyt`);
    assert.equal(campaign.status, 200, `the campaign by the old cluster id resolves: ${await campaign.clone().text()}`);
    const body = await campaign.json() as any;
    assert.equal(body.id, live.id, 'answered with the live campaign');
    assert.deepEqual(body.merged, { from: 'clu_0l7upyt', into: live.id }, 'saying which id was asked for');
  } finally {
    await app.close();
  }
});
