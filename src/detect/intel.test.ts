import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, SharedIndicators, keyedHash, exchangeValue, eventObservables, sharingKeyId, subnetOf, type PromptPool, type SharedIndicator, type IndicatorKind } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

// Indicators shared by another provider: an account of this provider that matches one is held at
// the feed's level from its first request, explained; weak kinds alone only at watch.

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const base = buildLabelledEvents(pool, { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0];
const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const KEY = 'partners-2026-shared-secret';

function event(account: string, ms: number, opts: { system?: string | null; ip?: string; card?: string; asn?: number; ua?: string } = {}): InteractionEvent {
  return {
    ...base, id: `${account}-${ms}`, ts: new Date(T0 + ms).toISOString(), account_id: account, org_id: null,
    request: { ...base.request, system: opts.system ?? null, tools: [] },
    client: { ip: opts.ip ?? `198.51.100.${account.length}`, user_agent: opts.ua ?? `client/${account}`, country: 'FR', asn: opts.asn ?? 64_500 },
    account: { ...base.account!, created_at: '2025-01-01T00:00:00.000Z', payment_fp: opts.card ?? `card-${account}`, signup_ip: null, email_pattern: null, first_used_at: null },
  };
}

function indicator(kind: IndicatorKind, raw: string | number, level: SharedIndicator['level'] = 'throttle', id = `indicator--${kind}`): SharedIndicator {
  return { id, kind, hmac: keyedHash(KEY, kind, exchangeValue(kind, raw)!), level, source: 'Provider B', campaign: 'op-lantern', confidence: 80, valid_until: null, created_at: new Date(T0).toISOString() };
}

const SCRIPT_PROMPT = 'You are a meticulous expert.  Think step by step and show ALL of your reasoning before answering.';

test('an account sending a shared system prompt is held at the feed level from its first request, with the indicator named', () => {
  const intel = new SharedIndicators(KEY);
  intel.add([indicator('system_prompt', SCRIPT_PROMPT.toUpperCase().replace(/ /g, '\n'))]);
  const e = new DetectorEngine({ intel });
  e.ingest(event('acct_new', 0, { system: SCRIPT_PROMPT }));
  e.ingest(event('acct_other', 0, { system: 'You are a helpful assistant.' }));
  e.flush();
  const v = e.forAccount('acct_new');
  assert.equal(v.level, 'throttle');
  const reason = v.verdict!.reasons[0];
  assert.equal(reason.signal, 'shared_indicator');
  assert.match(reason.detail!, /indicator--system_prompt shared by Provider B \(not a listed partner\) for campaign "op-lantern", confidence 80; holds at throttle/);
  assert.equal(e.forAccount('acct_other').level, 'none', 'another prompt does not match');
  assert.deepEqual(intel.sightings().map((s) => [s.indicator_id, s.accounts]), [['indicator--system_prompt', 1]]);
});

test('weak kinds hold at watch, unless a network and a software indicator both match; an ASN or a mail domain never more', () => {
  const intel = new SharedIndicators(KEY);
  intel.add([indicator('asn', 64_501, 'shape'), indicator('client_subnet', '203.0.113.77', 'shape'), indicator('client_ip', '203.0.113.9', 'shape'), indicator('user_agent', 'harvester/2', 'shape')]);
  const e = new DetectorEngine({ intel });
  e.ingest(event('acct_asn_only', 0, { asn: 64_501 }));
  e.ingest(event('acct_network', 0, { asn: 64_501, ip: '203.0.113.9' }));
  e.ingest(event('acct_both', 0, { ip: '203.0.113.10', ua: 'harvester/2' }));
  e.flush();
  assert.equal(e.forAccount('acct_asn_only').level, 'watch');
  assert.match(e.forAccount('acct_asn_only').verdict!.reasons[0].detail!, /shared by many customers: holds at watch at most/);
  assert.equal(e.forAccount('acct_network').level, 'watch', 'an address, its network and its ASN are one piece of evidence');
  assert.match(e.forAccount('acct_network').verdict!.reasons.map((r) => r.detail).join(' '), /without its counterpart/);
  assert.equal(e.forAccount('acct_both').level, 'shape');
  assert.match(e.forAccount('acct_both').verdict!.reasons[0].detail!, /a network and a software indicator matched/);
});

test('a payment fingerprint matches across signup facts; the allow-list still wins; nothing matches without the key', () => {
  const intel = new SharedIndicators(KEY);
  intel.add([indicator('payment_fp', 'fp_shared_card', 'suspend')]);
  const e = new DetectorEngine({ intel, config: { allow: { accounts: ['acct_partner'] } } });
  e.ingest(event('acct_card', 0, { card: 'fp_shared_card' }));
  e.ingest(event('acct_partner', 0, { card: 'fp_shared_card' }));
  e.flush();
  assert.equal(e.forAccount('acct_card').level, 'suspend');
  assert.equal(e.forAccount('acct_partner').level, 'none');

  const keyless = new SharedIndicators(null);
  keyless.add([indicator('payment_fp', 'fp_shared_card', 'suspend')]);
  const e2 = new DetectorEngine({ intel: keyless });
  e2.ingest(event('acct_card', 0, { card: 'fp_shared_card' }));
  e2.flush();
  assert.equal(e2.forAccount('acct_card').level, 'none');
});

test('removed or lapsed indicators stop holding accounts (after the usual cooldown)', () => {
  const intel = new SharedIndicators(KEY);
  const lapsing = { ...indicator('user_agent', 'harvester/1.0', 'throttle', 'indicator--ua'), valid_until: new Date(T0 + 3_600_000).toISOString() };
  intel.add([indicator('system_prompt', SCRIPT_PROMPT), lapsing]);
  const e = new DetectorEngine({ intel, config: { cooldown_seconds: 60 } });
  e.ingest(event('acct_a', 0, { system: SCRIPT_PROMPT }));
  e.ingest(event('acct_ua', 0, { ua: 'harvester/1.0' }));
  e.ingest(event('acct_late', 2 * 3_600_000, { ua: 'harvester/1.0' }));
  e.flush();
  assert.equal(e.forAccount('acct_a').level, 'throttle');
  assert.equal(e.forAccount('acct_late').level, 'none', 'an indicator past valid_until matches nothing');
  assert.equal(intel.remove(['indicator--system_prompt']), 1);
  e.advance(T0 + 3 * 3_600_000);
  e.flush();
  assert.equal(e.forAccount('acct_a').level, 'watch', 'above what the account earns alone: one step down at once');
  e.ingest(event('acct_a', 4 * 3_600_000, { system: SCRIPT_PROMPT }));
  e.flush();
  e.ingest(event('acct_a', 5 * 3_600_000, { system: SCRIPT_PROMPT }));
  e.flush();
  assert.equal(e.forAccount('acct_a').level, 'none', 'then down the ladder as usual');
});

test('exchange values are normalised as documented', () => {
  assert.equal(exchangeValue('system_prompt', '  Be   BRIEF.\n'), 'be brief.');
  assert.equal(exchangeValue('tool_set', ['run', 'bash', 'run']), 'bash\nrun');
  assert.equal(exchangeValue('asn', 'as64500'), 'AS64500');
  assert.equal(subnetOf('203.0.113.77'), '203.0.113.0/24');
  assert.equal(subnetOf('2001:db8:0a:1::5'), '2001:db8:a::/48');
  assert.equal(sharingKeyId(KEY).length, 16);
  assert.notEqual(sharingKeyId(KEY), sharingKeyId(KEY + 'x'));
  const kinds = eventObservables(event('acct_x', 0, { system: 'x' })).map(([k]) => k);
  assert.deepEqual(kinds, ['system_prompt', 'user_agent', 'client_ip', 'client_subnet', 'asn', 'payment_fp', 'email_domain']);
});

test('matching sees exactly the values a case exports (eventObservables), for every kind', () => {
  const sample = buildLabelledEvents(pool, { seed: 4, days: 1, organic: { hobbyist: 8, agent: 2, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 6 }] }).events.slice(0, 400);
  const intel = new SharedIndicators(KEY);
  const ids = new Map<string, string>();
  for (const ev of sample) {
    for (const [kind, value] of eventObservables(ev)) {
      const hmac = keyedHash(KEY, kind, value);
      if (!ids.has(`${kind}:${hmac}`)) ids.set(`${kind}:${hmac}`, `indicator--${ids.size}`);
    }
  }
  intel.add([...ids].map(([k, id]) => ({ ...indicator('user_agent', 'x'), id, kind: k.split(':')[0] as IndicatorKind, hmac: k.split(':')[1] })));
  const kinds = new Set<string>();
  for (const ev of sample) {
    const want = [...new Set(eventObservables(ev).map(([kind, value]) => ids.get(`${kind}:${keyedHash(KEY, kind, value)}`)!))].sort();
    for (const [kind] of eventObservables(ev)) kinds.add(kind);
    assert.deepEqual(intel.match(ev, Date.parse(ev.ts))!.ids.sort(), want, ev.id);
  }
  assert.ok(kinds.size >= 7, [...kinds].join(', '));
});

