/**
 * The harvest slice of established accounts read as a cohort (harvest-cohort.ts: SLICE,
 * `detect.cohort_harvest_slice`): a harvest run inside a bought application's traffic, where six
 * sessions in ten are the application's users chatting and four are dataset questions asking for
 * the steps, each asked once and never followed up. Each account is too few questions on its first
 * days for the single-account test and, its users' chats around them, far from the established
 * cohort's whole-window shape; its slice (the questions alone) is what a harvest looks like. Beside
 * it: established people who chat and ask a few coding questions of their own and follow them up,
 * and developers who run a small evaluation set through a fixed template between their chats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector, roughTokens } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODE = fixture('distill/code-written.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const DAY = 86_400_000;
const ASK_STEPS = ['Can you explain step by step?', 'Please show your reasoning step by step.', 'Walk me through it step by step please.', 'Show all your work and explain each step.'];
const FOLLOW_UPS = ['Thanks! Can you make it a bit shorter?', 'ok that makes sense. what about the cost?', 'Could you give me a second option?', 'Why?', 'Can you put that in a table?'];

const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const answer = (tokens: number, seed: number): EventMessage => {
  const text = `Sure (${seed}). ${'Here is how this works out in detail, one part after another. '.repeat(Math.ceil((tokens * 4) / 62))}`.slice(0, Math.min(8000, tokens * 4));
  return { role: 'assistant', text, chars: text.length };
};

interface Req { system: string | null; messages: EventMessage[]; out: number }
type Tier = 'email_verified' | 'identity_verified';

function event(account: string, home: number, n: number, ts: number, req: Req, tier: Tier): InteractionEvent {
  const chars = req.messages.reduce((a, m) => a + m.chars, 0) + (req.system?.length ?? 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'anthropic.messages', model: 'claude-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `93.${home % 250}.${Math.floor(home / 250)}.9`, user_agent: 'Mozilla/5.0', country: 'US', asn: 7000 + home },
    request: { stream: false, system: req.system, messages: req.messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: req.messages.reduce((a, m) => a + roughTokens(m.text ?? ''), 0) + (req.system ? roughTokens(req.system) : 0), output_tokens: req.out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'end_turn', ttfb_ms: 400, output_chars: req.out * 4, reasoning_chars: 0 },
    account: {
      created_at: new Date(T0 - 400 * DAY).toISOString(), first_used_at: new Date(T0 - 300 * DAY).toISOString(),
      tier, programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `94.${home % 250}.1.1`, claimed_country: 'US',
    },
    enforcement: emptyEnforcement(),
  };
}

/** One session: its requests in order, each at its time. */
interface Session { at: number; reqs: Array<{ gap: number; req: Req }> }

/** A chat of `turns` turns opened with `first` (out tokens `out0`), each later turn a follow-up carrying the history. */
function chat(system: string | null, first: string, out0: number, turns: number, r: () => number, seed: number): Session['reqs'] {
  const reqs: Session['reqs'] = [];
  let convo: EventMessage[] = [user(first)];
  reqs.push({ gap: 0, req: { system, messages: convo, out: out0 } });
  for (let t = 1; t < turns; t++) {
    convo = [...convo, answer(150 + Math.floor(r() * 350), seed + t), user(FOLLOW_UPS[Math.floor(r() * FOLLOW_UPS.length)])];
    reqs.push({ gap: 30_000 + r() * 90_000, req: { system, messages: convo, out: 100 + Math.floor(r() * 300) } });
  }
  return reqs;
}

let homes = 0;
let item = 0;
/** `k` accounts of `days` days, `sessions(r, a, d)` the sessions of account a on day d. */
function accounts(prefix: string, k: number, days: number, tier: (a: number) => Tier, sessions: (r: () => number, a: number, d: number) => Session[]): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const home = ++homes; const r = seededRandom(home * 7919 + 31);
    let n = 0;
    for (let d = 0; d < days; d++) {
      for (const s of sessions(r, a, d)) {
        let ts = s.at;
        for (const { gap, req } of s.reqs) { ts += gap; out.push(event(id, home, n++, ts, req, tier(a))); }
      }
    }
  }
  return out;
}

