// Hooks-level tests: a fake interaction context goes through the `limits` phase and `onEnd`
// exactly as the gateway runs them; checks refusals (error code, status, body per wire flavour),
// the rate-limit headers each ecosystem reads, the event record, settlement and release.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { renderErrorBody, WardenError } from '../errors/index.ts';
import type { VerdictLevel, VerdictView } from '../detect/verdict.ts';
import type { InteractionContext } from '../gateway/lifecycle.ts';
import { LIMIT_FIELDS } from './config.ts';
import { limitsHooks, type LimitsHooks } from './hooks.ts';
import { Limiter } from './limiter.ts';
import type { LimitOverride } from './overrides.ts';
import { registerLimitsMetrics } from './metrics.ts';
import { RedisBackend } from './redis.ts';
import { fakeCtx, fakeEvent, testConfig, TEST_COMMAND_TIMEOUT_MS, type FakeCtxOptions } from '../../test/helpers/limits.ts';

const T0 = Date.UTC(2026, 5, 18, 12) * 1000;

function setup(raw: Record<string, unknown>, opts: { verdicts?: VerdictView; registry?: Registry } = {}) {
  let now = T0;
  const config = testConfig(raw);
  const metrics = opts.registry ? registerLimitsMetrics(opts.registry) : undefined;
  const limiter = new Limiter({ config, clockUs: () => now, metrics });
  const hooks = limitsHooks({ config, limiter, verdicts: opts.verdicts });
  return { hooks, limiter, advance: (us: number) => { now += us; } };
}

