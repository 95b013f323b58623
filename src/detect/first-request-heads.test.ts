import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

/**
 * A fleet that shares no infrastructure (each account its own card, signup address and network)
 * is found one account at a time until part of it is flagged; from then on its new accounts should
 * be taken in at their first request by what they share with it: the campaign's own system prompt,
 * its client and settings, its prompt wrapper. Customers who share the popular parts of that (an
 * SDK, its settings, the same public questions) must not be.
 */

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const FLEET = 'You are an expert tutor. Always give the complete reasoning before the final answer.';
const SDK = 'python-httpx/0.27.0';
/** The fleet's wrapper around a dataset item: its first and last words are the template fingerprint. */
const wrap = (item: string) => `Work through the following exercise for our practice booklet, carefully and in order: ${item} Then give every intermediate step and finish with the final answer on its own line.`;
const item = (k: number) => pool.maths[k % pool.maths.length];

interface Sender {
  system: string | null; text: string; card: string; net: number;
  ua?: string; maxTokens?: number; createdHoursAgo?: number; usedDaysAgo?: number; tier?: 'email_verified' | 'identity_verified';
}

/** Builds events with a running request number (each request its own client address in the sender's network). */
function sender() {
  let n = 0;
  return (id: string, sec: number, s: Sender): InteractionEvent => {
    n++;
    const created = T0 - (s.createdHoursAgo ?? 30) * 3_600_000;
    return {
      ...base, id: `${id}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(), account_id: id, org_id: null, key_id: `key_${id}`,
      request: { ...base.request, system: s.system, messages: [{ role: 'user', text: s.text, chars: s.text.length }], params: { ...base.request.params, max_tokens: s.maxTokens ?? 16_000, temperature: 1 } },
      client: { ...base.client, ip: `${s.net}.${n % 250}.${(n >> 8) % 250}.${1 + (n % 200)}`, asn: 60_000 + s.net * 100 + (n % 100), user_agent: s.ua ?? SDK },
      account: {
        ...base.account!, tier: s.tier ?? 'email_verified', created_at: new Date(created).toISOString(), payment_fp: s.card,
        signup_ip: `${s.net}.9.77.1`, email_pattern: null, email_domain: 'gmail.com',
        first_used_at: s.usedDaysAgo === undefined ? null : new Date(T0 - s.usedDaysAgo * 86_400_000).toISOString(),
      },
    };
  };
}

/**
 * Forty customers with a card and a network of their own chatting on their own software: the
 * population a key's share is judged against (a key a quarter of all accounts hold is common).
 */
function population(e: DetectorEngine, make: ReturnType<typeof sender>) {
  const chat = ['What should I cook tonight with leeks and potatoes?', 'Write a short birthday message for my sister.', 'Summarise the plot of Middlemarch in three sentences.'];
  for (let c = 0; c < 40; c++) e.ingest(make(`acct_customer${c}`, c, { system: null, text: chat[c % chat.length], card: `card-c${c}`, net: 150 + c, ua: `Browser/${c}`, maxTokens: 1_000 + c, createdHoursAgo: 24 * 300, usedDaysAgo: 250 }));
}

/**
 * Six fresh accounts on one card (linked beyond software) harvest with the fleet's wrapper and
 * client, twelve requests each, and are flagged. `member` gives each member's system prompt and
 * max_tokens (its parameter fingerprint).
 */
function flaggedFleet(member: (a: number) => { system: string | null; maxTokens: number }) {
  const e = new DetectorEngine();
  const make = sender();
  population(e, make);
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) {
    e.ingest(make(`acct_fleet${a}`, k * 60 + a * 7, { ...member(a), text: wrap(item(k * 6 + a)), card: 'card-fleet', net: 30 + a }));
  }
  e.advance(T0 + 1_000_000);
  e.flush();
  const fleet = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(fleet.level) >= verdictRank('throttle'), `the fleet is flagged: ${fleet.level}`);
  return { e, make, cluster: fleet.clusterId };
}

test('an account already at work when its campaign is flagged is taken in at its next request, not at its next power-of-two request', () => {
  const e = new DetectorEngine();
  const make = sender();
  population(e, make);
  // The fleet's worker with its own card sends five requests before the fleet is flagged.
  const worker = (k: number) => make('acct_worker', 50 + k * 5, { system: FLEET, text: wrap(item(100 + k)), card: 'card-worker', net: 90 });
  for (let k = 0; k < 5; k++) e.ingest(worker(k));
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) e.ingest(make(`acct_fleet${a}`, 100 + k * 60 + a * 7, { system: FLEET, text: wrap(item(k * 6 + a)), card: 'card-fleet', net: 30 + a }));
  e.advance(T0 + 1_000_000);
  e.flush();
  const cluster = e.forAccount('acct_fleet0').clusterId;
  assert.ok(verdictRank(e.forAccount('acct_fleet0').level) >= verdictRank('throttle'), 'the fleet is flagged');
  assert.notEqual(e.forAccount('acct_worker').clusterId, cluster, 'the worker was not linked by software before the fleet was flagged');
  // Its sixth request: no new key, not a power of two; the campaign flagged since is news enough.
  e.ingest(worker(200));
  e.flush();
  assert.equal(e.forAccount('acct_worker').clusterId, cluster, 'the worker joined the flagged fleet at its next request');
  assert.ok(verdictRank(e.forAccount('acct_worker').level) >= verdictRank('throttle'), `worker: ${e.forAccount('acct_worker').level}`);
  assert.equal(e.accountLink('acct_worker')?.rule, 'replacement_head');
});

test('a new head with the campaign\'s own system prompt is taken in at its first request with the client and settings it shares with one member', () => {
  // Each member its own max_tokens: no parameter fingerprint is held by two flagged members.
  const { e, make, cluster } = flaggedFleet((a) => ({ system: FLEET, maxTokens: 8_000 + a * 1_000 }));
  // Its first request: the fleet's prompt and client, member 0's settings, a question not in the wrapper.
  e.ingest(make('acct_new_head', 1_100, { system: FLEET, maxTokens: 8_000, text: `${item(3)} Show each step.`, card: 'card-new', net: 120 }));
  e.flush();
  assert.equal(e.forAccount('acct_new_head').clusterId, cluster, 'the new head joined at its first request');
  assert.ok(verdictRank(e.forAccount('acct_new_head').level) >= verdictRank('throttle'), 'and is held from its second');
  // Hard negatives, each fresh with a card, address and network of its own, the same SDK and settings:
  // no system prompt, the same public question; a system prompt of its own.
  e.ingest(make('acct_person_plain', 1_110, { system: null, maxTokens: 8_000, text: `${item(3)} Show each step.`, card: 'card-p1', net: 121 }));
  e.ingest(make('acct_person_own_app', 1_120, { system: 'You are StudyBuddy, a friendly maths helper for my homework.', maxTokens: 8_000, text: `${item(3)} Show each step.`, card: 'card-p2', net: 122 }));
  // An established customer (a year of use) and an identity-verified new one sending the fleet's very prompt.
  e.ingest(make('acct_old_customer', 1_130, { system: FLEET, maxTokens: 8_000, text: `${item(3)} Show each step.`, card: 'card-p3', net: 123, createdHoursAgo: 24 * 400, usedDaysAgo: 390 }));
  e.ingest(make('acct_verified_dev', 1_140, { system: FLEET, maxTokens: 8_000, text: `${item(3)} Show each step.`, card: 'card-p4', net: 124, tier: 'identity_verified' }));
  e.flush();
  for (const id of ['acct_person_plain', 'acct_person_own_app', 'acct_old_customer', 'acct_verified_dev']) {
    const v = e.forAccount(id);
    assert.notEqual(v.clusterId ?? null, cluster, `${id} was linked into the fleet`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `${id}: ${v.level}`);
  }
});

test('a new head without the campaign\'s system prompt is taken in at its first request by the campaign\'s wrapper, client and settings; people asking the same questions are not', () => {
  // Each member its own system prompt (a session line): the wrapper, client and settings are what they share.
  const session = (name: string) => `${FLEET}\nSession reference: ${name}.`;
  const { e, make, cluster } = flaggedFleet((a) => ({ system: session(['alder', 'birch', 'cedar', 'dogwood', 'elm', 'fir'][a]), maxTokens: 16_000 }));
  e.ingest(make('acct_new_head', 1_100, { system: session('juniper'), text: wrap(item(500)), card: 'card-new', net: 120 }));
  e.flush();
  assert.equal(e.forAccount('acct_new_head').clusterId, cluster, 'the new head joined at its first request');
  // Fresh people with the same SDK and settings asking the very items the fleet wrapped, bare or in
  // words of their own, three times each (a template of their own is registered at its third use).
  for (let k = 0; k < 3; k++) {
    e.ingest(make('acct_student_bare', 1_200 + k * 30, { system: null, text: item(k * 6), card: 'card-s1', net: 130 }));
    e.ingest(make('acct_student_words', 1_210 + k * 30, { system: null, text: `Hi! I'm stuck on my homework and would love some help please. ${item(k * 6 + 1)} Can you explain how to do it?`, card: 'card-s2', net: 131 }));
  }
  e.flush();
  for (const id of ['acct_student_bare', 'acct_student_words']) {
    const v = e.forAccount(id);
    assert.notEqual(v.clusterId ?? null, cluster, `${id} was linked into the fleet`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `${id}: ${v.level}`);
  }
  // An established customer sending the fleet's wrapper registers it at its third use, as before, and is not linked by software.
  for (let k = 0; k < 3; k++) e.ingest(make('acct_old_customer', 1_300 + k * 30, { system: null, text: wrap(item(700 + k)), card: 'card-o', net: 140, createdHoursAgo: 24 * 400, usedDaysAgo: 390 }));
  e.flush();
  assert.notEqual(e.forAccount('acct_old_customer').clusterId ?? null, cluster, 'the established customer was linked into the fleet');
});
