// logit_bias through the gateway with the official OpenAI SDK: the event summarises the map (how
// many tokens, how many pushed up, which map), and the policy's `without_logprobs` keeps a
// classifier's bias while stripping the log-probabilities that would read the biased logits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { promptFingerprint, summariseLogitBias } from '../../src/events/index.ts';

let h: Harness;
let mock: MockUpstream;
let policy: ReturnType<typeof inlinePolicyHooks>;

before(async () => {
  policy = inlinePolicyHooks('version: 1\ndefaults: { logprobs: true, top_logprobs_max: 20, logit_bias: without_logprobs, watermark: false }\n');
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  h = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'mock', base_url: mock.url, models: ['*'] }] });
});
after(async () => { await h.close(); await mock.close(); policy.cleanup(); });

const lastForwarded = () => mock.received.filter((r) => r.path === '/v1/chat/completions').at(-1)!.body as Record<string, any>;

test('a probe (bias and top log-probabilities) is answered without the log-probabilities; the event says why', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const bias = { '40000': 100, '40001': 100, '40002': 100, '40003': 100, '40004': 100 };
  const res = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'Say a word.' }], max_tokens: 1, logprobs: true, top_logprobs: 5, logit_bias: bias });
  assert.equal(res.choices[0].logprobs ?? null, null, 'no log-probabilities reach the client');
  const sent = lastForwarded();
  assert.deepEqual(sent.logit_bias, bias, 'the bias itself is forwarded');
  assert.equal(sent.logprobs, undefined);
  assert.equal(sent.top_logprobs, undefined);
  const e = (await storedEvents(h, 1)).at(-1)!;
  assert.ok(e.enforcement.shaping.includes('logprobs:stripped_with_logit_bias'));
  assert.deepEqual(e.request.params.logit_bias, { tokens: 5, positive: 5, set: summariseLogitBias(bias)!.set, prompt: promptFingerprint([['user', 'Say a word.']]) });
  assert.equal(e.request.params.logprobs, true, 'the event keeps what the client asked for');
});

test('log-probabilities without a bias, and a ban list without log-probabilities, pass untouched', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const plain = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'Name a colour.' }], logprobs: true, top_logprobs: 2 });
  assert.ok((plain.choices[0].logprobs?.content?.length ?? 0) > 0);
  assert.equal(lastForwarded().top_logprobs, 2);
  const ban = { '1234': -100, '5678': -100 };
  await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'Write a line.' }], logit_bias: ban });
  assert.deepEqual(lastForwarded().logit_bias, ban);
  const events = await storedEvents(h, 3);
  const e = events.find((x) => x.request.params.logit_bias?.tokens === 2)!;
  assert.equal(e.request.params.logit_bias!.positive, 0);
  assert.deepEqual(e.enforcement.shaping, []);
  assert.equal(events.find((x) => x.request.params.top_logprobs === 2)!.request.params.logit_bias, undefined, 'no field without a bias');
});

test('a malformed bias is refused by the upstream in OpenAI error JSON, and recorded', async () => {
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }], logit_bias: { abc: 5 } }),
  });
  assert.equal(res.status, 400);
  const body = await res.json() as { error: { param: string; message: string } };
  assert.equal(body.error.param, 'logit_bias');
  const res2 = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }], logit_bias: { '12': 101 } }),
  });
  assert.equal(res2.status, 400);
  const events = await storedEvents(h, 5);
  assert.equal(events.filter((e) => e.response.status === 400).length, 2);
});

test('the summary names the map, not its order, and ignores what is not a bias', () => {
  const a = summariseLogitBias({ '10': 5, '2': -3.5 })!;
  const b = summariseLogitBias({ '2': -3.5, '10': 5 })!;
  assert.deepEqual(a, b);
  assert.deepEqual({ tokens: a.tokens, positive: a.positive }, { tokens: 2, positive: 1 });
  assert.notEqual(summariseLogitBias({ '10': 5, '2': -3 })!.set, a.set, 'another bias value is another map');
  assert.notEqual(summariseLogitBias({ '11': 5, '2': -3.5 })!.set, a.set, 'another token is another map');
  assert.equal(summariseLogitBias({}), null);
  assert.equal(summariseLogitBias([1, 2]), null);
  assert.equal(summariseLogitBias({ x: 'y' }), null);
});
