import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

// What links accounts when the evidence is a busy network, one product's software or a common name:
// customers who share a carrier's addresses with a fleet, who adopted a new application on its
// launch day, or whose address has a campaign account's name stem and number scheme.

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Sender {
  ip: string; asn: number; ua: string; text: string;
  /** Earlier turns of an agent's loop (assistant tool calls and tool results) after the task. */
  turns?: number;
  created: number; tier?: 'unverified' | 'email_verified'; card: string; signupIp: string; domain?: string; pattern?: string | null;
  system?: string | null; tools?: string[]; effort?: 'high' | null; maxTokens?: number; thinking?: number | null;
}

function loopTurns(n: number): InteractionEvent['request']['messages'] {
  return Array.from({ length: n }, (_, k) => (k % 2 === 0
    ? { role: 'assistant', text: `calling grep for step ${k}`, chars: 24 }
    : { role: 'tool', text: `src/app.ts:${k * 7}: const items = load(config) // result ${k}`.repeat(20), chars: 1000 }));
}

let seq = 0;
function event(id: string, ts: number, s: Sender): InteractionEvent {
  return {
    ...base, id: `${id}-${++seq}`, ts: new Date(ts).toISOString(), account_id: id, key_id: `key_${id}`, org_id: null,
    client: { ...base.client, ip: s.ip, asn: s.asn, user_agent: s.ua },
    request: {
      ...base.request, system: s.system ?? null, tools: s.tools ?? [], messages: [{ role: 'user', text: s.text, chars: s.text.length }, ...loopTurns(s.turns ?? 0)],
      params: { ...base.request.params, max_tokens: s.maxTokens ?? null, reasoning_effort: s.effort ?? null, thinking_budget: s.thinking ?? null },
    },
    response: { ...base.response, output_tokens: 600, reasoning_tokens: s.effort || s.thinking ? 1200 : 0 },
    account: {
      ...base.account!, created_at: new Date(s.created).toISOString(), first_used_at: null, tier: s.tier ?? 'email_verified',
      email_domain: s.domain ?? 'gmail.com', email_pattern: s.pattern ?? null, payment_fp: s.card, signup_ip: s.signupIp,
    },
  };
}

function rng(seed: number) {
  return () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
}

function scan(events: InteractionEvent[]): DetectorEngine {
  events.sort((a, b) => a.ts.localeCompare(b.ts));
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  e.advance(Date.parse(events[events.length - 1].ts) + 60_000);
  e.flush();
  return e;
}

/** A carrier's CGNAT pool: 16 public addresses in four /24s of one mobile network. */
const POOL = Array.from({ length: 16 }, (_, k) => `172.58.${10 + (k >> 2)}.${20 + k}`);
const CARRIER = 21_928;

/**
 * Two days on a carrier's shared addresses: a fleet of twenty fresh accounts (two cards, one
 * numbered email pattern) harvesting reasoning through the pool, a new address at every request;
 * and thirty phone users with years of history chatting a few times a day, each session on the
 * address the carrier gives it.
 */
function carrierDays(withFleet = true): InteractionEvent[] {
  const rand = rng(11);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const events: InteractionEvent[] = [];
  if (withFleet) {
    for (let a = 0; a < 20; a++) {
      const id = `acct_fleet${a}`;
      const facts = { created: T0 - 20 * HOUR + a * 60_000, tier: 'unverified' as const, card: `card-fleet${a % 2}`, pattern: 'user{n}@gmail.com', signupIp: pick(POOL) };
      for (let run = 0; run < 8; run++) {
        const start = T0 + run * 6 * HOUR + rand() * HOUR;
        for (let k = 0; k < 25; k++) {
          const text = `${pool.maths[(a * 25 + k + run) % pool.maths.length]} Think step by step and show your full reasoning.`;
          events.push(event(id, start + k * 20_000, { ...facts, ip: pick(POOL), asn: CARRIER, ua: 'OpenAI/Python 1.51.0', text, maxTokens: 8000, thinking: 4000 }));
        }
      }
    }
  }
  for (let u = 0; u < 30; u++) {
    const id = `acct_phone${u}`;
    const facts = { created: Date.parse('2025-03-05T10:00:00.000Z') + u * DAY, card: `card-phone${u}`, signupIp: `73.${u}.4.9`, domain: pick(['gmail.com', 'yahoo.com', 'icloud.com']) };
    for (let session = 0; session < 10; session++) {
      const ip = pick(POOL);
      const start = T0 + rand() * 2 * DAY;
      const turns = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < turns; k++) {
        events.push(event(id, start + k * 90_000, { ...facts, ip, asn: CARRIER, ua: 'MobileChat/5.1 (iOS 18)', text: pool.organic[(u * 7 + session * 3 + k) % pool.organic.length] }));
      }
    }
  }
  return events;
}

