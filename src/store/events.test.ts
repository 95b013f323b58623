// Reading events back in pages, on SQLite and PostgreSQL: a filtered read returns every matching
// event once, in time order, across page boundaries and ties of time; an unfiltered read, or one
// paged by id, goes in id order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSqlite, openPostgres, SqliteEventStore, PostgresEventStore, type EventStore } from './index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';

const T0 = Date.UTC(2026, 2, 2, 9);
/** 2,600 events; ids do not follow time (as imported logs' ids may not), and times repeat in threes. */
const EVENTS: InteractionEvent[] = Array.from({ length: 2600 }, (_, n) => ({
  schema: EVENT_SCHEMA, id: `ev_${String((n * 7919) % 2600).padStart(5, '0')}`, ts: new Date(T0 + Math.floor(n / 3) * 1000).toISOString(), duration_ms: 5,
  flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: `acct_${n % 2}`, org_id: 'org_1', key_id: 'key_1',
  client: { ip: `203.0.113.${n % 250}`, user_agent: 'test', country: 'GB', asn: 64500 },
  request: { stream: false, system: null, messages: [], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
  response: { status: 200, error_code: null, input_tokens: 5, output_tokens: 40, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 100, reasoning_chars: 0 },
  account: null, enforcement: emptyEnforcement(),
}));
const byTime = (a: InteractionEvent, b: InteractionEvent) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.id < b.id ? -1 : 1);
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

async function ids(store: EventStore, q: Parameters<EventStore['iterate']>[0]): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.iterate(q)) out.push(e.id);
  return out;
}

async function checkPaging(store: EventStore) {
  await store.appendBatch(EVENTS);
  const inRange = EVENTS.filter((e) => e.ts >= iso(100) && e.ts < iso(800)).sort(byTime).map((e) => e.id);
  assert.equal(inRange.length, 2100);
  assert.deepEqual(await ids(store, { from: iso(100), to: iso(800) }), inRange, 'a time range: all of it, once, in time order');
  const account = EVENTS.filter((e) => e.account_id === 'acct_1' && e.ts >= iso(10)).sort(byTime).map((e) => e.id);
  assert.deepEqual(await ids(store, { accountId: 'acct_1', from: iso(10), limit: 1200 }), account.slice(0, 1200), 'an account\'s, bounded');
  const all = EVENTS.map((e) => e.id).sort();
  assert.deepEqual(await ids(store, {}), all, 'unfiltered: id order');
  assert.deepEqual(await ids(store, { afterId: all[1499] }), all.slice(1500), 'paged by id: id order');
}

test('event store paging: SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-'));
  try { await checkPaging(new SqliteEventStore(openSqlite(join(dir, 'e.db')))); } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('event store paging: PostgreSQL', async () => {
  const base = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `events_paging_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(base, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = openPostgres(`${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 2 });
  try { await checkPaging(new PostgresEventStore(pool)); } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});

test('PostgreSQL takes a batch larger than one statement can carry (what a node kept through an outage)', async () => {
  const base = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `events_big_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(base, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = openPostgres(`${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 2 });
  try {
    // Nine parameters an event: 8,000 events are past PostgreSQL's 65,535 parameters per statement.
    const many = Array.from({ length: 8000 }, (_, n) => ({ ...EVENTS[n % EVENTS.length], id: `big_${String(n).padStart(5, '0')}` }));
    const store = new PostgresEventStore(pool);
    await store.appendBatch(many);
    assert.equal(await store.count(), 8000);
    await store.appendBatch(many.slice(0, 10)); // a retried batch: written once
    assert.equal(await store.count(), 8000);
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});
