import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner, openCheckpoint } from './note.ts';
import { verifyLedger } from './verify.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { nodeArgs } from '../../test/helpers/node-args.ts';

const CHILD = nodeArgs(new URL('../../test/helpers/ledger-crash-child.ts', import.meta.url));

/** Run the child until it has acknowledged `minAcks` appends, then SIGKILL it; return what it reported. */
async function runAndKill(dbPath: string, signerKey: string, minAcks: number): Promise<{ acks: Map<number, string>; checkpoints: number[] }> {
  const child = spawn(process.execPath, [...CHILD, dbPath, signerKey], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks = new Map<number, string>();
  const checkpoints: number[] = [];
  let killed = false;
  const rl = createInterface({ input: child.stdout! });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let timeout: NodeJS.Timeout | undefined;
  const kill = () => { if (!killed) { killed = true; child.kill('SIGKILL'); } };
  for await (const line of rl) {
    // Kill after minAcks acknowledgements, or 3 s after the first one on a slow machine (counted
    // from the first, not from READY: a loaded machine may take longer than that to write any).
    const [kind, a, b] = line.split(' ');
    if (kind === 'A' && timeout === undefined) timeout = setTimeout(kill, 3000);
    if (kind === 'A') acks.set(Number(a), b);
    if (kind === 'C') checkpoints.push(Number(a));
    if (acks.size >= minAcks) kill();
  }
  await done;
  clearTimeout(timeout);
  return { acks, checkpoints };
}

test('kill -9 during heavy appends: no acknowledged entry lost, no checkpoint ahead of durable data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-crash-'));
  const dbPath = join(dir, 'ledger.db');
  const signer = generateSigner('warden.test/crash');
  try {
    const allAcks = new Map<number, string>();
    let lastReported = 0;
    for (let round = 0; round < 2; round++) {
      const { acks, checkpoints } = await runAndKill(dbPath, signer.exportPrivate(), 1500);
      assert.ok(acks.size > 0, 'the child acknowledged appends before it was killed');
      for (const [i, id] of acks) allAcks.set(i, id);
      if (checkpoints.length) lastReported = Math.max(lastReported, ...checkpoints);

      // After the crash, straight from the file: every acknowledged entry is there, where it was acknowledged.
      const storage = SqliteLedgerStorage.open(dbPath);
      const size = await storage.size();
      for (const [index, id] of allAcks) {
        const row = await storage.getEntry(index);
        assert.equal(row?.id, id, `acknowledged entry ${index} lost or moved`);
      }
      const latest = await storage.latestCheckpoint();
      assert.ok(latest, 'a checkpoint was signed under load');
      assert.ok(latest.size <= size, `checkpoint ${latest.size} ahead of durable data ${size}`);
      assert.ok(latest.size >= lastReported, 'a checkpoint reported as signed was not durable');
      const report = await verifyLedger(storage, { origin: 'warden.test/crash', verifiers: [signer.verifier()] });
      assert.deepEqual(report.problems, []);
      await storage.close();
    }

    // Restart: the log opens, keeps appending, and its next checkpoint is consistent with the last one.
    const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(dbPath), origin: 'warden.test/crash', signers: [signer] });
    const before = ledger.latestCheckpoint()!;
    await ledger.appendInteraction(sampleEvent(1));
    const after = await ledger.checkpoint();
    const proof = await ledger.proveConsistency(before.size, after.size);
    assert.equal(proof.old_root, before.rootHash);
    assert.equal(openCheckpoint(after.note, [signer.verifier()], 'warden.test/crash').size, after.size);
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