test('phone users on a carrier\'s shared addresses are not linked into a fleet that uses the same carrier; the fleet is caught by its cards and numbered addresses', () => {
  const e = scan(carrierDays());
  const fleet = Array.from({ length: 20 }, (_, a) => e.forAccount(`acct_fleet${a}`));
  const campaign = fleet[0].clusterId;
  assert.ok(campaign, 'the fleet is linked');
  assert.ok(fleet.filter((v) => v.clusterId === campaign).length >= 18, `fleet members in its cluster: ${fleet.filter((v) => v.clusterId === campaign).length}/20`);
  assert.ok(fleet.filter((v) => verdictRank(v.level) >= verdictRank('throttle')).length >= 18, `fleet flagged: ${fleet.map((v) => v.level).join(', ')}`);
  for (let u = 0; u < 30; u++) {
    const v = e.forAccount(`acct_phone${u}`);
    assert.notEqual(v.clusterId ?? null, campaign, `acct_phone${u} was linked into the fleet: ${JSON.stringify(e.accountLink(`acct_phone${u}`))}`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `acct_phone${u}: ${v.level}`);
  }
});

test('an address many accounts use weighs less as link evidence, counted over every account seen on it, not only those that kept it as a key', () => {
  const rand = rng(3);
  const events: InteractionEvent[] = [];
  const HOTEL = '203.0.113.50';
  // Forty customers with two home addresses each (the two addresses an account keeps as keys) who
  // then all pass through one hotel's address.
  for (let c = 0; c < 40; c++) {
    const facts = { created: Date.parse('2025-01-01T00:00:00.000Z'), card: `card-c${c}`, signupIp: `73.${c}.1.1`, ua: 'OpenAI/Python 1.51.0' };
    for (const [k, ip] of [`73.${c}.1.1`, `73.${c}.2.1`, HOTEL].entries()) {
      events.push(event(`acct_customer${c}`, T0 + k * HOUR + rand() * HOUR, { ...facts, ip, asn: 7922 + k, text: pool.organic[c % pool.organic.length] }));
    }
  }
  // Two new accounts signed up together from one address in another network, on a throwaway
  // domain, then working from the hotel's address.
  for (const id of ['acct_new_a', 'acct_new_b']) {
    const facts = { created: T0 - 5 * HOUR, card: `card-${id}`, signupIp: '198.18.7.7', domain: 'inbox-tmp.net', ua: `client-${id}` };
    for (let k = 0; k < 6; k++) events.push(event(id, T0 + 4 * HOUR + k * 600_000 + (id === 'acct_new_b' ? 60_000 : 0), { ...facts, ip: HOTEL, asn: 64_999, text: pool.code[k % pool.code.length] }));
  }
  const e = scan(events);
  const link = e.accountLink('acct_new_b') ?? e.accountLink('acct_new_a');
  assert.ok(link, 'the two new accounts are linked (signup address, domain)');
  const ip = link.evidence.find((x) => x.kind === 'client_ip');
  assert.ok(ip && ip.weight < 0.3, `the hotel address, used by 42 accounts, weighs ${ip?.weight} (a quiet address weighs 0.45)`);
});

const FORGE = 'You are Forge, a terminal coding agent. You have tools to inspect and edit the workspace. Work step by step: plan, inspect, edit, verify with tests. Keep diffs small.';
const FORGE_TOOLS = ['bash', 'edit', 'view', 'grep'];
const HOME_NETWORKS = [7922, 7018, 701, 20_115, 22_773];

