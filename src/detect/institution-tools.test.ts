import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

/**
 * A startup's four new engineers, unverified, no card on file, on their company's own mail domain,
 * sending from the office's address through their product (its system prompt and the tools it
 * offers the model), asking about their code with thinking on and following up on the answers:
 * reasoning elicitation and capability tasks, what an office asks. They link by their place (the
 * domain, the address) and by their product's software, the system prompt and the tool set. The
 * tool set made the cluster any cluster, scored coordination x harvest as a fleet, and throttled it
 * as one actor (the 5-day cohort benchmark's 4/730). One institution's application's tools link
 * its accounts as its place does; a fleet that shares tools and harvests is still flagged.
 */

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const PRODUCT = 'You are the data analyst assistant of Fluxquant. You can list tables, run SQL and plot charts for the user.';
const TOOLS = ['list_tables', 'plot_chart', 'run_sql'];
const FOLLOW_UPS = ['What about edge cases?', 'Can you explain the second point in more detail?', 'That fails on an empty input, can you fix it?'];

interface Who { domain: string; ip: string; tools: string[]; system: string | null }

function sender() {
  let n = 0;
  /** One request: `turn` 0 opens a conversation on `item`, later turns follow up with the history. */
  return (id: string, sec: number, who: Who, item: string, turn: number, harvest = false): InteractionEvent => {
    n++;
    const messages = [{ role: 'user' as const, text: item, chars: item.length }];
    for (let t = 1; t <= turn; t++) {
      const answer = 'Here is the function with a test for it. '.repeat(12);
      messages.push({ role: 'assistant' as const, text: answer, chars: answer.length } as never, { role: 'user' as const, text: FOLLOW_UPS[t % FOLLOW_UPS.length], chars: 30 });
    }
    const inTok = messages.reduce((s, m) => s + Math.ceil(m.chars / 4), 40);
    return {
      ...base, id: `${id}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(), account_id: id, org_id: null, key_id: `key_${id}`,
      request: {
        ...base.request, system: who.system, messages, tools: who.tools,
        params: { ...base.request.params, max_tokens: 8192, temperature: null, thinking_budget: 2048, reasoning_effort: null },
      },
      response: { ...base.response, input_tokens: inTok, output_tokens: harvest ? inTok * 30 : Math.round(inTok * 1.5) },
      client: { ...base.client, ip: who.ip, asn: 64_512, user_agent: 'OpenAI/Python 1.99.9' },
      account: {
        ...base.account!, tier: 'email_verified', programme: 'none', created_at: new Date(T0 - 30 * 3_600_000).toISOString(),
        payment_fp: null, signup_ip: null, email_pattern: null, email_domain: who.domain, first_used_at: null,
      },
    };
  };
}

/** Forty established customers chatting on their own software: what a key's popularity is judged against. */
function population(e: DetectorEngine, make: ReturnType<typeof sender>) {
  const chat = ['What should I cook tonight with leeks and potatoes?', 'Write a short birthday message for my sister.', 'Summarise the plot of Middlemarch in three sentences.'];
  for (let c = 0; c < 40; c++) {
    const ev = make(`acct_customer${c}`, c, { domain: 'gmail.com', ip: `${150 + c}.9.9.9`, tools: [], system: null }, chat[c % chat.length], 0);
    e.ingest({ ...ev, request: { ...ev.request, params: { ...ev.request.params, thinking_budget: null } }, client: { ...ev.client, user_agent: `Browser/${c}` }, account: { ...ev.account!, created_at: new Date(T0 - 300 * 86_400_000).toISOString(), first_used_at: new Date(T0 - 250 * 86_400_000).toISOString(), payment_fp: `card-c${c}` } });
  }
}

/** Four accounts, each `sessions` conversations of three turns on the code items, over a working day. */
function work(e: DetectorEngine, make: ReturnType<typeof sender>, prefix: string, who: (a: number) => Who, sessions: number, harvest = false) {
  for (let s = 0; s < sessions; s++) {
    for (let a = 0; a < 4; a++) {
      const item = pool.code[(s * 4 + a) % pool.code.length];
      const turns = harvest ? 1 : 3;
      for (let t = 0; t < turns; t++) e.ingest(make(`${prefix}${a}`, 600 + s * 1_800 + a * 97 + t * 140, who(a), harvest ? `${item} Explain your reasoning step by step. (${s})` : item, t, harvest));
    }
  }
  e.advance(T0 + (sessions + 2) * 1_800_000);
  e.flush();
}

const office = (a: number): Who => ({ domain: 'fluxquant.app', ip: '134.199.76.235', tools: a === 3 ? [] : TOOLS, system: PRODUCT });

test('a startup\'s four new engineers on their company domain and office address, sharing their product\'s prompt and tools, are held at watch as one place', () => {
  const e = new DetectorEngine();
  const make = sender();
  population(e, make);
  work(e, make, 'acct_eng', office, 5);
  const v = e.forAccount('acct_eng0');
  assert.equal(e.clusterMembers('acct_eng0').length, 4, `the four engineers are linked: ${JSON.stringify(e.accountLink('acct_eng1'))}`);
  const reasons = JSON.stringify(v.verdict?.reasons.map((r) => [r.signal, r.value, r.threshold]));
  for (let a = 0; a < 4; a++) {
    assert.ok(verdictRank(e.forAccount(`acct_eng${a}`).level) <= verdictRank('watch'), `acct_eng${a} is at watch or below: ${e.forAccount(`acct_eng${a}`).level} ${reasons}`);
  }
  const place = e.cluster(v.clusterId!)?.reasons.find((r) => r.signal === 'place_links_only');
  assert.ok(place && /tool set of an application used on one institution/.test(place.detail ?? ''), `held by the place rule, the product's tools read as the office's: ${JSON.stringify(place)}`);
});

test('the same four accounts harvesting (single questions, the working asked for, answers thirty times the prompt) are still flagged', () => {
  const e = new DetectorEngine();
  const make = sender();
  population(e, make);
  work(e, make, 'acct_fleet', office, 10, true);
  const v = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(v.level) >= verdictRank('throttle'), `the harvesting cluster is flagged: ${v.level} ${JSON.stringify(v.verdict?.reasons.slice(0, 3))}`);
});

test('accounts on free-mail sharing a tool set and an address are no institution: their tools still make them any cluster', () => {
  const e = new DetectorEngine();
  const make = sender();
  population(e, make);
  work(e, make, 'acct_free', (a) => ({ ...office(a), domain: 'gmail.com' }), 5);
  const v = e.forAccount('acct_free0');
  assert.equal(e.clusterMembers('acct_free0').length, 4, `the four accounts are linked: ${JSON.stringify(e.accountLink('acct_free1'))}`);
  assert.ok(!v.verdict?.reasons.some((r) => r.signal === 'place_links_only'), `not held by the place rule: ${JSON.stringify(v.verdict?.reasons.slice(0, 3))}`);
  assert.ok(verdictRank(v.level) >= verdictRank('throttle'), `scored as any cluster, flagged: ${v.level}`);
});
