// An operator's allow-list entry exempts an account (or every account of an organisation) from
// every verdict, so adding or removing one is an operator decision the signed log must hold, with
// who made it and why, as it holds operator verdicts: otherwise an account could be let off with
// no trace in the record an auditor checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { parseLeaf } from '../../src/ledger/index.ts';

const asAdmin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'x-warden-actor': 'cli:jane', 'content-type': 'application/json' };

async function query(url: string, params: string): Promise<any> {
  const r = await fetch(`${url}/admin/ledger/v1/query?${params}`, { headers: asAdmin });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

/** The ledger's verdict entries about `subject`, once `n` of them are in (appends are queued). */
async function verdictsAbout(url: string, params: string, n: number): Promise<any[]> {
  for (let i = 0; i < 100; i++) {
    const found = (await query(url, params)).verdicts as any[];
    if (found.length >= n) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  return (await query(url, params)).verdicts;
}

test('allow-listing an account and taking it off are signed ledger entries with who did it and why', async () => {
  const t = await startTestWarden({ ledger: { checkpoint_interval_ms: 50, key: '' } });
  try {
    const partner = await t.account('partner', 'email_verified');
    const post = await fetch(`${t.url}/admin/detect/allow`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ account: partner.id, note: 'evaluation partner, ticket OPS-77' }) });
    assert.equal(post.status, 201);
    const del = await fetch(`${t.url}/admin/detect/allow`, { method: 'DELETE', headers: asAdmin, body: JSON.stringify({ account: partner.id, reason: 'contract ended' }) });
    assert.equal(del.status, 204);

    const verdicts = await verdictsAbout(t.url, `account=${partner.id}`, 2);
    assert.deepEqual(verdicts.map((v) => [v.subject_kind, v.subject_id, v.source, v.reasons[0].signal, v.reasons[0].detail, v.reasons[0].by]), [
      ['account', partner.id, 'operator', 'operator_allow_list_added', 'evaluation partner, ticket OPS-77', 'cli:jane'],
      ['account', partner.id, 'operator', 'operator_allow_list_removed', 'contract ended', 'cli:jane'],
    ], 'the audit query shows both changes, opened');
    assert.equal(verdicts[0].level, 'none', 'allow-listed: held at none');

    // In the signed leaf the note and the operator are commitments, as for operator verdicts.
    const entries = await (await fetch(`${t.url}/ledger/v1/entries?start=${verdicts[0].index}&end=${verdicts[0].index + 1}`, { headers: asAdmin })).json() as any;
    const leaf = parseLeaf(Buffer.from(entries.entries[0].leaf, 'utf8')) as any;
    assert.equal(leaf.reasons[0].signal, 'operator_allow_list_added');
    assert.ok(!entries.entries[0].leaf.includes('OPS-77') && !entries.entries[0].leaf.includes('cli:jane'), 'note and operator are not in the leaf in clear');
    assert.match(leaf.reasons[0].detail, /^[0-9a-f]{64}$/, 'the note is a commitment');
  } finally {
    await t.close();
  }
});

test('allow-listing an organisation is a signed entry the query by that organisation finds', async () => {
  const t = await startTestWarden({ ledger: { checkpoint_interval_ms: 50, key: '' } });
  try {
    const org = await t.admin('/orgs', { name: 'evaluation partner' });
    const runner = await t.admin('/accounts', { org_id: org.id, name: 'benchmark runner' });
    const post = await fetch(`${t.url}/admin/detect/allow`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ org: org.id, note: 'red-team contract' }) });
    assert.equal(post.status, 201);
    const verdicts = await verdictsAbout(t.url, `org=${org.id}`, 1);
    assert.deepEqual(verdicts.map((v) => [v.subject_kind, v.subject_id, v.level, v.reasons[0].signal, v.reasons[0].detail, v.reasons[0].by]), [
      ['org', org.id, 'none', 'operator_allow_list_added', 'red-team contract', 'cli:jane'],
    ], 'the organisation\'s allow-list entry is in the log');
    assert.deepEqual(verdicts[0].accounts, [runner.id], `the entry names the accounts it covers, those the org held then: ${JSON.stringify(verdicts[0].accounts)}`);
  } finally {
    await t.close();
  }
});
