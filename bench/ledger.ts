/**
 * Ledger benchmark, one run, one machine:
 *   - durable appends/s through the Ledger (group commit, SQLite synchronous=FULL), acknowledged
 *     only after commit, with many concurrent producers;
 *   - baselines in the same run with the same durability: raw SQLite inserts of the same leaf
 *     bytes, (a) group-committed in the ledger's observed batch size, (b) one commit per insert;
 *   - checkpoint interval under that load (gaps between successive signed checkpoints);
 *   - proof sizes (must be <= 32 * ceil(log2 N) bytes) and proof generation time;
 *   - whole-log verification time.
 *
 *   node --import tsx bench/ledger.ts [--entries 30000] [--producers 512]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/store/index.ts';
import { Ledger, SqliteLedgerStorage, generateSigner, prepareInteraction, verifyLedger, consistencyProof, inclusionProof } from '../src/ledger/index.ts';
import { sampleEvent } from '../src/ledger/fixtures.ts';
import { machine, percentile } from './lib.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '30000' }, producers: { type: 'string', default: '512' } } });
const N = Number(values.entries);
const producers = Number(values.producers);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-ledger-'));
const origin = 'bench.warden/ledger';

// Leaves are prepared once so both the ledger and the baselines write the same bytes.
const events = Array.from({ length: N }, (_, i) => sampleEvent(i));
const leafBytes = events.slice(0, 2000).map((e) => prepareInteraction(e).leaf);

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

// --- the ledger under load ---
const signer = generateSigner(origin);
const cpTimes: number[] = [];
const ledger = await Ledger.open({
  storage: SqliteLedgerStorage.open(join(dir, 'ledger.db')), origin, signers: [signer], checkpointIntervalMs: 500, batchMax: 256,
  onCheckpoint: () => cpTimes.push(performance.now()),
});
// Event-loop responsiveness while the ledger is loaded: how late does a 10 ms timer fire?
const lateness: number[] = [];
let expected = performance.now() + 10;
const probe = setInterval(() => { const now = performance.now(); lateness.push(now - expected); expected = now + 10; }, 10);
let next = 0;
const ackLatency: number[] = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: producers }, async () => {
  while (next < N) {
    const e = events[next++];
    const s = performance.now();
    await ledger.appendInteraction(e);
    ackLatency.push(performance.now() - s);
  }
}));
const elapsed = (performance.now() - t0) / 1000;
const appendRate = N / elapsed;
clearInterval(probe);
lateness.sort((a, b) => a - b);
await new Promise((r) => setTimeout(r, 600));
const meanBatch = ledger.stats.appended / ledger.stats.batches;
const gaps = cpTimes.slice(1).map((t, i) => t - cpTimes[i]).filter((g) => g > 0).sort((a, b) => a - b);
const cpDuringLoad = cpTimes.filter((t) => t - t0 <= elapsed * 1000);

// --- baselines with the same durability ---
const rawGroup = rawBaseline(Math.max(1, Math.round(meanBatch)), N);
const rawSingle = rawBaseline(1, Math.min(N, 3000));

// --- proofs ---
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

ackLatency.sort((a, b) => a - b);
console.log(`\nLedger, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`${N} interaction entries, ${producers} concurrent producers, SQLite WAL synchronous=FULL\n`);
console.log('| measure | value |');
console.log('|---|---|');
console.log(`| durable appends/s (ledger, acknowledged after commit) | ${appendRate.toFixed(0)} |`);
console.log(`| raw SQLite inserts/s, same leaves, same durability, group commit of ${Math.round(meanBatch)} | ${rawGroup.toFixed(0)} |`);
console.log(`| raw SQLite inserts/s, one commit per insert | ${rawSingle.toFixed(0)} |`);
console.log(`| ledger / raw group-commit | ${(appendRate / rawGroup).toFixed(2)} |`);
console.log(`| ledger / raw one-commit-per-insert | ${(appendRate / rawSingle).toFixed(1)} |`);
console.log(`| append ack latency p50 / p99 (ms, ${producers} in flight) | ${percentile(ackLatency, 50).toFixed(1)} / ${percentile(ackLatency, 99).toFixed(1)} |`);
console.log(`| mean group-commit batch | ${meanBatch.toFixed(0)} |`);
console.log(`| event-loop lateness of a 10 ms timer during the load p50 / p99 (ms) | ${percentile(lateness, 50).toFixed(1)} / ${percentile(lateness, 99).toFixed(1)} |`);
console.log(`| checkpoints signed during the load (${elapsed.toFixed(1)} s) | ${cpDuringLoad.length} |`);
console.log(`| checkpoint interval under load p50 / max (ms; configured 500) | ${percentile(gaps, 50).toFixed(0)} / ${(gaps.at(-1) ?? NaN).toFixed(0)} |`);
console.log(`| inclusion proof max size (bytes) / bound 32*ceil(log2 ${size}) | ${maxIncl} / ${bound} |`);
console.log(`| consistency proof max size (bytes) | ${maxCons} |`);
console.log(`| inclusion proof generation p50 / p99 (ms) | ${percentile(proofTimes, 50).toFixed(2)} / ${percentile(proofTimes, 99).toFixed(2)} |`);
console.log(`| inclusion bundle JSON (bytes, incl. leaf and signed checkpoint) | ${JSON.stringify(bundle).length} |`);
console.log(`| whole-log verify (s) / ok | ${verifySeconds.toFixed(2)} / ${report.ok} |`);
console.log('\n' + JSON.stringify({ N, producers, appendRate, rawGroup, rawSingle, meanBatch, gaps: { p50: percentile(gaps, 50), max: gaps.at(-1) }, maxIncl, bound, maxCons, verifySeconds, ok: report.ok }));
process.exit(report.ok && maxIncl <= bound ? 0 : 1);
