/**
 * `warden ledger reconcile` speed and memory: N interactions recorded in the event store and the
 * ledger (SQLite files, or PostgreSQL with --postgres URL), then the whole store reconciled
 * against the leaves, once clean and once with an edited, a deleted and an inserted row. Reports
 * events per second and the heap and RSS growth over the run (the reads are paged: memory should
 * not grow with N).
 *
 *   node --import tsx bench/ledger-reconcile.ts [--events 100000] [--postgres URL]
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres, openSqlite, PostgresEventRows, PostgresEventStore, SqliteEventRows, SqliteEventStore, type EventRowReader, type EventStore } from '../src/store/index.ts';
import { Ledger, PostgresLedgerStorage, SqliteLedgerStorage, generateSigner, type LedgerStorage } from '../src/ledger/index.ts';
import { reconcileLedger } from '../src/ledger/reconcile.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine } from './lib.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, postgres: { type: 'string' } } });
const N = Number(values.events);
const origin = 'bench.warden/ledger';
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-reconcile-'));
const schema = `bench_reconcile_${randomBytes(4).toString('hex')}`;
const pg = values.postgres ? openPostgres(`${values.postgres}${values.postgres.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, { max: 4 }) : null;

async function main() {
  let events: EventStore;
  let rows: EventRowReader;
  let storage: LedgerStorage;
  let tamper: { edit(id: string): Promise<void>; remove(id: string): Promise<void> };
  if (pg) {
    await pg.query(`CREATE SCHEMA ${schema}`);
    const store = new PostgresEventStore(pg);
    await store.migrate();
    events = store;
    rows = new PostgresEventRows(pg);
    storage = new PostgresLedgerStorage(pg, schema);
    tamper = {
      edit: async (id) => { await pg.query("UPDATE events SET body = jsonb_set(body, '{response,output_tokens}', '1') WHERE id = $1", [id]); },
      remove: async (id) => { await pg.query('DELETE FROM events WHERE id = $1', [id]); },
    };
  } else {
    const db = openSqlite(join(dir, 'warden.db'));
    events = new SqliteEventStore(db);
    rows = new SqliteEventRows(db);
    storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    tamper = {
      edit: async (id) => { db.prepare("UPDATE events SET body = json_set(body, '$.response.output_tokens', 1) WHERE id = ?").run(id); },
      remove: async (id) => { db.prepare('DELETE FROM events WHERE id = ?').run(id); },
    };
  }
  const t0 = performance.now();
  const ledger = await Ledger.open({ storage, origin, signers: [generateSigner(origin)], checkpointIntervalMs: 60_000, batchMax: 2048, maxQueue: 200_000 });
  const ids: string[] = [];
  for (let i = 0; i < N; i += 2000) {
    const batch = Array.from({ length: Math.min(2000, N - i) }, (_, k) => sampleEvent(i + k));
    await events.appendBatch(batch);
    await Promise.all(batch.map((e) => ledger.appendInteraction(e)));
    for (const e of batch) ids.push(e.id);
  }
  await ledger.checkpoint();
  const fillS = (performance.now() - t0) / 1000;
  process.stderr.write(`filled in ${fillS.toFixed(1)} s\n`);

  const measure = async () => {
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let peakHeap = heap0;
    // Sampled at every page the reconciliation reads (a timer would mostly wait for it).
    const sampler = setInterval(() => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); }, 5);
    const sampled: EventRowReader = { ...rows, rows: (ids) => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); return rows.rows(ids); }, idPage: rows.idPage.bind(rows), latestTs: rows.latestTs.bind(rows), close: rows.close.bind(rows) };
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    const report = await reconcileLedger(ledger.storage, sampled, { lagMs: 0 });
    const cpu = process.cpuUsage(cpu0);
    const s = (performance.now() - t) / 1000;
    clearInterval(sampler);
    return { report, s, cpuS: (cpu.user + cpu.system) / 1e6, heapGrowthMb: (peakHeap - heap0) / 1e6, rssMb: process.memoryUsage().rss / 1e6 };
  };
  const clean = await measure();
  await tamper.edit(ids[3]);
  await tamper.remove(ids[7]);
  await events.appendBatch([sampleEvent(N / 2)]);
  const dirty = await measure();
  await ledger.close();

  console.log(`\nLedger reconcile, ${new Date().toISOString().slice(0, 10)}, ${machine()}, ${pg ? 'PostgreSQL' : 'SQLite'}`);
  console.log(`${N} interactions in the event store and the ledger (filled in ${fillS.toFixed(1)} s)\n`);
  console.log('| run | wall time | CPU time | events/s (wall) | events per CPU second | peak heap above the start | RSS after | result |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, m] of [['clean store', clean], ['1 edited, 1 deleted, 1 inserted', dirty]] as const) {
    const r = m.report;
    console.log(`| ${name} | ${m.s.toFixed(2)} s | ${m.cpuS.toFixed(2)} s | ${Math.round(N / m.s).toLocaleString('en-US')} | ${Math.round(N / m.cpuS).toLocaleString('en-US')} | ${m.heapGrowthMb.toFixed(0)} MB | ${m.rssMb.toFixed(0)} MB | ${r.ok ? 'ok' : `${r.altered.count} altered, ${r.missing.count} missing, ${r.unrecorded.count} without a leaf`}, ${r.matched} matched |`);
  }
}

try {
  await main();
} finally {
  if (pg) { await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {}); await pg.end(); }
  rmSync(dir, { recursive: true, force: true });
}
