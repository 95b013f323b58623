/**
 * Dashboard query cost: the usage aggregations the overview runs, over a SQLite events table of
 * N events spread over 24 hours (the embedded default), against a baseline measured in the same
 * run: `SELECT COUNT(*)` over the same range (the cheapest query that visits every row in range).
 *
 * Each query runs twice: in this thread (`thread: 'inline'`, the previous behaviour) and in the
 * usage-query worker thread (the default since; first the in-thread store, then the worker). While it runs, the main thread is probed the way the
 * gateway would notice a stall:
 *   - event-loop lateness: a 5 ms timer re-armed continuously; lateness = how late it fired;
 *   - a writer like the gateway's recorder: every 20 ms, 10 events appended on the main thread's
 *     connection (a synchronous write that waits while another connection holds the write lock);
 *     the longest append is reported.
 *
 *   node --import tsx bench/ui.ts [--events 200000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { appendSyntheticDay } from './lib.ts';
import { sqliteUsageStore, type SqliteUsageStore } from '../src/ui/index.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ui-'));
const db = openSqlite(join(dir, 'events.db'));
const store = new SqliteEventStore(db);
const { end, ...filter } = await appendSyntheticDay(store, N, (i) => i % 5000, (i) => i);

/** Probes of the main thread while `fn` runs: timer lateness and the recorder-like appends. */
async function probed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; lateMs: number; appendMs: number }> {
  let lateMs = 0;
  let appendMs = 0;
  let stop = false;
  let seq = 0;
  const tick = (at: number) => setTimeout(() => {
    lateMs = Math.max(lateMs, performance.now() - at - 5);
    if (!stop) tick(performance.now());
  }, 5);
  tick(performance.now());
  // Appended events lie after the range: they do not change the answers.
  const writer = setInterval(() => {
    const evs = Array.from({ length: 10 }, () => {
      const i = seq++;
      return sampleEvent(i, { id: `01PROBE${String(i).padStart(19, '0')}`, ts: new Date(end + 3600_000 + i).toISOString() });
    });
    const t = performance.now();
    void store.appendBatch(evs);
    appendMs = Math.max(appendMs, performance.now() - t);
  }, 20);
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  stop = true;
  clearInterval(writer);
  await new Promise((r) => setTimeout(r, 10));
  return { value, ms, lateMs, appendMs };
}

interface Measure { ms: number; lateMs: number; appendMs: number }

/** Best time of `rounds`; lateness and append time: the worst over all rounds. */
async function best(fn: () => Promise<unknown>, rounds = ROUNDS): Promise<Measure> {
  const out = { ms: Infinity, lateMs: 0, appendMs: 0 };
  for (let r = 0; r < rounds; r++) {
    const p = await probed(fn);
    out.ms = Math.min(out.ms, p.ms);
    out.lateMs = Math.max(out.lateMs, p.lateMs);
    out.appendMs = Math.max(out.appendMs, p.appendMs);
  }
  return out;
}

const QUERIES: [string, (u: SqliteUsageStore) => Promise<unknown>][] = [
  ['overview summary (totals, 96 buckets, outcomes)', (u) => u.summary(filter)],
  ['top 10 accounts', (u) => u.top('account', filter, { limit: 10 })],
  ['top 8 networks (/24)', (u) => u.top('network', filter, { limit: 8 })],
  ['latest 12 interactions', (u) => u.interactions({ ...filter, limit: 12 })],
  ["one account's summary", (u) => u.summary({ ...filter, accountId: 'acct_42' })],
];

const baselineRows = await best(async () => db.prepare('SELECT COUNT(*) AS n FROM events WHERE ts >= ? AND ts < ?').get(filter.from, filter.to));
const idle = await probed(() => new Promise((r) => setTimeout(r, 1000)));
const results: Record<'inline' | 'worker', { first: Measure; rows: Measure[] }> = {} as never;
for (const thread of ['inline', 'worker'] as const) {
  // Each starts with no usage_rows: in-thread they live in the database file, the worker keeps
  // them in the side file beside it; the first query copies every event.
  const usage = sqliteUsageStore(db, { thread });
  // First query: every event body parsed once into the side table (one-off, chunked).
  const first = await probed(() => usage.summary(filter));
  const rows: Measure[] = [];
  for (const [, q] of QUERIES) rows.push(await best(() => q(usage)));
  await usage.close();
  results[thread] = { first, rows };
}

const f = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const x = (ms: number) => `${(ms / baselineRows.ms).toFixed(1)}x`;
console.log(`ui bench: ${N} events over 24 h, SQLite, Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
console.log(`idle main thread (1 s, no query): event-loop lateness max ${f(idle.lateMs)} ms, longest append ${f(idle.appendMs)} ms`);
console.log(`baseline: COUNT(*) over the range, in this thread: ${f(baselineRows.ms)} ms`);
console.log('');
console.log(`| query | in-thread: time | in-thread: max lateness | worker: time | worker: max lateness | worker: longest append |`);
console.log('|---|---|---|---|---|---|');
const row = (name: string, a: Measure, b: Measure) =>
  console.log(`| ${name} | ${f(a.ms)} ms (${x(a.ms)}) | ${f(a.lateMs)} ms | ${f(b.ms)} ms (${x(b.ms)}) | ${f(b.lateMs)} ms | ${f(b.appendMs)} ms |`);
row(`first query: catch-up copy of ${N} events + summary`, results.inline.first, results.worker.first);
QUERIES.forEach(([name], i) => row(`${name} (best of ${ROUNDS})`, results.inline.rows[i], results.worker.rows[i]));
console.log('');
console.log('time: ratio to the baseline in brackets; lateness: how late a 5 ms timer on the main thread fired (worst of all rounds);');
console.log(`longest append: 10 events written on the main thread's connection every 20 ms (in-thread: ${f(Math.max(results.inline.first.appendMs, ...results.inline.rows.map((r) => r.appendMs)))} ms, but there the writer simply waits for the query; see lateness)`);
db.close();
rmSync(dir, { recursive: true, force: true });
