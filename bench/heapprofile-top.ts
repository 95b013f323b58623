/**
 * Summarise a sampling heap profile (from bench/profile-gateway.ts --heap): bytes allocated per
 * function (self), heaviest first, and per request when --requests is given.
 *
 *   node --import tsx bench/heapprofile-top.ts /tmp/prof/warden.heapprofile [--requests N] [--top 40]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const { values, positionals } = parseArgs({ allowPositionals: true, options: { requests: { type: 'string' }, top: { type: 'string', default: '40' } } });
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as { head: Node };
const bySite = new Map<string, number>();
let total = 0;
const walk = (n: Node): void => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/')}:${f.lineNumber + 1}` : '(native)';
  const key = `${f.functionName || '(anonymous)'} ${where}`;
  if (n.selfSize > 0) { bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize); total += n.selfSize; }
  for (const c of n.children) walk(c);
};
walk(profile.head);
const perReq = values.requests ? Number(values.requests) : 0;
const fmt = (b: number) => (perReq ? `${(b / perReq).toFixed(0).padStart(7)} B/req` : `${(b / 1024).toFixed(0).padStart(9)} KiB`);
console.log(`total ${fmt(total)}`);
for (const [k, b] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${fmt(b)}  ${(100 * b / total).toFixed(1).padStart(5)}%  ${k}`);
