// "Prove you did not serve Crimea": interaction leaves record the region the policy decided by
// (the client address's ISO 3166-2 subdivision and the digest of the range data it came from) and
// the account's claimed subdivision (warden.ledger/4). A log written before (/2 interactions, the
// committed fixture) still verifies byte for byte and grows with /4 leaves; the claimed subdivision
// is a commitment the erasure removes, while every leaf, proof and checkpoint still verifies.
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
import { canonicalBytes, commitment, parseLeaf, type InteractionRecord } from './records.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const { KNOWN_RECORDS, canonical } = await import(new URL('../../docs/ledger-verify-example.mjs', import.meta.url).href) as { KNOWN_RECORDS: Set<string>; canonical(v: unknown): string };

const DATA_DIGEST = 'a'.repeat(64);

test('interaction leaves record the client region and the claimed one; old leaves verify beside them; erasure removes the claim and the log still verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-subdivision-'));
  try {
    const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/ledger-v2.json', import.meta.url), 'utf8'));
    const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    await storage.appendBatch(fixture.entries.map((e: { leaf: string }) => ({ ...e, leaf: b(e.leaf) })), fixture.privates, fixture.nodes.map((n: { hash: string }) => ({ ...n, hash: b(n.hash) })));
    for (const c of fixture.checkpoints) await storage.putCheckpoint({ ...c, root: b(c.root) });
    await storage.recordKeys(fixture.keys);
    const verifier = parseVerifierKey(fixture.verifier_key);
    const oldLeaves = fixture.entries.map((e: { leaf: string }) => Buffer.from(e.leaf, 'base64').toString());

    const signer = generateSigner(fixture.origin);
    const ledger = await Ledger.open({ storage, origin: fixture.origin, signers: [signer], trustedKeys: [verifier], checkpointIntervalMs: 60_000, writer: 'inline' });
    // A client in Crimea by the range data (refused by the policy), one in Kyiv, one the data does not place.
    const base = sampleEvent(0);
    const crimea = sampleEvent(7, {
      client: { ip: '192.0.2.10', user_agent: 'ua', country: 'UA', asn: 64500, subdivision: 'UA-43', subdivision_data: DATA_DIGEST },
      account: { ...base.account!, claimed_country: 'UA', claimed_subdivision: 'UA-30' },
      response: { ...base.response, status: 403, error_code: 'WARDEN_REGION_BLOCKED', output_tokens: 0 },
    });
    const kyiv = sampleEvent(14, {
      client: { ip: '192.0.2.170', user_agent: 'ua', country: 'UA', asn: 64500, subdivision: 'UA-30', subdivision_data: DATA_DIGEST },
      account: { ...base.account!, claimed_country: 'UA', claimed_subdivision: 'UA-30' },
    });
    const unplaced = sampleEvent(21, { client: { ip: '192.0.2.200', user_agent: 'ua', country: 'UA', asn: 64500, subdivision: null, subdivision_data: DATA_DIGEST } });
    for (const e of [crimea, kyiv, unplaced]) await ledger.appendInteraction(e);
    await ledger.checkpoint();

    const n = fixture.entries.length;
    const added = (await storage.entries(n, n + 3, 10)).map((e) => ({ text: Buffer.from(e.leaf).toString(), record: parseLeaf(e.leaf) as InteractionRecord }));
    assert.deepEqual(added.map((a) => [a.record.schema, a.record.client.subdivision, a.record.client.subdivision_data]),
      [['warden.ledger/5', 'UA-43', DATA_DIGEST], ['warden.ledger/5', 'UA-30', DATA_DIGEST], ['warden.ledger/5', null, DATA_DIGEST]],
      `new interaction leaves are /4 and name the client region the policy read, null where the data places none: ${added.map((a) => a.text).join('\n')}`);
    const claimed = added[0].record.account?.claimed_subdivision;
    assert.ok(typeof claimed === 'string' && /^[0-9a-f]{64}$/.test(claimed), `the claimed subdivision is a commitment, not in clear: ${claimed}`);
    assert.ok(!added[0].text.includes('"UA-30"'), 'the claim does not appear in clear in the leaf');
    const priv = (await storage.privates([n])).get(n);
    const opening = priv?.openings?.claimed_subdivision;
    assert.ok(opening && opening.value === 'UA-30' && commitment(opening.value, opening.salt) === claimed, `the private side opens the claim: ${JSON.stringify(opening)}`);
    assert.equal(added[2].record.account?.claimed_subdivision, null, 'no claim: no commitment');
    assert.ok(added.every((a) => KNOWN_RECORDS.has(`${a.record.schema} ${a.record.kind}`) && canonical(JSON.parse(a.text)) === a.text), 'the example verifier knows /4 interactions');

    const stored = (await storage.entries(0, n, n)).map((e) => Buffer.from(e.leaf).toString());
    assert.deepEqual(stored, oldLeaves, 'the old leaves are byte for byte as they were signed');
    const grown = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(grown.ok, `old /2 and new /4 leaves verify together: ${grown.problems.map((p) => p.message).join('; ')}`);

    // The audit query: where each interaction came from, down to the region, and what was claimed.
    const q = await queryLedger(storage, { accountId: 'acct_0' });
    const row = (id: string) => q.interactions.find((r) => r.id === id);
    assert.deepEqual([row(crimea.id)?.subdivision, row(crimea.id)?.subdivision_data, row(crimea.id)?.claimed_subdivision], ['UA-43', DATA_DIGEST, 'UA-30'], JSON.stringify(row(crimea.id)));
    const oldRow = q.interactions.find((r) => r.index < n);
    assert.ok(oldRow && oldRow.subdivision === null && oldRow.claimed_subdivision === null, `an old leaf records no region: ${JSON.stringify(oldRow)}`);
    const usage = q.usage.find((u) => u.account_id === 'acct_0');
    assert.deepEqual([usage?.subdivisions, usage?.subdivision_unrecorded], [['UA-30', 'UA-43'], 3], `the usage row lists the regions and counts the leaves that predate them: ${JSON.stringify(usage)}`);

    // A tampered opening of the claim is caught.
    const db = storage as unknown as { db: { prepare(s: string): { run(...a: unknown[]): unknown } } };
    const forged = { ...priv!.openings, claimed_subdivision: { value: 'UA-43', salt: opening!.salt } };
    db.db.prepare('UPDATE ledger_private SET openings = ? WHERE idx = ?').run(JSON.stringify(forged), n);
    const caught = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(!caught.ok && caught.problems.some((p) => /claimed_subdivision does not open/.test(p.message)), `a changed claim is reported: ${caught.problems.map((p) => p.message).join('; ')}`);
    db.db.prepare('UPDATE ledger_private SET openings = ? WHERE idx = ?').run(JSON.stringify(priv!.openings), n);

    // A /5 interaction (regions since /4) without the region fields is not a record of that format.
    const bare = JSON.parse(added[0].text) as { client: Record<string, unknown> };
    delete bare.client.subdivision;
    assert.throws(() => parseLeaf(canonicalBytes(bare)), /warden\.ledger\/5 interaction lacks client\.subdivision/);
    assert.throws(() => parseLeaf(canonicalBytes({ ...JSON.parse(added[0].text), client: { ...JSON.parse(added[0].text).client, subdivision: 'Crimea' } })), /client\.subdivision/);

    // Erasure: the claim's value and salt go; the region the policy read stays, and so does every proof.
    const before = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(before.ok, before.problems.map((p) => p.message).join('; '));
    await ledger.erase({ accountId: 'acct_0' });
    const after = (await storage.privates([n])).get(n);
    assert.ok(after?.erased_at && after.openings === null, `the claim's opening is erased: ${JSON.stringify(after)}`);
    const erasedRow = (await queryLedger(storage, { accountId: 'acct_0' })).interactions.find((r) => r.id === crimea.id);
    assert.deepEqual([erasedRow?.subdivision, erasedRow?.claimed_subdivision, erasedRow?.erased], ['UA-43', null, true], JSON.stringify(erasedRow));
    await ledger.checkpoint();
    const erased = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(erased.ok && erased.erased >= 3, `the log still verifies after erasure: ${erased.problems.map((p) => p.message).join('; ')}`);
    const still = (await storage.entries(0, n + 3, n + 3)).map((e) => Buffer.from(e.leaf).toString());
    assert.deepEqual(still, [...oldLeaves, ...added.map((a) => a.text)], 'erasure changed no leaf');
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verify: a /4 interaction whose region disagrees with the policy decision in the same leaf is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-region-check-'));
  try {
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    const signer = generateSigner('warden.test/regions');
    const ledger = await Ledger.open({ storage, origin: 'warden.test/regions', signers: [signer], checkpointIntervalMs: 60_000, writer: 'inline' });
    const at = (subdivision: string | null, policy: string[]) => sampleEvent(1, {
      client: { ip: '192.0.2.10', user_agent: 'ua', country: 'UA', asn: 64500, subdivision, subdivision_data: DATA_DIGEST },
      enforcement: { ...sampleEvent(1).enforcement, policy },
    });
    const tag = `subdivision:UA-43@data:${DATA_DIGEST.slice(0, 12)}`;
    await ledger.appendInteraction(at('UA-43', ['rule:sanctioned-regions', tag, 'refused:region_blocked']));
    await ledger.appendInteraction(at(null, ['rule:sanctioned-regions', `subdivision:unknown(UA)->inside@data:${DATA_DIGEST.slice(0, 12)}`]));
    await ledger.appendInteraction(at('UA-30', ['rule:sanctioned-regions', tag, 'refused:region_blocked']));
    await ledger.appendInteraction(at('UA-43', ['rule:sanctioned-regions', 'subdivision:UA-43@data:none']));
    await ledger.checkpoint();
    const report = await verifyLedger(storage, { origin: 'warden.test/regions', verifiers: [signer.verifier()] });
    const bad = report.problems.filter((p) => p.kind === 'entry').map((p) => [p.index, p.message]);
    assert.deepEqual(bad.map(([i]) => i), [2, 3], `the leaves whose region is not the one their policy read, and only those: ${JSON.stringify(bad)}`);
    assert.match(String(bad[0][1]), /client\.subdivision UA-30.*subdivision:UA-43@data:/);
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
