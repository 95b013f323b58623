#!/usr/bin/env node
// Finds every *.test.ts under src/ and test/ and runs them with Node's own test runner (via tsx).
// Usage: node scripts/run-tests.mjs [filter...]   (filters are substrings of the file path)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

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
// A test that hangs fails after 5 minutes, and a file whose tests are done exits even if a failed
// test left a connection open (else one failure could hold the whole run for ever).
const [major, minor] = process.versions.node.split('.').map(Number);
const forceExit = major > 20 || (major === 20 && minor >= 14) ? ['--test-force-exit'] : [];
// Files run WARDEN_TEST_CONCURRENCY at a time (default 3): most of a file's time is spent waiting on
// sockets, child processes and timers, so a 2-core machine runs three at once well. Every test owns its
// ports (port 0), SQLite files, PostgreSQL schema and Redis key prefix, so files never see each other.
const concurrency = Math.max(1, Number(process.env.WARDEN_TEST_CONCURRENCY ?? 3) || 1);
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', `--test-concurrency=${concurrency}`, ...forceExit, ...files];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, WARDEN_LOG_LEVEL: process.env.WARDEN_LOG_LEVEL ?? 'silent' } });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
