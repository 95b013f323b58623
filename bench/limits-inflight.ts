/**
 * One memory-backend decision and its settlement with requests already in flight on the same
 * subjects: five scopes (key, account, org, IP, /24), each with a request rate, a token rate and a
 * concurrency meter (15 meters), and `--inflight` leases held on each concurrency meter, the
 * oldest settled as each new one is taken (a steady state). CPU time per decide + settle, median
 * of `--rounds` rounds; `--base DIR` measures another checkout's src/limits too (a git worktree of
 * an earlier commit), the trees in alternating rounds.
 *
 *   node --import tsx bench/limits-inflight.ts [--inflight 1,32,256,1024] [--n 50000] [--rounds 5] [--base DIR]
 */
import { parseArgs } from 'node:util';
import { MemoryBackend } from '../src/limits/memory.ts';
import type { MeterOp, SettleOp } from '../src/limits/meters.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { inflight: { type: 'string', default: '1,32,256,1024' }, n: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '5' }, base: { type: 'string' } } });
const N = Number(values.n);
const rounds = Number(values.rounds);
type Backend = Pick<MemoryBackend, 'decide' | 'settle'>;
const trees: Record<string, new () => Backend> = { this: MemoryBackend };
if (values.base) trees.base = (await import(`${values.base.replace(/\/$/, '')}/src/limits/memory.ts`)).MemoryBackend;

const scopes = ['key:k1', 'account:a1', 'org:o1', 'ip:203.0.113.7', 'subnet:203.0.113.0/24'];
const ops: MeterOp[] = scopes.flatMap((s): MeterOp[] => [
  { type: 'gcra', key: `rpm:${s}`, intervalUs: 60, toleranceUs: 1e12, cost: 1 },
  { type: 'gcra', key: `tpm:${s}`, intervalUs: 1, toleranceUs: 1e15, cost: 120 },
  { type: 'concurrency', key: `conc:${s}`, limit: 1e6 },
]);
const settle: SettleOp[] = scopes.map((s) => ({ type: 'concurrency', key: `conc:${s}` }));
const TTL_US = 30_000_000;

/** CPU µs per decide + settle at `inflight` leases held, after as many rounds of warm-up. */
function measure(Make: new () => Backend, inflight: number): number {
  const b = new Make();
  const held: string[] = [];
  let id = 0;
  for (let i = 0; i < inflight; i++) { const l = `l${id++}`; b.decide(ops, l, TTL_US); held.push(l); }
  let head = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const l = `l${id++}`;
      if (!b.decide(ops, l, TTL_US).allowed) throw new Error('refused');
      held.push(l);
      b.settle(settle, held[head++], undefined);
    }
  };
  run(N / 5);
  const c0 = process.cpuUsage();
  run(N);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

console.log(`Memory backend: decide + settle, 15 meters over 5 scopes, ${machine()}, ${new Date().toISOString().slice(0, 16)}Z`);
console.log(`median of ${rounds} rounds of ${N}${values.base ? ', trees alternating' : ''}\n`);
console.log(`| in flight per subject | ${Object.keys(trees).map((t) => `${t}, µs`).join(' | ')} |${values.base ? ' this / base |' : ''}`);
console.log(`|---|${Object.keys(trees).map(() => '---|').join('')}${values.base ? '---|' : ''}`);
for (const inflight of values.inflight.split(',').map(Number)) {
  const us: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) for (const [name, Make] of Object.entries(trees)) (us[name] ??= []).push(measure(Make, inflight));
  const m = Object.fromEntries(Object.entries(us).map(([k, v]) => [k, median(v)]));
  console.log(`| ${inflight} | ${Object.keys(trees).map((t) => m[t].toFixed(2)).join(' | ')} |${values.base ? ` ${(m.this / m.base).toFixed(2)} |` : ''}`);
}