const dayTime = (r: () => number, d: number) => T0 + d * DAY + (7 + r() * 15) * 3_600_000;
const appSystem = (a: number) => `You are the assistant of Notewise ${a}, a study and writing app for busy people. Answer in the language of the user. Keep answers friendly and format them in Markdown.`;

/**
 * The bought application's traffic: about 14 sessions a day, six in ten its users' chats of one to
 * five turns, four in ten a burst of one to three dataset questions asking for the steps, asked once
 * and left, answered at 600 to 1,000 tokens; the application's system prompt on every request.
 */
const coverHarvest = (r: () => number, a: number, d: number): Session[] => {
  const out: Session[] = [];
  for (let s = 0, k = 12 + Math.floor(r() * 5); s < k; s++) {
    const at = dayTime(r, d);
    if (r() < 0.6) { out.push({ at, reqs: chat(appSystem(a), CHAT[(a * 31 + d * 7 + s) % CHAT.length], 200 + Math.floor(r() * 300), 1 + Math.floor(r() * 5), r, s) }); continue; }
    const reqs: Session['reqs'] = [];
    for (let q = 0, m = 1 + Math.floor(r() * 3); q < m; q++) {
      const text = r() < 0.65 ? GSM8K[item++ % GSM8K.length] : CODE[item++ % CODE.length];
      reqs.push({ gap: q === 0 ? 0 : 40_000 + r() * 60_000, req: { system: appSystem(a), messages: [user(`${text}\n${ASK_STEPS[Math.floor(r() * ASK_STEPS.length)]}`)], out: 600 + Math.floor(r() * 400) } });
    }
    out.push({ at, reqs });
  }
  return out;
};

/**
 * People who chat and now and then ask a coding question of their own asking for the steps, and
 * come back to it (a follow-up on most of them): about 8 sessions a day, one in four such a question.
 */
const chatAndCode = (r: () => number, a: number, d: number): Session[] => {
  const out: Session[] = [];
  for (let s = 0, k = 6 + Math.floor(r() * 4); s < k; s++) {
    const at = dayTime(r, d);
    if (r() < 0.25) out.push({ at, reqs: chat(null, `${CODE[(a * 17 + d * 5 + s) % CODE.length]}\n${ASK_STEPS[s % ASK_STEPS.length]}`, 500 + Math.floor(r() * 400), r() < 0.8 ? 2 + Math.floor(r() * 3) : 1, r, s) });
    else out.push({ at, reqs: chat(null, CHAT[(a * 13 + d * 3 + s) % CHAT.length], 150 + Math.floor(r() * 300), 1 + Math.floor(r() * 4), r, s) });
  }
  return out;
};

/**
 * Developers (identity verified: an anonymous account's evaluation run is judged as a harvest,
 * docs/detector.md) who run a small evaluation set once a day between their chats: 12 to 20
 * dataset questions through one fixed template at a script's pace, each asked once, long answers.
 */
const EVAL_WRAP = (q: string) => `Solve the following problem from the evaluation set. Think step by step.\n\nQuestion: ${q}\n\nGive the final answer on the last line as "Answer: <value>".`;
const chatAndEval = (r: () => number, a: number, d: number): Session[] => {
  const out: Session[] = [];
  for (let s = 0, k = 5 + Math.floor(r() * 4); s < k; s++) out.push({ at: dayTime(r, d), reqs: chat(null, CHAT[(a * 11 + d * 5 + s) % CHAT.length], 150 + Math.floor(r() * 300), 1 + Math.floor(r() * 4), r, s) });
  const reqs: Session['reqs'] = [];
  for (let q = 0, m = 12 + Math.floor(r() * 9); q < m; q++) reqs.push({ gap: q === 0 ? 0 : 4_000 + r() * 3_000, req: { system: null, messages: [user(EVAL_WRAP(GSM8K[(a * 7 + d * 20 + q) % GSM8K.length]))], out: 500 + Math.floor(r() * 500) } });
  out.push({ at: T0 + d * DAY + (14 + a % 5) * 3_600_000, reqs });
  return out;
};

/** The same developers running their evaluation set bare (the item and one line asking for the steps, no wrapper), at a script's pace. */
const chatAndBareEval = (r: () => number, a: number, d: number): Session[] => {
  const out = chatAndEval(r, a, d);
  const run = out[out.length - 1];
  for (const x of run.reqs) {
    const text = x.req.messages[0].text!;
    const q = text.slice(text.indexOf('Question: ') + 10, text.lastIndexOf('\n\nGive the final'));
    x.req = { ...x.req, messages: [user(`${q}\nThink step by step.`)] };
  }
  return out;
};

