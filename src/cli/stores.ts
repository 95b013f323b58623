/** Open the configured backend (SQLite file or PostgreSQL) and the repositories on it. */
import { postgresUrl, type WardenConfig } from '../config/index.ts';
import { openSqlite, openPostgres, postgresUrlForDisplay, SqliteEventStore, PostgresEventStore, SchemaTooNewError, type EventStore, type SqliteDb, type PgPool } from '../store/index.ts';

export interface Stores {
  driver: 'sqlite' | 'postgres';
  sqlite: SqliteDb | null;
  pg: PgPool | null;
  events: EventStore;
  close(): Promise<void>;
}

/**
 * `log`: where the upgrade's longer steps report their progress (the usage rollup's fill from the
 * events an older release stored: share done, rate, time left); `warden serve` passes its start-up log.
 */
export async function openStores(config: WardenConfig, opts: { log?: (line: string) => void } = {}): Promise<Stores> {
  const rollupFill = opts.log ? { log: opts.log } : undefined;
  if (config.store.driver === 'postgres') {
    const url = postgresUrl(config.store);
    const pg = openPostgres(url, { max: config.store.postgres_pool_size });
    const events = new PostgresEventStore(pg, { rollupFill });
    // The first statement, here rather than in the background: a server that cannot be reached is
    // said at start, in the setting's words, not left to crash the process later.
    try {
      await events.migrate();
    } catch (err) {
      await pg.end().catch(() => {});
      // The server answered: its schema is newer than this Warden (said as it is, not as an outage).
      if (err instanceof SchemaTooNewError) throw err;
      throw new Error(`cannot use PostgreSQL at store.postgres_url ${postgresUrlForDisplay(url)}: ${reason(err)}. Check that the server is running and reachable from here, and the URL's host, port, database, user and password.`, { cause: err });
    }
    return { driver: 'postgres', sqlite: null, pg, events, close: async () => { await events.close(); await pg.end(); } };
  }
  const sqlite = openSqlite(config.store.sqlite_path);
  // Inserts run in a writer thread: a batch never blocks the gateway's event loop.
  const events = new SqliteEventStore(sqlite, { writer: 'thread', rollupFill });
  return { driver: 'sqlite', sqlite, pg: null, events, close: async () => { await events.close(); sqlite.close(); } };
}

/** An error in a few words; connecting to several addresses (IPv6, IPv4) fails with an AggregateError without a message. */
function reason(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(reason).join('; ');
  return err instanceof Error ? err.message || String((err as { code?: unknown }).code ?? err.name) : String(err);
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
