import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DetectorEngine, buildLabelledEvents, writeSnapshot, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const { events } = buildLabelledEvents(pool, { seed: 4, days: 1, organic: { hobbyist: 3 } });
const dir = mkdtempSync(join(tmpdir(), 'warden-model-names-'));
const base = events.find((e) => e.account_id !== null)!;
const t0 = Date.parse(base.ts);

/** One request of the account at `s` seconds naming `model`, answered with `status`. */
function request(model: string, s: number, status: number): InteractionEvent {
  return { ...base, id: `ev_${s}_${status}_${model.length}`, ts: new Date(t0 + s * 1000).toISOString(), model, response: { ...base.response, status } };
}

/** A made-up model name that does not compress (a snapshot is gzipped). */
const junk = (n: number) => `gpt-${n.toString(36)}-${randomBytes(100).toString('hex')}`;

test('model names a customer makes up do not grow the detector: refused requests add none, served ones are bounded', async () => {
  const baseline = new DetectorEngine();
  baseline.ingest(request('gpt-4o', 0, 200));
  const before = await writeSnapshot(baseline, join(dir, 'baseline.detector'), 0);

  const refused = new DetectorEngine();
  refused.ingest(request('gpt-4o', 0, 200));
  for (let n = 0; n < 3000; n++) refused.ingest(request(junk(n), 1 + n * 0.01, n % 2 === 0 ? 400 : 429));
  const afterRefused = await writeSnapshot(refused, join(dir, 'refused.detector'), 0);
  assert.ok(afterRefused.bytes < before.bytes + 20_000,
    `3,000 refused requests naming new models leave the snapshot about as it was (${before.bytes} -> ${afterRefused.bytes} bytes)`);

  const served = new DetectorEngine();
  served.ingest(request('gpt-4o', 0, 200));
  for (let n = 0; n < 12_000; n++) served.ingest(request(junk(n), 1 + n * 0.01, 200));
  const afterServed = await writeSnapshot(served, join(dir, 'served.detector'), 0);
  assert.ok(afterServed.bytes < before.bytes + 1_500_000,
    `12,000 served requests each naming a new model keep a bounded number of them (${before.bytes} -> ${afterServed.bytes} bytes)`);
});
