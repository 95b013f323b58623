// The usage rollup (usage-rollup.ts) on an upgrade and under concurrent writers:
// - the fill from the events an older release stored reports its progress, and when it stops
//   half-way (a crash) the next start goes on from there; rows inserted, deleted and changed
//   meanwhile (an older node, retention, an erase) are counted once, and readers count from the
//   events until the fill is done. On a SQLite file and on PostgreSQL.
// - on PostgreSQL, inserts running alongside the fill are counted exactly, and a node inserting
//   into an organisation's current hour does not wait for another node's open insert of that hour
//   (the rollup's row is not locked by writers: they append deltas, folded later and read meanwhile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { openSqlite, migrateSqlite, migratePostgres, SqliteEventStore, PostgresEventStore, type PgPool, type SqliteDb } from './index.ts';
import { SQLITE_EVENT_MIGRATIONS, PG_EVENT_MIGRATIONS } from './events.ts';
import { ROLLUP_COUNTERS } from './usage-rollup.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';
import { sqliteUsageStore, postgresUsageStore, type UsageStore } from '../ui/usage.ts';
import { parseConfig } from '../config/index.ts';
import { openStores } from '../cli/stores.ts';

const T0 = Date.parse('2026-11-20T00:00:00.000Z');
const HOUR = 3_600_000;
/** The stored events span this many hours. */
const HOURS = 72;
const ACCOUNTS = [['acct_a', 'org_1'], ['acct_b', 'org_1'], ['acct_c', 'org_2'], ['acct_d', null]] as const;
const MODELS = ['gpt-4o-mini', 'gpt-4o'];

let nextId = 0;
function makeEvent(i: number, ts: number, org?: string): InteractionEvent {
  const [account, defaultOrg] = ACCOUNTS[i % ACCOUNTS.length];
  return {
    schema: EVENT_SCHEMA, id: `01EV${String(nextId++).padStart(22, '0')}`, ts: new Date(ts).toISOString(), duration_ms: 5,
    flavour: 'openai.chat', model: MODELS[i % MODELS.length], upstream: 'mock', account_id: account, org_id: org ?? defaultOrg, key_id: `key_${account}`,
    client: { ip: '203.0.113.5', user_agent: 'test', country: null, asn: null },
    request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 3 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
    response: {
      status: [200, 200, 429, 500][i % 4], error_code: null, input_tokens: 10 + (i % 7), output_tokens: 20 + (i % 13), reasoning_tokens: i % 3,
      usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 0, reasoning_chars: 0, cached_input_tokens: i % 5,
    },
    account: null, enforcement: emptyEnforcement(),
  } as InteractionEvent;
}
/** `n` events spread over the span, each hour a few. */
const spread = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => makeEvent(i + offset, T0 + Math.floor(((i * 7919) % n) * (HOURS * HOUR) / n) + (i % 1000)));

/** The rollup expected from the events: requests and tokens per scope, subject, UTC hour and model. */
function expectedRollup(events: readonly InteractionEvent[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const e of events) {
    const s = e.response.status;
    const values = [1, s < 400 ? 1 : 0, s === 429 ? 1 : 0, s === 403 ? 1 : 0, s === 401 ? 1 : 0, s >= 400 && s < 500 && ![401, 403, 429].includes(s) ? 1 : 0, s >= 500 ? 1 : 0,
      e.response.input_tokens, e.response.cached_input_tokens ?? 0, e.response.cache_write_tokens ?? 0, e.response.output_tokens, e.response.reasoning_tokens];
    for (const [scope, subject] of [['account', e.account_id], ['org', e.org_id]] as const) {
      if (!subject) continue;
      const key = `${scope} ${subject} ${e.ts.slice(0, 13)} ${e.model}`;
      const row = out.get(key) ?? ROLLUP_COUNTERS.map(() => 0);
      values.forEach((v, i) => { row[i] += v; });
      out.set(key, row);
    }
  }
  return out;
}

/** The rollup as stored (PostgreSQL: its rows and deltas not folded yet, summed), keyed as expectedRollup keys it. */
function asMap(rows: Record<string, unknown>[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of rows) {
    const hour = r.hour instanceof Date ? r.hour.toISOString().slice(0, 13) : String(r.hour);
    const values = ROLLUP_COUNTERS.map((c) => Number(r[c]));
    if (values[0] === 0 && values.every((v) => v === 0)) continue;
    out.set(`${String(r.scope)} ${String(r.subject)} ${hour} ${String(r.model)}`, values);
  }
  return out;
}