/**
 * Users of a new coding agent, each with their own key, card, free-mail address and home network:
 * `launch` of them signed up within ten minutes on launch day, `spread` on other days. Each runs a
 * few tool loops a day (reasoning effort high). A hundred established customers on the same home
 * networks chat meanwhile.
 */
function agentUsers(launch: number, spread: number): InteractionEvent[] {
  const rand = rng(5);
  const events: InteractionEvent[] = [];
  const launchDay = T0 - 2 * DAY + 16 * HOUR;
  const user = (id: string, created: number, n: number) => {
    const home = `${24 + n}.${10 + n}.${Math.floor(rand() * 250)}.${1 + n}`;
    const facts = { created, card: `card-${id}`, signupIp: home, domain: ['gmail.com', 'outlook.com', 'proton.me'][n % 3], system: FORGE, tools: FORGE_TOOLS, effort: 'high' as const, maxTokens: 32_000 };
    for (let day = 0; day < 2; day++) {
      for (let loop = 0; loop < 2; loop++) {
        const start = T0 + day * DAY + (14 + loop * 4 + rand() * 3) * HOUR;
        const steps = 4 + Math.floor(rand() * 12);
        for (let k = 0; k < steps; k++) {
          events.push(event(id, start + k * 40_000, { ...facts, ip: home, asn: HOME_NETWORKS[n % 5], ua: 'Forge/0.4.2 node/22', text: pool.code[(n * 11 + day * 2 + loop) % pool.code.length], turns: 2 * k }));
        }
      }
    }
  };
  for (let u = 0; u < launch; u++) user(`acct_launch${u}`, launchDay + u * 50_000, u);
  for (let u = 0; u < spread; u++) user(`acct_spread${u}`, T0 - (5 - (u % 4)) * DAY + (8 + u) * HOUR, 20 + u);
  for (let c = 0; c < 100; c++) {
    const facts = { created: Date.parse('2025-01-01T00:00:00.000Z'), card: `card-c${c}`, signupIp: `99.${c}.1.1` };
    for (let k = 0; k < 6; k++) events.push(event(`acct_customer${c}`, T0 + rand() * 2 * DAY, { ...facts, ip: `99.${c}.1.1`, asn: HOME_NETWORKS[c % 5], ua: 'Mozilla/5.0', text: pool.organic[(c + k) % pool.organic.length] }));
  }
  return events;
}

test('new users of a new coding agent who signed up in one quarter-hour on its launch day are not linked by the burst and the software alone, nor are its later users pulled in', () => {
  const e = scan(agentUsers(12, 12));
  for (const id of [...Array.from({ length: 12 }, (_, u) => `acct_launch${u}`), ...Array.from({ length: 12 }, (_, u) => `acct_spread${u}`)]) {
    const v = e.forAccount(id);
    assert.equal(e.clusterMembers(id).length, 1, `${id} was linked: ${JSON.stringify(e.accountLink(id))}`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `${id}: ${v.level}`);
  }
});

