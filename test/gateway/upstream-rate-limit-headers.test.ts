// An upstream's 429 reaches the client with the upstream's own rate-limit headers (x-ratelimit-*,
// anthropic-ratelimit-*) and retry advice, not Warden's headers for the request it admitted; a
// refusal by Warden's own limits keeps Warden's. Over real HTTP, with the mock upstream and the SDKs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { startHarness, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts';

let h: Harness;
let raw: RawUpstream;
let behindRaw: Harness;
const ACCOUNT = { rpm: 600, burst: 100, tpm: 1_000_000 };

async function gateway(upstreamOverride?: (mockUrl: string) => unknown[]): Promise<Harness> {
  const hooks = limitsHooks({ config: limitsConfigSchema.parse({ tiers: { email_verified: { account: ACCOUNT } } }) });
  await hooks.limiter.ready();
  return startHarness({ hooks: [hooks], ...(upstreamOverride ? { upstreamOverride } : {}) });
}

before(async () => {
  h = await gateway();
  // A load balancer's 429: plain text, with the provider's rate-limit headers.
  raw = await startRawUpstream((_req, res) => {
    res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '3', 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '3s' });
    res.end('Too Many Requests');
  });
  behindRaw = await gateway(() => [{ name: 'raw', base_url: raw.url, models: ['*'] }]);
});
after(async () => { await h.close(); await behindRaw.close(); await raw.close(); });

const chat = (url: string, model: string) => fetch(`${url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
});

test('an admitted request carries Warden\'s rate-limit headers (the account\'s limits, not the upstream\'s)', async () => {
  const ok = await chat(h.url, 'gpt-4o-mini');
  await ok.arrayBuffer();
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('x-ratelimit-limit-requests'), String(ACCOUNT.rpm), 'Warden\'s own limit on an answer');
});

test('OpenAI: an upstream 429 passes the upstream\'s x-ratelimit-* and retry-after, and the SDK sees them', async () => {
  const r = await chat(h.url, 'mock-fail-status-429');
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), '30000', 'the upstream\'s request limit, not Warden\'s 600');
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0', 'the upstream\'s exhausted meter');
  assert.equal(r.headers.get('x-ratelimit-reset-requests'), '1s');
  assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '150000000', 'the upstream\'s token limit, not Warden\'s');
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal(((await r.json()) as any).error.code, 'rate_limit_exceeded', 'the upstream\'s own error body');

  const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const err = await client.chat.completions.create({ model: 'mock-fail-status-429', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `a RateLimitError: ${String(err)}`);
  assert.equal(err.headers?.get('x-ratelimit-remaining-requests'), '0', 'the SDK error holds the upstream\'s remaining requests');
  assert.equal(err.headers?.get('retry-after'), '1', 'and its retry-after');
});

test('Anthropic: an upstream 429 passes the upstream\'s anthropic-ratelimit-* and retry-after, and the SDK sees them', async () => {
  const client = new Anthropic({ apiKey: GOOD_KEY, baseURL: h.url, maxRetries: 0 });
  const err = await client.messages.create({ model: 'mock-fail-status-429', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `a RateLimitError: ${String(err)}`);
  const headers = err.headers!;
  assert.equal(headers.get('anthropic-ratelimit-requests-limit'), '4000', 'the upstream\'s request limit, not Warden\'s 600');
  assert.equal(headers.get('anthropic-ratelimit-input-tokens-remaining'), '0', 'the upstream\'s exhausted input-token meter');
  assert.ok(headers.get('anthropic-ratelimit-input-tokens-reset'), 'its reset');
  assert.equal(headers.get('retry-after'), '1');
});

test('an upstream 429 whose body is not the API\'s (a load balancer\'s) passes its rate-limit headers too', async () => {
  const r = await chat(behindRaw.url, 'gpt-4o-mini');
  assert.equal(r.status, 429);
  assert.equal(((await r.json()) as any).error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), '500', 'the upstream\'s limit, not Warden\'s 600');
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(r.headers.get('x-ratelimit-reset-requests'), '3s');
  assert.equal(r.headers.get('x-ratelimit-limit-tokens'), null, 'no half of Warden\'s set beside the upstream\'s');
  assert.equal(r.headers.get('retry-after'), '3');
});

test('Warden\'s own refusal keeps Warden\'s rate-limit headers', async () => {
  const hooks = limitsHooks({ config: limitsConfigSchema.parse({ tiers: { email_verified: { account: { rpm: 60, burst: 1 } } } }) });
  await hooks.limiter.ready();
  const g = await startHarness({ hooks: [hooks] });
  try {
    await (await chat(g.url, 'gpt-4o-mini')).arrayBuffer();
    const refused = await chat(g.url, 'gpt-4o-mini');
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as any).error.warden_code, 'WARDEN_RATE_LIMITED');
    assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '60', 'Warden\'s limit on Warden\'s refusal');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  } finally {
    await g.close();
  }
});
