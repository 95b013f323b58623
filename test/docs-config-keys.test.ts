// An operator finds what a setting does in the documents, not only in `warden config defaults`:
// every key of the configuration is named in README.md or docs/*.md, as its full path
// (`documents.max_pages`), a backticked tail of it (`max_pages` in the section's table), or a
// line of a YAML example (`  max_pages: 50`). Crude by design: it catches a new key nobody wrote up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseConfig, upstreamSchema } from '../src/config/index.ts';

const root = new URL('../', import.meta.url);
const docs = ['README.md', ...readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  .map((f) => readFileSync(new URL(f, root), 'utf8')).join('\n');

function leaves(o: unknown, path: string[] = []): string[][] {
  if (o && typeof o === 'object' && !Array.isArray(o)) return Object.entries(o).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [path];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('every configuration key is documented in README.md or docs/', () => {
  const missing = leaves(parseConfig({})).filter((path) => {
    if (docs.includes(path.join('.'))) return false;
    for (let i = 0; i < path.length; i++) if (new RegExp(`\`${escape(path.slice(i).join('.'))}(?![\\w.])`).test(docs)) return false;
    return !new RegExp(`^\\s*${escape(path[path.length - 1]!)}:`, 'm').test(docs);
  }).map((p) => p.join('.'));
  assert.deepEqual(missing, [], `configuration keys no document names: ${missing.join(', ')}`);
});

// `upstreams` is empty by default, so the walk above never reaches an upstream entry's keys: each
// is named as `upstreams[].KEY` (the README's table of an upstream's settings).
test('every key of an upstream entry is documented', () => {
  const missing = Object.keys(upstreamSchema.shape).filter((key) => !docs.includes(`upstreams[].${key}\``));
  assert.deepEqual(missing, [], `upstream keys no document names as upstreams[].KEY: ${missing.join(', ')}`);
});
