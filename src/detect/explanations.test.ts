// A cluster's explanation gives each reason its threshold or weight where the detector has one, or
// says why none applies: an operator reading "coordination 1" or "shared_user_agent 0.2" must not
// have to guess what it is measured against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, type PromptPool } from './index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;

test('every reason of a campaign\'s explanation has a threshold, a weight, or says why it has none', () => {
  const scenario = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 20, startup: 1 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const campaign = engine.campaigns()[0];
  assert.ok(campaign, 'the hydra is a campaign');
  const reasons = engine.clusterSummaries().find((c) => c.id === campaign.cluster_id)!.reasons;
  for (const signal of ['coordination', 'harvest', 'fresh_account_share']) assert.ok(reasons.some((r) => r.signal === signal), `the explanation has ${signal}`);
  assert.ok(reasons.some((r) => r.signal.startsWith('shared_')), 'the explanation has link evidence');
  for (const r of reasons) {
    if (r.threshold !== null || r.weight !== undefined) continue;
    assert.match(r.detail ?? '', /no threshold/, `${r.signal} ${r.value}: neither threshold nor weight, and the explanation does not say why (${r.detail ?? 'no detail'})`);
  }
  const coordination = reasons.find((r) => r.signal === 'coordination')!;
  assert.match(coordination.detail!, /cluster_score = coordination × harvest/, 'coordination says it is a factor of the score');
  const fresh = reasons.find((r) => r.signal === 'fresh_account_share')!;
  assert.match(fresh.detail!, /multiplies coordination by [\d.]+ \(1 \+ 0\.25 × share\)/, 'a share says how much it weighs');
});