const sorted = (m: Map<string, number[]>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const progressLine = /^events: filling the usage rollup: \d+\.\d% \(.* of .*\) at [\d,]+ (rows|hours)\/s, about \d+(\.\d)? (s|min|h) left$/;

class Stop extends Error {}

// ---------------------------------------------------------------------------------------- SQLite

function sqliteRollup(db: SqliteDb): Map<string, number[]> {
  return asMap(db.prepare('SELECT * FROM event_usage_hourly').all() as Record<string, unknown>[]);
}
function sqliteInsert(db: SqliteDb, events: readonly InteractionEvent[]): void {
  const insert = db.prepare('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => { for (const e of events) insert.run(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e)); })();
}
const sqliteEvents = (db: SqliteDb) => (db.prepare('SELECT body FROM events').all() as { body: string }[]).map((r) => JSON.parse(r.body) as InteractionEvent);
/** The events the rollup's rows hold: all but those still pending (inserted by hand, summed by the next batch; readers add them meanwhile). */
const sqliteSummed = (db: SqliteDb) => (db.prepare('SELECT body FROM events WHERE rowid NOT IN (SELECT event_rowid FROM event_usage_pending)').all() as { body: string }[]).map((r) => JSON.parse(r.body) as InteractionEvent);

async function org1Total(usage: UsageStore): Promise<number> {
  const rows = await usage.daily({ from: new Date(T0 - 24 * HOUR).toISOString(), to: new Date(T0 + (HOURS + 24) * HOUR).toISOString(), orgId: 'org_1' });
  return rows.reduce((a, r) => a + r.requests, 0);
}

test('SQLite: the fill reports its progress, resumes after a stop half-way, and counts the rows changed meanwhile once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rollup-fill-'));
  const db = openSqlite(join(dir, 'warden.db'));
  try {
    // An older release's file: events, no rollup.
    migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS.slice(0, 1));
    sqliteInsert(db, spread(2000));
    const lines: string[] = [];
    let chunks = 0;
    assert.throws(() => new SqliteEventStore(db, {
      rollupFill: { chunkRows: 250, progressEveryMs: 0, log: (l) => lines.push(l), afterChunk: () => { if (++chunks === 3) throw new Stop('stopped'); } },
    }), Stop, 'the fill stopped after its third chunk, as a crash would stop it');
    assert.match(lines[0], /^events: filling the usage rollup \(event_usage_hourly\) from 2,000 stored events; an interrupted fill goes on/, `a first line says what the fill does: ${lines[0]}`);
    const progress = lines.filter((l) => progressLine.test(l));
    assert.ok(progress.length >= 2, `a progress line per chunk, with share, rate and time left: ${lines.join(' | ')}`);
    assert.ok(progress.some((l) => l.includes('37.5% (750 of 2,000 rows)')), `the share after three chunks of 250: ${progress.join(' | ')}`);
    const cursor = db.prepare('SELECT next_rowid, last_rowid FROM event_usage_fill').get() as { next_rowid: number; last_rowid: number };
    assert.ok(cursor.next_rowid > 1 && cursor.next_rowid <= cursor.last_rowid, `the three chunks were committed, the rest not: ${JSON.stringify(cursor)}`);

    // Meanwhile (e.g. an older node, retention, an erase): rows added, rows deleted and changed, on both sides of the cursor.
    sqliteInsert(db, spread(300, 5000));
    const ids = db.prepare('SELECT id, rowid AS r FROM events ORDER BY rowid').all() as { id: string; r: number }[];
    const filled = ids.filter((x) => x.r < cursor.next_rowid);
    const unfilled = ids.filter((x) => x.r >= cursor.next_rowid && x.r <= cursor.last_rowid);
    const del = db.prepare('DELETE FROM events WHERE id = ?');
    for (const x of [...filled.slice(0, 40), ...unfilled.slice(0, 40)]) del.run(x.id);
    const move = db.prepare("UPDATE events SET org_id = 'org_2', body = json_set(body, '$.org_id', 'org_2', '$.response.output_tokens', 1) WHERE id = ?");
    for (const x of [...filled.slice(100, 130), ...unfilled.slice(100, 130)]) move.run(x.id);

    // A reader before the fill is done counts from the events, not from a partial rollup.
    const reader = sqliteUsageStore(db, { thread: 'inline' });
    const want = sqliteEvents(db).filter((e) => e.org_id === 'org_1').length;
    assert.equal(await org1Total(reader), want, 'the usage read while the fill is unfinished counts every stored event');

    lines.length = 0;
    const store = new SqliteEventStore(db, { rollupFill: { chunkRows: 250, progressEveryMs: 0, log: (l) => lines.push(l) } });
    assert.match(lines[0], /resuming at 37\.5%/, `the next start says it resumes: ${lines[0]}`);
    assert.match(lines[lines.length - 1], /^events: usage rollup filled: 1,250 rows in \d+\.\d s$/, `the last line says it is done: ${lines[lines.length - 1]}`);
    assert.deepEqual(sorted(sqliteRollup(db)), sorted(expectedRollup(sqliteSummed(db))), 'the rollup holds exactly the stored events (but the 300 pending), each once');
    // Writes after the fill keep it exact; a second open has nothing left to fill.
    await store.appendBatch(spread(200, 9000));
    const again: string[] = [];
    new SqliteEventStore(db, { rollupFill: { log: (l) => again.push(l) } });
    assert.deepEqual(again, [], 'a filled rollup is not filled again');
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM event_usage_pending').get() as { n: number }).n, 0, 'the batch folded the pending rows');
    assert.deepEqual(sorted(sqliteRollup(db)), sorted(expectedRollup(sqliteEvents(db))), 'and stays exact');
    const fresh = sqliteUsageStore(db, { thread: 'inline' });
    assert.equal(await org1Total(fresh), sqliteEvents(db).filter((e) => e.org_id === 'org_1').length, 'the usage read from the filled rollup counts every stored event');
    await reader.close?.();
    await fresh.close?.();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------ PostgreSQL

async function pgRollup(pool: PgPool): Promise<Map<string, number[]>> {
  const cols = ROLLUP_COUNTERS.map((c) => `SUM(${c}) AS ${c}`).join(', ');
  const { rows } = await pool.query(`SELECT scope, subject, hour, model, ${cols} FROM (SELECT * FROM event_usage_hourly UNION ALL SELECT scope, subject, hour, model, ${ROLLUP_COUNTERS.join(', ')} FROM event_usage_delta) r GROUP BY scope, subject, hour, model`);
  return asMap(rows);
}
async function pgInsert(pool: PgPool, events: readonly InteractionEvent[]): Promise<void> {
  const values: unknown[] = [];
  const tuples = events.map((e) => {
    const b = values.length;
    values.push(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e));
    return `(${Array.from({ length: 9 }, (_, i) => `$${b + i + 1}`).join(',')})`;
  });
  await pool.query(`INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ${tuples.join(',')}`, values);
}
const pgEvents = async (pool: PgPool) => (await pool.query('SELECT body FROM events')).rows.map((r) => r.body as InteractionEvent);

