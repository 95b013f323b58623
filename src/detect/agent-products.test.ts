/**
 * Customers whose agents look like an agentic-trajectory harvest (`agent-1` in the red team:
 * each coding or maths item handed to a tool-using agent of the account's own, 3 to 9 steps,
 * every tool result made up). What a real agent product shows through the gateway is the same:
 * a system prompt and a tool set of its own, a new coding or maths task for every trajectory,
 * tools that answer in well under a second (cached, in the process, a container kept warm), a few
 * steps, one final answer. Nothing in the events tells a tool that ran from one that was made
 * up (docs/detector.md, "Limits (honest)"), so these customers must stay at watch or below
 * whatever a future test of agent trajectories reads. Eight aged, unlinked accounts a shape
 * (each its own card, address and network), tasks from the prompt fixtures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector, roughTokens, assertAtMostWatch, replaySummary } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODE = fixture('distill/code-written.jsonl');
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const DAY = 86_400_000;

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
const between = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const text = (role: string, t: string, parts?: Record<string, number>): EventMessage => ({ role, text: t, chars: t.length, ...(parts ? { parts } : {}) });

interface Shape {
  /** The harness's system prompt and tools: one for every account, or each account's own (by its index). */
  system: string | ((a: number) => string);
  tools: string[] | ((a: number) => string[]);
  /** The task that opens a trajectory. */
  task: (r: () => number, n: number) => string;
  /** Requests a trajectory (the last answers without a tool call). */
  steps: (r: () => number) => number;
  /** A tool's result as the harness hands it back. */
  result: (r: () => number, task: string) => string;
  /** Milliseconds between an answer's end and the next step (the tool's run). */
  toolMs: (r: () => number) => number;
  /** Start times of the trajectories over `days`. */
  starts: (r: () => number, days: number) => number[];
}

/**
 * The events of `k` accounts running `shape` for `days` days: Anthropic Messages, each step's
 * request carrying the trajectory so far (the model's tool call, the tool's result).
 */
function agentAccounts(prefix: string, k: number, days: number, shape: Shape): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  let n = 0;
  for (let a = 0; a < k; a++) {
    const id = `${prefix}_${a}`; const home = 40 + a + prefix.length * 11; const r = seededRandom(home * 7919 + a);
    const system = typeof shape.system === 'string' ? shape.system : shape.system(a);
    const tools = Array.isArray(shape.tools) ? shape.tools : shape.tools(a);
    for (const start of shape.starts(r, days)) {
      const task = shape.task(r, n);
      const steps = shape.steps(r);
      const history: EventMessage[] = [text('user', task)];
      let ts = start;
      for (let s = 1; s <= steps; s++) {
        const final = s === steps;
        const outTokens = final ? between(r, 250, 900) : between(r, 60, 300);
        const duration = 1500 + outTokens * 12;
        const inTokens = roughTokens(system) + history.reduce((x, m) => x + roughTokens(m.text ?? ''), 0) + 40 * tools.length;
        out.push({
          schema: EVENT_SCHEMA, id: `${id}-${n}-${s}`, ts: new Date(ts).toISOString(), duration_ms: duration,
          flavour: 'anthropic.messages', model: 'claude-large', upstream: 'up', account_id: id, org_id: null, key_id: `key_${id}`,
          client: { ip: `93.${home}.4.${10 + a}`, user_agent: 'anthropic-sdk-python/0.40.0', country: 'US', asn: 7000 + home },
          request: { stream: true, system, messages: history.slice(), tools, tool_choice: 'auto', params: { ...emptyParams(), max_tokens: 4096 }, bytes: inTokens * 4 + 300 },
          response: { status: 200, error_code: null, input_tokens: inTokens, output_tokens: outTokens, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: final ? 0 : 1, finish_reason: final ? 'end_turn' : 'tool_use', ttfb_ms: 600, output_chars: outTokens * 4, reasoning_chars: 0 },
          account: { created_at: '2025-03-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${id}`, signup_ip: `93.${home}.4.${10 + a}`, claimed_country: 'US' },
          enforcement: emptyEnforcement(),
        });
        history.push(text('assistant', pick(['Let me run that.', 'I will check with the tool.', 'Running it now.', ''], r), { tool_use: 1 }));
        history.push(text('user', shape.result(r, task), { tool_result: 1 }));
        ts += duration + shape.toolMs(r);
      }
      n++;
    }
  }
  return out;
}

