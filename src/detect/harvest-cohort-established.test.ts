// Harvest cohorts of established accounts (harvest-cohort.ts: ESTABLISHED): a fleet of accounts
// bought with their history (signed up and first used months ago, e-mail or identity verified),
// each its own card, address and network, each sending a day of requests under the single-account
// floor, all asking one harvest shape; beside established customers who converse, paste their
// work, or ask single questions and take answers a few times their prompt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { chanceCount } from './harvest-cohort.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const DAY = 86_400_000;
const COT = 'Think step by step and show your full reasoning before the final answer.';
const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const assistant = (text: string): EventMessage => ({ role: 'assistant', text, chars: text.length });

interface Account { id: string; h: number; tier: 'email_verified' | 'identity_verified'; programme: 'none' | 'startup' }

function event(a: Account, n: number, ts: number, messages: EventMessage[], out: number): InteractionEvent {
  const chars = messages.reduce((s, m) => s + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${a.id}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: a.id, org_id: null, key_id: `key_${a.id}`,
    client: { ip: `82.${a.h % 250}.${Math.floor(a.h / 250)}.9`, user_agent: `client-${a.h % 7}/1.${a.h % 5}`, country: 'US', asn: 4000 + a.h },
    request: { stream: false, system: null, messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0 },
    account: {
      created_at: new Date(T0 - 300 * DAY).toISOString(), first_used_at: new Date(T0 - 200 * DAY).toISOString(),
      tier: a.tier, programme: a.programme, email_domain: 'gmail.com', payment_fp: `card-${a.id}`, signup_ip: `83.${a.h % 250}.1.1`, claimed_country: 'US',
    },
    enforcement: emptyEnforcement(),
  };
}

/** `k` established accounts, `perDay` requests each over one day at a human pace; `ask` writes request n. */
function population(prefix: string, k: number, hBase: number, perDay: number, ask: (n: number, r: () => number, j: number) => { messages: EventMessage[]; out: number },
  tier: (j: number) => Account['tier'] = () => 'email_verified', programme: Account['programme'] = 'none'): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let j = 0; j < k; j++) {
    const r = seededRandom(hBase * 1000 + j + 1);
    const a: Account = { id: `${prefix}_${j}`, h: hBase + j, tier: tier(j), programme };
    for (let n = 0; n < perDay; n++) {
      const ts = T0 + (8 + r() * 13) * 3_600_000;
      const { messages, out: o } = ask(n, r, j);
      out.push(event(a, n, ts, messages, o));
    }
  }
  return out;
}

// The fleet: 12 aged accounts (a third identity verified), 9 requests each on one day (the yield
// test's floor is 25), every request one dataset question asking for the reasoning, long answers.
const fleet = (k = 12, programme: Account['programme'] = 'none', prefix = 'fleet', hBase = 10) => population(prefix, k, hBase, 9, (n, r, j) => ({ messages: [user(`${COT}\n\n${GSM8K[(j * 13 + n * 7) % GSM8K.length]}`)], out: 900 + Math.floor(r() * 900) }),
  (j) => (j % 3 === 0 ? 'identity_verified' : 'email_verified'), programme);

// Established customers: students who paste their working and come back to a step, and
// developers who ask single questions about code they paste (answers a few times shorter than the
// question, or about as long).
const WORKED = 'Let us work through it. Step 1: write down what is known and what is asked. Step 2: turn each sentence into an equation. Step 3: solve the equations one at a time. Step 4: check the result against the problem.';
const students = (k = 40) => population('student', k, 100, 9, (n, r) => {
  const problem = GSM8K[n % 6];
  if (r() < 0.4) return { messages: [user(`Can you explain step by step? ${problem}\n\nMy working so far: I set up the equation but I get ${Math.floor(r() * 90) + 10}, not the answer in the book.`)], out: 500 + Math.floor(r() * 400) };
  return { messages: [user(`Can you explain step by step? ${problem}`), assistant(WORKED), user('I do not get step 2, why do you multiply there?')], out: 250 + Math.floor(r() * 300) };
});
const CODE = 'function total(items) {\n  let sum = 0;\n  for (const item of items) {\n    if (item.price > 0) sum += item.price * item.quantity;\n  }\n  return sum;\n}\n'.repeat(6);
const developers = (k = 40) => population('dev', k, 600, 9, (_n, r) => ({ messages: [user(`Why does this return NaN for some carts? Explain step by step.\n\n${CODE}`)], out: 300 + Math.floor(r() * 500) }));

