// The operator's verdict on a campaign's cluster (suspending it, usually the main decision on a
// case) is in the report's operator decisions, naming the cluster, beside those on single accounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { MemoryDetectOverridesStore, SharedIndicators, detectAdminRoutes } from '../detect/index.ts';
import { openSqlite } from '../store/index.ts';
import { casesAdminRoutes, DEFAULT_CASE_LIMITS, SqliteCaseStore } from './index.ts';
import { campaignFixture } from '../../test/helpers/case-campaign.ts';

test('the case report lists the operator verdict on the campaign\'s cluster, with the cluster, who, when and why', async () => {
  const { engine, events, campaign, dir, KEY_A } = await campaignFixture();
  const overrides = new MemoryDetectOverridesStore();
  const app = Fastify();
  await app.register(async (admin) => {
    mountAdminRoutes(admin, [
      detectAdminRoutes(engine, { prefix: '/detect', overrides }),
      casesAdminRoutes({
        store: new SqliteCaseStore(openSqlite(join(dir, 'cluster-decisions.db'))), intel: new SharedIndicators(KEY_A), sharingKey: KEY_A, provider: 'Provider A',
        importLevel: 'throttle', exportValidDays: 90, sources: { engine, events, decisions: () => overrides.list() }, limits: DEFAULT_CASE_LIMITS,
      }),
    ], { validateResponses: true });
  }, { prefix: '/admin' });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: { 'x-warden-actor': 'dashboard:Op Carol', ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text as any };
  };
  try {
    const set = await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: campaign.cluster_id, level: 'suspend', note: 'templated CoT harvest, ticket OPS-41' });
    assert.equal(set.status, 201, JSON.stringify(set.body));
    const opened = await call('POST', '/admin/cases', { campaign_id: campaign.id });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const d = opened.body.cluster_decisions?.[0];
    assert.ok(d, `the case file keeps the cluster decision: ${JSON.stringify(opened.body.cluster_decisions)}`);
    assert.deepEqual([d.cluster_id, d.level, d.by, d.note], [campaign.cluster_id, 'suspend', 'dashboard:Op Carol', 'templated CoT harvest, ticket OPS-41'], 'which cluster, the level, who and why');

    const report = await call('GET', `/admin/cases/${opened.body.id}/report`);
    const section = String(report.body).split('## Operator decisions on its accounts')[1]?.split('\n## ')[0] ?? '';
    assert.ok(section, `the report has the operator decisions section: ${String(report.body).slice(0, 400)}`);
    assert.ok(section.includes(campaign.cluster_id) && section.includes('operator verdict suspend'), `it names the cluster and the suspension: ${section}`);
    assert.ok(section.includes('dashboard:Op Carol') && section.includes('ticket OPS-41'), `who decided and why: ${section}`);
  } finally { await app.close(); }
});
