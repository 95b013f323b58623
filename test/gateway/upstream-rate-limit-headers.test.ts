// An upstream's 429 reaches the client with the upstream's own rate-limit headers (x-ratelimit-*,
// anthropic-ratelimit-*) and retry advice, not Warden's headers for the request it admitted; a
// refusal by Warden's own limits keeps Warden's. The same on token counting and on reads of stored
// responses and chat completions. With `limits.upstream_rate_limit_headers: warden` the provider's
// account limits are not shown: Warden's headers stay, the retry advice is passed. Over real HTTP,
// with the mock upstream (its injected 429) and the SDKs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { startHarness, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts';
import { answerOwnershipHooks, MemoryAnswerOwnersStore } from '../../src/identity/index.ts';

let h: Harness;
let raw: RawUpstream;
let behindRaw: Harness;
const ACCOUNT = { rpm: 600, burst: 100, tpm: 1_000_000 };

let warden: Harness;
/** Stored ids whose read the mock answers with its injected 429 (`mock-fail-<directive>`), recorded as the test key's. */
const FAILING_READS = ['mock-fail-status-429'];

async function gateway(upstreamOverride?: (mockUrl: string) => unknown[], rateLimitHeaders?: 'pass' | 'warden'): Promise<Harness> {
  const limits = { tiers: { email_verified: { account: ACCOUNT } }, ...(rateLimitHeaders ? { upstream_rate_limit_headers: rateLimitHeaders } : {}) };
  const hooks = limitsHooks({ config: limitsConfigSchema.parse(limits) });
  await hooks.limiter.ready();
  const owners = new MemoryAnswerOwnersStore();
  await owners.record(FAILING_READS.map((id) => ({ id, accountId: 'acc_test', orgId: null, at: new Date().toISOString(), model: 'gpt-4o-mini' })));
  return startHarness({
    hooks: [answerOwnershipHooks(owners, { retentionDays: 30 }), hooks],
    ...(upstreamOverride ? { upstreamOverride } : {}),
    ...(rateLimitHeaders ? { config: { limits } } : {}),
  });
}

before(async () => {
  h = await gateway();
  warden = await gateway(undefined, 'warden');
  // A load balancer's 429: plain text, with the provider's rate-limit headers.
  raw = await startRawUpstream((_req, res) => {
    res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '3', 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '3s' });
    res.end('Too Many Requests');
  });
  behindRaw = await gateway(() => [{ name: 'raw', base_url: raw.url, models: ['*'] }]);
});
after(async () => { await h.close(); await warden.close(); await behindRaw.close(); await raw.close(); });

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

const countTokens = (url: string, model: string) => fetch(`${url}/v1/messages/count_tokens`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
});
const read = (url: string, path: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${GOOD_KEY}` } });

test('token counting: an upstream 429 passes the upstream\'s rate-limit headers and retry-after, as the model routes do', async () => {
  const anthropic = new Anthropic({ apiKey: GOOD_KEY, baseURL: h.url, maxRetries: 0 });
  const err = await anthropic.messages.countTokens({ model: 'mock-fail-status-429', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `a RateLimitError: ${String(err)}`);
  assert.equal(err.headers?.get('anthropic-ratelimit-requests-limit'), '4000', 'the upstream\'s request limit');
  assert.equal(err.headers?.get('anthropic-ratelimit-input-tokens-remaining'), '0', 'the upstream\'s exhausted meter');
  assert.equal(err.headers?.get('retry-after'), '1', 'and its retry-after');

  const openai = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const oerr = await openai.responses.inputTokens.count({ model: 'mock-fail-status-429', input: 'hi' }).then(() => null, (e: unknown) => e);
  assert.ok(oerr instanceof OpenAI.RateLimitError, `a RateLimitError: ${String(oerr)}`);
  assert.equal(oerr.headers?.get('x-ratelimit-limit-requests'), '30000', 'the upstream\'s request limit');
  assert.equal(oerr.headers?.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(oerr.headers?.get('retry-after'), '1');
  assert.equal((oerr.error as any)?.code, 'rate_limit_exceeded', 'the upstream\'s own error body');
});

test('stored reads: an upstream 429 on a stored response or chat completion passes its rate-limit headers and retry-after', async () => {
  for (const path of ['/v1/responses/mock-fail-status-429', '/v1/responses/mock-fail-status-429/input_items', '/v1/chat/completions/mock-fail-status-429', '/v1/chat/completions/mock-fail-status-429/messages']) {
    const r = await read(h.url, path);
    const body = await r.json() as any;
    assert.equal(r.status, 429, `${path}: the upstream's 429 (${JSON.stringify(body)})`);
    assert.equal(body.error.code, 'rate_limit_exceeded', `${path}: the upstream's own error body`);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '30000', `${path}: the upstream's request limit`);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0', `${path}: the upstream's exhausted meter`);
    assert.equal(r.headers.get('x-ratelimit-reset-requests'), '1s', path);
    assert.equal(r.headers.get('retry-after'), '1', `${path}: the upstream's retry-after`);
  }
  const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const err = await client.responses.retrieve('mock-fail-status-429').then(() => null, (e: unknown) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `a RateLimitError: ${String(err)}`);
  assert.equal(err.headers?.get('x-ratelimit-remaining-requests'), '0', 'the SDK error holds the upstream\'s remaining requests');
});

