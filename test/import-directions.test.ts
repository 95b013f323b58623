// The import directions README's "Code map" and the src/*/index.ts comments state. Text-based
// (import/export ... from, import(), require() of relative paths and packages), so a change that
// breaks one fails here, naming the file and the import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src/', import.meta.url));

interface Import { file: string; folder: string; spec: string; target: string | null }

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name))
    : /\.(ts|mts|cjs|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [join(dir, e.name)] : []);
}

/** Every import of every non-test source file: `target` is the Warden path it reaches (`events/ip.ts`), null for a package. */
const imports: Import[] = files(src).flatMap((path) => {
  const file = path.slice(src.length);
  const folder = file.split('/')[0]!;
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)].map((m) => {
    const spec = m[1]!;
    if (!spec.startsWith('.')) return { file, folder, spec, target: null };
    const target = join(file, '..', spec);
    return { file, folder, spec, target };
  });
});

/** Imports from `folder` into other Warden folders. */
const outOf = (folder: string) => imports.filter((i) => i.folder === folder && i.target !== null && i.target.split('/')[0] !== folder);
const show = (list: Import[]) => list.map((i) => `${i.file} -> ${i.spec}`).join('; ');

test('the scan sees the imports it checks', () => {
  assert.ok(imports.some((i) => i.file === 'store/events.ts' && i.target === 'events/index.ts'), 'store/events.ts imports events: the scan reads relative imports');
  assert.ok(imports.some((i) => i.file === 'gateway/server.ts' && i.spec === 'fastify'), 'gateway/server.ts imports fastify: the scan reads packages');
});

test('events, errors and tokens import nothing else from Warden', () => {
  for (const folder of ['events', 'errors', 'tokens']) {
    assert.deepEqual(show(outOf(folder)), '', `${folder} must import nothing else from Warden`);
  }
});

test('store imports only events; mock only tokens', () => {
  assert.equal(show(outOf('store').filter((i) => !i.target!.startsWith('events/'))), '', 'store imports only events');
  assert.equal(show(outOf('mock').filter((i) => !i.target!.startsWith('tokens/'))), '', 'mock imports only tokens');
});

test('config imports only capabilities\' config.ts schemas and events\' address parsing', () => {
  const other = outOf('config').filter((i) => !/^[a-z]+\/config\.ts$/.test(i.target!) && i.target !== 'events/ip.ts');
  assert.equal(show(other), '', 'config must not import a capability\'s code, only its config.ts schema');
});

test('the detector\'s engine imports no HTTP or Redis library and nothing of the gateway, admin API or dashboard', () => {
  const edges = new Set(['detect/admin.ts', 'detect/hooks.ts', 'detect/shared.ts']);
  const engine = imports.filter((i) => i.folder === 'detect' && !edges.has(i.file));
  const http = engine.filter((i) => i.target === null && /^(fastify|@fastify\/|undici|ioredis|node:https?$|node:http2$|https?$)/.test(i.spec));
  assert.equal(show(http), '', 'no HTTP or Redis client in the engine');
  const layers = engine.filter((i) => i.target !== null && /^(gateway|admin|ui|cli)\//.test(i.target));
  assert.equal(show(layers), '', 'nothing of gateway, admin, ui or cli in the engine');
});

test('documents imports nothing of HTTP, events, identity or the gateway', () => {
  const bad = imports.filter((i) => i.folder === 'documents' && (i.target === null ? /^(fastify|undici|node:https?$)/.test(i.spec) : /^(events|identity|gateway)\//.test(i.target)));
  assert.equal(show(bad), '', 'documents stays out of HTTP, events and accounts');
});

test('nothing imports src/cli, the composition root', () => {
  assert.equal(show(imports.filter((i) => i.folder !== 'cli' && i.target?.startsWith('cli/'))), '', 'only cli imports cli');
});

/**
 * Every folder's imports of other Warden folders, as its index.ts comment states them. A new edge
 * is a design decision: add it here and to the folder's index comment (the test below checks they
 * agree), or import the other way round.
 */
const ALLOWED: Record<string, string[]> = {
  admin: ['config', 'errors', 'identity', 'store'],
  batches: ['admin', 'errors', 'events', 'gateway', 'identity', 'store'],
  cases: ['admin', 'detect', 'errors', 'events', 'gateway', 'ledger', 'limits', 'store'],
  cli: ['*'],
  config: ['*config.ts', 'events'],
  detect: ['admin', 'config', 'errors', 'events', 'gateway', 'identity', 'store'],
  documents: ['config', 'store'],
  errors: [],
  events: [],
  gateway: ['config', 'documents', 'errors', 'events', 'identity', 'shape', 'store', 'tokens'],
  identity: ['config', 'errors', 'events', 'gateway', 'store'],
  ledger: ['admin', 'detect', 'errors', 'events', 'gateway', 'identity', 'store'],
  limits: ['admin', 'config', 'detect', 'errors', 'events', 'gateway', 'identity', 'shape', 'store'],
  mock: ['tokens'],
  notify: ['admin', 'config', 'detect', 'errors'],
  policy: ['admin', 'config', 'detect', 'errors', 'events', 'gateway', 'identity', 'shape', 'watermark'],
  shape: ['events', 'gateway'],
  store: ['events'],
  tokens: [],
  traffic: ['admin', 'config', 'detect', 'events', 'identity', 'mock'],
  ui: ['admin', 'errors', 'events', 'identity', 'limits', 'store'],
  watermark: ['config', 'events', 'gateway'],
};
const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

test('every folder\'s imports of other folders are the ones declared for it', () => {
  assert.deepEqual(folders.filter((f) => !(f in ALLOWED)), [], 'a new folder declares what it may import (ALLOWED above and its index comment)');
  for (const folder of folders) {
    const allowed = ALLOWED[folder]!;
    if (allowed.includes('*')) continue;
    const undeclared = outOf(folder).filter((i) => {
      const to = i.target!.split('/')[0]!;
      return !allowed.includes(to) && !(allowed.includes('*config.ts') && /^[a-z]+\/config\.ts$/.test(i.target!));
    });
    assert.equal(show(undeclared), '', `${folder} imports a folder it does not declare (${allowed.join(', ') || 'nothing'})`);
  }
});

test('each index.ts comment names every folder it may import', () => {
  for (const folder of folders) {
    const allowed = ALLOWED[folder]!.filter((f) => f !== '*' && f !== '*config.ts');
    const text = readFileSync(join(src, folder, 'index.ts'), 'utf8');
    const comment = text.slice(0, text.search(/^(export|import)\b/m));
    const unnamed = allowed.filter((f) => !comment.includes(`\`${f}\``));
    assert.deepEqual(unnamed, [], `src/${folder}/index.ts: its comment names what it imports, in backticks`);
  }
});