test('two partners sharing the same value: removing one feed leaves the other in force', () => {
  const intel = new SharedIndicators(KEY);
  intel.add([{ ...indicator('system_prompt', SCRIPT_PROMPT), id: 'indicator--from-a', source: 'A' }, { ...indicator('system_prompt', SCRIPT_PROMPT, 'shape'), id: 'indicator--from-c', source: 'C' }]);
  assert.deepEqual(intel.match(event('acct_x', 0, { system: SCRIPT_PROMPT }), T0)!.ids.sort(), ['indicator--from-a', 'indicator--from-c']);
  intel.remove(['indicator--from-a']);
  assert.deepEqual(intel.match(event('acct_x', 1, { system: SCRIPT_PROMPT }), T0)!.ids, ['indicator--from-c']);
  intel.remove(['indicator--from-c']);
  assert.equal(intel.match(event('acct_x', 2, { system: SCRIPT_PROMPT }), T0), null);
});

test('a deletion request: the sightings in memory (and those not yet stored) keep their counts, not the account id', () => {
  const intel = new SharedIndicators(KEY);
  intel.add([indicator('system_prompt', SCRIPT_PROMPT)]);
  intel.match(event('acct_gone', 0, { system: SCRIPT_PROMPT }), T0);
  intel.match(event('acct_gone', 1000, { system: SCRIPT_PROMPT }), T0 + 1000);
  intel.match(event('acct_stays', 2000, { system: SCRIPT_PROMPT }), T0 + 2000);
  intel.confirm(['indicator--system_prompt'], 'acct_gone', T0);
  const before = intel.sightings();
  const partners = intel.partnerSightings();
  assert.equal(intel.renameAccount('acct_gone', 'erased_1'), 1, 'one indicator\'s sightings named the account');
  assert.deepEqual(intel.sightings(), before, 'requests and accounts counted stay');
  assert.deepEqual(intel.partnerSightings(), partners, 'what partners read stays');
  const unsaved = intel.drainSightings();
  assert.ok(!JSON.stringify(unsaved).includes('acct_gone'), `what is stored next does not name it: ${JSON.stringify(unsaved)}`);
  assert.deepEqual(unsaved[0].accounts.sort(), ['acct_stays', 'erased_1'], 'the pseudonym stands in for it');
  assert.equal(intel.renameAccount('acct_gone', 'erased_2'), 0, 'a second run finds nothing');
});

