// Bad input and failures: each gets the right status and an error body in the caller's wire format,
// and an interaction that started is recorded even when it ended badly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startTestWarden } from '../helpers/warden.ts';
import { startRawUpstream, CHAT_COMPLETION } from '../helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

async function harness(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  open.push(h);
  return h;
}

function post(url: string, body: string | object, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const oa = (k = GOOD_KEY) => ({ authorization: `Bearer ${k}` });
const an = (k = GOOD_KEY) => ({ 'x-api-key': k, 'anthropic-version': '2023-06-01' });
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const msgs = { model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] };

function assertOpenAIError(body: any, code: string) {
  assert.equal(typeof body.error, 'object', JSON.stringify(body));
  assert.equal(body.error.warden_code, code);
  assert.ok(body.error.code === null || /^[a-z_]+$/.test(body.error.code), `OpenAI-style code: ${body.error.code}`);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.type, 'string');
}
function assertAnthropicError(body: any, code: string) {
  assert.equal(body.type, 'error', JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.type, 'string');
  assert.equal(typeof body.error.message, 'string');
}

test('malformed JSON: 400 in each format, and the attempt is recorded', async () => {
  const h = await harness();
  const r1 = await post(`${h.url}/v1/chat/completions`, '{"model": "x", ', oa());
  assert.equal(r1.status, 400);
  assertOpenAIError((await r1.json()) as any, 'WARDEN_INVALID_JSON');
  const r2 = await post(`${h.url}/v1/messages`, '{nope', an());
  assert.equal(r2.status, 400);
  const b2 = (await r2.json()) as any;
  assertAnthropicError(b2, 'WARDEN_INVALID_JSON');
  assert.equal(b2.error.type, 'invalid_request_error');
  const events = await storedEvents(h, 2);
  assert.ok(events.filter((e) => e.response.error_code === 'WARDEN_INVALID_JSON').length >= 2);
});

test('wrong content type: 415', async () => {
  const h = await harness();
  const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain', ...oa() }, body: 'hello' });
  assert.equal(r.status, 415);
  assertOpenAIError(((await r.json()) as any) as any, 'WARDEN_UNSUPPORTED_MEDIA_TYPE');
});

test('body over the configured limit: 413 (Anthropic: request_too_large)', async () => {
  const h = await harness({ config: { server: { body_limit_bytes: 1024 } } });
  const big = { ...msgs, messages: [{ role: 'user', content: 'x'.repeat(5000) }] };
  const r = await post(`${h.url}/v1/messages`, big, an());
  assert.equal(r.status, 413);
  const b = ((await r.json()) as any) as any;
  assertAnthropicError(b, 'WARDEN_BODY_TOO_LARGE');
  assert.equal(b.error.type, 'request_too_large');
});

test('missing and unknown model', async () => {
  const h = await harness({ upstreamOverride: (u) => [{ name: 'mock', base_url: u, models: ['gpt-4o-mini', 'claude-*'] }] });
  const r1 = await post(`${h.url}/v1/chat/completions`, { messages: chat.messages }, oa());
  assert.equal(r1.status, 400);
  assertOpenAIError((await r1.json()) as any, 'WARDEN_MODEL_REQUIRED');
  const r2 = await post(`${h.url}/v1/chat/completions`, { ...chat, model: 'no-such-model' }, oa());
  assert.equal(r2.status, 404);
  assertOpenAIError((await r2.json()) as any, 'WARDEN_MODEL_NOT_FOUND');
  const r3 = await post(`${h.url}/v1/messages`, { ...msgs, model: 'gpt-9' }, an());
  assert.equal(r3.status, 404);
  const b3 = (await r3.json()) as any;
  assertAnthropicError(b3, 'WARDEN_MODEL_NOT_FOUND');
  assert.equal(b3.error.type, 'not_found_error');
  const ok = await post(`${h.url}/v1/messages`, { ...msgs, model: 'claude-haiku-4-5' }, an());
  assert.equal(ok.status, 200, 'prefix routes match');
});

