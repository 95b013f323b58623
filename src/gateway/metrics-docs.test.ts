// Operators build dashboards and alerts from docs/operations.md: every `warden_*` metric family
// Warden defines must be listed there, and the list must name none that does not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? sources(join(dir, e.name))
    : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []);
}

/** Families as the code defines them: `name: 'warden_x'` (prom-client) or `gauge|counter('warden_x', ...)` (collect-time helpers). */
const defined = new Set(sources(join(root, 'src')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/(?:name: *|(?:gauge|counter)\()'(warden_[a-z0-9_]+)'/g)].map((m) => m[1]!)));
const documented = new Set([...readFileSync(join(root, 'docs/operations.md'), 'utf8').matchAll(/^\| `(warden_[a-z0-9_]+)` \|/gm)].map((m) => m[1]!));

test('docs/operations.md lists every warden_* metric family', () => {
  assert.ok(defined.has('warden_requests_total'), 'the scan finds the gateway\'s own families');
  const missing = [...defined].filter((n) => !documented.has(n));
  assert.deepEqual(missing, [], `metric families missing from docs/operations.md: ${missing.join(', ')}`);
});

test('docs/operations.md lists no metric family Warden does not have', () => {
  const stale = [...documented].filter((n) => !defined.has(n));
  assert.deepEqual(stale, [], `docs/operations.md lists families the code does not define: ${stale.join(', ')}`);
});
