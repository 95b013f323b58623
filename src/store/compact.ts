/**
 * Rebuild a SQLite database file with another page size (and without its free pages): what
 * `warden store compact` runs, with the server stopped. SQLite fixes a file's page size when the
 * file is created; in WAL mode it can only change through a rebuild, so a file an older release
 * created keeps 4 KB pages until this is run (docs/operations.md, "The SQLite file's page size").
 *
 * The copy is written beside the file (`VACUUM INTO`, with the new page size), checked (every
 * table holds as many rows as in the original), made durable, and renamed over the original: the
 * original stays whole until that rename, and a failure on the way (a full disk) leaves it as it
 * was, the partial copy removed. Needs as much free space beside the file as the file takes.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { openSqlite, validPageSize, isSqliteBusy } from './sqlite.ts';

export interface CompactResult {
  path: string;
  pageSizeBefore: number;
  pageSizeAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Tables copied, with their rows (the same before and after). */
  tables: number;
  rows: number;
}

/** The copy's name while it is written: beside the file, so the rename stays on one file system. */
export const compactTempPath = (path: string) => `${path}.compact-tmp`;

/**
 * Rebuild `path` with `pageSize`-byte pages. The caller makes sure no server uses the file (the
 * serve lock); another connection that still has it open makes this fail with SQLITE_BUSY before
 * anything is changed.
 */
export function compactSqliteFile(path: string, pageSize: number): CompactResult {
  if (!validPageSize(pageSize)) throw new Error(`page size ${pageSize}: a power of two from 512 to 65536 bytes`);
  const src = new Database(path, { fileMustExist: true });
  const tmp = compactTempPath(path);
  let renamed = false;
  try {
    src.pragma('busy_timeout = 5000');
    // Out of WAL mode: this copies everything committed into the file and removes the log, and
    // SQLite allows it only while no other connection has the file open (a server, a backup, a
    // command still running), which it then says as busy, before anything is written.
    src.pragma('journal_mode = DELETE');
    const pageSizeBefore = src.pragma('page_size', { simple: true }) as number;
    const bytesBefore = statSync(path).size;
    const counts = tableCounts(src);
    rmSync(tmp, { force: true });
    // Created empty and private before SQLite writes to it (VACUUM INTO accepts an empty file).
    closeSync(openSync(tmp, 'wx', 0o600));
    src.pragma(`page_size = ${pageSize}`);
    src.prepare('VACUUM INTO ?').run(tmp);
    // The copy: WAL mode as Warden opens its files, the same rows, on disk before it replaces the original.
    const out = openSqlite(tmp);
    let pageSizeAfter: number;
    try {
      pageSizeAfter = out.pragma('page_size', { simple: true }) as number;
      const after = tableCounts(out);
      for (const [table, n] of counts) {
        if (after.get(table) !== n) throw new Error(`${path}: the rebuilt copy holds ${after.get(table) ?? 'no'} rows in ${table}, the original ${n}; nothing was replaced`);
      }
      out.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      out.close();
    }
    chmodSync(tmp, statSync(path).mode & 0o777);
    fsyncPath(tmp);
    src.close();
    renameSync(tmp, path);
    renamed = true;
    // The rename is made durable with the directory; the original's -wal and -shm went with its last connection.
    fsyncPath(dirname(path));
    for (const f of [`${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    let rows = 0;
    for (const n of counts.values()) rows += n;
    return { path, pageSizeBefore, pageSizeAfter, bytesBefore, bytesAfter: statSync(path).size, tables: counts.size, rows };
  } catch (err) {
    if (!renamed) {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(f, { force: true });
      // The original as it was found: in WAL mode (a failure before the switch leaves it so anyway).
      try { if (src.open) src.pragma('journal_mode = WAL'); } catch { /* it opens in WAL mode at the next start */ }
    }
    if (isSqliteBusy(err)) throw new Error(`${path} is in use by another process (SQLITE_BUSY): stop it first; nothing was changed`, { cause: err });
    throw err;
  } finally {
    if (src.open) src.close();
  }
}

/** Rows of every table of the file (SQLite's own included). */
function tableCounts(db: Database.Database): Map<string, number> {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' ORDER BY name").pluck().all() as string[];
  return new Map(tables.map((t) => [t, db.prepare(`SELECT COUNT(*) FROM "${t.replaceAll('"', '""')}"`).pluck().get() as number]));
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
