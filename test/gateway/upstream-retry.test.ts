// The upstream's retry advice reaches the official SDKs through Warden: `x-should-retry` and
// `retry-after-ms` (which both SDKs read before `retry-after`), on JSON errors and on errors whose
// body is not the API's (a load balancer's 429 or an empty 503), whose status is kept too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, CHAT_COMPLETION, type RawUpstream } from '../helpers/raw-upstream.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const ANTHROPIC_MESSAGE = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } };

/** Warden in front of an upstream that answers by the model's name (each request is counted by the raw upstream). */
async function setup(): Promise<{ h: Harness; upstream: RawUpstream }> {
  const seen = new Map<string, number>();
  const upstream = await startRawUpstream((req, res, body) => {
    const model = String(JSON.parse(body).model);
    const n = (seen.get(model) ?? 0) + 1;
    seen.set(model, n);
    const anthropic = req.url?.startsWith('/v1/messages');
    const ok = () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(anthropic ? ANTHROPIC_MESSAGE : CHAT_COMPLETION)); };
    if (model.startsWith('no-retry')) {
      res.writeHead(500, { 'content-type': 'application/json', 'x-should-retry': 'false' });
      res.end(JSON.stringify(anthropic ? { type: 'error', error: { type: 'api_error', message: 'Internal error' } } : { error: { message: 'Internal error', type: 'server_error', param: null, code: null } }));
    } else if (model.startsWith('limited-once') && n === 1) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '5', 'retry-after-ms': '100' });
      res.end(JSON.stringify(anthropic ? { type: 'error', error: { type: 'rate_limit_error', message: 'Slow down' } } : { error: { message: 'Slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
    } else if (model.startsWith('hour-429')) {
      // The upstream's own daily quota: an hour's wait, in its API's body (Anthropic: 529 overloaded).
      res.writeHead(anthropic ? 529 : 429, { 'content-type': 'application/json', 'retry-after': '3600' });
      res.end(JSON.stringify(anthropic ? { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } : { error: { message: 'Quota', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } }));
    } else if (model.startsWith('hour-ms-503')) {
      res.writeHead(503, { 'retry-after-ms': '3600000' });
      res.end();
    } else if (model.startsWith('hour-date-429')) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() });
      res.end(JSON.stringify({ error: { message: 'Slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
    } else if (model.startsWith('text-429')) {
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '7', 'retry-after-ms': '7000' });
      res.end('Too Many Requests');
    } else if (model.startsWith('empty-503')) {
      res.writeHead(503, { 'retry-after': '7' });
      res.end();
    } else ok();
  });
  open.push(upstream);
  const h = await startHarness({ upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, models: ['*'] }] });
  open.push(h);
  return { h, upstream };
}

const calls = (u: RawUpstream, model: string) => u.requests.filter((r) => r.body.includes(`"model":"${model}"`)).length;

