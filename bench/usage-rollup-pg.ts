/**
 * What the hourly usage rollup (`event_usage_hourly`, src/store/usage-rollup.ts) costs event
 * writes on PostgreSQL, against the same writes without its triggers (dropped), in the same run:
 *
 * - **write cost**: N events appended by `PostgresEventStore.appendBatch` (1,000 per INSERT) on one
 *   connection, to a schema with the rollup and to one without it, alternately, R rounds each; the
 *   server's CPU time for that connection (its backend process, /proc/PID/stat: the triggers run
 *   there) and this process's CPU;
 * - **hot rows**: W writers (connections of their own, as W nodes), each appending batches of B
 *   events of one organisation, one account and one model in the current hour: every batch of
 *   every writer adds to the same two rollup rows (the account's and the organisation's hour).
 *   Reported: events per second of wall time (with / without, same run), and the share of the
 *   writers' samples (pg_stat_activity, every 10 ms) in which a writer waited for a lock.
 *
 * Both include folding what is left of the rollup's deltas at the end (the store folds them every
 * PG_FOLD_EVERY_MS after its writes), and check that the rollup then counts every event written.
 *
 * - **the upgrade's fill** (`--only fill`): M events written without the rollup (28 days), then the
 *   event store of this release opened on them: the fill from the stored events (after the
 *   migration, in chunks), wall time, the server's CPU, and its progress lines.
 *
 *   node --import tsx bench/usage-rollup-pg.ts [--events 100000] [--rounds 3] [--writers 4,8] [--batch 200] [--batches 100] [--only cost|hot|fill] [--fill 200000]
 *   (WARDEN_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test; the schemas are dropped afterwards)
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { openPostgres, migratePostgres, PostgresEventStore, type PgPool } from '../src/store/index.ts';
import { PG_EVENT_MIGRATIONS } from '../src/store/events.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../src/events/index.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' },
    writers: { type: 'string', default: '4,8' }, batch: { type: 'string', default: '200' }, batches: { type: 'string', default: '100' },
    only: { type: 'string' }, fill: { type: 'string', default: '200000' },
  },
});
const URL_ = process.env.WARDEN_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(values.events);
const ROUNDS = Number(values.rounds);
const WRITERS = values.writers!.split(',').map(Number);
const BATCH = Number(values.batch);
const BATCHES = Number(values.batches);
const TICK_MS = 1000 / 100; // /proc/PID/stat counts clock ticks (USER_HZ, 100 on Linux)

let nextId = 0;
function event(ts: string, i: number, accounts = 4, models = 3): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id: `01EV${String(nextId++).padStart(22, '0')}`, ts, duration_ms: 5, flavour: 'openai.chat',
    model: ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4'][i % models], upstream: 'mock', account_id: `acct_${i % accounts}`, org_id: 'org_1', key_id: `key_${i % accounts}`,
    client: { ip: '203.0.113.5', user_agent: 'bench', country: null, asn: null },
    request: { stream: false, system: null, messages: [{ role: 'user', text: `q ${i}`, chars: 4 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
    response: { status: 200, error_code: null, input_tokens: 50, output_tokens: 100, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 0, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  } as InteractionEvent;
}

/** A pool on a new schema holding the events table, with the rollup or without it (its triggers dropped). */
async function schema(admin: PgPool, name: string, rollup: boolean, max: number): Promise<{ pool: PgPool; store: PostgresEventStore }> {
  await admin.query(`CREATE SCHEMA ${name}`);
  const pool = openPostgres(`${URL_}${URL_.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}`, { max });
  const store = new PostgresEventStore(pool);
  await store.migrate();
  if (!rollup) for (const t of ['insert', 'delete', 'update']) await pool.query(`DROP TRIGGER event_usage_hourly_${t} ON events`);
  return { pool, store };
}

/** CPU ms (user + system) of a server backend process so far. */
function backendCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

