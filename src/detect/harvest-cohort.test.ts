// Harvest cohorts (harvest-cohort.ts): many new, unverified accounts that share nothing (each its
// own card, address and network) and each stay under the single-account floor, but all ask the
// same harvest shape; against a class of students on free-mail doing the same homework.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank, DetectorEngine } from './index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const COT = 'Think step by step and show your full reasoning before the final answer.';
const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const assistant = (text: string): EventMessage => ({ role: 'assistant', text, chars: text.length });

interface Account { id: string; h: number; createdMs: number; domain: string }

function event(a: Account, n: number, ts: number, messages: EventMessage[], out: number): InteractionEvent {
  const chars = messages.reduce((s, m) => s + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${a.id}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: a.id, org_id: null, key_id: `key_${a.id}`,
    client: { ip: `81.${a.h}.7.9`, user_agent: 'python-httpx/0.27', country: 'US', asn: 3000 + a.h },
    request: { stream: false, system: null, messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0 },
    account: { created_at: new Date(a.createdMs).toISOString(), tier: 'email_verified', programme: 'none', email_domain: a.domain, payment_fp: `card-${a.id}`, signup_ip: `81.${a.h}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/**
 * `k` new accounts (each signed up hours before its first day, its own card, address and
 * network), `perDay` requests a day at a human pace for `days` days; `ask` writes request n.
 */
function population(prefix: string, k: number, hBase: number, days: number, perDay: number, domain: string,
  ask: (q: string, n: number, r: () => number) => { messages: EventMessage[]; out: number }): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let j = 0; j < k; j++) {
    const r = seededRandom(hBase * 1000 + j + 1);
    const a: Account = { id: `${prefix}_${j}`, h: hBase + j, createdMs: T0 - (2 + r() * 20) * 3_600_000, domain };
    let n = 0;
    for (let d = 0; d < days; d++) {
      for (let q = 0; q < perDay; q++) {
        const ts = T0 + d * 86_400_000 + (8 + r() * 13) * 3_600_000;
        const { messages, out: o } = ask(GSM8K[(j * 13 + n * 7) % GSM8K.length], n, r);
        out.push(event(a, n++, ts, messages, o));
      }
    }
  }
  return out;
}

// The fleet: 30 accounts, 4 requests a day for 3 days (12 each, under the yield test's floor of
// 25), every request one dataset question asking for the reasoning, long answers taken.
const fleet = () => population('fleet', 30, 10, 3, 4, 'gmail.com', (q, _n, r) => ({ messages: [user(`${COT}\n\n${q}`)], out: 900 + Math.floor(r() * 900) }));

// A class of 40 students on free-mail (no campus domain, no programme, no org), all with the same
// homework (the same few problems), asking for the steps; as students do, most of them paste
// their own working and come back to a step they did not follow in the same conversation.
const HOMEWORK = GSM8K.slice(0, 6);
/** The answer the student was given (a worked solution, as long as one is). */
const worked = (problem: string) => `Let us work through it. The problem says: ${problem}\n\nStep 1: write down what is known and what is asked, with units, and give each unknown quantity a name. Step 2: turn each sentence of the problem into an equation between the named quantities; when a quantity is a part of another, multiply by the fraction or the rate the sentence gives. Step 3: solve the equations one at a time, substituting what the earlier steps found. Step 4: check the result against the problem: put the number back into each sentence and see that it holds, and that the answer is in the units asked for. The answer is the number found in step 3.`;
const homeworkClass = () => population('student', 40, 100, 3, 4, 'gmail.com', (_q, n, r) => {
  const problem = HOMEWORK[n % HOMEWORK.length];
  const working = `My working so far: I wrote down what we know, then I tried to set up the equation but I get a different number from the answer in the book, ${Math.floor(r() * 90) + 10}, and I do not see where I went wrong.`;
  if (r() < 0.4) return { messages: [user(`Can you explain step by step? ${problem}\n\n${working}`)], out: 500 + Math.floor(r() * 400) };
  return {
    messages: [user(`Can you explain step by step? ${problem}`), assistant(worked(problem)), user('I do not get step 2, why do you multiply there? Our teacher did it another way.')],
    out: 250 + Math.floor(r() * 300),
  };
});

const maxLevel = (res: ReturnType<typeof replayThroughDetector>, prefix: string) =>
  [...res.highest].filter(([id]) => id.startsWith(`${prefix}_`)).map(([, l]) => l);

test('a fleet of new accounts each under the single-account floor, sharing nothing but one harvest shape, is throttled as a cohort', () => {
  const events = fleet();
  const perAccount = events.length / 30;
  assert.ok(perAccount < 25, `each fleet account sends fewer requests (${perAccount}) than the yield test's floor`);

  // Without the cohort reading, no account of the fleet goes above watch: each alone is below the floor.
  const off = replayThroughDetector(events, { cohort_min_accounts: 0 });
  const offAbove = maxLevel(off, 'fleet').filter((l) => l >= verdictRank('throttle')).length;
  assert.equal(offAbove, 0, `fleet accounts throttled without the cohort reading: ${offAbove} of 30`);

  const res = replayThroughDetector(events);
  const levels = maxLevel(res, 'fleet');
  const throttled = levels.filter((l) => l >= verdictRank('throttle')).length;
  assert.ok(throttled >= 28, `fleet accounts throttled as a cohort: ${throttled} of 30`);
  // No link made it: each account is alone in its cluster.
  assert.ok(res.e.clusterMembers('fleet_0').length <= 1, `the fleet's first account is not linked (${res.e.clusterMembers('fleet_0').join(', ')})`);

  const v = res.e.forAccount('fleet_3').verdict;
  assert.ok(v, 'fleet_3 holds a verdict');
  const reason = (signal: string) => v!.reasons.find((x) => x.signal === signal);
  const cohort = reason('harvest_cohort');
  assert.ok(cohort && String(cohort.value).startsWith('cohort-2026-05-0'), `the verdict names the cohort: ${JSON.stringify(cohort)}`);
  assert.ok(/new, unverified accounts/.test(cohort!.detail ?? ''), `the cohort is described: ${cohort?.detail}`);
  const size = reason('harvest_cohort_size');
  assert.ok(size && typeof size.value === 'number' && size.value >= 28 && size.value <= 30 && size.threshold === 20,
    `the cohort's size and its threshold are given: ${JSON.stringify(size)}`);
  const ratio = reason('harvest_cohort_median_output_input_ratio');
  assert.ok(ratio && typeof ratio.value === 'number' && ratio.value >= 8 && ratio.threshold === 8, `the shape's statistic and threshold: ${JSON.stringify(ratio)}`);
});

test('fewer new accounts with the shape than cohort_min_accounts: none of them is throttled', () => {
  const events = fleet().filter((ev) => Number(ev.account_id!.split('_')[1]) < 12);
  const res = replayThroughDetector(events);
  const throttled = maxLevel(res, 'fleet').filter((l) => l >= verdictRank('throttle')).length;
  assert.equal(throttled, 0, `accounts of a group of 12 throttled: ${throttled}`);
});

test('a class of students on free-mail doing the same homework is not a cohort, alone or beside a fleet', () => {
  const alone = replayThroughDetector(homeworkClass());
  const aloneAbove = maxLevel(alone, 'student').filter((l) => l > verdictRank('watch')).length;
  assert.equal(aloneAbove, 0, `students above watch with their class alone: ${aloneAbove} of 40`);

  const both = replayThroughDetector([...homeworkClass(), ...fleet()]);
  const studentsAbove = maxLevel(both, 'student').filter((l) => l > verdictRank('watch')).length;

  assert.equal(studentsAbove, 0, `students above watch beside the fleet: ${studentsAbove} of 40`);
  const fleetThrottled = maxLevel(both, 'fleet').filter((l) => l >= verdictRank('throttle')).length;
  assert.ok(fleetThrottled >= 28, `the fleet beside the class is still found: ${fleetThrottled} of 30`);
  const v = both.e.forAccount('student_5').verdict;
  assert.ok(!v || !v.reasons.some((x) => x.signal === 'harvest_cohort'), `a student's verdict names no cohort: ${JSON.stringify(v?.reasons.map((x) => x.signal))}`);
});

test('a snapshot keeps the cohort; one written before harvest cohorts loads and its detector reads the cohort again', () => {
  const events = fleet();
  const res = replayThroughDetector(events);
  const state = res.e.snapshotState();
  assert.ok('cohort' in state, 'the snapshot holds the cohort reading');

  const restored = new DetectorEngine();
  assert.ok(restored.readsLayout(res.e.snapshotLayout()), 'a snapshot of this version is read');
  restored.restoreState(state);
  assert.equal(restored.forAccount('fleet_3').level, res.e.forAccount('fleet_3').level, 'the restored detector holds the same level');

  // A snapshot written before: the same state and layout without the cohort.
  const older = { ...state };
  delete older.cohort;
  const [format, fields] = res.e.snapshotLayout().split(';');
  const olderLayout = `${format};${fields.split(',').filter((f) => f !== 'cohort').join(',')}`;
  const fresh = new DetectorEngine();
  assert.ok(fresh.readsLayout(olderLayout), `a snapshot without the cohort is read (${olderLayout.slice(0, 40)}...)`);
  fresh.restoreState(older);
  // One more request of a fleet account an hour later: the reading is made again from the windows.
  const last = events.filter((ev) => ev.account_id === 'fleet_3').at(-1)!;
  const next = { ...last, id: 'fleet_3-next', ts: new Date(Date.parse(last.ts) + 3_600_000).toISOString() };
  fresh.ingest(next);
  fresh.flush();
  const v = fresh.forAccount('fleet_3');
  assert.ok(verdictRank(v.level) >= verdictRank('throttle'), `fleet_3 throttled after the older snapshot: ${v.level}`);
  assert.ok(v.verdict?.reasons.some((x) => x.signal === 'harvest_cohort'), `its verdict names the cohort again: ${JSON.stringify(v.verdict?.reasons.map((x) => x.signal))}`);
});

// New hobbyists signing up while a fleet's cohort stands, each asking three bare maths questions
// (reasoning asked for with a parameter, long answers): with three requests each, their shape is
// the fleet's, but their questions are all of one kind, where a fleet's heads sample its harvest's
// mix (maths and the working asked for, code). They do not join the cohort.
test('new hobbyists with three questions of one kind do not join a standing cohort', () => {
  const DAY = 86_400_000;
  const hobbyists = population('hobby', 12, 300, 1, 3, 'gmail.com', (q, _n, r) => ({ messages: [user(q)], out: 900 + Math.floor(r() * 900) }))
    .map((ev) => ({
      ...ev, ts: new Date(Date.parse(ev.ts) + DAY).toISOString(),
      request: { ...ev.request, params: { ...ev.request.params, reasoning_effort: 'high' } },
      account: { ...ev.account!, created_at: new Date(Date.parse(ev.account!.created_at) + DAY).toISOString() },
    }));
  const res = replayThroughDetector([...fleet(), ...hobbyists]);
  const fleetThrottled = maxLevel(res, 'fleet').filter((l) => l >= verdictRank('throttle')).length;
  assert.ok(fleetThrottled >= 28, `the fleet is still throttled as a cohort: ${fleetThrottled} of 30`);
  const above = maxLevel(res, 'hobby').filter((l) => l > verdictRank('watch')).length;

  // One of the twelve (hobby_6) asks a question about prices the lexicon also reads as code:
  // two kinds, so it still joins (docs/detector.md, Limits). 11 of 12 joined before.
  assert.ok(above <= 1, `hobbyists above watch beside the standing cohort: ${above} of 12`);
});
