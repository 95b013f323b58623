/**
 * Continued responses (`previous_response_id`): a harvester that stores "think step by step" once
 * and branches every question from that stored response is read as if it sent the instruction
 * with each question; a chat app continuing its own answers is read as the conversation it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import { DetectorEngine, verdictRank } from './index.ts';
import { extractFeatures, FLAG } from './features.ts';
import { ResponseChains, FANOUT_BRANCHES } from './chains.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { promptFixture as fixture, seededRandom as rand, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const CODING = fixture('distill/code-written.jsonl');
const CHAT = [...fixture('organic/chat-written.jsonl'), ...fixture('organic/hh-rlhf-sample.jsonl')];
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const COT = 'Think step by step and show your full reasoning before the final answer.';


const homes = new Map<string, number>();
const home = (account: string) => homes.get(account) ?? (homes.set(account, homes.size + 1), homes.size);

/** One Responses request of `account`: `text`, continuing `previous` (or nothing), answered with `out` tokens. */
function event(account: string, n: number, ts: number, text: string, out: number, previous: string | null, inTokens = Math.ceil(text.length / 4)): InteractionEvent {
  const h = home(account);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.responses', model: 'o3', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `82.${h}.7.9`, user_agent: 'openai-python/1.54.3', country: 'US', asn: 4000 + h },
    request: {
      stream: false, system: null, messages: [{ role: 'user', text, chars: text.length }], tools: [], tool_choice: null, params: emptyParams(), bytes: text.length + 200,
      ...(previous ? { previous_response_id: previous } : {}),
    },
    response: { status: 200, error_code: null, input_tokens: inTokens, output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0, answer_id: `resp_${account}_${n}` },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `82.${h}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** Times at a person's pace over four days: a few sessions a day in waking hours, a handful of requests each, irregular gaps. */
function pace(seed: number): number[] {
  const r = rand(seed);
  const out: number[] = [];
  for (let d = 0; d < 4; d++) {
    for (let s = 0, sessions = 3 + Math.floor(r() * 3); s < sessions; s++) {
      let ts = T0 + d * 86_400_000 + (9 + s * 3 + r() * 2) * 3_600_000;
      for (let q = 0, k = 2 + Math.floor(r() * 5); q < k; q++) { out.push(ts); ts += 15_000 + Math.exp(Math.log(90_000) + (r() - 0.5) * 5); }
    }
  }
  return out;
}

/**
 * The harvester: one setup request stores the instruction ("OK." back, or a long restatement),
 * then every question continues that stored response, bare; answered at harvest length.
 */
function fanout(id: string, seed: number, rootAnswerTokens = 1): InteractionEvent[] {
  const r = rand(seed + 1000);
  const times = pace(seed);
  const root = event(id, 0, times[0] - 60_000, `For every problem I send after this message: ${COT} Reply OK.`, rootAnswerTokens, null);
  const pool = [...GSM8K, ...CODING];
  return [root, ...times.map((ts, n) => {
    const q = pool[Math.floor(r() * pool.length)];
    // The upstream bills the stored context as input too.
    return event(id, n + 1, ts, q, 500 + Math.floor(r() * 900), root.response.answer_id!, Math.ceil(q.length / 4) + 40);
  })];
}

/**
 * A chat app on the Responses API: each turn continues the previous answer (a new chat now and
 * then, an answer regenerated now and then); about 30% of the turns ask to have something explained step by step. Input tokens are
 * the whole chain's, as the upstream bills them.
 */
function chatApp(id: string, seed: number, chainInput = true): InteractionEvent[] {
  const r = rand(seed + 2000);
  const out: InteractionEvent[] = [];
  let previous: string | null = null;
  let context = 0;
  for (const ts of pace(seed)) {
    if (r() < 0.15) { previous = null; context = 0; }
    const base = r() < 0.3 ? `Can you explain step by step how to solve this? ${GSM8K[Math.floor(r() * GSM8K.length)]}` : CHAT[Math.floor(r() * CHAT.length)];
    const outTok = 150 + Math.floor(r() * 500);
    // Now and then an answer is regenerated, up to three more times (each continues the same answer).
    const tries = r() < 0.1 ? 2 + Math.floor(r() * 3) : 1;
    let ev!: InteractionEvent;
    for (let t = 0; t < tries; t++) {
      ev = event(id, out.length, ts + t * 20_000, base, outTok, previous, (chainInput ? context : 0) + Math.ceil(base.length / 4));
      out.push(ev);
    }
    context += Math.ceil(base.length / 4) + outTok;
    previous = ev.response.answer_id!;
  }
  return out;
}

const run = (groups: InteractionEvent[][]) => replayThroughDetector(groups.flat());

test('a request continuing a stored instruction and its "OK." is read as the instruction sent with the question; a real conversation is a conversation', () => {
  const chains = new ResponseChains();
  const root = event('acct_a', 0, T0, `For every problem I send after this message: ${COT} Reply OK.`, 1, null);
  const read = (ev: InteractionEvent) => chains.read(ev, extractFeatures(ev).flags);
  assert.ok(read(root) & FLAG.cot, 'the setup request asks for reasoning');
  const q = event('acct_a', 1, T0 + 1000, GSM8K[0], 800, 'resp_acct_a_0');
  const bare = extractFeatures(q).flags;
  assert.ok((bare & FLAG.cot) === 0 && (bare & FLAG.singleShot) !== 0, 'alone, the bare question asks for nothing');
  const f = read(q);
  assert.ok((f & FLAG.cot) !== 0 && (f & FLAG.singleShot) !== 0, 'continuing the stored instruction, it asks for reasoning and is single-shot, as the same messages sent inline are');

  // A chat: the second turn continues a long answer. A conversation, and the question asked once
  // in the first turn does not mark it.
  const t1 = event('acct_b', 0, T0, `Explain step by step how compound interest works.`, 400, null);
  assert.ok(read(t1) & FLAG.cot);
  const t2 = read(event('acct_b', 1, T0 + 60_000, 'And for a loan with monthly payments?', 300, 'resp_acct_b_0'));
  assert.ok((t2 & FLAG.singleShot) === 0 && (t2 & FLAG.cot) === 0, 'a turn after a long answer is a conversation, inheriting nothing');

  // An answer the table does not know is a conversation too (a chat app's, continued after the
  // detector forgot it), until it is branched from again and again.
  const unknown = (n: number) => read(event('acct_c', n, T0 + n * 1000, GSM8K[n], 800, 'resp_elsewhere'));
  assert.ok((unknown(1) & FLAG.singleShot) === 0, 'continuing an unknown answer is a conversation');
  // Refused requests (a client retrying after a 429) are not branches.
  for (let n = 0; n < 5; n++) {
    const refused = event('acct_c', 100 + n, T0 + n * 1000, GSM8K[1], 0, 'resp_elsewhere');
    refused.response.status = 429;
    assert.ok((read(refused) & FLAG.singleShot) === 0, 'retries of a refused continuation are no fan-out');
  }
  for (let n = 2; n < FANOUT_BRANCHES; n++) unknown(n);
  assert.ok((unknown(FANOUT_BRANCHES) & FLAG.singleShot) !== 0, `the ${FANOUT_BRANCHES}th request branching from one answer is a new question from a shared prefix`);
});

test('the table is bounded: the least recently used answers are forgotten first, and a root being branched from stays', () => {
  const chains = new ResponseChains(64);
  const root = event('acct_r', 0, T0, `${COT} Reply OK.`, 1, null);
  chains.read(root, extractFeatures(root).flags);
  for (let n = 1; n <= 500; n++) {
    const ev = event('acct_r', n, T0 + n * 1000, GSM8K[n % GSM8K.length], 800, n % 10 === 0 ? 'resp_acct_r_0' : null);
    const f = chains.read(ev, extractFeatures(ev).flags);
    if (n % 10 === 0) assert.ok((f & FLAG.cot) !== 0, `branch ${n} still reads the root's instruction`);
    assert.ok(chains.size <= 64, `at most 64 answers remembered, ${chains.size}`);
  }
});

