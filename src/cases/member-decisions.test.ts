// An account an operator allow-lists out of a campaign (a partner wrongly linked) leaves the case:
// not counted, its values not shared, and the report says who decided it, when and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventObservables } from '../detect/index.ts';
import { campaignFixture, casesAdminOver } from '../../test/helpers/case-campaign.ts';

test('refresh drops an allow-listed member, its values are not shared, the report records the decision; publish asks for a refresh first', async () => {
  const fx = await campaignFixture();
  const { campaign, scenario } = fx;
  const { call, close } = await casesAdminOver(fx, 'decisions.db', 'dashboard:Op Bob');
  try {
    const opened = await call('POST', '/admin/cases', { campaign_id: campaign.id });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const id = opened.body.id;
    const partner = campaign.members[0];
    assert.ok(opened.body.members.some((m: { account_id: string }) => m.account_id === partner), 'the partner is a member at first');

    const allowed = await call('POST', '/admin/detect/allow', { account: partner, note: 'Partner Acme Labs (contract 77), wrongly linked to campaign' });
    assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
    const stale = await call('POST', `/admin/cases/${id}/publish`);
    assert.equal(stale.status, 409, 'publishing a case that still counts an allow-listed account asks for a refresh');
    assert.match(JSON.stringify(stale.body), new RegExp(`${partner}.*refresh`), 'naming the account and what to do');

    const refreshed = await call('POST', `/admin/cases/${id}/refresh`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const c = refreshed.body;
    assert.ok(!c.members.some((m: { account_id: string }) => m.account_id === partner), 'the partner is no longer a member');
    assert.equal(c.members.length, campaign.members.length - 1, 'one account fewer');
    assert.ok(c.title.includes(`${campaign.members.length - 1} accounts`), `a default title counts the members now: ${c.title}`);
    const d = c.decisions.find((x: { account_id: string }) => x.account_id === partner);
    assert.deepEqual([d.decision, d.excluded, d.by, d.note], ['allow_list', true, 'dashboard:Op Bob', 'Partner Acme Labs (contract 77), wrongly linked to campaign'], 'the decision with who and why');
    assert.ok(d.at, 'and when');
    assert.match(c.notes.at(-1).text, new RegExp(`no longer counted.*${partner}.*allow-listed by dashboard:Op Bob`), 'the refresh note says who left and why');

    // Values the partner used count as another account's use: the partner is among the others of each.
    const partnerValues = new Set(scenario.events.filter((e) => e.account_id === partner).flatMap((e) => eventObservables(e).map(([k, v]) => `${k}\n${v}`)));
    for (const o of c.observables as Array<{ kind: string; value: string; others: number; holders: number }>) {
      if (partnerValues.has(`${o.kind}\n${o.value}`)) assert.ok(o.others >= 1, `${o.kind} ${o.value}: the partner counts among the other accounts using it`);
    }

    const report = await call('GET', `/admin/cases/${id}/report`);
    assert.ok(report.body.includes('## Operator decisions on its accounts'), 'the report has the decisions');
    assert.ok(report.body.includes(partner) && report.body.includes('dashboard:Op Bob') && report.body.includes('contract 77'), 'who decided and why');
    assert.equal((await call('POST', `/admin/cases/${id}/publish`)).status, 201, 'after the refresh it publishes');
  } finally { await close(); }
});
