/**
 * Entry point of the SQLite event writer thread (see event-writer.ts): its own connection to the
 * gateway's database file; each `append` is one transaction, acknowledged after commit, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from './sqlite.ts';
import { lowerThreadPriority } from './worker-entry.ts';
import { SQLITE_FOLD_PENDING_SUM, SQLITE_FOLD_PENDING_FORGET, FOLD_BACKLOG_ROWS } from './usage-rollup.ts';
import type { EventRow, FromEventWriter, ToEventWriter } from './event-writer.ts';

lowerThreadPriority();
const port = parentPort!;
const db = openSqlite((workerData as { path: string }).path);
// Prepared on first use, so that a missing table fails the batch (with SQLite's reason), not the thread.
let insertMany: ((rows: EventRow[]) => void) | null = null;
function prepare(): (rows: EventRow[]) => void {
  const insert = db.prepare('INSERT OR IGNORE INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const fold = db.prepare(SQLITE_FOLD_PENDING_SUM);
  const forget = db.prepare(SQLITE_FOLD_PENDING_FORGET);
  // The batch's rows summed into the hourly rollup before the commit (usage-rollup.ts).
  return db.transaction((rows: EventRow[]) => {
    for (const r of rows) insert.run(...r);
    fold.run(rows.length + FOLD_BACKLOG_ROWS);
    forget.run(rows.length + FOLD_BACKLOG_ROWS);
  });
}

port.on('message', (m: ToEventWriter) => {
  if (m.type === 'close') { db.close(); port.close(); process.exit(0); }
  if (m.type === 'fault') process.exit(70);
  if (m.type !== 'append') return;
  try {
    (insertMany ??= prepare())(m.rows);
    port.postMessage({ type: 'ack', id: m.id } satisfies FromEventWriter);
  } catch (err) {
    port.postMessage({ type: 'error', id: m.id, message: (err as Error).message } satisfies FromEventWriter);
  }
});
