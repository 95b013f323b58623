// A valid JSON body nested deeper than Warden accepts is refused with 400 in the caller's format,
// before identity and limits (nothing charged), and recorded as an event; real depths pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { MAX_JSON_DEPTH } from '../../src/gateway/json-depth.ts';

const BOUND_KEY = 'wk_test_bound_0123456789abcdefghijklmno';

let h: Harness;
before(async () => {
  // One request a minute per account: a deep body charged to the limits would leave none.
  const hooks = limitsHooks({ config: limitsConfigSchema.parse({ tiers: { email_verified: { account: { rpm: 1, burst: 1 } } } }) });
  await hooks.limiter.ready();
  h = await startHarness({ hooks: [hooks], keys: [{ secret: BOUND_KEY, accountId: 'acc_bound' }] });
});
after(() => h.close());

/** A body with `levels` nested arrays (about 2 bytes a level) in an unknown field of a message. */
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const oa = { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` };
const an = { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' };

test('a body 5,000 levels deep (10 KB): 400 invalid_request_error in each format, no limits charged, recorded', async () => {
  const chat = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: oa, body: `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi","x":${deep(5000)}}]}` });
  assert.equal(chat.status, 400);
  const cb = await chat.json() as any;
  assert.equal(cb.error.type, 'invalid_request_error');
  assert.equal(cb.error.warden_code, 'WARDEN_INVALID_REQUEST');
  assert.match(cb.error.message, /nests .* more than \d+ levels/);

  const msg = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: an, body: `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":${deep(5000)}}` });
  assert.equal(msg.status, 400);
  const mb = await msg.json() as any;
  assert.equal(mb.type, 'error');
  assert.equal(mb.error.type, 'invalid_request_error');

  // Refused before the limits: the account's one request of the minute is still there, and then spent.
  const ok = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: oa, body: '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' });
  assert.equal(ok.status, 200, await ok.clone().text());
  await ok.arrayBuffer();
  const over = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: oa, body: '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' });
  assert.equal(over.status, 429, 'the limit is one request');
  await over.arrayBuffer();

  const events = await storedEvents(h, 4);
  assert.deepEqual(events.map((e) => [e.flavour, e.response.status, e.response.error_code]).sort(), [
    ['anthropic.messages', 400, 'WARDEN_INVALID_REQUEST'], ['openai.chat', 200, null], ['openai.chat', 400, 'WARDEN_INVALID_REQUEST'], ['openai.chat', 429, 'WARDEN_RATE_LIMITED'],
  ]);
});

test(`a body at the bound (${MAX_JSON_DEPTH} levels) is forwarded and answered`, async () => {
  // levels: the body, messages, the message, then the arrays of `x`
  const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { ...oa, authorization: `Bearer ${BOUND_KEY}` }, body: `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi","x":${deep(MAX_JSON_DEPTH - 3)}}]}` });
  assert.equal(r.status, 200, await r.clone().text());
  assert.ok(r.headers.get('x-ratelimit-limit-requests'));
  await r.arrayBuffer();
});
