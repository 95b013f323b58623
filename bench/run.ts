/**
 * Entry point for the benchmarks: `npm run bench` lists them (from each file's first comment line);
 * `npm run bench -- NAME [args]` runs bench/NAME.ts in a process of its own, with the Node flags it
 * needs. Each benchmark prints its figures as Markdown, ratios against a baseline measured in the
 * same run; BENCHMARKS.md says which command produced which table.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
/** Helpers and child processes of other benchmarks: not run on their own. */
const PARTS = new Set(['lib', 'run', 'gateway-servers', 'limits-server', 'scan-child']);
/** Node flags a benchmark needs (a forced collection between phases; room for a million accounts). */
const NODE_FLAGS: Record<string, string[]> = { detect: ['--expose-gc', '--max-old-space-size=4000'] };

const names = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).filter((n) => !PARTS.has(n)).sort();
const [name, ...args] = process.argv.slice(2);

if (!name || name === '--help') {
  console.log('usage: npm run bench -- NAME [args]   (figures and commands: BENCHMARKS.md)\n');
  for (const n of names) {
    const doc = readFileSync(join(dir, `${n}.ts`), 'utf8').match(/\/\*\*\s*\n?\s*\*?\s*(.+)/);
    console.log(`  ${n.padEnd(16)} ${doc ? doc[1].replace(/\s*\*\/\s*$/, '') : ''}`);
  }
  process.exit(0);
}
if (!names.includes(name)) {
  console.error(`unknown benchmark "${name}"; one of: ${names.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [...(NODE_FLAGS[name] ?? []), '--import', 'tsx', join(dir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