const tierOf = (a: number): Tier => (a % 2 === 0 ? 'identity_verified' : 'email_verified');
const highest = (res: ReturnType<typeof replayThroughDetector>, prefix: string) => [...res.highest].filter(([id]) => id.startsWith(`${prefix}_`));
const throttled = (res: ReturnType<typeof replayThroughDetector>, prefix: string) => highest(res, prefix).filter(([, l]) => l >= verdictRank('throttle')).length;
const aboveWatch = (res: ReturnType<typeof replayThroughDetector>, prefix: string) => highest(res, prefix).filter(([, l]) => l > verdictRank('watch')).map(([id]) => id);

function population() {
  return [
    ...accounts('cover', 12, 2, tierOf, coverHarvest),
    ...accounts('people', 40, 2, tierOf, chatAndCode),
    ...accounts('evaldev', 12, 2, () => 'identity_verified', chatAndEval),
    ...accounts('bareeval', 12, 2, () => 'identity_verified', chatAndBareEval),
  ];
}

test('a harvest inside bought applications\' traffic (six sessions in ten its users\' chats) is throttled as a cohort of harvest slices within two days, the slice readings named in the verdict', () => {
  const events = population();
  const res = replayThroughDetector(events);
  const k = throttled(res, 'cover');
  assert.ok(k >= 10, `at least 10 of the 12 accounts are throttled (got ${k}): ${JSON.stringify(res.e.forAccount('cover_0').verdict?.reasons.slice(0, 8))}`);
  const id = highest(res, 'cover').find(([x]) => res.e.forAccount(x).level === 'throttle')?.[0];
  assert.ok(id, 'a throttled account holds its verdict at the end of the run');
  const reasons = res.e.forAccount(id!).verdict!.reasons;
  const cohort = reasons.find((x) => x.signal === 'harvest_cohort');
  assert.ok(cohort && typeof cohort.value === 'string' && cohort.value.startsWith('slice-established-'), `the verdict names the slice cohort: ${JSON.stringify(cohort)}`);
  const questions = reasons.find((x) => x.signal === 'slice_questions');
  assert.ok(questions && typeof questions.value === 'number' && questions.threshold === 10 && /of [0-9.]+ recent requests/.test(questions.detail ?? ''), `the slice's questions against the account's requests: ${JSON.stringify(questions)}`);
  for (const s of ['slice_question_share', 'slice_output_input_ratio', 'slice_followed_up_share', 'slice_template_share', 'slice_machine_paced_share']) {
    const x = reasons.find((y) => y.signal === s);
    assert.ok(x && typeof x.value === 'number' && typeof x.threshold === 'number', `the verdict gives ${s} with its threshold: ${JSON.stringify(x)}`);
  }
  const off = replayThroughDetector(events, { cohort_harvest_slice: false });
  assert.ok(throttled(off, 'cover') <= 2, `with the reading off, at most 2 of the accounts are throttled on their first two days (got ${throttled(off, 'cover')})`);
});

test('same surface, organic: people who chat and follow up a few coding questions of their own, and developers running a small evaluation set between chats (through a fixed template, or bare at a script pace), stay at watch or below', () => {
  const res = replayThroughDetector(population());
  assert.deepEqual(aboveWatch(res, 'people'), [], 'no one who chats and follows up their coding questions is held above watch');
  assert.deepEqual(aboveWatch(res, 'evaldev'), [], 'no developer running an evaluation set through a template is held above watch');
  assert.deepEqual(aboveWatch(res, 'bareeval'), [], 'no developer running an evaluation set bare at a script pace is held above watch');
  const alone = replayThroughDetector([...accounts('people2', 40, 2, tierOf, chatAndCode), ...accounts('evaldev2', 12, 2, () => 'identity_verified', chatAndEval), ...accounts('bareeval2', 12, 2, () => 'identity_verified', chatAndBareEval)]);
  assert.deepEqual([...aboveWatch(alone, 'people2'), ...aboveWatch(alone, 'evaldev2'), ...aboveWatch(alone, 'bareeval2')], [], 'nor without a harvest beside them');
});