test('budgets and counts that are not integers (`"max_tokens": "100000"`, `"n": "4"`): 400 naming the field, nothing forwarded', async () => {
  const upstream = await startRawUpstream((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(CHAT_COMPLETION)); });
  open.push(upstream);
  // shaping caps budgets at 2,048 and choices at 1: a string would pass it untouched
  const policy = inlinePolicyHooks('version: 1\ndefaults: { n_max: 1, max_tokens_ceiling: 2048, logprobs: true, top_logprobs_max: 2 }\n');
  open.push({ close: async () => policy.cleanup() });
  const h = await harness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, models: ['*'] }] });
  const cases: [string, object, string, string][] = [
    ['/v1/chat/completions', { ...chat, max_tokens: '100000' }, 'max_tokens', 'a string'],
    ['/v1/chat/completions', { ...chat, max_completion_tokens: '100000' }, 'max_completion_tokens', 'a string'],
    ['/v1/chat/completions', { ...chat, n: '4' }, 'n', 'a string'],
    ['/v1/chat/completions', { ...chat, n: 2.5 }, 'n', 'a decimal number'],
    ['/v1/chat/completions', { ...chat, logprobs: true, top_logprobs: '20' }, 'top_logprobs', 'a string'],
    ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', max_tokens: '100000' }, 'max_tokens', 'a string'],
    ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', n: '5' }, 'n', 'a string'],
    ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', best_of: '9' }, 'best_of', 'a string'],
    ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', logprobs: '5' }, 'logprobs', 'a string'],
    ['/v1/responses', { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: '100000' }, 'max_output_tokens', 'a string'],
    ['/v1/responses', { model: 'gpt-4o-mini', input: 'hi', top_logprobs: [20] }, 'top_logprobs', 'an array'],
  ];
  for (const [path, body, param, kind] of cases) {
    const r = await post(`${h.url}${path}`, body, oa());
    const b = (await r.json()) as any;
    assert.equal(r.status, 400, `${path} ${param}: ${JSON.stringify(b)}`);
    assertOpenAIError(b, 'WARDEN_INVALID_REQUEST');
    assert.equal(b.error.type, 'invalid_request_error');
    assert.equal(b.error.param, param);
    assert.equal(b.error.message, `Invalid type for '${param}': expected an integer, but got ${kind} instead.`);
  }
  // Anthropic: the field is there, its type is wrong
  const a = await post(`${h.url}/v1/messages`, { ...msgs, max_tokens: '100000' }, an());
  const ab = (await a.json()) as any;
  assert.equal(a.status, 400);
  assertAnthropicError(ab, 'WARDEN_INVALID_REQUEST');
  assert.equal(ab.error.message, 'max_tokens: Input should be a valid integer');
  const budget = (await (await post(`${h.url}/v1/messages`, { ...msgs, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: '100000' } }, an())).json()) as any;
  assert.equal(budget.error.message, 'thinking.budget_tokens: Input should be a valid integer');
  const missing = (await (await post(`${h.url}/v1/messages`, { model: msgs.model, messages: msgs.messages }, an())).json()) as any;
  assert.equal(missing.error.message, 'max_tokens: Field required');
  assert.equal(upstream.requests.length, 0, 'none of them reached the upstream');
  // integers (and null: not given) go through, capped
  const ok = await post(`${h.url}/v1/chat/completions`, { ...chat, max_tokens: 100_000, n: null }, oa());
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(JSON.parse(upstream.requests[0].body).max_tokens, 2048);
});

test('background responses: a budget that is not an integer is refused when sent, not when it runs', async () => {
  const t = await startTestWarden();
  open.push(t);
  const { key } = await t.account('bg', 'enterprise');
  const r = await post(`${t.url}/v1/responses`, { model: 'gpt-4o-mini', input: 'hi', background: true, max_output_tokens: '100000' }, oa(key));
  const b = (await r.json()) as any;
  assert.equal(r.status, 400, JSON.stringify(b));
  assert.equal(b.error.param, 'max_output_tokens');
});

