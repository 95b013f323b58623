/**
 * How long screening every account against full-size denied-party lists takes: a list the size of
 * OFAC's SDN list with aliases (18,000 entries, about 30,000 names, generated deterministically in
 * several scripts), and 10,000 / 100,000 customer names (mostly not on it), each searched as
 * rescreen.ts does (`SanctionsIndex.search` at the default threshold 0.9).
 *
 *   node --import tsx bench/screening.ts [--budget-s 70] [--scan-budget-s 12]
 *
 * Also measured: the same search comparing each name's tokens with every list token, as it was
 * before the token index (`searchByScan`, projected from the names it screens within its budget).
 *
 * Baseline measured in the same run: folding each name into tokens and looking each token up
 * exactly in the list's tokens (the least a screening must do). Searches that would take longer
 * than the budget are measured on the names screened within it and the full run is projected.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { nameTokens, SanctionsIndex } from '../src/policy/sanctions.ts';
import { generateCustomerNames, generateSanctionsEntries } from '../test/helpers/sanctions-names.ts';

const arg = (name: string, dflt: number) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const budgetMs = arg('--budget-s', 70) * 1000;
const scanBudgetMs = arg('--scan-budget-s', 12) * 1000;
console.log(`# screening benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

let t0 = performance.now();
const entries = generateSanctionsEntries(18_000);
const index = new SanctionsIndex(entries);
const listTokens = new Set(entries.flatMap((e) => e.names.flatMap(nameTokens)));
console.log(`\nlist: ${index.size.entries} entries, ${index.size.names} names, ${listTokens.size} distinct tokens; generated and indexed in ${(performance.now() - t0).toFixed(0)} ms`);
const customers = generateCustomerNames(100_000, entries);

interface Rate { screened: number; ms: number; perS: number; matches: number }
function measure(screen: (name: string) => number, names: string[], budget: number): Rate {
  let matches = 0, screened = 0;
  const start = performance.now();
  for (const n of names) {
    matches += screen(n);
    screened++;
    if ((screened & 63) === 0 && performance.now() - start > budget) break;
  }
  const ms = performance.now() - start;
  return { screened, ms, perS: screened / (ms / 1000), matches };
}

const exact = (name: string) => { let hits = 0; for (const t of nameTokens(name)) if (listTokens.has(t)) hits++; return hits > 1 ? 1 : 0; };
const fmt = (r: Rate, total: number) => `${Math.round(r.perS).toLocaleString('en')} names/s (${r.screened.toLocaleString('en')} screened in ${(r.ms / 1000).toFixed(1)} s, ${r.matches} flagged${r.screened < total ? `; all ${total.toLocaleString('en')} projected at ${(total / r.perS).toFixed(0)} s` : ''})`;

for (const size of [10_000, 100_000]) {
  // A fresh index per run: it remembers the similar tokens of the names it has screened.
  const fresh = new SanctionsIndex(entries);
  const searches: [string, (name: string) => number][] = [
    ['search (threshold 0.9)', (n) => fresh.search(n, 0.9).length > 0 ? 1 : 0],
    ['search comparing every list token (before the token index)', (n) => fresh.searchByScan(n, 0.9).length > 0 ? 1 : 0],
  ];
  const names = customers.slice(0, size);
  console.log(`\n## ${size.toLocaleString('en')} customer names`);
  const base = measure(exact, names, budgetMs);
  console.log(`baseline, exact token lookup: ${fmt(base, size)}`);
  for (const [label, fn] of searches) {
    const r = measure(fn, names, label.startsWith('search (') ? budgetMs : scanBudgetMs);
    console.log(`${label}: ${fmt(r, size)}; ${(base.perS / r.perS).toFixed(0)}x the baseline's time per name`);
  }
}
