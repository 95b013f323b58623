// The region a customer declared, kept on the account and read by the gateway's policy: under the
// sanctioned-regions policy (unknown_subdivision: inside, the default), an account that claimed
// Crimea (UA-43) is refused with WARDEN_REGION_BLOCKED, one that claimed Kyiv (UA-30) is served,
// on SQLite and on PostgreSQL; a change of the claim is decided from the next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../helpers/postgres.ts';

const fx = (name: string) => new URL(`../fixtures/policy/${name}`, import.meta.url).pathname;
const POLICY = `version: 1
regions:
  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]
rules:
  - { id: sanctioned-claimed, when: { claimed_region: sanctioned_ua }, action: deny, code: region_blocked }
`;

async function chat(t: TestWarden, key: string): Promise<{ status: number; code: string | undefined }> {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
  });
  const body = await r.json() as { error?: { warden_code?: string } };
  return { status: r.status, code: body.error?.warden_code };
}

async function adminCall(t: TestWarden, method: string, path: string, body: object): Promise<{ status: number; body: any }> {
  const r = await fetch(`${t.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

async function keyFor(t: TestWarden, facts: object): Promise<{ id: string; key: string; account: any }> {
  const account = await t.admin('/accounts', { tier: 'email_verified', ...facts });
  return { id: account.id, account, key: (await t.admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret };
}

async function scenario(t: TestWarden): Promise<void> {
  const crimea = await keyFor(t, { name: 'crimea', claimed_subdivision: 'ua-43' });
  assert.equal(crimea.account.claimed_subdivision, 'UA-43', 'kept upper-cased');
  assert.equal(crimea.account.claimed_country, 'UA', 'a declared subdivision says its country');
  const refused = await chat(t, crimea.key);
  assert.equal(refused.status, 403, `an account that claimed Crimea is refused: ${JSON.stringify(refused)}`);
  assert.equal(refused.code, 'WARDEN_REGION_BLOCKED');

  const kyiv = await keyFor(t, { name: 'kyiv', claimed_country: 'UA', claimed_subdivision: 'UA-30' });
  const served = await chat(t, kyiv.key);
  assert.equal(served.status, 200, `an account that claimed Kyiv is served, not counted as possibly in Crimea: ${JSON.stringify(served)}`);

  // The stored claim is what the gateway reads: a change applies from the next request.
  const moved = await t.admin(`/accounts/${kyiv.id}`, { claimed_subdivision: 'UA-14' }, 'PATCH');
  assert.equal(moved.claimed_subdivision, 'UA-14');
  assert.equal((await chat(t, kyiv.key)).code, 'WARDEN_REGION_BLOCKED', 'a claim changed to Donetsk is refused from the next request');
  await t.admin(`/accounts/${kyiv.id}`, { claimed_subdivision: 'UA-30' }, 'PATCH');
  assert.equal((await chat(t, kyiv.key)).status, 200, 'and served again once corrected');

  // Declared UA without a subdivision: unknown_subdivision inside counts it in (as before).
  const ua = await keyFor(t, { name: 'ua', claimed_country: 'UA' });
  assert.equal((await chat(t, ua.key)).code, 'WARDEN_REGION_BLOCKED', 'no subdivision declared: counted inside under the default');

  // Malformed or contradictory claims are refused, naming the field.
  for (const bad of [{ claimed_subdivision: 'Crimea' }, { claimed_subdivision: 'QQ-43' }, { claimed_country: 'DE', claimed_subdivision: 'UA-43' }]) {
    const r = await adminCall(t, 'POST', '/accounts', bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)} must be refused: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.param, 'claimed_subdivision', JSON.stringify(r.body));
  }
  const de = await t.admin('/accounts', { claimed_country: 'DE' });
  const mismatch = await adminCall(t, 'PATCH', `/accounts/${de.id}`, { claimed_subdivision: 'UA-43' });
  assert.equal(mismatch.status, 400, `a subdivision outside the account's claimed country is refused: ${JSON.stringify(mismatch.body)}`);
  assert.match(mismatch.body.error?.message ?? '', /UA-43 is not in the account's claimed country DE/);

  // Explain reads the account as the gateway does.
  const explained = await adminCall(t, 'POST', '/policy/explain', { account_id: crimea.id });
  assert.equal(explained.body.subject?.claimed_subdivision, 'UA-43', JSON.stringify(explained.body));
  assert.equal(explained.body.refusal?.kind, 'region_blocked');
  assert.ok(explained.body.matched.includes('claimed_subdivision:UA-43'), `${explained.body.matched}`);

  // Events carry the claim with the other signup facts.
  const events = await t.events((e) => e.account_id === crimea.id, 1);
  assert.equal(events[0]?.account?.claimed_subdivision, 'UA-43', `the refusal's event carries the claimed subdivision: ${JSON.stringify(events[0]?.account)}`);
}

function settings(dir: string): Record<string, unknown> {
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY);
  return {
    policy: { file, watch: false, geo: { country_files: [fx('country-ua.csv')], asn_files: [fx('asn-v4.csv')], subdivision_files: [fx('subdivisions-ua.csv')] } },
  };
}

test('the claimed subdivision is kept on the account and decides at the gateway (SQLite)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-claimed-sub-'));
  const t = await startTestWarden(settings(dir));
  try {
    await scenario(t);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the claimed subdivision is kept on the account and decides at the gateway (PostgreSQL)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-claimed-sub-pg-'));
  try {
    await withPgSchema('claimsub', async (pool) => {
      const { rows } = await pool.query('SELECT current_schema() AS s');
      const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${rows[0].s}`)}`;
      const t = await startTestWarden({
        ...settings(dir),
        store: { driver: 'postgres', postgres_url: url, sqlite_path: join(dir, 'warden.db') },
        ledger: { postgres_schema: `${rows[0].s}_ledger` },
      });
      try {
        await scenario(t);
        const stored = await pool.query('SELECT claimed_country, claimed_subdivision FROM accounts WHERE name = $1', ['crimea']);
        assert.deepEqual(stored.rows[0], { claimed_country: 'UA', claimed_subdivision: 'UA-43' }, 'kept in the table itself');
      } finally {
        await t.close();
        await pool.query(`DROP SCHEMA IF EXISTS ${rows[0].s}_ledger CASCADE`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