/** An application's users through the day: `lo` to `hi` trajectories a day between 07:00 and 23:00. */
const appDay = (lo: number, hi: number) => (r: () => number, days: number): number[] => {
  const out: number[] = [];
  for (let d = 0; d < days; d++) for (let k = 0, m = between(r, lo, hi); k < m; k++) out.push(T0 + d * DAY + (7 + r() * 16) * 3_600_000);
  return out.sort((x, y) => x - y);
};

test('agent products whose users bring coding and maths tasks, their tools answering at once, one trajectory a task, stay at watch or below', () => {
  // A homework-and-code study app: every trajectory a new maths or coding question from its
  // users, a Python interpreter and a calculator kept warm (results in 80-400 ms), 3 to 9 steps.
  const tutorAgent = agentAccounts('acct_tutoragent', 8, 5, {
    system: 'You are Mathly, a study assistant. Use the tools to compute and check results before you answer. Explain the solution to the student.',
    tools: ['python', 'calculator', 'plot', 'search_notes'],
    task: (r, n) => (r() < 0.6 ? GSM8K[n % GSM8K.length] : CODE[n % CODE.length]),
    steps: (r) => between(r, 3, 9),
    result: (r) => pick(['>>> 48 / 2\n24.0', 'Result: 72', '[plot saved: fig1.png]', 'No matching notes.', 'Traceback (most recent call last):\nNameError: name \'x\' is not defined'], r),
    toolMs: (r) => 80 + r() * 320,
    starts: appDay(25, 40),
  });
  // A support bot with fast tools (order look-ups, a knowledge base in memory), whose users also
  // paste the code that does not work with their integration: a new question every trajectory.
  const supportAgent = agentAccounts('acct_supportagent', 8, 5, {
    system: 'You are the support assistant of Parcelbox. Look things up with the tools before you answer; never guess an order status.',
    tools: ['lookup_order', 'search_kb', 'create_ticket'],
    task: (r, n) => (r() < 0.5 ? `${CODE[n % CODE.length]}\nThis is how I call your API and it fails, why?` : GSM8K[n % GSM8K.length]),
    steps: (r) => between(r, 2, 6),
    result: (r) => pick(['{"status": "shipped", "eta": "2 days"}', '{"results": [{"title": "API authentication"}, {"title": "Rate limits"}]}', '{"ticket": 48213}'], r),
    toolMs: (r) => 40 + r() * 200,
    starts: appDay(30, 50),
  });
  const res = replayThroughDetector([...tutorAgent, ...supportAgent]);
  assertAtMostWatch(res, 'acct_tutoragent');
  assertAtMostWatch(res, 'acct_supportagent');
});

test('a CI bot running a coding agent on every change, around the clock, its tool results cached and back at once, a fixed number of steps, stays at watch or below', () => {
  // Each run a new change to review and fix (a coding task), the same harness and tool set, the
  // same 6 steps (read, edit, test...), tool results from a warm cache in 10-60 ms.
  const ciBot = agentAccounts('acct_cibot', 8, 5, {
    system: 'You are a CI assistant. For each change: read the diff, run the tests, fix failures with minimal edits, and report. Use the tools; do not ask questions.',
    tools: ['read_file', 'apply_patch', 'run_tests', 'grep', 'bash'],
    task: (r, n) => `Fix the failing check on this change:\n\n${CODE[n % CODE.length]}`,
    steps: () => 6,
    result: (r, task) => pick([task.slice(0, 600), '12 passed, 1 failed in 0.84s', 'patch applied', 'exit code 0', 'src/util.py:41:    return total'], r),
    toolMs: (r) => 10 + r() * 50,
    starts: (r, days) => {
      const out: number[] = [];
      for (let d = 0; d < days; d++) for (let k = 0, m = between(r, 20, 35); k < m; k++) out.push(T0 + d * DAY + r() * DAY);
      return out.sort((x, y) => x - y);
    },
  });
  const res = replayThroughDetector(ciBot);
  assertAtMostWatch(res, 'acct_cibot');
});

