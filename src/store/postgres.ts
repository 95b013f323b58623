import { createRequire } from 'node:module';
import type pg from 'pg';
import { migrationSql, minReaderAfter, refuseNewerSchema, type Migration } from './schema-version.ts';

export type PgPool = pg.Pool;

/**
 * How long to wait for a connection (TCP, TLS and PostgreSQL's handshake), or for a client of a
 * full pool, ms. A server that accepts connections and never answers fails here, not forever.
 */
export const PG_CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long a statement may go unanswered before it fails, ms, by use (the server may have accepted
 * the statement and stopped answering; PostgreSQL's own statement_timeout cannot tell that).
 * `read`: the request path (an API key not in the cache: the client waits, then gets a 503);
 * `write`: the pool's default, for writes off the request path (event batches of up to 1,000 rows,
 * the ledger's appends waiting for its lock) and the dashboard's queries; `migrate`: schema
 * migrations, which wait for another node's and may rebuild a big table.
 */
export const PG_TIMEOUTS_MS = { read: 5_000, write: 30_000, migrate: 600_000 } as const;

/** How long `end()` waits for statements still under way and for the server to close the connections, ms; then they are cut. */
export const PG_END_GRACE_MS = 2_000;

/**
 * A pool whose `end()` ends within `PG_END_GRACE_MS` even when the server does not answer: a
 * statement still under way then (one its caller gave up on: an event write past the shutdown
 * deadline) and connections the server does not close after being told to are cut, so that a
 * stopping process exits instead of waiting on them.
 */
function endingPoolClass(pgm: typeof pg) {
  return class EndingPool extends pgm.Pool {
    /** Connected clients whose connection is not closed yet. */
    private readonly open = new Set<pg.PoolClient>();

    constructor(config: pg.PoolConfig) {
      super(config);
      this.on('connect', (client) => {
        this.open.add(client);
        // A connection lost while its client is checked out between two statements (a transaction
        // awaiting other work, a held lock) emits 'error' on the client, which the pool does not
        // listen to then: unheard, it ends the process. Its next statement fails and says why.
        client.on('error', () => {});
      });
      this.on('remove', (client) => { this.open.delete(client); });
    }

    override end(): Promise<void>;
    override end(callback: () => void): void;
    override end(callback?: () => void): Promise<void> | void {
      const ended = this.endWithin(PG_END_GRACE_MS);
      if (!callback) return ended;
      ended.then(callback, callback);
    }

    private async endWithin(graceMs: number): Promise<void> {
      const deadline = Date.now() + graceMs;
      const ended = super.end();
      await settledBy(ended, deadline);
      await settledBy(new Promise<void>((resolve) => {
        const check = () => { if (this.open.size === 0) { this.off('remove', check); resolve(); } };
        this.on('remove', check);
        check();
      }), deadline);
      // What is left is waiting on a server that does not answer. Its statement fails ("Connection terminated"), its caller is told.
      for (const client of this.open) (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      this.open.clear();
      await ended;
    }
  };
}

// node-postgres is loaded when the first pool is opened: a deployment on SQLite (and every command that
// reads no PostgreSQL) never pays for it.
const requireCjs = createRequire(import.meta.url);
let EndingPool: ReturnType<typeof endingPoolClass> | null = null;

/** Wait for `work` until `deadline` at most (its outcome is not needed: only that it ended, or the time is up). */
async function settledBy(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise((r) => { timer = setTimeout(r, Math.max(0, deadline - Date.now())); })]);
  clearTimeout(timer);
}

/** Connect a PostgreSQL pool (e.g. `postgres://postgres@127.0.0.1:5432/test`); statements time out after `queryTimeoutMs` unless given their own (`timed`). */
export function openPostgres(url: string, opts: { max?: number; connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): PgPool {
  EndingPool ??= endingPoolClass(requireCjs('pg') as typeof pg);
  const pool = new EndingPool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_CONNECT_TIMEOUT_MS,
    query_timeout: opts.queryTimeoutMs ?? PG_TIMEOUTS_MS.write,
  });
  // An idle client erroring (server restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

/** A statement with a timeout of its own (`PG_TIMEOUTS_MS`), for `pool.query` or `client.query`. */
export function timed(text: string, values: readonly unknown[], timeoutMs: number): pg.QueryConfig {
  // node-postgres reads `query_timeout` per statement; its type declarations omit it.
  return { text, values: values as unknown[], query_timeout: timeoutMs } as pg.QueryConfig;
}

