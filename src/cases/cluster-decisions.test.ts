// The operator's verdict on a campaign's cluster (suspending it, usually the main decision on a
// case) is in the report's operator decisions, naming the cluster, beside those on single accounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { campaignFixture, casesAdminOver } from '../../test/helpers/case-campaign.ts';

test('the case report lists the operator verdict on the campaign\'s cluster, with the cluster, who, when and why', async () => {
  const fx = await campaignFixture();
  const { campaign } = fx;
  const { call, close } = await casesAdminOver(fx, 'cluster-decisions.db', 'dashboard:Op Carol');
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
  } finally { await close(); }
});
