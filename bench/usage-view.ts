/**
 * What one read of `GET /v1/warden/usage` costs the database: the per-day-and-model query
 * (`UsageStore.daily`) over a 31-day window, for one account holding a quarter of N events spread
 * over 28 days and for their organisation (all N), on a SQLite file in this thread, against a
 * baseline measured in the same run: `SELECT COUNT(*)` of the same rows (the cheapest query that
 * visits each). The first call copies the events into the dashboard's usage table (once).
 *
 *   node --import tsx bench/usage-view.ts [--events 200000] [--rounds 11]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { sqliteUsageStore } from '../src/ui/index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../src/events/index.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '11' } } });
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-usage-view-'));
const db = openSqlite(join(dir, 'events.db'));
try {
  const store = new SqliteEventStore(db);
  const T0 = Date.parse('2026-11-10T00:00:00Z');
  let batch: InteractionEvent[] = [];
  for (let i = 0; i < N; i++) {
    batch.push({
      schema: EVENT_SCHEMA, id: `01EV${String(i).padStart(22, '0')}`, ts: new Date(T0 + Math.floor(i * (28 * 86_400_000) / N)).toISOString(),
      duration_ms: 5, flavour: 'openai.chat', model: ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4'][i % 3], upstream: 'mock',
      account_id: `acct_${i % 4}`, org_id: 'org_1', key_id: `key_${i % 4}`, client: { ip: '203.0.113.5', user_agent: 'bench', country: null, asn: null },
      request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 4 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
      response: { status: 200, error_code: null, input_tokens: 50, output_tokens: 100, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 0, reasoning_chars: 0 },
      account: null, enforcement: emptyEnforcement(),
    } as InteractionEvent);
    if (batch.length === 5000) { await store.appendBatch(batch); batch = []; }
  }
  await store.appendBatch(batch);
  const usage = sqliteUsageStore(db, { thread: 'inline' });
  const window = { from: '2026-11-08T00:00:00.000Z', to: '2026-12-09T00:00:00.000Z' };
  let t = performance.now();
  await usage.daily({ ...window, accountId: 'acct_0' });
  console.log(`first read, copying ${N} events into the usage table: ${(performance.now() - t).toFixed(0)} ms`);
  const median = async (fn: () => unknown) => {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) { const s = performance.now(); await fn(); times.push(performance.now() - s); }
    return times.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
  };
  const count = db.prepare('SELECT COUNT(*) AS n FROM usage_rows WHERE account_id = ? AND ts >= ? AND ts < ?');
  const countOrg = db.prepare('SELECT COUNT(*) AS n FROM usage_rows WHERE org_id = ? AND ts >= ? AND ts < ?');
  const acct = await median(() => usage.daily({ ...window, accountId: 'acct_0' }));
  const acctBase = await median(() => count.get('acct_0', window.from, window.to));
  const org = await median(() => usage.daily({ ...window, orgId: 'org_1' }));
  const orgBase = await median(() => countOrg.get('org_1', window.from, window.to));
  console.log(`${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`account (${N / 4} events): daily ${acct.toFixed(1)} ms, COUNT(*) baseline ${acctBase.toFixed(1)} ms (x${(acct / acctBase).toFixed(1)})`);
  console.log(`organisation (${N} events): daily ${org.toFixed(1)} ms, COUNT(*) baseline ${orgBase.toFixed(1)} ms (x${(org / orgBase).toFixed(1)})`);
  await usage.close?.();
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
