// An auditor reading the ledger must see for how long an operator exempted a partner or suspended
// an account: an allow-list entry or an operator verdict set for a time records when it lapses
// (warden.ledger/3 verdict leaves). Logs written before (verdicts /1 and /2, no expiry) still
// verify, read and grow with /3 leaves, with Warden's verifier and with the documented example's
// record formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner, parseVerifierKey } from './note.ts';
import { verifyLedger } from './verify.ts';
import { queryLedger } from './query.ts';
import { canonicalBytes, parseLeaf } from './records.ts';
import { ledgerAllowListSink } from './hooks.ts';
import { sampleVerdict } from '../../test/helpers/synthetic-events.ts';

// The documented verifier's list of record formats (plain JS, loaded by URL: no type declarations).
const { KNOWN_RECORDS, canonical } = await import(new URL('../../docs/ledger-verify-example.mjs', import.meta.url).href) as { KNOWN_RECORDS: Set<string>; canonical(v: unknown): string };

/** A fixture log (test/fixtures/ledger-v1.json, -v2.json) put into a fresh SQLite ledger. */
async function loadFixture(name: string, path: string) {
  const fixture = JSON.parse(readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8'));
  const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  const storage = SqliteLedgerStorage.open(path);
  await storage.appendBatch(fixture.entries.map((e: { leaf: string }) => ({ ...e, leaf: b(e.leaf) })), fixture.privates, fixture.nodes.map((n: { hash: string }) => ({ ...n, hash: b(n.hash) })));
  for (const c of fixture.checkpoints) await storage.putCheckpoint({ ...c, root: b(c.root) });
  await storage.recordKeys(fixture.keys);
  return { fixture, storage, verifier: parseVerifierKey(fixture.verifier_key) };
}

test('allow-list entries and operator verdicts set for a time record when they lapse; old logs verify and grow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-verdict-expiry-'));
  try {
    const v1 = await loadFixture('ledger-v1.json', join(dir, 'v1.db'));
    const { fixture, storage, verifier } = await loadFixture('ledger-v2.json', join(dir, 'v2.db'));
    const schemas = (f: { entries: Array<{ leaf: string }> }) => f.entries.map((e) => JSON.parse(Buffer.from(e.leaf, 'base64').toString()) as { schema: string; kind: string; expires_at?: unknown });
    const old = schemas(fixture);
    assert.ok(old.some((r) => r.kind === 'verdict') && old.every((r) => r.kind !== 'verdict' || (r.schema === 'warden.ledger/2' && !('expires_at' in r))), 'the fixture holds /2 verdicts without an expiry');
    for (const [name, log] of [['v1', v1], ['v2', { storage, verifier }]] as const) {
      const report = await verifyLedger(log.storage, { origin: name === 'v1' ? v1.fixture.origin : fixture.origin, verifiers: [log.verifier] });
      assert.ok(report.ok, `the ${name} log verifies unchanged: ${report.problems.map((p) => p.message).join('; ')}`);
    }
    const before = (await queryLedger(storage, { settings: true })).verdicts;
    assert.ok(before.length === 4 && before.every((v) => v.expires_at === null), `old verdicts read with no expiry: ${JSON.stringify(before.map((v) => v.expires_at))}`);
    for (const r of [...old, ...schemas(v1.fixture)]) assert.ok(KNOWN_RECORDS.has(`${r.schema} ${r.kind}`), `the example verifier knows ${r.schema} ${r.kind}`);

    // This release carries the log on: an org's entry for a trial month, a suspension pending review, a detector verdict.
    const signer = generateSigner(fixture.origin);
    const ledger = await Ledger.open({ storage, origin: fixture.origin, signers: [signer], trustedKeys: [verifier], checkpointIntervalMs: 60_000, writer: 'inline' });
    const until = '2027-01-06T00:00:00.000Z';
    ledgerAllowListSink(ledger)({ action: 'added', subject: { kind: 'org', id: 'org_evalco' }, level: null, note: 'trial month', by: 'cli:oncall', at: '2026-12-06T00:00:00.000Z', accounts: ['acct_9'], expires_at: until });
    await ledger.appendVerdict({ ...sampleVerdict({ kind: 'account', id: 'acct_1' }, 'suspend'), source: 'operator', score: null, expires_at: '2026-12-13T00:00:00.000Z',
      reasons: [{ signal: 'operator_verdict', value: 'suspend', threshold: null, detail: 'pending review', by: 'cli:oncall' }] });
    await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_0' }));
    for (let i = 0; (await storage.size()) < fixture.entries.length + 3; i++) {
      assert.ok(i < 100, 'the allow-list entry reaches the log');
      await new Promise((r) => setTimeout(r, 20));
    }
    await ledger.checkpoint();
    const grown = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(grown.ok && grown.size === fixture.entries.length + 3, `old and new leaves verify together: ${grown.problems.map((p) => p.message).join('; ')}`);
    const added = (await storage.entries(fixture.entries.length, fixture.entries.length + 3, 10)).map((e) => ({ text: Buffer.from(e.leaf).toString(), record: parseLeaf(e.leaf) }));
    assert.deepEqual(added.map((a) => [a.record.schema, a.record.kind === 'verdict' ? a.record.expires_at : undefined]),
      [['warden.ledger/3', until], ['warden.ledger/3', '2026-12-13T00:00:00.000Z'], ['warden.ledger/3', null]], 'new verdict leaves are /3 and say when they lapse (null: they do not)');
    assert.ok(added.every((a) => KNOWN_RECORDS.has(`${a.record.schema} ${a.record.kind}`) && canonical(JSON.parse(a.text)) === a.text), 'the example verifier knows the /3 leaves and reads them as canonical JSON');
    const byOrg = await queryLedger(storage, { orgId: 'org_evalco' });
    assert.equal(byOrg.verdicts[0]?.expires_at, until, `the audit query shows until when the org's entry runs: ${JSON.stringify(byOrg.verdicts)}`);

    // A /3 verdict without its expiry is not a record of that format.
    const forged = JSON.parse(added[2].text) as Record<string, unknown>;
    delete forged.expires_at;
    assert.throws(() => parseLeaf(canonicalBytes(forged)), /lacks expires_at/, 'a /3 verdict must carry expires_at');
    assert.throws(() => parseLeaf(canonicalBytes({ ...forged, expires_at: null, kind: 'interaction' })), /not a warden\.ledger\/1, \/2, \/3, \/4 or \/5 record/, '/3 is a verdict format only');
    await ledger.close();
    await v1.storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
