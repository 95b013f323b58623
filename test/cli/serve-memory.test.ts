// An in-memory store is the process's own: `serve` takes no lock for it, so two such servers run
// side by side in one working directory and no `:memory:.lock` file appears there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

test('two servers with in-memory SQLite stores start in the same working directory, without a lock file', { timeout: 60_000 }, async () => {
  const cwd = process.cwd();
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-memory-'));
  const running: TestWarden[] = [];
  try {
    process.chdir(dir);
    const inMemory = { store: { driver: 'sqlite', sqlite_path: ':memory:' }, ledger: { enabled: false } };
    running.push(await startTestWarden(inMemory));
    running.push(await startTestWarden(inMemory));
    assert.equal(running.length, 2, 'both servers started');
    assert.ok(!existsSync(join(dir, ':memory:.lock')), 'no lock file for an in-memory database');
  } finally {
    for (const w of running) await w.close();
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