async function run(hooks: LimitsHooks, o: FakeCtxOptions = {}): Promise<{ ctx: InteractionContext; error: WardenError | null }> {
  const ctx = fakeCtx(o);
  try {
    await hooks.limits!(ctx);
    return { ctx, error: null };
  } catch (err) {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${err}`);
    return { ctx, error: err };
  }
}

/** Only the account scope limited, with the given spec; everything else unlimited. */
function accountOnly(account: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
  const none = { key: unlimited, org: unlimited, account: { ...unlimited, ...account } };
  return {
    tiers: { unverified: none, email_verified: none, identity_verified: none, enterprise: none },
    network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
    cluster: { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null },
    ...extra,
  };
}

test('openai wire: x-ratelimit headers, then 429 rate_limit_error with retry-after', async () => {
  const { hooks } = setup(accountOnly({ rpm: 60, burst: 2, tpm: 10_000 }));
  const first = await run(hooks);
  assert.equal(first.error, null);
  assert.equal(first.ctx.responseHeaders['x-ratelimit-limit-requests'], '60');
  assert.equal(first.ctx.responseHeaders['x-ratelimit-remaining-requests'], '1');
  assert.equal(first.ctx.responseHeaders['x-ratelimit-reset-requests'], '1s');
  assert.equal(first.ctx.responseHeaders['x-ratelimit-limit-tokens'], '10000');
  // 25 chars / 4 -> 7 input tokens estimated + 100 max_tokens reserved.
  assert.equal(first.ctx.responseHeaders['x-ratelimit-remaining-tokens'], String(10_000 - 107));
  assert.deepEqual(first.ctx.enforcement.limit?.allowed, true);
  assert.equal((await run(hooks)).error, null);
  const third = await run(hooks);
  assert.ok(third.error);
  assert.equal(third.error.code, 'WARDEN_RATE_LIMITED');
  assert.equal(third.error.status, 429);
  assert.equal(third.error.headers['retry-after'], '1');
  const ms = Number(third.error.headers['retry-after-ms']);
  assert.ok(ms > 900 && ms <= 1000, `retry-after-ms ${ms}: the wait to the millisecond, not rounded up to a second`);
  assert.equal(third.error.headers['x-ratelimit-remaining-requests'], '0');
  assert.equal(third.error.headers['x-ratelimit-reset-requests'], '2s');
  const body = renderErrorBody(third.error, 'openai') as { error: { type: string; code: string; warden_code: string; message: string } };
  assert.equal(body.error.type, 'rate_limit_error');
  assert.equal(body.error.code, 'rate_limit_exceeded', 'OpenAI\'s own code');
  assert.equal(body.error.warden_code, 'WARDEN_RATE_LIMITED');
  assert.match(body.error.message, /60 requests per minute for this account/);
  assert.deepEqual(third.ctx.enforcement.limit, { allowed: false, scope: 'account', limit: 'rpm=60 burst=2 remaining=0 refused', retry_after_s: 1 });
  // No headers leak into a refused context's normal response headers; the error carries them.
  assert.equal(third.ctx.responseHeaders['x-ratelimit-limit-requests'], undefined);
});

test('anthropic wire: anthropic-ratelimit headers (requests, tokens, input, output), 429 body', async () => {
  const { hooks } = setup(accountOnly({ rpm: 120, burst: 1, tpm: 5000, input_tpm: 4000, output_tpm: 1000 }));
  const ok = await run(hooks, { flavour: 'anthropic.messages', body: { model: 'claude-test', max_tokens: 300, messages: [{ role: 'user', content: 'x'.repeat(400) }] } });
  assert.equal(ok.error, null);
  const h = ok.ctx.responseHeaders;
  assert.equal(h['anthropic-ratelimit-requests-limit'], '120');
  assert.equal(h['anthropic-ratelimit-requests-remaining'], '0');
  // Fully replenished 0.5 s later, given to the whole second as Anthropic does.
  assert.equal(h['anthropic-ratelimit-requests-reset'], '2026-06-18T12:00:01Z');
  assert.equal(h['anthropic-ratelimit-input-tokens-limit'], '4000');
  assert.equal(h['anthropic-ratelimit-input-tokens-remaining'], String(4000 - 100));
  assert.equal(h['anthropic-ratelimit-output-tokens-limit'], '1000');
  assert.equal(h['anthropic-ratelimit-output-tokens-remaining'], '700');
  // The tightest token meter in absolute terms is output (700 left).
  assert.equal(h['anthropic-ratelimit-tokens-remaining'], '700');
  assert.equal(Object.keys(h).some((k) => k.startsWith('x-ratelimit')), false);
  const refused = await run(hooks, { flavour: 'anthropic.messages' });
  assert.ok(refused.error);
  assert.equal(refused.error.code, 'WARDEN_RATE_LIMITED');
  assert.equal(refused.error.headers['anthropic-ratelimit-requests-remaining'], '0');
  assert.ok(Number(refused.error.headers['retry-after']) >= 1);
  const body = renderErrorBody(refused.error, 'anthropic') as { type: string; error: { type: string } };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'rate_limit_error');
});

test('token reservation is settled to real usage on end', async () => {
  const { hooks } = setup(accountOnly({ tpm: 1000 }));
  const body = { model: 'm', max_tokens: 600, messages: [{ role: 'user', content: 'hi' }] };
  const a = await run(hooks, { body });
  assert.equal(a.error, null);
  assert.equal(a.ctx.responseHeaders['x-ratelimit-remaining-tokens'], String(1000 - 601));
  const b = await run(hooks, { body });
  assert.equal(b.error?.code, 'WARDEN_RATE_LIMITED', 'second reservation does not fit');
  assert.match(b.error!.message, /tokens per minute/);
  // The first answer used 30 tokens in all: 571 are given back.
  hooks.onEnd!(a.ctx, fakeEvent(a.ctx, { input: 10, output: 20 }));
  await new Promise((r) => setImmediate(r));
  const c = await run(hooks, { body });
  assert.equal(c.error, null);
  assert.equal(c.ctx.responseHeaders['x-ratelimit-remaining-tokens'], String(1000 - 30 - 601));
  // Settling twice changes nothing.
  hooks.onEnd!(a.ctx, fakeEvent(a.ctx, { input: 10, output: 20 }));
  // Overuse is charged too: c used 900 tokens, more than reserved -> next small request waits.
  hooks.onEnd!(c.ctx, fakeEvent(c.ctx, { input: 100, output: 800 }));
  await new Promise((r) => setImmediate(r));
  const d = await run(hooks, { body: { model: 'm', max_tokens: 100, messages: [] } });
  assert.equal(d.error?.code, 'WARDEN_RATE_LIMITED');
});

test('a request larger than the token limit is refused as never admissible, without retry-after', async () => {
  const { hooks } = setup(accountOnly({ tpm: 1000 }));
  const r = await run(hooks, { body: { model: 'm', max_tokens: 5000, messages: [] } });
  assert.equal(r.error?.code, 'WARDEN_RATE_LIMITED');
  assert.match(r.error!.message, /larger than the limit of 1000 tokens per minute/);
  assert.equal(r.error!.headers['retry-after'], undefined);
  assert.equal(r.ctx.enforcement.limit?.retry_after_s, null);
});

test('a request that named no output budget is told the default was reserved and which parameter to set', async () => {
  // The AI SDK and LangChain send no budget unless the app sets one: "lower max_tokens" would name
  // a parameter the request never had.
  const { hooks } = setup(accountOnly({ tpm: 1000 }));
  const chat = await run(hooks, { body: { model: 'm', messages: [] } });
  assert.match(chat.error!.message, /larger than the limit of 1000 tokens per minute for this account: with no max_completion_tokens in the request, 4096 output tokens are reserved for the answer; set max_completion_tokens, or shorten the input\./, chat.error!.message);
  const responses = await run(hooks, { flavour: 'openai.responses', body: { model: 'm', input: 'hi' } });
  assert.match(responses.error!.message, /with no max_output_tokens in the request, 4096 output tokens are reserved for the answer; set max_output_tokens/, responses.error!.message);
  const named = await run(hooks, { body: { model: 'm', max_completion_tokens: 5000, messages: [] } });
  assert.match(named.error!.message, /lower max_tokens or shorten the input/, 'a request that named its budget is told to lower it, as before');
});

test('images and PDF pages, guessed at a flat rate, never make a request inadmissible on their own: the guess is cut to the limit', async () => {
  // An unverified account by default: 20,000 tokens a minute, 4,096 output tokens reserved when none are named.
  const { hooks, advance } = setup({});
  const image = (detail: string) => ({ type: 'image_url', image_url: { url: 'https://example.com/a.png', detail } });
  const tenImages = (detail: string) => ({ model: 'gpt-test', messages: [{ role: 'user', content: [{ type: 'text', text: 'Compare these.' }, ...Array(10).fill(image(detail))] }] });
  // ten images at low detail: 85 tokens each
  const low = await run(hooks, { tier: 'unverified', body: tenImages('low') });
  assert.equal(low.error, null);
  assert.equal(low.ctx.responseHeaders['x-ratelimit-remaining-tokens'], String(20_000 - (4 + 850 + 4096)));
  hooks.onEnd!(low.ctx, fakeEvent(low.ctx, { input: 0, output: 0 }));
  await new Promise((r) => setImmediate(r));
  // ten images at 1,600 each and 4,096 output: 20,096 > 20,000, admitted with the whole minute reserved
  const high = await run(hooks, { tier: 'unverified', body: tenImages('high') });
  assert.equal(high.error, null, high.error?.message);
  assert.equal(high.ctx.responseHeaders['x-ratelimit-remaining-tokens'], '0');
  // settled to what it really used; the next such request waits for room instead of being refused for ever
  hooks.onEnd!(high.ctx, fakeEvent(high.ctx, { input: 7_700, output: 300 }));
  await new Promise((r) => setImmediate(r));
  const again = await run(hooks, { tier: 'unverified', body: tenImages('high') });
  assert.equal(again.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(again.error!.headers['retry-after'], '24', 'the 8,000 tokens used, at 20,000 a minute');
  advance(24_000_000);
  assert.equal((await run(hooks, { tier: 'unverified', body: tenImages('high') })).error, null);

  // what is known still counts in full: text over the limit with an image is never admissible
  const text = { model: 'gpt-test', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(100_000) }, image('high')] }] };
  const tooLong = await run(hooks, { tier: 'unverified', accountId: 'acc_2', keyId: 'key_2', orgId: 'org_2', ip: '198.51.100.9', body: text });
  assert.equal(tooLong.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(tooLong.error!.headers['retry-after'], undefined);

  // a budget too: $0.10 a day, $3/$15 per Mtok; 4,096 output ($0.061) and ten images ($0.048) would be over it for ever
  const budget = setup(accountOnly({ daily_budget_usd: 0.1 }));
  assert.equal((await run(budget.hooks, { body: tenImages('high') })).error, null);
});

test('audio input is reserved by its length, and like images never makes a request inadmissible on its own', async () => {
  const { hooks } = setup(accountOnly({ tpm: 2000 }));
  // 40,000 bytes of MP3: 10 s at 32 kbit/s, 100 tokens, and 100 output tokens
  const audio = (bytes: number) => ({ model: 'gpt-test', max_tokens: 100, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: Buffer.alloc(bytes, 0xff).toString('base64'), format: 'mp3' } }] }] });
  const short = await run(hooks, { body: audio(40_000) });
  assert.equal(short.error, null);
  assert.equal(short.ctx.responseHeaders['x-ratelimit-remaining-tokens'], String(2000 - 200));
  hooks.onEnd!(short.ctx, fakeEvent(short.ctx, { input: 0, output: 0 }));
  await new Promise((r) => setImmediate(r));
  // 1 MB: about 262 s, 2,622 tokens, over the 2,000 a minute: cut to the limit, admitted with the minute reserved
  const long = await run(hooks, { accountId: 'acc_audio_2', body: audio(1_048_576) });
  assert.equal(long.error, null, long.error?.message);
  assert.equal(long.ctx.responseHeaders['x-ratelimit-remaining-tokens'], '0');
});

test('concurrency: slots are released on end even when the interaction failed or the client left', async () => {
  const { hooks, limiter } = setup(accountOnly({ concurrency: 1 }));
  const a = await run(hooks);
  assert.equal(a.error, null);
  assert.equal(limiter.inFlight, 1);
  const b = await run(hooks);
  assert.equal(b.error?.code, 'WARDEN_CONCURRENCY_LIMITED');
  assert.equal(b.error?.status, 429);
  assert.equal(b.error?.headers['retry-after'], '1');
  hooks.onEnd!(b.ctx, fakeEvent(b.ctx, { input: 0, output: 0, status: 429 })); // refused: nothing to settle
  hooks.onEnd!(a.ctx, fakeEvent(a.ctx, { input: 0, output: 0, status: 502, errorCode: 'WARDEN_UPSTREAM_ERROR' }));
  await new Promise((r) => setImmediate(r));
  assert.equal(limiter.inFlight, 0);
  const c = await run(hooks);
  assert.equal(c.error, null);
  hooks.onEnd!(c.ctx, fakeEvent(c.ctx, { input: 5, output: 3, status: 499 }));
  await new Promise((r) => setImmediate(r));
  assert.equal((await run(hooks)).error, null);
});

test('daily token quota and budgets refuse with WARDEN_QUOTA_EXCEEDED (insufficient_quota)', async () => {
  const { hooks } = setup(accountOnly({ tpd: 250 }));
  const body = { model: 'm', max_tokens: 100, messages: [] };
  assert.equal((await run(hooks, { body })).error, null);
  assert.equal((await run(hooks, { body })).error, null);
  const r = await run(hooks, { body });
  assert.equal(r.error?.code, 'WARDEN_QUOTA_EXCEEDED');
  assert.equal((renderErrorBody(r.error!, 'openai') as { error: { type: string } }).error.type, 'insufficient_quota');

  const priced = setup(accountOnly({ daily_budget_usd: 0.01 }, { prices: [{ model: 'pricey*', input_per_mtok: 0, output_per_mtok: 10 }] }));
  // 100 output tokens at $10/Mtok = $0.001 reserved each.
  for (let i = 0; i < 10; i++) assert.equal((await run(priced.hooks, { model: 'pricey-1', body: { model: 'pricey-1', max_tokens: 100, messages: [] } })).error, null, `request ${i}`);
  const over = await run(priced.hooks, { model: 'pricey-1', body: { model: 'pricey-1', max_tokens: 100, messages: [] } });
  assert.equal(over.error?.code, 'WARDEN_QUOTA_EXCEEDED');
  assert.match(over.error!.message, /Daily budget of \$0.01 exhausted/);
  assert.equal(over.error!.headers['retry-after'], String(12 * 3600), 'until UTC midnight');
});

test('verdict throttle applies the stricter multiplier; cluster scope is shared and not named to the client', async () => {
  const levels = new Map<string, VerdictLevel>([['acc_bad', 'throttle']]);
  const verdicts: VerdictView = {
    forAccount: (id) => ({ level: levels.get(id) ?? 'none', verdict: null, clusterId: id.startsWith('acc_c') ? 'cl_42' : null }),
  };
  const registry = new Registry();
  const { hooks } = setup({ ...accountOnly({ rpm: 60, burst: 8 }), cluster: { rpm: 60, burst: 3 } }, { verdicts, registry });
  // Throttled account: burst 8 x 0.25 = 2.
  assert.equal((await run(hooks, { accountId: 'acc_bad', keyId: 'k_bad' })).error, null);
  const second = await run(hooks, { accountId: 'acc_bad', keyId: 'k_bad' });
  assert.equal(second.error, null);
  assert.equal(second.ctx.enforcement.verdict, 'throttle');
  const third = await run(hooks, { accountId: 'acc_bad', keyId: 'k_bad' });
  assert.equal(third.error?.code, 'WARDEN_RATE_LIMITED');
  assert.match(third.ctx.enforcement.limit!.limit, /verdict_multiplier=0.25/);
  assert.equal(third.error!.headers['x-ratelimit-limit-requests'], '15');
  // An unflagged account keeps its full burst.
  for (let i = 0; i < 8; i++) assert.equal((await run(hooks, { accountId: 'acc_ok', keyId: 'k_ok' })).error, null);
  // Three accounts linked in one cluster share its burst of 3.
  assert.equal((await run(hooks, { accountId: 'acc_c1', keyId: 'k1' })).error, null);
  assert.equal((await run(hooks, { accountId: 'acc_c2', keyId: 'k2' })).error, null);
  assert.equal((await run(hooks, { accountId: 'acc_c3', keyId: 'k3' })).error, null);
  const fourth = await run(hooks, { accountId: 'acc_c4', keyId: 'k4' });
  assert.equal(fourth.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(fourth.ctx.enforcement.limit?.scope, 'cluster');
  assert.match(fourth.ctx.enforcement.limit!.limit, /subject=cl_42/);
  assert.doesNotMatch(fourth.error!.message, /cluster|cl_42/);
  const text = await registry.metrics();
  assert.match(text, /warden_limits_refusals_total\{scope="cluster",limit="requests"\} 1/);
  assert.match(text, /warden_limits_refusals_total\{scope="account",limit="requests"\} 1/);
  assert.match(text, /warden_limits_verdict_throttled_total\{level="throttle"\} 3/);
  assert.match(text, /warden_limits_scope_checks_total\{scope="cluster",outcome="allowed"\} 3/);
  assert.match(text, /warden_limits_decisions_total\{outcome="refused",backend="memory"\} 2/);
  // Counts are tallied between scrapes and handed over when scraped: the next scrape is cumulative.
  assert.equal((await run(hooks, { accountId: 'acc_c4', keyId: 'k4' })).error?.code, 'WARDEN_RATE_LIMITED');
  const later = await registry.metrics();
  assert.match(later, /warden_limits_decisions_total\{outcome="refused",backend="memory"\} 3/);
  assert.match(later, /warden_limits_refusals_total\{scope="cluster",limit="requests"\} 2/);
});

test('network scopes: accounts behind one /24 share the subnet limit; IPv6 groups by /64; ASN when known', async () => {
  const { hooks } = setup({
    ...accountOnly({}),
    network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: 60, burst: 2, concurrency: null }, asn: { rpm: 60, burst: 3 } },
  });
  assert.equal((await run(hooks, { accountId: 'a1', ip: '198.51.100.1' })).error, null);
  assert.equal((await run(hooks, { accountId: 'a2', ip: '198.51.100.200' })).error, null);
  const third = await run(hooks, { accountId: 'a3', ip: '::ffff:198.51.100.9' });
  assert.equal(third.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(third.ctx.enforcement.limit?.scope, 'subnet');
  assert.match(third.ctx.enforcement.limit!.limit, /subject=198\.51\.100\.0\/24/);
  assert.equal((await run(hooks, { accountId: 'a4', ip: '198.51.101.1' })).error, null, 'next /24 is separate');
  assert.equal((await run(hooks, { accountId: 'b1', ip: '2001:db8:1:2::1' })).error, null);
  assert.equal((await run(hooks, { accountId: 'b2', ip: '2001:db8:1:2:ffff::9' })).error, null);
  assert.equal((await run(hooks, { accountId: 'b3', ip: '2001:db8:1:2::77' })).error?.code, 'WARDEN_RATE_LIMITED');
  for (const [i, ip] of ['192.0.2.1', '192.0.3.1', '192.0.4.1'].entries()) assert.equal((await run(hooks, { accountId: `c${i}`, ip, asn: 64500 })).error, null);
  const asn = await run(hooks, { accountId: 'c9', ip: '192.0.5.1', asn: 64500 });
  assert.equal(asn.ctx.enforcement.limit?.scope, 'asn');
});

test('overrides: per org, per account, per key, per model, CIDR; runtime overrides take effect', async () => {
  const { hooks, limiter } = setup({
    ...accountOnly({ rpm: 60, burst: 1 }),
    overrides: [
      { scope: 'account', subject: 'acc_big', limits: { burst: 5 } },
      { scope: 'account', subject: '*', model: 'huge-*', limits: { rpm: 6, burst: 1 } },
      { scope: 'ip', subject: '10.0.0.0/8', limits: { rpm: 0 } },
    ],
  });
  for (let i = 0; i < 5; i++) assert.equal((await run(hooks, { accountId: 'acc_big' })).error, null);
  assert.equal((await run(hooks, { accountId: 'acc_big' })).error?.code, 'WARDEN_RATE_LIMITED');
  // Model group: separate meter, limited for huge-* only.
  assert.equal((await run(hooks, { accountId: 'acc_m', model: 'huge-1' })).error, null);
  const huge = await run(hooks, { accountId: 'acc_m2', model: 'huge-1' });
  assert.equal(huge.error, null, 'different account, own model meter');
  const again = await run(hooks, { accountId: 'acc_m', model: 'huge-2' });
  assert.equal(again.error?.code, 'WARDEN_RATE_LIMITED');
  assert.match(again.error!.message, /on huge-\*/);
  // Blocked network: limit 0 never admits.
  const blocked = await run(hooks, { accountId: 'acc_n', ip: '10.1.2.3' });
  assert.equal(blocked.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(blocked.error!.headers['retry-after'], undefined);
  // Runtime overrides (what the admin API stores) replace the previous set.
  limiter.planner.setRuntimeOverrides([
    { id: 'lo_2', scope: 'account', subject: 'acc_vip', model: null, limits: { burst: 3 }, note: null, expires_at: null, created_at: '', updated_at: '', source: 'runtime' },
    { id: 'lo_3', scope: 'org', subject: 'org_x', model: null, limits: { rpm: 60, burst: 2 }, note: null, expires_at: new Date(Date.now() + 60_000).toISOString(), created_at: '', updated_at: '', source: 'runtime' },
  ]);
  for (let i = 0; i < 3; i++) assert.equal((await run(hooks, { accountId: 'acc_vip' })).error, null);
  assert.equal((await run(hooks, { accountId: 'acc_vip' })).error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal((await run(hooks, { accountId: 'o1', orgId: 'org_x' })).error, null);
  assert.equal((await run(hooks, { accountId: 'o2', orgId: 'org_x' })).error, null);
  const org = await run(hooks, { accountId: 'o3', orgId: 'org_x' });
  assert.equal(org.ctx.enforcement.limit?.scope, 'org');
  assert.match(org.error!.message, /for this organization/);
});

function runtimeOverride(id: string, subject: string, limits: Record<string, number>): LimitOverride {
  return { id, scope: 'account', subject, model: null, limits, note: null, expires_at: null, created_at: '', updated_at: '', source: 'runtime' };
}

/**
 * A changed limit applies to the very next request: what was used is kept in units, so lifting a
 * tight override admits at once, and tightening counts the requests already made against it.
 */
async function limitChangeAppliesAtOnce(limiter: Limiter, hooks: LimitsHooks, tag: string): Promise<void> {
  // Account default: rpm 60, burst 10. A tight override: 2 admitted, then refused for ~20 s each.
  const lifted = `acc_lift_${tag}`;
  limiter.planner.setRuntimeOverrides([runtimeOverride('lo_tight', lifted, { rpm: 3, burst: 2 })]);
  assert.equal((await run(hooks, { accountId: lifted })).error, null);
  assert.equal((await run(hooks, { accountId: lifted })).error, null);
  assert.equal((await run(hooks, { accountId: lifted })).error?.code, 'WARDEN_RATE_LIMITED');
  limiter.planner.setRuntimeOverrides([]);
  // Two requests used of the default burst of 10: eight more now, then refused.
  for (let i = 0; i < 8; i++) assert.equal((await run(hooks, { accountId: lifted })).error, null, `request ${i + 1} after the lift`);
  const over = await run(hooks, { accountId: lifted });
  assert.equal(over.error?.code, 'WARDEN_RATE_LIMITED');
  assert.ok(Number(over.error!.headers['retry-after']) <= 1, 'judged by the default limit: one more request a second');

  // Tightening: ten requests used under the default, then 6 a minute with a burst of 2. The
  // burst is already used (eight over it): refused, with the wait of the new limit for those.
  const tightened = `acc_tight_${tag}`;
  for (let i = 0; i < 10; i++) assert.equal((await run(hooks, { accountId: tightened })).error, null);
  limiter.planner.setRuntimeOverrides([runtimeOverride('lo_late', tightened, { rpm: 6, burst: 2 })]);
  const held = await run(hooks, { accountId: tightened });
  assert.equal(held.error?.code, 'WARDEN_RATE_LIMITED');
  const wait = Number(held.error!.headers['retry-after']);
  assert.ok(wait >= 85 && wait <= 90, `ten requests at 10 s each, less the burst: ${wait}`);
}

test('a changed limit applies at once: lifting an override restores service, tightening one holds (memory)', async () => {
  const { hooks, limiter } = setup(accountOnly({ rpm: 60, burst: 10 }));
  await limitChangeAppliesAtOnce(limiter, hooks, 'mem');
});

test('tier and programme defaults: unverified is stricter than enterprise; education halves', async () => {
  const { limiter } = setup({});
  const plan = (tier: 'unverified' | 'enterprise', programme: 'none' | 'education') => limiter.planner.plan({
    keyId: 'k', accountId: 'a', orgId: null, tier, programme, ip: null, asn: null, clusterId: null, model: 'm', verdictLevel: 'none',
  });
  const rpm = (p: ReturnType<typeof plan>) => p.find((m) => m.scope === 'account' && m.kind === 'requests')!.limit;
  assert.equal(rpm(plan('unverified', 'none')), 20);
  assert.equal(rpm(plan('enterprise', 'none')), 5000);
  assert.equal(rpm(plan('unverified', 'education')), 10);
});

test('unauthenticated context and disabled limits: nothing decided', async () => {
  const { hooks } = setup(accountOnly({ rpm: 0 }));
  const ctx = fakeCtx();
  ctx.auth = null;
  await hooks.limits!(ctx);
  assert.equal(ctx.enforcement.limit, null);
  const off = setup({ ...accountOnly({ rpm: 0 }), enabled: false });
  assert.equal((await run(off.hooks)).error, null);
});

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const PREFIX = `wtest:limits-hooks:${process.pid}:${Date.now()}:`;
after(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

test('redis backend through the hooks: async decision, headers, refusal, settle and release', async () => {
  const config = testConfig(accountOnly({ rpm: 60, burst: 2, concurrency: 1, tpm: 1000 }));
  const backend = new RedisBackend({ client: redis, keyPrefix: PREFIX, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
  const limiter = new Limiter({ config, backend });
  const hooks = limitsHooks({ config, limiter });
  const started = Date.now();
  const a = await run(hooks);
  assert.equal(a.error, null);
  assert.equal(a.ctx.responseHeaders['x-ratelimit-remaining-requests'], '1');
  const b = await run(hooks);
  assert.equal(b.error?.code, 'WARDEN_CONCURRENCY_LIMITED');
  hooks.onEnd!(a.ctx, fakeEvent(a.ctx, { input: 1, output: 1 }));
  await new Promise((r) => setTimeout(r, 20));
  const c = await run(hooks);
  assert.equal(c.error, null, 'slot released and second request token within burst');
  // 1000 tokens a minute come back at one per 60 ms: a loaded machine may give one or two back meanwhile.
  const remaining = Number(c.ctx.responseHeaders['x-ratelimit-remaining-tokens']);
  const refilled = Math.ceil((Date.now() - started) / 60);
  assert.ok(remaining >= 1000 - 2 - 107 && remaining <= 1000 - 2 - 107 + refilled, `${remaining} tokens remaining`);
  hooks.onEnd!(c.ctx, fakeEvent(c.ctx, { input: 1, output: 1 }));
  await new Promise((r) => setTimeout(r, 20));
  const d = await run(hooks);
  assert.equal(d.error?.code, 'WARDEN_RATE_LIMITED');
  assert.equal(d.error?.headers['x-ratelimit-remaining-requests'], '0');
  await limiter.close();
});

test('a changed limit applies at once on the redis backend too', async () => {
  const config = testConfig(accountOnly({ rpm: 60, burst: 10 }));
  const backend = new RedisBackend({ client: redis, keyPrefix: PREFIX, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
  const limiter = new Limiter({ config, backend });
  await limitChangeAppliesAtOnce(limiter, limitsHooks({ config, limiter }), 'redis');
  await limiter.close();
});

test('token counting under a limit of 0 is refused without a retry-after, and the SDKs are told not to retry: nothing to wait for', async () => {
  const levels = new Map<string, VerdictLevel>([['acc_suspended', 'suspend']]);
  const verdicts: VerdictView = { forAccount: (id) => ({ level: levels.get(id) ?? 'none', verdict: null, clusterId: null }) };
  const count = async (hooks: LimitsHooks, accountId: string) => {
    try { await hooks.countLimits!(fakeCtx({ accountId, keyId: `k_${accountId}` })); return null; } catch (err) { assert.ok(err instanceof WardenError); return err; }
  };
  // A verdict whose multiplier is 0 (where no policy refuses it first), and counting switched off.
  const zero = await count(setup({}, { verdicts }).hooks, 'acc_suspended');
  const off = await count(setup({ token_counting: { requests_per_minute: 0 } }).hooks, 'acc_ok');
  for (const err of [zero, off]) {
    assert.equal(err?.code, 'WARDEN_RATE_LIMITED');
    assert.equal(err!.message, 'Token counting is not available to this API key.');
    assert.equal(err!.headers['retry-after'], undefined);
    assert.equal(err!.headers['x-should-retry'], 'false', 'the SDKs retry every 429 otherwise');
  }
  assert.equal(await count(setup({}, { verdicts }).hooks, 'acc_ok'), null);
});

test('a throttle or shape verdict slows a small account down but still serves it: concurrency never scales below one slot', async () => {
  const levels = new Map<string, VerdictLevel>([['acc_t', 'throttle'], ['acc_s', 'shape'], ['acc_x', 'suspend']]);
  const verdicts: VerdictView = { forAccount: (id) => ({ level: levels.get(id) ?? 'none', verdict: null, clusterId: null }) };
  // The shipped defaults: an unverified account has 2 slots; throttle and shape multiply by 0.25.
  const { hooks, advance } = setup({}, { verdicts });
  for (const accountId of ['acc_t', 'acc_s']) {
    const first = await run(hooks, { accountId, keyId: `k_${accountId}`, tier: 'unverified' });
    assert.equal(first.error, null, `${accountId}: a request with nothing else in flight is served, not refused (${first.error?.message})`);
    advance(13_000_000); // the throttled rpm of 5 admits one request every 12 s
    const second = await run(hooks, { accountId, keyId: `k_${accountId}`, tier: 'unverified' });
    assert.equal(second.error?.code, 'WARDEN_CONCURRENCY_LIMITED', `${accountId}: one slot, so a second request while the first runs waits`);
    assert.match(second.error!.message, /1 in flight/, 'the refusal names one slot');
    hooks.onEnd!(first.ctx, fakeEvent(first.ctx, { input: 5, output: 3 }));
  }
  // A multiplier of 0 (suspend) still refuses everything.
  const suspended = await run(hooks, { accountId: 'acc_x', keyId: 'k_x', tier: 'unverified' });
  assert.ok(suspended.error, 'a suspend verdict refuses the request');
});
