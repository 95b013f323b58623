/**
 * Harvesting hidden among conversations: a single account whose dataset questions asking for the
 * steps are mixed with real-looking chats, and one that asks its questions as the turns of
 * conversations. Eight aged, unlinked accounts a shape (each its own card, address and network),
 * real prompts from the fixtures, a person's pace for ten days. People who chat and people who
 * ask for the steps of their own maths must not be flagged on their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractFeatures, FLAG } from './features.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector, personPaceTimes, roughTokens, replaySummary as summary, assertAtMostWatch } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODE = fixture('distill/code-written.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const HH = fixture('organic/hh-rlhf-sample.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');

/** Human-looking ways of asking for the working, varied per request. */
const ASK_STEPS = [
  (q: string) => `${q}\nCan you explain step by step?`,
  (q: string) => `Please solve this and show your reasoning step by step: ${q}`,
  (q: string) => `${q} Walk me through it step by step please`,
  (q: string) => `hey, could you help with this one? ${q} think step by step`,
  (q: string) => `${q}\n\nShow all your work and explain each step.`,
  (q: string) => `I'm stuck on this: ${q} Let's think step by step.`,
];
const FOLLOW_UPS = ['Thanks! Can you make it a bit shorter?', 'Great, and what would you change if I had less time?', 'Could you give me a second option?', 'ok that makes sense. what about the cost?', 'Can you put that in a table?'];

const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
/** An answer of about `tokens` tokens as a client sends it back in its history (an event keeps at most 8,000 characters of it). */
const answer = (tokens: number, seed: number): EventMessage => {
  const text = `Sure (${seed}). ${'Here is how this works out in detail, one part after another. '.repeat(Math.ceil((tokens * 4) / 62))}`.slice(0, Math.min(8000, tokens * 4));
  return { role: 'assistant', text, chars: text.length };
};

interface Request { messages: EventMessage[]; out: number }

function event(account: string, home: number, n: number, ts: number, req: Request): InteractionEvent {
  const chars = req.messages.reduce((a, m) => a + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `84.${home}.7.9`, user_agent: 'Mozilla/5.0', country: 'US', asn: 5000 + home },
    request: { stream: false, system: null, messages: req.messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: req.messages.reduce((a, m) => a + roughTokens(m.text ?? ""), 0), output_tokens: req.out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: req.out * 4, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `84.${home}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

let homes = 0;
/**
 * `k` accounts `prefix`_0.. at a person's pace for `days`; `next(r, n)` yields the account's
 * requests in order (a conversation's turns one after another).
 */
function accounts(prefix: string, k: number, days: number, next: (r: () => number, n: number) => Request): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const home = ++homes; const r = seededRandom(home * 7919 + 17);
    personPaceTimes(r, T0, days).forEach((ts, n) => out.push(event(id, home, n, ts, next(r, n))));
  }
  return out;
}

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
const itemOut = (r: () => number) => 500 + Math.floor(r() * 900);

/**
 * Requests of an account that turns to `chat` (a real-looking conversation of two or three turns,
 * each turn a request carrying the earlier ones) on `chatShare` of its requests, and otherwise asks
 * `single(r)`: a single-shot question.
 */
function mixer(chatShare: number, single: (r: () => number) => Request, chatPrompts: readonly string[]): (r: () => number, n: number) => Request {
  let convo: EventMessage[] = [];
  let left = 0;
  return (r) => {
    if (left === 0 && r() < chatShare / 2.5) { convo = [user(pick(chatPrompts, r))]; left = r() < 0.5 ? 1 : 2; return { messages: convo, out: 150 + Math.floor(r() * 450) }; }
    if (left > 0) {
      left--;
      convo = [...convo, answer(150 + Math.floor(r() * 450), convo.length), user(pick(FOLLOW_UPS, r))];
      return { messages: convo, out: 100 + Math.floor(r() * 400) };
    }
    return single(r);
  };
}

let item = 0;
const harvestItem = (r: () => number): Request => ({ messages: [user(pick(ASK_STEPS, r)(GSM8K[item++ % GSM8K.length]))], out: itemOut(r) });

/**
 * Conversations of one to four turns, each turn a new item asking for the steps, with the earlier
 * items and their answers as history.
 */
function multiTurn(items: readonly string[], ask: (q: string, r: () => number) => string): (r: () => number, n: number) => Request {
  let convo: EventMessage[] = [];
  let left = 0;
  return (r) => {
    const q = ask(items[item++ % items.length], r);
    if (left === 0) { convo = [user(q)]; left = Math.floor(r() * 4); }
    else { left--; convo = [...convo, answer(itemOut(r), convo.length), user(q)]; }
    return { messages: convo, out: itemOut(r) };
  };
}

test('camouflage as conversation: an account mixing 40% real-looking chats with its dataset questions asking for steps is throttled', () => {
  const res = replayThroughDetector(accounts('acct_camo', 8, 10, mixer(0.4, harvestItem, CHAT)));
  const s = summary(res, 'acct_camo');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_camo_0').verdict?.reasons.slice(0, 12))}`);
});

