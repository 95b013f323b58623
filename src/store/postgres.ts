import pg from 'pg';

export type PgPool = pg.Pool;

/** Connect a PostgreSQL pool (e.g. `postgres://postgres@127.0.0.1:5432/test`). */
export function openPostgres(url: string, opts: { max?: number } = {}): PgPool {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // An idle client erroring (server restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
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
