import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { INDICATORS } from './scoring.ts';
import { resolveScenario, generateTraffic, loadPromptCorpus, defaultPromptDir } from '../traffic/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T08:00:00.000Z');

/** One plain chat event from `account` at minute `min`, from `ip` in network `asn`. */
function event(account: string, min: number, ip: string, asn: number, tier: 'unverified' | 'email_verified' = 'email_verified', text?: string): InteractionEvent {
  const request = text === undefined ? base.request : { ...base.request, system: null, messages: [{ role: 'user', text, chars: text.length }] };
  return {
    ...base, request, id: `${account}-${min}`, ts: new Date(T0 + min * 60_000).toISOString(), account_id: account, org_id: null,
    client: { ...base.client, ip, asn },
    account: { ...base.account!, tier, created_at: '2025-01-01T00:00:00.000Z', payment_fp: `card-${account}`, signup_ip: `10.${account.length}.0.1` },
  };
}
const indicator = (e: DetectorEngine, id: string, name: string) => e.accountIndicators(id).find((x) => x.signal === name);

const COT = 'Solve step by step: how many integers between 1 and 1000 are divisible by 7 but not by 11? Show your reasoning.';

/**
 * A sender of chain-of-thought requests that share one system prompt and sampling parameters,
 * each from an address and network of its own: the request number `n` picks the client address,
 * and the account's signup address when it is first seen.
 */
