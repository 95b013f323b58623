/**
 * Ledger benchmark, one run, one machine:
 *   - durable appends/s through the Ledger (group commit, SQLite synchronous=FULL), acknowledged
 *     only after commit, with many concurrent producers; the writer in its worker thread (the
 *     default) and, for comparison, in the main thread (the previous design);
 *   - the main thread's event-loop delay during that load (perf_hooks.monitorEventLoopDelay):
 *     what every other request on the gateway would wait;
 *   - baselines in the same run with the same durability: raw SQLite inserts of the same leaf
 *     bytes, (a) group-committed in the ledger's observed batch size, (b) one commit per insert;
 *   - checkpoint interval under load (gaps between successive signed checkpoints);
 *   - proof sizes (must be <= 32 * ceil(log2 N) bytes) and proof generation time;
 *   - whole-log verification time.
 *
 *   node --import tsx bench/ledger.ts [--entries 30000] [--producers 512]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openSqlite } from '../src/store/index.ts';
import { Ledger, SqliteLedgerStorage, generateSigner, prepareInteraction, verifyLedger, consistencyProof, inclusionProof } from '../src/ledger/index.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine, percentile } from './lib.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '30000' }, producers: { type: 'string', default: '512' } } });
const N = Number(values.entries);
const producers = Number(values.producers);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ledger-'));
const origin = 'bench.warden/ledger';
const signer = generateSigner(origin);

// Leaves are prepared once so the baselines write the same bytes as the ledger.
const leafBytes = Array.from({ length: 2000 }, (_, i) => prepareInteraction(sampleEvent(i)).leaf);

function rawBaseline(batch: number, count: number): number {
  const db = openSqlite(join(dir, `raw-${batch}.db`), { durability: 'full' });
  db.exec('CREATE TABLE raw (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, leaf BLOB NOT NULL)');
  const ins = db.prepare('INSERT INTO raw (idx, id, leaf) VALUES (?, ?, ?)');
  const tx = db.transaction((from: number, to: number) => { for (let i = from; i < to; i++) ins.run(i, `id${i}`, leafBytes[i % leafBytes.length]); });
  const t0 = performance.now();
  for (let i = 0; i < count; i += batch) tx(i, Math.min(count, i + batch));
  const rate = count / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

interface Phase {
  ledger: Ledger;
  rate: number;
  seconds: number;
  ack: number[];
  eld: { p50: number; p99: number; max: number };
  meanBatch: number;
  gaps: number[];
  checkpointsDuringLoad: number;
}

/** Closed loop: `producers` callers each append and wait for the acknowledgement, N entries in all. */
async function loadPhase(writer: 'worker' | 'inline', file: string): Promise<Phase> {
  const cpTimes: number[] = [];
  const ledger = await Ledger.open({
    storage: SqliteLedgerStorage.open(join(dir, file)), origin, signers: [signer], checkpointIntervalMs: 500, batchMax: 256, writer,
    onCheckpoint: () => cpTimes.push(performance.now()),
  });
  // Warm-up (not measured): JIT in whichever thread runs the writer, first pages of the file.
  await Promise.all(Array.from({ length: 3000 }, (_, i) => ledger.appendInteraction(sampleEvent(N + i))));
  cpTimes.length = 0;
  const stats0 = { ...ledger.stats };
  const events = Array.from({ length: N }, (_, i) => sampleEvent(i));
  // The histogram records each sampling interval as it was observed (idle reads ~1 ms at a 1 ms
  // resolution): the delay is that minus the resolution.
  const eld = monitorEventLoopDelay({ resolution: 1 });
  let next = 0;
  const ack: number[] = [];
  eld.enable();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: producers }, async () => {
    while (next < N) {
      const e = events[next++];
      const s = performance.now();
      await ledger.appendInteraction(e);
      ack.push(performance.now() - s);
    }
  }));
  const elapsed = performance.now() - t0;
  eld.disable();
  ack.sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 600));
  const gaps = cpTimes.slice(1).map((t, i) => t - cpTimes[i]).filter((g) => g > 0).sort((a, b) => a - b);
  return {
    ledger, rate: N / (elapsed / 1000), seconds: elapsed / 1000, ack,
    eld: { p50: Math.max(0, eld.percentile(50) / 1e6 - 1), p99: Math.max(0, eld.percentile(99) / 1e6 - 1), max: Math.max(0, eld.max / 1e6 - 1) },
    meanBatch: (ledger.stats.appended - stats0.appended) / (ledger.stats.batches - stats0.batches),
    gaps, checkpointsDuringLoad: cpTimes.filter((t) => t - t0 <= elapsed).length,
  };
}

const worker = await loadPhase('worker', 'ledger-worker.db');
const inline = await loadPhase('inline', 'ledger-inline.db');
await inline.ledger.close();

// --- baselines with the same durability ---
const rawGroup = rawBaseline(Math.max(1, Math.round(worker.meanBatch)), N);
const rawSingle = rawBaseline(1, Math.min(N, 3000));

