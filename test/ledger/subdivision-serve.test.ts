// "Prove you did not serve Crimea" from the ledger of a running server: under the sanctioned-regions
// policy with subdivision range data, a request from a Crimean address (refused), one from Kyiv
// (served) and one from a Ukrainian address the data places in no region (refused, counted inside)
// each leave a leaf that names the region the policy read and the data it came from, and the
// account's claimed region as a commitment. The audit query (admin API and CLI) shows them, `warden
// ledger verify` checks them, the example verifier counts served requests by region from the signed
// leaves, and erasing the account removes the claim while the log still verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { ledgerCliRunner } from '../helpers/ledger-cli.ts';
import { policyFixture, SANCTIONED_UA_POLICY } from '../helpers/subdivisions.ts';

const ORIGIN = 'regions.warden.test/ledger';
const SCRIPT = fileURLToPath(new URL('../../docs/ledger-verify-example.mjs', import.meta.url));

interface Row { id: string; status: number; subdivision: string | null; subdivision_data: string | null; claimed_subdivision: string | null; region_recorded: boolean; policy: string[]; erased: boolean }

function example(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

test('serve: the ledger records the region each request came from and the region claimed; query, verify and the example verifier read them; erasure keeps the log sound', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-regions-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, SANCTIONED_UA_POLICY);
  const t = await startTestWarden({
    server: { port: 0, trusted_proxies: ['127.0.0.1'] },
    ledger: { origin: ORIGIN, checkpoint_interval_ms: 50, key: '' },
    policy: { file: policyFile, watch: false, geo: { country_files: [policyFixture('country-ua.csv')], asn_files: [policyFixture('asn-v4.csv')], subdivision_files: [policyFixture('subdivisions-ua.csv')] } },
  });
  try {
    const account = await t.admin('/accounts', { name: 'kyiv-co', email: 'ops@kyiv.example', tier: 'email_verified', claimed_subdivision: 'UA-30' });
    const key = (await t.admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
    const from = async (ip: string) => {
      const r = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-forwarded-for': ip },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
      });
      await r.text();
      return r.status;
    };
    assert.deepEqual([await from('192.0.2.10'), await from('192.0.2.170'), await from('192.0.2.200')], [403, 200, 403],
      'Crimea refused, Kyiv served, a Ukrainian address in no region refused (counted inside)');

    const asAdmin = { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } };
    let rows: Row[] = [];
    for (let tries = 0; rows.length < 3; tries++) {
      assert.ok(tries < 200, `the three interactions reach the ledger: ${JSON.stringify(rows)}`);
      if (tries) await new Promise((r) => setTimeout(r, 50));
      const q = await (await fetch(`${t.url}/admin/ledger/v1/query?account=${account.id}`, asAdmin)).json() as { interactions: Row[]; usage: { subdivisions: string[]; subdivision_unrecorded: number }[] };
      rows = q.interactions;
      if (rows.length === 3) assert.deepEqual([q.usage[0]?.subdivisions, q.usage[0]?.subdivision_unrecorded], [['UA-30', 'UA-43'], 0], JSON.stringify(q.usage));
    }
    const digest = rows[0].subdivision_data;
    assert.ok(typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest), `the leaf names the range data the policy read: ${digest}`);
    assert.deepEqual(rows.map((r) => [r.status, r.subdivision, r.subdivision_data, r.claimed_subdivision, r.region_recorded]), [
      [403, 'UA-43', digest, 'UA-30', true],
      [200, 'UA-30', digest, 'UA-30', true],
      [403, null, digest, 'UA-30', true],
    ], `each leaf records the client's region (null: the data places it in none) and the claim: ${JSON.stringify(rows)}`);
    assert.ok(rows[0].policy.includes(`subdivision:UA-43@data:${digest!.slice(0, 12)}`), `the policy's own explanation agrees: ${rows[0].policy}`);

    const run = ledgerCliRunner({ ledger: t.config.ledger, store: t.config.store, events: t.config.events });
    for (let tries = 0; ; tries++) {
      const v = await run('verify', '--json');
      const report = JSON.parse(v.out || '{}') as { ok?: boolean; unsigned?: number; commitments?: number };
      if (v.code === 0 && report.unsigned === 0) break;
      assert.ok(tries < 100, `the log verifies, the new leaves signed: ${v.out}${v.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // "Did you serve Crimea?" in one request: the admin query by region, with its summary.
    const crimea = await (await fetch(`${t.url}/admin/ledger/v1/query?subdivision=UA-43`, asAdmin)).json() as { interactions: Row[]; regions?: { interactions: number; served: number; refused: number; accounts: number; region_unrecorded: number } };
    assert.deepEqual([crimea.interactions.map((r) => [r.status, r.subdivision]), crimea.regions && [crimea.regions.interactions, crimea.regions.served, crimea.regions.refused, crimea.regions.accounts, crimea.regions.region_unrecorded]],
      [[[403, 'UA-43']], [1, 0, 1, 1, 0]], `the admin query by region lists the one refused request from UA-43: ${JSON.stringify(crimea)}`);
    const bad = await fetch(`${t.url}/admin/ledger/v1/query?subdivision=Crimea`, asAdmin);
    assert.equal(bad.status, 400, 'a region that is not an ISO 3166-2 code is refused, never the whole log');
    assert.match(await bad.text(), /subdivision/, 'the answer names the parameter');
    const csv = (await run('query', '--account', account.id, '--format', 'csv')).out.split('\n');
    const header = csv[0].split(',');
    const col = (line: string, name: string) => line.split(',')[header.indexOf(name)];
    assert.ok(header.includes('subdivision') && header.includes('claimed_subdivision'), `the CSV has the region columns: ${csv[0]}`);
    assert.deepEqual(csv.slice(1, 4).map((l) => [col(l, 'subdivision'), col(l, 'claimed_subdivision')]), [['UA-43', 'UA-30'], ['UA-30', 'UA-30'], ['', 'UA-30']]);
    const events = await t.events((e) => e.account_id === account.id, 3);
    assert.deepEqual(events.map((e) => e.client.subdivision), ['UA-43', 'UA-30', null], 'the events carry the region too');
    const reconciled = JSON.parse((await run('reconcile', '--json', '--lag', '0')).out) as { ok: boolean; matched: number; altered: unknown };
    assert.ok(reconciled.ok, `the stored events rebuild their /4 leaves: ${JSON.stringify(reconciled)}`);

    // An auditor's own verifier: served and refused requests by region, from the signed leaves alone.
    const auditor = await t.account('audra', 'enterprise');
    const readKey = (await t.admin(`/accounts/${auditor.id}/keys`, { name: 'auditor', scopes: ['ledger:read'] })).secret as string;
    const vkey = (await (await fetch(`${t.url}/ledger/v1/key`, { headers: { authorization: `Bearer ${readKey}` } })).text()).trim();
    const checked = await example(['--url', t.url, '--token', readKey, '--key', vkey, '--account', account.id]);
    assert.equal(checked.code, 0, checked.out);
    const regions = JSON.parse(/regions of \S+ from the signed leaves: (\{.*\})/.exec(checked.out)?.[1] ?? 'null');
    assert.deepEqual(regions, { 'UA-43': { served: 0, not_served: 1 }, 'UA-30': { served: 1, not_served: 0 }, 'UA (no region)': { served: 0, not_served: 1 } },
      `no request from Crimea was served: ${checked.out}`);

    // Erasure: the claim's opening goes, the region the policy read stays, and the log still verifies.
    const erased = await run('erase', '--account', account.id);
    assert.equal(erased.code, 0, erased.out + erased.err);
    const after = await (await fetch(`${t.url}/admin/ledger/v1/query?account=${account.id}`, asAdmin)).json() as { interactions: Row[] };
    assert.deepEqual(after.interactions.map((r) => [r.erased, r.subdivision, r.claimed_subdivision]), [[true, 'UA-43', null], [true, 'UA-30', null], [true, null, null]],
      JSON.stringify(after.interactions));
    const verified = await run('verify', '--json');
    assert.equal(verified.code, 0, `the log verifies after erasure: ${verified.out}${verified.err}`);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
