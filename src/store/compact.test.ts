// The page size of Warden's SQLite files: a new file gets 16 KB pages, one an older release created
// keeps its 4 KB pages and works as before, and `warden store compact` rebuilds it with 16 KB pages
// keeping every row, its mode, and the original whole when it cannot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqlite, SQLITE_PAGE_SIZE } from './sqlite.ts';
import { SqliteEventStore } from './events.ts';
import { compactSqliteFile, compactTempPath } from './compact.ts';
import { SqliteIdentityStore } from '../identity/index.ts';
import { SqliteCaseStore, type CaseFile } from '../cases/index.ts';
import { SqliteBatchStore } from '../batches/index.ts';
import { SqliteLedgerStorage } from '../ledger/sqlite.ts';
import { runStore } from '../cli/store-cmd.ts';
import { lockSqliteForServe } from './serve-lock.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const pageSize = (path: string) => { const db = new Database(path, { readonly: true }); try { return db.pragma('page_size', { simple: true }) as number; } finally { db.close(); } };

/** Every table's rows, in rowid or key order, as one digest per table: equal digests, equal contents. */
function contents(path: string): Record<string, { rows: number; digest: string }> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, { rows: number; digest: string }> = {};
    for (const t of db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[]) {
      const n = db.prepare(`SELECT * FROM "${t}"`).columns().length;
      const rows = db.prepare(`SELECT * FROM "${t}" ORDER BY ${Array.from({ length: n }, (_, i) => i + 1).join(', ')}`).raw().all();
      out[t] = { rows: rows.length, digest: createHash('sha256').update(JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? String(v) : v))).digest('hex') };
    }
    return out;
  } finally {
    db.close();
  }
}

function caseFile(id: string, members: string[]): CaseFile {
  const at = '2026-06-01T12:00:00.000Z';
  return {
    schema: 'warden.case/1', id, title: id, status: 'open', campaign_id: `camp_${id}`, cluster_id: `clu_${id}`, opened_at: at, updated_at: at,
    campaign: { members } as unknown as CaseFile['campaign'],
    members: members.map((account_id) => ({ account_id }) as CaseFile['members'][number]),
    observables: [], usage: { requests: 0, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, models: {}, countries: {} },
    events_read: 0, events_truncated: false, window_events_scanned: 0, window_truncated: false, ledger: null, notes: [],
  };
}

/** A database as an older release left it: 4 KB pages, events, accounts and keys, cases, a batch, some rows deleted. */
async function populated(path: string): Promise<void> {
  const db = openSqlite(path, { pageSize: 4096 });
  const events = new SqliteEventStore(db);
  for (let i = 0; i < 3000; i += 500) await events.appendBatch(Array.from({ length: 500 }, (_, j) => sampleEvent(i + j)));
  const identity = new SqliteIdentityStore(db);
  const org = await identity.createOrg({ name: 'Lumen Labs' });
  for (let i = 0; i < 40; i++) {
    const a = await identity.createAccount({ org_id: org.id, email: `user${i}@lumen.example`, name: `User ${i}` });
    await identity.createKey(a.id, { name: 'default' });
  }
  const cases = new SqliteCaseStore(db);
  for (let i = 0; i < 5; i++) await cases.putCase(caseFile(`case_${i}`, [`acct_${i}`, `acct_${i + 1}`]));
  const batches = new SqliteBatchStore(db);
  await batches.create({
    id: 'msgbatch_1', account_id: 'acct_1', org_id: org.id, key_id: 'key_1', client_ip: '203.0.113.7', user_agent: 'sdk/1', anthropic_version: '2023-06-01',
    anthropic_beta: null, status: 'in_progress', created_at: 1_000, expires_at: 86_401_000, ended_at: null, cancel_initiated_at: null,
  }, Array.from({ length: 30 }, (_, i) => ({ custom_id: `r${i}`, params: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: `q${i}` }] }) })));
  // Free pages, as retention leaves them.
  db.exec("DELETE FROM events WHERE rowid % 3 = 0");
  await events.close();
  await identity.close();
  db.close();
}

