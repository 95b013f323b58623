// A Warden older than the data it is started on: each component whose schema a newer release
// migrated refuses to start (exit 1, naming the component, the stored version and the highest this
// build knows), on SQLite and on PostgreSQL, unless the newer migrations were declared compatible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { migratePostgres, migrateSqlite, openPostgres, openSqlite, SchemaTooNewError } from '../../src/store/index.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../helpers/postgres.ts';
import { WARDEN } from '../helpers/node-args.ts';

const TOKEN = 'adm_schema_downgrade_token_0123456789';
const quiet = { server: { port: 0 }, log: { level: 'silent' }, admin: { token: TOKEN }, mock: { latency_ms: 0, tokens_per_second: 0 } };

function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-downgrade-'));
  return work(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const tooNew = (component: string, stored: number, known: number) =>
  new RegExp(`${component.replace(/[.:]/g, '\\$&')} schema is at version ${stored}, newer than this Warden knows \\(${known}\\)`);

test('migrateSqlite: a newer schema is refused unless its later migrations were declared compatible', () => {
  const db = openSqlite(':memory:');
  migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)']);
  assert.throws(() => migrateSqlite(db, 'demo', ['CREATE TABLE a (x)']), (err: Error) => err instanceof SchemaTooNewError && tooNew('demo', 2, 1).test(err.message));
  // A compatible third migration: a build that knows two may still run on version 3.
  migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)', { sql: 'CREATE INDEX b_x ON b (x)', compatible: true }]);
  assert.doesNotThrow(() => migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)']));
  assert.throws(() => migrateSqlite(db, 'demo', ['CREATE TABLE a (x)']), /demo schema is at version 3, newer than this Warden knows \(1\); it needs a Warden that knows version 2 or later/);
  // An incompatible fourth: now version 4 is needed.
  migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)', { sql: 'CREATE INDEX b_x ON b (x)', compatible: true }, 'CREATE TABLE c (x)']);
  assert.throws(() => migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)', { sql: 'CREATE INDEX b_x ON b (x)', compatible: true }]), tooNew('demo', 4, 3));
  db.close();
});

test('migrateSqlite: a migrations table of an earlier release gets min_reader, and its versions are required', () => {
  const db = openSqlite(':memory:');
  db.exec('CREATE TABLE schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))');
  db.prepare("INSERT INTO schema_migrations VALUES ('demo', 1, 'x'), ('demo', 2, 'x')").run();
  assert.throws(() => migrateSqlite(db, 'demo', ['CREATE TABLE a (x)']), tooNew('demo', 2, 1));
  migrateSqlite(db, 'demo', ['CREATE TABLE a (x)', 'CREATE TABLE b (x)', 'CREATE TABLE c (x)']);
  assert.deepEqual(db.prepare("SELECT version, min_reader FROM schema_migrations WHERE component = 'demo' ORDER BY version").all(),
    [{ version: 1, min_reader: null }, { version: 2, min_reader: null }, { version: 3, min_reader: 3 }]);
  db.close();
});

test('migratePostgres: a newer schema is refused unless its later migrations were declared compatible', async () => {
  await withPgSchema('downgrade', async (pool) => {
    await migratePostgres(pool, 'demo', ['CREATE TABLE a (x int)', 'CREATE TABLE b (x int)']);
    await assert.rejects(migratePostgres(pool, 'demo', ['CREATE TABLE a (x int)']), (err: Error) => err instanceof SchemaTooNewError && tooNew('demo', 2, 1).test(err.message));
    await migratePostgres(pool, 'demo', ['CREATE TABLE a (x int)', 'CREATE TABLE b (x int)', { sql: 'CREATE INDEX b_x ON b (x)', compatible: true }]);
    await migratePostgres(pool, 'demo', ['CREATE TABLE a (x int)', 'CREATE TABLE b (x int)']);
    await assert.rejects(migratePostgres(pool, 'demo', ['CREATE TABLE a (x int)']), /; it needs a Warden that knows version 2 or later/);
    // The lock is released after a refusal: the next migration runs.
    await migratePostgres(pool, 'other', ['CREATE TABLE o (x int)']);
    // A table of an earlier release: the column is added, its rows require their own version.
    await pool.query('CREATE TABLE legacy_probe (x int)');
    await pool.query('ALTER TABLE schema_migrations DROP COLUMN min_reader');
    await pool.query("INSERT INTO schema_migrations (component, version) VALUES ('old', 1), ('old', 2)");
    await assert.rejects(migratePostgres(pool, 'old', ['SELECT 1']), tooNew('old', 2, 1));
    const { rows } = await pool.query("SELECT version, min_reader FROM schema_migrations WHERE component IN ('old', 'demo') ORDER BY component, version");
    assert.deepEqual(rows, [1, 2, 3].map((v) => ({ version: v, min_reader: null })).concat([1, 2].map((v) => ({ version: v, min_reader: null }))),
      'rows written before the column are null, the column exists');
  });
});

