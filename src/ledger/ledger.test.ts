import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner, openCheckpoint, parseVerifierKey } from './note.ts';
import { hashLeaf, verifyConsistency, verifyInclusion } from './merkle.ts';
import { verifyLedger } from './verify.ts';
import { verifyInclusionBundle, verifyConsistencyBundle } from './standalone.ts';
import { commitment, parseLeaf, type InteractionRecord } from './records.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-ledger-'));
}

async function openLedger(path: string, signer = generateSigner(ORIGIN), extra: Partial<Parameters<typeof Ledger.open>[0]> = {}) {
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 50, ...extra });
  return { ledger, signer };
}

test('append, checkpoint, prove inclusion and consistency; proofs check with the pure verifiers', async () => {
  const dir = tempDir();
  try {
    const { ledger, signer } = await openLedger(join(dir, 'l.db'));
    const receipts = await Promise.all(Array.from({ length: 37 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    assert.deepEqual(receipts.map((r) => r.index).sort((a, b) => a - b), Array.from({ length: 37 }, (_, i) => i));
    const v = await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'cl_1' }), { accounts: ['acct_1', 'acct_2'] });
    assert.equal(v.index, 37);
    const cp1 = await ledger.checkpoint();
    assert.equal(cp1.size, 38);
    const opened = openCheckpoint(cp1.note, [signer.verifier()], ORIGIN);
    assert.equal(opened.size, 38);

    for (const r of [receipts[0], receipts[20], v]) {
      const bundle = await ledger.proveInclusion(r.id);
      assert.equal(bundle.index, r.index);
      assert.ok(bundle.proof.length <= Math.ceil(Math.log2(bundle.tree_size)));
      verifyInclusionBundle(bundle, [signer.verifier().toString()], ORIGIN);
      verifyInclusion(hashLeaf(Buffer.from(bundle.leaf)), bundle.index, bundle.tree_size, bundle.proof.map((p) => Buffer.from(p, 'base64')), opened.rootHash);
      // A changed leaf no longer proves.
      assert.throws(() => verifyInclusionBundle({ ...bundle, leaf: bundle.leaf.replace('"schema"', '"schemA"') }, [signer.verifier().toString()], ORIGIN));
    }
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.appendInteraction(sampleEvent(100 + i))));
    const cp2 = await ledger.checkpoint();
    assert.equal(cp2.size, 58);
    const c = await ledger.proveConsistency(38, 58);
    assert.equal(c.old_checkpoint, cp1.note);
    verifyConsistencyBundle(c, [signer.verifier().toString()], ORIGIN);
    verifyConsistency(38, 58, c.proof.map((p) => Buffer.from(p, 'base64')), Buffer.from(cp1.rootHash, 'base64'), Buffer.from(cp2.rootHash, 'base64'));

    const report = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers });
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
    assert.ok(report.commitments > 0);
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('leaves hold commitments, not personal data; erase keeps proofs valid', async () => {
  const dir = tempDir();
  try {
    const { ledger, signer } = await openLedger(join(dir, 'l.db'));
    const ev = sampleEvent(5);
    const r = await ledger.appendInteraction(ev);
    await Promise.all([1, 2, 3].map((i) => ledger.appendInteraction(sampleEvent(i, { account_id: 'acct_other' }))));
    const row = await ledger.entry(r.id);
    const text = Buffer.from(row.leaf).toString('utf8');
    for (const secret of [ev.client.ip, ev.client.user_agent!, 'explain step by step', 'You are terse', '198.51.100.7', 'example.com', 'pf_1234']) {
      assert.ok(!text.includes(secret), `leaf leaks ${secret}`);
    }
    const rec = parseLeaf(row.leaf) as InteractionRecord;
    const priv = (await ledger.storage.privates([r.index])).get(r.index)!;
    assert.equal(rec.client.ip, commitment(ev.client.ip, priv.openings!.client_ip!.salt));
    assert.equal(priv.openings!.prompt!.value, null, 'prompt text is not kept by default; its salt is');
    assert.equal(rec.account_id, ev.account_id);
    assert.equal(rec.response.output_tokens, ev.response.output_tokens);

    const before = await ledger.proveInclusion(r.id);
    const { erased } = await ledger.erase({ accountId: ev.account_id! });
    assert.equal(erased, 1);
    const after = await ledger.proveInclusion(r.id);
    assert.equal(after.leaf, before.leaf);
    verifyInclusionBundle(after, [signer.verifier().toString()], ORIGIN);
    const p2 = (await ledger.storage.privates([r.index])).get(r.index)!;
    assert.equal(p2.openings, null);
    assert.equal(p2.ip, null);
    const report = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.erased, 1);
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reopen restores the tree; duplicate ids are acknowledged once; wrong key refuses to open', async () => {
  const dir = tempDir();
  const path = join(dir, 'l.db');
  try {
    const { ledger, signer } = await openLedger(path);
    const ev = sampleEvent(1);
    const first = await ledger.appendInteraction(ev);
    await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.appendInteraction(sampleEvent(i + 2))));
    const cp = await ledger.checkpoint();
    await ledger.close();

    const { ledger: again } = await openLedger(path, signer);
    assert.equal(again.size, 11);
    assert.equal(again.latestCheckpoint()?.note, cp.note);
    const dup = await again.appendInteraction(ev);
    assert.deepEqual(dup, first);
    const [a, b] = await Promise.all([again.appendInteraction(sampleEvent(50)), again.appendInteraction(sampleEvent(51))]);
    assert.deepEqual([a.index, b.index].sort(), [11, 12]);
    const cp2 = await again.checkpoint();
    assert.equal(cp2.size, 13);
    await again.close();

    // A key this log never used cannot vouch for its checkpoints.
    await assert.rejects(Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [generateSigner('other.example/log')] }), /must equal the origin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoints arrive on their own under steady load and each is consistent with the previous one', async () => {
  const dir = tempDir();
  try {
    const { ledger, signer } = await openLedger(join(dir, 'l.db'));
    const notes: string[] = [];
    // Checkpoints are due every 50 ms: appends go on until three have come (a busy machine may take
    // far longer than 150 ms for that; 20 s is a bound, not an expectation).
    const until = Date.now() + 20_000;
    let n = 0;
    while (notes.length < 3 && Date.now() < until) {
      await Promise.all(Array.from({ length: 50 }, () => ledger.appendInteraction(sampleEvent(n++))));
      const cp = ledger.latestCheckpoint();
      if (cp && notes.at(-1) !== cp.note) notes.push(cp.note);
    }
    assert.ok(notes.length >= 3, `only ${notes.length} checkpoints in 20 s of appends at a 50 ms interval`);
    const opened = notes.map((t) => openCheckpoint(t, [signer.verifier()], ORIGIN));
    for (let i = 1; i < opened.length; i++) {
      const c = await ledger.proveConsistency(opened[i - 1].size, opened[i].size);
      verifyConsistency(opened[i - 1].size, opened[i].size, c.proof.map((p) => Buffer.from(p, 'base64')), opened[i - 1].rootHash, opened[i].rootHash);
    }
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

type LedgerReport = Awaited<ReturnType<typeof verifyLedger>>;
type EditCopy = (name: string, edit: (db: Database.Database) => void) => Promise<LedgerReport>;

/**
 * Build a small closed ledger file of `entries` once; each tamper case works on a copy:
 * `editCopy(name, edit)` copies it to `name`.db, lets `edit` change the database directly and
 * verifies the result against the ledger's own signer.
 */
async function withBuiltLog(entries: number, run: (editCopy: EditCopy, base: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    const base = join(dir, 'base.db');
    const { ledger, signer } = await openLedger(base);
    for (let i = 0; i < entries; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, entries - i) }, (_, k) => ledger.appendInteraction(sampleEvent(i + k))));
      if (i === 20) await ledger.checkpoint();
    }
    await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_3' }));
    await ledger.close();
    const trusted = [parseVerifierKey(signer.verifier().toString())];
    await run(async (name, edit) => {
      const copy = join(dir, `${name}.db`);
      await new Database(base).backup(copy);
      const db = new Database(copy);
      edit(db);
      db.close();
      const storage = SqliteLedgerStorage.open(copy);
      const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: trusted });
      await storage.close();
      rmSync(copy, { force: true });
      return report;
    }, base);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('property: flipping any byte of any stored entry fails verification and names that entry', async () => {
  await withBuiltLog(45, async (editCopy) => {
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.nat(45), fc.nat(), fc.integer({ min: 1, max: 255 }), async (index, posSeed, x) => {
      const report = await editCopy(`t${run++}`, (db) => {
        const leaf = db.prepare('SELECT leaf FROM ledger_entries WHERE idx = ?').pluck().get(index) as Buffer;
        const pos = posSeed % leaf.length;
        leaf[pos] ^= x;
        db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(leaf, index);
      });
      assert.equal(report.ok, false);
      assert.equal(report.firstBadEntry, index, JSON.stringify(report.problems.slice(0, 3)));
      assert.ok(!report.problems.some((p) => p.kind === 'node'), 'an entry edit must not be blamed on a node');
    }), { numRuns: 25 });
  });
});

