/** Summarise a .cpuprofile: self time per function and per file, top N. `node --import tsx bench/cpuprofile-top.ts FILE [N]` */
import { readFileSync } from 'node:fs';

const [file, nRaw] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of selfUs) {
  const cf = byId.get(id)!.callFrame;
  const short = cf.url.replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/work\/main\//, '');
  fn.set(`${cf.functionName || '(anon)'} ${short}:${cf.lineNumber + 1}`, (fn.get(`${cf.functionName || '(anon)'} ${short}:${cf.lineNumber + 1}`) ?? 0) + us);
  const f = short.startsWith('node_modules/') ? short.split('/').slice(0, 2).join('/') : short || cf.functionName;
  files.set(f, (files.get(f) ?? 0) + us);
}
const n = Number(nRaw ?? 30);
const show = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).forEach(([k, v]) => console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`));
console.log('by function'); show(fn);
console.log('\nby file'); show(files);

// Inclusive time of Warden's own functions (src/): where each phase's time goes, callees included.
const parent = new Map<number, number>();
for (const n of prof.nodes as { id: number; children?: number[] }[]) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = byId.get(cur)!.callFrame;
    if (!cf.url.includes('/src/')) continue;
    const k = `${cf.functionName || '(anon)'} ${cf.url.replace(/^.*\/src\//, 'src/')}`;
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}
console.log('\ninclusive (src/ functions, callees included)'); show(inclusive);
