/**
 * The `quiet` preset's campaigns, each sharing nothing between its accounts and keeping under one
 * bar: low and slow at scale, one-day accounts replaced daily, and a grading harvest through a
 * required tool. The generator must produce the behaviour each is named for, and the detector's
 * reading of them is asserted as measured: what is caught, and what is still missed (listed in
 * docs/detector.md, Limits; a change here should change that list).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InteractionEvent } from '../events/index.ts';
import { DetectorEngine, buildReport, verdictRank } from '../detect/index.ts';
import { resolveScenario, generateTraffic, evaluate, type AccountLabel, type LabelLine } from './index.ts';

const DAY = 86_400_000;

/** The preset at a test's size: ten days, 40 organic accounts at a quarter of their volume, the campaigns scaled down. */
const made = new Map<string, ReturnType<typeof makeQuiet>>();
function quiet(reviewOver: Record<string, unknown> = {}) {
  const key = JSON.stringify(reviewOver);
  return made.get(key) ?? made.set(key, makeQuiet(reviewOver)).get(key)!;
}

function makeQuiet(reviewOver: Record<string, unknown>) {
  const sc = resolveScenario(null, {
    preset: 'quiet', seed: 3, days: 10, organicAccounts: 40,
    set: [
      'organic.volume_scale=0.25',
      'campaigns.0.accounts=40', 'campaigns.0.interactions=1400',
      'campaigns.1.accounts=50', 'campaigns.1.interactions=1000',
      'campaigns.2.accounts=12', 'campaigns.2.interactions=2400',
      ...Object.entries(reviewOver).map(([k, v]) => `campaigns.2.${k}=${JSON.stringify(v)}`),
    ],
  });
  const run = generateTraffic(sc);
  const events: InteractionEvent[] = [...run.events];
  const labels = run.labels as LabelLine[];
  const accounts = labels.filter((l): l is AccountLabel => l.type === 'account');
  const of = (campaign: string) => new Set(accounts.filter((l) => l.campaign_id === campaign).map((l) => l.account_id));
  return { events, labels, accounts, of };
}

async function detect(events: InteractionEvent[], labels: LabelLine[]) {
  const engine = new DetectorEngine({ trackFirstFlags: true });
  for (const ev of events) engine.ingest(ev);
  engine.flush();
  const report = buildReport(engine, { detector: 'warden', to: events[events.length - 1].ts });
  const evaluation = await evaluate(report, labels, () => events, { flagLevel: 'throttle' });
  const level = new Map(report.accounts.map((a) => [a.account_id, verdictRank(a.max_level)]));
  return { engine, evaluation, level };
}

