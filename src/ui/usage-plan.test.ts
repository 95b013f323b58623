// The Overview's aggregations over a time range read the side table's range index alone (SQLite's
// plan says COVERING INDEX): no lookup into the table for each row in range, which is what made the
// Overview wait seconds on a busy day with many accounts. Checked on the statements the store runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { sqliteUsageStore } from './usage.ts';

test('the overview\'s range aggregations scan the range index alone (covering), and answer as before', async () => {
  const db = openSqlite(':memory:');
  const events = new SqliteEventStore(db);
  const end = Date.parse('2026-06-02T12:00:00.000Z');
  await events.appendBatch(Array.from({ length: 300 }, (_, i) => sampleEvent(i, { ts: new Date(end - 3600_000 + i * 1000).toISOString(), account_id: `acct_${i % 40}` })));
  const usage = sqliteUsageStore(db, { thread: 'inline' });
  const filter = { from: new Date(end - 86400_000).toISOString(), to: new Date(end).toISOString() };
  await usage.summary(filter); // creates and fills usage_rows

  // Record the statements the overview's calls prepare.
  const seen: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: typeof db.prepare }).prepare = ((sql: string) => { seen.push(sql); return prepare(sql); }) as typeof db.prepare;
  const [summary, accounts] = await Promise.all([usage.summary(filter), usage.top('account', filter, { limit: 10 }), usage.top('network', filter, { limit: 8 }), usage.top('model', filter, { limit: 8 })]);
  (db as { prepare: typeof db.prepare }).prepare = prepare;

  const ranged = seen.filter((sql) => /^\s*SELECT/i.test(sql) && /FROM usage_rows WHERE ts >=/.test(sql));
  assert.ok(ranged.length >= 5, `the overview's range aggregations were seen (${ranged.length})`);
  for (const sql of ranged) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(filter.from, filter.to) as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, /COVERING INDEX usage_rows_range/, `read from the range index alone: ${sql.slice(0, 80)}… → ${plan}`);
  }
  // The totals are the buckets' sums, and the distinct counts are still counted.
  assert.equal(summary.totals.requests, 300, 'every request counted');
  assert.equal(summary.totals.requests, summary.series.reduce((s, p) => s + p.requests, 0), 'totals are the buckets summed');
  assert.equal(summary.totals.accounts, 40, 'distinct accounts');
  assert.equal(accounts.length, 10, 'top 10 accounts');
  db.close();
});
