/**
 * Erasure is real on disk: after `erase`, neither the SQLite file nor its write-ahead log holds
 * the erased values or the salts that would open their commitments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, SqliteLedgerStorage, generateSigner } from './index.ts';
import { openSqlite } from '../store/sqlite.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/ledger';

/** The database file and its WAL, as bytes on disk right now. */
function bytesOnDisk(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
}

test('erase leaves no erased value or salt in the ledger file or its WAL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-erase-'));
  const path = join(dir, 'ledger.db');
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 60_000 });
  try {
    const gone = { ip: '192.0.2.199', user_agent: 'ForgetMeAgent/9.9', country: 'NL', asn: 64500 };
    const receipts = await Promise.all(Array.from({ length: 600 }, (_, i) =>
      ledger.appendInteraction(sampleEvent(i, i % 2 === 0 ? { account_id: 'acct_gone', client: gone } : {}))));
    const erasedIndices = receipts.filter((_, i) => i % 2 === 0).map((r) => r.index);
    const privates = await ledger.storage.privates(erasedIndices);
    const salts = [...privates.values()].flatMap((p) => Object.values(p.openings ?? {}).map((o) => o!.salt));
    assert.ok(salts.length >= erasedIndices.length, `salts of the entries to erase were read (${salts.length})`);
    assert.ok(bytesOnDisk(path).includes(gone.user_agent), 'before the erase the user agent is on disk');

    const { erased } = await ledger.erase({ accountId: 'acct_gone' });
    assert.equal(erased, erasedIndices.length);

    const disk = bytesOnDisk(path);
    assert.ok(!disk.includes(gone.user_agent), 'the erased user agent is not left on disk');
    assert.ok(!disk.includes(gone.ip), 'the erased client IP is not left on disk');
    const left = salts.filter((s) => disk.includes(s));
    assert.equal(left.length, 0, `no salt of an erased opening is left on disk (${left.length} of ${salts.length} found)`);
    // Entries that were not erased keep their openings.
    const kept = await ledger.storage.privates([receipts[1].index]);
    assert.ok(kept.get(receipts[1].index)?.openings, 'an entry of another account keeps its openings');
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an erase that matches nothing does not rebuild the IP indexes (which holds the write lock for the whole log)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-erase-none-'));
  const path = join(dir, 'ledger.db');
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 60_000 });
  await Promise.all(Array.from({ length: 50 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
  await ledger.close();
  const db = openSqlite(path, { durability: 'full' });
  const storage = new SqliteLedgerStorage(db, true);
  try {
    const executed: string[] = [];
    const exec = db.exec.bind(db);
    db.exec = (sql: string) => { executed.push(sql); return exec(sql); };
    assert.equal(await storage.erase({ accountId: 'acct_nobody' }, new Date().toISOString()), 0, 'nothing matched');
    assert.ok(!executed.some((sql) => /REINDEX/i.test(sql)), `nothing erased, no index rebuilt (ran: ${executed.join('; ')})`);
    assert.ok(await storage.erase({ accountId: sampleEvent(0).account_id! }, new Date().toISOString()) > 0, 'an erase that matches erases');
    assert.ok(executed.some((sql) => /REINDEX ledger_private_ip\b/i.test(sql)), 'and rebuilds the IP indexes');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the ledger writer waits out another process holding the write lock past busy_timeout instead of dropping entries', async () => {
  const { spawn } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-busy-'));
  const path = join(dir, 'ledger.db');
  const db = openSqlite(path, { durability: 'full' });
  db.pragma('busy_timeout = 400'); // 5 attempts of 400 ms outlast the 1 s hold below; one does not
  // Inline, so the writer uses this connection (a writer thread opens its own, with busy_timeout 5 s).
  const ledger = await Ledger.open({ storage: new SqliteLedgerStorage(db, true), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 60_000, writer: 'inline' });
  try {
    await ledger.appendInteraction(sampleEvent(0));
    // Another process (`warden ledger erase` rebuilding the IP indexes) holds the write lock for 1 s.
    const holder = spawn(process.execPath, ['-e', `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(path)});
      d.exec('BEGIN IMMEDIATE'); console.log('holding'); setTimeout(() => { d.exec('COMMIT'); d.close(); }, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout.once('data', r));
    const receipt = await ledger.appendInteraction(sampleEvent(1));
    assert.equal(receipt.index, 1, 'the entry was appended once the lock was released');
    await new Promise((r) => holder.once('exit', r));
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
