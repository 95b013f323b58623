/** A private PostgreSQL schema for one test: parallel test files and runs never see each other's rows. */
import { randomBytes } from 'node:crypto';
import { openPostgres, type PgPool } from '../../src/store/index.ts';

export const TEST_POSTGRES_URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Run `work` with a pool whose search path is a new schema, dropped afterwards. */
export async function withPgSchema<T>(prefix: string, work: (pool: PgPool) => Promise<T>, max = 4): Promise<T> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = openPostgres(`${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max });
  try {
    return await work(pool);
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
