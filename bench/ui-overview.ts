/**
 * The dashboard's Overview as the page loads it: its five usage calls at once (summary, top
 * accounts, top networks, top models, latest interactions) in the usage-query worker thread, over
 * a SQLite events table of N events in 24 hours from A accounts (one address each), as the page
 * waits for them: the time until the last answer. Measured twice in the same run: with the
 * side table's indexes as this version makes them, and with the range index dropped and the plain
 * ts index of version 1 put back (the layout before, same code otherwise). Baseline, also in the
 * same run: `SELECT COUNT(*)` over the range in this thread.
 *
 *   node --import tsx bench/ui-overview.ts [--events 60000] [--accounts 12000] [--rounds 7]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { appendSyntheticDay } from './lib.ts';
import { sqliteUsageStore, type SqliteUsageStore } from '../src/ui/index.ts';
import { usageSidePath } from '../src/ui/usage-thread.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '60000' }, accounts: { type: 'string', default: '12000' }, rounds: { type: 'string', default: '7' } } });
const N = Number(values.events);
const A = Number(values.accounts);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ui-overview-'));
const db = openSqlite(join(dir, 'events.db'));
const store = new SqliteEventStore(db);
// Each account has its own address, so the overview's top networks are as many as its accounts.
const { end: _end, ...filter } = await appendSyntheticDay(store, N, (i) => i % A, (i) => i % A);

const overview = (u: SqliteUsageStore) => Promise.all([
  u.summary(filter),
  u.top('account', filter, { limit: 10 }),
  u.top('network', filter, { limit: 8 }),
  u.top('model', filter, { limit: 8 }),
  u.interactions({ ...filter, limit: 12 }),
]);

async function times(fn: () => Promise<unknown>): Promise<{ best: number; median: number }> {
  const ms: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { best: ms[0], median: ms[Math.floor(ms.length / 2)] };
}

const baseline = await times(async () => db.prepare('SELECT COUNT(*) AS n FROM events WHERE ts >= ? AND ts < ?').get(filter.from, filter.to));
const usage = sqliteUsageStore(db, { thread: 'worker' });
const t0 = performance.now();
await usage.summary(filter); // the one-off catch-up copy into usage_rows
const firstMs = performance.now() - t0;
const now = await times(() => overview(usage));
// The layout before: the plain ts index, no range index (on the side file the worker reads).
const side = openSqlite(usageSidePath(db.name));
side.exec('DROP INDEX IF EXISTS usage_rows_range; CREATE INDEX IF NOT EXISTS usage_rows_ts ON usage_rows (ts);');
side.close();
await usage.summary(filter);
const before = await times(() => overview(usage));
await usage.close();

const f = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const x = (ms: number) => `${(ms / baseline.best).toFixed(1)}x`;
console.log(`ui overview bench: ${N} events over 24 h from ${A} accounts, SQLite, Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
console.log(`baseline: COUNT(*) over the range, in this thread: ${f(baseline.best)} ms; first query (catch-up copy + summary): ${f(firstMs)} ms`);
console.log('| overview, five calls at once, worker thread | best | median |');
console.log('|---|---|---|');
console.log(`| indexes of version 1 (ts) | ${f(before.best)} ms (${x(before.best)}) | ${f(before.median)} ms |`);
console.log(`| with the range index | ${f(now.best)} ms (${x(now.best)}) | ${f(now.median)} ms |`);
db.close();
rmSync(dir, { recursive: true, force: true });
