import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import type { InteractionEvent } from '../events/index.ts';
import { startWarden } from '../cli/serve.ts';
import { HttpAdminClient } from '../admin/client.ts';
import { resolveScenario, runRedteam, assertLocalTarget, parseLabels, ORGANIC_KINDS, type AccountLabel } from './index.ts';

const TOKEN = 'redteam-test-admin-token-0123456789';

async function warden() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-redteam-'));
  const config = configSchema.parse({
    server: { port: 0, trusted_proxies: ['127.0.0.1'] }, store: { sqlite_path: join(dir, 'warden.db') },
    admin: { token: TOKEN }, mock: { latency_ms: 0, tokens_per_second: 0, answer_length_headers: true }, log: { level: 'silent' },
    events: { flush_interval_ms: 20 },
  });
  const w = await startWarden(config, { demo: false, log: () => {} });
  return { w, dir };
}

test('redteam refuses targets that are not this machine', async () => {
  assert.throws(() => assertLocalTarget('http://example.com:8080'), /only 127\.0\.0\.1\/localhost/);
  assert.throws(() => assertLocalTarget('http://10.0.0.5'), /only/);
  assert.doesNotThrow(() => assertLocalTarget('http://localhost:1234'));
  await assert.rejects(runRedteam({ target: 'http://192.0.2.10', adminToken: TOKEN, scenario: resolveScenario(null, { preset: 'smoke' }) }), /only 127/);
});

test('redteam provisions accounts, sends traffic with client addresses, and observes enforcement', async () => {
  const { w, dir } = await warden();
  const admin = new HttpAdminClient(w.url, TOKEN);
  const out = join(dir, 'out');
  try {
    const suspended: string[] = [];
    const result = await runRedteam({
      target: w.url, adminToken: TOKEN, scenario: resolveScenario(null, { preset: 'smoke' }), maxRequests: 400, maxDurationS: 240, // the request count ends it; the duration only bounds a hung run (a loaded machine sends 400 slowly)
      concurrency: 8, outDir: out,
      // An operator suspends every hydra account as soon as it exists: its requests must be refused.
      onProvisioned: async (a, id) => { if (a.label.campaign_id === 'hydra-1') { suspended.push(id); await admin.suspendAccount(id, 'test: known campaign'); } },
    });
    assert.equal(result.requests, 400);
    assert.deepEqual(result.warnings, [], 'the gateway trusts the red team as a proxy and passes the answer lengths to its mock: no warning');
    // The built-in mock answered at the simulated lengths (policy caps and sentence ends aside).
    const l = result.answer_lengths;
    assert.ok(l.answered > 100 && l.output_tokens >= 0.8 * l.simulated_output_tokens && l.output_tokens <= 1.2 * l.simulated_output_tokens,
      `answers as long as the traffic model drew them: ${JSON.stringify(l)}`);
    assert.equal(result.stopped_by, 'max_requests');
    const hydra = result.by_population['hydra-1'];
    assert.ok(hydra && hydra.sent > 0, 'hydra traffic was sent');
    assert.equal(hydra.refused, hydra.sent, 'suspended accounts are refused');
    // Organic traffic is served (or rate limited, never refused); other campaigns may meet the
    // default policy (e.g. unverified accounts on hosting networks must verify).
    for (const [k, s] of Object.entries(result.by_population)) if ((ORGANIC_KINDS as readonly string[]).includes(k)) assert.equal(s.ok + s.rate_limited, s.sent, `${k} served`);
    // Observed enforcement scores like a detector: hydra contained from its first request, organic untouched.
    const h = result.eval.campaigns.find((c) => c.campaign_id === 'hydra-1')!;
    assert.equal(h.account_recall, 1);
    assert.equal(h.served_requests, 0, JSON.stringify(h));
    // Organic accounts are never refused; at x4000 compressed time, busy products may meet real rate
    // limits (429), which the report shows as throttling rather than hiding.
    for (const g of result.eval.organic) assert.equal(g.accounts_refused, 0, g.kind);
    // Accounts exist on the gateway with the simulated signup facts.
    const labels = parseLabels(readFileSync(join(out, 'labels.jsonl'), 'utf8')).filter((l): l is AccountLabel => l.type === 'account');
    assert.equal(labels.length, result.accounts_created);
    const one = await admin.getAccount(labels[0].account_id);
    assert.ok(one.signup_ip && one.payment_fp !== undefined);
    // The gateway recorded each request with the client address the red team put in X-Forwarded-For.
    const sent = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { account_id: string; client: { ip: string } });
    await w.gateway.recorder.flush();
    const recorded: { account_id: string | null; client: { ip: string } }[] = [];
    for await (const e of w.stores.events.iterate()) recorded.push(e);
    const servedIps = new Set(sent.map((e) => `${e.account_id} ${e.client.ip}`));
    const okRecorded = recorded.filter((e) => e.account_id && !suspended.includes(e.account_id));
    assert.ok(okRecorded.length > 200);
    for (const e of okRecorded) assert.ok(servedIps.has(`${e.account_id} ${e.client.ip}`), `recorded ${e.client.ip} was sent for ${e.account_id}`);
    assert.ok(recorded.every((e) => !e.client.ip.startsWith('127.')), 'no loopback addresses recorded');
    // No organic account met a detector verdict above watch. Answers shaped for organic accounts
    // were shaped by the tier/network policy (e.g. no raw reasoning from cloud networks below
    // identity verification), and each such event names the rule.
    const organic = new Set(labels.filter((l) => l.organic_kind !== null).map((l) => l.account_id));
    const organicEvents = (recorded as unknown as InteractionEvent[]).filter((e) => e.account_id && organic.has(e.account_id));
    assert.ok(organicEvents.length > 100);
    for (const e of organicEvents) assert.ok(e.enforcement.verdict === null || e.enforcement.verdict === 'watch', `${e.account_id}: ${e.enforcement.verdict}`);
    for (const e of organicEvents) if (e.enforcement.shaping.includes('reasoning:withheld')) assert.ok(e.enforcement.policy.some((p) => p.startsWith('rule:')), JSON.stringify(e.enforcement));
  } finally {
    await w.close();
  }
});