/** The URL as it may be shown in messages and logs: the password replaced by `***`. */
export function postgresUrlForDisplay(url: string): string {
  try {
    const u = new URL(url);
    // `*` is kept as is in both places (an ellipsis would be percent-encoded).
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.href;
  } catch {
    return '(not a URL)';
  }
}

/** Socket errors meaning the server cannot be reached (refused, reset, timed out, unknown host). */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/**
 * Server answers meaning "not now": shutting down, starting up, out of connections; and the
 * connection exceptions of class 08 (not all of it: 08P01, a protocol violation, is what a statement
 * with the wrong number of parameters gets, a bug to report as such).
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
/**
 * What node-postgres says when a connection ends or cannot be made in time, or a statement goes
 * unanswered past its timeout (it sets no code).
 */
const CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/**
 * Whether an error means PostgreSQL is unreachable or unavailable (the statement may succeed once
 * it is back), as opposed to an error in the statement or the data.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_ERRORS.has(code) || UNAVAILABLE_STATES.has(code))) return true;
  // Several addresses tried (IPv6 then IPv4): Node gathers their failures.
  if (err instanceof AggregateError && err.errors.some(isPostgresUnavailable)) return true;
  return CONNECTION_LOST.test(err.message);
}

/**
 * Run `work` in one transaction on a client of its own: committed if it returns, rolled back if it
 * throws. A client whose connection failed, or whose statement went unanswered (it would still be
 * waiting for the answer), is closed rather than put back in the pool.
 */
export async function inTransaction<T>(pool: PgPool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    if (isPostgresUnavailable(err)) broken = err as Error;
    else await client.query('ROLLBACK').catch((e: Error) => { broken = e; });
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Apply numbered migrations for one component, each once, in order; safe when several nodes
 * start at once (an advisory lock serialises them). A component newer than these migrations is
 * refused (SchemaTooNewError) unless every later migration was declared compatible (see
 * schema-version.ts): during a rolling upgrade an older node may then still start.
 */
export async function migratePostgres(pool: PgPool, component: string, migrations: readonly Migration[]): Promise<void> {
  const client = await pool.connect();
  const q = (sql: string, args: unknown[] = []) => client.query(timed(sql, args, PG_TIMEOUTS_MS.migrate));
  let broken: Error | undefined;
  try {
    await q('SELECT pg_advisory_lock(hashtext($1))', ['warden.migrate']);
    await q('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), min_reader INTEGER, PRIMARY KEY (component, version))');
    // Tables made by releases before min_reader: the column is added once (null in their rows);
    // looked up first, so that later starts take no lock on the table that older nodes read.
    const { rows: [has] } = await q("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations') AND attname = 'min_reader' AND NOT attisdropped) AS v");
    if (!has.v) await q('ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS min_reader INTEGER');
    const { rows } = await q('SELECT version, min_reader FROM schema_migrations WHERE component = $1 ORDER BY version DESC LIMIT 1', [component]);
    const current = rows.length ? Number(rows[0].version) : 0;
    const stored = rows.length && rows[0].min_reader !== null ? Number(rows[0].min_reader) : null;
    refuseNewerSchema(component, current, stored, migrations.length);
    let minReader = stored ?? current;
    for (let i = current; i < migrations.length; i++) {
      await q('BEGIN');
      try {
        await q(migrationSql(migrations[i]));
        minReader = minReaderAfter(migrations[i], i, minReader);
        await q('INSERT INTO schema_migrations (component, version, min_reader) VALUES ($1, $2, $3)', [component, i + 1, minReader]);
        await q('COMMIT');
      } catch (err) {
        if (!isPostgresUnavailable(err)) await q('ROLLBACK').catch((e: Error) => { broken = e; });
        throw err;
      }
    }
  } catch (err) {
    // Its connection failed or stopped answering: closed, not pooled (the lock goes with the session).
    if (isPostgresUnavailable(err)) broken ??= err as Error;
    throw err;
  } finally {
    if (!broken) await client.query(timed('SELECT pg_advisory_unlock(hashtext($1))', ['warden.migrate'], PG_TIMEOUTS_MS.read)).catch((e: Error) => { broken = e; });
    client.release(broken);
  }
}