function softwareSender(e: DetectorEngine, system: string) {
  let n = 0;
  return (id: string, sec: number, acct: { card: string; createdMsAgo: number; tier?: 'email_verified' | 'identity_verified'; firstUsedMsAgo?: number }) => {
    const ev = event(id, 0, '0.0.0.0', 0, 'email_verified', COT);
    n++;
    e.ingest({
      ...ev, id: `${id}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(),
      request: { ...ev.request, system, params: { ...ev.request.params, max_tokens: 16_000, temperature: 1 } },
      client: { ...ev.client, ip: `198.51.${n % 250}.${1 + (n % 200)}`, asn: 64_000 + n },
      account: {
        ...ev.account!, tier: acct.tier ?? 'email_verified', created_at: new Date(T0 - acct.createdMsAgo).toISOString(), payment_fp: acct.card, signup_ip: `192.${n % 250}.2.1`, email_pattern: null,
        first_used_at: acct.firstUsedMsAgo === undefined ? null : new Date(T0 - acct.firstUsedMsAgo).toISOString(),
      },
    });
  };
}

test('network hopping: a rotating proxy pool changes network on nearly every request; home and phone do not', () => {
  const e = new DetectorEngine();
  for (let k = 0; k < 100; k++) {
    // Each request from another provider's network.
    e.ingest(event('acct_proxy', k * 7, `203.${k}.1.${k + 1}`, 64_000 + k));
    // Home broadband, switching to the phone network for one session in three (4 requests a session).
    const mobile = Math.floor(k / 4) % 3 === 2;
    e.ingest(event('acct_person', k * 7 + 1, mobile ? `100.64.9.${k}` : '81.2.69.10', mobile ? 21_928 : 3_320));
  }
  e.flush();
  const proxy = indicator(e, 'acct_proxy', 'network_hopping_share')!;
  const person = indicator(e, 'acct_person', 'network_hopping_share')!;
  // Shares are shrunk towards an unremarkable prior on small windows: 100 requests read ~0.87.
  assert.ok(proxy.value > 0.8 && proxy.contribution > proxy.weight * 0.7, `proxy: ${JSON.stringify(proxy)}`);
  assert.ok(person.value < proxy.threshold && person.contribution === 0, `person: ${JSON.stringify(person)}`);
  assert.equal(proxy.threshold, INDICATORS.network_hopping_share.threshold, 'explained with its threshold');
});

test('volume is compared with the median of the account\'s verification-tier peers, not a fixed number', () => {
  const e = new DetectorEngine();
  let min = 0;
  // 80 unverified accounts with 3 requests each, one with 200; 10 enterprise accounts with 200 each.
  for (let a = 0; a < 80; a++) for (let k = 0; k < 3; k++) e.ingest(event(`acct_u${a}`, min++, `198.51.${a}.1`, 7_018, 'unverified'));
  for (let k = 0; k < 200; k++) e.ingest(event('acct_heavy', min++, '198.51.200.1', 7_018, 'unverified'));
  e.flush();
  const heavy = indicator(e, 'acct_heavy', 'volume_vs_tier_peers')!;
  assert.ok(heavy, 'the heavy account is compared with its peers');
  assert.ok(heavy.value >= 50 && heavy.contribution === INDICATORS.volume_vs_tier_peers.weight, `heavy: ${JSON.stringify(heavy)}`);
  assert.match(heavy.detail ?? '', /^\d+(\.\d)? windowed requests against a peer median of \d+(\.\d)?$/);
  // An ordinary peer is at the median (its window holds too few requests for an indicator at all).
  assert.equal(indicator(e, 'acct_u5', 'volume_vs_tier_peers'), undefined);
  // With fewer than 50 peers in a tier there is no median to compare with.
  const lone = new DetectorEngine();
  for (let k = 0; k < 200; k++) lone.ingest(event('acct_heavy', k, '198.51.200.1', 7_018, 'unverified'));
  lone.flush();
  assert.equal(indicator(lone, 'acct_heavy', 'volume_vs_tier_peers'), undefined);
});

test('topic shift: a window whose task mix departs from the unflagged population\'s reads high, explained in bits', () => {
  const e = new DetectorEngine();
  const chat = ['What should I cook tonight with leeks and potatoes?', 'Write a short birthday message for my sister.', 'Summarise the plot of Middlemarch in three sentences.', 'Any tips for a first marathon?'];
  const harvest = ['Solve step by step: how many integers between 1 and 1000 are divisible by 7 but not by 11? Show your reasoning.', 'Implement a python function that parses an ISO date string; think it through step by step before the code.'];
  let min = 0;
  for (let a = 0; a < 120; a++) for (let k = 0; k < 3; k++) e.ingest(event(`acct_p${a}`, min++, `198.51.${a}.1`, 7_018, 'email_verified', chat[(a + k) % chat.length]));
  for (let k = 0; k < 60; k++) {
    e.ingest(event('acct_harvest', min++, '203.0.113.9', 3_320, 'email_verified', harvest[k % 2]));
    e.ingest(event('acct_chatty', min++, '203.0.113.10', 3_320, 'email_verified', chat[k % chat.length]));
  }
  e.flush();
  const shifted = indicator(e, 'acct_harvest', 'topic_shift')!;
  const usual = indicator(e, 'acct_chatty', 'topic_shift')!;
  assert.ok(shifted.value > INDICATORS.topic_shift.threshold && shifted.contribution > 0, `harvest: ${JSON.stringify(shifted)}`);
  assert.ok(usual.value < 0.05 && usual.contribution === 0, `chatty: ${JSON.stringify(usual)}`);
  assert.ok(shifted.value <= 1, 'Jensen-Shannon divergence in bits is at most 1');
  // The explanation names the topic that moved most, window against baseline.
  assert.match(shifted.detail ?? '', /^(chain-of-thought|code|maths|other) \d\.\d\d vs \d\.\d\d among accounts with no verdict$/);
});

test('accounts created in a numbered email sequence link through their email pattern, without a shared card or address', () => {
  const fleet = (pattern: string | null) => {
    const e = new DetectorEngine();
    for (let a = 0; a < 6; a++) {
      for (let k = 0; k < 4; k++) {
        const ev = event(`acct_f${a}`, a * 10 + k, `198.51.${a}.${k + 1}`, 64_500 + a);
        // Each signed up on its own hour, from its own network: only the email scheme and the software
        // (sampling parameters, SDK) are shared; such software alone never makes a link (a fleet's
        // own system prompt can: see the fleet test below).
        const created = new Date(Date.parse('2026-05-03T00:00:00.000Z') + a * 3_600_000).toISOString();
        const request = { ...ev.request, system: null, params: { ...ev.request.params, max_tokens: 16_000, temperature: 1 } };
        e.ingest({ ...ev, request, account: { ...ev.account!, created_at: created, signup_ip: `10.${a}.77.1`, email_pattern: pattern } });
      }
    }
    e.flush();
    return e;
  };
  const linked = fleet('5f2d0c7e9a1b4c3d8e6f0a1b2c3d4e5f');
  assert.equal(linked.clusterMembers('acct_f0').length, 6, 'one cluster');
  // The same accounts without the pattern share only software (SDK, parameters): not linked.
  assert.equal(fleet(null).clusterMembers('acct_f0').length, 1);
});

test('a fresh account arriving with a flagged campaign\'s software fingerprint joins it at its first request; an accountable one does not', () => {
  // The traffic model's smoke run (shipped prompt fixtures): its hydra runs behind rotating proxies with its own system prompts.
  const run = generateTraffic(resolveScenario(null, { preset: 'smoke', seed: 3 }), { prompts: loadPromptCorpus(defaultPromptDir()) });
  const events = [...run.events];
  const hydra = new Set(run.labels.flatMap((l) => (l.type === 'account' && l.campaign_id === 'hydra-1' ? [l.account_id] : [])));
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  e.flush();
  const last = events[events.length - 1];
  const sample = [...events].reverse().find((ev) => hydra.has(ev.account_id!) && ev.request.system && ev.request.params.max_tokens !== null
    && verdictRank(e.forAccount(ev.account_id!).level) >= verdictRank('throttle'))!;
  assert.ok(sample, 'the campaign is flagged');
  const lastMs = Date.parse(last.ts);
  let n = 0;
  // New card, new signup address and email, a network never seen (each its own): only the software is shared.
  const newcomer = (id: string, createdDaysAgo: number, tier: InteractionEvent['account'] extends infer A ? A extends { tier: infer T } ? T : never : never): InteractionEvent => ({
    ...sample, id: `${id}-1`, ts: new Date(lastMs + 60_000).toISOString(), account_id: id, org_id: null, key_id: `key_${id}`,
    client: { ...sample.client, ip: `192.0.${++n}.77`, asn: 65_000 + n },
    account: {
      ...sample.account!, created_at: new Date(lastMs - createdDaysAgo * 86_400_000).toISOString(), payment_fp: `card-${id}`, signup_ip: `198.18.${n}.200`, email_pattern: null, tier,
      // In use since signup (an old customer has its track record; a new head has none to speak of).
      first_used_at: new Date(lastMs - createdDaysAgo * 86_400_000 + 600_000).toISOString(),
    },
  });
  e.ingest(newcomer('acct_new_head', 1, 'email_verified'));
  e.ingest(newcomer('acct_verified_dev', 1, 'identity_verified'));
  e.ingest(newcomer('acct_old_customer', 200, 'email_verified'));
  e.advance(lastMs + 120_000);
  e.flush();
  const head = e.forAccount('acct_new_head');
  assert.ok(verdictRank(head.level) >= verdictRank('throttle'), `new head: ${head.level}`);
  assert.equal(head.clusterId, e.forAccount(sample.account_id!).clusterId, 'joined the flagged cluster');
  for (const id of ['acct_verified_dev', 'acct_old_customer']) {
    const v = e.forAccount(id);
    assert.ok(verdictRank(v.level) <= verdictRank('watch') && v.clusterId !== head.clusterId, `${id}: ${v.level} in ${v.clusterId}`);
  }
});

test('two fresh accounts on one card: a household at home stays at watch; the same pair behind a rotating proxy pool is throttled', () => {
  const cot = [COT,
    'Implement a python function that parses an ISO date string; think it through step by step before the code.'];
  /** Two accounts created yesterday, one card and one signup address, 30 requests each, 20 s apart. */
  const pair = (net: (account: number, k: number) => { ip: string; asn: number }, tier: 'email_verified' | 'identity_verified' = 'email_verified') => {
    const e = new DetectorEngine({ trackFirstFlags: true });
    for (let k = 0; k < 30; k++) {
      for (let a = 0; a < 2; a++) {
        const id = `acct_pair${a}`;
        const ev = event(id, 0, '0.0.0.0', 0, 'email_verified', cot[(k + a) % 2]);
        const { ip, asn } = net(a, k);
        e.ingest({
          ...ev, id: `${id}-${k}`, ts: new Date(T0 + (k * 2 + a) * 20_000).toISOString(), client: { ...ev.client, ip, asn },
          account: { ...ev.account!, tier, created_at: new Date(T0 - 86_400_000).toISOString(), payment_fp: 'card-household', signup_ip: '81.2.69.10' },
        });
      }
    }
    e.flush();
    const served = e.servedByLevel('acct_pair1');
    return { e, v: e.forAccount('acct_pair1'), maxServed: served.reduce((m, x, l) => (x > 0 ? l : m), 0) };
  };
  const home = { ip: '81.2.69.10', asn: 3_320 };
  const proxy = (a: number, k: number) => ({ ip: `203.${a}.${k}.${k + 1}`, asn: 64_000 + a * 100 + k });

  // A couple at home (one of them on the phone network now and then): linked, but a household.
  const household = pair((a, k) => (a === 1 && k % 7 === 3 ? { ip: '100.64.9.1', asn: 21_928 } : home));
  assert.equal(household.v.clusterId, household.e.forAccount('acct_pair0').clusterId, 'linked by the card and the signup address');
  assert.ok(household.maxServed <= verdictRank('watch'), `household: ${household.v.level}`);
  assert.ok(!household.v.verdict?.reasons.some((r) => r.signal === 'not_a_household'));

  // The same pair, each request through another exit of a rotating pool: one operator, not a household.
  const proxied = pair(proxy);
  assert.ok(verdictRank(proxied.v.level) >= verdictRank('throttle'), `proxied pair: ${proxied.v.level}`);
  const reasons = new Map(proxied.v.verdict!.reasons.map((r) => [r.signal, r]));
  assert.equal(reasons.get('linked_actors')?.value, 2);
  const nh = reasons.get('not_a_household')!;
  assert.ok(nh && typeof nh.value === 'number' && nh.value >= (nh.threshold as number), JSON.stringify(nh));

  // One partner behind a rotating VPN, the other at home: still a household.
  const oneVpn = pair((a, k) => (a === 0 ? proxy(a, k) : home));
  assert.ok(oneVpn.maxServed <= verdictRank('watch'), `one partner on a VPN: ${oneVpn.v.level}`);
  // Identity-verified accounts are accountable: the actor minimum still applies.
  const verified = pair(proxy, 'identity_verified');
  assert.ok(verified.maxServed <= verdictRank('watch'), `verified pair: ${verified.v.level}`);
});

test('a new head finds a flagged campaign through a system prompt another customer used first', () => {
  const e = new DetectorEngine();
  const sendAs = softwareSender(e, 'You are an expert tutor. Always give the complete reasoning before the final answer.');
  const send = (id: string, sec: number, acct: { card: string; createdDaysAgo: number }) => sendAs(id, sec, { card: acct.card, createdMsAgo: acct.createdDaysAgo * 86_400_000 });
  // An established customer used the prompt first (an agent framework's default, say): it is the key's first holder.
  for (let k = 0; k < 3; k++) send('acct_first_user', k * 600, { card: 'card-first', createdDaysAgo: 300 });
  // A fleet of six fresh accounts on one card harvests with the same prompt and is flagged.
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) send(`acct_fleet${a}`, 3_600 + k * 60 + a * 7, { card: 'card-fleet', createdDaysAgo: 2 });
  e.advance(T0 + 5_000_000);
  e.flush();
  const fleet = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(fleet.level) >= verdictRank('throttle'), `fleet: ${fleet.level}`);
  assert.notEqual(e.forAccount('acct_first_user').clusterId, fleet.clusterId);
  // A new head (new card, new address): the prompt's holders in the index are the first user and
  // itself, yet it joins the flagged fleet at its first request; an aged account does not.
  send('acct_new_head', 5_000, { card: 'card-new', createdDaysAgo: 1 });
  send('acct_old_customer', 5_001, { card: 'card-old', createdDaysAgo: 200 });
  e.advance(T0 + 5_010_000);
  e.flush();
  const head = e.forAccount('acct_new_head');
  assert.equal(head.clusterId, fleet.clusterId, 'joined the flagged fleet');
  assert.ok(verdictRank(head.level) >= verdictRank('throttle'), `new head: ${head.level}`);
  const old = e.forAccount('acct_old_customer');
  assert.ok(old.clusterId !== fleet.clusterId && verdictRank(old.level) <= verdictRank('watch'), `old customer: ${old.level} in ${old.clusterId}`);
});

test('with fleet software on, a fleet sharing nothing but its software (own card, address and network each) is linked through a system prompt only new, unverified accounts use', () => {
  /** Six accounts (or `size`), each with its own card, signup address and network, 30 requests each with the same system prompt and parameters. */
  const run = (opts: { tier?: 'email_verified' | 'identity_verified'; createdDaysAgo?: number; firstUsedDaysAgo?: number; establishedFirst?: boolean; config?: object; size?: number }) => {
    const e = new DetectorEngine({ config: opts.config ?? { fleet_min_holders: 3 } });
    const sendAs = softwareSender(e, 'You are a meticulous solver. Think out loud, then give the final answer on its own line.');
    /** `signedUpHoursAgo`: each account signed up at its own hour (no signup burst to share). */
    const send = (id: string, sec: number, signedUpHoursAgo: number) => sendAs(id, sec, {
      card: `card-${id}`, createdMsAgo: signedUpHoursAgo * 3_600_000, tier: opts.tier,
      firstUsedMsAgo: opts.firstUsedDaysAgo === undefined ? undefined : opts.firstUsedDaysAgo * 86_400_000,
    });
    // An established customer whose application uses the prompt, before the fleet arrives.
    if (opts.establishedFirst) for (let k = 0; k < 3; k++) send('acct_customer', k * 600, 300 * 24);
    for (let k = 0; k < 30; k++) for (let a = 0; a < (opts.size ?? 6); a++) send(`acct_fleet${a}`, 3_600 + k * 90 + a * 7, (opts.createdDaysAgo ?? 1) * 24 + a * 3);
    e.advance(T0 + 3_600_000 * 3);
    e.flush();
    return e;
  };
  // Fresh, unverified, unaffiliated: one cluster, flagged, and the verdict says why.
  const fleet = run({});
  const v = fleet.forAccount('acct_fleet0');
  assert.ok(verdictRank(v.level) >= verdictRank('throttle'), `fleet: ${v.level}`);
  for (let a = 1; a < 6; a++) assert.equal(fleet.forAccount(`acct_fleet${a}`).clusterId, v.clusterId, `acct_fleet${a} linked`);
  const reasons = new Map(v.verdict!.reasons.map((r) => [r.signal, r]));
  assert.ok((reasons.get('fleet_software')?.value as number) >= 1, JSON.stringify(v.verdict!.reasons.map((r) => r.signal)));
  assert.ok(reasons.has('shared_system_prompt'));
  // Accounts signed up long ago but first used now (bought, or left dormant) have no track record:
  // the same fleet of 90-day-old accounts is linked when its events say so (`first_used_at`).
  const dormant = run({ createdDaysAgo: 90, firstUsedDaysAgo: 0 });
  assert.ok(verdictRank(dormant.forAccount('acct_fleet0').level) >= verdictRank('throttle'), `aged, first used now: ${dormant.forAccount('acct_fleet0').level}`);
  // The setting is 0 (off) or a real minimum; anything else is refused with a message that says so.
  assert.throws(() => new DetectorEngine({ config: { fleet_min_holders: 1 } }), /fleet_min_holders is 0 \(off\) or at least 2/);
  // One aged account sending the prompt first does not clear a fleet of twenty: at most a tenth of
  // the prompt's holders may be accountable.
  const poisoned = run({ establishedFirst: true, size: 20 });
  const p0 = poisoned.forAccount('acct_fleet0');
  assert.ok(verdictRank(p0.level) >= verdictRank('throttle'), `fleet of 20 after an established user: ${p0.level}`);
  for (let a = 1; a < 20; a++) assert.equal(poisoned.forAccount(`acct_fleet${a}`).clusterId, p0.clusterId, `acct_fleet${a} linked`);
  assert.equal(poisoned.clusterMembers('acct_customer').length, 1, 'the established customer is not linked');
  // The same accounts without the rule's conditions stay apart, each held at watch at most alone:
  // an established customer used the prompt first (a framework's, a tutorial's), the accounts are
  // identity-verified, or they have history (created long before first use).
  for (const [what, e] of [['prompt used by an established customer', run({ establishedFirst: true })], ['identity-verified', run({ tier: 'identity_verified' })], ['aged accounts', run({ createdDaysAgo: 90 })], ['aged accounts in use for months', run({ createdDaysAgo: 90, firstUsedDaysAgo: 80 })], ['the rule switched off', run({ config: { fleet_min_holders: 0 } })]] as const) {
    for (let a = 0; a < 6; a++) assert.equal(e.clusterMembers(`acct_fleet${a}`).length, 1, `${what}: acct_fleet${a} not linked`);
    for (let a = 0; a < 6; a++) assert.ok(verdictRank(e.forAccount(`acct_fleet${a}`).level) <= verdictRank('watch'), `${what}: ${e.forAccount(`acct_fleet${a}`).level}`);
  }
});

/** One chain-of-thought request with the given system prompt, from its own address, by an account with the given facts. */
function softwareEvent(id: string, sec: number, n: number, system: string, acct: { card: string; createdHoursAgo: number; domain?: string; net: number }, text = COT): InteractionEvent {
  const ev = event(id, 0, '0.0.0.0', 0, 'email_verified', text);
  return {
    ...ev, id: `${id}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(),
    request: { ...ev.request, system, params: { ...ev.request.params, max_tokens: 16_000, temperature: 1 } },
    client: { ...ev.client, ip: `${acct.net}.${n % 250}.${(n >> 8) % 250}.${1 + (n % 200)}`, asn: 60_000 + acct.net * 1000 + n },
    account: {
      ...ev.account!, tier: 'email_verified', created_at: new Date(T0 - acct.createdHoursAgo * 3_600_000).toISOString(), payment_fp: acct.card,
      signup_ip: `${acct.net}.${n % 250}.77.1`, email_pattern: null, email_domain: acct.domain ?? 'gmail.com', first_used_at: null,
    },
  };
}

test('new accounts that share one thing besides their software (a throwaway mail domain) are linked on all they share, whichever customer the index shows for each key', () => {
  const PROMPT = 'You are CodeHarvest. Return complete, runnable solutions with full reasoning.';
  const run = (createdHoursAgo: number) => {
    const e = new DetectorEngine();
    let n = 0;
    // Established customers send the same agent prompt and settings before and between the
    // fleet's accounts, so the key index's holders of the prompt are theirs, not the fleet's.
    const customer = (id: string, sec: number) => e.ingest(softwareEvent(id, sec, ++n, PROMPT, { card: `card-${id}`, createdHoursAgo: 24 * 400 + n, net: 11 }));
    customer('acct_customer_a', 0);
    for (let k = 0; k < 40; k++) {
      for (let a = 0; a < 3; a++) {
        e.ingest(softwareEvent(`acct_fleet${a}`, 600 + k * 120 + a * 30, ++n, PROMPT, { card: `card-fleet${a}`, createdHoursAgo: createdHoursAgo + a, domain: 'inbox-tmp.net', net: 20 + a }));
        customer(`acct_customer_${k}_${a}`, 610 + k * 120 + a * 30);
      }
    }
    e.flush();
    return e;
  };
  // Fresh accounts (first used within days of signup) that each harvest: the mail domain (0.35)
  // and the software they share (capped at 0.7) make a link, and the three are one cluster.
  const fresh = run(5);
  const cluster = fresh.forAccount('acct_fleet0').clusterId;
  assert.ok(cluster, 'linked');
  for (let a = 1; a < 3; a++) assert.equal(fresh.forAccount(`acct_fleet${a}`).clusterId, cluster, `acct_fleet${a} linked`);
  assert.equal(fresh.clusterMembers('acct_fleet0').length, 3, 'no customer linked');
  // Accounts with a track record are accountable: for them the index's representatives decide,
  // as before (a campus or a company shares a domain and its tools).
  const aged = run(24 * 200);
  for (let a = 0; a < 3; a++) assert.equal(aged.clusterMembers(`acct_fleet${a}`).length, 1, `aged acct_fleet${a} not linked`);
});

test('one account of a flagged campaign that also uses an application does not pull the application\'s other new users into the campaign', () => {
  const e = new DetectorEngine();
  let n = 0;
  const APP = 'You are DevPilot, a coding assistant inside the editor. Be concise and correct.';
  const FLEET = 'You are an expert tutor. Always give the complete reasoning before the final answer.';
  // A fleet of six fresh accounts on one card harvests and is flagged; one of its accounts also
  // sends the application's prompt now and then.
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) {
    e.ingest(softwareEvent(`acct_fleet${a}`, k * 60 + a * 7, ++n, a === 0 && k % 3 === 1 ? APP : FLEET, { card: 'card-fleet', createdHoursAgo: 30, net: 30 + a }));
  }
  e.advance(T0 + 1_000_000);
  e.flush();
  const fleet = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(fleet.level) >= verdictRank('throttle'), `fleet: ${fleet.level}`);
  // Twenty new users of the application (each with a card, an address and a network of its own)
  // send its prompt with the same SDK and settings: software the campaign shares through one
  // member is not the campaign's own, so they are not taken for its replacement heads.
  const question = (u: number, k: number) => `In my project ${u}, function number ${k} returns undefined when the list is empty. Why, and how do I fix it?`;
  for (let u = 0; u < 20; u++) for (let k = 0; k < 3; k++) e.ingest(softwareEvent(`acct_user${u}`, 1_100 + u * 60 + k * 5, ++n, APP, { card: `card-user${u}`, createdHoursAgo: 3 + u, net: 100 + u }, question(u, k)));
  e.advance(T0 + 3_000_000);
  e.flush();
  for (let u = 0; u < 20; u++) {
    const v = e.forAccount(`acct_user${u}`);
    assert.notEqual(v.clusterId ?? null, fleet.clusterId, `acct_user${u} joined the campaign`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `acct_user${u}: ${v.level}`);
  }
  // A new head with the campaign's own prompt still joins at once.
  e.ingest(softwareEvent('acct_new_head', 3_100, ++n, FLEET, { card: 'card-new', createdHoursAgo: 2, net: 200 }));
  e.advance(T0 + 3_200_000);
  e.flush();
  assert.equal(e.forAccount('acct_new_head').clusterId, fleet.clusterId, 'the new head joined');
  assert.equal(e.accountLink('acct_new_head')?.rule, 'replacement_head', 'and its link says by which rule');
});

