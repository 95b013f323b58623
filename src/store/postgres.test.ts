// The PostgreSQL pool against a server that stops answering (through a TCP proxy that accepts
// connections and forwards nothing): statements and connections fail within their timeouts, as
// "unavailable" (a 503 where a client waits), and end() ends even with a statement under way.
// What counts as unavailable is the connection's failure, never a statement's own error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPostgresUnavailable, openPostgres, postgresUrlForDisplay, timed, inTransaction } from './index.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';

const urlThrough = (port: number) => { const u = new URL(TEST_POSTGRES_URL); u.port = String(port); return u.href; };
const pgPort = Number(new URL(TEST_POSTGRES_URL).port || 5432);

async function timedOut<T>(work: Promise<T>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  try { await work; } catch (err) { return { err, ms: Date.now() - t0 }; }
  assert.fail('it answered');
}

test('a server that stops answering: a statement fails after its timeout (the pool\'s or its own) as unavailable, and its client is not handed out again', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(pgPort);
  const pool = openPostgres(urlThrough(proxy.port), { max: 2, connectTimeoutMs: 500, queryTimeoutMs: 800 });
  try {
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
    await proxy.stall();
    // On the connection already open (the pool's idle client).
    const statement = await timedOut(pool.query('SELECT 2'));
    assert.ok(statement.ms >= 700 && statement.ms < 3000, `after the statement timeout (${statement.ms} ms)`);
    assert.ok(isPostgresUnavailable(statement.err), String(statement.err));
    // Its own, shorter timeout.
    const read = await timedOut(pool.query(timed('SELECT 3', [], 300)));
    assert.ok(read.ms < 700, `after its own timeout (${read.ms} ms)`);
    assert.ok(isPostgresUnavailable(read.err), String(read.err));
    // A transaction: its client, waiting for an answer that never comes, is not pooled again.
    const tx = await timedOut(inTransaction(pool, (c) => c.query('SELECT 4')));
    assert.ok(isPostgresUnavailable(tx.err), String(tx.err));
    assert.equal(pool.totalCount, 0, 'no client left in the pool still waiting for an answer');
    await proxy.start();
    assert.equal((await pool.query('SELECT 5 AS five')).rows[0].five, 5, 'back: answered on a fresh connection');
  } finally {
    await pool.end();
    await proxy.stop();
  }
});

test('a new connection to a server that accepts and never answers fails after the connect timeout, as unavailable', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(pgPort);
  await proxy.stall();
  const pool = openPostgres(urlThrough(proxy.port), { max: 1, connectTimeoutMs: 500 });
  try {
    const { err, ms } = await timedOut(pool.query('SELECT 1'));
    assert.ok(ms >= 400 && ms < 3000, `after the connect timeout (${ms} ms)`);
    assert.ok(isPostgresUnavailable(err), String(err));
  } finally {
    await pool.end();
    await proxy.stop();
  }
});

test('end() with a statement under way on a server that does not answer: ends within its grace, the statement fails as unavailable', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(pgPort);
  const pool = openPostgres(urlThrough(proxy.port), { max: 2, queryTimeoutMs: 60_000 });
  try {
    await pool.query('SELECT 1');
    await proxy.stall();
    const abandoned = pool.query('SELECT 2').then(() => null, (err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await pool.end();
    const took = Date.now() - t0;
    assert.ok(took < 4000, `ended within its grace (${took} ms)`);
    const err = await abandoned;
    assert.ok(isPostgresUnavailable(err), `the statement's caller is told: ${String(err)}`);
  } finally {
    await proxy.stop();
  }
});

test('a statement\'s own error is not unavailability: a wrong number of parameters (08P01) stays a bug', async () => {
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  try {
    const err = await pool.query('SELECT $1::int AS a, $2::int AS b', [1]).then(() => null, (e: unknown) => e);
    assert.equal((err as { code?: string }).code, '08P01');
    assert.equal(isPostgresUnavailable(err), false);
    const missing = await pool.query('SELECT * FROM no_such_table_here').then(() => null, (e: unknown) => e);
    assert.equal(isPostgresUnavailable(missing), false);
  } finally {
    await pool.end();
  }
  for (const code of ['08000', '08001', '08003', '08004', '08006', '57P01', '53300', 'ECONNREFUSED']) {
    assert.equal(isPostgresUnavailable(Object.assign(new Error('x'), { code })), true, code);
  }
});

test('the URL shown in messages hides the password as ***', () => {
  assert.equal(postgresUrlForDisplay('postgres://warden:s3cr%C3%A9t@db.example:5432/warden?sslmode=require'), 'postgres://warden:***@db.example:5432/warden?sslmode=require');
  assert.equal(postgresUrlForDisplay('postgres://warden@db/warden?password=s3cret'), 'postgres://warden@db/warden?password=***');
  assert.equal(postgresUrlForDisplay('postgres://warden@db/warden'), 'postgres://warden@db/warden');
});
