/** Open the configured backend (SQLite file or PostgreSQL) and the repositories on it. */
import type { WardenConfig } from '../config/index.ts';
import { openSqlite, openPostgres, SqliteEventStore, PostgresEventStore, type EventStore, type SqliteDb, type PgPool } from '../store/index.ts';

export interface Stores {
  driver: 'sqlite' | 'postgres';
  sqlite: SqliteDb | null;
  pg: PgPool | null;
  events: EventStore;
  close(): Promise<void>;
}

export async function openStores(config: WardenConfig): Promise<Stores> {
  if (config.store.driver === 'postgres') {
    const pg = openPostgres(config.store.postgres_url);
    const events = new PostgresEventStore(pg);
    return { driver: 'postgres', sqlite: null, pg, events, close: async () => { await events.close(); await pg.end(); } };
  }
  const sqlite = openSqlite(config.store.sqlite_path);
  // Inserts run in a writer thread: a batch never blocks the gateway's event loop.
  const events = new SqliteEventStore(sqlite, { writer: 'thread' });
  return { driver: 'sqlite', sqlite, pg: null, events, close: async () => { await events.close(); sqlite.close(); } };
}

/**
 * A repository on the configured backend: the SQLite one, or the PostgreSQL one once its tables
 * are migrated. E.g. `await onBackend(stores, (db) => new SqliteX(db), (pool) => new PostgresX(pool))`.
 */
export async function onBackend<T>(stores: Stores, sqlite: (db: SqliteDb) => T, postgres: (pool: PgPool) => T & { migrate(): Promise<void> }): Promise<T> {
  if (stores.sqlite) return sqlite(stores.sqlite);
  const repo = postgres(stores.pg!);
  await repo.migrate();
  return repo;
}
