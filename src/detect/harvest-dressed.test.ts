/**
 * Harvests dressed past the single-account test's original shape, and the customers who look
 * like them. Eight aged, unlinked accounts a shape (each its own card, address and network), real
 * prompts from the fixtures:
 *
 * - the working asked for in a system prompt of the account's own, its dataset questions sent bare
 *   with thinking off: the answers carry the working as text, some 4 to 9 times the question (no
 *   reasoning tokens to lift the output/input ratio to 10);
 * - a harvest run inside a bought application's traffic: three requests in four are the
 *   application's users chatting, the fourth a dataset question asking for the steps;
 * - the same at a tenth of a day's traffic, on accounts half of which have a verified identity:
 *   too few questions for the volume reading, caught because none of them is followed up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector, personPaceTimes, roughTokens, replaySummary as summary, assertAtMostWatch } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODE = fixture('distill/code-written.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');

const ASK_STEPS = [
  (q: string) => `${q}\nCan you explain step by step?`,
  (q: string) => `Please solve this and show your reasoning step by step: ${q}`,
  (q: string) => `${q} Walk me through it step by step please`,
  (q: string) => `${q}\n\nShow all your work and explain each step.`,
];
const FOLLOW_UPS = ['Thanks! Can you make it a bit shorter?', 'Great, and what would you change if I had less time?', 'Could you give me a second option?', 'ok that makes sense. what about the cost?', 'Can you put that in a table?'];
/** System prompts asking for the working, one per account. */
const WORKING_SYSTEMS = [
  'You are a patient tutor. Always solve problems step by step and show your work before the final answer.',
  'You are an expert problem solver. Think step by step and show all of your reasoning, then give the final answer on its own line.',
  'You help learners. Show your work: explain each step of the solution before you conclude.',
  'You are a careful engineer. Reason step by step and write out every intermediate step before the answer.',
];
const APP_SYSTEM = 'You are the assistant of Brightnote, a study and writing app. Answer in the user\'s language. Format answers in Markdown.';

const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const answer = (tokens: number, seed: number): EventMessage => {
  const text = `Sure (${seed}). ${'Here is how this works out in detail, one part after another. '.repeat(Math.ceil((tokens * 4) / 62))}`.slice(0, Math.min(8000, tokens * 4));
  return { role: 'assistant', text, chars: text.length };
};

interface Request { system: string | null; messages: EventMessage[]; out: number }