test('new users who signed up in a flagged fleet\'s quarter-hour with its popular SDK, settings and ISP are not linked into it', () => {
  const e = new DetectorEngine();
  const signup = Date.parse('2026-05-02T10:00:00.000Z');
  const SDK = 'OpenAI/Python 1.109.1';
  /** A request on a common SDK with max_tokens 4096, from a Comcast home address of the account's own. */
  const send = (id: string, sec: number, k: number, messages: Array<[string, string]>, acct: { card: string; createdMs: number; home: number }) => {
    const ev = event(id, 0, '0.0.0.0', 0, 'email_verified');
    e.ingest({
      ...ev, id: `${id}-${k}`, ts: new Date(T0 + sec * 1000).toISOString(),
      request: { ...ev.request, system: null, messages: messages.map(([role, text]) => ({ role: role as 'user', text, chars: text.length })), params: { ...ev.request.params, max_tokens: 4096, temperature: null } },
      client: { ...ev.client, ip: `73.${acct.home}.20.7`, asn: 7922, user_agent: SDK },
      account: { ...ev.account!, created_at: new Date(acct.createdMs).toISOString(), first_used_at: null, payment_fp: acct.card, signup_ip: `73.${acct.home}.20.7`, email_pattern: null, email_domain: 'gmail.com' },
    });
  };
  const chat = ['What should I cook tonight with leeks and potatoes?', 'Write a short birthday message for my sister.', 'Summarise the plot of Middlemarch in three sentences.', 'Any tips for a first marathon?'];
  for (let k = 0; k < 60; k++) {
    // Ten accounts on one card, signed up together, each harvesting reasoning on every request.
    for (let a = 0; a < 10; a++) send(`acct_fleet${a}`, k * 600 + a * 13, k, [['user', `${pool.maths[(k + a) % pool.maths.length]}\n\nThink step by step and show your full reasoning.`]], { card: 'card-fleet', createdMs: signup, home: a });
    // Five unrelated people who signed up within ten minutes of the fleet, each with a card and a
    // home of their own, chatting: a question and now and then a follow-up.
    for (let u = 0; u < 5; u++) {
      const q = chat[(k + u) % chat.length];
      send(`acct_person${u}`, k * 600 + 300 + u * 17, k, k % 3 === 2 ? [['user', q], ['assistant', 'Here you go.'], ['user', 'thanks! can you make it shorter?']] : [['user', q]], { card: `card-person${u}`, createdMs: signup + (2 + u * 2) * 60_000, home: 100 + u });
    }
  }
  e.advance(T0 + 60 * 600 * 1000);
  e.flush();
  const fleet = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(fleet.level) >= verdictRank('throttle'), `the fleet is flagged: ${fleet.level}`);
  for (let u = 0; u < 5; u++) {
    const v = e.forAccount(`acct_person${u}`);
    assert.notEqual(v.clusterId ?? null, fleet.clusterId, `acct_person${u} was linked into the fleet`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `acct_person${u}: ${v.level}`);
  }
});