test('missing, invalid, revoked and expired keys: 401; wrong scope: 403', async () => {
  const h = await harness({ keys: [
    { secret: 'wk_test_revoked_aaaaaaaaaaaaaaaaaaaaaaaa', revoked: true },
    { secret: 'wk_test_expired_aaaaaaaaaaaaaaaaaaaaaaaa', expired: true },
    { secret: 'wk_test_models_only_aaaaaaaaaaaaaaaaaaaa', scopes: ['models:read'] },
  ] });
  const cases: [Record<string, string>, number, string][] = [
    [{}, 401, 'WARDEN_MISSING_API_KEY'],
    [oa('wk_test_wrong'), 401, 'WARDEN_INVALID_API_KEY'],
    [oa('wk_test_revoked_aaaaaaaaaaaaaaaaaaaaaaaa'), 401, 'WARDEN_REVOKED_API_KEY'],
    [oa('wk_test_expired_aaaaaaaaaaaaaaaaaaaaaaaa'), 401, 'WARDEN_EXPIRED_API_KEY'],
    [oa('wk_test_models_only_aaaaaaaaaaaaaaaaaaaa'), 403, 'WARDEN_INSUFFICIENT_SCOPE'],
  ];
  for (const [headers, status, code] of cases) {
    const r = await post(`${h.url}/v1/chat/completions`, chat, headers);
    assert.equal(r.status, status, code);
    assertOpenAIError(((await r.json()) as any) as any, code);
    const a = await post(`${h.url}/v1/messages`, msgs, { 'anthropic-version': '2023-06-01', ...(headers.authorization ? { 'x-api-key': headers.authorization.slice(7) } : {}) });
    assert.equal(a.status, status, code);
    const ab = (await a.json()) as any;
    assertAnthropicError(ab, code);
    if (status === 401) assert.equal(ab.error.type, 'authentication_error');
  }
  const models = await fetch(`${h.url}/v1/models`, { headers: oa('wk_test_models_only_aaaaaaaaaaaaaaaaaaaa') });
  assert.equal(models.status, 200, 'models:read scope may list models');
  const events = await storedEvents(h, 10);
  assert.ok(events.some((e) => e.response.error_code === 'WARDEN_REVOKED_API_KEY' && e.response.status === 401));
});

test('unknown route and wrong method: 404/405 in the right format', async () => {
  const h = await harness();
  const r = await fetch(`${h.url}/v1/nothing-here`, { headers: oa() });
  assert.equal(r.status, 404);
  assertOpenAIError(((await r.json()) as any) as any, 'WARDEN_NOT_FOUND');
  const r2 = await fetch(`${h.url}/v1/messages`, { headers: an() });
  assert.equal(r2.status, 405);
  assert.equal(r2.headers.get('allow'), 'POST');
  assertAnthropicError((await r2.json()) as any, 'WARDEN_METHOD_NOT_ALLOWED');
  // Model ids may hold slashes: a GET under /v1/models is a retrieval, not a wrong method.
  const r3 = await fetch(`${h.url}/v1/models/org/none-such`, { headers: oa() });
  assert.equal(r3.status, 404);
  assertOpenAIError((await r3.json()) as any, 'WARDEN_MODEL_NOT_FOUND');
  // Deleting a model is an operation Warden does not serve: an unknown route, not a wrong method.
  const r4 = await fetch(`${h.url}/v1/models/org/none-such`, { method: 'DELETE', headers: oa() });
  assert.equal(r4.status, 404);
  assert.equal(r4.headers.get('allow'), null);
  assertOpenAIError((await r4.json()) as any, 'WARDEN_NOT_FOUND');
  const r5 = await fetch(`${h.url}/v1/models/org/none-such`, { method: 'PUT', headers: oa() });
  assert.equal(r5.status, 405, 'a method no API defines there is still a wrong method');
  assert.match(r5.headers.get('allow') ?? '', /\bGET\b/);
});

test('wrong method on the batch and file routes: 405 with Allow', async () => {
  const t = await startTestWarden();
  open.push(t);
  const { key } = await t.account('m', 'enterprise');
  const put = await fetch(`${t.url}/v1/batches`, { method: 'PUT', headers: oa(key) });
  assert.equal(put.status, 405);
  assert.deepEqual((put.headers.get('allow') ?? '').split(', ').sort(), ['GET', 'HEAD', 'POST']);
  assertOpenAIError((await put.json()) as any, 'WARDEN_METHOD_NOT_ALLOWED');
  const patch = await fetch(`${t.url}/v1/files/file_abc`, { method: 'PATCH', headers: oa(key) });
  assert.equal(patch.status, 405);
  assert.deepEqual((patch.headers.get('allow') ?? '').split(', ').sort(), ['DELETE', 'GET', 'HEAD']);
  const anth = await fetch(`${t.url}/v1/messages/batches/msgbatch_x`, { method: 'PUT', headers: an(key) });
  assert.equal(anth.status, 405);
  assertAnthropicError((await anth.json()) as any, 'WARDEN_METHOD_NOT_ALLOWED');
  const none = await fetch(`${t.url}/v1/batchez`, { method: 'PUT', headers: oa(key) });
  assert.equal(none.status, 404);
});

