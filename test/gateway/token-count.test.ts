// Token counting through Warden: the SDKs' `messages.countTokens` and `responses.inputTokens.count`
// get the upstream's own count, with the same keys and policy as the model endpoints, a request
// limit of their own, no model quota spent and no interaction recorded; Warden's tokenizer
// answers when the upstream has no counting endpoint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { policyHooks } from '../../src/policy/hooks.ts';
import { policyConfigSchema } from '../../src/policy/config.ts';
import { watermarkConfigSchema } from '../../src/watermark/config.ts';

const REVOKED = 'wk_test_revoked_0123456789abcdefghijkl';
const READ_ONLY = 'wk_test_readonly_0123456789abcdefghijk';
// The counting limit is per key (8 a minute here, bursts of 4): each test counts with its own key.
const KEYS = ['wk_test_count_a_0123456789abcdefghijkaaaaaa', 'wk_test_count_b_0123456789abcdefghijkbbbbbb', 'wk_test_count_c_0123456789abcdefghijkcccccc', 'wk_test_count_d_0123456789abcdefghijkdddddd',
  'wk_test_count_e_0123456789abcdefghijkeeeeee', 'wk_test_count_f_0123456789abcdefghijkffffff', 'wk_test_count_g_0123456789abcdefghijkgggggg'];

let h: Harness;
let dir: string;
let noCounting: RawUpstream;
let vllm: RawUpstream;

/** What an OpenAI-compatible server without counting answers, by model: its errors about the model, or a missing route. */
const NOT_FOUND: Record<string, [string, string]> = {
  'vllm-gone': ['application/json', JSON.stringify({ error: { message: 'The model `vllm-gone` does not exist.', type: 'NotFoundError', param: 'model', code: 404 } })],
  'vllm-old-gone': ['application/json', JSON.stringify({ object: 'error', message: 'The model `vllm-old-gone` does not exist.', type: 'NotFoundError', param: null, code: 404 })],
  'vllm-html': ['text/html', '<html><body><h1>404 Not Found</h1></body></html>'],
  'vllm-empty': ['application/json', ''],
  'vllm-route': ['application/json', JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not Found' } })],
  'vllm-detail': ['application/json', JSON.stringify({ detail: 'Not Found' })],
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-count-'));
  const policyFile = join(dir, 'policy.yaml');
  // email-verified accounts (the harness's) may not use the opus model
  writeFileSync(policyFile, 'version: 1\ntiers:\n  email_verified: { deny_models: ["claude-opus-*"] }\n');
  // An OpenAI-compatible server without a counting endpoint, as most are.
  noCounting = await startRawUpstream((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'Not Found', type: 'invalid_request_error' } }));
  });
  vllm = await startRawUpstream((_req, res, body) => {
    const [type, text] = NOT_FOUND[JSON.parse(body).model as string];
    res.writeHead(404, { 'content-type': type });
    res.end(text);
  });
  const limits = limitsConfigSchema.parse({ token_counting: { requests_per_minute: 8 } });
  h = await startHarness({
    keys: [{ secret: REVOKED, revoked: true }, { secret: READ_ONLY, scopes: ['models:read'] }, ...KEYS.map((secret) => ({ secret }))],
    hooks: [
      policyHooks({ config: { policy: policyConfigSchema.parse({ file: policyFile, watch: false, geo: { enabled: false } }), watermark: watermarkConfigSchema.parse({}) } }),
      limitsHooks({ config: limits }),
    ],
    upstreamOverride: (mockUrl) => [
      { name: 'plain', base_url: noCounting.url, models: ['plain-*'], flavours: ['openai', 'anthropic'] },
      { name: 'vllm', base_url: vllm.url, models: ['vllm-*'], flavours: ['openai', 'anthropic'] },
      { name: 'mock', base_url: mockUrl, models: ['*'] },
    ],
  });
});
after(async () => { await h.close(); await noCounting.close(); await vllm.close(); rmSync(dir, { recursive: true, force: true }); });

