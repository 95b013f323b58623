// The detector's metrics say how far campaigns and accounts have gone, so "a campaign reached
// suspend" can be alerted on from /metrics, not only from webhooks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { DetectorEngine, buildLabelledEvents, detectHooks, registerDetectMetrics, VERDICT_LEVELS, type PromptPool } from './index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;

test('metrics: campaigns and accounts by level', async () => {
  const scenario = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 20, startup: 1 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const hooks = detectHooks(engine);
  const registry = new Registry();
  registerDetectMetrics(engine, hooks, registry);
  const metrics = await registry.getMetricsAsJSON();
  const family = (name: string) => metrics.find((m) => m.name === name);
  const byLevel = (name: string) => new Map((family(name)?.values ?? []).map((v) => [v.labels.level as string, v.value]));

  const campaigns = engine.campaigns();
  assert.ok(campaigns.length > 0, 'the scenario makes a campaign');
  const byCampaignLevel = byLevel('warden_detect_campaigns_by_level');
  assert.ok(byCampaignLevel.size > 0, 'warden_detect_campaigns_by_level is registered with a level label');
  for (const level of VERDICT_LEVELS.filter((l) => l !== 'none')) {
    assert.equal(byCampaignLevel.get(level) ?? 0, campaigns.filter((c) => c.level === level).length, `campaigns at ${level}`);
  }
  const top = campaigns[0].level;
  assert.ok((byCampaignLevel.get(top) ?? 0) >= 1, `a series for the campaign's level ${top} to alert on`);

  const byAccountLevel = byLevel('warden_detect_accounts_by_level');
  const total = [...byAccountLevel.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, engine.stats().accounts, 'every account held is counted once, at the level in force');
  for (const level of VERDICT_LEVELS) {
    const n = Object.keys(scenario.labels.accounts).filter((id) => engine.knows(id) && engine.forAccount(id).level === level).length;
    assert.equal(byAccountLevel.get(level) ?? 0, n, `accounts at ${level}`);
  }
  await hooks.close?.();
});