test('upstream unreachable: 502; upstream hangs: 504; upstream 5xx passes through', async () => {
  const dead = await harness({ upstreamOverride: () => [{ name: 'dead', base_url: 'http://127.0.0.1:9', models: ['*'] }] });
  const r1 = await post(`${dead.url}/v1/chat/completions`, chat, oa());
  assert.equal(r1.status, 502);
  assertOpenAIError((await r1.json()) as any, 'WARDEN_UPSTREAM_UNAVAILABLE');

  const hang = await startRawUpstream(() => { /* never answers */ });
  open.push(hang);
  const slow = await harness({ upstreamOverride: () => [{ name: 'hang', base_url: hang.url, models: ['*'], headers_timeout_ms: 300 }] });
  const r2 = await post(`${slow.url}/v1/messages`, msgs, an());
  assert.equal(r2.status, 504);
  assertAnthropicError((await r2.json()) as any, 'WARDEN_UPSTREAM_TIMEOUT');

  const failing = await startRawUpstream((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' });
    res.end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error', code: null } }));
  });
  open.push(failing);
  const f = await harness({ upstreamOverride: () => [{ name: 'failing', base_url: failing.url, models: ['*'] }] });
  const r3 = await post(`${f.url}/v1/chat/completions`, chat, oa());
  assert.equal(r3.status, 503);
  assert.equal(r3.headers.get('retry-after'), '7');
  assert.equal(((await r3.json()) as any).error.message, 'overloaded');
  const events = await storedEvents(f, 1);
  assert.equal(events[0].response.error_code, 'WARDEN_UPSTREAM_ERROR');
  assert.equal(events[0].response.status, 503);
});

test('unknown fields reach the upstream untouched; credentials are swapped, never forwarded', async () => {
  const cap = await startRawUpstream((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(CHAT_COMPLETION)); });
  open.push(cap);
  const h = await harness({ upstreamOverride: () => [{ name: 'cap', base_url: cap.url, models: ['*'], api_key: 'sk-upstream-secret' }] });
  const body = { ...chat, some_future_field: { nested: [1, 2, 3] }, metadata: { a: 'b' }, temperature: 0.3 };
  const r = await post(`${h.url}/v1/chat/completions`, body, oa());
  assert.equal(r.status, 200);
  const seen = cap.requests[0];
  assert.deepEqual(JSON.parse(seen.body), body);
  assert.equal(seen.headers.authorization, 'Bearer sk-upstream-secret');
  assert.ok(!JSON.stringify(seen.headers).includes(GOOD_KEY), "the customer's Warden key never goes upstream");
});

test('client disconnect mid-stream aborts the upstream request and is recorded as 499', async () => {
  const slowStream = await startRawUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const t = setInterval(() => {
      if (res.destroyed) return clearInterval(t);
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: `word${i++} ` }, finish_reason: null }] })}\n\n`);
    }, 20);
    res.on('close', () => clearInterval(t));
  });
  open.push(slowStream);
  const h = await harness({ upstreamOverride: () => [{ name: 'slow', base_url: slowStream.url, models: ['*'] }] });
  const ac = new AbortController();
  const res = await post(`${h.url}/v1/chat/completions`, { ...chat, stream: true }, oa()).then((r) => r);
  void ac;
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  await reader.cancel();
  await Promise.race([slowStream.aborted, new Promise((_, rej) => setTimeout(() => rej(new Error('upstream not aborted')), 3000))]);
  const events = await storedEvents(h, 1);
  assert.equal(events[0].response.status, 499);
  assert.equal(events[0].response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
  assert.ok(events[0].response.output_chars > 0, 'what was delivered before the disconnect is counted');
});

test('upstream drops the connection mid-stream: the client gets an in-band error event', async () => {
  const dropper = await startRawUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  open.push(dropper);
  const h = await harness({ upstreamOverride: () => [{ name: 'drop', base_url: dropper.url, models: ['*'] }] });
  const r = await post(`${h.url}/v1/messages`, { ...msgs, stream: true }, an());
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /event: error\ndata: \{"type":"error"/);
  const events = await storedEvents(h, 1);
  assert.ok(['WARDEN_UPSTREAM_UNAVAILABLE', 'WARDEN_UPSTREAM_ERROR'].includes(events[0].response.error_code!));
});

test('streams longer than the configured maximum are ended with an error event', async () => {
  const endless = await startRawUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const t = setInterval(() => res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'), 10);
    res.on('close', () => clearInterval(t));
  });
  open.push(endless);
  const h = await harness({ config: { server: { stream_max_duration_ms: 200 } }, upstreamOverride: () => [{ name: 'endless', base_url: endless.url, models: ['*'] }] });
  const started = Date.now();
  const r = await post(`${h.url}/v1/chat/completions`, { ...chat, stream: true }, oa());
  const text = await r.text();
  assert.ok(Date.now() - started < 3000);
  assert.match(text, /WARDEN_STREAM_TOO_LONG/);
  const events = await storedEvents(h, 1);
  assert.equal(events[0].response.error_code, 'WARDEN_STREAM_TOO_LONG');
});

test('X-Forwarded-For is believed only from trusted proxies', async () => {
  const untrusted = await harness();
  await post(`${untrusted.url}/v1/chat/completions`, chat, { ...oa(), 'x-forwarded-for': '203.0.113.9' });
  const e1 = (await storedEvents(untrusted, 1))[0];
  assert.equal(e1.client.ip, '127.0.0.1');
  const trusted = await harness({ config: { server: { trusted_proxies: ['127.0.0.1'] } } });
  await post(`${trusted.url}/v1/chat/completions`, chat, { ...oa(), 'x-forwarded-for': '203.0.113.9' });
  const e2 = (await storedEvents(trusted, 1))[0];
  assert.equal(e2.client.ip, '203.0.113.9');
});

test('oversized headers are refused with 431', async () => {
  const h = await harness({ config: { server: { header_limit_bytes: 2048 } } });
  const { port } = new URL(h.url);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path: '/v1/models', headers: { 'x-big': 'a'.repeat(8000) } }, (res) => { resolve(res.statusCode!); res.resume(); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 431);
});

test('health, readiness and Prometheus metrics', async () => {
  const h = await harness();
  assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${h.url}/readyz`)).status, 200);
  await post(`${h.url}/v1/chat/completions`, chat, oa());
  const m = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(m, /warden_requests_total\{flavour="openai.chat",status="200",code=""\} 1/);
  assert.match(m, /warden_tokens_total\{flavour="openai.chat",kind="output"\} [1-9]/);
  assert.ok(!m.includes(GOOD_KEY));
});

