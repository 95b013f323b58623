/**
 * A preference-pair harvest (DPO data) that used to stay at watch on accounts bought with their
 * history and sharing nothing: every item asked word for word by two of the campaign's accounts,
 * one at a low temperature and one at a high one, one answer each. It must reach throttle; a
 * researcher comparing temperatures on one account, two researchers running the same benchmark,
 * a developer's staging and production accounts, a class doing the same problems, a study group
 * splitting a problem set and people taking prompts from one public library must not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom as rand, replayThroughDetector, assertAllThrottled as throttledAll, assertAtMostWatch as atMostWatch } from '../../test/helpers/detect-fixtures.ts';
import { ItemOwners, itemFp, PAIRED } from './paired-items.ts';

const ITEMS = [...fixture('distill/gsm8k-sample.jsonl'), ...fixture('distill/code-written.jsonl')];
const CHAT = fixture('organic/chat-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');

const homes = new Map<string, number>();
const home = (account: string) => homes.get(account) ?? (homes.set(account, homes.size + 1), homes.size);
const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });

interface Req { messages: EventMessage[]; out: number; temperature?: number | null; account?: Partial<NonNullable<InteractionEvent['account']>> }

function event(account: string, n: number, ts: number, r: Req): InteractionEvent {
  const h = home(account);
  const chars = r.messages.reduce((a, m) => a + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `82.${h % 250}.${h >> 8}.9`, user_agent: 'Mozilla/5.0', country: 'US', asn: 4000 + h },
    request: { stream: false, system: null, messages: r.messages, tools: [], tool_choice: null, params: { ...emptyParams(), temperature: r.temperature ?? null }, bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: r.out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: r.out * 4, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `82.${h % 250}.${h >> 8}.9`, claimed_country: 'US', ...r.account },
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

/** Item k of the fixture sets, worded apart past their end (as a paraphrasing harvest would). */
const item = (k: number) => (k < ITEMS.length ? ITEMS[k] : `${ITEMS[k % ITEMS.length]}\n(Variant ${Math.floor(k / ITEMS.length)}.)`);

/**
 * A preference-pair harvest over `k` accounts sharing nothing: each request is, half the time, the
 * oldest item another account asked (word for word, at temperature 1-1.2), else a new item at
 * 0-0.3, left for a sibling.
 */
function pairs(prefix: string, k: number, days: number, temps: { low: number[]; high: number[] } | null = { low: [0, 0.2, 0.3], high: [1, 1.1, 1.2] }): InteractionEvent[] {
  const reqs: Array<[number, number, number]> = [];
  for (let a = 0; a < k; a++) humanTimes(rand(fnv(`${prefix}_${a}`)), days).forEach((ts, n) => reqs.push([a, n, ts]));
  reqs.sort((x, y) => x[2] - y[2]);
  const waiting: Array<{ q: string; by: number }> = [];
  const r = rand(fnv(prefix));
  const events: InteractionEvent[] = [];
  let next = 0;
  for (const [a, n, ts] of reqs) {
    const at = r() < 0.5 ? waiting.findIndex((w) => w.by !== a) : -1;
    const second = at >= 0;
    const q = second ? waiting.splice(at, 1)[0].q : item(next++);
    if (!second) waiting.push({ q, by: a });
    const temperature = temps === null ? null : second ? temps.high[n % temps.high.length] : temps.low[n % temps.low.length];
    events.push(event(`${prefix}_${a}`, n, ts, { messages: [user(q)], out: 500 + Math.floor(r() * 400), temperature }));
  }
  return events;
}

test('a question asked again by a second account pairs once; its own again, or a third account, does not', () => {
  const owners = new ItemOwners(10);
  const fp = itemFp(ITEMS[0], ITEMS[0].length);
  assert.ok(fp !== 0, 'a fixture item is long enough to be read');
  assert.equal(itemFp('Hello there, how are you?', 25), 0, 'a short greeting is not read (it collides by chance)');
  assert.equal(owners.ask(fp, 1, 11, 2), null, 'a new question is the first asker\'s');
  assert.equal(owners.ask(fp, 1, 11, 2), null, 'the same account asking again makes no pair');
  assert.deepEqual(owners.ask(fp, 2, 22, 10), { i: 1, key: 11, temp: 2 }, 'a second account pairs with the first, with its temperature');
  assert.equal(owners.ask(fp, 3, 33, 10), null, 'a third account makes no pair (a common question)');
  assert.equal(itemFp(`${ITEMS[0]}  `, ITEMS[0].length + 2) === fp, false, 'the full length is part of the hash');
});

