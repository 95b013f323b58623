// A red team against a gateway that does not believe its X-Forwarded-For (the sender is not in
// server.trusted_proxies, as on the embedded default): every simulated account comes from one
// address, which links them all, and the report would blame the detector. The run says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import { startWarden } from '../cli/serve.ts';
import { resolveScenario, runRedteam } from './index.ts';

const TOKEN = 'redteam-test-admin-token-0123456789';

test('a gateway that ignores the simulated client addresses is named, with the setting to change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-redteam-proxies-'));
  const config = configSchema.parse({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') },
    admin: { token: TOKEN }, mock: { latency_ms: 0, tokens_per_second: 0, answer_length_headers: true }, log: { level: 'silent' },
    events: { flush_interval_ms: 20 },
  });
  const w = await startWarden(config, { demo: false, log: () => {} });
  try {
    const result = await runRedteam({
      target: w.url, adminToken: TOKEN, scenario: resolveScenario(null, { preset: 'smoke' }), maxRequests: 30, maxDurationS: 120,
      concurrency: 4, outDir: null,
    });
    assert.ok(result.by_population && Object.values(result.by_population).some((s) => s.ok > 0), 'some requests were answered');
    assert.equal(result.warnings.length, 1, `one warning: ${result.warnings.join(' | ')}`);
    assert.match(result.warnings[0], /recorded .* from 127\.0\.0\.1, the red team's own address/);
    assert.match(result.warnings[0], /add 127\.0\.0\.1 to server\.trusted_proxies/);
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