/**
 * Thirty accounts, each signed up on campus within two days without an org, `requests` homework
 * requests each over three days (sessions of a few questions with human gaps; `gapS` scales the
 * gaps within a session), on `domain`; `card` gives them all one payment card.
 */
function campusRun(domain: string, programme: 'education' | 'research' | 'none', opts: { requests?: number; gapS?: number; card?: string } = {}) {
  const e = new DetectorEngine();
  let seed = 7;
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const events: InteractionEvent[] = [];
  const requests = opts.requests ?? 60;
  const gapS = opts.gapS ?? 400;
  for (let s = 0; s < 30; s++) {
    const created = T0 - (1 + rand() * 47) * 3_600_000;
    let t = T0 + rand() * 3_600_000;
    for (let k = 0; k < requests; k++) {
      t += k % 5 === 0 ? (2 + rand() * 6) * 3_600_000 * (60 / requests) : (20 + rand() * gapS) * 1000;
      const q = `${pool.maths[Math.floor(rand() * pool.maths.length)]}${rand() < 0.5 ? '\nPlease explain step by step.' : ''}`;
      const messages = rand() < 0.3 ? [{ role: 'user' as const, text: q, chars: q.length }, { role: 'assistant' as const, text: 'answer', chars: 6 }, { role: 'user' as const, text: 'ok and why is that?', chars: 19 }] : [{ role: 'user' as const, text: q, chars: q.length }];
      const ev = event(`acct_student${s}`, 0, '128.32.1.1', 25);
      events.push({
        ...ev, id: `acct_student${s}-${k}`, ts: new Date(t).toISOString(),
        request: { ...ev.request, system: null, messages },
        response: { ...ev.response, input_tokens: Math.round(q.length / 4), output_tokens: 300 + Math.floor(rand() * 900) },
        client: { ...ev.client, user_agent: 'Mozilla/5.0 (X11; Linux) Firefox/143' },
        account: { ...ev.account!, created_at: new Date(created).toISOString(), first_used_at: null, payment_fp: opts.card ?? null, signup_ip: `128.32.44.${2 + s}`, email_domain: domain, email_pattern: null, programme },
      });
    }
  }
  events.sort((a, b) => a.ts.localeCompare(b.ts));
  for (const ev of events) e.ingest(ev);
  e.flush();
  return Array.from({ length: 30 }, (_, s) => e.forAccount(`acct_student${s}`));
}

