// A configuration saved from an earlier `warden config defaults` still sets keys this release
// removed: it starts, with a warning naming each, where an unknown key stays an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './index.ts';

test('removed keys are ignored with a warning naming them; unknown keys are still errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-removed-keys-'));
  try {
    const file = join(dir, 'warden.yaml');
    writeFileSync(file, 'log:\n  prompts: false\ndetect:\n  shared:\n    tail_ms: 1000\n    tail_lag_seconds: 30\nserver:\n  port: 9123\n');
    const warnings: string[] = [];
    const config = loadConfig(file, {}, (line) => warnings.push(line));
    assert.equal(config.server.port, 9123, 'the rest of the file applies');
    assert.deepEqual(warnings, [
      'configuration: log.prompts is no longer used and is ignored; remove it',
      'configuration: detect.shared.tail_ms is no longer used and is ignored; remove it',
      'configuration: detect.shared.tail_lag_seconds is no longer used and is ignored; remove it',
    ], 'each removed key is named');

    writeFileSync(file, 'log:\n  promts: false\n');
    assert.throws(() => loadConfig(file, {}, () => {}), (err: unknown) => err instanceof ConfigError && /log\.promts: unknown key/.test(err.message), 'a typo is still an unknown key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
