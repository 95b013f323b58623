/**
 * The readings of user turns kept by their text (features.ts, `TurnReadings`), as the offline scan
 * keeps them: a turn sent again is not read again, its features are those a first reading gives,
 * the memory they take is bounded, and an engine that keeps them judges a log as one that does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'node:v8';
import { DetectorEngine, buildLabelledEvents, buildReport } from './index.ts';
import { extractPromptFeatures, lexiconCharactersRead, TurnReadings, TURN_READING_MAX_CHARS } from './features.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type EventMessage, type InteractionEvent } from '../events/index.ts';
import { detectPromptPool, fixtureRows, promptFixture } from '../../test/helpers/detect-fixtures.ts';

const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const msg = (role: string, text: string): EventMessage => ({ role, text, chars: text.length });

function event(n: number, messages: EventMessage[], more: { system?: string; flavour?: InteractionEvent['flavour']; reasoning_effort?: string } = {}): InteractionEvent {
  const chars = messages.reduce((s, m) => s + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `ev_${n}`, ts: new Date(T0 + n * 1000).toISOString(), duration_ms: 4000,
    flavour: more.flavour ?? 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: 'acct_1', org_id: null, key_id: 'key_1',
    client: { ip: '81.2.7.9', user_agent: 'openai-python/1.54.3', country: 'US', asn: 3001 },
    request: { stream: false, system: more.system ?? null, messages, tools: [], tool_choice: null, params: { ...emptyParams(), reasoning_effort: more.reasoning_effort ?? null }, bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: 400, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: 1600, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: 'card-1', signup_ip: '81.2.7.9', claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** Texts that take each way a turn is read: every lexicon, other languages, closed-task forms, folded look-alikes, long turns. */
function texts(): string[] {
  const out = [
    ...promptFixture('distill/gsm8k-sample.jsonl').slice(0, 40),
    ...promptFixture('distill/code-written.jsonl').slice(0, 40),
    ...promptFixture('organic/chat-written.jsonl').slice(0, 40),
    ...promptFixture('organic/hh-rlhf-sample.jsonl').slice(0, 20),
    ...['multilingual/gsm8k-translated.jsonl', 'multilingual/code-instructions.jsonl', 'multilingual/people-written.jsonl'].flatMap((f) => fixtureRows(f).slice(0, 30).map((r) => r.text)),
  ];
  const extra = [
    'Let\'s think step by step. Write a function that returns the sum of a list.',
    'Rate the response on a scale of 1 to 10 as a judge would.',
    'Ste\u200bp by s\u0442ep: \u0441alculate 12 + 30 for m\u0435.',
    '\ud835\udc2c\ud835\udc2d\ud835\udc1e\ud835\udc29 by step, compute 7 * 8.',
    'Rewrite this paragraph about the election so that it sounds neutral.',
    '',
  ];
  const long = `Question: ${'the train leaves the station at noon and travels east. '.repeat(200)} Let's think step by step. Calculate the distance.`;
  return [...out, ...extra, long, long.slice(0, TURN_READING_MAX_CHARS)];
}

/** Each text in the request shapes whose turn is read: alone, behind a system prompt, a second turn, padded, a prompt array. */
function shapes(text: string, n: number): InteractionEvent[] {
  return [
    event(n, [msg('user', text)]),
    event(n + 1, [msg('user', text)], { system: 'You are a careful assistant. Answer in English.' }),
    event(n + 2, [msg('user', 'Hello there'), msg('assistant', 'Hi! How can I help you today with your questions about anything at all, big or small? I am happy to help with homework, code or writing, whatever you need right now.'), msg('user', text)], { reasoning_effort: 'high' }),
    event(n + 3, [msg('user', text), msg('user', '.')]),
    event(n + 4, [msg('user', text), msg('user', 'What is 2 + 2?'), msg('user', text)], { flavour: 'openai.completions' }),
  ];
}

