/**
 * Two harvests that used to stay at watch on accounts bought with their history and sharing
 * nothing: a question/verify split (one set of accounts asks the items bare, another pastes the
 * answers those were served back for a check), and reward-model grading without reasoning (items
 * scored against a rubric worded per account, a score back). Both must reach throttle; people
 * checking the model's answers to them, a colleague's answer pasted now and then, a school's
 * teacher checking students' answers, a teacher grading essays with feedback and an evaluation
 * team's judge must not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerFingerprint, EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom as rand, replayThroughDetector, assertAllThrottled as throttledAll, assertAtMostWatch as atMostWatch } from '../../test/helpers/detect-fixtures.ts';
import { AnswerOwners, pastedCandidates } from './pasted-answers.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODE = fixture('distill/code-written.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');

const homes = new Map<string, number>();
const home = (account: string) => homes.get(account) ?? (homes.set(account, homes.size + 1), homes.size);
const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });

/** An answer served to a question: its opening restates the question, as answers do, and differs from one sampling to the next. */
let sampled = 0;
const OPENERS = ['To solve this, let\'s restate the problem:', 'We are told the following:', 'First, let\'s identify what we know.', 'Here is a worked solution.'];
const answerTo = (q: string) => { const k = sampled++; return `${OPENERS[k % 4]} (call the unknown x${k >> 2}) ${q.split(/\s+/).slice(0, 16).join(' ')}\nStep 1: write down the quantities given.\nSo the final answer follows.`; };

interface Req { messages: EventMessage[]; out: number; answer?: string; account?: Partial<NonNullable<InteractionEvent['account']>> }

function event(account: string, n: number, ts: number, r: Req): InteractionEvent {
  const h = home(account);
  const chars = r.messages.reduce((a, m) => a + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `81.${h % 250}.${h >> 8}.9`, user_agent: 'Mozilla/5.0', country: 'US', asn: 3000 + h },
    request: { stream: false, system: null, messages: r.messages, tools: [], tool_choice: null, params: { ...emptyParams() }, bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: r.out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: r.out * 4, reasoning_chars: 0, answer_fp: answerFingerprint(r.answer ?? `answer ${account} ${n}`) },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `81.${h % 250}.${h >> 8}.9`, claimed_country: 'US', ...r.account },
    enforcement: emptyEnforcement(),
  };
}