const levels = (res: ReturnType<typeof replayThroughDetector>, prefix: string) => [...res.highest].filter(([id]) => id.startsWith(`${prefix}_`)).map(([, l]) => l);
const above = (res: ReturnType<typeof replayThroughDetector>, prefix: string, level: 'watch' | 'throttle') =>
  levels(res, prefix).filter((l) => (level === 'watch' ? l > verdictRank('watch') : l >= verdictRank('throttle'))).length;

test('a fleet of aged accounts each under the single-account floor on its first day, sharing nothing but one harvest shape, is throttled as a cohort', () => {
  const events = [...fleet(), ...students(), ...developers()];
  const off = replayThroughDetector(events, { cohort_min_established: 0 });
  assert.equal(above(off, 'fleet', 'throttle'), 0, 'without the established reading no fleet account is throttled: each is below the floor and linked to nothing');

  const res = replayThroughDetector(events);
  const throttled = above(res, 'fleet', 'throttle');
  assert.ok(throttled >= 11, `fleet accounts throttled as a cohort on their first day: ${throttled} of 12`);
  assert.ok(res.e.clusterMembers('fleet_1').length <= 1, 'the fleet is not linked: each account is its own actor');
  assert.equal(above(res, 'student', 'watch'), 0, 'no established student who pastes working or asks a follow-up is held above watch');
  assert.equal(above(res, 'dev', 'watch'), 0, 'no established developer asking about pasted code is held above watch');

  const v = res.e.forAccount('fleet_3').verdict;
  assert.ok(v, 'an identity-verified fleet account holds a verdict');
  const reason = (signal: string) => v!.reasons.find((x) => x.signal === signal);
  const cohort = reason('harvest_cohort');
  assert.ok(cohort && String(cohort.value).startsWith('established-cohort-'), `the verdict names the cohort of established accounts: ${JSON.stringify(cohort)}`);
  assert.ok(/in use before or with a verified identity/.test(cohort!.detail ?? ''), `the cohort is described: ${cohort?.detail}`);
  const size = reason('harvest_cohort_size');
  const read = Number(/of (\d+) such accounts read/.exec(size?.detail ?? '')?.[1]);
  assert.ok(size && typeof size.value === 'number' && typeof size.threshold === 'number' && read > 0 && size.threshold === Math.max(5, chanceCount(read, 0.002)) && size.value >= size.threshold,
    `the cohort's size against its threshold (the larger of the minimum and what chance gives at the base rate): ${JSON.stringify(size)}`);
  assert.ok(/by chance with probability under 0.0001 when 0.2% of them have the shape/.test(size!.detail ?? ''), `the threshold's chance and base rate are given: ${size?.detail}`);
  const shape = reason('harvest_cohort_shape');
  assert.ok(shape && /output\/input ratio >= 10/.test(shape.detail ?? ''), `the shape's conditions are given: ${JSON.stringify(shape)}`);
});

test('too few aged accounts with the shape for the threshold: none of them is throttled', () => {
  const res = replayThroughDetector([...fleet(4), ...students(), ...developers()]);
  assert.equal(above(res, 'fleet', 'throttle'), 0, 'four accounts with the shape among 84 read are no cohort');
});

test('accounts admitted to a programme form no cohort: the same fleet, all in a startup programme, is left to the single-account test', () => {
  const res = replayThroughDetector([...fleet(12, 'startup'), ...students(), ...developers()]);
  assert.equal(above(res, 'fleet', 'throttle'), 0, 'programme members with the shape are not throttled as a cohort of their own');
});

