/**
 * The detector on the traffic model (src/traffic): campaigns that hide behind a declared org and
 * low-and-slow accounts that link to nobody, against organic hard negatives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, verdictRank } from './index.ts';
import { resolveScenario, generateTraffic } from '../traffic/index.ts';
import type { InteractionEvent } from '../events/index.ts';

const above = (lvl: string) => verdictRank(lvl as 'none') > verdictRank('watch');

function simulate(file: Record<string, unknown> | null, opts: { preset: string; seed: number }, config?: object) {
  const run = generateTraffic(resolveScenario(file, opts));
  const events: InteractionEvent[] = [...run.events];
  const labels = new Map<string, { population: string; campaign_kind: string | null; organic_kind: string | null }>();
  for (const l of run.labels as unknown as Array<Record<string, unknown>>) {
    if (l.type === 'account') labels.set(l.account_id as string, l as never);
  }
  const engine = new DetectorEngine({ trackFirstFlags: true, config });
  for (const ev of events) engine.ingest(ev);
  engine.flush();
  // Highest level each account was served under during the run (or holds at the end).
  const maxLevel = new Map(engine.accountIds().map((id) => {
    const served = engine.servedByLevel(id);
    let m = 0;
    for (let l = 0; l < served.length; l++) if (served[l] > 0) m = l;
    return [id, Math.max(m, verdictRank(engine.forAccount(id).level))] as [string, number];
  }));
  const of = (pred: (l: { population: string; campaign_kind: string | null; organic_kind: string | null }) => boolean) =>
    [...labels.entries()].filter(([id, l]) => pred(l) && maxLevel.has(id)).map(([id]) => id);
  return { engine, maxLevel, of };
}

test('a surgical campaign behind one declared org of free-mail accounts is contained as a coordinated cluster', () => {
  const { engine, maxLevel, of } = simulate(null, { preset: 'smoke', seed: 3 });
  const surgical = of((l) => l.campaign_kind === 'surgical');
  assert.ok(surgical.length >= 6);
  for (const id of surgical) assert.ok((maxLevel.get(id) ?? 0) >= verdictRank('throttle'), `surgical ${id} at ${engine.forAccount(id).level}`);
  const v = engine.forAccount(surgical[0]).verdict!;
  assert.equal(v.subject.kind, 'cluster');
  const signals = v.reasons.map((r) => r.signal);
  assert.ok(signals.includes('uncorroborated_org_members'), signals.join(', '));
  // Corroborated orgs (enterprises on their own domain, labs, startups) remain one actor each.
  for (const id of of((l) => l.population === 'organic')) assert.ok((maxLevel.get(id) ?? 0) <= verdictRank('watch'), `organic ${id} above watch`);
});

test('low-and-slow accounts that link to nobody reach throttle alone through the harvest-yield test; organic accounts do not', () => {
  const { engine, maxLevel, of } = simulate({
    preset: 'default', days: 4, organic: { accounts: 160 },
    campaigns: [{ id: 'adaptive-1', kind: 'adaptive', accounts: 16, interactions: 16 * 19 * 4 }],
  }, { preset: 'default', seed: 9 });
  const adaptive = of((l) => l.campaign_kind === 'adaptive');
  const flagged = adaptive.filter((id) => (maxLevel.get(id) ?? 0) >= verdictRank('throttle'));
  assert.ok(adaptive.length >= 12 && flagged.length >= adaptive.length * 0.6, `adaptive flagged ${flagged.length}/${adaptive.length}`);
  if (process.env.DETECT_TEST_VERBOSE) console.log(`adaptive flagged ${flagged.length}/${adaptive.length}`);
  // Each is held as one account: by the harvest-yield test alone, or read with the others of the
  // shape among established accounts as a cohort (harvest-cohort.ts), which can come first.
  const held = flagged.filter((id) => above(engine.forAccount(id).level));
  const signalsOf = (id: string) => new Map(engine.forAccount(id).verdict!.reasons.map((r) => [r.signal, r]));
  for (const id of held) {
    const v = engine.forAccount(id).verdict!;
    assert.equal(v.subject.kind, 'account', `${id} is held as an account, not as ${v.subject.kind}`);
    const names = [...signalsOf(id).keys()];
    assert.ok(names.includes('harvest_yield_test') || names.includes('harvest_cohort'), `${id} held by ${names.join(', ')}`);
  }
  const byYield = held.find((id) => signalsOf(id).has('harvest_yield_test'));
  assert.ok(held.length === 0 || byYield !== undefined, `none of the ${held.length} held accounts is held by the harvest-yield test`);
  if (byYield) {
    const byName = signalsOf(byYield);
    for (const s of ['yield_single_shot_share', 'yield_output_input_ratio', 'yield_reasoning_elicitation_share']) {
      const r = byName.get(s);
      assert.ok(r && typeof r.value === 'number' && typeof r.threshold === 'number' && r.value >= r.threshold, `${s} of ${byYield}: ${JSON.stringify(r)}`);
    }
  }
  const organic = of((l) => l.population === 'organic');
  const fp = organic.filter((id) => (maxLevel.get(id) ?? 0) > verdictRank('watch'));
  assert.deepEqual(fp, [], 'organic accounts above watch');
});

test('with fleet software on, a hydra fleet with its own card, signup and residential address per account, on accounts signed up months before, is linked through its system prompt', () => {
  // Seed 1 of the smoke preset: the hydra campaign sends its own system prompt (seed 2's sends none).
  const stripped = { payment: { accounts_per_instrument: 1, none_share: 0 }, signup: { email: 'freemail', bursts: 0, org_per_account: true, age_days: [30, 300] }, network: { mode: 'residential_sticky' } };
  const { engine, maxLevel, of } = simulate({ preset: 'smoke', campaigns: [{ id: 'hydra-1', kind: 'hydra', accounts: 40, interactions: 2000, ...stripped }] }, { preset: 'smoke', seed: 1 }, { fleet_min_holders: 3 });
  const hydra = of((l) => l.campaign_kind === 'hydra');
  const flagged = hydra.filter((id) => (maxLevel.get(id) ?? 0) >= verdictRank('throttle'));
  assert.ok(hydra.length >= 30 && flagged.length >= hydra.length * 0.9, `hydra flagged ${flagged.length}/${hydra.length}`);
  const v = engine.forAccount(flagged[0]).verdict!;
  assert.equal(v.subject.kind, 'cluster');
  assert.ok(v.reasons.some((r) => r.signal === 'fleet_software'), v.reasons.map((r) => r.signal).join(', '));
  for (const id of of((l) => l.population === 'organic')) assert.ok((maxLevel.get(id) ?? 0) <= verdictRank('watch'), `organic ${id} above watch`);
});

test('by default, a cohort of new users of one application (each with a key of their own, one system prompt) is not taken for a fleet', () => {
  // The developers, agent products and startups of a smoke run, turned into brand-new, unverified,
  // unaffiliated accounts with no card that all send one application's system prompt: what a new
  // bring-your-own-key client or a course's tool looks like. They share the prompt as a fleet does;
  // fleet software (off by default) would link those of them that harvest on their own.
  const run = generateTraffic(resolveScenario(null, { preset: 'smoke', seed: 4 }));
  const cohort = new Set(run.labels.flatMap((l) => (l.type === 'account' && l.population === 'organic' && ['developer', 'agent', 'startup'].includes(l.organic_kind ?? '') ? [l.account_id] : [])));
  assert.ok(cohort.size >= 30, `cohort of ${cohort.size}`);
  const first = new Map<string, number>();
  const engine = new DetectorEngine({ trackFirstFlags: true });
  let n = 0;
  for (const ev of run.events) {
    if (!cohort.has(ev.account_id!)) { engine.ingest(ev); continue; }
    const t = Date.parse(ev.ts);
    if (!first.has(ev.account_id!)) first.set(ev.account_id!, t);
    const firstUse = first.get(ev.account_id!)!;
    engine.ingest({
      ...ev, org_id: null, request: { ...ev.request, system: 'You are DevPilot, a coding assistant inside the editor. Be concise and correct.' },
      account: { ...ev.account!, tier: 'email_verified', payment_fp: null, created_at: new Date(firstUse - 86_400_000 - (n++ % 24) * 3_600_000).toISOString(), first_used_at: new Date(firstUse).toISOString() },
    });
  }
  engine.flush();
  for (const id of cohort) {
    const served = engine.servedByLevel(id);
    const max = Math.max(served.reduce((m, x, l) => (x > 0 ? l : m), 0), verdictRank(engine.forAccount(id).level));
    assert.ok(max <= verdictRank('watch'), `${id} served at level ${max}`);
  }
});
