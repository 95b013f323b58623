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
  const { sampleEvent } = await import('./fixtures.ts');
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
