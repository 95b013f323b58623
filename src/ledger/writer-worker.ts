/**
 * Entry point of the ledger's writer thread. It opens its own connection to the log (SQLite
 * synchronous=FULL, or its own PostgreSQL pool), verifies the log before writing (LedgerWriter.open),
 * then serves the main thread: appends (group-committed), checkpoint/erase/close requests, and
 * reports commits and signed checkpoints. Protocol types are in writer-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseSignerKey, parseVerifierKey } from './note.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import type { LedgerStorage, WriterConnection } from './storage.ts';
import { LedgerError } from './types.ts';
import { LedgerWriter, WriterLoop } from './writer.ts';
import type { FromWriter, ToWriter, WriterInit } from './writer-thread.ts';
import { lowerThreadPriority } from '../store/worker-entry.ts';

lowerThreadPriority();
const port = parentPort!;
const init = workerData as WriterInit;
const post = (m: FromWriter) => port.postMessage(m);

async function openStorage(c: WriterConnection): Promise<LedgerStorage> {
  if (c.driver === 'sqlite') return SqliteLedgerStorage.open(c.path);
  const [{ PostgresLedgerStorage }, { openPostgres }] = await Promise.all([import('./postgres.ts'), import('../store/postgres.ts')]);
  return new PostgresLedgerStorage(openPostgres(c.url, { max: 2 }), c.schema, { ownsPool: true, url: c.url });
}

/** Simulated crashes for tests: die now, die inside an open transaction, or die after a commit before acknowledging it. */
let exitAfterCommit = false;
function fault(mode: string, storage: LedgerStorage, writer: LedgerWriter): void {
  if (mode === 'exit-after-commit') { exitAfterCommit = true; return; }
  if (mode === 'exit-mid-commit' && storage instanceof SqliteLedgerStorage) {
    const db = storage.db;
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO ledger_entries (idx, id, kind, ts, leaf) VALUES (?, 'torn-write', 'interaction', ?, ?)").run(writer.size, new Date().toISOString(), Buffer.from('{}'));
    db.prepare('INSERT INTO ledger_nodes (level, idx, hash) VALUES (0, ?, ?)').run(writer.size, Buffer.alloc(32, 0xee));
  }
  process.exit(70);
}

async function main(): Promise<void> {
  let storage: LedgerStorage;
  let writer: LedgerWriter;
  try {
    storage = await openStorage(init.connection);
    try {
      writer = await LedgerWriter.open({
        storage, origin: init.origin, signers: init.signerKeys.map(parseSignerKey), trustedKeys: init.trustedKeys.map(parseVerifierKey),
        keepPromptText: init.keepPromptText, expect: init.expect ?? undefined,
      });
    } catch (err) {
      await storage.close().catch(() => {});
      throw err;
    }
  } catch (err) {
    post({ type: 'fatal', error: LedgerError.toWire(err) });
    port.close();
    return;
  }
  const loop = new WriterLoop(writer, { batchMax: init.batchMax, checkpointIntervalMs: init.checkpointIntervalMs, groupCommitMs: init.groupCommitMs }, {
    committed: (results, size) => post({ type: 'committed', results, size }),
    checkpoint: (cp) => post({ type: 'checkpoint', cp }),
    error: (err) => post({ type: 'error', error: LedgerError.toWire(err) }),
    storage: (down, outageMs) => post({ type: 'storage', down, outageMs }),
  });
  loop.afterCommit = () => { if (exitAfterCommit) process.exit(70); };

  port.on('message', (m: ToWriter) => {
    switch (m.type) {
      case 'append':
        loop.push(m.items);
        return;
      case 'call': {
        const op = m.op === 'checkpoint' ? loop.checkpoint() : m.op === 'erase' ? loop.erase(m.filter!) : loop.close();
        op.then(
          (value) => {
            post({ type: 'reply', id: m.id, value });
            if (m.op === 'close') port.close();
          },
          (err) => post({ type: 'reply', id: m.id, error: LedgerError.toWire(err) }),
        );
        return;
      }
      case 'fault':
        fault(m.mode, storage, writer);
        return;
    }
  });
  post({ type: 'ready', size: writer.size, latest: writer.latest, verifiers: writer.verifiers.map(String) });
}

void main();