test('model lookup: an upstream 429 when asked about a model reaches the SDK as a RateLimitError with the upstream\'s headers, not a 502', async () => {
  // An id not in the upstream's list is asked of the upstream (an alias it resolves): its 429.
  const openai = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const err = await openai.models.retrieve('mock-fail-status-429').then(() => null, (e: unknown) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `a RateLimitError, not an InternalServerError the SDK retries at once: ${String(err)}`);
  assert.equal((err.error as any)?.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED', JSON.stringify(err.error));
  assert.equal(err.headers?.get('x-ratelimit-limit-requests'), '30000', 'the upstream\'s request limit');
  assert.equal(err.headers?.get('x-ratelimit-remaining-requests'), '0', 'the upstream\'s exhausted meter');
  assert.equal(err.headers?.get('retry-after'), '1', 'and its retry-after');

  const anthropic = new Anthropic({ apiKey: GOOD_KEY, baseURL: h.url, maxRetries: 0 });
  const aerr = await anthropic.models.retrieve('mock-fail-status-429').then(() => null, (e: unknown) => e);
  assert.ok(aerr instanceof Anthropic.RateLimitError, `a RateLimitError: ${String(aerr)}`);
  assert.equal((aerr.error as any)?.error?.type, 'rate_limit_error', JSON.stringify(aerr.error));
  assert.equal(aerr.headers?.get('anthropic-ratelimit-input-tokens-remaining'), '0', 'the upstream\'s exhausted meter');
  assert.equal(aerr.headers?.get('retry-after'), '1');

  const behind = await read(behindRaw.url, '/v1/models/gpt-4o-mini');
  assert.equal(behind.status, 429, `behind a load balancer\'s 429: ${behind.status}`);
  assert.equal(behind.headers.get('x-ratelimit-limit-requests'), '500', 'the upstream\'s limit');
  assert.equal(behind.headers.get('retry-after'), '3');
});

test('model lookup: the upstream\'s 429 is remembered no longer than its wait, so the SDK\'s retry after it gets the model', async () => {
  let asked = 0;
  const upstream = await startRawUpstream((req, res) => {
    if (req.url === '/v1/models') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ object: 'list', data: [] })); return; }
    asked++;
    if (asked === 1) { res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '200', 'retry-after': '1' }); res.end(JSON.stringify({ error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } })); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'alias-latest', object: 'model', created: 1, owned_by: 'upstream' }));
  });
  const g = await gateway(() => [{ name: 'raw', base_url: upstream.url, models: ['*'] }]);
  try {
    const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${g.url}/v1`, maxRetries: 1 });
    const model = await client.models.retrieve('alias-latest');
    assert.equal(model.id, 'alias-latest', `the model, once the upstream's wait is over: ${JSON.stringify(model)}`);
    assert.equal(asked, 2, `the upstream asked again after its wait, not the 429 answered from memory: asked ${asked} times`);
  } finally {
    await g.close();
    await upstream.close();
  }
});

test('model lookup with upstream_rate_limit_headers: warden: the upstream\'s retry-after, none of its rate-limit headers', async () => {
  const r = await read(warden.url, '/v1/models/mock-fail-status-429');
  const body = await r.json() as any;
  assert.equal(r.status, 429, JSON.stringify(body));
  assert.equal(body.error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), null, 'the provider account\'s limit not shown');
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), null);
});

test('token counting and stored reads behind a load balancer\'s 429 (not the API\'s body): Warden\'s 429 with the upstream\'s headers', async () => {
  const r = await countTokens(behindRaw.url, 'claude-sonnet-4');
  const body = await r.json() as any;
  assert.equal(r.status, 429, `a 429, not a 502: ${JSON.stringify(body)}`);
  assert.equal(body.error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), '500', 'the upstream\'s limit');
  assert.equal(r.headers.get('retry-after'), '3');
  const stored = await read(behindRaw.url, '/v1/responses/mock-fail-status-429');
  assert.equal(stored.status, 429);
  assert.equal(((await stored.json()) as any).error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  assert.equal(stored.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(stored.headers.get('retry-after'), '3');
  const list = await read(behindRaw.url, '/v1/chat/completions?model=gpt-4o-mini');
  assert.equal(list.status, 429, 'the stored chat completions\' list too');
  assert.equal(((await list.json()) as any).error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  assert.equal(list.headers.get('x-ratelimit-limit-requests'), '500');
  assert.equal(list.headers.get('retry-after'), '3');
});

test('upstream_rate_limit_headers: warden: an upstream 429 keeps Warden\'s rate-limit headers, with the upstream\'s retry-after', async () => {
  const r = await chat(warden.url, 'mock-fail-status-429');
  assert.equal(r.status, 429);
  assert.equal(((await r.json()) as any).error.code, 'rate_limit_exceeded', 'the upstream\'s error body still');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), String(ACCOUNT.rpm), 'Warden\'s limit, not the provider account\'s 30000');
  assert.notEqual(r.headers.get('x-ratelimit-remaining-requests'), '0', 'Warden\'s meter, not the provider\'s');
  assert.equal(r.headers.get('retry-after'), '1', 'the upstream\'s wait is passed');

  const anthropic = new Anthropic({ apiKey: GOOD_KEY, baseURL: warden.url, maxRetries: 0 });
  const err = await anthropic.messages.create({ model: 'mock-fail-status-429', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `a RateLimitError: ${String(err)}`);
  assert.equal(err.headers?.get('anthropic-ratelimit-requests-limit'), String(ACCOUNT.rpm), 'Warden\'s limit, not the provider account\'s 4000');
  assert.equal(err.headers?.get('retry-after'), '1');

  // Token counting and stored reads carry no Warden meter: no provider limits either.
  for (const res of [await countTokens(warden.url, 'mock-fail-status-429'), await read(warden.url, '/v1/responses/mock-fail-status-429')]) {
    await res.arrayBuffer();
    assert.equal(res.status, 429);
    const names = [...res.headers.keys()].filter((n) => n.includes('ratelimit'));
    assert.deepEqual(names, [], `no provider rate-limit header: ${names.join(', ')}`);
    assert.equal(res.headers.get('retry-after'), '1', 'the upstream\'s wait is passed');
  }
});
