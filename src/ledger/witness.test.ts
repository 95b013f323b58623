// The witness's add-checkpoint decisions (c2sp.org/tlog-witness), on its own state file: what it
// cosigns, what it refuses with which status, and that a refusal leaves its state as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCosignatures, formatAddCheckpoint, generateCosigner } from './cosign.ts';
import { consistencyProof, hashLeaf, mthOfLeafHashes, type NodeSource } from './merkle.ts';
import { generateSigner, signCheckpoint } from './note.ts';
import { addCheckpoint, openWitnessDb } from './witness.ts';

const ORIGIN = 'unit.warden.test/ledger';

/** A tiny in-memory tree over leaves `${tag}${i}`, with the node source the proofs read. */
function tree(n: number, tag = 'leaf') {
  const hashes = Array.from({ length: n }, (_, i) => hashLeaf(new TextEncoder().encode(`${tag}${i}`)));
  // Each perfect subtree (level, index) is the MTH of its leaves.
  const source: NodeSource = {
    async getNodes(ids) { return ids.map(({ level, index }) => mthOfLeafHashes(hashes.slice(index * 2 ** level, (index + 1) * 2 ** level))); },
  };
  return { hashes, source };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-witness-unit-'));
  const db = openWitnessDb(join(dir, 'w.db'));
  const log = generateSigner(ORIGIN);
  const witness = generateCosigner('unit.warden.test/w');
  const logs = [{ origin: ORIGIN, keys: [log.verifier()] }];
  const note = (hashes: Uint8Array[], size: number) => signCheckpoint({ origin: ORIGIN, size, rootHash: mthOfLeafHashes(hashes.slice(0, size)), extensions: [] }, [log]);
  const add = (body: string) => addCheckpoint(db, logs, witness, body, Date.UTC(2026, 11, 6));
  return { dir, db, witness, note, add, close: () => { db.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('the witness cosigns a first checkpoint, then only trees that extend it by a valid proof', async () => {
  const w = await setup();
  try {
    const real = tree(12);
    const first = w.note(real.hashes, 5);
    const a = w.add(formatAddCheckpoint(0, [], first));
    assert.equal(a.status, 200, a.body);
    assert.equal(checkCosignatures(first + a.body, [w.witness.verifier()]).valid.length, 1, 'the answer is a cosignature of this checkpoint by the witness key');
    // The same checkpoint again: same size and root, cosigned again.
    assert.equal(w.add(formatAddCheckpoint(5, [], first)).status, 200);
    const grown = w.note(real.hashes, 12);
    const proof = await consistencyProof(real.source, 5, 12);
    assert.equal(w.add(formatAddCheckpoint(5, proof, grown)).status, 200, 'a valid proof from 5 to 12');
    // A stale old size: 409 with the size it holds, as text/x.tlog.size.
    const stale = w.add(formatAddCheckpoint(5, proof, grown));
    assert.equal(stale.status, 409);
    assert.equal(stale.type, 'text/x.tlog.size');
    assert.equal(stale.body, '12\n');
  } finally { w.close(); }
});

test('the witness refuses a rewritten tree (409 at the same size, 422 on a proof), a bad request (400), and keeps what it held', async () => {
  const w = await setup();
  try {
    const real = tree(8);
    assert.equal(w.add(formatAddCheckpoint(0, [], w.note(real.hashes, 8))).status, 200);
    const fake = tree(12, 'other');
    const sameSize = w.add(formatAddCheckpoint(8, [], w.note(fake.hashes, 8)));
    assert.equal(sameSize.status, 409, 'another root at the size it cosigned');
    assert.ok(sameSize.refusal, 'kept as evidence');
    const bad = w.add(formatAddCheckpoint(8, await consistencyProof(fake.source, 8, 12), w.note(fake.hashes, 12)));
    assert.equal(bad.status, 422, 'a proof from the rewritten tree does not hold against the root it cosigned');
    assert.equal(w.add(formatAddCheckpoint(9, [], w.note(real.hashes, 8))).status, 400, 'old size above the checkpoint size');
    assert.equal(w.add('old 08\n\n' + w.note(real.hashes, 8)).status, 400, 'leading zero in the old size');
    assert.equal(w.add(formatAddCheckpoint(0, [real.hashes[0]], w.note(real.hashes, 8))).status, 409, 'old size 0 is not what it holds');
    const held = w.db.prepare('SELECT size FROM witness_logs WHERE origin = ?').get(ORIGIN) as { size: number };
    assert.equal(held.size, 8, 'the refusals left its state at the real tree');
    const refusals = w.db.prepare('SELECT status FROM witness_refusals ORDER BY id').all() as { status: number }[];
    assert.deepEqual(refusals.map((r) => r.status), [409, 422], 'the two refusals that prove misbehaviour are kept');
  } finally { w.close(); }
});
