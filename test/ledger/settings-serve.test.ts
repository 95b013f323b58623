// `warden serve` records the detector settings it runs with: a settings entry at the first start,
// none at a restart with the same configuration, a new one (a new digest, naming what changed)
// after a restart with a new threshold. The log with them verifies, reconciles with the event
// store, and `warden ledger query --settings` lists them from the signed leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { packageVersion } from '../../src/cli/version.ts';
import type { QueryResult } from '../../src/ledger/query.ts';
import { ledgerCliRunner } from '../helpers/ledger-cli.ts';

test('serve: a restart with a new detect threshold is a new settings digest; an unchanged restart adds nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-settings-serve-'));
  const configWith = (detect: object) => parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' },
    mock: { latency_ms: 0, tokens_per_second: 0 }, ledger: { origin: 'api.warden.test/ledger', checkpoint_interval_ms: 50, key: '' },
    detect: { replay_hours: 0, ...detect },
    // Test clients are local: the installed IP tables are not needed.
    policy: { geo: { load_packaged: 'first_public_client' } },
  });
  // The demo key is made at the first start (an empty store) and kept for the next ones.
  let key: string | null = null;
  const serveOnce = async (detect: object, requests: number) => {
    const w = await startWarden(configWith(detect), { log: () => {} });
    key ??= w.demoKey;
    try {
      for (let i = 0; i < requests; i++) {
        const r = await fetch(`${w.url}/v1/chat/completions`, {
          method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] }),
        });
        assert.equal(r.status, 200); await r.text();
      }
    } finally {
      await w.close();
    }
  };
  try {
    await serveOnce({}, 2);
    await serveOnce({}, 1);
    await serveOnce({ thresholds: { watch: 0.25 } }, 1);

    const config = configWith({ thresholds: { watch: 0.25 } });
    const run = ledgerCliRunner({ ledger: config.ledger, store: config.store, events: config.events });
    const listed = await run('query', '--settings');
    assert.equal(listed.code, 0, listed.err);
    const { settings } = JSON.parse(listed.out) as QueryResult;
    assert.equal(settings.length, 2, `two starts with the same settings, then one with a new threshold: two settings entries (${JSON.stringify(settings.map((s) => s.digest))})`);
    assert.notEqual(settings[0].digest, settings[1].digest);
    assert.deepEqual(settings[1].changed, ['detect.thresholds.watch']);
    const recorded = settings[1].settings as { warden_version: string; detect: { thresholds: { watch: number }; snapshot?: unknown } };
    assert.equal(recorded.detect.thresholds.watch, 0.25);
    assert.equal(recorded.warden_version, await packageVersion(import.meta.url));
    assert.equal(recorded.detect.snapshot, undefined, 'where snapshots are written is not a setting of verdicts');

    const verified = await run('verify');
    assert.equal(verified.code, 0, verified.out + verified.err);
    assert.match(verified.out, /detector settings: 2 settings entries/);
    const reconciled = await run('reconcile', '--json', '--lag', '0');
    const report = JSON.parse(reconciled.out) as { ok: boolean; leaves: number; matched: number };
    assert.equal(reconciled.code, 0, reconciled.out);
    assert.ok(report.ok && report.leaves === 4 && report.matched === 4, `the settings entries do not disturb the reconciliation: ${reconciled.out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
