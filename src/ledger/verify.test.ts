import { test } from 'node:test';
import assert from 'node:assert/strict';
import { largestSignedSize } from './verify.ts';

test('the largest signed size is found among more checkpoints than a call can take as arguments', () => {
  // A log signs a checkpoint every checkpoint_interval_ms (500 ms by default): 172,800 a day.
  const count = 300_000;
  const cps = Array.from({ length: count }, (_, i) => ({ size: i + 1, valid: i !== count - 1 }));
  assert.equal(largestSignedSize(cps), count - 1, 'the invalid last checkpoint is skipped, the largest valid one counts');
  assert.equal(largestSignedSize([]), 0, 'no checkpoint: nothing is signed');
  assert.equal(largestSignedSize([{ size: 5, valid: false }]), 0, 'an invalid checkpoint signs nothing');
});

test('a log without a signed checkpoint is a warning while its newest entry is recent, a failure once it is old', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Ledger, SqliteLedgerStorage, generateSigner, verifyLedger } = await import('./index.ts');
  const { sampleEvent } = await import('../../test/helpers/synthetic-events.ts');
  const { firstCheckpointGraceMs } = await import('./cli.ts');
  const origin = 'warden.test/ledger';
  const dir = mkdtempSync(join(tmpdir(), 'warden-verify-unsigned-'));
  const path = join(dir, 'ledger.db');
  const signer = generateSigner(origin);
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin, signers: [signer], checkpointIntervalMs: 60_000 });
  for (let i = 0; i < 3; i++) await ledger.appendInteraction(sampleEvent(i));
  await ledger.close();
  const storage = SqliteLedgerStorage.open(path);
  try {
    // As a server killed, or verified, before its first checkpoint interval was over.
    storage.db.exec('DELETE FROM ledger_checkpoints');
    const [newest] = await storage.entries(2, 3, 1);
    const written = Date.parse(newest.ts);
    const grace = firstCheckpointGraceMs(60_000);
    const verify = (ageMs: number) => verifyLedger(storage, { origin, verifiers: [signer.verifier()], unsignedGraceMs: grace, now: () => written + ageMs });

    const fresh = await verify(5_000);
    assert.equal(fresh.ok, true, `a fresh unsigned log verifies (${fresh.problems.map((p) => p.message).join('; ')})`);
    assert.equal(fresh.unsigned, 3, 'its entries are reported as unsigned, for the warning');

    const stale = await verify(grace + 1);
    assert.equal(stale.ok, false, 'entries never covered by a signature for longer than the grace fail');
    assert.match(stale.problems.map((p) => p.message).join('\n'), /no signed checkpoint covers the log/, 'and say why');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verify beside a server that appends and signs meanwhile checks the log as it stood when it began: OK, not FAILED', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Ledger, SqliteLedgerStorage, generateSigner, verifyLedger } = await import('./index.ts');
  const { sampleEvent, whileAppending } = await import('../../test/helpers/synthetic-events.ts');
  const origin = 'warden.test/ledger';
  const dir = mkdtempSync(join(tmpdir(), 'warden-verify-live-'));
  const path = join(dir, 'ledger.db');
  const signer = generateSigner(origin);
  // The server: its own connection (and writer thread), appending and signing.
  const server = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin, signers: [signer], checkpointIntervalMs: 60_000 });
  // `warden ledger verify`: the file opened read-only, as the command does.
  const reader = SqliteLedgerStorage.openReadOnly(path);
  try {
    for (let i = 0; i < 40; i++) await server.appendInteraction(sampleEvent(i));
    await server.checkpoint();
    const opts = { origin, verifiers: [signer.verifier()] };
    const { result: report, signedMeanwhile } = await whileAppending(SqliteLedgerStorage, server, 25, () => verifyLedger(reader, opts));
    assert.equal(signedMeanwhile, 65, 'the server appended 25 entries and signed a checkpoint over them during the run');
    assert.ok(report.ok, `a healthy ledger verifies beside a server under traffic (${report.problems.map((p) => p.message).join('; ')})`);
    assert.equal(report.size, 40, 'it is checked as it stood when verify began');
    assert.deepEqual(report.latestCheckpoint?.size, 40, 'the checkpoint signed meanwhile is left for the next run');
    const next = await verifyLedger(reader, opts);
    assert.ok(next.ok && next.size === 65 && next.latestCheckpoint?.size === 65, `the next run sees what was appended meanwhile (${next.problems.map((p) => p.message).join('; ')})`);
    // Through a connection that also writes (the server's own), the snapshot is taken on one of its own.
    const own = await whileAppending(SqliteLedgerStorage, server, 10, () => verifyLedger(server.storage, opts));
    assert.ok(own.result.ok && own.result.size === 65 && own.signedMeanwhile === 75, `verify through a read-write connection also sees one snapshot (${own.result.problems.map((p) => p.message).join('; ')})`);
  } finally {
    await reader.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a verdict whose signed leaf was edited is reported as altered, not only as an index that differs from it', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Ledger, SqliteLedgerStorage, generateSigner, verifyLedger } = await import('./index.ts');
  const { sampleVerdict } = await import('../../test/helpers/synthetic-events.ts');
  const origin = 'warden.test/ledger';
  const dir = mkdtempSync(join(tmpdir(), 'warden-verify-edited-'));
  const path = join(dir, 'ledger.db');
  const signer = generateSigner(origin);
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin, signers: [signer], checkpointIntervalMs: 60_000 });
  await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_1' }, 'suspend'));
  await ledger.checkpoint();
  await ledger.close();
  const storage = SqliteLedgerStorage.open(path);
  try {
    // Someone lowers the recorded suspension in the leaf itself (the indexed column left as it was).
    storage.db.exec(`UPDATE ledger_entries SET leaf = CAST(replace(CAST(leaf AS TEXT), '"level":"suspend"', '"level":"watch"') AS BLOB) WHERE idx = 0`);
    const r = await verifyLedger(storage, { origin, verifiers: [signer.verifier()] });
    assert.equal(r.ok, false);
    assert.equal(r.firstBadEntry, 0);
    const entry = r.problems.find((p) => p.kind === 'entry' && p.index === 0)?.message ?? '';
    assert.match(entry, /entry 0 was altered: its leaf hash no longer matches the tree/, `the entry is named as altered (got ${JSON.stringify(entry)})`);
    assert.match(entry, /indexed column\(s\) level differ from the leaf/, 'and its index still said so');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
