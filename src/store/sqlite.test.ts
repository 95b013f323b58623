// The SQLite files Warden creates are private to its user: events (prompts, IPs), identity
// (emails), the ledger's openings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from './sqlite.ts';
import { SqliteLedgerStorage } from '../ledger/sqlite.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

test('a new database file and its WAL are created 0600; an existing file keeps its mode', async () => {
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