test('a new database file gets 16 KB pages; a file created with 4 KB pages keeps them when opened again and takes writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pages-'));
  try {
    const fresh = join(dir, 'new.db');
    const db = openSqlite(fresh);
    db.exec('CREATE TABLE t (x TEXT); INSERT INTO t VALUES (1)');
    db.close();
    assert.equal(SQLITE_PAGE_SIZE, 16_384);
    assert.equal(pageSize(fresh), 16_384, 'a new file is created with 16 KB pages');
    const ledger = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    assert.equal(ledger.db.pragma('page_size', { simple: true }), 16_384, 'so is a new ledger file');
    assert.equal(ledger.db.pragma('journal_mode', { simple: true }), 'wal', 'in WAL mode');
    void ledger.close();

    const old = join(dir, 'old.db');
    const before = new Database(old);
    before.pragma('journal_mode = WAL');
    before.exec('CREATE TABLE t (x TEXT); INSERT INTO t VALUES (1)');
    before.close();
    assert.equal(pageSize(old), 4096, 'SQLite made it with 4 KB pages');
    const again = openSqlite(old);
    again.exec('INSERT INTO t VALUES (2)');
    assert.equal(again.prepare('SELECT COUNT(*) FROM t').pluck().get(), 2, 'it takes writes as before');
    again.close();
    assert.equal(pageSize(old), 4096, 'an existing file keeps its page size');
    assert.throws(() => openSqlite(join(dir, 'odd.db'), { pageSize: 5000 }), /power of two/, 'a page size SQLite would ignore is refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compacting a populated 4 KB-page database gives it 16 KB pages and keeps every row of every table, its mode, and no leftovers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pages-'));
  try {
    const path = join(dir, 'warden.db');
    await populated(path);
    chmodSync(path, 0o640);
    const before = contents(path);
    assert.ok(before.events.rows === 2000 && before.accounts.rows === 40 && before.api_keys.rows === 40 && before.message_batch_items.rows === 30, `the fixture holds what it should: ${JSON.stringify(Object.fromEntries(Object.entries(before).map(([t, c]) => [t, c.rows])))}`);
    assert.equal(pageSize(path), 4096);

    const r = compactSqliteFile(path, 16_384);
    assert.deepEqual(readdirSync(dir).sort(), ['warden.db'], 'no copy, log or journal left beside it');
    assert.equal(r.pageSizeBefore, 4096);
    assert.equal(r.pageSizeAfter, 16_384);
    assert.equal(pageSize(path), 16_384, 'the file now has 16 KB pages');
    assert.deepEqual(contents(path), before, 'every table holds the same rows, byte for byte');
    assert.equal(statSync(path).mode & 0o777, 0o640, 'the file keeps the mode it had');

    // Warden opens it as before: WAL mode, its stores read and write.
    const db = openSqlite(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const identity = new SqliteIdentityStore(db);
    assert.equal((await identity.listAccounts({ limit: 100 })).data.length, 40, 'the accounts are listed');
    const events = new SqliteEventStore(db);
    await events.appendBatch([sampleEvent(10_000)]);
    assert.equal(await events.count(), 2001, 'events are written after the rebuild');
    await events.close();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compacting a file another process has open changes nothing and says it is in use', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pages-'));
  try {
    const path = join(dir, 'warden.db');
    await populated(path);
    const before = contents(path);
    const other = openSqlite(path);
    other.prepare('SELECT COUNT(*) FROM events').get();
    assert.throws(() => compactSqliteFile(path, 16_384), /in use by another process/, 'refused while open elsewhere');
    other.close();
    assert.equal(pageSize(path), 4096, 'the page size is unchanged');
    assert.deepEqual(contents(path), before, 'and so is every row');
    assert.equal(existsSync(compactTempPath(path)), false, 'no partial copy left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warden store compact rebuilds the database and the ledger file with 16 KB pages, and refuses while a server holds them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pages-'));
  try {
    const path = join(dir, 'data', 'warden.db');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(dir, 'data'));
    await populated(path);
    const ledgerDb = openSqlite(join(dir, 'data', 'ledger.db'), { durability: 'full', pageSize: 4096 });
    const ledger = new SqliteLedgerStorage(ledgerDb, true);
    await ledger.close();
    const before = contents(path);
    const ledgerBefore = contents(join(dir, 'data', 'ledger.db'));
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store:\n  sqlite_path: ${path}\n`);
    const run = async (args: string[]) => {
      const out: string[] = []; const err: string[] = [];
      const code = await runStore(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };

    const lock = lockSqliteForServe(path);
    const refused = await run(['compact', '-c', config]);
    lock.release();
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, /another warden serve/, `it names the server holding the files: ${refused.err}`);
    assert.equal(pageSize(path), 4096, 'nothing rebuilt while a server holds the lock');

    const bad = await run(['compact', '--page-size', '3000', '-c', config]);
    assert.equal(bad.code, 2, 'a page size SQLite would not take is a usage error');

    const done = await run(['compact', '-c', config]);
    assert.equal(done.code, 0, done.err);
    assert.deepEqual(readdirSync(join(dir, 'data')).filter((f) => !f.endsWith('.lock')).sort(), ['ledger.db', 'warden.db'], 'nothing else left in the data directory');
    assert.match(done.out, /warden\.db: pages of 4096 -> 16384 bytes/, done.out);
    assert.match(done.out, /ledger\.db: pages of 4096 -> 16384 bytes/, done.out);
    assert.equal(pageSize(path), 16_384);
    assert.equal(pageSize(join(dir, 'data', 'ledger.db')), 16_384);
    assert.deepEqual(contents(path), before, 'the database keeps every row');
    assert.deepEqual(contents(join(dir, 'data', 'ledger.db')), ledgerBefore, 'the ledger keeps every row');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