test('PostgreSQL: the fill reports its progress, resumes after a stop half-way, and counts the rows changed meanwhile once', async () => {
  await withPgSchema('rollup_fill', async (pool) => {
    await migratePostgres(pool, 'events', PG_EVENT_MIGRATIONS.slice(0, 1));
    await pgInsert(pool, spread(2000));
    const lines: string[] = [];
    let chunks = 0;
    const first = new PostgresEventStore(pool, {
      rollupFill: { chunkEvents: 150, progressEveryMs: 0, log: (l) => lines.push(l), afterChunk: () => { if (++chunks === 4) throw new Stop('stopped'); } },
    });
    await assert.rejects(first.migrate(), Stop, 'the fill stopped after its fourth chunk, as a crash would stop it');
    assert.match(lines[0], /^events: filling the usage rollup \(event_usage_hourly\) from the stored events \(72 hours from the first to the last\)/, `a first line says what the fill does: ${lines[0]}`);
    assert.ok(lines.some((l) => progressLine.test(l) && / \d+ events\)/.test(l)), `progress lines with share, events, rate and time left: ${lines.join(' | ')}`);
    const { rows: [cursor] } = await pool.query('SELECT next_hour, end_hour, first_hour FROM event_usage_fill');
    assert.ok(cursor.next_hour > cursor.first_hour && cursor.next_hour < cursor.end_hour, `the four chunks were committed, the rest not: ${JSON.stringify(cursor)}`);

    // Meanwhile: an older node inserts (into filled and unfilled hours), retention deletes, an erase changes rows, on both sides of the cursor.
    await pgInsert(pool, spread(300, 5000));
    const { rows: ids } = await pool.query('SELECT id, ts < $1 AS filled FROM events ORDER BY id', [cursor.next_hour]);
    const filled = ids.filter((x) => x.filled).map((x) => x.id as string);
    const unfilled = ids.filter((x) => !x.filled).map((x) => x.id as string);
    assert.ok(filled.length > 150 && unfilled.length > 150, 'events on both sides of the cursor');
    await pool.query('DELETE FROM events WHERE id = ANY($1)', [[...filled.slice(0, 40), ...unfilled.slice(0, 40)]]);
    await pool.query(`UPDATE events SET org_id = 'org_2', body = jsonb_set(jsonb_set(body, '{org_id}', '"org_2"'), '{response,output_tokens}', '1') WHERE id = ANY($1)`, [[...filled.slice(100, 130), ...unfilled.slice(100, 130)]]);

    const reader = postgresUsageStore(pool);
    assert.equal(await org1Total(reader), (await pgEvents(pool)).filter((e) => e.org_id === 'org_1').length, 'the usage read while the fill is unfinished counts every stored event');

    lines.length = 0;
    const store = new PostgresEventStore(pool, { rollupFill: { chunkEvents: 150, progressEveryMs: 0, log: (l) => lines.push(l) } });
    await store.migrate();
    assert.match(lines[0], /resuming at \d+\.\d%/, `the next start says it resumes: ${lines[0]}`);
    assert.match(lines[lines.length - 1], /^events: usage rollup filled: \d+ hours, [\d,]+ events in \d+\.\d s$/, `the last line says it is done: ${lines[lines.length - 1]}`);
    assert.deepEqual(sorted(await pgRollup(pool)), sorted(expectedRollup(await pgEvents(pool))), 'the rollup holds exactly the stored events, each once');
    await store.appendBatch(spread(200, 9000));
    assert.ok(await store.foldUsageDeltas() >= 0, 'the deltas fold');
    assert.equal(Number((await pool.query('SELECT COUNT(*) AS n FROM event_usage_delta')).rows[0].n), 0, 'a fold leaves no delta behind');
    assert.equal(Number((await pool.query('SELECT COUNT(*) AS n FROM event_usage_hourly WHERE requests = 0')).rows[0].n), 0, 'buckets emptied by the deletes and the moves are gone from the rollup');
    assert.deepEqual(sorted(await pgRollup(pool)), sorted(expectedRollup(await pgEvents(pool))), 'and the rollup stays exact');
    const fresh = postgresUsageStore(pool);
    assert.equal(await org1Total(fresh), (await pgEvents(pool)).filter((e) => e.org_id === 'org_1').length, 'the usage read from the filled rollup counts every stored event');
    await store.close();
  });
});

