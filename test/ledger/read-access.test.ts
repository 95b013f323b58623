// The ledger's transparency reads (checkpoint, key, proofs, entries) on the gateway's port are not
// open to anyone by default: a campaign polling them would learn which of its accounts were
// flagged, on which signals, and who else is a customer. The admin token or an API key with the
// `ledger:read` scope (an auditor's, a partner's) reads them; `ledger.public_reads: true` opens
// them as before. Operators' notes and names are commitments in the leaves, opened only for the
// audit query.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { SqliteLedgerStorage, parseSignerKey, verifyInclusionBundle, verifyLedger, type InclusionBundle } from '../../src/ledger/index.ts';

const ORIGIN = 'api.warden.test/ledger';
const READS = ['/ledger/v1/checkpoint', '/ledger/v1/key', '/ledger/v1/entries?start=0&end=1000', '/ledger/v1/proof/inclusion?index=0', '/ledger/v1/proof/consistency?old=1'];

test('ledger reads need the admin token or a ledger:read key by default; operator notes and names are not in the leaves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-read-'));
  const t = await startTestWarden({ store: { sqlite_path: join(dir, 'warden.db') }, ledger: { origin: ORIGIN, checkpoint_interval_ms: 50, key: '' } });
  try {
    const customer = await t.account('cara-campaign', 'email_verified');
    const chat = (key: string) => fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal((await chat(customer.key)).status, 200);
    const note = 'same card as john.smith@example.com';
    const set = await fetch(`${t.url}/admin/detect/verdicts`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-warden-actor': 'dashboard:Jane Doe' },
      body: JSON.stringify({ kind: 'account', id: customer.id, level: 'throttle', note }),
    });
    assert.equal(set.status, 201, await set.clone().text());
    const auditor = await t.account('audra-auditor', 'enterprise');
    const readKey = (await t.admin(`/accounts/${auditor.id}/keys`, { name: 'auditor', scopes: ['ledger:read'] })).secret as string;

    const get = (path: string, key?: string) => fetch(`${t.url}${path}`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    // Both entries are in (after the detector's settings, recorded at start), and signed.
    let entries: { entries: { leaf: string }[] } = { entries: [] };
    const both = () => entries.entries.some((e) => e.leaf.includes('"kind":"interaction"')) && entries.entries.some((e) => e.leaf.includes('operator_verdict'));
    for (let tries = 0; !both() || (await get('/ledger/v1/checkpoint', TEST_ADMIN_TOKEN)).status !== 200; tries++) {
      assert.ok(tries < 100, 'the interaction and the verdict reached the ledger');
      await new Promise((r) => setTimeout(r, 50));
      entries = await (await get('/ledger/v1/entries?start=0&end=1000', TEST_ADMIN_TOKEN)).json() as typeof entries;
    }

    for (const path of READS) {
      assert.equal((await get(path)).status, 401, `${path}: refused without credentials`);
      assert.equal((await get(path, customer.key)).status, 401, `${path}: refused to a customer's inference key`);
      assert.equal((await get(path, `${TEST_ADMIN_TOKEN}x`)).status, 401, `${path}: refused to a wrong token`);
      assert.equal((await get(path, TEST_ADMIN_TOKEN)).status, 200, `${path}: the admin token reads it`);
      const read = await get(path, readKey);
      assert.equal(read.status, 200, `${path}: a ledger:read key reads it`);
      assert.match(read.headers.get('cache-control') ?? '', /no-store/, `${path}: a gated answer is not kept by shared caches`);
    }
    assert.equal((await chat(readKey)).status, 403, 'a ledger:read key calls no model');

    // An auditor with the read key verifies a proof against the published key.
    const vkey = (await (await get('/ledger/v1/key', readKey)).text()).trim();
    const bundle = await (await get('/ledger/v1/proof/inclusion?index=1', readKey)).json() as InclusionBundle;
    verifyInclusionBundle(bundle, [vkey], ORIGIN);

    // The operator's note and name are commitments in the leaf, opened by the audit query.
    const all = entries.entries.map((e) => e.leaf).join('\n');
    assert.ok(all.includes('operator_verdict'), 'the operator verdict is in the log');
    assert.ok(!all.includes('john.smith') && !all.includes('same card'), `the operator's note is not in the leaf: ${all}`);
    assert.ok(!all.includes('Jane Doe'), `the operator's name is not in the leaf: ${all}`);
    const q = await (await get(`/admin/ledger/v1/query?account=${customer.id}`, TEST_ADMIN_TOKEN)).json() as { verdicts: { reasons: { signal: string; detail: string | null; by?: string }[] }[] };
    const reason = q.verdicts.flatMap((v) => v.reasons).find((r) => r.signal === 'operator_verdict');
    assert.equal(reason?.detail, note, 'the audit query shows the note');
    assert.equal(reason?.by, 'dashboard:Jane Doe', 'and who set it');
  } finally {
    await t.close();
  }
  // Offline, the whole log verifies, the operator's commitments included.
  const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
  try {
    const vkey = parseSignerKey(readFileSync(join(dir, 'ledger.key'), 'utf8').trim()).verifier();
    const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: [vkey] });
    assert.deepEqual(report.problems, [], 'the log verifies');
    assert.ok(report.commitments >= 1, 'commitments were checked');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ledger.public_reads: true opens the transparency reads to anyone, as before', async () => {
  const t = await startTestWarden({ ledger: { origin: ORIGIN, checkpoint_interval_ms: 50, key: '', public_reads: true } });
  try {
    assert.equal((await fetch(`${t.url}/ledger/v1/key`)).status, 200, 'the key is public');
    assert.equal((await fetch(`${t.url}/ledger/v1/entries?start=0&end=10`)).status, 200, 'the entries are public');
    assert.equal((await fetch(`${t.url}/admin/ledger/v1/query`)).status, 401, 'the audit query stays behind the admin token');
  } finally {
    await t.close();
  }
});