// Harnesses of their own: each account's system prompt and tool set worded and drawn apart, as a
// harvester gives each bought account its own so that nothing links them.
const ROLES = ['You are an autonomous problem-solving agent.', 'You are a research assistant with a sandbox.', 'You are an agent that acts in an environment.', 'You are a capable assistant with tools.'];
const RULES = ['Call one tool at a time.', 'Check your work by running code.', 'Decide the next tool from the last result.', 'Reply without a tool once you know the answer.', 'Never guess a value you can compute.'];
const ownSystem = (a: number) => `${ROLES[a % ROLES.length]} ${RULES[a % RULES.length]} ${RULES[(a * 3 + 1) % RULES.length]} Run ${a + 1}.`;
const TOOLBOX = ['python', 'calculator', 'bash', 'read_file', 'run_tests', 'grep', 'web_search', 'notes_write'];
const ownTools = (a: number) => TOOLBOX.filter((_, k) => ((a + 3) >> (k % 4)) % 2 === 0 || k === a % TOOLBOX.length);
/** A person's day: `lo` to `hi` sessions between 08:00 and 22:00. */
const personDay = (lo: number, hi: number) => (r: () => number, days: number): number[] => {
  const out: number[] = [];
  for (let d = 0; d < days; d++) for (let k = 0, m = between(r, lo, hi); k < m; k++) out.push(T0 + d * DAY + (8 + r() * 14) * 3_600_000);
  return out.sort((x, y) => x - y);
};

test('aged accounts that share nothing, each running an agent harness of its own on coding and maths items alone, reach throttle together as an agent-trajectory cohort', () => {
  // Twelve bought accounts (each its own card, address and network), 5 to 8 trajectories a day
  // each, every trajectory a dataset item handed to the account's own harness, 3 to 9 steps, tool
  // results made up: each account alone is an agent product whose users bring coding and maths.
  const fleet = agentAccounts('acct_agentfleet', 12, 4, {
    system: ownSystem,
    tools: ownTools,
    task: (r, n) => (r() < 0.55 ? GSM8K[(n * 7) % GSM8K.length] : CODE[(n * 5) % CODE.length]),
    steps: (r) => between(r, 3, 9),
    result: (r) => pick([`Result: ${between(r, 2, 9999)}`, `exit code ${pick([0, 1], r)}`, `${between(r, 2, 40)} passed, ${between(r, 0, 4)} failed`, 'OK'], r),
    toolMs: (r) => 300 + r() * 2500,
    starts: personDay(5, 8),
  });
  const res = replayThroughDetector(fleet);
  // The lexicons read about half of the coding items as code (and nearly every maths item as
  // maths), so an account whose draws ran to code reads near the bar (0.6) and may stay out.
  const summary = replaySummary(res, 'acct_agentfleet');
  assert.ok(summary.throttled >= 10, `at least 10 of the 12 reach throttle: ${summary.text}`);
  for (const id of res.throttledAt.keys()) {
    // Those held at the end: an account whose share fell under the bar left the cohort and stepped down.
    if (verdictRank(res.e.forAccount(id).level) < verdictRank('throttle')) continue;
    const v = res.e.forAccount(id).verdict!;
    const shape = v.reasons.find((x) => x.signal === 'harvest_cohort_shape');
    assert.equal(shape?.value, 'agent_trajectories', `${id}'s verdict names the agent-trajectory shape: ${JSON.stringify(v.reasons.map((x) => x.signal))}`);
    const size = v.reasons.find((x) => x.signal === 'harvest_cohort_size');
    assert.ok(size && Number(size.value) >= Number(size.threshold), `${id}: the cohort's size is read against its threshold: ${JSON.stringify(size)}`);
    // The account's own readings stand beside the bars they were read against.
    for (const signal of ['agent_tool_share', 'agent_capability_openings']) {
      const r = v.reasons.find((x) => x.signal === signal);
      assert.ok(r && typeof r.value === 'number' && typeof r.threshold === 'number', `${id}'s verdict gives its ${signal} with its threshold: ${JSON.stringify(r)}`);
    }
  }
  // With the reading off, the same fleet is what it was before: agent products, at watch or below.
  assertAtMostWatch(replayThroughDetector(fleet, { cohort_agents: false }), 'acct_agentfleet');
});

test('people each running an agent of their own, coding and maths among their other work, stay at watch or below', () => {
  // Twelve developers and analysts with home-made agents (each its own prompt and tools): a third
  // to a half of their trajectories coding or maths, the rest writing, questions and look-ups.
  const people = agentAccounts('acct_ownagent', 12, 4, {
    system: ownSystem,
    tools: ownTools,
    task: (r, n) => (r() < 0.45 ? (r() < 0.5 ? GSM8K[(n * 3) % GSM8K.length] : CODE[(n * 11) % CODE.length]) : CHAT[(n * 13) % CHAT.length]),
    steps: (r) => between(r, 2, 9),
    result: (r) => pick(['{"results": [{"title": "Result 1"}]}', 'exit code 0', 'Saved.', 'No matches.'], r),
    toolMs: (r) => 300 + r() * 2500,
    starts: personDay(5, 8),
  });
  assertAtMostWatch(replayThroughDetector(people), 'acct_ownagent');
});