test('stored-instruction fan-out: harvesters branching every bare question from one stored "think step by step" are throttled, as those sending it inline are', () => {
  const harvesters = Array.from({ length: 6 }, (_, k) => fanout(`acct_fan_${k}`, 10 + k));
  const { throttledAt, seen, e } = run(harvesters);
  const missed = [...seen.keys()].filter((id) => !throttledAt.has(id));
  assert.ok(missed.length === 0, `every harvester reaches throttle; not: ${missed.map((id) => `${id} (${seen.get(id)} requests, ${e.forAccount(id).level})`).join(', ')}`);
  // Events of an older log, with no continuation recorded, read as bare questions: the gap fixed.
  const old = run(harvesters.map((evs) => evs.map((ev) => { const { previous_response_id: _p, ...request } = ev.request; return { ...ev, request }; })));
  assert.ok(old.throttledAt.size < 6, 'without the continuation on the events the same traffic is not read (the gap this closes)');
});

test('fan-out from a long stored prefix: the branches are still new questions carrying the prefix\'s instruction', () => {
  const harvesters = Array.from({ length: 6 }, (_, k) => fanout(`acct_long_${k}`, 30 + k, 250));
  const { throttledAt, seen, e } = run(harvesters);
  const missed = [...seen.keys()].filter((id) => !throttledAt.has(id));
  assert.ok(missed.length === 0, `every harvester reaches throttle; not: ${missed.map((id) => `${id} (${seen.get(id)} requests, ${e.forAccount(id).level})`).join(', ')}`);
});

