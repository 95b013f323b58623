/**
 * Single accounts harvesting reasoning answers in shapes that used to keep them at watch: sent at a
 * machine's pace, wrapped in one fixed template, taking the reasoning trace a reasoning model
 * returns without asking for steps, or ten numbered questions a request. Each must reach throttle
 * on its own; evaluation runs and batch jobs of customers who say who they are, and people chatting
 * with thinking on, must not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { extractFeatures, extractPromptFeatures, FLAG } from './features.ts';
import { enumeratedItems } from './items.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom as rand, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const COT = 'Think step by step and show your full reasoning before the final answer.';


const homes = new Map<string, number>();
const home = (account: string) => homes.get(account) ?? (homes.set(account, homes.size + 1), homes.size);

interface Shape {
  flavour?: InteractionEvent['flavour'];
  /** The messages of request n (the question `q`). */
  messages: (q: string, n: number, r: () => number) => EventMessage[];
  out: (r: () => number) => number;
  reasoningChars?: number;
  params?: Partial<InteractionEvent['request']['params']>;
  account?: Partial<NonNullable<InteractionEvent['account']>>;
  org?: string;
  /** The system prompt of request n, if any. */
  system?: (n: number) => string;
  /** Tools offered (their definitions count `TOOL_DEF_TOKENS` each in the input, as an upstream counts them). */
  tools?: string[];
}

/** Input tokens of one tool definition (a name, a description and a JSON schema of a few parameters). */
const TOOL_DEF_TOKENS = 150;

const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });

function event(account: string, n: number, ts: number, s: Shape, r: () => number): InteractionEvent {
  const h = home(account);
  const messages = s.messages(GSM8K[(n * 7 + h) % GSM8K.length], n, r);
  const system = s.system?.(n) ?? null;
  const chars = messages.reduce((a, m) => a + m.chars, 0) + (system?.length ?? 0);
  const out = s.out(r);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: s.flavour ?? 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: s.org ?? null, key_id: `key_${account}`,
    client: { ip: `81.${h}.7.9`, user_agent: 'python-httpx/0.27', country: 'US', asn: 3000 + h },
    request: { stream: false, system, messages, tools: s.tools ?? [], tool_choice: null, params: { ...emptyParams(), ...s.params }, bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4) + (s.tools?.length ?? 0) * TOOL_DEF_TOKENS, output_tokens: out, reasoning_tokens: s.reasoningChars ? out >> 1 : 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: s.reasoningChars ?? 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `81.${h}.7.9`, claimed_country: 'US', ...s.account },
    enforcement: emptyEnforcement(),
  };
}

/** A person's pace: a few sessions a day, 2-6 requests each, irregular gaps. */
function humanPace(r: () => number, days: number, emit: (ts: number) => void): void {
  for (let d = 0; d < days; d++) {
    for (let s = 0, sessions = 2 + Math.floor(r() * 3); s < sessions; s++) {
      let ts = T0 + d * 86_400_000 + (8 + r() * 12) * 3_600_000;
      for (let q = 0, k = 2 + Math.floor(r() * 5); q < k; q++) { emit(ts); ts += 20_000 + Math.exp(Math.log(120_000) + (r() - 0.5) * 5); }
    }
  }
}

/** A script's pace: one session a day of `perDay` requests, `gap` apart. */
function machinePace(r: () => number, days: number, perDay: number, gap: (r: () => number) => number, emit: (ts: number) => void): void {
  for (let d = 0; d < days; d++) {
    let ts = T0 + d * 86_400_000 + (8 + r() * 10) * 3_600_000;
    for (let q = 0; q < perDay; q++) { emit(ts); ts += gap(r); }
  }
}

function accounts(prefix: string, k: number, s: Shape, pace: (r: () => number, emit: (ts: number) => void) => void): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const r = rand(fnv(id)); let n = 0;
    pace(r, (ts) => out.push(event(id, n++, ts, s, r)));
  }
  return out;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const run = (events: InteractionEvent[]) => replayThroughDetector(events);

