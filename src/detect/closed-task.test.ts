/**
 * Accounts that send benchmark items as written (maths word problems, coding instructions), one
 * at a time at a person's pace, asking for no steps and sharing nothing with anyone: the
 * harvest-yield test finds them by the form of what they ask, and leaves people who ask as
 * much, as often, in their own words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { extractFeatures, closedTaskForm, FLAG } from './features.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { promptFixture as fixture, seededRandom as rand, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
// The coding fixture's instructions (the rest are people's questions: "How do I ...?").
const CODING = fixture('distill/code-written.jsonl').filter((t) => /^(Write|Create|Implement|Generate)\b/.test(t));
const CHAT = [...fixture('organic/chat-written.jsonl'), ...fixture('organic/hh-rlhf-sample.jsonl')];
const T0 = Date.parse('2026-05-04T00:00:00.000Z');


/** Each account its own home address and network: they share nothing. */
const homes = new Map<string, number>();
const home = (account: string) => homes.get(account) ?? (homes.set(account, homes.size + 1), homes.size);

/** One single-shot request: `text`, answered with `out` tokens. */
function event(account: string, n: number, ts: number, text: string, out: number): InteractionEvent {
  const h = home(account);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `81.${h}.7.9`, user_agent: 'openai-python/1.54.3', country: 'US', asn: 3000 + h },
    request: { stream: false, system: null, messages: [{ role: 'user', text, chars: text.length }], tools: [], tool_choice: null, params: emptyParams(), bytes: text.length + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(text.length / 4), output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `81.${h}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/**
 * A person's pace over three days: a few sessions a day in business hours, a handful of requests
 * each, irregular gaps; every request a new single-shot prompt from `prompts` (through `word`),
 * answered at length.
 */
function account(id: string, seed: number, prompts: string[], word: (p: string, r: () => number) => string = (p) => p): InteractionEvent[] {
  const r = rand(seed);
  const out: InteractionEvent[] = [];
  for (let d = 0; d < 3; d++) {
    for (let s = 0, sessions = 4 + Math.floor(r() * 5); s < sessions; s++) {
      let ts = T0 + d * 86_400_000 + (9 + r() * 8) * 3_600_000;
      const k = 2 + Math.floor(r() * 5);
      for (let q = 0; q < k; q++) {
        out.push(event(id, out.length, ts, word(prompts[Math.floor(r() * prompts.length)], r), 400 + Math.floor(r() * 600)));
        ts += 15_000 + Math.exp(Math.log(90_000) + (r() - 0.5) * 5);
      }
    }
  }
  return out;
}

const run = (groups: InteractionEvent[][], config: { yield_closed_task_share?: number } = {}) => replayThroughDetector(groups.flat(), config);

test('closed-form tasks: benchmark items as written are, people\'s questions in their own words are not', () => {
  const flagged = (text: string) => (extractFeatures(event('acct_x', 0, T0, text, 400)).flags & FLAG.closedTask) !== 0;
  const share = (ps: string[]) => ps.filter(flagged).length / ps.length;
  assert.ok(share(GSM8K) >= 0.8, `GSM8K questions read as closed-form tasks: ${share(GSM8K)}`);
  assert.ok(share(CODING) >= 0.8, `coding instructions read as closed-form tasks: ${share(CODING)}`);
  assert.ok(share(CHAT) <= 0.03, `people's chat prompts are not closed-form tasks: ${share(CHAT)}`);
  assert.ok(!flagged(`Can you help me with my homework? ${GSM8K[0]}`), 'a student writing to someone about a problem is not a dataset item');
  assert.ok(!flagged('How do I reverse a linked list in Python?'), 'a person asking about their own work is not a dataset item');
  assert.ok(!flagged('What is the capital of France?'), 'an impersonal question that is neither code nor maths is not a closed-form task');
  assert.ok(closedTaskForm('write a function that returns the nth fibonacci number.'), 'an instruction is a task');
});

test('with the closed-form condition on (an operator\'s choice), accounts sending benchmark items as written are throttled; people asking as much with words of their own are not', () => {
  const harvesters = Array.from({ length: 15 }, (_, k) => account(`acct_items_${k}`, 100 + k, [...GSM8K, ...CODING]));
  // The same volume, pace and answer lengths, single-shot too: heavy chat users, and students
  // pasting the very same word problems with a line of their own.
  const chatters = Array.from({ length: 15 }, (_, k) => account(`acct_chat_${k}`, 200 + k, CHAT));
  const students = Array.from({ length: 15 }, (_, k) => account(`acct_student_${k}`, 300 + k, GSM8K,
    (p, r) => `${['Can you help me with this problem? ', 'I am stuck on my homework: ', 'Please check my answer to this one. '][Math.floor(r() * 3)]}${p}`));
  const { e, throttledAt, highest, seen } = run([...harvesters, ...chatters, ...students], { yield_closed_task_share: 0.5 });
  const when = Array.from({ length: 15 }, (_, k) => `acct_items_${k}`).map((id) => [id, throttledAt.get(id) ?? Infinity, seen.get(id)] as const);
  const late = when.filter(([, at]) => at > 60);
  assert.ok(late.length === 0, `every account throttled within its first 60 requests; not: ${late.map(([id, at, n]) => `${id} at ${at} of ${n}`).join(', ')}`);
  const v = e.forAccount('acct_items_0').verdict;
  const closed = v?.reasons.find((x) => x.signal === 'yield_closed_task_share');
  assert.ok(v?.reasons.some((x) => x.signal === 'harvest_yield_test') && closed && typeof closed.value === 'number' && closed.value >= 0.5,
    `the verdict names the test and the closed-form share: ${JSON.stringify(v?.reasons.slice(0, 8))}`);
  for (const id of seen.keys()) {
    if (id.startsWith('acct_items_')) continue;
    assert.ok((highest.get(id) ?? 0) <= verdictRank('watch'), `${id} (${seen.get(id)} requests) stays at watch or below, reached ${highest.get(id)}`);
  }
});

test('by default the closed-form condition is off: students pasting their homework problems as written, and the harvesters, stay at watch or below', () => {
  // Students who paste a problem set as written, one problem a request, read long answers and do
  // not converse, cannot be told from a harvester of the same items by form alone: hence off.
  const students = Array.from({ length: 10 }, (_, k) => account(`acct_homework_${k}`, 400 + k, GSM8K));
  const harvester = account('acct_items_off', 7, [...GSM8K, ...CODING]);
  const { e, highest, seen } = run([...students, harvester]);
  for (const id of seen.keys()) {
    assert.ok((highest.get(id) ?? 0) <= verdictRank('watch'), `${id} (${seen.get(id)} requests) stays at watch or below by default, reached ${highest.get(id)}`);
  }
  const reading = e.forAccount('acct_homework_0').verdict?.reasons.find((x) => x.signal === 'closed_task_share');
  assert.ok(reading === undefined || reading.threshold !== undefined, 'the share is still read, with its threshold, where it is reported');
  // The same students with the condition on: the trade-off the setting documents.
  const on = run(students, { yield_closed_task_share: 0.5 });
  const throttled = [...on.seen.keys()].filter((id) => (on.highest.get(id) ?? 0) > verdictRank('watch'));
  assert.ok(throttled.length > 0, 'with the condition on, some students pasting problems as written are held above watch (why it is off by default)');
});