test('multi-turn harvest: conversations whose every turn is a new dataset question asking for steps are throttled', () => {
  const res = replayThroughDetector(accounts('acct_turns', 8, 10, multiTurn(GSM8K, (q, r) => pick(ASK_STEPS, r)(q))));
  const s = summary(res, 'acct_turns');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_turns_0').verdict?.reasons.slice(0, 12))}`);
  const asked = res.e.forAccount('acct_turns_0').verdict?.reasons.find((x) => x.signal === 'yield_reasoning_questions');
  assert.ok(asked && typeof asked.value === 'number' && asked.value >= 25, `the verdict counts the questions asked turn by turn: ${JSON.stringify(asked)}`);
});

test('a turn is a new question only when it asks for reasoning on a coding or maths task most of whose words the previous turn does not hold', () => {
  const convo = (prev: string, turn: string) => event('acct_probe', 1, 0, T0, { messages: [user(prev), answer(400, 1), user(turn)], out: 600 });
  const q1 = GSM8K[0]; const q2 = GSM8K[1];
  const flagged = (ev: InteractionEvent) => (extractFeatures(ev).flags & FLAG.newItemTurn) !== 0;
  assert.ok(flagged(convo(pick(ASK_STEPS, () => 0)(q1), `${q2}\nCan you explain step by step?`)), 'another problem asking for the steps is a new question');
  assert.ok(!flagged(convo(`${q1}\nCan you explain step by step?`, 'I don\'t get step 2, why do you divide by 3 there? Explain step by step.')), 'a short follow-up is not');
  assert.ok(!flagged(convo(`${q1}\nCan you explain step by step?`, `${q1.slice(0, 120)} but with twice as many, step by step?`)), 'the same problem asked again with a change is not');
  assert.ok(!flagged(convo(CHAT[0], `${q2}`)), 'a new problem that asks for no reasoning is not');
  const single = event('acct_probe', 1, 1, T0, { messages: [user(`${q2}\nCan you explain step by step?`)], out: 600 });
  assert.ok(!flagged(single), 'a single-shot request is counted as one already, not as a turn');
});

test('people who chat, ask for the steps of their own maths and follow up on them stay at watch or below', () => {
  // A student: half of the requests chats, the rest maths questions asking for steps, answered shortly,
  // and follow-ups on them ("why", "I don't get step 2").
  const studentSingle = (r: () => number): Request => ({ messages: [user(pick(ASK_STEPS, r)(GSM8K[item++ % GSM8K.length]))], out: 150 + Math.floor(r() * 350) });
  const student = accounts('acct_student', 8, 10, mixer(0.5, studentSingle, CHAT));
  // A hobbyist: mostly chat (hh-rlhf and written chat), a step-by-step request now and then.
  const hobbyist = accounts('acct_hobby', 8, 10, mixer(0.6, (r) => r() < 0.3 ? harvestItem(r) : { messages: [user(pick(HH, r))], out: 100 + Math.floor(r() * 500) }, [...CHAT, ...HH]));
  // A developer asking coding tasks single-shot with long answers, and chatting about them.
  const developer = accounts('acct_dev', 8, 10, mixer(0.5, (r) => ({ messages: [user(pick(CODE, r))], out: 400 + Math.floor(r() * 900) }), CHAT));
  // A student working one problem at a time: the problem asking for steps, then two or three
  // questions about it ("why", "what if"), answered at length.
  const worker = (() => {
    let problem = ''; let convo: EventMessage[] = []; let left = 0;
    const asks = ['why do you divide there? explain step by step', 'I still don\'t get the second step', 'what happens if the numbers double?', 'can you check my answer of 42?'];
    return (r: () => number): Request => {
      if (left === 0) { problem = GSM8K[item++ % GSM8K.length]; convo = [user(pick(ASK_STEPS, r)(problem))]; left = 2 + Math.floor(r() * 2); return { messages: convo, out: itemOut(r) }; }
      left--;
      convo = [...convo, answer(itemOut(r), convo.length), user(pick(asks, r))];
      return { messages: convo, out: 300 + Math.floor(r() * 600) };
    };
  })();
  const tutored = accounts('acct_tutored', 8, 10, worker);
  const res = replayThroughDetector([...student, ...hobbyist, ...developer, ...tutored]);
  assertAtMostWatch(res, 'acct_tutored');
  assertAtMostWatch(res, 'acct_student');
  assertAtMostWatch(res, 'acct_hobby');
  assertAtMostWatch(res, 'acct_dev');
});

