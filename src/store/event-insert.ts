/**
 * One batch of events into SQLite, in one transaction: the rows inserted (an id already stored is
 * ignored), and the rows inserted summed into the hourly usage rollup before the commit. Shared by
 * the event writer thread (event-writer-worker.ts) and the store's inline writer (events.ts).
 *
 * The batch's own rows are summed here from the tokens the caller hands over with them
 * (`rollupTokens`), not read back from their bodies: see SQLITE_ROLLUP_ADD in usage-rollup.ts. A
 * backlog of pending rows (inserted by a writer that does not fold: an older release, a
 * hand-written INSERT) is folded by SQL as before, at most FOLD_BACKLOG_ROWS a batch.
 */
import type { SqliteDb } from './sqlite.ts';
import { sqliteOpenWriter, SQLITE_OPEN_CLOSE, type OpenBatch } from './open-interactions.ts';
import {
  SQLITE_ROLLUP_ADD, SQLITE_FORGET_PENDING_RANGE, SQLITE_FORGET_PENDING_ROW, SQLITE_ANY_PENDING, SQLITE_FOLD_PENDING_SUM, SQLITE_FOLD_PENDING_FORGET,
  FOLD_BACKLOG_ROWS, ROLLUP_COUNTERS, ROLLUP_TOKEN_COUNT, addRollupCounters,
} from './usage-rollup.ts';

/** One `events` row, in column order: id, ts, account_id, org_id, key_id, model, client_ip, status, body. */
export type EventRow = [string, string, string | null, string | null, string | null, string, string, number, string];

/** Values of one rollup bucket as SQLITE_ROLLUP_ADD binds them: scope, subject, hour, model, then the counters. */
type Bucket = [string, string, string, string, ...number[]];

export type SqliteEventInsert = (rows: readonly EventRow[], tokens: readonly number[], open?: OpenBatch) => void;

/**
 * Insert `rows` (with `tokens`: ROLLUP_TOKEN_COUNT per row, from `rollupTokens`) and sum them into
 * the rollup, with `open`'s records, in one transaction.
 */
export function sqliteEventInserter(db: SqliteDb): SqliteEventInsert {
  const insert = db.prepare('INSERT OR IGNORE INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const add = db.prepare(SQLITE_ROLLUP_ADD);
  const forgetRange = db.prepare(SQLITE_FORGET_PENDING_RANGE);
  const forgetRow = db.prepare(SQLITE_FORGET_PENDING_ROW);
  const anyPending = db.prepare(SQLITE_ANY_PENDING).pluck();
  const fold = db.prepare(SQLITE_FOLD_PENDING_SUM);
  const forget = db.prepare(SQLITE_FOLD_PENDING_FORGET);
  const writeOpen = sqliteOpenWriter(db);
  const close = db.prepare(SQLITE_OPEN_CLOSE);
  return db.transaction((rows: readonly EventRow[], tokens: readonly number[], open?: OpenBatch) => {
    if (open) writeOpen(open.opened, open.progress);
    const buckets = new Map<string, Bucket>();
    const sum = (scope: string, subject: string | null, hour: string, model: string, status: number, at: number) => {
      if (subject === null) return;
      const key = `${scope}\n${subject}\n${hour}\n${model}`;
      let b = buckets.get(key);
      if (!b) {
        b = [scope, subject, hour, model];
        for (let i = 0; i < ROLLUP_COUNTERS.length; i++) b.push(0);
        buckets.set(key, b);
      }
      addRollupCounters(b as unknown as number[], 4, status, tokens, at);
    };
    const own: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const info = insert.run(...r);
      if (info.changes === 0) continue; // an id already stored: not inserted, not counted
      own.push(Number(info.lastInsertRowid));
      // The hour as the SQL fold cuts it (substr(ts, 1, 13)): ts is written in UTC, ISO 8601.
      const hour = r[1].slice(0, 13);
      sum('account', r[2], hour, r[5], r[7], i * ROLLUP_TOKEN_COUNT);
      sum('org', r[3], hour, r[5], r[7], i * ROLLUP_TOKEN_COUNT);
    }
    for (const b of buckets.values()) add.run(b);
    // The insert trigger noted each row as pending; they are summed now. Within this transaction
    // no other writer inserts, so the rowids are consecutive unless SQLite ran out of larger ones
    // (then it picks them at random): forgotten by range, or one by one.
    if (own.length > 0) {
      let consecutive = true;
      for (let i = 1; i < own.length && consecutive; i++) consecutive = own[i] === own[0] + i;
      if (consecutive) forgetRange.run(own[0], own[own.length - 1]);
      else for (const rowid of own) forgetRow.run(rowid);
    }
    if (anyPending.get()) {
      fold.run(FOLD_BACKLOG_ROWS);
      forget.run(FOLD_BACKLOG_ROWS);
    }
    // The streams recorded: no longer open.
    if (open) for (const id of open.closed) close.run(id);
  });
}
