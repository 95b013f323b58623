/**
 * The offline scan's CPU, this tree against another in the same rounds (the VM is shared: only
 * figures measured together compare):
 *   node --import tsx bench/scan-ab.ts --base DIR --file events.jsonl [--rounds 3] [--cpu 0]
 * DIR and this tree are compiled first (`npx tsc -p .`: `dist/bench/scan-child.js` in each). Each
 * round runs readline + JSON.parse (the floor of any reader that builds the events), then the two
 * scans in alternating order, every process on one CPU (taskset), each a fresh process as
 * `warden scan` is. Prints each run and, per figure, the median and each round's ratio
 * (this tree / base); CPU is user + system of every thread of the process (`process.cpuUsage`),
 * split into the main thread and the others (the optimising compiler, the collector's helpers).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const base = resolve(opt('--base') ?? '');
const file = resolve(opt('--file') ?? '');
const rounds = Number(opt('--rounds', '3'));
const cpu = opt('--cpu', '0')!;
const here = resolve(import.meta.dirname, '..');
for (const tree of [base, here]) if (!existsSync(join(tree, 'dist/bench/scan-child.js'))) throw new Error(`${tree}: no dist/bench/scan-child.js (compile it: npx tsc -p .)`);

interface Run { events: number; wall: number; cpu: number; threads: { main: number; other: number } | null }
const run = (tree: string, mode: string): Run => {
  const out = execFileSync('taskset', ['-c', cpu, process.execPath, join(tree, 'dist/bench/scan-child.js'), mode, file], { encoding: 'utf8', cwd: tree });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
};
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const rows: Array<{ floor: Run; base: Run; mine: Run; load: string }> = [];
for (let r = 0; r < rounds; r++) {
  const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ')[0];
  const floor = run(here, 'readline');
  let b: Run, m: Run;
  if (r % 2 === 0) { b = run(base, 'scan'); m = run(here, 'scan'); } else { m = run(here, 'scan'); b = run(base, 'scan'); }
  rows.push({ floor, base: b, mine: m, load });
  const t = (x: Run) => `${x.cpu.toFixed(2)} (${x.threads ? `${x.threads.main.toFixed(2)}/${x.threads.other.toFixed(2)}` : '-'})`;
  console.log(`round ${r + 1} (load ${load}): readline ${t(floor)}, base ${t(b)}, this ${t(m)}, ratio ${(m.cpu / b.cpu).toFixed(3)}`);
}
const n = rows[0].base.events;
const med = (f: (x: typeof rows[number]) => number) => median(rows.map(f));
console.log(`\n${n} events, ${rounds} rounds, loads ${rows.map((x) => x.load).join(', ')}`);
console.log(`CPU s, median: readline ${med((x) => x.floor.cpu).toFixed(2)}, base ${med((x) => x.base.cpu).toFixed(2)}, this ${med((x) => x.mine.cpu).toFixed(2)}`);
console.log(`events per CPU-second (median): readline ${Math.round(n / med((x) => x.floor.cpu))}, base ${Math.round(n / med((x) => x.base.cpu))}, this ${Math.round(n / med((x) => x.mine.cpu))}`);
console.log(`pair ratios (this / base): ${rows.map((x) => (x.mine.cpu / x.base.cpu).toFixed(3)).join(', ')}; median ${med((x) => x.mine.cpu / x.base.cpu).toFixed(3)}`);
if (rows.every((x) => x.base.threads && x.mine.threads)) {
  console.log(`main / other threads, CPU s (median): base ${med((x) => x.base.threads!.main).toFixed(2)} / ${med((x) => x.base.threads!.other).toFixed(2)}, this ${med((x) => x.mine.threads!.main).toFixed(2)} / ${med((x) => x.mine.threads!.other).toFixed(2)}`);
}