const admin = openPostgres(URL_, { max: 2 });
const tag = randomBytes(4).toString('hex');
const made: string[] = [];
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
try {
  console.log(`${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}, ${(await admin.query('SHOW server_version')).rows[0].server_version}, load at start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  if (!values.only || values.only === 'cost') {
    // Write cost: one connection each, the two schemas written alternately so that the machine's load falls on both alike.
    const T0 = Date.parse('2026-11-10T00:00:00Z');
    const sides = { without: { server: 0, client: 0, wall: 0 }, with: { server: 0, client: 0, wall: 0 } };
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of ['without', 'with'] as const) {
        const name = `bench_rollup_${tag}_${side}_${round}`;
        made.push(name);
        const { pool, store } = await schema(admin, name, side === 'with', 1);
        const pid = (await pool.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
        const batches: InteractionEvent[][] = [];
        for (let start = 0; start < N; start += 5000) {
          batches.push(Array.from({ length: Math.min(5000, N - start) }, (_, k) => event(new Date(T0 + Math.floor((start + k) * (28 * 86_400_000) / N)).toISOString(), start + k)));
        }
        const s0 = backendCpu(pid);
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        for (const b of batches) await store.appendBatch(b);
        // What is left of the rollup's deltas, folded: part of what the writes cost.
        await store.foldUsageDeltas();
        const c = process.cpuUsage(c0);
        sides[side].wall += performance.now() - w0;
        sides[side].client += (c.user + c.system) / 1000;
        sides[side].server += backendCpu(pid) - s0;
        await pool.end();
      }
    }
    const w = sides.without;
    const r = sides.with;
    console.log(`write cost, ${fmt(N)} events x ${ROUNDS} rounds (1,000 per INSERT, 28 days, 4 accounts, 3 models):`);
    console.log(`  server CPU: ${fmt(w.server)} ms without the rollup, ${fmt(r.server)} ms with it: x${(r.server / w.server).toFixed(2)}`);
    console.log(`  client CPU: ${fmt(w.client)} ms without, ${fmt(r.client)} ms with: x${(r.client / w.client).toFixed(2)}`);
    console.log(`  wall: ${fmt(w.wall)} ms without (${fmt(N * ROUNDS / w.wall * 1000)} events/s), ${fmt(r.wall)} ms with (${fmt(N * ROUNDS / r.wall * 1000)} events/s): x${(r.wall / w.wall).toFixed(2)}`);
    console.log(`  load after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  }

  if (values.only === 'fill') {
    const M = Number(values.fill);
    const name = `bench_rollup_${tag}_fill`;
    made.push(name);
    await admin.query(`CREATE SCHEMA ${name}`);
    const pool = openPostgres(`${URL_}${URL_.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}`, { max: 1 });
    await migratePostgres(pool, 'events', PG_EVENT_MIGRATIONS.slice(0, 1));
    const T0 = Date.parse('2026-11-10T00:00:00Z');
    for (let start = 0; start < M; start += 1000) {
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let i = start; i < Math.min(M, start + 1000); i++) {
        const e = event(new Date(T0 + Math.floor(i * (28 * 86_400_000) / M)).toISOString(), i);
        const b = values.length;
        tuples.push(`(${Array.from({ length: 9 }, (_, k) => `$${b + k + 1}`).join(',')})`);
        values.push(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e));
      }
      await pool.query(`INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ${tuples.join(',')}`, values);
    }
    await pool.query('ANALYZE events');
    const pid = (await pool.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    const s0 = backendCpu(pid);
    const w0 = performance.now();
    await new PostgresEventStore(pool, { rollupFill: { log: (l) => console.log(`  | ${l}`), progressEveryMs: 5000 } }).migrate();
    const wall = performance.now() - w0;
    const server = backendCpu(pid) - s0;
    const rows = (await pool.query('SELECT COUNT(*) AS n FROM event_usage_hourly')).rows[0].n;
    console.log(`the upgrade's fill of ${fmt(M)} events (28 days, ${rows} rollup rows): ${fmt(wall)} ms wall, server CPU ${fmt(server)} ms (${(server / M * 1e6 / 1000).toFixed(1)} CPU-s per million events); load after ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    await pool.end();
  }

  if (!values.only || values.only === 'hot') {
    for (const writers of WRITERS) {
      const result: Record<string, { rate: number; waiting: number; samples: number; server: number; kinds: Map<string, number> }> = {};
      for (const side of ['without', 'with', 'without ', 'with '] as const) {
        const rollup = side.trim() === 'with';
        const name = `bench_rollup_${tag}_hot${writers}_${side.trim()}_${side.length}`;
        made.push(name);
        const { pool, store } = await schema(admin, name, rollup, writers);
        // One connection per writer, each its own backend, known by pid.
        const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
        const pids = await Promise.all(clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number));
        for (const c of clients) c.release();
        const now = new Date().toISOString();
        // Every writer's batches hit the same account, organisation, hour and model.
        const work = Array.from({ length: writers }, () => Array.from({ length: BATCHES }, () => Array.from({ length: BATCH }, () => event(now, 0, 1, 1))));
        let samples = 0;
        let waiting = 0;
        const kinds = result[side.trim()]?.kinds ?? new Map<string, number>();
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const { rows } = await admin.query("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = ANY($1) AND state = 'active'", [pids]);
            samples += rows.length;
            for (const r of rows) {
              if (r.wait_event_type !== 'Lock') continue;
              waiting++;
              kinds.set(r.wait_event, (kinds.get(r.wait_event) ?? 0) + 1);
            }
            await new Promise((r) => setTimeout(r, 10));
          }
        })();
        const s0 = pids.reduce((a, p) => a + backendCpu(p), 0);
        const w0 = performance.now();
        // Each writer a chain of appends on the pool (max = writers: each chain holds one connection at a time).
        await Promise.all(work.map(async (batches) => { for (const b of batches) await store.appendBatch(b); }));
        await store.foldUsageDeltas();
        const wall = performance.now() - w0;
        const server = pids.reduce((a, p) => a + backendCpu(p), 0) - s0;
        sampling = false;
        await sampler;
        const prev = result[side.trim()];
        const rate = writers * BATCHES * BATCH / wall * 1000;
        result[side.trim()] = prev
          ? { rate: (prev.rate + rate) / 2, waiting: prev.waiting + waiting, samples: prev.samples + samples, server: prev.server + server, kinds }
          : { rate, waiting, samples, server, kinds };
        if (rollup) {
          const { rows } = await pool.query("SELECT scope, requests FROM event_usage_hourly ORDER BY scope");
          const total = writers * BATCHES * BATCH;
          if (rows.length !== 2 || rows.some((r) => Number(r.requests) !== total)) throw new Error(`rollup rows ${JSON.stringify(rows)} do not count the ${total} events`);
        }
        await pool.end();
      }
      const w = result.without;
      const r = result.with;
      console.log(`hot rows, ${writers} writers x ${BATCHES} batches of ${BATCH} events, one account, organisation, hour and model (two runs each, alternated):`);
      console.log(`  events/s (wall): ${fmt(w.rate)} without the rollup, ${fmt(r.rate)} with it: x${(r.rate / w.rate).toFixed(2)}`);
      console.log(`  server CPU: ${fmt(w.server)} ms without, ${fmt(r.server)} ms with: x${(r.server / w.server).toFixed(2)}`);
      console.log(`  writers seen waiting for a lock: ${(100 * w.waiting / Math.max(1, w.samples)).toFixed(1)}% of ${w.samples} samples without, ${(100 * r.waiting / Math.max(1, r.samples)).toFixed(1)}% of ${r.samples} with`);
      const kinds = (k: Map<string, number>) => [...k].map(([e, n]) => `${e} ${n}`).join(', ') || 'none';
      console.log(`  the locks waited for (samples): without: ${kinds(w.kinds)}; with: ${kinds(r.kinds)}`);
      console.log(`  load after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    }
  }
} finally {
  for (const name of made) await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => {});
  await admin.end();
}
