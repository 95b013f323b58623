/**
 * Child process of the crash test: appends as fast as it can and reports every acknowledged
 * append ("A <index> <id>") and every signed checkpoint ("C <size>") on stdout, which is a pipe
 * (synchronous writes on Linux), until the parent kills it with SIGKILL.
 */
import { Ledger } from '../../src/ledger/ledger.ts';
import { SqliteLedgerStorage } from '../../src/ledger/sqlite.ts';
import { parseSignerKey } from '../../src/ledger/note.ts';
import { sampleEvent } from './synthetic-events.ts';

const [dbPath, signerKey] = process.argv.slice(2);
const signer = parseSignerKey(signerKey);
const ledger = await Ledger.open({
  storage: SqliteLedgerStorage.open(dbPath), origin: signer.name, signers: [signer], checkpointIntervalMs: 20, batchMax: 256,
});
let n = ledger.size;
let lastCp = -1;
const inFlight = 400;
const one = async (): Promise<void> => {
  for (;;) {
    const r = await ledger.appendInteraction(sampleEvent(n++));
    process.stdout.write(`A ${r.index} ${r.id}\n`);
    const cp = ledger.latestCheckpoint();
    if (cp && cp.size !== lastCp) { lastCp = cp.size; process.stdout.write(`C ${cp.size}\n`); }
  }
};
process.stdout.write('READY\n');
await Promise.all(Array.from({ length: inFlight }, one));