test('preference pairs across accounts sharing nothing, one low and one high temperature: each account reaches throttle, named for it', () => {
  const res = replayThroughDetector(pairs('acct_dpo', 8, 5));
  throttledAll(res, 'acct_dpo_', 'paired_items_test');
  const v = res.e.forAccount('acct_dpo_0').verdict!;
  for (const [signal, threshold] of [['paired_item_share', PAIRED.pairedShare], ['paired_item_partners', PAIRED.minPartners], ['paired_item_temperature_split', PAIRED.splitShare]] as const) {
    const r = v.reasons.find((x) => x.signal === signal);
    assert.ok(r && typeof r.value === 'number' && r.value >= threshold && r.threshold === threshold, `the verdict gives ${signal} with its threshold ${threshold}: ${JSON.stringify(r)}`);
  }
});

test('a researcher comparing temperatures on one account, and two researchers running the same benchmark at their own temperatures, stay at watch', () => {
  const events: InteractionEvent[] = [];
  // Each benchmark item asked at 0 and again at 1, by the same account.
  humanTimes(rand(fnv('acct_temps')), 6).forEach((ts, n) => events.push(event('acct_temps', n, ts, { messages: [user(item(n >> 1))], out: 600, temperature: n & 1 ? 1 : 0 })));
  // Two labs: the same public items in the same order, one at 0, the other at 1.
  for (const [id, temperature] of [['acct_lab_a', 0], ['acct_lab_b', 1]] as const) {
    humanTimes(rand(fnv(id)), 6).forEach((ts, n) => events.push(event(id, n, ts, { messages: [user(item(40 + n))], out: 600, temperature })));
  }
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_temps');
  atMostWatch(res, 'acct_lab_');
});

test('a developer\'s staging and production accounts sending the same test prompts at different temperatures stay at watch', () => {
  const events: InteractionEvent[] = [];
  for (const [id, temperature] of [['acct_dev_staging', 1.2], ['acct_dev_prod', 0.2]] as const) {
    humanTimes(rand(fnv(id)), 6).forEach((ts, n) => events.push(event(id, n, ts, { messages: [user(item(120 + (n % 30)))], out: 400, temperature })));
  }
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_dev_');
});

test('a class doing the same problems, a study group splitting a problem set two by two, and people taking prompts from one public library stay at watch', () => {
  const events: InteractionEvent[] = [];
  // 30 students on free-mail: the same six problems, follow-ups on the worked answer.
  for (let s = 0; s < 30; s++) {
    const id = `acct_class_${s}`;
    humanTimes(rand(fnv(id)), 3).forEach((ts, n) => {
      const q = item(200 + (n % 6));
      events.push(event(id, n, ts, { messages: n % 2 ? [user(q), { role: 'assistant', text: 'Step 1: ...', chars: 400 }, user('I do not follow step 2, can you explain?')] : [user(q)], out: 500, temperature: (s % 3) / 2 }));
    });
  }
  // A study group of eight: every problem of a shared set asked by two of them, the temperature left to the provider.
  events.push(...pairs('acct_study', 8, 5, null));
  // Twelve people taking prompts from a public library of 40 (each prompt used by several), their apps' temperature sliders where they set them.
  for (let p = 0; p < 12; p++) {
    const id = `acct_library_${p}`;
    const r = rand(fnv(id));
    humanTimes(r, 5).forEach((ts, n) => {
      const q = `${CHAT[Math.floor(r() * 40)]} Please answer in detail and give examples for each point you make.`;
      events.push(event(id, n, ts, { messages: [user(q)], out: 500, temperature: r() < 0.5 ? null : [0.2, 0.7, 1.2][n % 3] }));
    });
  }
  const res = replayThroughDetector(events);
  atMostWatch(res, 'acct_class_');
  atMostWatch(res, 'acct_study_');
  atMostWatch(res, 'acct_library_');
});

test('the pairs reading is kept in a snapshot: a restored detector goes on as one that never stopped', async () => {
  const { DetectorEngine } = await import('./index.ts');
  const events = pairs('acct_snap', 8, 5).sort((a, b) => (a.ts < b.ts ? -1 : 1));
  const half = events.length >> 1;
  const whole = new DetectorEngine();
  for (const ev of events) whole.ingest(ev);
  const first = new DetectorEngine();
  for (const ev of events.slice(0, half)) first.ingest(ev);
  const restored = new DetectorEngine();
  assert.ok(restored.readsLayout(first.snapshotLayout()), 'the layout is read back');
  restored.restoreState(structuredClone(first.snapshotState()));
  for (const ev of events.slice(half)) restored.ingest(ev);
  for (let a = 0; a < 8; a++) {
    const id = `acct_snap_${a}`;
    assert.equal(restored.forAccount(id).level, whole.forAccount(id).level, `${id}: the same level after a restore as without one`);
  }
});