function event(account: string, home: number, n: number, ts: number, req: Request, tier: 'unverified' | 'email_verified' | 'identity_verified' | 'enterprise' = 'email_verified'): InteractionEvent {
  const chars = req.messages.reduce((a, m) => a + m.chars, 0) + (req.system?.length ?? 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'anthropic.messages', model: 'claude-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `91.${home}.7.9`, user_agent: 'Mozilla/5.0', country: 'US', asn: 6000 + home },
    request: { stream: false, system: req.system, messages: req.messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: req.messages.reduce((a, m) => a + roughTokens(m.text ?? ''), 0) + (req.system ? roughTokens(req.system) : 0), output_tokens: req.out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'end_turn', ttfb_ms: 400, output_chars: req.out * 4, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier, programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `91.${home}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** An application's pace: 70 to 90 requests a day between 06:00 and 23:00. */
function appPaceTimes(r: () => number, t0: number, days: number): number[] {
  const out: number[] = [];
  for (let d = 0; d < days; d++) {
    const day: number[] = [];
    for (let k = 0, n = 70 + Math.floor(r() * 21); k < n; k++) day.push(t0 + d * 86_400_000 + (6 + r() * 17) * 3_600_000);
    out.push(...day.sort((a, b) => a - b));
  }
  return out;
}

let homes = 0;
/** `k` accounts; `tier(a)` gives account a's tier (email-verified by default). */
function accounts(prefix: string, k: number, times: (r: () => number) => number[], next: (r: () => number, a: number) => Request, tier: (a: number) => 'email_verified' | 'identity_verified' = () => 'email_verified'): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const home = ++homes; const r = seededRandom(home * 7907 + 29);
    times(r).forEach((ts, n) => out.push(event(id, home, n, ts, next(r, a), tier(a))));
  }
  return out;
}

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
let item = 0;

/** Sessions of `turns(r)` requests, each request carrying the earlier turns; `open(r)` starts one. */
function sessions(system: string | null, open: (r: () => number) => { text: string; out: number; single?: boolean }, follow: readonly string[], turns: (r: () => number) => number): (r: () => number) => Request {
  let convo: EventMessage[] = [];
  let left = 0;
  return (r) => {
    if (left === 0) {
      const o = open(r);
      convo = [user(o.text)];
      left = o.single ? 0 : turns(r) - 1;
      return { system, messages: convo, out: o.out };
    }
    left--;
    convo = [...convo, answer(150 + Math.floor(r() * 450), convo.length), user(pick(follow, r))];
    return { system, messages: convo, out: 100 + Math.floor(r() * 400) };
  };
}

/** A bare dataset question, answered with its working written out: 4.5 to 8.5 times its own tokens. */
const bareItem = (r: () => number) => {
  const q = r() < 0.7 ? GSM8K[item++ % GSM8K.length] : CODE[item++ % CODE.length];
  return { text: q, out: Math.round(roughTokens(q) * (4.5 + r() * 4)) };
};

test('the working asked for in a system prompt of its own, bare questions answered in text: throttled, the lower ratio named in the verdict', () => {
  const res = replayThroughDetector(accounts('acct_sysask', 8, (r) => personPaceTimes(r, T0, 10), (r, a) => {
    const q = bareItem(r);
    return { system: WORKING_SYSTEMS[a % WORKING_SYSTEMS.length], messages: [user(q.text)], out: q.out };
  }));
  const s = summary(res, 'acct_sysask');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_sysask_0').verdict?.reasons.slice(0, 12))}`);
  const ratio = res.e.forAccount('acct_sysask_0').verdict?.reasons.find((x) => x.signal === 'yield_output_input_ratio');
  assert.ok(ratio && typeof ratio.value === 'number' && ratio.value < 10 && ratio.threshold === 6 && /working asked for/.test(ratio.detail ?? ''), `the verdict gives the ratio with the threshold it met and why: ${JSON.stringify(ratio)}`);
});

test('same surface, organic: a tutoring product whose users follow up, and bare questions with no working asked for, stay at watch or below', () => {
  // The same system prompts asking for the working, but people: a problem, then two or three follow-ups.
  const tutoring = accounts('acct_tutorapp', 8, (r) => personPaceTimes(r, T0, 10), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(WORKING_SYSTEMS[a % WORKING_SYSTEMS.length], bareItem, ['why that step?', 'I don\'t get the second step', 'what if the numbers double?', 'can you check my answer of 42?'], (rr) => 3 + Math.floor(rr() * 2)));
      return perAccount.get(a)!(r);
    };
  })());
  // Bare questions, single-shot, answered at the same length, behind a system prompt asking for nothing.
  const bare = accounts('acct_bareask', 8, (r) => personPaceTimes(r, T0, 10), (r) => {
    const q = bareItem(r);
    return { system: APP_SYSTEM, messages: [user(q.text)], out: q.out };
  });
  const res = replayThroughDetector([...tutoring, ...bare]);
  assertAtMostWatch(res, 'acct_tutorapp');
  assertAtMostWatch(res, 'acct_bareask');
});

test('a harvest inside a bought application\'s traffic: a quarter of its requests dataset questions asking for steps, the rest its users\' chats, is throttled by the number of questions', () => {
  const res = replayThroughDetector(accounts('acct_inapp', 8, (r) => appPaceTimes(r, T0, 7), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(APP_SYSTEM, (rr) => rr() < 0.55
        ? { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900), single: true }
        : { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) }, FOLLOW_UPS, (rr) => 2 + Math.floor(rr() * 3)));
      return perAccount.get(a)!(r);
    };
  })()));
  const s = summary(res, 'acct_inapp');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_inapp_0').verdict?.reasons.slice(0, 12))}`);
  const share = res.e.forAccount('acct_inapp_0').verdict?.reasons.find((x) => x.signal === 'yield_reasoning_question_share');
  assert.ok(share && typeof share.value === 'number' && share.value < 0.4 && share.threshold === 0.2, `the verdict names the volume path's share threshold: ${JSON.stringify(share)}`);
});

