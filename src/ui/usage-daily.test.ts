// A customer's usage by day and model (`UsageStore.daily`, read by GET /v1/warden/usage) from the
// events' hourly rollup, checked against the events themselves on randomised data: windows on and
// off the hour and the day, shorter than an hour or 31 days long, an account or an organisation,
// with and without a model; after an upgrade that fills the rollup from the events already stored,
// a late batch from another node, a batch written twice, rows inserted by hand, an erase and a
// retention cut in mid-hour.
// On a SQLite file (the query thread, as `warden serve` runs it) and on PostgreSQL, there in a
// session time zone half an hour off UTC (the hours and days must stay UTC).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { openSqlite, openPostgres, migrateSqlite, migratePostgres, SqliteEventStore, PostgresEventStore, type EventStore, type PgPool } from '../store/index.ts';
import { SQLITE_EVENT_MIGRATIONS, PG_EVENT_MIGRATIONS } from '../store/events.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';
import { countEvent, zeroCounts } from '../../test/helpers/usage-counts.ts';
import { sqliteUsageStore, postgresUsageStore, type UsageDayRow, type UsageFilter, type UsageStore } from './usage.ts';

const T0 = Date.parse('2026-11-28T21:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The events span this long from T0. */
const SPAN = 4 * DAY;

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACCOUNTS = [['acct_a', 'org_1'], ['acct_b', 'org_1'], ['acct_c', 'org_2'], ['acct_d', null], [null, null]] as const;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4'];
const STATUSES = [200, 200, 200, 201, 400, 401, 403, 404, 429, 499, 500, 502];

function makeEvents(r: () => number, count: number, firstId: number, ts: () => number): InteractionEvent[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  return Array.from({ length: count }, (_, i) => {
    let [account, org]: readonly (string | null)[] = pick(ACCOUNTS);
    // An account that moved organisation: its older events keep the organisation they had.
    if (account === 'acct_b' && r() < 0.2) org = 'org_2';
    const status = account === null ? 401 : pick(STATUSES);
    const cache = r() < 0.5 ? { cached_input_tokens: Math.floor(r() * 20), cache_write_tokens: Math.floor(r() * 5) } : {};
    return {
      schema: EVENT_SCHEMA, id: `01EV${String(firstId + i).padStart(22, '0')}`, ts: new Date(ts()).toISOString(), duration_ms: 5,
      flavour: 'openai.chat', model: pick(MODELS), upstream: 'mock', account_id: account, org_id: org, key_id: account && `key_${account}`,
      client: { ip: '203.0.113.5', user_agent: 'test', country: null, asn: null },
      request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 3 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
      response: {
        status, error_code: null, input_tokens: Math.floor(r() * 60), output_tokens: Math.floor(r() * 300), reasoning_tokens: r() < 0.3 ? Math.floor(r() * 50) : 0,
        usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 0, reasoning_chars: 0, ...cache,
      },
      account: null, enforcement: emptyEnforcement(),
    } as InteractionEvent;
  });
}

/** A time in the span: on the hour, on the day, or anywhere (to the millisecond); now and then exactly on an event's time. */
function randomTime(r: () => number, events: readonly InteractionEvent[]): number {
  const t = T0 - DAY + Math.floor(r() * (SPAN + 2 * DAY));
  const k = r();
  if (k < 0.25) return Math.floor(t / HOUR) * HOUR;
  if (k < 0.4) return Math.floor(t / DAY) * DAY;
  if (k < 0.5) return Date.parse(events[Math.floor(r() * events.length)].ts);
  return t;
}

function randomFilter(r: () => number, events: readonly InteractionEvent[]): UsageFilter {
  const from = randomTime(r, events);
  const k = r();
  const length = k < 0.2 ? 1 + Math.floor(r() * HOUR) : k < 0.3 ? HOUR : k < 0.4 ? 31 * DAY : 1 + Math.floor(r() * 3 * DAY);
  const to = k < 0.6 ? from + length : Math.max(from + 1, randomTime(r, events));
  const scope = r() < 0.5 ? { accountId: ['acct_a', 'acct_b', 'acct_c', 'acct_d', 'acct_none'][Math.floor(r() * 5)] } : { orgId: ['org_1', 'org_2', 'org_none'][Math.floor(r() * 3)] };
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...scope, ...(r() < 0.25 ? { model: MODELS[Math.floor(r() * 3)] } : {}) };
}

/** The reference: every stored event of the window and subject, summed by UTC day and model, ordered as `daily` orders them. */
function expected(events: Iterable<InteractionEvent>, f: UsageFilter): UsageDayRow[] {
  const rows = new Map<string, UsageDayRow>();
  for (const e of events) {
    if (e.ts < f.from || e.ts >= f.to) continue;
    if (f.accountId && e.account_id !== f.accountId) continue;
    if (f.orgId && e.org_id !== f.orgId) continue;
    if (f.model && e.model !== f.model) continue;
    const date = e.ts.slice(0, 10);
    const key = `${date} ${e.model}`;
    let row = rows.get(key);
    if (!row) rows.set(key, row = { date, model: e.model, ...zeroCounts() });
    countEvent(row, e);
  }
  return [...rows.values()].sort((a, b) => a.date.localeCompare(b.date) || b.requests - a.requests || a.model.localeCompare(b.model));
}