test('a detector restored from a snapshot still counts every account seen on a busy address, and the snapshot stores addresses by their unsigned hash', async () => {
  const { serialize, deserialize } = await import('node:v8');
  const { fnv1a } = await import('./features.ts');
  const rand = rng(3);
  // Addresses whose hashes lie on both sides of 2^31 (the engine holds them as signed integers).
  const HOTELS = ['203.0.113.50', '203.0.113.51', '100.64.0.50', '100.64.0.51'];
  assert.ok(HOTELS.some((ip) => fnv1a(ip) >= 2 ** 31) && HOTELS.some((ip) => fnv1a(ip) < 2 ** 31), 'the addresses cover both halves of the hash range');
  const before: InteractionEvent[] = [];
  for (let c = 0; c < 40; c++) {
    const facts = { created: Date.parse('2025-01-01T00:00:00.000Z'), card: `card-c${c}`, signupIp: `73.${c}.1.1`, ua: 'OpenAI/Python 1.51.0' };
    for (const [k, ip] of [`73.${c}.1.1`, `73.${c}.2.1`, ...HOTELS].entries()) {
      before.push(event(`acct_customer${c}`, T0 + k * HOUR + rand() * HOUR, { ...facts, ip, asn: 7922 + k, text: pool.organic[c % pool.organic.length] }));
    }
  }
  const first = scan(before);
  const state = first.snapshotState() as { addresses: Map<number, unknown>; subnetSeen: Map<number, unknown> };
  for (const ip of HOTELS) assert.ok(state.addresses.has(fnv1a(ip)), `the snapshot holds ${ip} under its unsigned hash ${fnv1a(ip)}: ${[...state.addresses.keys()].slice(0, 8).join(', ')}`);
  assert.ok([...state.subnetSeen.keys()].every((k) => k >= 0), 'the snapshot holds client prefixes under their unsigned hashes');
  const e = new DetectorEngine();
  e.restoreState(deserialize(serialize(state)) as Record<string, unknown>);
  // Two new accounts from one signup address, then each hotel address.
  const after: InteractionEvent[] = [];
  for (const id of ['acct_new_a', 'acct_new_b']) {
    const facts = { created: T0 - 5 * HOUR, card: `card-${id}`, signupIp: '198.18.7.7', domain: 'inbox-tmp.net', ua: `client-${id}` };
    for (let k = 0; k < 8; k++) after.push(event(id, T0 + 8 * HOUR + k * 600_000 + (id === 'acct_new_b' ? 60_000 : 0), { ...facts, ip: HOTELS[k % 4], asn: 64_999, text: pool.code[k % pool.code.length] }));
  }
  after.sort((a, b) => a.ts.localeCompare(b.ts));
  for (const ev of after) e.ingest(ev);
  e.advance(Date.parse(after[after.length - 1].ts) + 60_000);
  e.flush();
  const link = e.accountLink('acct_new_b') ?? e.accountLink('acct_new_a');
  assert.ok(link, 'the two new accounts are linked (signup address, domain)');
  const ips = link.evidence.filter((x) => x.kind === 'client_ip');
  assert.ok(ips.length > 0 && ips.every((x) => x.weight < 0.3), `each hotel address, used by 42 accounts before and after the restore, weighs little: ${JSON.stringify(ips)}`);
});

/**
 * Two days of a population on the most popular SDK with its default parameters: twenty customers
 * with years of history, and a campaign of four fresh accounts sharing one card, one of them signed
 * up as a common first name with a number at a big free-mail provider. `hobbyist` (an established
 * customer who chats) has the same stem and domain (`anna1987@` beside the campaign's `anna4821@`)
 * and the same SDK and settings: 0.5 + 0.3 + 0.25 from the campaign. `fleet` adds six fresh
 * accounts with sequentially numbered addresses (`annadev1041@`, `annadev1042@`...), each with its
 * own card, signup and client address, signed up hours apart, sharing their own client and system
 * prompt.
 */