test('same surface, organic: an application of the same volume whose users ask for steps and then follow up on them stays at watch or below', () => {
  // Three sessions in ten are chats, the rest a problem asking for the steps and two or three follow-ups.
  const res = replayThroughDetector(accounts('acct_studyapp', 8, (r) => appPaceTimes(r, T0, 7), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) {
        let tutoring = false;
        perAccount.set(a, sessions(APP_SYSTEM, (rr) => {
          tutoring = rr() < 0.7;
          return tutoring ? { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900) } : { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) };
        }, ['why do you divide there?', 'I still don\'t get the second step', 'what happens if the numbers double?', 'Thanks! Can you make it a bit shorter?'], (rr) => 3 + Math.floor(rr() * 2)));
      }
      return perAccount.get(a)!(r);
    };
  })()));
  assertAtMostWatch(res, 'acct_studyapp');
});

/** Half the accounts with a verified identity (bought accounts whose owners verified it). */
const halfVerified = (a: number): 'identity_verified' | 'email_verified' => (a % 2 === 0 ? 'identity_verified' : 'email_verified');
/** An application's pace at a tenth of a busy product's: 35 to 45 requests a day between 06:00 and 23:00. */
const lightAppTimes = (r: () => number) => appPaceTimes(r, T0, 6).filter(() => r() < 0.5);

/**
 * Sessions of many end users at once, interleaved in time as an application sends them: each
 * opens with `open(r)` and, with probability `followShare`, is followed up 2 to 40 minutes later
 * (its question and answer in the history); the rest of the users chat for two or three turns.
 */
function manyUsers(prefix: string, k: number, perDay: number, days: number, open: (r: () => number) => { text: string; out: number }, followShare: number, chatShare: number, tier: (a: number) => 'email_verified' | 'identity_verified'): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const home = ++homes; const r = seededRandom(home * 7907 + 29);
    const reqs: Array<{ ts: number; req: Request }> = [];
    for (let d = 0; d < days; d++) {
      for (let u = 0; u < perDay / 2; u++) {
        let ts = T0 + d * 86_400_000 + (6 + r() * 17) * 3_600_000;
        const chat = r() < chatShare;
        const o = chat ? { text: pick(CHAT, r), out: 150 + Math.floor(r() * 450) } : open(r);
        let convo = [user(o.text)];
        reqs.push({ ts, req: { system: APP_SYSTEM, messages: convo, out: o.out } });
        const turns = chat ? 1 + Math.floor(r() * 2) : r() < followShare ? 1 + Math.floor(r() * 2) : 0;
        for (let t = 0; t < turns; t++) {
          ts += 120_000 + r() * 2_280_000;
          convo = [...convo, answer(150 + Math.floor(r() * 450), convo.length), user(pick(FOLLOW_UPS, r))];
          reqs.push({ ts, req: { system: APP_SYSTEM, messages: convo, out: 100 + Math.floor(r() * 400) } });
        }
      }
    }
    reqs.sort((x, y) => x.ts - y.ts).forEach((x, n) => out.push(event(id, home, n, x.ts, x.req, tier(a))));
  }
  return out;
}

test('a harvest inside a bought application\'s traffic at a tenth of a day\'s traffic, half the accounts identity-verified: throttled because its questions are never followed up, the share named in the verdict', () => {
  const res = replayThroughDetector(accounts('acct_lightapp', 8, lightAppTimes, (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(APP_SYSTEM, (rr) => rr() < 0.55
        ? { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900), single: true }
        : { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) }, FOLLOW_UPS, (rr) => 2 + Math.floor(rr() * 3)));
      return perAccount.get(a)!(r);
    };
  })(), halfVerified));
  const s = summary(res, 'acct_lightapp');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_lightapp_0').verdict?.reasons.slice(0, 12))}`);
  for (const id of ['acct_lightapp_0', 'acct_lightapp_1']) {
    const reasons = res.e.forAccount(id).verdict?.reasons ?? [];
    const followed = reasons.find((x) => x.signal === 'yield_followed_up_share');
    assert.ok(followed && typeof followed.value === 'number' && followed.value <= 0.1 && followed.threshold === 0.15 && /at most [0-9.]+ at 95% confidence/.test(followed.detail ?? ""), `${id}: the verdict gives the share of its questions followed up and its threshold: ${JSON.stringify(reasons.slice(0, 12))}`);
    const settled = reasons.find((x) => x.signal === 'yield_questions_settled');
    assert.ok(settled && typeof settled.value === 'number' && settled.value >= 20 && settled.value < 40, `${id}: fewer questions than the volume reading needs, as many as this one does: ${JSON.stringify(settled)}`);
  }
  const named = res.e.forAccount('acct_lightapp_0').verdict?.reasons.find((x) => x.signal === 'yield_named_by');
  assert.ok(named && /verified identity alone/.test(named.detail ?? ''), `an identity-verified account's verdict says why its identity does not exempt it: ${JSON.stringify(named)}`);
});

