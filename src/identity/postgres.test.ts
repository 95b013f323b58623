import { randomBytes } from 'node:crypto';
import { openPostgres } from '../store/index.ts';
import { PostgresIdentityStore } from './postgres.ts';
import { identityStoreSuite } from './store-suite.ts';

const BASE_URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

identityStoreSuite('postgres', async (clock, { fingerprintSecret }) => {
  // A private schema per run, so parallel test files and runs never see each other's rows.
  const schema = `identity_test_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(BASE_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${BASE_URL}${BASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const pool = openPostgres(url, { max: 6 });
  const channel = schema; // unique NOTIFY channel too
  const opts = { fingerprintSecret, now: () => clock.t, channel };
  const store = new PostgresIdentityStore(pool, opts);
  await store.ready();
  const others: PostgresIdentityStore[] = [];
  return {
    store,
    async dump() {
      const out: unknown[] = [];
      for (const t of ['orgs', 'accounts', 'api_keys', 'identity_changes']) out.push((await pool.query(`SELECT * FROM ${t}`)).rows);
      return JSON.stringify(out);
    },
    async second() {
      const s = new PostgresIdentityStore(pool, opts);
      others.push(s);
      await s.ready();
      return s;
    },
    async cleanup() {
      await store.close();
      for (const s of others) await s.close();
      await pool.end();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
});
