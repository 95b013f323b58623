// The SQLite files Warden creates are private to its user: events (prompts, IPs), identity
// (emails), the ledger's openings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
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
