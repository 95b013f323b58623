#!/usr/bin/env node
// Finds every *.test.ts under src/ and test/ and runs them with Node's own test runner.
// Usage: node scripts/run-tests.mjs [--compiled] [filter...]   (filters are substrings of the file path)
// By default the files run from source through tsx. With --compiled (what `npm test` does) tsc
// typechecks and compiles the project into a fresh .test-build/ first, and the tests run as plain
// JavaScript, no loader in any test process: the same tests for about 0.6-0.7 of the CPU
// (BENCHMARKS.md, "Test suite").
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args0 = process.argv.slice(2);
const compiled = args0.includes('--compiled');
const filters = args0.filter((a) => a !== '--compiled');
const BUILD = '.test-build';

function walk(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

const files = [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), [])]
  .filter((f) => filters.length === 0 || filters.some((flt) => f.includes(flt)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const build = compiled ? buildTests() : null;
// A test that hangs fails after 5 minutes, and a file whose tests are done exits even if a failed
// test left a connection open (else one failure could hold the whole run for ever).
const [major, minor] = process.versions.node.split('.').map(Number);
const forceExit = major > 20 || (major === 20 && minor >= 14) ? ['--test-force-exit'] : [];
// Files run WARDEN_TEST_CONCURRENCY at a time (default 3): most of a file's time is spent waiting on
// sockets, child processes and timers, so a 2-core machine runs three at once well. Every test owns its
// ports (port 0), SQLite files, PostgreSQL schema and Redis key prefix, so files never see each other.
const concurrency = Math.max(1, Number(process.env.WARDEN_TEST_CONCURRENCY ?? 3) || 1);
// The spec reporter's lines, and each top-level test's duration to a file, from which the slowest
// files are listed at the end: where to look when the suite gets slower.
const timings = join(mkdtempSync(join(tmpdir(), 'warden-tests-')), 'durations.tsv');
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'scripts/test-timings.mjs')}`, '--test-reporter-destination=stderr'];
const loader = build ? [] : ['--import', 'tsx'];
const targets = build ? files.map((f) => join(build, f.replace(/\.ts$/, '.js'))) : files;
const args = [...loader, '--test', ...reporters, '--test-timeout=300000', `--test-concurrency=${concurrency}`, ...forceExit, ...targets];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, WARDEN_TEST_DURATIONS: timings, WARDEN_LOG_LEVEL: process.env.WARDEN_LOG_LEVEL ?? 'silent' } });
child.on('exit', (code, signal) => {
  printSlowestFiles(timings, 15);
  process.exit(code ?? (signal ? 1 : 0));
});

/** The files whose top-level tests took longest in all (a file's tests run one after another). */
function printSlowestFiles(path, shown) {
  let text = '';
  try { text = readFileSync(path, 'utf8'); } catch { return; }
  rmSync(join(path, '..'), { recursive: true, force: true });
  const byFile = new Map();
  for (const line of text.split('\n')) {
    const [file, ms] = line.split('\t');
    if (!file || !ms) continue;
    const seen = byFile.get(file) ?? { ms: 0, tests: 0 };
    seen.ms += Number(ms) || 0;
    seen.tests += 1;
    byFile.set(file, seen);
  }
  if (byFile.size === 0) return;
  const rows = [...byFile].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((sum, [, r]) => sum + r.ms, 0);
  console.log(`\nslowest test files (the sum of a file's top-level tests; all ${byFile.size} files: ${(total / 1000).toFixed(0)} s)`);
  for (const [file, r] of rows.slice(0, shown)) console.log(`${(r.ms / 1000).toFixed(1).padStart(8)} s ${String(r.tests).padStart(4)} tests  ${sourceName(file)}`);
}

/** A test file as the source tree names it (a compiled one's .test-build/x.test.js is x.test.ts). */
function sourceName(file) {
  const rel = relative(root, file);
  return rel.startsWith(`${BUILD}/`) ? rel.slice(BUILD.length + 1).replace(/\.js$/, '.ts') : rel;
}

/**
 * Compile the project into a fresh .test-build/ (tsc: the typecheck as well; no file of a deleted
 * test is left to run) and give it every other file of the checkout at the same place, hard-linked
 * (copied across file systems): fixtures, the dashboard's static files, docs, policy, package.json,
 * and the .ts sources too. So a compiled test finds what it reads through `new URL('../fixtures/...',
 * import.meta.url)` or `import.meta.dirname`, and a test that starts `--import tsx .../main.ts` still
 * runs it from source. Packages resolve from the checkout's node_modules (the folder above).
 */
function buildTests() {
  const out = join(root, BUILD);
  rmSync(out, { recursive: true, force: true });
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const started = Date.now();
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`tsc failed (exit ${r.status ?? r.signal}): no tests run`);
    process.exit(1);
  }
  const skip = new Set(['node_modules', '.git', 'dist', BUILD, 'data', '.warden', 'coverage']);
  const mirror = (rel) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = rel ? join(rel, name) : name;
      if (!rel && skip.has(name)) continue;
      const st = statSync(join(root, path), { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) {
        if (name === 'node_modules' || name === '.git') continue;
        mkdirSync(join(out, path), { recursive: true });
        mirror(path);
      } else if (st.isFile()) {
        try { linkSync(join(root, path), join(out, path)); } catch (err) {
          if (err.code === 'EEXIST') continue;
          copyFileSync(join(root, path), join(out, path));
        }
      }
    }
  };
  mirror('');
  console.log(`compiled the project and its tests into ${BUILD}/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return out;
}
