/**
 * One detector for several nodes (detect.mode worker/replica) over a real Redis: how long a verdict takes to reach a replica, what a replica's lookup costs against the engine's, what publishing costs.
 *
 * Run: node --import tsx bench/detect-shared.ts [--redis URL] [--accounts N] [--publish-ms MS]
 * The worker's engine holds a generated population with a hydra campaign; an operator verdict is
 * set on one account after another, and the replica (another connection, in this process) is
 * polled until it shows it. Lookups: the same account ids through the engine's `forAccount` (the
 * baseline: what a single node does) and the replica's.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DetectorEngine, buildLabelledEvents, sharedKeys, sharedRedis, redisReady, VerdictPublisher, RedisVerdictView, type PromptPool } from '../src/detect/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const url = opt('--redis', 'redis://127.0.0.1:6379');
const organic = Number(opt('--accounts', '4000'));
const publishMs = Number(opt('--publish-ms', '1000'));
const ROUNDS = 40;

const pool = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/detect/prompts.json'), 'utf8')) as PromptPool;
const { events } = buildLabelledEvents(pool, { seed: 3, days: 2, organic: { hobbyist: organic, startup: 20, enterprise: 4, batch: 4 }, campaigns: [{ kind: 'hydra', accounts: 400 }, { kind: 'agentic', accounts: 60 }] });
const engine = new DetectorEngine();
for (const ev of events) engine.ingest(ev);
engine.flush();
const ids = engine.accountIds();

const prefix = `warden:bench:${randomBytes(4).toString('hex')}:`;
const keys = sharedKeys(prefix);
const pubClient = sharedRedis(url);
await redisReady(pubClient);
const publisher = new VerdictPublisher(pubClient, keys, engine);
let t = performance.now();
const first = await publisher.publish();
const firstMs = performance.now() - t;
const view = new RedisVerdictView(sharedRedis(url), url, keys);
t = performance.now();
await view.start();
const loadMs = performance.now() - t;

// Propagation: the worker publishes on its timer; a verdict set at a random moment waits for the
// next publication, then crosses Redis to the replica.
const timer = setInterval(() => { void publisher.publish(); }, publishMs);
const delays: number[] = [];
const publishCosts: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const id = ids[(r * 7919) % ids.length];
  const level = view.forAccount(id).level === 'suspend' ? 'verify' : 'suspend';
  await new Promise((res) => setTimeout(res, Math.random() * publishMs));
  const t0 = performance.now();
  engine.setManualVerdict({ kind: 'account', id }, level, 'bench');
  while (view.forAccount(id).level !== level) await new Promise((res) => setImmediate(res));
  delays.push(performance.now() - t0);
}
clearInterval(timer);
// The cost of one publication with one change (diffing the whole state), on the worker.
for (let r = 0; r < 10; r++) {
  engine.setManualVerdict({ kind: 'account', id: ids[r] }, 'watch', 'bench');
  const t0 = performance.now();
  await publisher.publish();
  publishCosts.push(performance.now() - t0);
}

// Lookups on the request path: the engine (single node) against the replica's map.
const N = 400_000;
const lookup = (f: (id: string) => unknown) => {
  const out = new Float64Array(N);
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const id = ids[(i * 104_729) % ids.length];
    const t0 = process.hrtime.bigint();
    sink += (f(id) as { level: string }).level.length;
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return { q: (p: number) => Float64Array.from(out).sort()[Math.floor(p * (N - 1))], sink };
};
const e = lookup((id) => engine.forAccount(id));
const v = lookup((id) => view.forAccount(id));
const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.floor(p * (a.length - 1))];

console.log(`\n### One detector for several nodes (${new Date().toISOString().slice(0, 16)} UTC; ${ids.length.toLocaleString('en')} accounts, ${view.size.toLocaleString('en')} published: flagged or linked; publish every ${publishMs} ms)\n`);
console.log('| measure | value |');
console.log('|---|---|');
console.log(`| first publication (whole state) | ${first.toLocaleString('en')} entries, ${firstMs.toFixed(1)} ms |`);
console.log(`| replica start (load the hashes) | ${loadMs.toFixed(1)} ms |`);
console.log(`| verdict set on the worker -> enforced by the replica, p50 / p99 / max (${ROUNDS} verdicts) | ${q(delays, 0.5).toFixed(0)} / ${q(delays, 0.99).toFixed(0)} / ${Math.max(...delays).toFixed(0)} ms |`);
console.log(`| one publication with one change, p50 / max | ${q(publishCosts, 0.5).toFixed(1)} / ${Math.max(...publishCosts).toFixed(1)} ms |`);
console.log(`| lookup, engine.forAccount (single node, baseline) p50 / p99 | ${e.q(0.5).toFixed(2)} / ${e.q(0.99).toFixed(2)} µs |`);
console.log(`| lookup, replica forAccount p50 / p99 | ${v.q(0.5).toFixed(2)} / ${v.q(0.99).toFixed(2)} µs (${(v.q(0.99) / e.q(0.99)).toFixed(2)} of the engine's p99) |`);

await view.close();
const admin = new Redis(url);
const found = await admin.keys(`${prefix}*`);
if (found.length) await admin.del(...found);
admin.disconnect();
pubClient.disconnect();