test('same surface, organic: applications whose users ask for steps and follow up on some, coding assistants answering at a few times the question, and a busy application of many interleaved users stay at watch or below, identity-verified or not', () => {
  // A tutoring application at the same pace: one problem in four is followed up, once or twice.
  const tutoring = accounts('acct_lighttutor', 8, lightAppTimes, (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) {
        let followed = false;
        perAccount.set(a, sessions(APP_SYSTEM, (rr) => {
          if (rr() < 0.45) return { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) };
          followed = rr() < 0.25;
          return { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900), single: !followed };
        }, ['why do you divide there?', 'I still don\'t get the second step', 'what happens if the numbers double?'], (rr) => (followed ? 2 + Math.floor(rr() * 2) : 2 + Math.floor(rr() * 3))));
      }
      return perAccount.get(a)!(r);
    };
  })(), halfVerified);
  // A coding assistant: code questions asking for an explanation, never followed up, answered at 1.5 to 4 times the question.
  const coding = accounts('acct_codeapp', 8, lightAppTimes, (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(APP_SYSTEM, (rr) => {
        if (rr() < 0.45) return { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) };
        const q = `${CODE[item++ % CODE.length]}\nExplain step by step how it works.`;
        return { text: q, out: Math.round(roughTokens(q) * (1.5 + rr() * 2.5)), single: true };
      }, FOLLOW_UPS, (rr) => 2 + Math.floor(rr() * 3)));
      return perAccount.get(a)!(r);
    };
  })(), halfVerified);
  // Many end users at once (about 250 requests a day), their questions asking for the steps followed up by one in three, 2 to 40 minutes later.
  const busy = manyUsers('acct_busyapp', 4, 150, 6, (r) => ({ text: pick(ASK_STEPS, r)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(r() * 900) }), 0.33, 0.5, halfVerified);
  const res = replayThroughDetector([...tutoring, ...coding, ...busy]);
  assertAtMostWatch(res, 'acct_lighttutor');
  assertAtMostWatch(res, 'acct_codeapp');
  assertAtMostWatch(res, 'acct_busyapp');
});

/** System prompts asking for the working with a word between the phrase's parts ("show all of your work", "reason out loud"). */
const WORKING_SYSTEMS_WORDED = [
  'You are a rigorous assistant. Show all of your work, then give the result.',
  'You are a study companion. Reason out loud before you answer, as you would at a whiteboard.',
  'You are a careful teacher. Break the solution into small steps and justify each one.',
  'You are an expert in algebra. Think aloud through the problem, then state the answer.',
];

test('the working asked for in a system prompt in other words (show all of your work, reason out loud, small steps): read as asked for, throttled', () => {
  const res = replayThroughDetector(accounts('acct_sysworded', 8, (r) => personPaceTimes(r, T0, 10), (r, a) => {
    const q = bareItem(r);
    return { system: WORKING_SYSTEMS_WORDED[a % WORKING_SYSTEMS_WORDED.length], messages: [user(q.text)], out: q.out };
  }));
  const s = summary(res, 'acct_sysworded');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_sysworded_1').verdict?.reasons.slice(0, 12))}`);
  const elicit = res.e.forAccount('acct_sysworded_1').verdict?.reasons.find((x) => x.signal === 'yield_reasoning_elicitation_share');
  assert.ok(elicit && typeof elicit.value === 'number' && elicit.value >= 0.5, `the verdict reads the working as asked for: ${JSON.stringify(elicit)}`);
});