const anthropic = (key = h.key) => new Anthropic({ apiKey: key, baseURL: h.url, maxRetries: 0 });
const openai = (key = h.key) => new OpenAI({ apiKey: key, baseURL: `${h.url}/v1`, maxRetries: 0 });

async function post(key: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(h.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() as any };
}

test('Anthropic SDK countTokens: the upstream count through Warden, and no interaction is recorded', async () => {
  const params = { model: 'claude-sonnet-5', system: 'You are terse.', messages: [{ role: 'user' as const, content: 'How many tokens is this sentence?' }] };
  const counted = await anthropic().messages.countTokens(params);
  const direct = await (await fetch(`${h.mockUrl}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(params) })).json() as { input_tokens: number };
  assert.ok(counted.input_tokens > 5);
  assert.equal(counted.input_tokens, direct.input_tokens);
  // the count is what the message itself is billed for
  const msg = await anthropic().messages.create({ ...params, max_tokens: 20 });
  assert.equal(msg.usage.input_tokens, counted.input_tokens);
  const events = await storedEvents(h, 1);
  assert.equal(events.length, 1, 'only the message is an interaction');
  assert.equal(events[0].flavour, 'anthropic.messages');
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(metrics, /warden_requests_total\{flavour="anthropic.count_tokens",status="200",code=""\} 1/);
});

test('OpenAI SDK responses.inputTokens.count: the count a response is billed for', async () => {
  const params = { model: 'gpt-4o-mini', instructions: 'Answer in French.', input: 'What is the capital of Peru?' };
  const counted = await openai(KEYS[0]).responses.inputTokens.count(params);
  assert.equal(counted.object, 'response.input_tokens');
  const r = await openai().responses.create({ ...params, max_output_tokens: 20 });
  assert.equal(counted.input_tokens, r.usage!.input_tokens);
});

test('the key is decided before the body: 401 (or 403) before any complaint about it', async () => {
  for (const path of ['/v1/messages/count_tokens', '/v1/responses/input_tokens']) {
    for (const [body, type] of [['[]', 'application/json'], ['{"model":', 'application/json'], ['x', 'text/plain'], ['{}', 'application/json']]) {
      const send = (headers: Record<string, string>) => fetch(h.url + path, { method: 'POST', headers: { 'content-type': type, 'anthropic-version': '2023-06-01', ...headers }, body });
      const none = await send({});
      assert.equal(none.status, 401, `${path} ${body}`);
      assert.match(none.headers.get('request-id') ?? '', /^[0-9A-Z]{26}$/);
      assert.equal((await send({ 'x-api-key': 'wk_test_wrong' })).status, 401, `${path} ${body}`);
      assert.equal((await send({ 'x-api-key': REVOKED })).status, 401, `${path} ${body}`);
      assert.equal((await send({ 'x-api-key': READ_ONLY })).status, 403, `${path} ${body}`);
    }
    // With a good key, the body is judged.
    const bad = await fetch(h.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEYS[5] }, body: '[]' });
    assert.equal(bad.status, 400);
  }
});

test('an upstream without a counting endpoint: Warden counts with its tokenizer and says it estimated', async () => {
  const before = noCounting.requests.length;
  const a = await post(KEYS[1], '/v1/messages/count_tokens', { model: 'plain-model', system: 'You are terse.', messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three four five six seven eight nine ten' }] }] });
  assert.equal(a.status, 200);
  assert.equal(a.headers.get('x-warden-token-count'), 'estimated');
  // Warden's own answer: named as its refusals are.
  assert.match(a.headers.get('request-id') ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(a.headers.get('x-request-id'), a.headers.get('request-id'));
  assert.equal(a.headers.get('x-warden-request-id'), a.headers.get('request-id'));
  assert.deepEqual(Object.keys(a.body), ['input_tokens']);
  assert.ok(a.body.input_tokens >= 12 && a.body.input_tokens <= 20, `${a.body.input_tokens} tokens`);
  const o = await post('', '/v1/responses/input_tokens', { model: 'plain-model', input: 'one two three four five six seven eight nine ten' }, { authorization: `Bearer ${KEYS[1]}` });
  assert.equal(o.status, 200);
  assert.equal(o.body.object, 'response.input_tokens');
  assert.ok(o.body.input_tokens >= 9 && o.body.input_tokens <= 14, `${o.body.input_tokens} tokens`);
  // the upstream was asked first, at its own path, with its own credentials and not the client's
  assert.deepEqual(noCounting.requests.slice(before).map((r) => r.path), ['/v1/messages/count_tokens', '/v1/responses/input_tokens']);
  assert.ok(!noCounting.requests.slice(before).some((r) => JSON.stringify(r.headers).includes(h.key)));
});

test('bad input and refusals come in the Anthropic or OpenAI error format, with the right status', async () => {
  const noKey = await fetch(`${h.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(noKey.status, 401);
  assert.equal(((await noKey.json()) as any).error.type, 'authentication_error');
  await assert.rejects(anthropic(REVOKED).messages.countTokens({ model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 401 && e.error.error.warden_code === 'WARDEN_REVOKED_API_KEY');
  await assert.rejects(anthropic(READ_ONLY).messages.countTokens({ model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 403 && e.error.error.warden_code === 'WARDEN_INSUFFICIENT_SCOPE');
  const noModel = await post(KEYS[2], '/v1/messages/count_tokens', { messages: [] });
  assert.equal(noModel.status, 400);
  assert.equal(noModel.body.type, 'error');
  assert.equal(noModel.body.error.warden_code, 'WARDEN_MODEL_REQUIRED');
  const noMessages = await post(KEYS[2], '/v1/messages/count_tokens', { model: 'claude-sonnet-5' });
  assert.equal(noMessages.status, 400);
  assert.equal(noMessages.body.error.message, 'messages: Field required');
  const broken = await post('', '/v1/responses/input_tokens', '{"model":', { authorization: `Bearer ${KEYS[2]}` });
  assert.equal(broken.status, 400);
  assert.equal(broken.body.error.warden_code, 'WARDEN_INVALID_JSON', 'OpenAI error format');
  const get = await fetch(`${h.url}/v1/messages/count_tokens`, { headers: { 'x-api-key': h.key } });
  assert.equal(get.status, 405);
  // policy applies as on the model endpoint: this tier may not use the opus model
  const denied = await post(KEYS[2], '/v1/messages/count_tokens', { model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error.warden_code, 'WARDEN_POLICY_DENIED');
  const unknown = await post('', '/v1/responses/input_tokens', { model: 'no-such-model', input: 'hi' }, { authorization: `Bearer ${KEYS[2]}` });
  assert.equal(unknown.status, 400, 'the mock upstream (OpenAI) says the model does not exist');
  assert.equal(unknown.body.error.code, 'model_not_found');
});

test('counting has its own per-key limit: a burst is refused with 429 and Retry-After, model calls go on', async () => {
  const statuses: number[] = [];
  let refused: Awaited<ReturnType<typeof post>> | null = null;
  for (let i = 0; i < 8; i++) {
    const r = await post(KEYS[3], '/v1/messages/count_tokens', { model: 'claude-sonnet-5', messages: [{ role: 'user', content: `count ${i}` }] });
    statuses.push(r.status);
    if (r.status === 429 && !refused) refused = r;
  }
  assert.deepEqual(statuses.slice(0, 4), [200, 200, 200, 200], 'a burst of four is allowed');
  assert.ok(refused, 'refused once the burst is spent');
  assert.equal(refused.body.error.type, 'rate_limit_error');
  assert.match(refused.body.error.message, /8 token counting requests per minute/);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  // the model's own limits are untouched by counting
  const msg = await anthropic(KEYS[3]).messages.create({ model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.type, 'message');
});

test('an unknown model: the upstream\'s 404 reaches the client in its API\'s format, not an estimate', async () => {
  // The mock says as Anthropic does: 404 not_found_error "model: ...".
  const messages = [{ role: 'user' as const, content: 'hi' }];
  await assert.rejects(anthropic(KEYS[4]).messages.countTokens({ model: 'no-such-claude', messages }), (err: unknown) => {
    const e = err as any;
    assert.ok(err instanceof Anthropic.NotFoundError, String(err));
    assert.equal(e.error.error.type, 'not_found_error');
    assert.match(e.error.error.message, /no-such-claude/);
    assert.equal(e.headers.get('x-warden-token-count'), null);
    return true;
  });
  // An OpenAI-compatible server (vLLM) answers an unknown model with 404 model errors.
  await assert.rejects(openai(KEYS[4]).responses.inputTokens.count({ model: 'vllm-gone', input: 'hi' }), (err: unknown) => {
    const e = err as any;
    assert.ok(err instanceof OpenAI.NotFoundError, String(err));
    assert.match(e.message, /vllm-gone. does not exist/);
    return true;
  });
  // Its older top-level error format, and an OpenAI-format error on the Anthropic route: in the caller's format.
  await assert.rejects(openai(KEYS[4]).responses.inputTokens.count({ model: 'vllm-old-gone', input: 'hi' }), (err: unknown) => {
    const e = err as any;
    assert.ok(err instanceof OpenAI.NotFoundError, String(err));
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.error.warden_code, 'WARDEN_MODEL_NOT_FOUND');
    assert.equal(e.param, 'model');
    return true;
  });
  await assert.rejects(anthropic(KEYS[4]).messages.countTokens({ model: 'vllm-gone', messages }), (err: unknown) => {
    const e = err as any;
    assert.ok(err instanceof Anthropic.NotFoundError, String(err));
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'not_found_error');
    return true;
  });
});

test('a 404 that is a missing route (HTML, empty, a generic not-found) still gets the estimate', async () => {
  // (four: a key's burst)
  for (const model of ['vllm-html', 'vllm-empty', 'vllm-route', 'vllm-detail']) {
    const r = await post(KEYS[5], '/v1/messages/count_tokens', { model, messages: [{ role: 'user', content: 'one two three' }] });
    assert.equal(r.status, 200, `${model}: ${JSON.stringify(r.body)}`);
    assert.equal(r.headers.get('x-warden-token-count'), 'estimated');
    assert.ok(r.body.input_tokens > 0);
  }
});

test('a count passed through names the request: the upstream\'s own ids when it gave them, else Warden\'s', async () => {
  // The mock answers Anthropic counts with its own `request-id`, OpenAI ones with its own `x-request-id`.
  const a = await post(KEYS[6], '/v1/messages/count_tokens', { model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
  assert.equal(a.status, 200);
  assert.match(a.headers.get('request-id') ?? '', /^req_011/, 'the upstream\'s own id');
  assert.match(a.headers.get('x-warden-request-id') ?? '', /^[0-9A-Z]{26}$/);
  const o = await post('', '/v1/responses/input_tokens', { model: 'gpt-4o-mini', input: 'hi' }, { authorization: `Bearer ${KEYS[6]}` });
  assert.equal(o.status, 200);
  assert.match(o.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/, 'the upstream\'s own id');
  assert.match(o.headers.get('x-warden-request-id') ?? '', /^[0-9A-Z]{26}$/);
  // An upstream error passed through, from a server that names nothing: Warden's id.
  const gone = await post('', '/v1/responses/input_tokens', { model: 'vllm-gone', input: 'hi' }, { authorization: `Bearer ${KEYS[6]}` });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.message, 'The model `vllm-gone` does not exist.', 'the upstream\'s own error, passed through');
  assert.match(gone.headers.get('request-id') ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(gone.headers.get('request-id'), gone.headers.get('x-warden-request-id'));
});