test('property: flipping any byte of any stored tree node fails verification and names that node', async () => {
  await withBuiltLog(45, async (editCopy, base) => {
    const db0 = new Database(base, { readonly: true });
    const nodes = db0.prepare('SELECT level, idx FROM ledger_nodes ORDER BY level, idx').all() as { level: number; idx: number }[];
    db0.close();
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.nat(nodes.length - 1), fc.nat(31), fc.integer({ min: 1, max: 255 }), async (k, pos, x) => {
      const { level, idx } = nodes[k];
      const report = await editCopy(`n${run++}`, (db) => {
        const hash = db.prepare('SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?').pluck().get(level, idx) as Buffer;
        hash[pos] ^= x;
        db.prepare('UPDATE ledger_nodes SET hash = ? WHERE level = ? AND idx = ?').run(hash, level, idx);
      });
      assert.equal(report.ok, false);
      assert.ok(report.problems.some((p) => p.kind === 'node' && p.level === level && p.index === idx), `node ${level}/${idx} not named: ${JSON.stringify(report.problems.slice(0, 3))}`);
      assert.equal(report.firstBadEntry, null, 'a node edit must not be blamed on an entry');
    }), { numRuns: 25 });
  });
});

test('tampered checkpoint, indexed column or private value is named', async () => {
  await withBuiltLog(30, async (editCopy) => {
    const cases: [string, (db: Database.Database) => void, (r: LedgerReport) => void][] = [
      ['checkpoint note', (db) => db.prepare("UPDATE ledger_checkpoints SET note = replace(note, '\n30\n', '\n29\n') WHERE size = 30").run(),
        (r) => assert.ok(r.problems.some((p) => p.kind === 'checkpoint' && p.index === 30))],
      ['indexed account column', (db) => db.prepare("UPDATE ledger_entries SET account_id = 'acct_x' WHERE idx = 4").run(),
        (r) => assert.equal(r.firstBadEntry, 4)],
      ['private ip', (db) => db.prepare("UPDATE ledger_private SET openings = replace(openings, '203.0.113.9', '203.0.113.99') WHERE idx = 9").run(),
        (r) => assert.ok(r.problems.some((p) => p.kind === 'private' && p.index === 9))],
      // The clear IP columns the IP and network queries read: changed or cleared, the entry would drop out of them.
      ['indexed IPv4 column', (db) => db.prepare('UPDATE ledger_private SET ip_v4 = 167840009 WHERE idx = 8').run(),
        (r) => assert.ok(r.problems.some((p) => p.kind === 'private' && p.index === 8 && /ip_v4/.test(p.message)), JSON.stringify(r.problems))],
      ['cleared IP columns', (db) => db.prepare('UPDATE ledger_private SET ip = NULL, ip_v4 = NULL WHERE idx = 8').run(),
        (r) => assert.ok(r.problems.some((p) => p.kind === 'private' && p.index === 8 && /indexed client IP/.test(p.message)), JSON.stringify(r.problems))],
      ['removed IP opening', (db) => db.prepare("UPDATE ledger_private SET ip = NULL, ip_v4 = NULL, openings = json_remove(openings, '$.client_ip') WHERE idx = 8").run(),
        (r) => assert.ok(r.problems.some((p) => p.kind === 'private' && p.index === 8 && /opening of its committed client IP is missing/.test(p.message)), JSON.stringify(r.problems))],
      ['deleted entry', (db) => db.prepare('DELETE FROM ledger_entries WHERE idx = 7').run(),
        (r) => assert.ok(r.problems.some((p) => p.index === 7))],
    ];
    for (const [name, tamper, check] of cases) {
      const report = await editCopy(name.replace(/ /g, '_'), tamper);
      assert.equal(report.ok, false, name);
      check(report);
    }
  });
});
