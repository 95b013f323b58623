/**
 * The detector alone, this tree's engine against another tree's, in one process and interleaved
 * (on a shared machine, load moves whole runs by more than a change of a few percent; interleaved
 * chunks see the same load):
 *   node bench/scan-detector-ab.js --base DIR --file events.jsonl [--events 60000] [--rounds 5] [--chunk 2000]
 * Run from `dist/` of this tree (`npx tsc -p .`), with DIR compiled too: each engine is its own
 * tree's `dist/src/detect/index.js` (its own modules, caches and compiled code). The file's first
 * `--events` lines are parsed once for each engine; each round builds two fresh engines and feeds
 * them the events a chunk at a time, alternately (which goes first alternates by chunk), timing
 * each chunk's CPU (user + system of the process). Prints µs of CPU an event for each, per round,
 * and each round's ratio (this / base).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const base = resolve(opt('--base') ?? '');
const file = resolve(opt('--file') ?? '');
const count = Number(opt('--events', '60000'));
const rounds = Number(opt('--rounds', '5'));
const chunk = Number(opt('--chunk', '2000'));
const here = resolve(import.meta.dirname, '../..');

type Engine = { ingest(ev: unknown): void; flush(): void };
const load = async (tree: string) => (await import(pathToFileURL(join(tree, 'dist/src/detect/index.js')).href)) as { DetectorEngine: new () => Engine };
const Base = (await load(base)).DetectorEngine;
const Mine = (await load(here)).DetectorEngine;
const lines = readFileSync(file, 'utf8').split('\n', count + 1).filter(Boolean).slice(0, count);
const evsBase = lines.map((l) => JSON.parse(l) as unknown);
const evsMine = lines.map((l) => JSON.parse(l) as unknown);
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system; };
const per: Array<{ base: number; mine: number }> = [];
for (let r = 0; r < rounds; r++) {
  const a = new Base(); const b = new Mine();
  let tb = 0; let tm = 0;
  const feed = (e: Engine, evs: unknown[], from: number) => { const t = cpuUs(); for (let k = from; k < Math.min(from + chunk, evs.length); k++) e.ingest(evs[k]); return cpuUs() - t; };
  for (let from = 0, k = 0; from < lines.length; from += chunk, k++) {
    if ((k + r) % 2 === 0) { tb += feed(a, evsBase, from); tm += feed(b, evsMine, from); } else { tm += feed(b, evsMine, from); tb += feed(a, evsBase, from); }
  }
  let t = cpuUs(); a.flush(); tb += cpuUs() - t;
  t = cpuUs(); b.flush(); tm += cpuUs() - t;
  per.push({ base: tb / lines.length, mine: tm / lines.length });
  console.log(`round ${r + 1}: base ${(tb / lines.length).toFixed(2)} µs an event, this ${(tm / lines.length).toFixed(2)}, ratio ${(tm / tb).toFixed(3)}`);
}
console.log(`\n${lines.length} events, ${rounds} rounds (chunks of ${chunk}): base median ${median(per.map((x) => x.base)).toFixed(2)} µs an event, this ${median(per.map((x) => x.mine)).toFixed(2)}; ratios ${per.map((x) => (x.mine / x.base).toFixed(3)).join(', ')}, median ${median(per.map((x) => x.mine / x.base)).toFixed(3)}`);