test('each partner\'s indicators match under the key agreed with it; a partner\'s trust bounds what they hold and is said in the verdict', () => {
  const KEY_B = 'provider-b-own-key-0123456789';
  const KEY_C = 'provider-c-own-key-9876543210';
  const underKey = (key: string, kind: IndicatorKind, raw: string, source: string, level: SharedIndicator['level'], id: string): SharedIndicator =>
    ({ ...indicator(kind, raw, level, id), hmac: keyedHash(key, kind, exchangeValue(kind, raw)!), source });
  const intel = new SharedIndicators(null, { keys: [KEY_B] });
  intel.setPolicy((source) => (source === 'Provider B' ? { trust: 'low', hold: 'none' } : source === 'Provider C' ? { trust: 'high', hold: 'none' } : null));
  intel.add([
    underKey(KEY_B, 'system_prompt', SCRIPT_PROMPT, 'Provider B', 'suspend', 'indicator--b'),
    underKey(KEY_C, 'payment_fp', 'fp_card_c', 'Provider C', 'suspend', 'indicator--c'),
  ]);
  const e = new DetectorEngine({ intel });
  e.ingest(event('acct_prompt', 0, { system: SCRIPT_PROMPT }));
  e.ingest(event('acct_card', 0, { card: 'fp_card_c' }));
  e.flush();
  const b = e.forAccount('acct_prompt');
  assert.equal(b.level, 'watch', 'a low-trust partner\'s indicator holds at watch at most, whatever level it came at');
  assert.match(b.verdict!.reasons[0].detail!, /shared by Provider B \(trust low\) for campaign "op-lantern".*holds at watch \(trust low: at most watch/);
  assert.equal(e.forAccount('acct_card').level, 'none', 'Provider C\'s key is not one agreed here yet: its hash matches nothing');
  intel.setKeys([KEY_B, KEY_C]);
  e.ingest(event('acct_card', 1000, { card: 'fp_card_c' }));
  e.flush();
  const c = e.forAccount('acct_card');
  assert.equal(c.level, 'suspend', 'with Provider C\'s key agreed, its high-trust indicator holds at its level');
  assert.match(c.verdict!.reasons[0].detail!, /shared by Provider C \(trust high\).*holds at suspend$/);
});

test('a partner whose indicators are all held for review: none acts until an operator approves it; a trusted partner\'s prevalent value is not held', () => {
  const intel = new SharedIndicators(KEY, { maxLocalAccounts: 2 });
  intel.setPolicy((source) => (source === 'New partner' ? { trust: 'medium', hold: 'all' } : { trust: 'high', hold: 'none' }));
  intel.add([
    { ...indicator('system_prompt', SCRIPT_PROMPT, 'throttle', 'indicator--new'), source: 'New partner' },
    { ...indicator('user_agent', 'popular-sdk/1.0', 'throttle', 'indicator--trusted-ua'), source: 'Trusted partner' },
    { ...indicator('client_ip', '198.51.100.200', 'throttle', 'indicator--trusted-ip'), source: 'Trusted partner' },
  ]);
  const e = new DetectorEngine({ intel });
  // Established customers (created long before) all use the SDK: prevalent, but the trusted partner's hold is none.
  for (let k = 0; k < 5; k++) e.ingest(event(`acct_customer_${k}`, k, { ua: 'popular-sdk/1.0' }));
  e.ingest(event('acct_script', 10, { system: SCRIPT_PROMPT }));
  e.ingest(event('acct_both', 11, { ua: 'popular-sdk/1.0', ip: '198.51.100.200' }));
  e.flush();
  const held = intel.listWithHolds().find((i) => i.id === 'indicator--new')!.held;
  assert.match(held?.reason ?? '', /every indicator from New partner waits for an operator's review \(cases.partners hold: all\)/);
  assert.equal(e.forAccount('acct_script').level, 'none', 'the held indicator holds no account');
  assert.equal(intel.listWithHolds().find((i) => i.id === 'indicator--trusted-ua')!.held, null, 'a value 5 established accounts share is not held for a partner whose hold is none');
  assert.equal(e.forAccount('acct_both').level, 'throttle', 'and its indicators act');
  intel.approve(['indicator--new']);
  e.ingest(event('acct_script', 20, { system: SCRIPT_PROMPT }));
  e.flush();
  assert.equal(e.forAccount('acct_script').level, 'throttle', 'approved by an operator, it holds the account');
  assert.match(e.forAccount('acct_script').verdict!.reasons[0].detail!, /shared by New partner \(trust medium\)/);
});