test('redteam reports the verdicts the gateway held each request under apart from its limits and policy', async () => {
  // Every tier at a few requests a minute: at compressed time, organic accounts meet their limits.
  const tiers = configSchema.parse({}).limits.tiers;
  const tight = Object.fromEntries(Object.keys(tiers).map((t) => [t, { account: { rpm: 6, burst: 1 } }]));
  const dir = mkdtempSync(join(tmpdir(), 'warden-redteam-'));
  const config = configSchema.parse({
    server: { port: 0, trusted_proxies: ['127.0.0.1'] }, store: { sqlite_path: join(dir, 'warden.db') },
    admin: { token: TOKEN }, mock: { latency_ms: 0, tokens_per_second: 0 }, log: { level: 'silent' },
    events: { flush_interval_ms: 20 }, limits: { tiers: tight },
  });
  const w = await startWarden(config, { demo: false, log: () => {} });
  const admin = new HttpAdminClient(w.url, TOKEN);
  const out = join(dir, 'out');
  try {
    // An operator throttles the first two organic accounts as they are created: the only organic
    // accounts a verdict holds above watch.
    const held: string[] = [];
    const result = await runRedteam({
      target: w.url, adminToken: TOKEN, scenario: resolveScenario(null, { preset: 'smoke' }), maxRequests: 300, maxDurationS: 240,
      concurrency: 8, outDir: out, honourRetryAfter: false,
      onProvisioned: async (a, id) => {
        if (a.label.organic_kind !== null && held.length < 2) { held.push(id); await admin.call('POST', '/detect/verdicts', { body: { kind: 'account', id, level: 'throttle', note: 'test' } }); }
      },
    });
    const labels = parseLabels(readFileSync(join(out, 'labels.jsonl'), 'utf8')).filter((l): l is AccountLabel => l.type === 'account');
    const organic = new Set(labels.filter((l) => l.organic_kind !== null).map((l) => l.account_id));
    const results = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { account_id: string; status: number; request_id: string | null; cause: string | null; gateway: { verdict: string | null } | null });
    const limited = results.filter((r) => organic.has(r.account_id) && r.status === 429 && !held.includes(r.account_id));
    assert.ok(limited.length > 0, 'organic accounts met their limits');
    assert.ok(limited.every((r) => r.cause === 'limit'), `a 429 under no verdict is the limits: ${JSON.stringify(limited.find((r) => r.cause !== 'limit'))}`);
    assert.ok(results.filter((r) => r.status === 200).every((r) => r.request_id && r.gateway), 'every answered request is matched to the gateway record');
    const heldLimited = results.filter((r) => held.includes(r.account_id) && r.status === 429);
    assert.ok(heldLimited.every((r) => r.cause === 'verdict' && r.gateway?.verdict === 'throttle'), 'a throttled account meets its verdict');
    // What the clients met counts the limits; the verdicts count only the two accounts held.
    const observedOrganic = result.eval.totals.organic_accounts_flagged;
    assert.ok(observedOrganic > 2, `the clients met limits on more organic accounts than the verdicts held (${observedOrganic})`);
    assert.ok(result.detector, 'the gateway verdicts were read');
    const sent = new Set(results.map((r) => r.account_id));
    const flaggedOrganic = result.detector.detection.accounts.filter((a) => organic.has(a.account_id) && a.timeline.some((c) => c.level !== 'watch')).map((a) => a.account_id).sort();
    assert.deepEqual(flaggedOrganic, held.filter((id) => sent.has(id)).sort(), 'organic accounts above watch are those a verdict held');
    assert.equal(result.detector.eval.totals.organic_accounts_flagged, flaggedOrganic.length, 'the verdicts report counts them');
    // The verdicts of the organic accounts held are read back, reasons and timing readings apart.
    assert.ok(result.timing && result.timing.organic_flagged >= flaggedOrganic.length, `organic accounts held, read back: ${JSON.stringify(result.timing)}`);
    for (const id of flaggedOrganic) assert.ok(result.timing.accounts.some((a) => a.account_id === id && a.reasons.length > 0), `the verdict holding ${id} is read with its reasons`);
    // This gateway's mock writes its own lengths (mock.answer_length_headers is off): the run says its answers are shorter than drawn.
    assert.ok(result.answer_lengths.output_tokens < result.answer_lengths.simulated_output_tokens / 2, JSON.stringify(result.answer_lengths));
    assert.ok(result.warnings.some((x) => x.includes('mock.answer_length_headers: true')), `the run warns of the short answers: ${result.warnings.join(' | ')}`);
    // The events file is in time order, as warden scan and warden eval read it.
    const ts = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { ts: string }).ts);
    assert.ok(ts.every((t, i) => i === 0 || ts[i - 1] <= t), 'events.jsonl is in time order');
  } finally {
    await w.close();
  }
});