const harvestOut = (r: () => number) => 500 + Math.floor(r() * 900);
const cotChat: Shape = { messages: (q) => [user(`${COT}\n\n${q}`)], out: harvestOut };

function assertThrottled(res: ReturnType<typeof run>, prefix: string, by: number): void {
  for (const [id, n] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    const at = res.throttledAt.get(id);
    assert.ok(at !== undefined && at <= by, `${id} throttled within its first ${by} requests (of ${n}); at ${at ?? 'never'}: ${JSON.stringify(res.e.forAccount(id).verdict?.reasons.slice(0, 8))}`);
  }
}

function assertAtMostWatch(res: ReturnType<typeof run>, prefix: string): void {
  let k = 0;
  for (const [id, n] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    k++;
    assert.ok((res.highest.get(id) ?? 0) <= verdictRank('watch'), `${id} (${n} requests) stays at watch or below; reached ${res.highest.get(id)}: ${JSON.stringify(res.e.forAccount(id).verdict?.reasons.slice(0, 9))}`);
  }
  assert.ok(k > 0, `accounts ${prefix}_* were run`);
}

test('machine timing exempts no harvester: chain-of-thought questions sent 24 a day at 90 s (or 30-300 s) gaps are throttled', () => {
  const fixed = accounts('acct_metronome', 4, cotChat, (r, emit) => machinePace(r, 7, 24, () => 90_000, emit));
  const jitter = accounts('acct_jitter', 4, cotChat, (r, emit) => machinePace(r, 7, 24, (rr) => 30_000 * Math.pow(10, rr()), emit));
  const res = run([...fixed, ...jitter]);
  assertThrottled(res, 'acct_metronome', 60);
  assertThrottled(res, 'acct_jitter', 60);
  const v = res.e.forAccount('acct_metronome_0').verdict;
  const timing = v?.reasons.find((x) => x.signal === 'yield_timing_regularity');
  assert.ok(timing && typeof timing.value === 'number' && timing.value >= 0.35 && /no exemption/.test(timing.detail ?? ''),
    `the verdict says the machine timing exempted nothing: ${JSON.stringify(timing)}`);
});

test('one fixed wrapper template exempts no harvester that never re-sends an item', () => {
  const wrapped: Shape = { messages: (q) => [user(`Solve the following problem. ${COT}\n\n${q}\n\nShow every intermediate step, then give the final answer on its own line.`)], out: (r) => 800 + Math.floor(r() * 900) };
  const res = run(accounts('acct_wrapper', 6, wrapped, (r, emit) => humanPace(r, 10, emit)));
  assertThrottled(res, 'acct_wrapper', 60);
  const tpl = res.e.forAccount('acct_wrapper_0').verdict?.reasons.find((x) => x.signal === 'yield_template_reuse_share');
  assert.ok(tpl && typeof tpl.value === 'number' && tpl.value >= 0.3, `the template was seen and exempted nothing: ${JSON.stringify(tpl)}`);
});