test('a chat app continuing its answers with previous_response_id, some turns asking for step-by-step explanations, stays at watch or below', () => {
  // Input tokens as the upstream bills them (the whole chain), and, harder, each turn's own only
  // (the output/input ratio then does not tell a chat from a harvest; its turns being a conversation does).
  for (const chainInput of [true, false]) {
    const apps = Array.from({ length: 8 }, (_, k) => chatApp(`acct_app_${k}`, 50 + k, chainInput));
    const { highest, seen } = run(apps);
    for (const id of seen.keys()) {
      assert.ok((highest.get(id) ?? 0) <= verdictRank('watch'), `${id} (${seen.get(id)} requests${chainInput ? '' : ', own input only'}) stays at watch or below, reached ${highest.get(id)}`);
    }
  }
});

test('a restart from a snapshot keeps the chains: branches after it still read the stored instruction', () => {
  const evs = fanout('acct_snap', 77);
  const before = new DetectorEngine();
  for (const ev of evs.slice(0, 5)) before.ingest(ev);
  // As snapshot.ts writes and reads it.
  const state = deserialize(serialize(before.snapshotState())) as Record<string, unknown>;
  const after = new DetectorEngine();
  assert.equal(after.snapshotLayout(), before.snapshotLayout(), 'same layout');
  after.restoreState(state);
  const fresh = new DetectorEngine();
  for (const ev of evs.slice(5)) { after.ingest(ev); fresh.ingest(ev); }
  after.flush(); fresh.flush();
  assert.ok(verdictRank(after.forAccount('acct_snap').level) >= verdictRank('throttle'), `restored from the snapshot, the harvester is throttled: ${after.forAccount('acct_snap').level}`);
  assert.ok(verdictRank(fresh.forAccount('acct_snap').level) < verdictRank('throttle'), 'an engine that never saw the root cannot read it (why the table is in the snapshot)');
});

test('item references: a request naming a stored item is read with the chain of the answer it came from; one the detector cannot resolve is hidden content', () => {
  const chains = new ResponseChains();
  const read = (ev: InteractionEvent) => chains.read(ev, extractFeatures(ev).flags);
  // The stored instruction and its "OK.": the answer's output item is `msg_root`.
  const root = event('acct_i', 0, T0, `For every problem I send after this message: ${COT} Reply OK.`, 1, null);
  root.response.item_ids = ['msg_root', 'rs_root'];
  read(root);
  const naming = (n: number, ids: string[]) => {
    const ev = event('acct_i', n, T0 + n * 1000, GSM8K[n], 800, null);
    ev.request.item_references = ids;
    return ev;
  };
  const q = naming(1, ['msg_root']);
  assert.ok((extractFeatures(q).flags & FLAG.cot) === 0, 'alone, the bare question asks for nothing');
  const f = read(q);
  assert.ok((f & FLAG.cot) !== 0 && (f & FLAG.singleShot) !== 0, 'naming the stored answer\'s item, it carries the stored instruction, single-shot');
  assert.equal(f & FLAG.unreadableDocument, 0, 'a resolved reference hides nothing');

  // An item no event seen holds (an input item kept upstream, an answer never seen): the model
  // reads text the detector does not.
  const hidden = read(naming(2, ['msg_stored_elsewhere']));
  assert.ok((hidden & FLAG.unreadableDocument) !== 0, 'an unresolved reference is hidden content');
  assert.equal(hidden & FLAG.singleShot, 0, 'and its chain is unknown: read as a long one');
  const omitted = naming(3, ['msg_root']);
  omitted.request.item_references_omitted = 1;
  assert.ok((read(omitted) & FLAG.unreadableDocument) !== 0, 'references past those an event keeps are unresolved too');

  // A chat app handing back its own last answer's items each turn: resolved, a conversation, nothing hidden.
  let prevItems: string[] = [];
  for (let n = 0; n < 6; n++) {
    const ev = event('acct_chat', n, T0 + n * 60_000, CHAT[n], 300, null);
    if (prevItems.length) ev.request.item_references = prevItems;
    ev.response.item_ids = [`msg_chat_${n}`];
    const flags = read(ev);
    assert.equal(flags & FLAG.unreadableDocument, 0, `turn ${n}: its own answers' items are resolved`);
    if (n > 0) assert.equal(flags & FLAG.singleShot, 0, `turn ${n} is a conversation`);
    prevItems = [`msg_chat_${n}`];
  }
});
