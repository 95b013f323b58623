// Every answer Warden makes itself names the request the way the SDKs read it (`request-id` for
// Anthropic, `x-request-id` for OpenAI, and Anthropic's `request_id` in error bodies), under the
// id of its event; answers the upstream made keep the upstream's own ids.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';

let h: Harness;
after(async () => { await h?.close(); });

const ids = (r: Response) => [r.headers.get('x-warden-request-id'), r.headers.get('request-id'), r.headers.get('x-request-id')];

test('the SDKs read a request id from errors Warden makes, and it is the event\'s id', async () => {
  h = await startHarness();
  const an = new Anthropic({ apiKey: 'wk_not_a_key', baseURL: h.url, maxRetries: 0 });
  const err: any = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(err.status, 401);
  assert.match(err.requestID ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(err.error.request_id, err.requestID);
  const events = await storedEvents(h, 1);
  assert.equal(events.find((e) => e.response.status === 401)?.id, err.requestID);

  const oa = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const notFound: any = await oa.models.retrieve('no-such-model').catch((e) => e);
  assert.equal(notFound.status, 404);
  assert.match(notFound.requestID ?? '', /^[0-9A-Z]{26}$/);
  const badModel: any = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch((e) => e);
  assert.equal(badModel.error.warden_code, 'WARDEN_INVALID_REQUEST');
  assert.match(badModel.requestID ?? '', /^[0-9A-Z]{26}$/);
});

test('refusals before the pipeline (bad JSON, unknown route, wrong method) carry the ids too', async () => {
  h ??= await startHarness();
  const bad = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' }, body: '{"model":' });
  assert.equal(bad.status, 400);
  const [w, r, x] = ids(bad);
  assert.match(w ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(r, w);
  assert.equal(x, w);
  const events = await storedEvents(h, 2);
  assert.ok(events.some((e) => e.id === w && e.response.error_code === 'WARDEN_INVALID_JSON'));
  const msgs = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': h.key, 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(msgs.status, 415);
  assert.equal(((await msgs.json()) as any).request_id, msgs.headers.get('request-id'));
  for (const [path, method, status] of [['/v1/nowhere', 'GET', 404], ['/v1/messages', 'GET', 405]] as const) {
    const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${h.key}` } });
    assert.equal(res.status, status, path);
    assert.match(res.headers.get('request-id') ?? '', /^[0-9A-Z]{26}$/, path);
  }
  const list = await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.match(list.headers.get('x-request-id') ?? '', /^[0-9A-Z]{26}$/);
});

test('paths Fastify cannot route (a parameter too long, bad percent-encoding) are refused in the path\'s format, with ids', async () => {
  h ??= await startHarness();
  const long = await fetch(`${h.url}/v1/responses/${'r'.repeat(500)}`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(long.status, 414);
  const [w, r, x] = ids(long);
  assert.match(w ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(r, w);
  assert.equal(x, w);
  const body = (await long.json()) as any;
  assert.equal(body.error.type, 'invalid_request_error');
  assert.equal(body.error.warden_code, 'WARDEN_INVALID_REQUEST');
  const bad = await fetch(`${h.url}/v1/responses/%E0%A4%A`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(bad.status, 400);
  assert.match(bad.headers.get('x-request-id') ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(((await bad.json()) as any).error.warden_code, 'WARDEN_INVALID_REQUEST');
  const an = await fetch(`${h.url}/v1/models/%E0%A4%A`, { headers: { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' } });
  assert.equal(an.status, 400);
  const anBody = (await an.json()) as any;
  assert.equal(anBody.type, 'error');
  assert.equal(anBody.error.type, 'invalid_request_error');
  assert.match(anBody.request_id ?? '', /^[0-9A-Z]{26}$/);
  assert.equal(anBody.request_id, an.headers.get('request-id'));
});

test('answers the upstream made keep the upstream\'s request ids', async () => {
  h ??= await startHarness();
  const ok = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(ok.status, 200);
  assert.ok(ok.headers.get('x-request-id'));
  assert.notEqual(ok.headers.get('x-request-id'), ok.headers.get('x-warden-request-id'));
  const failed = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': h.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-fail-status-400', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(failed.status, 400);
  assert.ok(failed.headers.get('request-id'));
  assert.notEqual(failed.headers.get('request-id'), failed.headers.get('x-warden-request-id'));
});

test('the upstream\'s request id an app logs from the SDK is recorded on the event', async () => {
  h ??= await startHarness();
  const oa = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const ok = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'find me later' }] });
  assert.ok(ok._request_id, 'the SDK shows the upstream\'s id');
  const an = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  const err: any = await an.messages.create({ model: 'mock-fail-status-400', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(err.status, 400);
  assert.ok(err.requestID, 'the SDK error shows the upstream\'s id');
  const events = await storedEvents(h, 1);
  for (const id of [ok._request_id, err.requestID]) {
    assert.equal(events.filter((e) => e.response.upstream_request_id === id).length, 1, `one event holds the app's logged id ${id}`);
  }
});
