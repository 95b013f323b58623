// What the official SDKs do with Warden's refusals and timeouts at their default `maxRetries` (2):
// a short wait is retried as before; a wait past `limits.max_retry_advice_s`, a refusal that can
// never succeed, and an upstream that took too long to answer are told `x-should-retry: false`, so
// the app's call fails at once instead of sleeping for hours or starting the same generation again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { createMockUpstream } from '../../src/mock/index.ts';
import { startTestWarden } from '../helpers/warden.ts';

/** A fetch that counts the HTTP requests an SDK makes and keeps the last response's headers. */
function countingFetch() {
  const seen = { requests: 0, headers: new Headers() };
  const f = async (url: string | URL | Request, init?: RequestInit) => {
    seen.requests++;
    const r = await fetch(url, init);
    seen.headers = r.headers;
    return r;
  };
  return { seen, fetch: f as typeof fetch };
}

test('a daily token quota refusal (a wait of minutes to hours) fails at once in both SDKs, retry-after still truthful', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ limits: { tiers: { email_verified: { key: { tpd: 1000 } } } } });
  try {
    const { key } = await t.account('quota', 'email_verified');
    const o = countingFetch();
    const openai = new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, fetch: o.fetch });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 900 });
    o.seen.requests = 0;
    const err = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 900 }).catch((e) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
    assert.equal(o.seen.requests, 1, 'the SDK did not retry a refusal that lasts for hours');
    assert.equal(o.seen.headers.get('x-should-retry'), 'false');
    assert.ok(Number(o.seen.headers.get('retry-after')) > 60, `retry-after still names the real wait (${o.seen.headers.get('retry-after')})`);
    assert.match(err.message, /Retry after \d+s/, 'the message tells the app how long');

    const a = countingFetch();
    const anthropic = new Anthropic({ apiKey: key, baseURL: t.url, fetch: a.fetch });
    const aerr = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 900, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    assert.ok(aerr instanceof Anthropic.RateLimitError, `RateLimitError, got ${aerr}`);
    assert.equal(a.seen.requests, 1, 'the Anthropic SDK did not retry either');
  } finally {
    await t.close();
  }
});

test('a limit of 0 is never retried; a short wait is still retried by the SDK and succeeds', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ limits: { tiers: { email_verified: { key: { rpm: 0 } }, identity_verified: { key: { rpm: 60, burst: 1 } } } } });
  try {
    const zero = await t.account('zero', 'email_verified');
    const z = countingFetch();
    const err = await new OpenAI({ apiKey: zero.key, baseURL: `${t.url}/v1`, fetch: z.fetch })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }).catch((e) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
    assert.equal(z.seen.requests, 1, 'a refusal that can never succeed is not retried');
    assert.equal(z.seen.headers.get('x-should-retry'), 'false');

    const short = await t.account('short', 'identity_verified');
    const s = countingFetch();
    const openai = new OpenAI({ apiKey: short.key, baseURL: `${t.url}/v1`, fetch: s.fetch });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    s.seen.requests = 0;
    const ok = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    assert.ok(ok.choices.length > 0, 'answered after the SDK waited');
    assert.equal(s.seen.requests, 2, 'a one-second wait is retried by the SDK, as before');
  } finally {
    await t.close();
  }
});

test('an upstream too slow to send its headers: 504 that the SDK does not retry, one generation started upstream', { timeout: 60_000 }, async () => {
  // The mock takes ~3 s for this answer; a 1 s headers timeout stands in for a reasoning model
  // slower than `upstreams[].headers_timeout_ms`.
  const mock = await createMockUpstream({ port: 0, tokensPerSecond: 20, answerTokens: [60, 60] });
  const t = await startTestWarden({ upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'], headers_timeout_ms: 1000 }] });
  try {
    const { key } = await t.account('slow', 'email_verified');
    const o = countingFetch();
    const err = await new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, fetch: o.fetch })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'write' }] }).catch((e) => e);
    assert.ok(err instanceof OpenAI.APIError && err.status === 504, `504, got ${err}`);
    assert.equal(o.seen.requests, 1, 'the SDK did not start the same long generation again');
    assert.equal(mock.stats.requests, 1, 'one generation started at the upstream');
    assert.equal(o.seen.headers.get('x-should-retry'), 'false');
    assert.match(err.message, /headers_timeout_ms|stream/, 'the message says what to do');
  } finally {
    await t.close();
    await mock.close();
  }
});