// --- proofs (on the worker-written log, read from the main thread) ---
const ledger = worker.ledger;
const cp = await ledger.checkpoint();
const size = cp.size;
const bound = 32 * Math.ceil(Math.log2(size));
let maxIncl = 0;
let maxCons = 0;
const proofTimes: number[] = [];
for (let k = 0; k < 300; k++) {
  const idx = Math.floor(Math.random() * size);
  const s = performance.now();
  const p = await inclusionProof(ledger.storage, idx, size);
  proofTimes.push(performance.now() - s);
  maxIncl = Math.max(maxIncl, 32 * p.length);
  const old = 1 + Math.floor(Math.random() * (size - 1));
  maxCons = Math.max(maxCons, 32 * (await consistencyProof(ledger.storage, old, size)).length);
}
proofTimes.sort((a, b) => a - b);
const bundle = await ledger.proveInclusion(0);

// --- whole-log verification ---
const v0 = performance.now();
const report = await verifyLedger(ledger.storage, { origin, verifiers: ledger.verifiers });
const verifySeconds = (performance.now() - v0) / 1000;
await ledger.close();
rmSync(dir, { recursive: true, force: true });

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const gapText = (p: Phase) => `${f0(percentile(p.gaps, 50))} / ${f0(p.gaps.at(-1) ?? NaN)}`;
console.log(`\nLedger, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`${N} interaction entries (after 3000 warm-up), ${producers} concurrent producers, SQLite WAL synchronous=FULL, batch_max 256, checkpoint interval 500 ms\n`);
console.log('| measure | writer thread (default) | writer on main thread |');
console.log('|---|---|---|');
console.log(`| durable appends/s (acknowledged after commit) | ${f0(worker.rate)} | ${f0(inline.rate)} |`);
console.log(`| main event-loop delay during the load p50 / p99 / max (ms) | ${f1(worker.eld.p50)} / ${f1(worker.eld.p99)} / ${f1(worker.eld.max)} | ${f1(inline.eld.p50)} / ${f1(inline.eld.p99)} / ${f1(inline.eld.max)} |`);
console.log(`| append ack latency p50 / p99 (ms, ${producers} in flight) | ${f1(percentile(worker.ack, 50))} / ${f1(percentile(worker.ack, 99))} | ${f1(percentile(inline.ack, 50))} / ${f1(percentile(inline.ack, 99))} |`);
console.log(`| mean group-commit batch | ${f0(worker.meanBatch)} | ${f0(inline.meanBatch)} |`);
console.log(`| checkpoints signed during the load | ${worker.checkpointsDuringLoad} in ${f1(worker.seconds)} s | ${inline.checkpointsDuringLoad} in ${f1(inline.seconds)} s |`);
console.log(`| checkpoint interval under load p50 / max (ms) | ${gapText(worker)} | ${gapText(inline)} |`);
console.log('\n| baseline (same run, same leaves, same durability) | value |');
console.log('|---|---|');
console.log(`| raw SQLite inserts/s, group commit of ${Math.round(worker.meanBatch)} | ${f0(rawGroup)} |`);
console.log(`| raw SQLite inserts/s, one commit per insert | ${f0(rawSingle)} |`);
console.log(`| ledger (writer thread) / raw group commit | ${(worker.rate / rawGroup).toFixed(2)} |`);
console.log(`| ledger (writer thread) / raw one commit per insert | ${(worker.rate / rawSingle).toFixed(1)}x |`);
console.log('\n| proofs and verification | value |');
console.log('|---|---|');
console.log(`| inclusion proof max size (bytes) / bound 32*ceil(log2 ${size}) | ${maxIncl} / ${bound} |`);
console.log(`| consistency proof max size (bytes) | ${maxCons} |`);
console.log(`| inclusion proof generation p50 / p99 (ms) | ${percentile(proofTimes, 50).toFixed(2)} / ${percentile(proofTimes, 99).toFixed(2)} |`);
console.log(`| inclusion bundle JSON (bytes, incl. leaf and signed checkpoint) | ${JSON.stringify(bundle).length} |`);
console.log(`| whole-log verify (s) / ok | ${verifySeconds.toFixed(2)} / ${report.ok} |`);
const summary = (p: Phase) => ({ rate: p.rate, eld: p.eld, ack: { p50: percentile(p.ack, 50), p99: percentile(p.ack, 99) }, meanBatch: p.meanBatch, gaps: { p50: percentile(p.gaps, 50), max: p.gaps.at(-1) }, checkpointsDuringLoad: p.checkpointsDuringLoad, seconds: p.seconds });
console.log('\n' + JSON.stringify({ N, producers, worker: summary(worker), inline: summary(inline), rawGroup, rawSingle, maxIncl, bound, maxCons, verifySeconds, ok: report.ok }));
process.exit(report.ok && maxIncl <= bound ? 0 : 1);