test('quiet preset: each campaign has the shape it is named for', () => {
  const { events, of } = quiet();
  const slow = of('slow-1'); const churn = of('churn-1'); const review = of('review-1');
  const byAccount = new Map<string, InteractionEvent[]>();
  for (const ev of events) if (ev.account_id) (byAccount.get(ev.account_id) ?? byAccount.set(ev.account_id, []).get(ev.account_id)!).push(ev);

  // Low and slow: under ten requests on every day of use, over more than a week.
  let slowActive = 0;
  const rates: number[] = [];
  const heavy: string[] = [];
  for (const id of slow) {
    const evs = byAccount.get(id) ?? [];
    if (!evs.length) continue;
    slowActive++;
    const days = new Set(evs.map((ev) => Math.floor(Date.parse(ev.ts) / DAY)));
    if (evs.length / days.size >= 10) heavy.push(`${id}: ${evs.length} requests over ${days.size} days of use`);
    rates.push(evs.length / 10);
    assert.ok((Date.parse(evs[evs.length - 1].ts) - Date.parse(evs[0].ts)) > 5 * DAY || evs.length < 10, `${id} is used over days`);
  }
  assert.ok(slowActive >= 30, `slow accounts in use: ${slowActive}`);
  assert.ok(heavy.length <= 0.05 * slowActive, `accounts at ten requests a day or more: ${heavy.join('; ')}`);
  rates.sort((a, b) => a - b);
  assert.ok(rates[rates.length >> 1] < 5, `median requests a day: ${rates[rates.length >> 1]}`);
  // Every slow account has its own card; its requests come from many residential exits.
  const cards = new Set([...slow].map((id) => byAccount.get(id)?.[0]?.account?.payment_fp).filter(Boolean));
  assert.equal(cards.size, [...slow].filter((id) => byAccount.has(id)).length, 'a card per slow account');
  const exits = new Set([...slow].flatMap((id) => (byAccount.get(id) ?? []).map((ev) => ev.client.ip)));
  assert.ok(exits.size > 0.8 * [...slow].reduce((n, id) => n + (byAccount.get(id)?.length ?? 0), 0), `rotating exits: ${exits.size}`);

  // Churn: each account used within one day of its first request, signed up shortly before.
  let churnActive = 0;
  for (const id of churn) {
    const evs = byAccount.get(id) ?? [];
    if (!evs.length) continue;
    churnActive++;
    assert.ok(Date.parse(evs[evs.length - 1].ts) - Date.parse(evs[0].ts) <= DAY + 3_600_000, `${id} is used for one day`);
    assert.equal(evs[0].account!.programme, 'none');
  }
  assert.ok(churnActive >= 40, `churn accounts in use: ${churnActive}`);
  const firstUse = [...churn].flatMap((id) => (byAccount.get(id)?.[0] ? [Date.parse(byAccount.get(id)![0].ts)] : [])).sort((a, b) => a - b);
  assert.ok(firstUse[firstUse.length - 1] - firstUse[0] > 7 * DAY, 'fresh accounts replace the used ones day after day');

  // The grading harvest: a JSON payload with one criterion, a required tool, each item graded on
  // three criteria in turn, and no words of a grading prompt.
  const graded = new Map<string, string[]>();
  let reviewRequests = 0;
  for (const id of review) {
    for (const ev of byAccount.get(id) ?? []) {
      reviewRequests++;
      assert.deepEqual(ev.request.tools, ['submit_review']);
      assert.equal(ev.request.tool_choice, 'required');
      const payload = JSON.parse(ev.request.messages[0].text!) as { item_id: string; criterion: string; question: string; candidate: string };
      assert.ok(payload.question && payload.candidate && payload.criterion, 'question, candidate and criterion in the payload');
      const key = `${id}/${payload.item_id}`;
      graded.set(key, [...(graded.get(key) ?? []), payload.criterion]);
      assert.doesNotMatch(`${ev.request.system ?? ''} ${ev.request.messages[0].text}`.slice(0, 400), /\b(rate the response|as a judge|on a scale of|rubric)\b/i);
    }
  }
  assert.ok(reviewRequests > 500, `review requests: ${reviewRequests}`);
  const complete = [...graded.values()].filter((c) => c.length === 3);
  assert.ok(complete.length > 0.8 * graded.size, `items graded on three criteria: ${complete.length} of ${graded.size}`);
  for (const c of complete) assert.equal(new Set(c).size, 3, `three different criteria: ${c}`);
});

test('quiet campaigns through the detector: the grading harvest with reasoning and one system prompt is caught, and no organic account is flagged beside the three campaigns', async () => {
  const { events, labels, of } = quiet();
  const { evaluation, level } = await detect(events, labels);
  const active = new Set(events.map((ev) => ev.account_id));
  const flagged = (ids: Set<string>) => [...ids].filter((id) => active.has(id) && (level.get(id) ?? 0) >= verdictRank('throttle')).length;
  const inUse = (ids: Set<string>) => [...ids].filter((id) => active.has(id)).length;

  // Caught: its accounts pass the harvest-yield test on their own (the reasoning returned makes the
  // answers long), and the first one flagged makes the others replacement heads (its system prompt
  // and tool set).
  const review = of('review-1');
  assert.equal(flagged(review), inUse(review), `grading accounts throttled or above: ${flagged(review)} of ${inUse(review)}`);

  // Low-and-slow and one-day accounts are mostly missed (docs/detector.md, Limits, with the measured
  // figures): not asserted here, so that a detector that catches them passes this test.
  // No organic account is flagged.
  assert.equal(evaluation.totals.organic_accounts_flagged, 0);
});

test('quiet campaigns through the detector: beside a grading harvest without reasoning and with a system prompt per account, no organic account is flagged', async () => {
  const { events, labels, of } = quiet({ 'params.reasoning_share': 0, system_prompt: 'per_account' });
  const { engine, evaluation } = await detect(events, labels);
  // Its critiques are short next to the question and reply it sends (a ratio of about 3), and it
  // asks for no reasoning in words the lexicons hold: no account passes the harvest-yield test.
  // Only accounts linked to others (in the traffic model, through residential addresses two of
  // them happen to share, and then their tool set) are flagged.
  const active = [...of('review-1')].filter((id) => events.some((ev) => ev.account_id === id));
  const alone = active.filter((id) => engine.accountLink(id) === null && engine.clusterMembers(id).length <= 1);
  assert.ok(alone.length >= 3, `grading accounts linked to none: ${alone.length} of ${active.length}`);
  // What becomes of them is measured in docs/detector.md (Limits); the test holds what must not
  // change: organic customers beside a grading harvest that hides its shape are not flagged.
  assert.equal(evaluation.totals.organic_accounts_flagged, 0);
});