test('PostgreSQL: inserts running alongside the fill are each counted once', async () => {
  await withPgSchema('rollup_fill_race', async (pool) => {
    await migratePostgres(pool, 'events', PG_EVENT_MIGRATIONS.slice(0, 1));
    await pgInsert(pool, spread(3000));
    // The schema and the fill's cursor, no fill yet (stopped before its first chunk).
    await assert.rejects(new PostgresEventStore(pool, { rollupFill: { chunkEvents: 40, afterChunk: () => { throw new Stop('stopped'); } } }).migrate(), Stop);
    const store = new PostgresEventStore(pool, { rollupFill: { chunkEvents: 40 } });
    // An older node's inserts, all over the span, while the fill goes chunk by chunk.
    const writer = (async () => { for (let i = 0; i < 30; i++) await pgInsert(pool, spread(40, 20_000 + i * 40)); })();
    await Promise.all([store.migrate(), writer]);
    assert.deepEqual(sorted(await pgRollup(pool)), sorted(expectedRollup(await pgEvents(pool))), 'the rollup holds exactly the stored events, each once');
    await store.close();
  }, 6);
});

test('PostgreSQL: a node inserting into an organisation\'s current hour does not wait for another node\'s open insert of that hour', async () => {
  await withPgSchema('rollup_hot_row', async (pool) => {
    const store = new PostgresEventStore(pool);
    await store.migrate();
    const now = Date.now();
    await store.appendBatch([makeEvent(0, now, 'org_hot')]);
    // Node A inserts an event of org_hot in this hour and has not committed yet.
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query('BEGIN');
      const ea = makeEvent(1, now, 'org_hot');
      await a.query('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [ea.id, ea.ts, ea.account_id, ea.org_id, ea.key_id, ea.model, ea.client.ip, ea.response.status, JSON.stringify(ea)]);
      // Node B does the same; told to give up at once rather than wait for a lock held by A.
      await b.query("SET lock_timeout = '1s'");
      const eb = makeEvent(1, now, 'org_hot');
      await assert.doesNotReject(b.query('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [eb.id, eb.ts, eb.account_id, eb.org_id, eb.key_id, eb.model, eb.client.ip, eb.response.status, JSON.stringify(eb)]), 'B inserts without waiting for A to commit');
      await a.query('COMMIT');
    } finally {
      await a.query('ROLLBACK').catch(() => {});
      a.release();
      b.release();
    }
    const usage = postgresUsageStore(pool);
    const window = { from: new Date(now - 2 * HOUR).toISOString(), to: new Date(Math.floor(now / HOUR) * HOUR + HOUR).toISOString(), orgId: 'org_hot' };
    const total = async () => (await usage.daily(window)).reduce((s, r) => s + r.requests, 0);
    assert.equal(await total(), 3, 'the three events are counted before their deltas are folded');
    await store.foldUsageDeltas();
    assert.equal(await total(), 3, 'and after');
    await store.close();
  });
});

test('warden serve opening the stores: the fill of a file an older release wrote reports its progress on the start-up log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rollup-serve-'));
  const path = join(dir, 'warden.db');
  try {
    const db = openSqlite(path);
    migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS.slice(0, 1));
    sqliteInsert(db, spread(500));
    db.close();
    const lines: string[] = [];
    const stores = await openStores(parseConfig({ store: { sqlite_path: path }, log: { level: 'silent' } }), { log: (l) => lines.push(l) });
    await stores.close();
    assert.match(lines.join('\n'), /^events: filling the usage rollup \(event_usage_hourly\) from 500 stored events/m, `the first line: ${lines.join(' | ')}`);
    assert.match(lines.join('\n'), /^events: usage rollup filled: 500 rows in /m, `the last line: ${lines.join(' | ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------- a database the first version 2 migrated

// The first version 2 of the events schema (its SQL as it shipped, kept in test/fixtures/store)
// filled the rollup inside its migration and kept no fill state; its PostgreSQL triggers upserted
// the rollup's rows. Version 3 brings such a database to today's tables and triggers: before it, a
// read failed on the missing fill table.
const firstV2 = (backend: 'sqlite' | 'postgres') => readFileSync(new URL(`../../test/fixtures/store/events-v2-first-${backend}.sql`, import.meta.url), 'utf8');

test('SQLite: a database the first version 2 migrated is brought up to date: its rollup kept, reads and later writes exact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rollup-v3-'));
  const db = openSqlite(join(dir, 'warden.db'));
  try {
    migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS.slice(0, 1));
    sqliteInsert(db, spread(600));
    migrateSqlite(db, 'events', [SQLITE_EVENT_MIGRATIONS[0], { sql: firstV2('sqlite'), compatible: true }]);
    sqliteInsert(db, spread(100, 3000));
    const lines: string[] = [];
    const store = new SqliteEventStore(db, { rollupFill: { log: (l) => lines.push(l) } });
    assert.deepEqual(lines, [], 'nothing to fill: the first version 2 filled the rollup');
    const reader = sqliteUsageStore(db, { thread: 'inline' });
    const org1 = () => sqliteEvents(db).filter((e) => e.org_id === 'org_1').length;
    assert.equal(await org1Total(reader), org1(), 'the usage read counts every stored event');
    await store.appendBatch(spread(200, 9000));
    const ids = (db.prepare('SELECT id FROM events ORDER BY rowid LIMIT 60').all() as { id: string }[]).map((r) => r.id);
    const del = db.prepare('DELETE FROM events WHERE id = ?');
    for (const id of ids.slice(0, 30)) del.run(id);
    const move = db.prepare("UPDATE events SET org_id = 'org_2', body = json_set(body, '$.org_id', 'org_2') WHERE id = ?");
    for (const id of ids.slice(30)) move.run(id);
    assert.equal(await org1Total(reader), org1(), 'and after writes, deletes and changes');
    assert.deepEqual(sorted(sqliteRollup(db)), sorted(expectedRollup(sqliteSummed(db))), 'the rollup holds exactly the stored events');
    await reader.close?.();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: a database the first version 2 migrated is brought up to date: writers append deltas, reads and later writes exact', async () => {
  await withPgSchema('rollup_v3', async (pool) => {
    await migratePostgres(pool, 'events', PG_EVENT_MIGRATIONS.slice(0, 1));
    await pgInsert(pool, spread(600));
    await migratePostgres(pool, 'events', [PG_EVENT_MIGRATIONS[0], { sql: firstV2('postgres'), compatible: true }]);
    await pgInsert(pool, spread(100, 3000));
    const lines: string[] = [];
    const store = new PostgresEventStore(pool, { rollupFill: { log: (l) => lines.push(l) } });
    await store.migrate();
    assert.deepEqual(lines, [], 'nothing to fill: the first version 2 filled the rollup');
    const reader = postgresUsageStore(pool);
    const org1 = async () => (await pgEvents(pool)).filter((e) => e.org_id === 'org_1').length;
    assert.equal(await org1Total(reader), await org1(), 'the usage read counts every stored event');
    await pgInsert(pool, spread(50, 7000));
    const { rows: deltas } = await pool.query('SELECT COUNT(*)::int AS n FROM event_usage_delta');
    assert.ok(deltas[0].n > 0, 'an insert appends deltas: the triggers of today are in force');
    await store.appendBatch(spread(200, 9000));
    const { rows: ids } = await pool.query('SELECT id FROM events ORDER BY id LIMIT 60');
    await pool.query('DELETE FROM events WHERE id = ANY($1)', [ids.slice(0, 30).map((r) => r.id)]);
    await pool.query(`UPDATE events SET org_id = 'org_2', body = jsonb_set(body, '{org_id}', '"org_2"') WHERE id = ANY($1)`, [ids.slice(30).map((r) => r.id)]);
    assert.equal(await org1Total(reader), await org1(), 'and after writes, deletes and changes');
    assert.deepEqual(sorted(await pgRollup(pool)), sorted(expectedRollup(await pgEvents(pool))), 'the rollup and its deltas hold exactly the stored events');
    await store.close?.();
  });
});

test('SQLite: the event writer sums its batches into the rollup exactly, in its thread and inline (ids stored twice, outcomes, tokens absent, a backlog left pending)', async () => {
  for (const writer of ['thread', 'inline'] as const) {
    const dir = mkdtempSync(join(tmpdir(), `warden-rollup-writer-${writer}-`));
    const db = openSqlite(join(dir, 'warden.db'));
    try {
      const store = new SqliteEventStore(db, { writer });
      const statuses = [200, 201, 400, 401, 403, 404, 429, 500, 503];
      const varied = spread(400, 20_000).map((e, i) => {
        const response = { ...e.response, status: statuses[i % statuses.length] } as Record<string, unknown>;
        if (i % 5 === 0) delete response.cached_input_tokens;
        if (i % 7 === 0) response.output_tokens = Number.NaN; // stored as null: counted as 0
        if (i % 11 === 0) response.cache_write_tokens = 4;
        return { ...e, response } as unknown as InteractionEvent;
      });
      await store.appendBatch(varied.slice(0, 150));
      // An older release's rows (noted as pending by the insert trigger), then batches that also repeat stored ids.
      sqliteInsert(db, spread(40, 30_000));
      await store.appendBatch([...varied.slice(100, 300), ...varied.slice(0, 20)]);
      await store.appendBatch(varied.slice(250));
      const stored = sqliteEvents(db);
      assert.equal(stored.length, 440, `each event stored once (${writer})`);
      assert.equal(db.prepare('SELECT COUNT(*) FROM event_usage_pending').pluck().get(), 0, `nothing left pending, the backlog folded too (${writer})`);
      assert.deepEqual(sorted(sqliteRollup(db)), sorted(expectedRollup(stored)), `the rollup holds exactly the stored events (${writer})`);
      const reader = sqliteUsageStore(db, { thread: 'inline' });
      assert.equal(await org1Total(reader), stored.filter((e) => e.org_id === 'org_1').length, `the usage read counts every stored event (${writer})`);
      await reader.close?.();
      await store.close();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