test('x-should-retry: false from the upstream stops the SDKs\' retries', async () => {
  const { h, upstream } = await setup();
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 2 });
  await assert.rejects(openai.chat.completions.create({ model: 'no-retry-gpt', messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 500);
  assert.equal(calls(upstream, 'no-retry-gpt'), 1, 'the OpenAI SDK did not retry');
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 2 });
  await assert.rejects(anthropic.messages.create({ model: 'no-retry-claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 500);
  assert.equal(calls(upstream, 'no-retry-claude'), 1, 'the Anthropic SDK did not retry');
});

test('retry-after-ms from the upstream sets the SDKs\' wait (100 ms, not retry-after\'s 5 s)', async () => {
  const { h, upstream } = await setup();
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 2 });
  let t = Date.now();
  const completion = await openai.chat.completions.create({ model: 'limited-once-gpt', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(completion.choices[0].message.content, 'ok');
  assert.equal(calls(upstream, 'limited-once-gpt'), 2);
  assert.ok(Date.now() - t < 3000, `the OpenAI SDK waited ${Date.now() - t} ms`);
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 2 });
  t = Date.now();
  const message = await anthropic.messages.create({ model: 'limited-once-claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(message.content[0].type, 'text');
  assert.equal(calls(upstream, 'limited-once-claude'), 2);
  assert.ok(Date.now() - t < 3000, `the Anthropic SDK waited ${Date.now() - t} ms`);
});

test('an upstream error whose body is not JSON keeps its 429 or 503 and its retry headers', async () => {
  const { h } = await setup();
  const post = (path: string, body: object, headers: Record<string, string>) => fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const chat = (model: string) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'x' }] }, { authorization: `Bearer ${h.key}` });

  const limited = await chat('text-429');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '7');
  assert.equal(limited.headers.get('retry-after-ms'), '7000');
  const lb = (await limited.json()) as any;
  assert.equal(lb.error.type, 'rate_limit_error');
  assert.equal(lb.error.warden_code, 'WARDEN_UPSTREAM_RATE_LIMITED');
  const anthropic = await post('/v1/messages', { model: 'text-429', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' });
  assert.equal(anthropic.status, 429);
  assert.equal(((await anthropic.json()) as any).error.type, 'rate_limit_error');

  const unavailable = await chat('empty-503');
  assert.equal(unavailable.status, 503);
  assert.equal(unavailable.headers.get('retry-after'), '7');
  assert.equal(((await unavailable.json()) as any).error.warden_code, 'WARDEN_UPSTREAM_ERROR');

  const events = await storedEvents(h, 3);
  const byModel = (m: string) => events.find((e) => e.model === m && e.flavour === 'openai.chat')!;
  assert.deepEqual([byModel('text-429').response.status, byModel('text-429').response.error_code], [429, 'WARDEN_UPSTREAM_RATE_LIMITED']);
  assert.deepEqual([byModel('empty-503').response.status, byModel('empty-503').response.error_code], [503, 'WARDEN_UPSTREAM_ERROR']);
});

test('an upstream error asking for a wait past limits.max_retry_advice_s says x-should-retry: false, so the SDKs fail at once instead of sleeping', async () => {
  const { h, upstream } = await setup();
  const post = (path: string, body: object, headers: Record<string, string>) => fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const chat = (model: string) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'x' }] }, { authorization: `Bearer ${h.key}` });
  for (const model of ['hour-429-gpt', 'hour-ms-503-gpt', 'hour-date-429-gpt']) {
    const r = await chat(model);
    assert.equal(r.headers.get('x-should-retry'), 'false', `${model}: ${r.status} with a wait of an hour is not worth an SDK's retry`);
    assert.ok(r.headers.get('retry-after') ?? r.headers.get('retry-after-ms'), `${model}: the wait itself is still passed on`);
    await r.arrayBuffer();
  }
  const anthropicRaw = await post('/v1/messages', { model: 'hour-429-claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' });
  assert.equal(anthropicRaw.status, 529);
  assert.equal(anthropicRaw.headers.get('x-should-retry'), 'false', 'Anthropic 529 with an hour\'s wait');
  await anthropicRaw.arrayBuffer();
  // A wait within the advice keeps the SDKs retrying (the 'limited-once' test above): only long ones change.

  const before = calls(upstream, 'hour-429-gpt');
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 2 });
  await assert.rejects(openai.chat.completions.create({ model: 'hour-429-gpt', messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 429 && e.headers.get('retry-after') === '3600');
  assert.equal(calls(upstream, 'hour-429-gpt') - before, 1, 'the OpenAI SDK did not retry (nor sleep an hour)');
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 2 });
  const beforeClaude = calls(upstream, 'hour-429-claude');
  await assert.rejects(anthropic.messages.create({ model: 'hour-429-claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 529);
  assert.equal(calls(upstream, 'hour-429-claude') - beforeClaude, 1, 'the Anthropic SDK did not retry (nor sleep an hour)');
});