/** Request times at a person's pace: a few sessions a day, 2-6 requests each, irregular gaps. */
function humanTimes(r: () => number, days: number): number[] {
  const out: number[] = [];
  for (let d = 0; d < days; d++) {
    for (let s = 0, sessions = 2 + Math.floor(r() * 3); s < sessions; s++) {
      let ts = T0 + d * 86_400_000 + (8 + r() * 12) * 3_600_000;
      for (let q = 0, k = 2 + Math.floor(r() * 5); q < k; q++) { out.push(ts); ts += 20_000 + Math.exp(Math.log(120_000) + (r() - 0.5) * 5); }
    }
  }
  return out;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const VERIFY = ['Check whether this solution is correct.', 'Is the following answer right? Point out any mistakes.', 'Verify the answer below and correct it if needed.', 'Please review this solution for errors.'];

/**
 * A question/verify split: `k` asking accounts send items bare (each answer kept), `k` verifying
 * accounts, each in wording of its own, send the answers served to the askers back for a check,
 * a little later, with the item.
 */
function split(prefix: string, k: number, days: number): InteractionEvent[] {
  const events: InteractionEvent[] = [];
  const waiting: Array<{ q: string; answer: string; ts: number }> = [];
  let item = 0;
  const asks: Array<[string, number, number]> = [];
  for (let a = 0; a < k; a++) { const id = `${prefix}_ask_${a}`; humanTimes(rand(fnv(id)), days).forEach((ts, n) => asks.push([id, n, ts])); }
  asks.sort((x, y) => x[2] - y[2]);
  for (const [id, n, ts] of asks) {
    const pool = item & 1 ? CODE : GSM8K;
    const q = pool[(item++ >> 1) % pool.length];
    const answer = answerTo(q);
    events.push(event(id, n, ts, { messages: [user(q)], out: 700, answer }));
    waiting.push({ q, answer, ts });
  }
  const checks: Array<[number, number, number]> = [];
  for (let a = 0; a < k; a++) humanTimes(rand(fnv(`${prefix}_verify_${a}`)), days).forEach((ts, n) => checks.push([a, n, ts]));
  checks.sort((x, y) => x[2] - y[2]);
  for (const [a, n, ts] of checks) {
    const id = `${prefix}_verify_${a}`;
    const intro = VERIFY[a % VERIFY.length];
    const label = a % 2 ? 'Answer: ' : 'Proposed solution:\n';
    // The oldest answer served at least a minute before, not yet checked.
    const at = waiting.findIndex((w) => w.ts < ts - 60_000);
    if (at < 0) { events.push(event(id, n, ts, { messages: [user(CHAT[n % CHAT.length])], out: 200 })); continue; }
    const { q, answer } = waiting.splice(at, 1)[0];
    events.push(event(id, n, ts, { messages: [user(`${intro}\n\nQuestion:\n${q}\n\n${label}${answer}\nStep 2: the rest of the working.`)], out: 250 }));
  }
  return events;
}

test('a pasted answer is found at a line start or after a label, and only an answer served to the account held for it', () => {
  const q = GSM8K[3];
  const answer = answerTo(q);
  const owners = new AnswerOwners(10);
  owners.record(parseInt(answerFingerprint(answer)!, 16), 7, 77);
  for (const text of [`Check this.\n\nQuestion:\n${q}\n\nAnswer:\n${answer}`, `Is this right?\nModel's answer: ${answer}`, `${answer}\n\nIs that correct?`]) {
    const ev = event('probe', 0, T0, { messages: [user(text)], out: 10 });
    const hit = pastedCandidates(ev, []).map((fp) => owners.owner(fp)).find((o) => o !== null);
    assert.deepEqual(hit, { i: 7, key: 77 }, `the answer pasted in ${JSON.stringify(text.slice(0, 60))} is found`);
  }
  // Served to a second account: a common answer, nobody's.
  owners.record(parseInt(answerFingerprint(answer)!, 16), 8, 88);
  const ev = event('probe', 1, T0, { messages: [user(`Check this.\n${answer}`)], out: 10 });
  assert.ok(pastedCandidates(ev, []).every((fp) => owners.owner(fp) === null), 'an answer served to two accounts is read as no one\'s');
});

test('a question/verify split across accounts sharing nothing: both halves reach throttle, named for it', () => {
  const res = replayThroughDetector(split('acct_qv', 8, 8));
  throttledAll(res, 'acct_qv_verify_', 'answers_checked_test');
  throttledAll(res, 'acct_qv_ask_', 'answers_checked_elsewhere_test');
  const v = res.e.forAccount('acct_qv_verify_0').verdict!;
  const share = v.reasons.find((x) => x.signal === 'pasted_answer_share');
  assert.ok(share && typeof share.value === 'number' && share.value >= 0.5 && share.threshold === 0.5, `the verdict gives the pasted share with its threshold: ${JSON.stringify(share)}`);
});

test('people checking the answers they were served, and a colleague\'s answer pasted now and then, stay at watch', () => {
  const events: InteractionEvent[] = [];
  for (let a = 0; a < 6; a++) {
    const id = `acct_self_${a}`;
    const r = rand(fnv(id));
    let last = '';
    humanTimes(r, 8).forEach((ts, n) => {
      const q = GSM8K[(a * 31 + n) % GSM8K.length];
      // Every other request: the answer just served pasted back, single-shot, for a check.
      if (n % 2 && last) events.push(event(id, n, ts, { messages: [user(`Is this right? I don't follow step 2.\n\n${last}`)], out: 300 }));
      else { last = answerTo(q); events.push(event(id, n, ts, { messages: [user(q)], out: 600, answer: last })); }
    });
  }
  // A team of five: each asks, and now and then (one request in eight) pastes a teammate's answer to check it.
  const served: string[][] = [[], [], [], [], []];
  for (let a = 0; a < 5; a++) {
    const id = `acct_team_${a}`;
    humanTimes(rand(fnv(id)), 8).forEach((ts, n) => {
      const mate = served[(a + 1) % 5];
      if (n % 8 === 7 && mate.length) events.push(event(id, n, ts, { messages: [user(`My colleague got this answer, does it hold?\n${mate[mate.length - 1]}`)], out: 300 }));
      else { const q = CODE[(a * 17 + n) % CODE.length]; const ans = answerTo(q); served[a].push(ans); events.push(event(id, n, ts, { messages: [user(q)], out: 600, answer: ans })); }
    });
  }
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_self_');
  atMostWatch(res, 'acct_team_');
});

test('a school\'s teacher pasting 40 students\' answers for a check stays at watch, and so do the students', () => {
  const events: InteractionEvent[] = [];
  const answers: Array<{ q: string; answer: string }> = [];
  for (let s = 0; s < 40; s++) {
    const id = `acct_student_${s}`;
    humanTimes(rand(fnv(id)), 2).slice(0, 4).forEach((ts, n) => {
      const q = GSM8K[(s * 5 + n) % GSM8K.length];
      const answer = answerTo(q);
      if (n === 0) answers.push({ q, answer });
      events.push(event(id, n, ts, { messages: [user(q)], out: 500, answer }));
    });
  }
  answers.forEach(({ q, answer }, n) => events.push(event('acct_teacher', n, T0 + 3 * 86_400_000 + n * 200_000, {
    messages: [user(`Is this solution correct?\n\nQuestion:\n${q}\n\nAnswer:\n${answer}`)], out: 250,
    account: { programme: 'education', email_domain: 'school.example.org' },
  })));
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_teacher');
  atMostWatch(res, 'acct_student_');
});

const RUBRIC_INTROS = ['Score this answer from 1 to 10 against the rubric below.', 'Rate the response on a scale of 1 to 10 using this rubric.', 'Using the rubric, give the answer a score out of 10.', 'Grade the following answer with the rubric provided (1-10).'];
const RUBRIC_REPLY = ['Reply with the score and one sentence.', 'Return only the score.', 'Answer in the form "Score: N" and nothing else.'];

test('reward-model grading without reasoning, a grading prompt worded per account: each account reaches throttle, named for it', () => {
  const events: InteractionEvent[] = [];
  for (let a = 0; a < 8; a++) {
    const id = `acct_grader_${a}`;
    const r = rand(fnv(id));
    const head = `${RUBRIC_INTROS[a % 4]}\nRubric:\n- correctness\n- ${a % 2 ? 'clarity' : 'completeness'}`;
    humanTimes(r, 7).forEach((ts, n) => {
      const q = GSM8K[(a * 37 + n) % GSM8K.length];
      events.push(event(id, n, ts, { messages: [user(`${head}\n\nQuestion:\n${q}\n\nAnswer:\n${answerTo(q)}\n\n${RUBRIC_REPLY[a % 3]}`)], out: 20 + Math.floor(r() * 40) }));
    });
  }
  const res = replayThroughDetector(events);
  throttledAll(res, 'acct_grader_', 'grading_test');
});

test('a teacher grading essays against a rubric with feedback, and an evaluation team\'s judge that explains first, stay at watch', () => {
  const events: InteractionEvent[] = [];
  const essay = (n: number) => `${CHAT[n % CHAT.length]} ${CHAT[(n + 7) % CHAT.length]} ${CHAT[(n + 13) % CHAT.length]}`.repeat(3);
  for (let a = 0; a < 3; a++) {
    const id = `acct_essays_${a}`;
    const r = rand(fnv(id));
    // A class set graded in two evenings: 30 essays, single-shot, the rubric each time, feedback for the student.
    for (let n = 0; n < 30; n++) {
      const ts = T0 + (n < 15 ? 0 : 86_400_000) + 19 * 3_600_000 + (n % 15) * (120_000 + r() * 240_000);
      const text = `Grade this essay on a scale of 1 to 10 using the rubric: thesis, evidence, organisation, style. Then write two paragraphs of feedback for the student.\n\n${essay(a * 40 + n)}`;
      // Two paragraphs of feedback: 200-400 tokens.
      events.push(event(id, n, ts, { messages: [user(text)], out: 200 + Math.floor(r() * 200) }));
    }
  }
  for (let a = 0; a < 3; a++) {
    const id = `acct_judge_${a}`;
    humanTimes(rand(fnv(id)), 6).forEach((ts, n) => {
      const q = GSM8K[(a * 11 + n) % GSM8K.length];
      const text = `Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question displayed below. Begin your evaluation by providing a short explanation. After providing your explanation, you must rate the response on a scale of 1 to 10.\n\n[Question]\n${q}\n\n[Answer]\n${answerTo(q)}`;
      events.push(event(id, n, ts, { messages: [user(text)], out: 220 }));
    });
  }
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_essays_');
  atMostWatch(res, 'acct_judge_');
});