/**
 * A population for the signup-burst rule: 40 established customers on a popular SDK, a fleet of
 * twelve new accounts (each with its own card, signup address and client address, the client
 * addresses in one cloud prefix) on a client of its own that mixes chain-of-thought maths with
 * chat, and five developers on the popular SDK who signed up in the fleet's quarter-hour (`burst`:
 * false spreads the fleet's signups over days). The burst completes the fleet's link beside the
 * prefix its accounts share: beside their client software alone it would link a launch's users.
 */
function burstPopulation(burst: boolean) {
  const e = new DetectorEngine();
  const signup = Date.parse('2026-05-02T10:00:00.000Z');
  const SDK = 'OpenAI/Python 1.109.1';
  let n = 0;
  const send = (id: string, sec: number, messages: Array<[string, string]>, acct: { createdMs: number; ip: string; asn: number; ua: string; signupIp?: string }) => {
    const ev = event(id, 0, '0.0.0.0', 0, 'email_verified');
    e.ingest({
      ...ev, id: `${id}-${++n}`, ts: new Date(T0 + sec * 1000).toISOString(),
      request: { ...ev.request, system: null, messages: messages.map(([role, text]) => ({ role: role as 'user', text, chars: text.length })), params: { ...ev.request.params, max_tokens: 4096, temperature: null } },
      response: { ...ev.response, output_tokens: 400 + (n * 37) % 1200 },
      client: { ...ev.client, ip: acct.ip, asn: acct.asn, user_agent: acct.ua },
      account: { ...ev.account!, created_at: new Date(acct.createdMs).toISOString(), first_used_at: null, payment_fp: `card-${id}`, signup_ip: acct.signupIp ?? acct.ip, email_pattern: null, email_domain: 'gmail.com' },
    });
  };
  for (let k = 0; k < 60; k++) {
    for (let c = 0; c < 40; c++) send(`acct_customer${c}`, k * 1440 + c * 31, [['user', pool.organic[(k + c) % pool.organic.length]]], { createdMs: Date.parse('2025-01-01T00:00:00.000Z'), ip: `73.${c}.9.9`, asn: 7922, ua: SDK });
    for (let a = 0; a < 12; a++) {
      // A fifth of its requests harvest reasoning, the rest are chat: no account reaches watch alone.
      const text = (k + a) % 5 === 0 ? `${pool.maths[(k + a) % pool.maths.length]}\n\nThink step by step and show your full reasoning.` : pool.organic[(k * 7 + a) % pool.organic.length];
      send(`acct_distill${a}`, k * 1440 + 600 + a * 13, [['user', text]], { createdMs: burst ? signup + a * 40_000 : signup - a * 86_400_000, ip: `198.51.100.${10 + a}`, signupIp: `198.51.${a}.${10 + a}`, asn: 16_509, ua: 'MyDistillClient/0.3 (python)' });
    }
    for (let u = 0; u < 5; u++) {
      const q = `${pool.code[(k + u) % pool.code.length]}${k % 10 < 7 ? ' Explain the logic step by step.' : ''}`;
      // Two requests in five follow up on the answer (its code in the history).
      send(`acct_dev${u}`, k * 1440 + 900 + u * 17, k % 5 < 2 ? [['user', q], ['assistant', `def solve(data):\n${'    step(data)  # ...\n'.repeat(12)}`], ['user', 'that fails with a TypeError, fix it']] : [['user', q]], { createdMs: signup + (2 + u * 2) * 60_000, ip: `73.${100 + u}.20.7`, asn: 7922, ua: SDK });
    }
  }
  e.advance(T0 + 60 * 1440 * 1000);
  e.flush();
  return e;
}