test('a turn sent again is not read again, and its features are those a first reading gives', () => {
  const readings = new TurnReadings();
  let n = 0;
  let again = 0;
  for (const text of texts()) {
    for (const ev of shapes(text, n)) {
      const fresh = extractPromptFeatures(ev);
      const first = extractPromptFeatures(ev, undefined, readings);
      assert.deepEqual(first, fresh, `first reading of ${JSON.stringify(text.slice(0, 60))} (${ev.flavour}, ${ev.request.messages.length} messages)`);
      const before = lexiconCharactersRead();
      const second = extractPromptFeatures(ev, undefined, readings);
      const read = lexiconCharactersRead() - before;
      assert.deepEqual(second, fresh, `kept reading of ${JSON.stringify(text.slice(0, 60))} (${ev.flavour}, ${ev.request.messages.length} messages)`);
      // The system prompt is kept by its own cache; a turn longer than what is kept is read again.
      if (text.length <= TURN_READING_MAX_CHARS) { assert.equal(read, 0, `a kept turn of ${text.length} characters read ${read} characters again`); again++; }
      else assert.ok(read > 0, 'a turn longer than what is kept is read each time');
    }
    n += 10;
  }
  assert.ok(again > 1000, `turns read from what was kept: ${again}`);
});

test('the readings kept are bounded in number and characters, and those in use stay', () => {
  const readings = new TurnReadings(100, 10_000);
  const reading = { user: 0, flags: 0, template: 1 };
  const hot = 'Write a function that reverses a string.';
  readings.add(hot, reading);
  let most = { entries: 0, chars: 0 };
  for (let i = 0; i < 5000; i++) {
    readings.add(`question ${i}: ${'x'.repeat(i % 300)}`, reading);
    if (i % 40 === 0) assert.ok(readings.get(hot) !== undefined, `a text looked up every 40 new ones is kept (after ${i})`);
    const size = readings.size;
    if (size.entries > most.entries) most = { ...most, entries: size.entries };
    if (size.chars > most.chars) most = { ...most, chars: size.chars };
  }
  assert.ok(most.entries <= 200, `at most twice the entries: ${most.entries}`);
  assert.ok(most.chars <= 20_000 + 400, `at most twice the characters: ${most.chars}`);
  assert.equal(readings.get('question 3: xxx'), undefined, 'an early text looked up no more was dropped');
  const long = 'y'.repeat(TURN_READING_MAX_CHARS + 1);
  readings.add(long, reading);
  assert.equal(readings.get(long), undefined, 'a text longer than what a turn is read of is not kept');
});

test('an engine that keeps readings judges a log as one that does not, and its state holds none of them', () => {
  // A fleet asking the same questions again and again, among people: most turns are sent again.
  const { events } = buildLabelledEvents(detectPromptPool(), { seed: 7, days: 1, organic: { hobbyist: 20, startup: 1 }, campaigns: [{ kind: 'hydra', accounts: 25 }, { kind: 'adaptive', accounts: 6 }] });
  const plain = new DetectorEngine({ trackFirstFlags: true });
  const keeping = new DetectorEngine({ trackFirstFlags: true, keepTurnReadings: true });
  for (const ev of events) { plain.ingest(structuredClone(ev)); keeping.ingest(ev); }
  plain.flush(); keeping.flush();
  const report = (e: DetectorEngine) => { const r = buildReport(e, { detector: 'warden' }) as unknown as Record<string, unknown>; delete r.generated_at; return r; };
  const a = report(plain); const b = report(keeping);
  assert.ok((a.accounts as unknown[]).length > 40, `accounts judged: ${(a.accounts as unknown[]).length}`);
  assert.deepEqual(b, a, 'the same report');
  assert.equal(keeping.snapshotLayout(), plain.snapshotLayout(), 'the same snapshot layout: the readings are not state');
  assert.ok(serialize(keeping.snapshotState()).equals(serialize(plain.snapshotState())), 'the same snapshot bytes');
});