test('evaluation runs stay at watch when a customer says who runs them (a programme, a verified identity, a corroborated org) or they re-send their items; the same run from an anonymous account is throttled', () => {
  const evalRun = (q: string) => [user(`Question: ${q}\nAnswer: Let's think step by step.`)];
  const base: Shape = { messages: evalRun, out: (r) => 600 + Math.floor(r() * 800) };
  const programme = accounts('acct_lab', 3, { ...base, account: { programme: 'research', email_domain: 'cs.example.edu' } }, (r, emit) => machinePace(r, 5, 120, (rr) => 1500 + rr() * 1500, emit));
  const verified = accounts('acct_verified', 3, { ...base, account: { tier: 'identity_verified' } }, (r, emit) => machinePace(r, 5, 120, (rr) => 1500 + rr() * 1500, emit));
  const org = accounts('acct_orgeval', 3, { ...base, org: 'org_evals', account: { email_domain: 'evals.example.com' } }, (r, emit) => machinePace(r, 5, 120, (rr) => 1500 + rr() * 1500, emit));
  // The same run from an aged free-mail account with nothing behind it: judged like any harvester.
  const anonymous = accounts('acct_anon_eval', 2, base, (r, emit) => machinePace(r, 5, 120, (rr) => 1500 + rr() * 1500, emit));
  // An unnamed account scoring pass@4 (each item sent four times in a row): it re-sends its items.
  const passAt4: Shape = { messages: (_q, n) => evalRun(GSM8K[Math.floor(n / 4) % GSM8K.length]), out: base.out };
  const sampler = accounts('acct_pass4', 2, passAt4, (r, emit) => machinePace(r, 5, 120, (rr) => 1500 + rr() * 1500, emit));
  const res = run([...programme, ...verified, ...org, ...anonymous, ...sampler]);
  assertAtMostWatch(res, 'acct_pass4');
  assertAtMostWatch(res, 'acct_lab');
  assertAtMostWatch(res, 'acct_verified');
  assertAtMostWatch(res, 'acct_orgeval');
  assertThrottled(res, 'acct_anon_eval', 120);
});