test('signup burst: a fleet on its own client in one cloud prefix, whose accounts each stay under watch, is linked through the burst; developers on a popular SDK who signed up with it are not', () => {
  const e = burstPopulation(true);
  const fleet = Array.from({ length: 12 }, (_, a) => e.forAccount(`acct_distill${a}`));
  assert.equal(new Set(fleet.map((v) => v.clusterId)).size, 1, `the fleet is one cluster: ${fleet.map((v) => v.clusterId).join(', ')}`);
  assert.ok(fleet[0].clusterId, 'the fleet is linked');
  assert.ok(fleet.every((v) => verdictRank(v.level) >= verdictRank('throttle')), `the fleet is flagged: ${fleet.map((v) => v.level).join(', ')}`);
  assert.ok(e.accountLink('acct_distill3')!.evidence.some((x) => x.kind === 'signup_burst'), 'linked through the burst');
  for (let u = 0; u < 5; u++) {
    const v = e.forAccount(`acct_dev${u}`);
    assert.equal(v.clusterId ?? null, null, `acct_dev${u} was linked: ${JSON.stringify(e.accountLink(`acct_dev${u}`))}`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `acct_dev${u}: ${v.level}`);
  }
  // The same fleet signed up over twelve days: nothing links it, and no account of it passes watch alone.
  const spread = burstPopulation(false);
  for (let a = 0; a < 12; a++) {
    const v = spread.forAccount(`acct_distill${a}`);
    assert.ok(verdictRank(v.level) <= verdictRank('watch'), `acct_distill${a} alone: ${v.level}`);
  }
});

