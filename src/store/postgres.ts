import pg from 'pg';

export type PgPool = pg.Pool;

/** Connect a PostgreSQL pool (e.g. `postgres://postgres@127.0.0.1:5432/test`). */
export function openPostgres(url: string, opts: { max?: number } = {}): PgPool {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // An idle client erroring (server restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

/** The URL as it may be shown in messages and logs: without its password. */
export function postgresUrlForDisplay(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '…';
    if (u.searchParams.has('password')) u.searchParams.set('password', '…');
    return u.href;
  } catch {
    return '(not a URL)';
  }
}

/** Socket errors meaning the server cannot be reached (refused, reset, timed out, unknown host). */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** Server answers meaning "not now": shutting down, starting up, out of connections. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** What node-postgres says when a connection ends or cannot be made in time (it sets no code). */
const CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * Whether an error means PostgreSQL is unreachable or unavailable (the statement may succeed once
 * it is back), as opposed to an error in the statement or the data.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_ERRORS.has(code) || UNAVAILABLE_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  // Several addresses tried (IPv6 then IPv4): Node gathers their failures.
  if (err instanceof AggregateError && err.errors.some(isPostgresUnavailable)) return true;
  return CONNECTION_LOST.test(err.message);
}

/** Run `work` in one transaction on a client of its own: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: PgPool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Apply numbered migrations for one component, each once, in order; safe when several nodes
 * start at once (an advisory lock serialises them).
 */
export async function migratePostgres(pool: PgPool, component: string, migrations: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', ['warden.migrate']);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))');
    const { rows } = await client.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations WHERE component = $1', [component]);
    const current = Number(rows[0].v);
    for (let i = current; i < migrations.length; i++) {
      await client.query('BEGIN');
      try {
        await client.query(migrations[i]);
        await client.query('INSERT INTO schema_migrations (component, version) VALUES ($1, $2)', [component, i + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', ['warden.migrate']).catch(() => {});
    client.release();
  }
}
