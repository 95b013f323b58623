// The SQLite files Warden creates are private to its user: events (prompts, IPs), identity
// (emails), the ledger's openings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from './sqlite.ts';
import { SqliteLedgerStorage } from '../ledger/sqlite.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

test('a new database file and its WAL are created 0600; an existing file open to its group only keeps its mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sqlite-mode-'));
  try {
    const path = join(dir, 'sub', 'warden.db');
    const db = openSqlite(path);
    db.exec('CREATE TABLE t (x TEXT); INSERT INTO t VALUES (1)');
    assert.equal(mode(path), 0o600, 'warden.db is 0600');
    assert.equal(mode(`${path}-wal`), 0o600, 'its WAL is 0600');
    db.close();

    const ledger = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    assert.equal(mode(join(dir, 'ledger.db')), 0o600, 'ledger.db is 0600');
    await ledger.close();

    // An operator's own choice (a group that backs the file up) is left alone.
    const shared = join(dir, 'shared.db');
    writeFileSync(shared, '');
    chmodSync(shared, 0o640);
    openSqlite(shared).close();
    assert.equal(mode(shared), 0o640);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a database an older release left 0644, with its -wal and -shm, is made 0600 when opened; a new -wal follows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sqlite-mode-'));
  try {
    const path = join(dir, 'warden.db');
    // An older release's files: a database 0644 and a -wal and -shm left by a connection still open.
    const older = new Database(path);
    older.pragma('journal_mode = WAL');
    older.exec('CREATE TABLE t (x TEXT); INSERT INTO t VALUES (1)');
    for (const f of [path, `${path}-wal`, `${path}-shm`]) chmodSync(f, 0o644);
    const db = openSqlite(path);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(f), 0o600, `${f} is 0600 once Warden opens it`);
    db.close();
    older.close();
    // With the WAL gone (a clean stop), the next one SQLite makes takes the database's mode.
    assert.ok(!existsSync(`${path}-wal`), 'the WAL is removed at a clean close');
    const again = openSqlite(path);
    again.exec('INSERT INTO t VALUES (2)');
    assert.equal(mode(`${path}-wal`), 0o600, 'a new -wal is 0600');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A second connection opened in the same process (the event writer's and the ledger writer's
// threads do this) must not drop the first one's file locks: POSIX locks belong to the process,
// and closing any descriptor of the file releases them all. Without them another process that
// backs the database up (the sqlite3 shell's `.backup` or `VACUUM INTO`) deletes the WAL when it closes,
// and every commit the server makes after that goes to a deleted file: invisible to readers and
// lost when the server stops abruptly.
const sqliteShell = spawnSync('sqlite3', ['-version']).status === 0;

test('a backup with the sqlite3 shell while the database is open twice here does not delete the WAL or hide later commits', { skip: sqliteShell ? false : 'the sqlite3 shell is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sqlite-locks-'));
  try {
    const path = join(dir, 'warden.db');
    const first = openSqlite(path);
    first.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)');
    const second = openSqlite(path);
    assert.equal(second.prepare('SELECT count(*) FROM t').pluck().get(), 1, 'the second connection reads the table');
    // What an operator's backup does while the server runs, with the sqlite3 shell.
    let copies = 0;
    const readInChild = () => {
      const n = execFileSync('sqlite3', [path, 'SELECT count(*) FROM t'], { encoding: 'utf8' }).trim();
      execFileSync('sqlite3', [path, `.backup '${join(dir, `copy-${++copies}.db`)}'`]);
      return n;
    };
    assert.equal(readInChild(), '1', 'a backup in another process sees the first row');
    assert.ok(existsSync(`${path}-wal`), 'the WAL is still there after another process backed the database up and closed it');
    first.exec('INSERT INTO t VALUES (2)');
    assert.equal(readInChild(), '2', 'a row committed after that backup is seen by the next one');
    second.close();
    first.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
