// The region columns: a query by region reads the leaves of the matching interactions through an
// index, not every leaf; a ledger upgraded from before the columns answers the same before its
// fill, half-way through it (a fill stopped as by a crash) and after it, with the same leaves and
// root; erasing an account leaves nothing in the columns that its leaves do not hold in clear.
// SQLite and PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { generateSigner, parseVerifierKey } from './note.ts';
import { queryLedger, type QueryResult } from './query.ts';
import { fillRegionColumns } from './region-fill.ts';
import { verifyLedger } from './verify.ts';
import type { LedgerStorage } from './storage.ts';
import { openPostgres } from '../store/index.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const DATA = 'b'.repeat(64);

/** What a result answers, but `scanned` (how many leaves it read). */
function answer(r: QueryResult): unknown {
  const { scanned: _s, ...regions } = r.regions ?? { scanned: 0 };
  return { interactions: r.interactions, usage: r.usage, verdicts: r.verdicts, truncated: r.truncated, regions };
}

interface Backend {
  storage: LedgerStorage;
  /** Take the region columns away from every entry, as a ledger stored before they existed has none. */
  forget(): Promise<void>;
  /** The stored region columns of every entry, by index. */
  columns(): Promise<{ idx: number; region_state: string | null; client_country: string | null; client_subdivision: string | null }[]>;
  /** Change one entry's stored subdivision column (not its leaf). */
  tamper(index: number): Promise<void>;
}

