import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrationSql, minReaderAfter, refuseNewerSchema, type Migration } from './schema-version.ts';

export type SqliteDb = Database.Database;

/**
 * The page size of the SQLite files Warden creates, in bytes (SQLite's own default is 4 KB). The
 * event writer's inserts (a row of about 1.2 KB JSON, its primary key and four indexes) cost
 * 0.70-0.73 of their CPU at 256 rows a commit and 0.80-0.82 at 64 on 16 KB pages, the keys' last
 * use written every flush 0.65-0.72; a commit of one row, and an operator's single writes (an
 * account created or renamed), cost more, up to about 140 µs each, as every page a commit changes
 * goes whole to the write-ahead log (BENCHMARKS.md, "The SQLite files' page size"). SQLite fixes a
 * file's page size when it creates the file: a file an older release created keeps its pages
 * until `warden store compact` rebuilds it (docs/operations.md).
 */
export const SQLITE_PAGE_SIZE = 16_384;

/**
 * Open (or create) the embedded SQLite database in WAL mode. A new file gets `pageSize`-byte pages
 * (default SQLITE_PAGE_SIZE); an existing file keeps the page size it was created with.
 * `durability: 'full'` fsyncs every commit (used where an acknowledged write must survive power
 * loss, e.g. the ledger); 'normal' survives process crashes, which is enough for events.
 * `secure_delete` overwrites deleted and updated-away content with zeros: personal data that is
 * erased (ledger openings, event fields) must not stay readable in the file's free space.
 */
export function openSqlite(path: string, opts: { durability?: 'normal' | 'full'; pageSize?: number } = {}): SqliteDb {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    // A new file is private (prompts, emails, IPs, ledger openings), as the admin token and ledger
    // key are: created 0600 before SQLite opens it, and SQLite gives its -wal and -shm the same mode.
    // Only a new one: closing a descriptor of a file this process already has open in SQLite (the
    // writer threads open a second connection) releases every POSIX lock the process holds on it,
    // and another process (a backup with the sqlite3 shell) would then delete the live WAL.
    createPrivateFile(path);
    // A file an older release created world-readable is made private too, before SQLite makes a
    // new -wal or -shm from its mode (`warden serve` does this first and says so).
    tightenFileModes([path, `${path}-wal`, `${path}-shm`]);
  }
  const db = new Database(path);
  const pageSize = opts.pageSize ?? SQLITE_PAGE_SIZE;
  if (!validPageSize(pageSize)) { db.close(); throw new Error(`SQLite page size ${pageSize}: a power of two from 512 to 65536`); }
  // Before the first page is written (entering WAL mode writes the header): it takes only on a new
  // file; on one that has pages it changes nothing.
  db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('secure_delete = ON');
  return db;
}

/** A page size SQLite accepts: a power of two from 512 to 65536 bytes. */
export const validPageSize = (n: number): boolean => Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0;

/** Create `path` empty with mode 0600 unless it exists; an existing file is never opened here. */
function createPrivateFile(path: string): void {
  try {
    writeFileSync(path, '', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** A private file found readable by other local users, and what was done about it. */
export interface ModeChange { path: string; from: number; to: number | null; error?: string }

/**
 * Make files that hold private data 0600 when other local users can read them: releases before
 * the database files were created 0600 left them 0644 (the umask's default), and SQLite gives a
 * new -wal and -shm the database's mode. A file open to its group only (0640: an operator's
 * choice, e.g. a backup group) is left as it is; missing files are skipped. Returns each file changed, or that could not be (a read-only mount).
 */
export function tightenFileModes(paths: Iterable<string>): ModeChange[] {
  if (process.platform === 'win32') return [];
  const changes: ModeChange[] = [];
  for (const path of paths) {
    let from: number;
    try { from = statSync(path).mode & 0o777; } catch { continue; }
    if ((from & 0o007) === 0) continue;
    const to = 0o600;
    try {
      chmodSync(path, to);
      changes.push({ path, from, to });
    } catch (err) {
      changes.push({ path, from, to: null, error: (err as Error).message });
    }
  }
  return changes;
}

/** SQLite refused because another connection holds a lock it needs. */
export const isSqliteBusy = (err: unknown) => (err as { code?: string }).code?.startsWith('SQLITE_BUSY') || (err as { code?: string }).code === 'SQLITE_LOCKED';

/**
 * Run one statement on a connection the server's main thread uses, without blocking the event
 * loop in SQLite's busy handler: when another connection holds the lock, wait on a timer and try
 * again (for up to `maxWaitMs`, then throw the busy error).
 */
export async function withoutBusyWait<T>(db: SqliteDb, run: () => T, maxWaitMs = 60_000): Promise<T> {
  const giveUpAt = Date.now() + maxWaitMs;
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  for (;;) {
    db.pragma('busy_timeout = 0');
    try {
      return run();
    } catch (err) {
      if (!isSqliteBusy(err) || Date.now() >= giveUpAt) throw err;
    } finally {
      db.pragma(`busy_timeout = ${busyTimeout}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * After an erasure: copy the write-ahead log into the database file and truncate it to zero
 * bytes, so the pages that held the erased bytes (WAL frames written before the erase) are gone
 * from disk, not only superseded. Waits for readers (busy_timeout); throws when one still holds
 * an old snapshot, since the old frames would then stay in the WAL.
 */
export function truncateWal(db: SqliteDb, what: string): void {
  if (db.memory) return;
  const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
  if (r && r.busy !== 0) {
    throw new Error(`${what}: the erased data is committed, but a reader of ${db.name} kept the write-ahead log from being truncated, so old copies stay in ${db.name}-wal; run the erase again once no long reader runs`);
  }
}

/**
 * Apply numbered migrations for one component, each once, in order, inside a transaction.
 * Components own their tables; versions are tracked per component in `schema_migrations`, each
 * with the oldest schema knowledge a Warden needs to run on it (see schema-version.ts). A
 * component newer than these migrations is refused (SchemaTooNewError) unless every later
 * migration was declared compatible.
 */
export function migrateSqlite(db: SqliteDb, component: string, migrations: readonly Migration[]): void {
  const apply = db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, min_reader INTEGER, PRIMARY KEY (component, version))');
    // Tables made by releases before min_reader: the column is added (null in their rows).
    const columns = db.prepare('SELECT name FROM pragma_table_info(\'schema_migrations\')').pluck().all() as string[];
    if (!columns.includes('min_reader')) db.exec('ALTER TABLE schema_migrations ADD COLUMN min_reader INTEGER');
    const row = db.prepare('SELECT version, min_reader FROM schema_migrations WHERE component = ? ORDER BY version DESC LIMIT 1').get(component) as { version: number; min_reader: number | null } | undefined;
    const current = row?.version ?? 0;
    refuseNewerSchema(component, current, row?.min_reader ?? null, migrations.length);
    let minReader = row ? (row.min_reader ?? row.version) : 0;
    for (let i = current; i < migrations.length; i++) {
      db.exec(migrationSql(migrations[i]));
      minReader = minReaderAfter(migrations[i], i, minReader);
      db.prepare('INSERT INTO schema_migrations (component, version, applied_at, min_reader) VALUES (?, ?, ?, ?)').run(component, i + 1, new Date().toISOString(), minReader);
    }
  });
  // IMMEDIATE: the transaction reads before it writes, and a deferred one that then needs the write
  // lock while another process (the gateway's event writer) holds it is refused at once, with no
  // busy wait.
  apply.immediate();
}