test('same surface, organic: a coding assistant whose system prompt says to reason out loud, its users following up, stays at watch or below', () => {
  const assistant = accounts('acct_loudtutor', 8, (r) => personPaceTimes(r, T0, 10), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(WORKING_SYSTEMS_WORDED[a % WORKING_SYSTEMS_WORDED.length], bareItem, ['why that step?', 'I don\'t get the second step', 'can you check my answer of 42?', 'what if the input is empty?'], (rr) => 3 + Math.floor(rr() * 2)));
      return perAccount.get(a)!(r);
    };
  })());
  assertAtMostWatch(replayThroughDetector(assistant), 'acct_loudtutor');
});

/** Every account with a verified identity (bought accounts whose owners verified it). */
const allVerified = (): 'identity_verified' => 'identity_verified';
const USER_FOLLOW_UPS = ['why do you divide there?', 'I still don\'t get the second step', 'what happens if the numbers double?'];

test('a harvest inside a bought application\'s traffic on identity-verified accounts, its users following up some questions of their own: throttled by the number of questions, the identity named in the verdict', () => {
  // A busy application's pace; one session in two a dataset question asking for steps, never followed
  // up; of the rest, one in five a user's own problem asking for steps and followed up, the others chats.
  const res = replayThroughDetector(accounts('acct_verifiedapp', 8, (r) => appPaceTimes(r, T0, 7), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) {
        perAccount.set(a, sessions(APP_SYSTEM, (rr) => {
          if (rr() < 0.5) return { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900), single: true };
          if (rr() < 0.2) return { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900) };
          return { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) };
        }, USER_FOLLOW_UPS, (rr) => 2 + Math.floor(rr() * 3)));
      }
      return perAccount.get(a)!(r);
    };
  })(), allVerified));
  const s = summary(res, 'acct_verifiedapp');
  console.log(`# ${s.text}`);
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_verifiedapp_0').verdict?.reasons.slice(0, 14))}`);
  const reasons = res.e.forAccount('acct_verifiedapp_0').verdict?.reasons ?? [];
  const followed = reasons.find((x) => x.signal === 'yield_followed_up_share');
  assert.ok(followed && typeof followed.value === 'number' && followed.value > 0 && followed.value <= 0.2 && followed.threshold === 0.2, `the verdict gives the share of its questions followed up (some are, by its users) and the threshold it met: ${JSON.stringify(reasons.slice(0, 14))}`);
  const questions = reasons.find((x) => x.signal === 'yield_reasoning_questions');
  assert.ok(questions && typeof questions.value === 'number' && questions.value >= 20, `the verdict gives the number of its questions: ${JSON.stringify(questions)}`);
  const named = reasons.find((x) => x.signal === 'yield_named_by');
  assert.ok(named && /verified identity alone/.test(named.detail ?? ''), `the verdict says why the identity does not exempt it: ${JSON.stringify(named)}`);
});

test('same surface, organic, identity-verified: an application of the same volume whose users ask for steps and follow up on one in three, and a tutoring product whose users follow up on every problem, stay at watch or below', () => {
  const followOneInThree = accounts('acct_verifiedstudy', 8, (r) => appPaceTimes(r, T0, 7), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) {
        perAccount.set(a, sessions(APP_SYSTEM, (rr) => {
          if (rr() < 0.4) return { text: pick(CHAT, rr), out: 150 + Math.floor(rr() * 450) };
          return { text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900), single: rr() >= 1 / 3 };
        }, USER_FOLLOW_UPS, (rr) => 2 + Math.floor(rr() * 2)));
      }
      return perAccount.get(a)!(r);
    };
  })(), allVerified);
  const tutoring = accounts('acct_verifiedtutor', 8, (r) => appPaceTimes(r, T0, 7), (() => {
    const perAccount = new Map<number, (r: () => number) => Request>();
    return (r: () => number, a: number) => {
      if (!perAccount.has(a)) perAccount.set(a, sessions(APP_SYSTEM, (rr) => ({ text: pick(ASK_STEPS, rr)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(rr() * 900) }), USER_FOLLOW_UPS, (rr) => 3 + Math.floor(rr() * 2)));
      return perAccount.get(a)!(r);
    };
  })(), allVerified);
  const res = replayThroughDetector([...followOneInThree, ...tutoring]);
  assertAtMostWatch(res, 'acct_verifiedstudy');
  assertAtMostWatch(res, 'acct_verifiedtutor');
});

