// An enterprise's accounts link into one cluster (one org, the company card, one office): the
// cluster is that customer, whose shared budget is its organisation's limit, not the flat budget
// the limits give a cluster of linked strangers.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';

const CLUSTER_RPM = 6;

async function linkedAccounts(w: TestWarden, orgId: string | undefined, domain: string, n: number): Promise<{ id: string; key: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const a = await w.admin('/accounts', { org_id: orgId, name: `dev-${i}`, email: `dev${i}.team@${domain}`, tier: 'email_verified', signup_ip: '198.51.100.23', payment_instrument: `card_company_${domain}` });
    out.push({ id: a.id as string, key: (await w.admin(`/accounts/${a.id}/keys`, { name: 'ci' })).secret as string });
  }
  return out;
}

async function ask(w: TestWarden, key: string): Promise<number> {
  const r = await fetch(`${w.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the build log of the nightly job.' }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

/** Each account asks once, then the detector is waited for until they are one cluster. */
async function untilLinked(w: TestWarden, accounts: { id: string; key: string }[]): Promise<void> {
  for (const a of accounts) assert.equal(await ask(w, a.key), 200, 'a first request is served');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await fetch(`${w.url}/admin/detect/accounts/${accounts[0].id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    const view = r.ok ? await r.json() as { cluster: { size?: number; members: string[] } | null } : null;
    if ((view?.cluster?.members.length ?? 0) >= accounts.length) return;
    assert.ok(Date.now() < deadline, `the accounts were not linked: ${JSON.stringify(view?.cluster ?? null)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function refusedOf(w: TestWarden, accounts: { key: string }[], requests: number): Promise<number> {
  let refused = 0;
  for (let n = 0; n < requests; n++) if (await ask(w, accounts[n % accounts.length].key) === 429) refused++;
  return refused;
}

test('an enterprise org linked into one cluster is limited by its org limit, not the cluster budget; linked accounts without an org, or in an org below enterprise, still share it', async () => {
  const w = await startTestWarden({ identity: { fingerprint_secret: 'org-cluster-budget-secret-0123456789' }, limits: { cluster: { rpm: CLUSTER_RPM, burst: CLUSTER_RPM } } });
  try {
    const org = await w.admin('/orgs', { name: 'Acme', tier: 'enterprise' });
    const acme = await linkedAccounts(w, org.id, 'acme-corp.example', 3);
    await untilLinked(w, acme);
    const acmeRefused = await refusedOf(w, acme, 4 * CLUSTER_RPM);
    assert.equal(acmeRefused, 0, `the enterprise's ${4 * CLUSTER_RPM} requests were all served within its org limit (${acmeRefused} refused)`);

    const strangers = await linkedAccounts(w, undefined, 'strangers.example', 3);
    await untilLinked(w, strangers);
    assert.ok(await refusedOf(w, strangers, 4 * CLUSTER_RPM) > 0, 'accounts linked without a declared org share the cluster budget');

    // An org anyone may declare on a domain of its own, below the enterprise tier, keeps the cluster budget.
    const declared = await w.admin('/orgs', { name: 'Own Domain Ltd', tier: 'email_verified' });
    const own = await linkedAccounts(w, declared.id, 'own-domain.example', 3);
    await untilLinked(w, own);
    assert.ok(await refusedOf(w, own, 4 * CLUSTER_RPM) > 0, 'an org below the enterprise tier shares the cluster budget');
  } finally {
    await w.close();
  }
});
