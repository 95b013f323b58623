// A schema migration on a database another process is writing to (the gateway's event writer while
// `warden` commands or the dashboard's query side open the same file) waits for the write lock like
// any other write, rather than failing at once with SQLITE_BUSY. A deferred transaction that reads
// first gets no busy wait when it then needs to write: SQLite answers BUSY at once (a loaded test
// run met it there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite, openSqlite } from './sqlite.ts';

/** A child process that takes the file's write lock, says so, holds it for `ms` and commits a row. */
function holdWriteLock(path: string, ms: number): { locked: Promise<void>; done: Promise<number | null> } {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO writes (at) VALUES (?)').run('child');
    process.stdout.write('locked\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script, path, String(ms)], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => { if (b.toString().includes('locked')) resolve(); });
    child.on('exit', (code) => reject(new Error(`the lock holder exited (${code}) before taking the lock`)));
  });
  const done = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { locked, done };
}

test('a migration waits for a write lock another process holds instead of failing with SQLITE_BUSY', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-write-lock-'));
  try {
    const path = join(dir, 'warden.db');
    const db = openSqlite(path);
    db.exec('CREATE TABLE writes (at TEXT)');
    migrateSqlite(db, 'first', ['CREATE TABLE first_table (x TEXT)']); // schema_migrations exists: the next migration reads before it writes
    const holder = holdWriteLock(path, 1500);
    await holder.locked;
    // The lock is held now (a connection that does not wait is refused it).
    const probe = new Database(path);
    probe.pragma('busy_timeout = 0');
    assert.throws(() => probe.exec('BEGIN IMMEDIATE'), /database is locked/, 'the other process holds the write lock');
    probe.close();
    migrateSqlite(db, 'second', ['CREATE TABLE second_table (x TEXT)']);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    assert.ok(tables.includes('second_table'), `the migration ran: ${tables.join(', ')}`);
    assert.equal((db.prepare("SELECT COUNT(*) AS n FROM writes WHERE at = 'child'").get() as { n: number }).n, 1, 'the other process committed first: the migration waited for it');
    assert.equal(await holder.done, 0, 'the lock holder committed and exited cleanly');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
