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

test('a cluster held at watch for want of requests says so: its explanation adds up to its score', () => {
  // A campaign's cluster is capped at watch until it has sent enough requests for its coordination
  // (detect.min_cluster_requests). The capped score is what the verdict and the ledger record, so
  // someone recomputing coordination x harvest from the reasons must find the cap named there.
  const scenario = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 20, startup: 1 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const engine = new DetectorEngine({ config: { min_cluster_requests: 100_000 } });
  const clusterVerdicts: { score: number | null; reasons: { signal: string; value: unknown; threshold: unknown; detail?: string }[] }[] = [];
  engine.onVerdict((v) => { if (v.subject.kind === 'cluster') clusterVerdicts.push(v as never); });
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const standing = engine.clusterSummaries().filter((c) => c.level !== 'none');
  const explained = [...clusterVerdicts, ...standing.map((c) => ({ score: c.score, reasons: c.reasons as never }))];
  assert.ok(explained.length > 0, 'the hydra\'s cluster is flagged');
  let capped = 0;
  for (const v of explained) {
    const value = (s: string) => Number(v.reasons.find((r) => r.signal === s)?.value);
    const score = value('cluster_score');
    const product = value('coordination') * value('harvest');
    if (Math.abs(product - score) <= 0.002) continue;
    capped++;
    const cap = v.reasons.find((r) => r.signal === 'min_cluster_requests');
    assert.ok(cap, `cluster_score ${score} is not coordination ${value('coordination')} x harvest ${value('harvest')} and no reason says why: ${v.reasons.map((r) => r.signal).join(', ')}`);
    assert.ok(typeof cap.value === 'number' && typeof cap.threshold === 'number' && cap.value < cap.threshold, `the cap gives the cluster's requests below the number needed (${cap.value} / ${cap.threshold})`);
    assert.match(cap.detail ?? '', /watch/, 'the cap says which level it holds the score at');
  }
  assert.ok(capped > 0, 'with min_cluster_requests out of reach the cluster\'s score is capped');
});
