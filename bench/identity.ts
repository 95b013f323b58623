/**
 * Identity benchmark: cost of authenticating one request.
 *   node --import tsx bench/identity.ts
 * Baseline (measured in the same run): one SHA-256 of the secret plus one Map lookup, the least
 * any hash-based key check can do. Compared: CachedAuthenticator hit, and uncached
 * store.authenticate on SQLite and PostgreSQL (one indexed read with joins).
 */
import { randomBytes } from 'node:crypto';
import { openSqlite, openPostgres } from '../src/store/index.ts';
import { SqliteIdentityStore, PostgresIdentityStore, CachedAuthenticator, hashSecret, type IdentityStore } from '../src/identity/index.ts';

const KEYS = 1000;

async function seed(store: IdentityStore): Promise<string[]> {
  const secrets: string[] = [];
  const org = await store.createOrg({ name: 'bench' });
  for (let i = 0; i < KEYS; i++) {
    const a = await store.createAccount({ org_id: org.id, email: `u${i}@bench.example` });
    secrets.push((await store.createKey(a.id)).secret);
  }
  return secrets;
}

/** Mean ns per call, best of five rounds after a warm-up (so JIT and GC noise do not dominate). */
async function time(_label: string, n: number, fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(n, 5000); i++) await fn(i);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

const rows: [string, number][] = [];
const db = openSqlite(':memory:');
const sqlite = new SqliteIdentityStore(db);
const secrets = await seed(sqlite);

// Baseline: hash + map lookup.
const map = new Map(secrets.map((s) => [s.split('_')[2], hashSecret(s)]));
const baseline = await time('baseline', 100_000, async (i) => {
  const s = secrets[i % KEYS];
  return map.get(s.split('_')[2]) === hashSecret(s);
});
rows.push(['baseline: sha256 + Map.get', baseline]);

const cached = new CachedAuthenticator(sqlite, { flushMs: 3_600_000 });
rows.push(['CachedAuthenticator hit (SQLite behind)', await time('cached', 100_000, (i) => cached.authenticate(secrets[i % KEYS]))]);
rows.push(['SqliteIdentityStore.authenticate (uncached)', await time('sqlite', 20_000, (i) => sqlite.authenticate(secrets[i % KEYS]))]);
await cached.close();

try {
  const schema = `identity_bench_${randomBytes(4).toString('hex')}`;
  const admin = openPostgres('postgres://postgres@127.0.0.1:5432/test', { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = openPostgres(`postgres://postgres@127.0.0.1:5432/test?options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 4 });
  const pg = new PostgresIdentityStore(pool, { notify: false });
  try {
    const pgSecrets = await seed(pg);
    rows.push(['PostgresIdentityStore.authenticate (uncached)', await time('pg', 3_000, (i) => pg.authenticate(pgSecrets[i % KEYS]))]);
    const pgCached = new CachedAuthenticator(pg, { flushMs: 3_600_000 });
    rows.push(['CachedAuthenticator hit (PostgreSQL behind)', await time('pgcached', 100_000, (i) => pgCached.authenticate(pgSecrets[i % KEYS]))]);
    await pgCached.close();
  } finally {
    await pg.close();
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
} catch (err) {
  console.error(`PostgreSQL skipped: ${(err as Error).message}`);
}

console.log(`identity: authenticate one request (${KEYS} keys), node ${process.version}`);
console.log('| path | per request | vs baseline |');
console.log('|---|---|---|');
for (const [label, ns] of rows) console.log(`| ${label} | ${ns < 10_000 ? `${(ns / 1000).toFixed(2)} µs` : `${(ns / 1e6).toFixed(3)} ms`} | ${(ns / baseline).toFixed(1)}x |`);
db.close();
