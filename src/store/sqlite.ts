import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type SqliteDb = Database.Database;

/**
 * Open (or create) the embedded SQLite database in WAL mode.
 * `durability: 'full'` fsyncs every commit (used where an acknowledged write must survive power
 * loss, e.g. the ledger); 'normal' survives process crashes, which is enough for events.
 */
export function openSqlite(path: string, opts: { durability?: 'normal' | 'full' } = {}): SqliteDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Apply numbered migrations for one component, each once, in order, inside a transaction.
 * Components own their tables; versions are tracked per component in `schema_migrations`.
 */
export function migrateSqlite(db: SqliteDb, component: string, migrations: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))');
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?').get(component) as { v: number | null };
  const current = row.v ?? 0;
  const apply = db.transaction(() => {
    for (let i = current; i < migrations.length; i++) {
      db.exec(migrations[i]);
      db.prepare('INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)').run(component, i + 1, new Date().toISOString());
    }
  });
  apply();
}