test('a reasoning trace delivered unasked counts as elicited: bare questions with Responses summaries or Anthropic adaptive thinking are throttled', () => {
  const summaries: Shape = { flavour: 'openai.responses', messages: (q) => [user(q)], out: harvestOut, reasoningChars: 900, params: {} };
  const adaptive: Shape = { flavour: 'anthropic.messages', messages: (q) => [user(q)], out: harvestOut, reasoningChars: 3000, params: { thinking: 'adaptive' } };
  const ev = event('acct_probe', 0, T0, summaries, rand(1));
  assert.ok((extractFeatures(ev).flags & FLAG.reasoningTrace) !== 0, 'a delivered trace is flagged');
  assert.ok((extractFeatures({ ...ev, response: { ...ev.response, reasoning_chars: 0, reasoning_tokens: 400 } }).flags & FLAG.reasoningTrace) === 0,
    'hidden reasoning tokens (no text returned) are not a trace');
  const res = run([
    ...accounts('acct_summary', 4, summaries, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_adaptive', 4, adaptive, (r, emit) => humanPace(r, 10, emit)),
  ]);
  assertThrottled(res, 'acct_summary', 60);
  assertThrottled(res, 'acct_adaptive', 60);
});

test('people chatting with adaptive thinking on (follow-ups carrying the history) stay at watch or below', () => {
  const chatter: Shape = {
    flavour: 'anthropic.messages', reasoningChars: 2500, params: { thinking: 'adaptive' }, out: (r) => 200 + Math.floor(r() * 500),
    messages: (q, n, r) => {
      const first = CHAT[(n * 5) % CHAT.length];
      // Two of three requests follow up on an earlier answer.
      if (r() < 0.33) return [user(first)];
      return [user(first), { role: 'assistant', text: 'x'.repeat(900), chars: 900 }, user(r() < 0.3 ? `${q} Can you explain step by step?` : 'Thanks, and what about the second part?')];
    },
  };
  const res = run(accounts('acct_thinker', 8, chatter, (r, emit) => humanPace(r, 10, emit)));
  assertAtMostWatch(res, 'acct_thinker');
});

test('ten numbered questions in one chat message count as ten requests; a list of rules or steps does not', () => {
  const ten = `${COT}\n\n${GSM8K.slice(0, 10).map((q, j) => `${j + 1}. ${q}`).join('\n')}`;
  assert.equal(enumeratedItems(ten), 10, 'ten numbered word problems are ten questions');
  assert.equal(enumeratedItems(`Q1: ${GSM8K[0]}\nQ2: ${GSM8K[1]}\nQ3: ${GSM8K[2]}`), 3, '"Q1:" numbering counts too');
  assert.equal(enumeratedItems(`${GSM8K[0]}\n1. ${GSM8K[1]}\n3. ${GSM8K[2]}`), 1, 'numbers out of sequence are text');
  assert.equal(enumeratedItems(`Act as a text game. Rules:\n1. Commands will be typed in the format cmd arg\n2. You will only respond with what the program should output\n3. DO NOT explain yourself\n4. DO NOT type commands on your own`), 1, 'a list of rules asks no questions');
  assert.equal(enumeratedItems(`What is 2 + 2?\n1. ${GSM8K[1]}\n2. ${GSM8K[2]}`), 1, 'two items are one ask with parts');
  const mk = (text: string, flavour: InteractionEvent['flavour'] = 'openai.chat') => event('acct_probe2', 0, T0, { flavour, messages: () => [user(text)], out: () => 9000 }, rand(2));
  assert.equal(extractPromptFeatures(mk(ten))[0].weight, 10, 'a single-shot chat turn of ten questions weighs ten requests');
  const convo = mk(ten);
  convo.request.messages = [user('Hi, can you help me with maths?'), { role: 'assistant', text: 'y'.repeat(600), chars: 600 }, user(ten)];
  assert.equal(extractPromptFeatures(convo)[0].weight, 1, 'in a conversation the turn is one request');

  const multi: Shape = { messages: (_q, n) => [user(`${COT}\n\n${Array.from({ length: 10 }, (_, j) => `${j + 1}. ${GSM8K[(n * 10 + j) % GSM8K.length]}`).join('\n')}`)], out: (r) => 5000 + Math.floor(r() * 9000) };
  const res = run(accounts('acct_multi', 4, multi, (r, emit) => humanPace(r, 6, emit)));
  // Thirty answers' worth of evidence in three requests; the test waits for its 50-prompt floor without a timing reading.
  assertThrottled(res, 'acct_multi', 10);
});

// A persona of about 1,000 characters, no reasoning words in it: what every chat framework sends.
const PERSONA = 'You are Ava, a friendly and knowledgeable assistant for an online learning community. Be warm and encouraging, use plain language, and format answers with short paragraphs and lists where it helps. If a question is ambiguous, state your assumption and proceed. Avoid unnecessary disclaimers. Keep a positive tone and adapt the level of detail to the question. Use metric units unless the question uses others. When code is involved, use fenced code blocks with the language named. '.repeat(2);

test('a persona system prompt sent with every request does not lower the yield: chain-of-thought harvesters behind one are throttled', () => {
  const persona: Shape = { ...cotChat, system: () => PERSONA };
  const res = run(accounts('acct_persona', 6, persona, (r, emit) => humanPace(r, 10, emit)));
  assertThrottled(res, 'acct_persona', 60);
  const ratio = res.e.forAccount('acct_persona_0').verdict?.reasons.find((x) => x.signal === 'yield_output_input_ratio');
  assert.ok(ratio && typeof ratio.value === 'number' && ratio.value >= 10, `the ratio read leaves the standing system prompt out: ${JSON.stringify(ratio)}`);
});

test('material in the system prompt still counts as input: an application putting retrieved passages there, asking for steps, stays at watch', () => {
  const CONTEXT = CHAT.join('\n\n');
  const rag: Shape = {
    system: (n) => `You answer questions about the documents below. Think step by step and cite the passage you used.\n\n${CONTEXT.slice((n * 397) % 2000, ((n * 397) % 2000) + 6000)}`,
    messages: (_q, n) => [user(CHAT[(n * 3) % CHAT.length].slice(0, 200))],
    out: (r) => 300 + Math.floor(r() * 500),
  };
  const res = run(accounts('acct_rag', 6, rag, (r, emit) => humanPace(r, 10, emit)));
  assertAtMostWatch(res, 'acct_rag');
});

/** How many of the accounts `prefix`_* were throttled, and from which of their requests. */
function throttledSummary(res: ReturnType<typeof run>, prefix: string): { throttled: number; accounts: number; text: string } {
  const at: number[] = [];
  let accounts = 0;
  for (const [id] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    accounts++;
    const n = res.throttledAt.get(id);
    if (n !== undefined) at.push(n);
  }
  at.sort((a, b) => a - b);
  return { throttled: at.length, accounts, text: `${at.length} of ${accounts} throttled${at.length ? `, from request ${at[0]}-${at[at.length - 1]}` : ''}` };
}

// About 300 characters said alike before every question: a cacheable prefix of some 75 tokens.
const PREAMBLE = 'I am putting together study material for a tutoring programme and would like your help with the problem below. Keep the notation consistent with standard textbooks, write so that a motivated student could follow it without further help, use plain language where possible and define any terms.';
const cot = (q: string) => `${COT}\n\n${q}`;

test('padding that every request sends alike does not lower the yield: harvesters behind a fixed preamble, a tool definition or a long system prompt are throttled', () => {
  assert.ok(PREAMBLE.length >= 290 && PREAMBLE.length <= 310, `a preamble of about 300 characters (${PREAMBLE.length})`);
  const preamble: Shape = { messages: (q) => [user(`${PREAMBLE}\n\n${cot(q)}`)], out: harvestOut };
  // The question handed in as a tool result: one tool offered, its call made up, the item as its output.
  const toolResult: Shape = {
    tools: ['get_problem'],
    messages: (q) => [user(`Call get_problem and solve what it returns. ${COT}`), { role: 'assistant', text: '', chars: 0 }, { role: 'tool', text: q, chars: q.length }],
    out: harvestOut,
  };
  const longSystem: Shape = { ...cotChat, system: () => PERSONA.repeat(4).slice(0, 3000) };
  const res = run([
    ...accounts('acct_preamble', 8, preamble, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_toolwrap', 8, toolResult, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_longsys', 8, longSystem, (r, emit) => humanPace(r, 10, emit)),
  ]);
  for (const prefix of ['acct_preamble', 'acct_toolwrap', 'acct_longsys']) {
    const s = throttledSummary(res, prefix);
    assert.equal(s.throttled, s.accounts, `${prefix}: ${s.text}: ${JSON.stringify(res.e.forAccount(`${prefix}_0`).verdict?.reasons.slice(0, 9))}`);
  }
  assertThrottled(res, 'acct_preamble', 60);
  assertThrottled(res, 'acct_toolwrap', 60);
  assertThrottled(res, 'acct_longsys', 60);
});

test('a conversation\'s history stays input however often it is re-sent: people chatting behind a fixed preamble and a long system prompt, and agent products with fixed tools, stay at watch or below', () => {
  // Chat users of an application that puts a long system prompt and its own preamble before what they type; they ask for steps.
  const chatApp: Shape = {
    system: () => PERSONA.repeat(3),
    messages: (q, n, r) => {
      const first = `${PREAMBLE}\n\n${CHAT[(n * 5) % CHAT.length]}`;
      if (r() < 0.33) return [user(first)];
      return [user(first), { role: 'assistant', text: 'x'.repeat(900), chars: 900 }, user(r() < 0.4 ? `${q} Can you explain step by step?` : 'Thanks, and what about the second part?')];
    },
    out: (r) => 200 + Math.floor(r() * 500),
  };
  // An agent product: four tools, a system prompt, the user's task and each step's short tool
  // result, reasoning asked for with a parameter; every step answered at length (its reasoning).
  // Each of its users' tasks is a trajectory of up to seven steps, sent step by step (each request
  // the previous one's messages, its tool call and the tool's result), twelve users' at a time.
  const RESULTS = ['{"ok": true}', '{"status": "shipped", "eta": "2 days"}', '{"rows": 12, "columns": ["region", "revenue"]}', 'Done.'];
  let sessions: { msgs: EventMessage[]; left: number }[] = [];
  let tasks = 0;
  const agent: Shape = {
    tools: ['web_search', 'fetch_url', 'run_code', 'read_file'],
    system: () => 'You are the assistant of an online shop. Use the tools to look up orders and answer the customer.',
    params: { reasoning_effort: 'medium' },
    messages: (_q, n, r) => {
      if (n === 0) sessions = [];
      const k = Math.floor(r() * 12);
      let s = sessions[k];
      if (!s || s.left === 0) {
        s = sessions[k] = { msgs: [user(CHAT[(tasks++ * 3) % CHAT.length].slice(0, 120))], left: Math.floor(r() * 8) };
        return s.msgs.slice();
      }
      const result = RESULTS[Math.floor(r() * RESULTS.length)];
      s.msgs.push({ role: 'assistant', text: '', chars: 0 }, { role: 'tool', text: result, chars: result.length });
      s.left--;
      return s.msgs.slice();
    },
    out: (r) => 400 + Math.floor(r() * 1600),
  };
  const res = run([
    ...accounts('acct_chatapp', 8, chatApp, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_agentapp', 8, agent, (r, emit) => humanPace(r, 10, emit)),
  ]);
  assertAtMostWatch(res, 'acct_chatapp');
  assertAtMostWatch(res, 'acct_agentapp');
});

// Padding that changes between requests. Four preambles of about 300 characters, said in turn.
const PREAMBLES = [
  PREAMBLE,
  'Our study group meets on Thursdays and we are collecting worked examples for the revision sheet. Please keep each explanation self-contained, name the quantities you use, avoid shortcuts a beginner would not know, and check the arithmetic at the end so we can copy the solution as it stands.',
  'I tutor two pupils who are preparing for an entrance exam, and I want to show them a clean model answer for the exercise below. Write it the way a careful teacher would on the board: one idea a line, units carried through, and a short remark wherever a pupil is likely to go wrong.',
  'This is for a collection of practice problems that a volunteer maths club hands out to its members. Present the solution in a friendly register, explain why each operation is the right one, keep the numbers exact until the last line, and finish with the answer in a full sentence.',
];
/** One of 20 rewordings of the same request, built from interchangeable clauses (chosen at random per request). */
const REWORDINGS = (() => {
  const a = ['I am preparing study notes for a tutoring group', 'I am putting together revision material for some students', 'We are assembling a set of worked examples for a class', 'I am writing up practice solutions for learners'];
  const b = ['and would appreciate your help with the problem below.', 'and need a clear solution to the exercise that follows.', 'and want a careful model answer for the question here.', 'so please solve the task that comes next.', 'and I would like the problem after this solved properly.'];
  const c = ['Keep the notation consistent with standard textbooks, write so that a motivated student could follow without further help, use plain language where possible and define any terms you introduce along the way.',
    'Use the notation of ordinary school books, write it so a keen pupil could follow it alone, prefer plain words and explain any term that is not everyday language.'];
  const out: string[] = [];
  for (let i = 0; out.length < 20; i++) out.push(`${a[i % a.length]} ${b[Math.floor(i / a.length) % b.length]} ${c[i % c.length]}`);
  return out;
})();
/** Words to make up a new preamble of 300-1,000 characters for every request (notes, a story, anything). */
const FILLER_WORDS = CHAT.join(' ').split(/\s+/).filter((w) => /^[a-z,.']{2,12}$/i.test(w));
function madeUpPreamble(r: () => number): string {
  const target = 300 + Math.floor(r() * 700);
  const words: string[] = [];
  for (let len = 0; len < target;) { const w = FILLER_WORDS[Math.floor(r() * FILLER_WORDS.length)]; words.push(w); len += w.length + 1; }
  return words.join(' ');
}
/** Made-up tool results, short and different each time (a trajectory's steps the account was never served). */
const FAKE_RESULTS = (r: () => number) => `{"found": ${1 + Math.floor(r() * 40)}, "page": ${1 + Math.floor(r() * 9)}}`;

test('padding that changes between requests: harvesters rotating preambles or hiding a preamble in a made-up tool trajectory are throttled', () => {
  const rotating: Shape = { messages: (q, n) => [user(`${PREAMBLES[n % PREAMBLES.length]}\n\n${cot(q)}`)], out: harvestOut };
  // A single-shot question behind two made-up tool calls and their short results, the preamble and one tool definition before it.
  const trajectory: Shape = {
    tools: ['search_notes'],
    messages: (q, _n, r) => [
      user(`${PREAMBLE}\n\n${cot(q)}`),
      { role: 'assistant', text: '', chars: 0 }, { role: 'tool', text: FAKE_RESULTS(r), chars: 24 },
      { role: 'assistant', text: '', chars: 0 }, { role: 'tool', text: FAKE_RESULTS(r), chars: 24 },
    ],
    out: harvestOut,
  };
  const res = run([
    ...accounts('acct_rotating', 8, rotating, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_faketraj', 8, trajectory, (r, emit) => humanPace(r, 10, emit)),
  ]);
  const summaries = ['acct_rotating', 'acct_faketraj'].map((prefix) => ({ prefix, ...throttledSummary(res, prefix) }));
  assert.ok(summaries.every((s) => s.throttled === s.accounts && s.accounts === 8), summaries.map((s) => `${s.prefix}: ${s.text}`).join('; '));
  assertThrottled(res, 'acct_rotating', 60);
  assertThrottled(res, 'acct_faketraj', 60);
});

test('padding reworded for every request is still input (a limit, docs/detector.md): made-up preambles keep harvesters at watch; rewordings drawn from twenty, which leave a ratio of 6 to 8, are throttled since the working asked for on most requests passes from 6', () => {
  const reworded: Shape = { messages: (q, _n, r) => [user(`${REWORDINGS[Math.floor(r() * REWORDINGS.length)]}\n\n${cot(q)}`)], out: harvestOut };
  const madeUp: Shape = { messages: (q, _n, r) => [user(`${madeUpPreamble(r)}\n\n${cot(q)}`)], out: harvestOut };
  const res = run([
    ...accounts('acct_reworded', 8, reworded, (r, emit) => humanPace(r, 10, emit)),
    ...accounts('acct_madeup', 8, madeUp, (r, emit) => humanPace(r, 10, emit)),
  ]);
  // Text not sent before is input, as a person's new document is: what tells these apart is not read.
  assertAtMostWatch(res, 'acct_madeup');
  // The rewordings are shorter: the ratio they leave passes where the working is asked for on
  // most requests (VISIBLE_WORKING).
  const s = throttledSummary(res, 'acct_reworded');
  console.log(`# acct_reworded: ${s.text}`);
  assert.ok(s.accounts === 8 && s.throttled === 8, `reworded: ${s.text}`);
});

test('material that changes between requests stays input: an application putting retrieved passages before each question, asking for steps, stays at watch', () => {
  // Twelve passages of some 350 characters (five short texts each), two retrieved for each question.
  const PASSAGES = Array.from({ length: 12 }, (_, k) => CHAT.slice(k * 5, k * 5 + 5).join(' '));
  const ragTurn: Shape = {
    messages: (_q, n, r) => {
      const a = PASSAGES[Math.floor(r() * PASSAGES.length)]; const b = PASSAGES[Math.floor(r() * PASSAGES.length)];
      return [user(`Context:\n${a}\n\n${b}\n\nQuestion: ${CHAT[(n * 7 + 3) % CHAT.length].slice(0, 160)} Explain step by step.`)];
    },
    out: (r) => 300 + Math.floor(r() * 600),
  };
  const res = run(accounts('acct_ragturn', 8, ragTurn, (r, emit) => humanPace(r, 10, emit)));
  assertAtMostWatch(res, 'acct_ragturn');
});
