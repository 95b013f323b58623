/**
 * What one read of `GET /v1/warden/usage` costs the database: the per-day-and-model query
 * (`UsageStore.daily`) over a 31-day window, for one account holding a quarter of N events spread
 * over 28 days and for their organisation (all N), on a SQLite file in this thread (CPU time,
 * median), against a baseline measured in the same run: `SELECT COUNT(*)` of the same rows in the
 * dashboard's `usage_rows` (the cheapest query that visits each). Also, in the same run:
 *
 * - the previous computation, the same grouping over `usage_rows` (as `daily` read it before the
 *   hourly rollup), for the before/after ratio;
 * - what the rollup costs the writer: N events appended in batches of 5,000 to a file with the
 *   rollup's triggers and to one without them (dropped), CPU time of this thread;
 * - with --migrate M: the upgrade of a file holding M events written without the rollup (the
 *   migration, then the fill from the stored events in chunks), wall time and CPU.
 *
 *   node --import tsx bench/usage-view.ts [--events 200000] [--rounds 11] [--migrate 1000000]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, migrateSqlite, SqliteEventStore, type SqliteDb } from '../src/store/index.ts';
import { SQLITE_EVENT_MIGRATIONS } from '../src/store/events.ts';
import { sqliteUsageStore } from '../src/ui/index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../src/events/index.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '11' }, migrate: { type: 'string' } } });
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const T0 = Date.parse('2026-11-10T00:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-usage-view-'));

function event(i: number, n: number): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id: `01EV${String(i).padStart(22, '0')}`, ts: new Date(T0 + Math.floor(i * (28 * 86_400_000) / n)).toISOString(),
    duration_ms: 5, flavour: 'openai.chat', model: ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4'][i % 3], upstream: 'mock',
    account_id: `acct_${i % 4}`, org_id: 'org_1', key_id: `key_${i % 4}`, client: { ip: '203.0.113.5', user_agent: 'bench', country: null, asn: null },
    request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 4 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
    response: { status: 200, error_code: null, input_tokens: 50, output_tokens: 100, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 0, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  } as InteractionEvent;
}

/** Append n events in batches of 5,000; CPU ms of this thread spent in appendBatch (the inline writer is synchronous). */
async function write(store: SqliteEventStore, n: number): Promise<number> {
  let cpu = 0;
  for (let start = 0; start < n; start += 5000) {
    const batch: InteractionEvent[] = [];
    for (let i = start; i < Math.min(n, start + 5000); i++) batch.push(event(i, n));
    const c = process.cpuUsage();
    await store.appendBatch(batch);
    const d = process.cpuUsage(c);
    cpu += (d.user + d.system) / 1000;
  }
  return cpu;
}

/** Median CPU ms of this thread per call (the inline store's queries run synchronously here; the machine's load does not inflate it as it does wall time). */
const median = async (fn: () => unknown) => {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) { const c = process.cpuUsage(); await fn(); const d = process.cpuUsage(c); times.push((d.user + d.system) / 1000); }
  return times.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
};