async function exercise(b: Backend, where: string): Promise<void> {
  const { storage } = b;
  // A log of an earlier release first (three /2 interactions from NL, verdicts), stored as it was: no region columns.
  const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/ledger-v2.json', import.meta.url), 'utf8'));
  const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  await storage.appendBatch(fixture.entries.map((e: { leaf: string }) => ({ ...e, leaf: bytes(e.leaf) })), fixture.privates, fixture.nodes.map((n: { hash: string }) => ({ ...n, hash: bytes(n.hash) })));
  for (const c of fixture.checkpoints) await storage.putCheckpoint({ ...c, root: bytes(c.root) });
  await storage.recordKeys(fixture.keys);
  const signer = generateSigner(fixture.origin);
  const ledger = await Ledger.open({ storage, origin: fixture.origin, signers: [signer], trustedKeys: [parseVerifierKey(fixture.verifier_key)], checkpointIntervalMs: 60_000, writer: 'inline' });
  const verifiers = [parseVerifierKey(fixture.verifier_key), signer.verifier()];
  try {
    const base = sampleEvent(0);
    const at = (n: number, account: string, country: string, subdivision: string | null, data: string | null, status = 200) => sampleEvent(n, {
      account_id: account,
      client: { ip: `192.0.2.${n}`, user_agent: 'ua', country, asn: 64500, subdivision, subdivision_data: data },
      response: { ...base.response, status, error_code: status === 403 ? 'WARDEN_REGION_BLOCKED' : null },
    });
    const events = [
      at(30, 'acct_a', 'UA', 'UA-43', DATA, 403), at(31, 'acct_b', 'UA', 'UA-43', DATA), at(32, 'acct_a', 'UA', 'UA-30', DATA),
      at(33, 'acct_c', 'UA', null, DATA), at(34, 'acct_c', 'UA', null, null), at(35, 'acct_d', 'US', 'US-CA', DATA), at(36, 'acct_b', 'UA', 'UA-43', DATA, 500),
      ...Array.from({ length: 40 }, (_, k) => at(40 + k, `acct_x${k % 5}`, 'PL', 'PL-MZ', DATA)),
    ];
    for (const e of events) await ledger.appendInteraction(e);
    await ledger.checkpoint();
    const interactions = fixture.entries.filter((e: { kind: string }) => e.kind === 'interaction').length + events.length;

    // Written now, the entries carry their columns: of them only the three UA-43 leaves are read
    // (and the three /2 leaves stored without columns, for their region).
    const queries = [{ subdivisions: ['UA-43'] }, { subdivisions: ['UA-43', 'US-CA'], countries: ['NL'] }, { countries: ['UA'], limit: 2 }, { subdivisions: ['UA-30'], from: events[0].ts }];
    const fresh = await queryLedger(storage, queries[0]);
    assert.deepEqual([fresh.interactions.length, fresh.regions?.scanned], [3, 6], `${where}: new entries are found through the index, unmatched leaves unread: ${JSON.stringify(fresh.regions)}`);
    assert.deepEqual([fresh.regions?.region_unrecorded, fresh.regions?.no_region_data], [3, 1], `${where}: the /2 leaves (not filled yet) and the /4 one without data are counted as unknown`);

    // As a ledger upgraded from before the columns: none filled. Every leaf is read, the answers are those of the index.
    await b.forget();
    assert.equal(await storage.regionsUnfilled(), (await storage.size()), `${where}: every entry to fill`);
    const before = await Promise.all(queries.map((q) => queryLedger(storage, q)));
    assert.equal(before[0].regions?.scanned, interactions, `${where}: before the fill every interaction leaf is read`);
    assert.deepEqual(answer(before[0]), answer(fresh), `${where}: unfilled, the same answer as indexed`);
    const root = (await ledger.checkpoint()).rootHash;

    // A fill stopped after its first chunk (as a crash would stop it): answers unchanged.
    const lines: string[] = [];
    await assert.rejects(fillRegionColumns(storage, { chunkRows: 20, progressEveryMs: 0, log: (l) => lines.push(l), afterChunk: () => { throw new Error('stopped'); } }), /stopped/);
    const left = await storage.regionsUnfilled();
    assert.ok(left > 0 && left < interactions, `${where}: part filled, part left (${left})`);
    assert.match(lines[0] ?? '', /filling the region columns .* of \d+ entries/, `${where}: the fill says what it does: ${lines[0]}`);
    const midway = await Promise.all(queries.map((q) => queryLedger(storage, q)));
    midway.forEach((r, i) => assert.deepEqual(answer(r), answer(before[i]), `${where}: half-filled, query ${JSON.stringify(queries[i])} answers the same`));

    // The next start goes on and finishes: answers unchanged, unmatched leaves no longer read.
    const done = await fillRegionColumns(storage, { log: (l) => lines.push(l) });
    assert.deepEqual([done.finished, await storage.regionsUnfilled()], [true, 0], `${where}: filled`);
    assert.match(lines.at(-1) ?? '', /region columns filled: \d+ entries/, `${where}: ${lines.at(-1)}`);
    const after = await Promise.all(queries.map((q) => queryLedger(storage, q)));
    after.forEach((r, i) => assert.deepEqual(answer(r), answer(before[i]), `${where}: filled, query ${JSON.stringify(queries[i])} answers the same`));
    assert.equal(after[0].regions?.scanned, 3, `${where}: after the fill only the matching leaves are read: ${JSON.stringify(after[0].regions)}`);
    assert.equal((await ledger.checkpoint()).rootHash, root, `${where}: the fill changed no leaf (same root)`);
    const report = await verifyLedger(storage, { origin: fixture.origin, verifiers });
    assert.ok(report.ok, `${where}: the filled log verifies: ${JSON.stringify(report.problems.slice(0, 3))}`);

    // The columns hold the clear region of each leaf, nothing else.
    const cols = await b.columns();
    const byIdx = new Map(cols.map((c) => [c.idx, c]));
    const ua43 = await ledger.entry(fresh.interactions[0].index);
    assert.deepEqual(byIdx.get(ua43.index), { idx: ua43.index, region_state: 'recorded', client_country: 'UA', client_subdivision: 'UA-43' }, `${where}: a /4 leaf's columns`);
    const old = fixture.entries.find((e: { kind: string }) => e.kind === 'interaction');
    assert.deepEqual(byIdx.get(old.index), { idx: old.index, region_state: 'unrecorded', client_country: 'NL', client_subdivision: null }, `${where}: a /2 leaf's columns`);
    assert.ok(cols.filter((c) => c.region_state === 'none').every((c) => c.client_country === null && c.client_subdivision === null), `${where}: verdicts have no region`);

    // A column changed in the database (the entry moved out of UA-43) is named by verify.
    await b.tamper(ua43.index);
    const tampered = await verifyLedger(storage, { origin: fixture.origin, verifiers });
    assert.ok(!tampered.ok && tampered.problems.some((p) => p.index === ua43.index && /region column\(s\) client_subdivision differ from the leaf/.test(p.message)),
      `${where}: verify names the entry: ${JSON.stringify(tampered.problems.slice(0, 3))}`);
  } finally {
    await ledger.close();
  }
}