// A fleet buys accounts with their programme admission as with their history: its heads in a
// programme join the cohort its other heads form, and count in nothing.
test('a fleet whose heads are partly in a startup programme: those join the cohort the others form', () => {
  const events = [...fleet(), ...fleet(6, 'startup', 'pfleet', 40), ...students(), ...developers()];
  const res = replayThroughDetector(events);
  assert.ok(above(res, 'fleet', 'throttle') >= 11, 'the fleet outside the programme is throttled as a cohort');
  const joined = above(res, 'pfleet', 'throttle');
  assert.ok(joined >= 5, `programme members with the shape join the cohort: ${joined} of 6`);
  const shape = res.e.forAccount('pfleet_2').verdict?.reasons.find((x) => x.signal === 'harvest_cohort_shape');
  assert.ok(shape && shape.value === 'joined' && /admitted to a programme/.test(shape.detail ?? ''), `the verdict says it joined as a programme member: ${JSON.stringify(shape)}`);
  const size = res.e.forAccount('fleet_3').verdict?.reasons.find((x) => x.signal === 'harvest_cohort_size');
  assert.ok(size && typeof size.value === 'number' && size.value <= 12, `programme members are not counted in the cohort's size: ${JSON.stringify(size)}`);
  const off = replayThroughDetector(events, { cohort_established_programmes: false });
  assert.equal(above(off, 'pfleet', 'throttle'), 0, 'with detect.cohort_established_programmes off, programme members are not read');
  assert.equal(above(res, 'student', 'watch') + above(res, 'dev', 'watch'), 0, 'no student or developer is held above watch');
});

// The threshold is what chance gives at the shape's base rate among the accounts read, not a share
// of them: a fleet that is a few percent of the established accounts active at once is a cohort.
test('a fleet of 12 aged accounts among 250 established customers read is a cohort: the threshold follows chance, not a tenth of the accounts read', () => {
  const res = replayThroughDetector([...fleet(), ...students(125), ...developers(125)]);
  const throttled = above(res, 'fleet', 'throttle');
  assert.ok(throttled >= 11, `fleet accounts throttled as a cohort among 262 accounts read (a tenth would be 27): ${throttled} of 12`);
  assert.equal(above(res, 'student', 'watch'), 0, 'no established student is held above watch');
  assert.equal(above(res, 'dev', 'watch'), 0, 'no established developer is held above watch');
  const size = res.e.forAccount('fleet_3').verdict?.reasons.find((x) => x.signal === 'harvest_cohort_size');
  assert.ok(size && typeof size.threshold === 'number' && size.threshold <= 12, `the threshold among 262 read is under the fleet: ${JSON.stringify(size)}`);
});

test('the chance threshold grows with the square root of the accounts read, and chance alone reaches it at most once in 10,000 readings', () => {
  const poissonTail = (lambda: number, k: number) => { let p = Math.exp(-lambda), cdf = 0; for (let j = 0; j < k; j++) { cdf += p; p *= lambda / (j + 1); } return 1 - cdf; };
  for (const read of [100, 1000, 10_000]) {
    const k = chanceCount(read, 0.002);
    assert.ok(poissonTail(read * 0.002, k) <= 1e-4 && poissonTail(read * 0.002, k - 1) > 1e-4, `at ${read} read, ${k} is the smallest count chance reaches at most 1e-4 of the time`);
  }
  assert.ok(chanceCount(10_000, 0.002) < 100, `a fleet of 100 among 10,000 accounts read is over the threshold (${chanceCount(10_000, 0.002)}); a tenth would be 1,000`);
  assert.ok(chanceCount(1_000_000, 0.002) > 2000, 'a million accounts read: above what chance gives at the base rate, 2,000');
  assert.equal(chanceCount(500, 0), 1, 'a base rate of 0: the minimum alone decides');
});