function hasMigrations(file: string): boolean {
  try {
    const db = new Database(file, { readonly: true });
    try { return db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").get() !== undefined; } finally { db.close(); }
  } catch { return false; }
}

/** Each component's recorded version in one database file. */
function sqliteVersions(path: string): Map<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    return new Map((db.prepare('SELECT component, MAX(version) AS v FROM schema_migrations GROUP BY component').all() as { component: string; v: number }[]).map((r) => [r.component, r.v]));
  } finally { db.close(); }
}

test('warden serve on SQLite refuses every component a newer release migrated', { timeout: 120_000 }, async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'warden.db');
    const config = parseConfig({ ...quiet, store: { sqlite_path: path } });
    const w = await startWarden(config, { demo: false, log: () => {} });
    // The dashboard's usage table lives beside the database; one query creates it.
    assert.equal((await fetch(`${w.url}/admin/usage/summary`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    await w.close();
    // Every database file in the data directory (the ledger has its own).
    const files = readdirSync(dir).filter((f) => !/-(wal|shm)$/.test(f)).map((f) => join(dir, f)).filter(hasMigrations);
    assert.ok(files.includes(`${path}-usage`), `the usage side file is among ${files.join(', ')}`);
    const expected = ['events', 'identity', 'answer_owners', 'cases', 'detect:overrides', 'ledger', 'batches', 'batch_files', 'ui_usage', 'limits:limit_overrides'];
    const found: string[] = [];
    for (const file of files) {
      assert.ok(existsSync(file), `${file} exists`);
      for (const [component, version] of sqliteVersions(file)) {
        found.push(component);
        const db = new Database(file);
        db.prepare("INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, 'x')").run(component, version + 1);
        db.close();
        await assert.rejects(startWarden(config, { demo: false, log: () => {} }), tooNew(component, version + 1, version), `${component} at ${version + 1} refused`);
        const undo = new Database(file);
        undo.prepare('DELETE FROM schema_migrations WHERE component = ? AND version = ?').run(component, version + 1);
        undo.close();
      }
    }
    for (const c of expected) assert.ok(found.includes(c), `component ${c} is versioned and was tried (found ${found.join(', ')})`);
    // Back at the versions it knows: it starts.
    const again = await startWarden(config, { demo: false, log: () => {} });
    await again.close();
  });
});

test('warden serve on PostgreSQL refuses every component a newer release migrated', { timeout: 180_000 }, async () => {
  const schema = `downgrade_${randomBytes(5).toString('hex')}`;
  const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    await withDir(async (dir) => {
      const url = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      const config = parseConfig({ ...quiet, store: { driver: 'postgres', postgres_url: url }, ledger: { driver: 'postgres', postgres_schema: `${schema}_ledger` }, detect: { snapshot: { path: join(dir, 'snap') } } });
      const w = await startWarden(config, { demo: false, log: () => {} });
      assert.equal((await fetch(`${w.url}/admin/usage/summary`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
      await w.close();
      const { rows } = await admin.query(`SELECT component, MAX(version)::int AS v FROM ${schema}.schema_migrations GROUP BY component`);
      const found = rows.map((r) => r.component as string);
      for (const c of ['events', 'identity', 'answer_owners', 'cases', 'detect:overrides', `ledger.${schema}_ledger`, 'batches', 'batch_files', 'ui_usage', 'limits:limit_overrides']) {
        assert.ok(found.includes(c), `component ${c} is versioned (found ${found.join(', ')})`);
      }
      for (const { component, v } of rows) {
        await admin.query(`INSERT INTO ${schema}.schema_migrations (component, version) VALUES ($1, $2)`, [component, v + 1]);
        await assert.rejects(startWarden(config, { demo: false, log: () => {} }), tooNew(component, v + 1, v), `${component} at ${v + 1} refused`);
        await admin.query(`DELETE FROM ${schema}.schema_migrations WHERE component = $1 AND version = $2`, [component, v + 1]);
      }
      const again = await startWarden(config, { demo: false, log: () => {} });
      await again.close();
    });
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_ledger CASCADE`);
    await admin.end();
  }
});

test('warden serve exits 1 on a schema newer than it knows, naming it', { timeout: 60_000 }, async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'warden.db');
    const db = openSqlite(path);
    migrateSqlite(db, 'cases', ['SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 1']);
    db.close();
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, JSON.stringify({ ...quiet, store: { sqlite_path: path } }));
    const proc = spawn(process.execPath, [...WARDEN, 'serve', '--config', config, '--no-demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    assert.equal(code, 1, `exit code (stderr: ${stderr})`);
    assert.match(stderr, /cases schema is at version 40, newer than this Warden knows \(\d+\): use a newer Warden, or restore the backup/);
  });
});