test('an upstream event the meter cannot read ends the stream with an error event; what came before it is delivered; the gateway keeps serving', async () => {
  const good = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}\n\n';
  const bad = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":5}\n\ndata: [DONE]\n\n';
  // The good event in a write of its own, then in the same write (one chunk) as the bad one; with
  // the stream forwarded as received, and with an output transformer (events parsed one by one).
  const passThrough: GatewayHooks[] = [{ name: 'pass-through', output: () => ({ sse: (ev) => ({ ...ev }) }) }];
  for (const [together, hooks] of [[false, undefined], [true, undefined], [true, passThrough]] as const) {
    const odd = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (together) res.end(good + bad);
      else { res.write(good); res.end(bad); }
    });
    open.push(odd);
    const h = await harness({ upstreamOverride: () => [{ name: 'odd', base_url: odd.url, models: ['*'] }], hooks });
    for (let i = 0; i < 2; i++) {
      const r = await post(`${h.url}/v1/chat/completions`, { ...chat, stream: true }, oa());
      assert.equal(r.status, 200);
      const text = await r.text();
      assert.match(text, /"content":"ok"/, `together: ${together}, transformer: ${Boolean(hooks)}`);
      assert.match(text, /WARDEN_UPSTREAM_ERROR/);
    }
    const events = await storedEvents(h, 2);
    assert.deepEqual(events.map((e) => e.response.error_code), ['WARDEN_UPSTREAM_ERROR', 'WARDEN_UPSTREAM_ERROR']);
  }
});

test('a slow reader gets a large stream whole: the upstream is paused and resumed, not dropped', async () => {
  const N = 20_000;
  const big = await startRawUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const ev = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}\n\n';
    res.end(ev.repeat(N) + 'data: [DONE]\n\n');
  });
  open.push(big);
  const h = await harness({ upstreamOverride: () => [{ name: 'big', base_url: big.url, models: ['*'] }] });
  const r = await post(`${h.url}/v1/chat/completions`, { ...chat, stream: true }, oa());
  const reader = r.body!.getReader();
  await new Promise((res) => setTimeout(res, 300)); // let the socket buffers fill
  let bytes = 0;
  let tail = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    bytes += value.length;
    tail = (tail + Buffer.from(value).toString('latin1')).slice(-64);
  }
  assert.ok(tail.endsWith('data: [DONE]\n\n'));
  const events = await storedEvents(h, 1);
  assert.equal(events[0].response.status, 200);
  assert.equal(events[0].response.output_chars, N * 5);
  assert.ok(bytes > N * 100);
});
