import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { evaluate, parseDetectionResult, renderSvg, renderText, DETECTION_SCHEMA, type DetectionResult, type LabelLine } from './index.ts';

const T0 = Date.parse('2026-04-06T00:00:00.000Z');
const at = (min: number) => new Date(T0 + min * 60_000).toISOString();

function ev(account: string, min: number, out = 100): InteractionEvent {
  return {
    schema: 'warden.interaction/1', id: `${account}-${min}`, ts: at(min), duration_ms: 100, flavour: 'openai.chat', model: 'm', upstream: 'u',
    account_id: account, org_id: 'o', key_id: 'k', client: { ip: '192.0.2.1', user_agent: null, country: null, asn: null },
    request: { stream: false, system: null, messages: [{ role: 'user', text: 'hi', chars: 2 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
    response: { status: 200, error_code: null, input_tokens: 5, output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 10, output_chars: 4 * out, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  };
}

const acct = (id: string, population: 'organic' | 'campaign', kind: string, adaptive = false): LabelLine => ({
  type: 'account', account_id: id, org_id: 'o', population, organic_kind: population === 'organic' ? (kind as never) : null,
  campaign_id: population === 'campaign' ? kind : null, campaign_kind: population === 'campaign' ? (adaptive ? 'adaptive' : 'hydra') : null, adaptive, group_id: null,
});

const labels: LabelLine[] = [
  { type: 'campaign', campaign_id: 'C1', campaign_kind: 'hydra', adaptive: false, accounts: 2, start: at(0), end: at(60), target_interactions: 10, pivot: null },
  { type: 'campaign', campaign_id: 'C2', campaign_kind: 'adaptive', adaptive: true, accounts: 1, start: at(0), end: at(60), target_interactions: 2, pivot: null },
  acct('A1', 'campaign', 'C1'), acct('A2', 'campaign', 'C1'), acct('B1', 'campaign', 'C2', true),
  acct('D1', 'organic', 'developer'), acct('D2', 'organic', 'developer'), acct('E1', 'organic', 'batch'),
];

const events: InteractionEvent[] = [
  ev('A1', 0), ev('B1', 0), ev('D1', 0), ev('D2', 0), ev('A2', 0.5), ev('A1', 1), ev('D1', 1), ev('A2', 1.5), ev('A1', 2), ev('D1', 2),
  ev('A2', 2.5), ev('A1', 3), ev('A2', 3.5), ev('A1', 4), ev('A2', 4.5), ev('E1', 5), ev('B1', 10),
];

const detection: DetectionResult = {
  schema: DETECTION_SCHEMA, source: 'hand-built',
  accounts: [
    { account_id: 'A1', timeline: [{ ts: at(2.25), level: 'throttle' }, { ts: at(0.75), level: 'watch' }] },
    { account_id: 'D1', timeline: [{ ts: at(1.5), level: 'watch' }] },
    { account_id: 'D2', timeline: [{ ts: at(0), level: 'throttle' }] },
  ],
  clusters: [{ cluster_id: 'K1', members: ['A1', 'A2'], timeline: [{ ts: at(3.25), level: 'throttle' }] }],
};

test('eval arithmetic on a hand-built case', async () => {
  const r = await evaluate(detection, labels, () => events);
  const c1 = r.campaigns.find((c) => c.campaign_id === 'C1')!;
  assert.equal(c1.accounts_active, 2);
  assert.equal(c1.accounts_flagged, 2);
  assert.equal(c1.account_recall, 1);
  assert.equal(c1.clusters_flagged, 1);
  assert.equal(c1.cluster_coverage, 1);
  assert.equal(c1.requests, 10);
  assert.equal(c1.tokens, 1000);
  assert.equal(c1.time_to_first_flag_s, 45);
  assert.equal(c1.requests_before_first_flag, 2);
  assert.equal(c1.contained, true);
  assert.equal(c1.contained_at, at(3));
  assert.equal(c1.time_to_containment_s, 180);
  assert.equal(c1.requests_before_containment, 6);
  assert.equal(c1.share_requests_before_containment, 0.6);
  assert.equal(c1.share_tokens_before_containment, 0.6);
  assert.equal(c1.served_requests, 6);
  assert.equal(c1.served_share, 0.6);
  // Adaptive campaigns are reported apart.
  assert.equal(r.campaigns.some((c) => c.campaign_id === 'C2'), false);
  const c2 = r.adaptive.find((c) => c.campaign_id === 'C2')!;
  assert.equal(c2.accounts_flagged, 0);
  assert.equal(c2.contained, false);
  assert.equal(c2.share_requests_before_containment, 1);
  assert.equal(c2.first_flag_at, null);
  const dev = r.organic.find((g) => g.kind === 'developer')!;
  assert.deepEqual(
    { accounts: dev.accounts, requests: dev.requests, any: dev.accounts_flagged_any, flagged: dev.accounts_flagged, thr: dev.accounts_throttled, reqThr: dev.requests_throttled },
    { accounts: 2, requests: 4, any: 2, flagged: 1, thr: 1, reqThr: 1 },
  );
  assert.equal(dev.account_fp_rate, 0.5);
  assert.equal(dev.request_fp_rate, 0.25);
  const batch = r.organic.find((g) => g.kind === 'batch')!;
  assert.equal(batch.accounts_flagged, 0);
  assert.deepEqual(
    { ...r.totals },
    {
      campaign_accounts: 2, campaign_accounts_flagged: 2, campaign_account_recall: 1, campaigns: 1, campaigns_contained: 1, campaigns_contained_within_1pct: 0,
      adaptive_accounts: 1, adaptive_accounts_flagged: 0, adaptive_account_recall: 0,
      organic_accounts: 3, organic_accounts_flagged: 1, organic_account_fp_rate: 1 / 3, organic_requests: 5, organic_requests_affected: 1,
    },
  );
  const text = renderText(r);
  assert.match(text, /C1\s+hydra\s+2\/2\s+100\.0%/);
  assert.match(text, /developer\s+2\s+4\s+2\s+1 \(50\.00%\)/);
  const svg = renderSvg(r);
  assert.ok(svg.startsWith('<svg') && svg.includes('C2 (adaptive)') && svg.includes('developer'));
});

test('containment level and coverage options change the result', async () => {
  const strict = await evaluate(detection, labels, () => events, { containLevel: 'shape' });
  assert.equal(strict.campaigns[0].contained, false, 'nobody reached shape');
  assert.equal(strict.campaigns[0].served_share, 1);
  const loose = await evaluate(detection, labels, () => events, { coverage: 0.5 });
  // With 50% coverage the suffix from A1@1 (4 of its 8 requests unserved) already counts as contained.
  assert.equal(loose.campaigns[0].contained_at, at(1));
  assert.equal(loose.campaigns[0].requests_before_containment, 2);
});

test('evaluation refuses what it cannot score: a coverage that is not a share, labels without accounts, events out of time order', async () => {
  await assert.rejects(evaluate(detection, labels, () => events, { coverage: 5 }), /coverage is a share of requests/);
  await assert.rejects(evaluate(detection, labels.filter((l) => l.type !== 'account'), () => events), /the labels hold no account rows/);
  const shuffled = [...events.slice(5), ...events.slice(0, 5).map((e) => ({ ...e, ts: at(-3) }))];
  await assert.rejects(evaluate(detection, labels, () => shuffled), /event 13 is 780 s older than an event before it: evaluation needs the events in time order/);
  // A minute of lateness (a gateway records documents' events when they are read) is taken as it comes.
  const late = [...events.slice(0, 3), { ...events[3], ts: at(-0.5) }, ...events.slice(4)];
  const r = await evaluate(detection, labels, () => late);
  const inOrder = await evaluate(detection, labels, () => events);
  assert.deepEqual(r.campaigns.map((c) => [c.campaign_id, c.requests]), inOrder.campaigns.map((c) => [c.campaign_id, c.requests]));
});

test('a JSONL verdict log evaluates like the equivalent DetectionResult', async () => {
  const log = [
    { subject: { kind: 'account', id: 'A1' }, level: 'watch', since: at(0.75) },
    { subject: { kind: 'account', id: 'A1' }, level: 'throttle', since: at(2.25) },
    { subject: { kind: 'account', id: 'D1' }, level: 'watch', since: at(1.5) },
    { account_id: 'D2', level: 'throttle', ts: at(0) },
    { type: 'cluster', cluster_id: 'K1', members: ['A1', 'A2'] },
    { subject: { kind: 'cluster', id: 'K1' }, level: 'throttle', since: at(3.25) },
  ].map((l) => JSON.stringify(l)).join('\n');
  const parsed = parseDetectionResult(log, 'log');
  const a = await evaluate(parsed, labels, () => events);
  const b = await evaluate(detection, labels, () => events);
  assert.deepEqual(a.campaigns, b.campaigns);
  assert.deepEqual(a.organic, b.organic);
  assert.throws(() => parseDetectionResult('{"level":"nope","since":"x","account_id":"A"}\n{"level":"watch"}'), /detection line 1/);
});

test('a verify verdict counts as refused only for accounts not identity verified: verified ones are served, as under shape', async () => {
  const withTier = (account: string, min: number, tier: 'email_verified' | 'identity_verified' | 'enterprise'): InteractionEvent => ({
    ...ev(account, min),
    account: { created_at: at(-60), tier, programme: 'none', email_domain: null, payment_fp: null, signup_ip: null, claimed_country: null },
  });
  const lbl: LabelLine[] = [
    { type: 'campaign', campaign_id: 'CV', campaign_kind: 'hydra', adaptive: false, accounts: 2, start: at(0), end: at(60), target_interactions: 8, pivot: null },
    acct('CV1', 'campaign', 'CV'), acct('CV2', 'campaign', 'CV'), acct('OV', 'organic', 'developer'), acct('OU', 'organic', 'developer'),
  ];
  const evs = [0, 1, 2, 3].flatMap((m) => [withTier('CV1', m, 'identity_verified'), withTier('CV2', m, 'email_verified'), withTier('OV', m, 'enterprise'), withTier('OU', m, 'email_verified')]);
  const det: DetectionResult = {
    schema: DETECTION_SCHEMA, source: 'hand-built',
    accounts: ['CV1', 'CV2', 'OV', 'OU'].map((id) => ({ account_id: id, timeline: [{ ts: at(0), level: 'verify' as const }] })),
    clusters: [],
  };
  const r = await evaluate(det, lbl, () => evs, { containLevel: 'verify', coverage: 1 });
  const cv = r.campaigns.find((c) => c.campaign_id === 'CV')!;
  assert.deepEqual([cv.accounts_contained, cv.served_requests, cv.served_share], [1, 4, 0.5], 'the verified account\'s requests were served');
  const dev = r.organic.find((g) => g.kind === 'developer')!;
  assert.deepEqual(
    { shaped: dev.accounts_shaped, refused: dev.accounts_refused, requestsShaped: dev.requests_shaped, requestsRefused: dev.requests_refused },
    { shaped: 2, refused: 1, requestsShaped: 8, requestsRefused: 4 },
  );
  // At the default containment level (throttle), served as under shape is still contained.
  const byDefault = (await evaluate(det, lbl, () => evs)).campaigns[0];
  assert.deepEqual([byDefault.contained, byDefault.served_requests], [true, 0]);
});