test('a new class signing up on its own (university domain, campus network, step-by-step homework) stays at watch; the same traffic on another domain is flagged', () => {
  const cls = campusRun('student.uni-example.edu', 'education');
  assert.equal(new Set(cls.map((v) => v.clusterId)).size, 1, 'the class is linked (campus network, signup subnet, domain)');
  for (const [s, v] of cls.entries()) assert.ok(verdictRank(v.level) <= verdictRank('watch'), `student ${s}: ${v.level} (${v.verdict?.reasons.map((r) => r.signal).join(', ')})`);
  // Students in the education programme on a university domain without a reserved suffix are a class too.
  for (const [s, v] of campusRun('ethz.ch', 'education').entries()) assert.ok(verdictRank(v.level) <= verdictRank('watch'), `ethz.ch student ${s}: ${v.level}`);
  // The same accounts on a domain that vouches for no campus are thirty actors harvesting together.
  const other = campusRun('fast-mailer.net', 'none');
  assert.ok(other.every((v) => verdictRank(v.level) >= verdictRank('throttle')), `on another domain: ${other.map((v) => v.level).join(', ')}`);
});

test('a fleet on a campus-looking domain is flagged: one card makes its accounts separate actors whatever vouches for the domain (suffix, programme), open-registration edu/ac names vouch for nothing', () => {
  for (const [domain, programme] of [['student.uni-example.edu', 'education'], ['mail.edu.cc', 'none'], ['fleet.ac.ws', 'none'], ['fleetlabs.io', 'research'], ['fleetlabs.io', 'education']] as const) {
    const fleet = campusRun(domain, programme, { card: 'card-fleet' });
    assert.ok(fleet.every((v) => verdictRank(v.level) >= verdictRank('throttle')), `${domain} (${programme}) sharing a card: ${fleet.map((v) => v.level).join(', ')}`);
  }
  // Without a card, open-registration names are not campuses: the class traffic is flagged there.
  for (const domain of ['mail.edu.cc', 'fleet.ac.ws']) {
    const fleet = campusRun(domain, 'none');
    assert.ok(fleet.every((v) => verdictRank(v.level) >= verdictRank('throttle')), `${domain}: ${fleet.map((v) => v.level).join(', ')}`);
  }
});

