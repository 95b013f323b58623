import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchRunner } from './runner.ts';
import type { BatchStore } from './store.ts';
import type { BatchCredentials } from './credentials.ts';
import type { BatchesConfig } from './config.ts';

test('a store that is unreachable is reported once per outage, claims back off, and its return is said', async () => {
  let down = true;
  let claims = 0;
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const store = {
    async claim() { claims++; if (down) throw refused; return []; },
    async settle() { if (down) throw refused; return []; },
    async prune() {},
  } as unknown as BatchStore;
  const lines: string[] = [];
  const config = { concurrency: 4, lease_ms: 60_000, retention_days: 30 } as unknown as BatchesConfig;
  const runner = new BatchRunner(store, { inject: async () => { throw new Error('no requests here'); } } as never, {} as BatchCredentials, config, (line) => lines.push(line));
  // 14 s of PostgreSQL restart, ticking every 250 ms as the timer does.
  for (let now = 1_000_000; now < 1_014_000; now += 250) await runner.tick(now);
  assert.equal(lines.length, 1, `one line for the outage, not one per round: ${lines.join(' | ')}`);
  assert.match(lines[0], /^batches: the batch store is unreachable \(connect ECONNREFUSED 127\.0\.0\.1:5432\); claiming again with backoff/);
  assert.ok(claims <= 12, `claims back off during the outage (${claims} in 14 s)`);
  down = false;
  for (let now = 1_014_000; now < 1_020_000; now += 250) await runner.tick(now);
  assert.equal(lines.length, 2, lines.join(' | '));
  assert.match(lines[1], /^batches: the batch store answers again after 1\d\.\d s/);
  await runner.stop?.();
});
