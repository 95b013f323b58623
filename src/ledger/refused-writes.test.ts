// A ledger storage that answers but refuses writes (a full disk, a read-only SQLite file or
// PostgreSQL database) keeps the entries waiting, says the node does not record (`ledger.required`
// readiness) and writes them once the storage takes writes again: nothing is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { openPostgres } from '../store/index.ts';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { generateSigner } from './note.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { until as waitUntil } from '../../test/helpers/until.ts';

const PG_URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORIGIN = 'warden.test/refused';

const until = (what: string, ok: () => unknown, ms = 10_000) => waitUntil(what, ok, ms);

/** Append while the storage refuses writes: not recording, nothing dropped; then let it write again. */
async function refuseThenAccept(ledger: Ledger, refuse: () => Promise<void>, accept: () => Promise<void>, why: RegExp): Promise<void> {
  await Promise.all(Array.from({ length: 3 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
  assert.deepEqual(ledger.recording(), { ok: true }, 'records while the storage takes writes');
  await refuse();
  const waiting = Array.from({ length: 5 }, (_, i) => ledger.appendInteraction(sampleEvent(10 + i)));
  await until('the ledger notices the refusal', () => !ledger.recording().ok);
  const state = ledger.recording();
  assert.ok(!state.ok && why.test(state.reason), `not recording, and why: ${JSON.stringify(state)}`);
  assert.ok(ledger.storageOutageMs >= 0 && ledger.pending === 5, `the five entries wait (pending ${ledger.pending})`);
  assert.equal(ledger.stats.dropped, 0, 'nothing is dropped while the storage refuses writes');
  await accept();
  const receipts = await Promise.all(waiting);
  assert.equal(receipts.length, 5, 'the waiting entries are written once the storage takes writes');
  assert.equal(ledger.size, 8, 'every entry is in the log');
  assert.deepEqual(ledger.recording(), { ok: true }, 'records again');
  assert.equal(ledger.stats.storageOutages, 1, 'the refusal is counted as one outage');
}

test('SQLite ledger on a full disk: not recording while it is full, entries written once space is freed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-full-'));
  try {
    // A file of 4 KB pages (as older releases made them), where the five entries below need pages
    // of their own: a 16 KB page, the default now, has room for them in what it holds.
    const small = new Database(join(dir, 'l.db'));
    small.pragma('page_size = 4096');
    small.pragma('journal_mode = WAL');
    small.close();
    const storage = SqliteLedgerStorage.open(join(dir, 'l.db'));
    assert.equal(storage.db.pragma('page_size', { simple: true }), 4096, 'the file keeps its 4 KB pages');
    const ledger = await Ledger.open({ storage, origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50, writer: 'inline' });
    try {
      // The database may not grow past its current pages: writes fail with SQLITE_FULL, as on a full disk.
      await refuseThenAccept(ledger,
        async () => { storage.db.pragma(`max_page_count = ${storage.db.pragma('page_count', { simple: true }) as number}`); },
        async () => { storage.db.pragma('max_page_count = 1073741823'); },
        /refuses writes \(.*full/);
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite ledger on a read-only file: not recording, entries written once it is writable again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-ro-'));
  try {
    const storage = SqliteLedgerStorage.open(join(dir, 'l.db'));
    const ledger = await Ledger.open({ storage, origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50, writer: 'inline' });
    try {
      await refuseThenAccept(ledger,
        async () => { storage.db.pragma('query_only = 1'); },
        async () => { storage.db.pragma('query_only = 0'); },
        /refuses writes \(.*readonly/);
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL ledger on a read-only database: not recording, entries written once it takes writes', async () => {
  const schema = `ledger_ro_${randomBytes(6).toString('hex')}`;
  // One connection: the session setting below applies to every statement of the ledger.
  const pool = openPostgres(PG_URL, { max: 1 });
  try {
    const ledger = await Ledger.open({ storage: new PostgresLedgerStorage(pool, schema), origin: ORIGIN, signers: [generateSigner(ORIGIN)], checkpointIntervalMs: 50, writer: 'inline' });
    try {
      await refuseThenAccept(ledger,
        async () => { await pool.query('SET default_transaction_read_only = on'); },
        async () => { await pool.query('SET default_transaction_read_only = off'); },
        /refuses writes \(.*read-only/);
    } finally {
      await ledger.close();
    }
  } finally {
    await pool.query('SET default_transaction_read_only = off').catch(() => {});
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});
