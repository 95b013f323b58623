/**
 * Dashboard query cost: the usage aggregations the overview runs, over a SQLite events table of
 * N events spread over 24 hours (the embedded default), against a baseline measured in the same
 * run: `SELECT COUNT(*)` over the same range (the cheapest query that visits every row in range).
 *
 *   node --import tsx bench/ui.ts [--events 200000]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { sampleEvent } from '../src/ledger/fixtures.ts';
import { sqliteUsageStore } from '../src/ui/index.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const N = Number(values.events);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ui-'));
const db = openSqlite(join(dir, 'events.db'));
const store = new SqliteEventStore(db);
const end = Date.parse('2026-06-02T12:00:00.000Z');
const span = 24 * 3600_000;
const batch = [];
for (let i = 0; i < N; i++) {
  const e = sampleEvent(i, {
    id: `01BENCH${String(i).padStart(19, '0')}`,
    ts: new Date(end - span + Math.floor((i / N) * span)).toISOString(),
    account_id: `acct_${i % 5000}`,
    client: { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, user_agent: 'bench', country: 'NL', asn: 64500 },
  });
  batch.push(e);
  if (batch.length === 5000) { await store.appendBatch(batch); batch.length = 0; }
}
await store.appendBatch(batch);
const usage = sqliteUsageStore(db);
// First query: every event body parsed once into the side table (one-off, chunked).
const firstStart = performance.now();
await usage.summary({ from: new Date(end - span).toISOString(), to: new Date(end).toISOString() });
const firstCatchUp = performance.now() - firstStart;
const filter = { from: new Date(end - span).toISOString(), to: new Date(end).toISOString() };

async function best(fn: () => unknown, rounds = 5): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

const baseline = await best(() => db.prepare('SELECT COUNT(*) AS n FROM events WHERE ts >= ? AND ts < ?').get(filter.from, filter.to));
const rows: [string, number][] = [
  ['summary (totals, 96 buckets, outcomes)', await best(() => usage.summary(filter))],
  ['top 10 accounts', await best(() => usage.top('account', filter, { limit: 10 }))],
  ['top 8 networks (/24)', await best(() => usage.top('network', filter, { limit: 8 }))],
  ['latest 12 interactions', await best(() => usage.interactions({ ...filter, limit: 12 }))],
  ['one account: summary', await best(() => usage.summary({ ...filter, accountId: 'acct_42' }))],
];
console.log(`ui bench: ${N} events over 24 h, SQLite, Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
console.log(`first query (one-off catch-up of ${N} events into usage_rows): ${firstCatchUp.toFixed(0)} ms`);
console.log('| query | time (best of 5) | vs baseline |');
console.log('|---|---|---|');
console.log(`| baseline: COUNT(*) over the range | ${baseline.toFixed(1)} ms | 1.0x |`);
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} ms | ${(ms / baseline).toFixed(1)}x |`);
db.close();
rmSync(dir, { recursive: true, force: true });
