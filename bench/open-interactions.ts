/**
 * What noting streams as open interactions costs the SQLite event writer (src/store/open-interactions.ts),
 * CPU per streamed event: the batch's events as the writer inserts them (the floor: no open
 * records, as before), against the same events each of whose open record was written in an earlier
 * batch and is removed with it (the record's JSON made on the main thread, its insert and its
 * delete in the writer's transaction). And one checkpoint round of 256 streams under way, each
 * 2,000 characters into its answer with 500 sent since the previous checkpoint (about 5 s of a
 * fast model): the tokens each has sent (the meter's `progress()`, which counts the new text only),
 * and their rows updated in one transaction, CPU per stream and round. Each variant
 * on its own file, in turn, `--rounds` times, median reported. CPU of this process (the writer
 * thread's work run here on the main thread, as bench/event-insert.ts does).
 *
 *   node --import tsx bench/open-interactions.ts [--rounds 5] [--events 12800] [--batch 64]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqlite, migrateSqlite } from '../src/store/index.ts';
import { SQLITE_EVENT_MIGRATIONS } from '../src/store/events.ts';
import { ROLLUP_TOKEN_COUNT, rollupTokens } from '../src/store/usage-rollup.ts';
import { eventRow } from '../src/store/event-writer.ts';
import { sqliteEventInserter } from '../src/store/event-insert.ts';
import { openBatch, type OpenedInteraction } from '../src/store/open-interactions.ts';
import { AnswerMeter } from '../src/gateway/usage.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, events: { type: 'string', default: '12800' }, batch: { type: 'string', default: '64' } } });
const rounds = Number(values.rounds);
const total = Number(values.events);
const batch = Number(values.batch);
const STREAMS = 256;
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-open-'));
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };
const floor: number[] = [];
const withOpen: number[] = [];
const checkpoint: number[] = [];
const answer = 'The tide came in slowly over the flats, and the birds rose from the water in a long grey line. '.repeat(30).slice(0, 2500);
/** A stream's meter, `chars` of the answer in, 50 characters a chunk. */
const feed = (m: AnswerMeter, from: number, to: number) => {
  for (let i = from; i < to; i += 50) m.observeEvent({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: answer.slice(i, Math.min(i + 50, to)) }, finish_reason: null }] });
};
let n = 0;
try {
  for (let round = 0; round < rounds; round++) {
    for (const variant of [0, 1]) {
      const db = openSqlite(join(dir, `${round}-${variant}.db`));
      migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS);
      const inserter = sqliteEventInserter(db);
      const events = Array.from({ length: total }, () => sampleEvent(n++, {}));
      for (const e of events) e.request.stream = true;
      let used = 0;
      for (let i = 0; i < total; i += batch) {
        const part = events.slice(i, i + batch);
        const t0 = cpuUs();
        if (variant === 1) {
          // The streams began: their records, made and written with an earlier batch.
          const opened: OpenedInteraction[] = part.map((e) => ({ id: e.id, node: 'n1', ts: e.ts, input_tokens: null, event: { ...e, response: { ...e.response, output_tokens: 0 } } }));
          inserter([], [], openBatch([], { opened, progress: [] }));
        }
        const rows = part.map(eventRow);
        const tokens: number[] = new Array(part.length * ROLLUP_TOKEN_COUNT);
        part.forEach((e, j) => rollupTokens(e.response, tokens, j * ROLLUP_TOKEN_COUNT));
        // The floor's events are streamed too: their (absent) records are looked up and removed as the writer does now.
        inserter(rows, tokens, variant === 1 ? openBatch(part) : undefined);
        used += cpuUs() - t0;
      }
      (variant === 0 ? floor : withOpen).push(used / total);
      if (variant === 1) {
        const left = db.prepare('SELECT COUNT(*) FROM open_interactions').pluck().get() as number;
        if (left !== 0) throw new Error(`${left} open records left`);
        // A checkpoint round: STREAMS streams under way, each with its answer so far.
        const live = Array.from({ length: STREAMS }, () => sampleEvent(n++));
        inserter([], [], openBatch([], { opened: live.map((e) => ({ id: e.id, node: 'n1', ts: e.ts, input_tokens: null, event: e })), progress: [] }));
        const meters = live.map(() => { const m = new AnswerMeter('openai.chat'); feed(m, 0, 2000); m.progress(); feed(m, 2000, 2500); return m; });
        const t0 = cpuUs();
        const at = new Date().toISOString();
        const progress = live.map((e, j) => ({ id: e.id, at, ...meters[j].progress(), input_tokens: 30 }));
        inserter([], [], openBatch([], { opened: [], progress }));
        checkpoint.push((cpuUs() - t0) / STREAMS);
      }
      db.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nOpen interactions in the SQLite event writer, CPU µs, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`${total} streamed events in batches of ${batch}, median of ${rounds} rounds (variants in turn); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const f = median(floor);
const o = median(withOpen);
console.log('| per streamed event: events only (floor) | with its open record written, then removed with the event | added | ratio |');
console.log('|---|---|---|---|');
console.log(`| ${f.toFixed(1)} | ${o.toFixed(1)} | +${(o - f).toFixed(1)} | ${(o / f).toFixed(2)}x |`);
console.log(`\nOne checkpoint round, per stream under way (2,500 characters into its answer, 500 of them new; its row updated; ${STREAMS} streams in one transaction): ${median(checkpoint).toFixed(1)} µs`);