test('ledger region index (SQLite): the query reads only matching leaves; an upgraded log answers the same before, during and after its fill', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-region-index-'));
  try {
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    await exercise({
      storage,
      forget: async () => { storage.db.exec('UPDATE ledger_entries SET region_state = NULL, client_country = NULL, client_subdivision = NULL'); },
      tamper: async (i) => { storage.db.prepare("UPDATE ledger_entries SET client_subdivision = 'UA-30' WHERE idx = ?").run(i); },
      columns: async () => storage.db.prepare('SELECT idx, region_state, client_country, client_subdivision FROM ledger_entries ORDER BY idx').all() as never,
    }, 'sqlite');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ledger region index (PostgreSQL)', async () => {
  const schema = `ledger_regionidx_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 4 });
  try {
    const storage = new PostgresLedgerStorage(pool, schema);
    await exercise({
      storage,
      forget: async () => { await pool.query(`UPDATE ${schema}.ledger_entries SET region_state = NULL, client_country = NULL, client_subdivision = NULL`); },
      tamper: async (i) => { await pool.query(`UPDATE ${schema}.ledger_entries SET client_subdivision = 'UA-30' WHERE idx = $1`, [i]); },
      columns: async () => (await pool.query(`SELECT idx::int AS idx, region_state, client_country, client_subdivision FROM ${schema}.ledger_entries ORDER BY idx`)).rows,
    }, 'postgres');
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
});

test('SQLite plans: the region query seeks the subdivision and country indexes, the unknown ones are counted from the region index', () => {
  const storage = new SqliteLedgerStorage(new Database(':memory:'), true);
  const plan = (sql: string, args: unknown[]) => (storage.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('\n');
  const { sql, args } = storage.regionUnknownSql({ kind: 'interaction', from: '2026-01-01T00:00:00Z' }, { subdivisions: ['UA-43'], countries: [], subdivisionCountries: ['UA'] });
  assert.match(plan(sql, args), /USING COVERING INDEX ledger_entries_region_unknown/, `the count reads the region index only: ${plan(sql, args)}`);
  // The page query: capture the statement the storage prepares.
  const prepared: string[] = [];
  const prepare = storage.db.prepare.bind(storage.db);
  storage.db.prepare = ((s: string) => { prepared.push(s); return prepare(s); }) as typeof storage.db.prepare;
  void storage.query({ kind: 'interaction', regions: { subdivisions: ['UA-43'], countries: ['UA'] }, afterIndex: -1, limit: 10 });
  const page = plan(prepared.at(-1)!, ['interaction', -1, 'UA-43', 10, 'interaction', -1, 'UA', 10, 'interaction', -1, 10, 10]);
  for (const index of ['ledger_entries_subdivision', 'ledger_entries_country', 'ledger_entries_region_unfilled']) {
    assert.match(page, new RegExp(`INDEX ${index}`), `the page query seeks ${index}: ${page}`);
  }
  assert.doesNotMatch(page, /SCAN e\b/, `no scan of the entries: ${page}`);
});

test('erasing an account leaves in the region columns only what its leaves hold in clear (SQLite file bytes too)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-region-erase-'));
  const path = join(dir, 'ledger.db');
  const origin = 'warden.test/ledger';
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin, signers: [generateSigner(origin)], checkpointIntervalMs: 60_000 });
  try {
    const claimed = 'RU-KGD';
    const gone = (n: number) => {
      const e = sampleEvent(n, { account_id: 'acct_gone', client: { ip: '192.0.2.77', user_agent: 'ua', country: 'UA', asn: 64500, subdivision: 'UA-43', subdivision_data: DATA } });
      return { ...e, account: { ...e.account!, claimed_subdivision: claimed } };
    };
    for (let n = 0; n < 20; n++) await ledger.appendInteraction(gone(n));
    await ledger.erase({ accountId: 'acct_gone' });
    await ledger.checkpoint();
    const storage = ledger.storage as SqliteLedgerStorage;
    const rows = storage.db.prepare('SELECT region_state, client_country, client_subdivision FROM ledger_entries WHERE account_id = ?').all('acct_gone') as Record<string, unknown>[];
    assert.equal(rows.length, 20, 'the entries are there');
    assert.ok(rows.every((r) => r.region_state === 'recorded' && r.client_country === 'UA' && r.client_subdivision === 'UA-43'), `the columns hold the clear region of the leaves: ${JSON.stringify(rows[0])}`);
    const leaf = JSON.parse(Buffer.from((await storage.query({ anyOf: { accountIds: ['acct_gone'] }, limit: 1 }))[0].entry.leaf).toString());
    assert.deepEqual([leaf.client.country, leaf.client.subdivision], ['UA', 'UA-43'], 'which the leaf holds in clear');
    const disk = Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
    assert.ok(!disk.includes(claimed), 'the erased claimed subdivision is nowhere on disk (it never entered the columns)');
    const r = await queryLedger(storage, { subdivisions: ['UA-43'] });
    assert.deepEqual([r.interactions.length, r.interactions.every((i) => i.erased && i.claimed_subdivision === null)], [20, true], 'an erased entry still counts by the region its leaf records');
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warden serve fills the region columns of an upgraded log in the background, in a thread of its own, with progress lines; queries answer the same throughout', async () => {
  const { until } = await import('../../test/helpers/until.ts');
  const dir = mkdtempSync(join(tmpdir(), 'warden-region-fill-'));
  const path = join(dir, 'ledger.db');
  const origin = 'warden.test/ledger';
  const signer = generateSigner(origin);
  try {
    const first = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin, signers: [signer], checkpointIntervalMs: 60_000 });
    for (let n = 0; n < 60; n++) {
      await first.appendInteraction(sampleEvent(n, { client: { ip: '192.0.2.5', user_agent: 'ua', country: 'UA', asn: 64500, subdivision: n % 3 === 0 ? 'UA-43' : 'UA-30', subdivision_data: DATA } }));
    }
    await first.close();
    const raw = SqliteLedgerStorage.open(path);
    raw.db.exec('UPDATE ledger_entries SET region_state = NULL, client_country = NULL, client_subdivision = NULL');
    const before = await queryLedger(raw, { subdivisions: ['UA-43'] });
    await raw.close();

    const lines: string[] = [];
    const storage = SqliteLedgerStorage.open(path);
    const ledger = await Ledger.open({ storage, origin, signers: [signer], checkpointIntervalMs: 60_000, regionFill: { log: (l) => lines.push(l), chunkRows: 7, progressEveryMs: 0 } });
    try {
      const during = await queryLedger(storage, { subdivisions: ['UA-43'] });
      assert.deepEqual(answer(during), answer(before), 'while the fill runs, the same answer');
      await until(() => `the fill to finish: ${lines.join(' | ')}`, () => lines.some((l) => /region columns filled: 60 entries/.test(l)));
      assert.equal(await storage.regionsUnfilled(), 0, 'every entry filled');
      assert.match(lines[0], /filling the region columns \(client country and subdivision\) of 60 entries/, `the start line: ${lines[0]}`);
      assert.ok(lines.some((l) => /filling the region columns: \d+\.\d% \(\d+ of 60 entries\)/.test(l)), `progress lines: ${lines.join(' | ')}`);
      const after = await queryLedger(storage, { subdivisions: ['UA-43'] });
      assert.deepEqual([answer(after), after.regions?.scanned], [answer(before), 20], 'filled: the same answer, only the 20 matching leaves read');
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
