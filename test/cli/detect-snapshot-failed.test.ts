// A detector snapshot that cannot be written (a full disk, a path that cannot be made) is an error
// line with a stable code in the JSON log, where operators alert, like the stores' own outages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/index.ts';
import { openStores } from '../../src/cli/stores.ts';
import { setUpDetector } from '../../src/cli/detector.ts';

test('a snapshot not written is said as an error with the code DETECT_SNAPSHOT_FAILED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-snapfail-'));
  const plainFile = join(dir, 'a-file');
  writeFileSync(plainFile, '');
  const config = parseConfig({ store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' }, detect: { snapshot: { path: join(plainFile, 'x.detector') } } });
  const stores = await openStores(config);
  const lines: { line: string; level?: string; code?: string }[] = [];
  try {
    const detector = await setUpDetector(config, stores, new Registry(), (line, meta) => lines.push({ line, level: meta?.level, code: meta?.code }));
    await detector.close();
    const failed = lines.find((l) => /snapshot .* not written/.test(l.line));
    assert.ok(failed, `the failed write is said: ${JSON.stringify(lines)}`);
    assert.equal(failed.code, 'DETECT_SNAPSHOT_FAILED');
    assert.equal(failed.level, 'error');
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