/**
 * Conversations whose every turn is a new item, each answer sent back as history: the working
 * asked for on the maths items, coding items sent bare (short ones read as no new question by
 * their words). `followShare` of the problems are followed up by one short question first.
 */
function itemConversations(followShare: number, turns: (r: () => number) => number): (r: () => number) => Request {
  let convo: EventMessage[] = [];
  let left = 0;
  let followPending = false;
  const nextItem = (r: () => number) => (r() < 0.8
    ? { text: pick(ASK_STEPS, r)(GSM8K[item++ % GSM8K.length]), out: 700 + Math.floor(r() * 900), steps: true }
    : { text: CODE[item++ % CODE.length], out: 300 + Math.floor(r() * 600), steps: false });
  return (r) => {
    if (left > 0 && followPending) {
      followPending = false;
      convo = [...convo, answer(400, convo.length), user(pick(USER_FOLLOW_UPS, r))];
      return { system: APP_SYSTEM, messages: convo, out: 200 + Math.floor(r() * 300) };
    }
    const o = nextItem(r);
    if (left === 0) { convo = [user(o.text)]; left = turns(r); } else convo = [...convo, answer(400, convo.length), user(o.text)];
    left--;
    followPending = o.steps && left > 0 && r() < followShare;
    return { system: APP_SYSTEM, messages: convo, out: o.out };
  };
}

test('a harvest asked as conversations whose every turn is a new item, on identity-verified accounts: throttled because none of its questions is followed up, the questions read named in the verdict', () => {
  const perAccount = new Map<number, (r: () => number) => Request>();
  const res = replayThroughDetector(accounts('acct_itemchat', 8, (r) => personPaceTimes(r, T0, 10), (r, a) => {
    if (!perAccount.has(a)) perAccount.set(a, itemConversations(0, (rr) => 3 + Math.floor(rr() * 6)));
    return perAccount.get(a)!(r);
  }, allVerified));
  const s = summary(res, 'acct_itemchat');
  assert.equal(s.throttled, s.accounts, `${s.text}: ${JSON.stringify(res.e.forAccount('acct_itemchat_0').verdict?.reasons.slice(0, 14))}`);
  const reasons = res.e.forAccount('acct_itemchat_0').verdict?.reasons ?? [];
  const followed = reasons.find((x) => x.signal === 'yield_followed_up_share');
  assert.ok(followed && typeof followed.value === 'number' && /new-in-a-conversation/.test(followed.detail ?? ''), `the verdict gives the share of its questions followed up, conversation turns read: ${JSON.stringify(reasons.slice(0, 14))}`);
  const named = reasons.find((x) => x.signal === 'yield_named_by');
  assert.ok(named && /verified identity alone/.test(named.detail ?? ''), `the verdict says why the identity does not exempt it: ${JSON.stringify(named)}`);
});

test('same surface, organic, identity-verified: students working through problem sets in one chat who follow up on every other problem, or on every one, stay at watch or below', () => {
  const some = new Map<number, (r: () => number) => Request>();
  const every = new Map<number, (r: () => number) => Request>();
  const oneInThree = accounts('acct_setchat', 8, (r) => personPaceTimes(r, T0, 10), (r, a) => {
    if (!some.has(a)) some.set(a, itemConversations(1 / 2, (rr) => 3 + Math.floor(rr() * 6)));
    return some.get(a)!(r);
  }, allVerified);
  const always = accounts('acct_tutorchat', 8, (r) => personPaceTimes(r, T0, 10), (r, a) => {
    if (!every.has(a)) every.set(a, itemConversations(1, (rr) => 4 + Math.floor(rr() * 6)));
    return every.get(a)!(r);
  }, allVerified);
  const res = replayThroughDetector([...oneInThree, ...always]);
  assertAtMostWatch(res, 'acct_setchat');
  assertAtMostWatch(res, 'acct_tutorchat');
});