function nameStemDays(opts: { hobbyist: boolean; fleet: boolean }): InteractionEvent[] {
  const rand = rng(29);
  const events: InteractionEvent[] = [];
  const sdk = { asn: 7922, ua: 'OpenAI/Python 1.51.0', maxTokens: 1024 };
  for (let u = 0; u < 20; u++) {
    const id = `acct_customer${u}`;
    const facts = { created: Date.parse('2025-02-01T10:00:00.000Z') + u * DAY, card: `card-customer${u}`, signupIp: `73.${40 + u}.4.9`, pattern: u % 3 === 0 ? `stem${u}{n}@gmail.com` : null };
    for (let session = 0; session < 6; session++) {
      const start = T0 + rand() * 2 * DAY;
      for (let k = 0; k < 2; k++) events.push(event(id, start + k * 120_000, { ...facts, ...sdk, ip: `73.${40 + u}.8.${10 + session}`, text: pool.organic[(u * 5 + session * 2 + k) % pool.organic.length] }));
    }
  }
  if (opts.hobbyist) {
    const facts = { created: Date.parse('2024-06-11T18:00:00.000Z'), card: 'card-hobbyist', signupIp: '98.33.12.4', pattern: 'anna{n}@gmail.com' };
    for (let session = 0; session < 5; session++) {
      const start = T0 + 4 * HOUR + session * 8 * HOUR;
      for (let k = 0; k < 3; k++) events.push(event('acct_hobbyist', start + k * 150_000, { ...facts, ...sdk, ip: '98.33.20.17', text: pool.organic[(session * 3 + k + 11) % pool.organic.length] }));
    }
  }
  for (let a = 0; a < 4; a++) {
    const id = `acct_campaign${a}`;
    const facts = { created: T0 - 30 * HOUR + a * 3 * HOUR, tier: 'unverified' as const, card: 'card-campaign', signupIp: `45.${60 + a}.7.2`, pattern: a === 0 ? 'anna{n}@gmail.com' : null };
    for (let run = 0; run < 6; run++) {
      const start = T0 + run * 8 * HOUR + rand() * HOUR;
      for (let k = 0; k < 25; k++) {
        const text = `${pool.maths[(a * 31 + run * 25 + k) % pool.maths.length]} Think step by step and show your full reasoning.`;
        events.push(event(id, start + k * 25_000, { ...facts, ...sdk, ip: `45.${60 + a}.9.${run + 2}`, text }));
      }
    }
  }
  if (opts.fleet) {
    for (let a = 0; a < 6; a++) {
      const id = `acct_numbered${a}`;
      const facts = { created: T0 - 40 * HOUR + a * 5 * HOUR, tier: 'unverified' as const, card: `card-numbered${a}`, signupIp: `81.${20 + a * 7}.3.5`, pattern: 'annadev{n}@gmail.com' };
      for (let run = 0; run < 6; run++) {
        const start = T0 + run * 8 * HOUR + 2 * HOUR + rand() * HOUR;
        for (let k = 0; k < 20; k++) {
          const text = `${pool.maths[(a * 17 + run * 20 + k + 5) % pool.maths.length]} Think step by step and show your full reasoning.`;
          events.push(event(id, start + k * 30_000, { ...facts, asn: 3320, ua: 'python-httpx/0.27.0', maxTokens: 4096, system: 'You are a precise solver. Answer with full working.', ip: `81.${20 + a * 7}.9.${run + 2}`, text }));
        }
      }
    }
  }
  return events;
}

test('a customer whose address has the same name stem and domain as a campaign account, on the most popular SDK\'s defaults, is not linked into the campaign', () => {
  const e = scan(nameStemDays({ hobbyist: true, fleet: false }));
  const campaign = e.forAccount('acct_campaign0').clusterId;
  assert.ok(campaign, 'the campaign is linked by its card');
  assert.ok(verdictRank(e.forAccount('acct_campaign0').level) >= verdictRank('throttle'), `campaign: ${e.forAccount('acct_campaign0').level}`);
  const v = e.forAccount('acct_hobbyist');
  assert.notEqual(v.clusterId ?? null, campaign, `the hobbyist was linked into the campaign: ${JSON.stringify(e.accountLink('acct_hobbyist'))}`);
  assert.ok(verdictRank(v.level) <= verdictRank('watch'), `hobbyist: ${v.level}`);
});

test('a fleet of sequentially numbered addresses that shares its own software is still linked by its email pattern, beside customers on the popular SDK', () => {
  const e = scan(nameStemDays({ hobbyist: true, fleet: true }));
  const fleet = Array.from({ length: 6 }, (_, a) => e.forAccount(`acct_numbered${a}`));
  const cluster = fleet[0].clusterId;
  assert.ok(cluster, `the numbered fleet is linked: ${JSON.stringify(e.accountLink('acct_numbered0'))}`);
  assert.equal(fleet.filter((v) => v.clusterId === cluster).length, 6, `fleet members in one cluster: ${fleet.map((v) => v.clusterId).join(', ')}`);
  const link = e.accountLink('acct_numbered5');
  assert.ok(link && JSON.stringify(link).includes('email_pattern'), `the link names the email pattern: ${JSON.stringify(link)}`);
  for (let u = 0; u < 20; u++) assert.notEqual(e.forAccount(`acct_customer${u}`).clusterId ?? null, cluster, `acct_customer${u} joined the fleet`);
  assert.notEqual(e.forAccount('acct_hobbyist').clusterId ?? null, e.forAccount('acct_campaign0').clusterId, 'the hobbyist stays out of the campaign');
});
