// Usage by the service tier the upstream served each answer on (`response.service_tier`), on SQLite
// and on a real PostgreSQL server: `GET /admin/usage/top?by=service_tier` sums flex, priority and
// untiered requests apart, and `service_tier=` narrows the summary and the other groupings to one
// tier; rows the dashboard copied before the tier was kept are copied again with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { openSqlite, openPostgres, migrateSqlite, SqliteEventStore, PostgresEventStore, type EventStore } from '../store/index.ts';
import { sqliteUsageStore, postgresUsageStore, SQLITE_USAGE_MIGRATIONS, type UsageStore } from './usage.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';

const T0 = Date.parse('2026-12-07T09:00:00.000Z');
const FROM = new Date(T0 - 3600_000).toISOString();
const TO = new Date(T0 + 3600_000).toISOString();

/** Ten answers: four on flex, three on priority, three with no tier named (one of them refused). */
function events(): InteractionEvent[] {
  const tiers = ['flex', 'flex', 'flex', 'flex', 'priority', 'priority', 'priority', null, null, null];
  return tiers.map((tier, i) => ({
    schema: EVENT_SCHEMA, id: `01TIER${String(i).padStart(20, '0')}`, ts: new Date(T0 + i * 1000).toISOString(), duration_ms: 5,
    flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: i % 2 ? 'acct_a' : 'acct_b', org_id: 'org_1', key_id: 'key_1',
    client: { ip: '203.0.113.5', user_agent: 'test', country: 'GB', asn: 64500 },
    request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 3 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
    response: {
      status: i === 9 ? 429 : 200, error_code: null, input_tokens: 100 + i, output_tokens: 10 * (i + 1), reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0,
      finish_reason: 'stop', ttfb_ms: 1, output_chars: 0, reasoning_chars: 0, ...(tier ? { service_tier: tier } : {}),
    },
    account: null, enforcement: emptyEnforcement(),
  }));
}

async function check(usage: UsageStore, store: EventStore) {
  const evs = events();
  await store.appendBatch(evs);
  const top = await usage.top('service_tier', { from: FROM, to: TO });
  const byTier = Object.fromEntries(top.map((r) => [String(r.key), [r.requests, r.output_tokens]]));
  const sum = (tier: string | null) => { const on = evs.filter((e) => (e.response.service_tier ?? null) === tier); return [on.length, on.reduce((a, e) => a + e.response.output_tokens, 0)]; };
  assert.deepEqual(byTier, { flex: sum('flex'), priority: sum('priority'), null: sum(null) }, 'requests and tokens per tier, untiered apart');
  const flex = await usage.summary({ from: FROM, to: TO, serviceTier: 'flex' }, 3600);
  assert.deepEqual([flex.totals.requests, flex.totals.output_tokens], sum('flex'), 'the summary narrowed to flex');
  const flexByAccount = await usage.top('account', { from: FROM, to: TO, serviceTier: 'flex' });
  assert.deepEqual(flexByAccount.map((r) => [r.key, r.requests]).sort(), [['acct_a', 2], ['acct_b', 2]], 'another grouping narrowed to one tier');
  const [recent] = await usage.interactions({ from: FROM, to: TO, limit: 1 });
  assert.equal(recent.service_tier, null, 'an interaction lists its tier (null: none named)');
  const [flexOne] = await usage.interactions({ from: FROM, to: new Date(T0 + 500).toISOString(), limit: 1 });
  assert.equal(flexOne.service_tier, 'flex');
}

test('SQLite: usage by service tier', async () => {
  const db = openSqlite(':memory:');
  try { await check(sqliteUsageStore(db, { thread: 'inline' }), new SqliteEventStore(db)); } finally { db.close(); }
});

test('PostgreSQL: usage by service tier', { timeout: 60_000 }, async () => {
  const schema = `ui_tier_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = openPostgres(`${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 4 });
  try { await check(postgresUsageStore(pool), new PostgresEventStore(pool)); } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});

test('SQLite: rows the dashboard copied before the tier was kept are copied again with it', async () => {
  const db = openSqlite(':memory:');
  try {
    const evs = events();
    await new SqliteEventStore(db).appendBatch(evs);
    // usage_rows as the release before made it (version 3), already holding these events without their tier.
    migrateSqlite(db, 'ui_usage', SQLITE_USAGE_MIGRATIONS.slice(0, 3));
    const copy = db.prepare(`INSERT INTO usage_rows (id, ts, account_id, org_id, key_id, model, client_ip, status, error_code, input_tokens, output_tokens, reasoning_tokens, country, asn, flavour, verdict)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, NULL, ?, NULL)`);
    for (const e of evs) copy.run(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, e.response.input_tokens, e.response.output_tokens, e.response.reasoning_tokens, e.flavour);
    const usage = sqliteUsageStore(db, { thread: 'inline' });
    const top = await usage.top('service_tier', { from: FROM, to: TO });
    assert.deepEqual(Object.fromEntries(top.map((r) => [String(r.key), r.requests])), { flex: 4, priority: 3, null: 3 }, 'every event counted once, under its tier');
  } finally {
    db.close();
  }
});