/** What the store holds now, read back (erased bodies included). */
async function stored(events: EventStore): Promise<InteractionEvent[]> {
  const out: InteractionEvent[] = [];
  for await (const e of events.iterate()) out.push(e);
  return out;
}

async function compare(step: string, usage: UsageStore, events: EventStore, r: () => number, queries: number): Promise<void> {
  const all = await stored(events);
  assert.ok(all.length > 0, 'events were stored');
  let nonEmpty = 0;
  for (let i = 0; i < queries; i++) {
    const f = randomFilter(r, all);
    const want = expected(all, f);
    if (want.length) nonEmpty++;
    const got = await usage.daily(f);
    assert.deepEqual(got, want, `${step}: daily(${JSON.stringify(f)}) differs from the sum of the events`);
  }
  assert.ok(nonEmpty > queries / 4, `${step}: most windows hold events (${nonEmpty} of ${queries}), so the comparison means something`);
}

/**
 * The whole story on one backend: events written by a release without the rollup, the upgrade,
 * then writes, a late batch, a duplicate batch, an erase and retention, compared after each.
 */
async function story(open: { before(): Promise<void>; store(): Promise<EventStore>; write(events: InteractionEvent[]): Promise<void> }, usage: () => UsageStore, seed: number): Promise<void> {
  const r = rng(seed);
  const inSpan = () => T0 + Math.floor(r() * SPAN);
  // An older release's database: events, no rollup.
  await open.before();
  await open.write(makeEvents(r, 1500, 0, inSpan));
  const events = await open.store();
  const u = usage();
  try {
    await compare('after the upgrade filled the rollup', u, events, r, 120);
    const later = makeEvents(r, 1500, 10_000, inSpan);
    for (let i = 0; i < later.length; i += 300) await events.appendBatch(later.slice(i, i + 300));
    await compare('after batches written through the triggers', u, events, r, 120);
    // Rows inserted by something other than the event store (an older release, an operator's SQL):
    // on SQLite they wait as pending until a batch folds them, and are read from the events meanwhile.
    await open.write(makeEvents(r, 300, 30_000, inSpan));
    await compare('after rows inserted by hand', u, events, r, 80);
    // Another node's batch, hours late, and a batch retried after a timeout (already stored).
    await events.appendBatch(makeEvents(r, 200, 20_000, () => T0 + Math.floor(r() * DAY)));
    await events.appendBatch(later.slice(0, 300));
    await compare('after a late batch and a duplicate one', u, events, r, 80);
    assert.ok((await events.eraseAccount('acct_b')) > 0, 'the erase changed events');
    await compare('after an erase', u, events, r, 60);
    const cut = new Date(T0 + DAY + 17 * 60_000 + 321).toISOString();
    assert.ok((await events.deleteBefore(cut)) > 0, 'retention deleted events');
    await compare('after retention cut in mid-hour', u, events, r, 120);
  } finally {
    await u.close?.();
    await events.close();
  }
}

test('daily from the rollup equals the events summed, on SQLite (query thread)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-usage-daily-'));
  const path = join(dir, 'warden.db');
  const db = openSqlite(path);
  try {
    await story({
      async before() { migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS.slice(0, 1)); },
      async write(events) {
        const insert = db.prepare('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
        db.transaction(() => { for (const e of events) insert.run(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e)); })();
      },
      // The writer thread, as `warden serve` writes a file: its batches fold the rollup too.
      async store() { return new SqliteEventStore(db, { writer: 'thread' }); },
    }, () => {
      const u = sqliteUsageStore(db);
      assert.equal(u.thread, 'worker', 'the store on a file runs its queries in the query thread, as warden serve does');
      return u;
    }, 7);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('daily from the rollup equals the events summed, on PostgreSQL in a +05:30 session time zone', async () => {
  await withPgSchema('usage_daily', async (schemaPool: PgPool) => {
    const schema = (await schemaPool.query('SELECT current_schema() AS s')).rows[0].s as string;
    const pool = openPostgres(`${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema} -c TimeZone=Asia/Kolkata`)}`);
    try {
      assert.equal((await pool.query("SELECT current_setting('TimeZone') AS tz")).rows[0].tz, 'Asia/Kolkata', 'the session runs in a zone half an hour off UTC');
      await story({
        async before() { await migratePostgres(pool, 'events', PG_EVENT_MIGRATIONS.slice(0, 1)); },
        async write(events) {
          for (const e of events) {
            await pool.query('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
              [e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e)]);
          }
        },
        async store() { const s = new PostgresEventStore(pool); await s.migrate(); return s; },
      }, () => postgresUsageStore(pool), 11);
    } finally {
      await pool.end();
    }
  });
});
