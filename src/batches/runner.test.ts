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

// An idle node's rounds touch the store only now and then (a claim once a second after the last
// one found nothing, a settle once a second): a round in the middle of an outage that had nothing
// to ask the store is no sign of it answering, and must not be logged as its return.
test('an idle node during an outage: no "answers again" line until the store has answered', async () => {
  let down = false;
  const refused = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const store = {
    async claim() { if (down) throw refused; return []; },
    async settle() { if (down) throw refused; return []; },
    async prune() {},
  } as unknown as BatchStore;
  const lines: string[] = [];
  const config = { concurrency: 4, lease_ms: 60_000, retention_days: 30 } as unknown as BatchesConfig;
  const runner = new BatchRunner(store, { inject: async () => { throw new Error('no requests here'); } } as never, {} as BatchCredentials, config, (line) => lines.push(line));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const t = 1_000_000;
  await runner.tick(t); // claims nothing (the node is idle) and settles
  down = true;
  // A second on (settling goes by the clock), half a second after the idle claim: the settle fails.
  await sleep(1_050);
  await runner.tick(t + 500);
  assert.equal(lines.length, 1, lines.join(' | '));
  assert.match(lines[0], /^batches: the batch store is unreachable \(read ECONNRESET\)/);
  // The next round, past the backoff: no claim due yet, no settle due: it asks the store nothing.
  await runner.tick(t + 800);
  assert.deepEqual(lines.filter((l) => /answers again/.test(l)), [], `no return said while the store is down: ${lines.join(' | ')}`);
  // Claims due again: still down, still no return said.
  for (let now = t + 1_100; now < t + 3_000; now += 250) await runner.tick(now);
  assert.deepEqual(lines.filter((l) => /answers again/.test(l)), [], lines.join(' | '));
  down = false;
  for (let now = t + 3_000; now < t + 12_000; now += 250) await runner.tick(now);
  const back = lines.filter((l) => /answers again/.test(l));
  assert.equal(back.length, 1, `its return is said once: ${lines.join(' | ')}`);
  await runner.stop?.();
});
