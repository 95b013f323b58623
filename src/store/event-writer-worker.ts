/**
 * Entry point of the SQLite event writer thread (see event-writer.ts): its own connection to the
 * gateway's database file; each `append` is one transaction, acknowledged after commit, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from './sqlite.ts';
import { lowerThreadPriority } from './worker-entry.ts';
import { sqliteEventInserter, type SqliteEventInsert } from './event-insert.ts';
import type { FromEventWriter, ToEventWriter } from './event-writer.ts';

lowerThreadPriority();
const port = parentPort!;
const db = openSqlite((workerData as { path: string }).path);
// Prepared on first use, so that a missing table fails the batch (with SQLite's reason), not the thread.
// The batch's rows summed into the hourly rollup before the commit (event-insert.ts).
let insertMany: SqliteEventInsert | null = null;

port.on('message', (m: ToEventWriter) => {
  if (m.type === 'close') { db.close(); port.close(); process.exit(0); }
  if (m.type === 'fault') process.exit(70);
  if (m.type !== 'append') return;
  try {
    (insertMany ??= sqliteEventInserter(db))(m.rows, m.tokens, m.open);
    port.postMessage({ type: 'ack', id: m.id } satisfies FromEventWriter);
  } catch (err) {
    port.postMessage({ type: 'error', id: m.id, message: (err as Error).message } satisfies FromEventWriter);
  }
});
