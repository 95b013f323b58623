/**
 * The SQLite event writer's transaction, CPU per event row: the inserts and the usage rollup summed
 * as the writer does it (sqliteEventInserter: the batch's own rows summed from the tokens handed
 * over with them), against the SQL fold it replaced (every inserted body read back with
 * json_extract, SQLITE_FOLD_PENDING_SUM), and against the inserts alone (no rollup: the floor).
 * Batches of 16, 64 and 256 events (the recorder's batch is what arrives in `events.flush_interval_ms`:
 * 256 is about 5,000 requests/s), each variant on its own file, the variants in turn, `--rounds`
 * times, median reported. CPU of this process (the writer thread's work, run here on the main thread).
 *
 *   node --import tsx bench/event-insert.ts [--rounds 3] [--events 12800]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqlite, migrateSqlite } from '../src/store/index.ts';
import { SQLITE_EVENT_MIGRATIONS } from '../src/store/events.ts';
import { SQLITE_FOLD_PENDING_SUM, SQLITE_FOLD_PENDING_FORGET, FOLD_BACKLOG_ROWS, ROLLUP_TOKEN_COUNT, rollupTokens } from '../src/store/usage-rollup.ts';
import { eventRow } from '../src/store/event-writer.ts';
import { sqliteEventInserter, type EventRow } from '../src/store/event-insert.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, events: { type: 'string', default: '12800' } } });
const rounds = Number(values.rounds);
const total = Number(values.events);
const BATCHES = [16, 64, 256];
const VARIANTS = ['inserts alone (no rollup)', 'SQL fold (bodies read back)', 'tokens handed over (the writer now)'] as const;
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-insert-'));
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };
const results = new Map<string, number[]>();
let n = 0;
try {
  for (let round = 0; round < rounds; round++) {
    for (const [v, variant] of VARIANTS.entries()) {
      const db = openSqlite(join(dir, `${round}-${v}.db`));
      migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS);
      const insert = db.prepare('INSERT OR IGNORE INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      const fold = db.prepare(SQLITE_FOLD_PENDING_SUM);
      const forget = db.prepare(SQLITE_FOLD_PENDING_FORGET);
      const alone = db.transaction((rows: EventRow[]) => {
        for (const r of rows) insert.run(...r);
        // The pending rows the insert trigger noted, forgotten as the writer does, but not summed.
        forget.run(rows.length + FOLD_BACKLOG_ROWS);
      });
      const sqlFold = db.transaction((rows: EventRow[]) => {
        for (const r of rows) insert.run(...r);
        fold.run(rows.length + FOLD_BACKLOG_ROWS);
        forget.run(rows.length + FOLD_BACKLOG_ROWS);
      });
      const inserter = sqliteEventInserter(db);
      for (const batch of BATCHES) {
        const events = Array.from({ length: total }, () => sampleEvent(n++));
        let used = 0;
        for (let i = 0; i < total; i += batch) {
          const part = events.slice(i, i + batch);
          const t0 = cpuUs();
          // What the main thread hands the writer is counted too: the rows, and the tokens where they are handed over.
          const rows = part.map(eventRow);
          if (v === 0) alone(rows);
          else if (v === 1) sqlFold(rows);
          else {
            const tokens: number[] = new Array(part.length * ROLLUP_TOKEN_COUNT);
            part.forEach((e, j) => rollupTokens(e.response, tokens, j * ROLLUP_TOKEN_COUNT));
            inserter(rows, tokens);
          }
          used += cpuUs() - t0;
        }
        const key = `${variant}|${batch}`;
        results.set(key, [...(results.get(key) ?? []), used / total]);
      }
      const pending = db.prepare('SELECT COUNT(*) FROM event_usage_pending').pluck().get() as number;
      if (pending !== 0) throw new Error(`${variant}: ${pending} rows left pending`);
      db.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nEvent writer transaction, CPU µs per event row, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`${total} events per batch size and variant, median of ${rounds} rounds (variants in turn); load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
console.log(`| events a batch | ${VARIANTS.join(' | ')} | rollup's share, SQL fold | rollup's share, now |`);
console.log(`|---|${VARIANTS.map(() => '---|').join('')}---|---|`);
for (const batch of BATCHES) {
  const [a, f, t] = VARIANTS.map((v) => median(results.get(`${v}|${batch}`)!));
  console.log(`| ${batch} | ${a.toFixed(1)} | ${f.toFixed(1)} | ${t.toFixed(1)} (${(t / f).toFixed(2)}x the fold) | ${(f - a).toFixed(1)} | ${(t - a).toFixed(1)} |`);
}
