/**
 * Traffic model benchmark: events per second and memory as the stream grows.
 *
 *   node --import tsx bench/traffic.ts                 # 1M and 10M events (10M takes a few minutes)
 *   node --import tsx bench/traffic.ts --sizes 1000000 # just 1M
 *
 * Each size runs in a fresh child process generating the disclosure-2026 scenario (25,000 campaign
 * accounts, 6,000 organic) to /dev/null, sampling RSS and heap every 250k events. The baseline,
 * measured in the same run, is the floor of the same pipeline: serialising and writing one
 * pre-built event repeatedly (no generation), so the ratio shows what generation itself costs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolveScenario, generateTraffic, LineWriter } from '../src/traffic/index.ts';

const args = process.argv.slice(2);
const arg = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };

function child(n: number): void {
  const t0 = performance.now();
  const run = generateTraffic(resolveScenario(null, { preset: 'disclosure-2026', maxEvents: n, seed: 1 }));
  const setupMs = performance.now() - t0;
  const w = new LineWriter('/dev/null');
  const samples: { events: number; rss_mb: number; heap_mb: number }[] = [];
  const t1 = performance.now();
  let k = 0;
  let first: unknown = null;
  for (const ev of run.events) {
    w.line(JSON.stringify(ev));
    if (!first) first = ev;
    if (++k % 250_000 === 0) { const m = process.memoryUsage(); samples.push({ events: k, rss_mb: m.rss / 1048576, heap_mb: m.heapUsed / 1048576 }); }
  }
  w.close();
  const genMs = performance.now() - t1;
  // Baseline: the same serialisation and write path over one pre-built event, for min(n, 1M) lines.
  const bn = Math.min(n, 1_000_000);
  const b = new LineWriter('/dev/null');
  const t2 = performance.now();
  for (let i = 0; i < bn; i++) b.line(JSON.stringify(first));
  b.close();
  const baseMs = performance.now() - t2;
  process.stdout.write(JSON.stringify({ events: k, bytes: w.bytes, setup_ms: setupMs, gen_ms: genMs, base_events: bn, base_ms: baseMs, samples, lanes: run.engine.lanes.length, accounts: run.accounts.length }) + '\n');
}

if (args[0] === '--child') {
  child(Number(args[1]));
} else {
  const sizes = (arg('--sizes') ?? '1000000,10000000').split(',').map(Number);
  const self = fileURLToPath(import.meta.url);
  console.log(`traffic benchmark (node ${process.version}, ${new Date().toISOString().slice(0, 10)})`);
  for (const n of sizes) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', String(n)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) { console.error(r.stderr); process.exit(1); }
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const eps = res.events / (res.gen_ms / 1000);
    const baseEps = res.base_events / (res.base_ms / 1000);
    const first = res.samples[0], last = res.samples[res.samples.length - 1];
    console.log(`${res.events.toLocaleString('en-US')} events (${(res.bytes / 1e9).toFixed(2)} GB, ${res.accounts} accounts, ${res.lanes} lanes): ` +
      `setup ${(res.setup_ms / 1000).toFixed(1)}s, generate+serialise+write ${(res.gen_ms / 1000).toFixed(1)}s = ${Math.round(eps).toLocaleString('en-US')} events/s ` +
      `(baseline serialise+write only: ${Math.round(baseEps).toLocaleString('en-US')}/s; ratio ${(eps / baseEps).toFixed(2)}); ` +
      `RSS ${first.rss_mb.toFixed(0)} MB at ${first.events.toLocaleString('en-US')} -> ${last.rss_mb.toFixed(0)} MB at ${last.events.toLocaleString('en-US')}, heap ${first.heap_mb.toFixed(0)} -> ${last.heap_mb.toFixed(0)} MB`);
  }
}
