// Ids handed to operators (alerts, cases) keep resolving after their campaign merges into another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, detectAdminRoutes } from './index.ts';
import { twoCampaignsThenBridge } from '../../test/helpers/two-campaigns.ts';

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
  } finally { await app.close(); }
});