test('a campus domain does not hold harvesting at volumes no student reaches', () => {
  // The class's traffic, ten times over in the same three days: far past the busiest student.
  const heavy = campusRun('student.uni-example.edu', 'education', { requests: 600, gapS: 40 });
  assert.ok(heavy.some((v) => verdictRank(v.level) >= verdictRank('throttle')), `at pipeline volume: ${heavy.map((v) => v.level).join(', ')}`);
  assert.ok(heavy.every((v) => !v.verdict?.reasons.some((r) => r.signal === 'campus_class')), 'no account held as a student at that volume');
});

test('a link record is written for the side that joins: a member that pulls a single account in keeps its own, the newcomer names the cluster', () => {
  const e = new DetectorEngine();
  let n = 0;
  const FLEET = 'You are an expert tutor. Always give the complete reasoning before the final answer.';
  for (let k = 0; k < 4; k++) for (let a = 0; a < 5; a++) e.ingest(softwareEvent(`acct_fleet${a}`, k * 60 + a * 7, ++n, FLEET, { card: 'card-fleet', createdHoursAgo: 30, net: 30 + a }));
  // A single account on a card of its own, signed up from one address under a numbered pattern.
  // Its question is its own: word for word the fleet's prompt, with its client and settings, would
  // bring it in at its first request as a head of the flagged fleet.
  const lone = softwareEvent('acct_lone', 400, ++n, 'You are a helpful assistant.', { card: 'card-lone', createdHoursAgo: 30, net: 90 }, 'Walk me through it step by step: how many primes lie between 100 and 200, and how can I check each one quickly?');
  e.ingest({ ...lone, account: { ...lone.account!, signup_ip: '203.0.113.9', email_pattern: 'seq-{n}@mailbox.example' } });
  // A new account on the fleet's card, from the lone account's signup address and pattern: it joins the
  // cluster by the card, then its link pulls the lone account in.
  const late = softwareEvent('acct_fleet5', 500, ++n, FLEET, { card: 'card-fleet', createdHoursAgo: 2, net: 35 });
  e.ingest({ ...late, account: { ...late.account!, signup_ip: '203.0.113.9', email_pattern: 'seq-{n}@mailbox.example' } });
  e.advance(T0 + 600_000);
  e.flush();
  const cluster = e.forAccount('acct_fleet0').clusterId;
  assert.ok(cluster, 'the fleet is a cluster');
  assert.equal(e.forAccount('acct_lone').clusterId, cluster, 'the lone account was pulled in');
  const member = e.accountLink('acct_fleet5')!;
  assert.equal(member.with, cluster, `the member's record is the link that brought it in: ${JSON.stringify(member)}`);
  assert.ok(member.evidence.some((x) => x.kind === 'payment_fingerprint'), `by the card: ${JSON.stringify(member.evidence)}`);
  const lonely = e.accountLink('acct_lone')!;
  assert.equal(lonely.with, cluster, `the newcomer names the cluster, not an account: ${JSON.stringify(lonely)}`);
  assert.ok(lonely.evidence.some((x) => x.kind === 'signup_ip') && !lonely.evidence.some((x) => x.kind === 'payment_fingerprint'), `by the signup address: ${JSON.stringify(lonely.evidence)}`);
});

test('a cluster that grows is explained again, and an account that joins it later is told what linked it', () => {
  const e = new DetectorEngine();
  let n = 0;
  const FLEET = 'You are an expert tutor. Always give the complete reasoning before the final answer.';
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) e.ingest(softwareEvent(`acct_fleet${a}`, k * 60 + a * 7, ++n, FLEET, { card: 'card-fleet', createdHoursAgo: 30, net: 30 + a }));
  e.advance(T0 + 1_000_000);
  e.flush();
  const first = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(first.level) >= verdictRank('throttle'), `fleet: ${first.level}`);
  // Four more accounts on the same card, later: they join at their first requests.
  for (let a = 6; a < 10; a++) e.ingest(softwareEvent(`acct_fleet${a}`, 1_100 + a * 7, ++n, FLEET, { card: 'card-fleet', createdHoursAgo: 2, net: 30 + a }));
  e.advance(T0 + 1_200_000);
  e.flush();
  const late = e.forAccount('acct_fleet9');
  assert.equal(late.clusterId, first.clusterId, 'joined the cluster');
  const actors = late.verdict!.reasons.find((r) => r.signal === 'linked_actors');
  assert.equal(actors?.value, 10, `the explanation counts the accounts the cluster has now: ${actors?.detail}`);
  assert.match(actors!.detail!, /^10 accounts/);
  // What linked this account: the card, weighed, under the ordinary rule, to that cluster.
  const link = e.accountLink('acct_fleet9');
  assert.ok(link, 'the link is kept');
  assert.equal(link!.with, first.clusterId, 'linked to the cluster');
  assert.equal(link!.rule, 'shared_evidence');
  assert.deepEqual(link!.evidence.find((x) => x.kind === 'payment_fingerprint'), { kind: 'payment_fingerprint', weight: 1.2 });
  assert.ok(link!.total >= link!.threshold, `the sum reached the threshold: ${JSON.stringify(link)}`);
  assert.equal(e.accountLink('acct_nobody'), null, 'an unknown account has none');
  // Shared evidence is a mean per link: no threshold beside it, and no weight (it contributes to no score directly).
  for (const r of late.verdict!.reasons.filter((x) => x.signal.startsWith('shared_'))) {
    assert.equal(r.threshold, null, `${r.signal} has no threshold`);
    assert.equal(r.weight, undefined, `${r.signal} has no weight`);
    assert.match(r.detail!, /over the cluster's \d+ links/, `${r.signal}: the total in words`);
  }
});
