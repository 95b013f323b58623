// An operator's verdict on a cluster reaches every member through the gateway, those the operator
// had already given a milder verdict of their own included: the account is held at the more severe
// of its own verdict and its cluster's. The allow-list is the exemption, and the cluster verdict's
// answer names the members it does not reach.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden({ detect: { tick_seconds: 0.05 } }); });
after(async () => { await t.close(); });

const chat = (key: string) => fetch(`${t.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
});
async function detectAccount(id: string): Promise<any> {
  const r = await fetch(`${t.url}/admin/detect/accounts/${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  return r.status === 200 ? r.json() : null;
}

test('a suspended cluster refuses its member that carries a milder operator verdict; an allow-listed member is named and served', async () => {
  // Three accounts of one declared organisation: the detector links them into one cluster.
  const org = await t.admin('/orgs', { name: 'Fleet Ltd' });
  const accounts: Array<{ id: string; key: string }> = [];
  for (const name of ['fleet-a', 'fleet-b', 'fleet-c']) {
    const a = await t.admin('/accounts', { name, email: `${name}@fleet.example`, tier: 'email_verified', org_id: org.id });
    accounts.push({ id: a.id, key: (await t.admin(`/accounts/${a.id}/keys`, { name: 'k' })).secret });
  }
  for (const a of accounts) assert.equal((await chat(a.key)).status, 200, 'served before any verdict');
  let cluster: string | null = null;
  for (const deadline = Date.now() + 5000; Date.now() < deadline && !cluster; await new Promise((r) => setTimeout(r, 50))) {
    const views = await Promise.all(accounts.map((a) => detectAccount(a.id)));
    const ids = new Set(views.map((v) => v?.cluster?.id ?? null));
    if (ids.size === 1 && !ids.has(null)) cluster = [...ids][0];
  }
  assert.ok(cluster, 'the detector linked the organisation\'s accounts into one cluster');
  const [singled, other, partner] = accounts;

  await t.admin('/detect/verdicts', { kind: 'account', id: singled.id, level: 'shape', note: 'first look' });
  await t.admin('/detect/allow', { account: partner.id, note: 'evaluation partner' });
  const fleet = await t.admin('/detect/verdicts', { kind: 'cluster', id: cluster, level: 'suspend', note: 'whole fleet' });
  assert.deepEqual(fleet.not_reached, [{ account: partner.id, exempt_by: { kind: 'account', id: partner.id } }], 'the answer names the member the suspension does not reach');

  for (const a of [singled, other]) {
    const r = await chat(a.key);
    const body = await r.json() as any;
    assert.equal(r.status, 403, `${a === singled ? 'the member with its own shape verdict' : 'the other member'} is refused: ${JSON.stringify(body)}`);
    assert.equal(body.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED');
  }
  assert.equal((await chat(partner.key)).status, 200, 'the allow-listed member is still served');
  const view = await detectAccount(singled.id);
  assert.equal(view.precedence.decided_by.source, 'operator_cluster', JSON.stringify(view.precedence));
  assert.ok(view.precedence.outranked.some((v: any) => v.source === 'operator_account' && v.level === 'shape'), 'the account verdict is shown as outranked');
});
