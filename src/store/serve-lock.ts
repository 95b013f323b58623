/**
 * One `warden serve` per SQLite database. SQLite lets several processes open the same file, but
 * Warden keeps state per process (the ledger's tree border, rate limits, the detector) and the
 * ledger has one writer: a second server on the same file drops ledger entries and serves another
 * checkpoint. So the server holds a lock on a marker file beside the database, `<db>.lock`, for as
 * long as it runs.
 *
 * The lock is SQLite's own file lock (a write transaction held open on the marker), so the
 * operating system releases it when the process ends, even by SIGKILL or a crash: no stale lock
 * to clean up, and no process-id guessing after a container restart. The marker's row names the
 * holder (pid, host, start time) for the refusal message. Commands that only read or that write
 * through SQLite's own locking (events export, ledger verify/query/erase, identity commands) do
 * not take it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isSqliteBusy } from './sqlite.ts';

export class DataDirInUseError extends Error {
  constructor(message: string) { super(message); this.name = 'DataDirInUseError'; }
}

export interface ServeLock {
  /** The marker file. */
  path: string;
  release(): void;
}

interface Holder { pid: number; host: string; started_at: string }

/** Take the serve lock of the SQLite database at `dbPath`, or throw DataDirInUseError naming the holder. */
export function lockSqliteForServe(dbPath: string): ServeLock {
  const db = resolve(dbPath);
  const path = `${db}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const marker = new Database(path);
  try {
    // No waiting: a held lock is held for the other server's whole life.
    marker.pragma('busy_timeout = 0');
    const holder = (): Holder | undefined => {
      try {
        return marker.prepare('SELECT pid, host, started_at FROM holder LIMIT 1').get() as Holder | undefined;
      } catch { return undefined; }
    };
    const refuse = (): never => {
      const h = holder();
      const who = h ? `pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ''}, started ${h.started_at}` : 'another process';
      throw new DataDirInUseError(`another warden serve (${who}) is using the SQLite database ${db} (lock ${path}): stop it first, ` +
        'or give this one its own store.sqlite_path; to run several nodes on one store, use PostgreSQL (store.driver: postgres)');
    };
    const take = () => {
      try { marker.exec('BEGIN IMMEDIATE'); } catch (err) { if (isSqliteBusy(err)) refuse(); throw err; }
    };
    take();
    marker.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL)');
    marker.exec('DELETE FROM holder');
    marker.prepare('INSERT INTO holder (pid, host, started_at) VALUES (?, ?, ?)').run(process.pid, hostname(), new Date().toISOString());
    marker.exec('COMMIT');
    // Held from here until release (or the process ends): readers still see who holds it.
    take();
  } catch (err) {
    marker.close();
    throw err;
  }
  return {
    path,
    release() {
      if (!marker.open) return;
      if (marker.inTransaction) marker.exec('ROLLBACK');
      marker.close();
    },
  };
}