async function upgrade(m: number): Promise<void> {
  const db = openSqlite(join(dir, 'upgrade.db'));
  try {
    migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS.slice(0, 1));
    const insert = db.prepare('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const many = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) { const e = event(i, m); insert.run(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e)); }
    });
    for (let i = 0; i < m; i += 20_000) many(i, Math.min(m, i + 20_000));
    const t = performance.now();
    const c = process.cpuUsage();
    new SqliteEventStore(db);
    const cpu = process.cpuUsage(c);
    const rows = (db.prepare('SELECT COUNT(*) AS n FROM event_usage_hourly').get() as { n: number }).n;
    console.log(`upgrade of a file holding ${m} events (the migration and the fill of the rollup, ${rows} rows): ${(performance.now() - t).toFixed(0)} ms, CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
  } finally {
    db.close();
  }
}

let db: SqliteDb | null = null;
try {
  if (values.migrate) await upgrade(Number(values.migrate));
  // The writer's cost: the same events to a file without the triggers, then to the file the reads use.
  const plainDb = openSqlite(join(dir, 'plain.db'));
  const plain = new SqliteEventStore(plainDb);
  for (const t of ['insert', 'delete', 'update']) plainDb.exec(`DROP TRIGGER event_usage_hourly_${t}`);
  const plainCpu = await write(plain, N);
  plainDb.close();
  db = openSqlite(join(dir, 'events.db'));
  const store = new SqliteEventStore(db);
  const rollupCpu = await write(store, N);
  console.log(`writing ${N} events in batches of 5,000, CPU: ${plainCpu.toFixed(0)} ms without the rollup (${(N / plainCpu * 1000).toFixed(0)} events/s), ${rollupCpu.toFixed(0)} ms with it (${(N / rollupCpu * 1000).toFixed(0)} events/s): x${(rollupCpu / plainCpu).toFixed(2)}`);

  const usage = sqliteUsageStore(db, { thread: 'inline' });
  const window = { from: '2026-11-08T00:00:00.000Z', to: '2026-12-09T00:00:00.000Z' };
  let t = performance.now();
  await usage.daily({ ...window, accountId: 'acct_0' });
  console.log(`first read: ${(performance.now() - t).toFixed(0)} ms`);
  t = performance.now();
  await usage.summary({ ...window, accountId: 'acct_0' });
  console.log(`the dashboard's first read, copying ${N} events into usage_rows (the baseline's table): ${(performance.now() - t).toFixed(0)} ms`);
  const counters = `COUNT(*) AS requests, SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS ok, SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited,
    SUM(CASE WHEN status = 403 THEN 1 ELSE 0 END) AS denied, SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS unauthenticated,
    SUM(CASE WHEN status >= 400 AND status < 500 AND status NOT IN (401, 403, 429) THEN 1 ELSE 0 END) AS client_errors,
    SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS server_errors, SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens)`;
  // The previous computation of `daily`, as it ran before the rollup.
  const previous = (col: string) => db!.prepare(`SELECT substr(ts, 1, 10) AS d, model AS m, ${counters} FROM usage_rows WHERE ts >= ? AND ts < ? AND ${col} = ? GROUP BY d, m ORDER BY d DESC, requests DESC, m LIMIT 5000`);
  const count = db.prepare('SELECT COUNT(*) AS n FROM usage_rows WHERE account_id = ? AND ts >= ? AND ts < ?');
  const countOrg = db.prepare('SELECT COUNT(*) AS n FROM usage_rows WHERE org_id = ? AND ts >= ? AND ts < ?');
  const rows = [
    { who: `account (${N / 4} events)`, now: () => usage.daily({ ...window, accountId: 'acct_0' }), before: () => previous('account_id').all(window.from, window.to, 'acct_0'), base: () => count.get('acct_0', window.from, window.to) },
    { who: `organisation (${N} events)`, now: () => usage.daily({ ...window, orgId: 'org_1' }), before: () => previous('org_id').all(window.from, window.to, 'org_1'), base: () => countOrg.get('org_1', window.from, window.to) },
    // A window ending now (not on the hour): the part-hour at its end is read from the events.
    { who: `account, window ending mid-hour (${N / 4} events)`, now: () => usage.daily({ from: window.from, to: '2026-12-07T14:37:12.345Z', accountId: 'acct_0' }), before: () => previous('account_id').all(window.from, '2026-12-07T14:37:12.345Z', 'acct_0'), base: () => count.get('acct_0', window.from, '2026-12-07T14:37:12.345Z') },
  ];
  console.log(`${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const r of rows) {
    const now = await median(r.now);
    const before = await median(r.before);
    const base = await median(r.base);
    console.log(`${r.who}, CPU: daily ${now.toFixed(1)} ms (x${(now / base).toFixed(2)}), previous query over usage_rows ${before.toFixed(1)} ms (x${(before / base).toFixed(1)}), COUNT(*) baseline ${base.toFixed(1)} ms`);
  }
  await usage.close?.();
} finally {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
}
